"""Regenerates msk-iam-token.json: MSK IAM auth tokens made by AWS's own Python signer.

    .venv/bin/python tests/vectors/msk_iam.py           # rewrite msk-iam-token.json
    .venv/bin/python tests/vectors/msk_iam.py --check   # exit 1 with a unified diff if stale

aws-msk-iam-sasl-signer-python (scripts/requirements.txt) builds the token the error-topic
writer sends with SINK_ERROR_SASL_MECHANISM=AWS_MSK_IAM: a SigV4 presigned URL for
kafka-cluster:Connect (botocore's SigV4QueryAuth), then base64url without padding. Its inputs are
pinned here: fixed credentials through a credential provider, and botocore's clock replaced by a
frozen one, so every run writes the same bytes. The signer's User-Agent names the signer and its
version; each vector records it, and the Rust test signs with that same string.
"""

import argparse
import base64
import datetime as dt
import difflib
import importlib.metadata
import json
import os
import sys
from unittest import mock

import botocore.auth
from botocore.credentials import CredentialProvider, Credentials
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = "msk-iam-token.json"
SIGNER = "aws-msk-iam-sasl-signer-python"

CASES = [
    {
        "name": "session_credentials",
        "region": "us-east-1",
        "access_key_id": "ASIAIOSFODNN7EXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "session_token": "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example=",
        "at": "2025-11-24T08:30:00Z",
    },
    {
        "name": "long_term_key",
        "region": "eu-central-1",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "session_token": None,
        "at": "2026-02-28T23:59:59Z",
    },
]


class Fixed(CredentialProvider):
    def __init__(self, case):
        super().__init__()
        self.case = case

    def load(self):
        c = self.case
        return Credentials(c["access_key_id"], c["secret_access_key"], c["session_token"])


def vector(case):
    at = dt.datetime.strptime(case["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=at):
        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
            case["region"], Fixed(case)
        )
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    return {
        **case,
        "user_agent": f"{SIGNER}/{importlib.metadata.version(SIGNER)}",
        "expiry_ms": expiry_ms,
        "url": url,
        "token": token,
    }


def render():
    doc = {
        "_about": f"MSK IAM auth tokens from {SIGNER} "
        f"{importlib.metadata.version(SIGNER)} (botocore "
        f"{importlib.metadata.version('botocore')}) "
        "generate_auth_token_from_credentials_provider, with fixed credentials and botocore's "
        "clock frozen at 'at'. 'url' is the decoded token. Regenerate with "
        "tests/vectors/msk_iam.py.",
        "vectors": [vector(c) for c in CASES],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    path = os.path.join(HERE, OUT)
    new = render()
    if args.check:
        with open(path, encoding="utf-8") as f:
            old = f.read()
        if old != new:
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), path, "regenerated"
                )
            )
            sys.exit(1)
        print(f"vectors up to date: {OUT}")
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

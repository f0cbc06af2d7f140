"""The trigger's on-failure records in events/on-failure-envelopes.json (what a `kafka://`
on-failure destination receives, and the error handler unwraps) against the record AWS
describes in "Using a Kafka topic as an on-failure destination" and "Capturing discarded
batches": one JSON document per failed record with `requestContext` (`requestId`,
`functionArn`, `condition`, `approximateInvokeCount`), `responseContext` (`statusCode`,
`executedVersion`, `functionError`), `version` "1.0", an RFC 3339 `timestamp`, a
`KafkaBatchInfo` object and `payload`, the invocation event of the failed record, which a Kafka
or S3 destination carries (as an object, or as that object's JSON text).

What this pins is the part both of AWS's pages agree on. `KafkaBatchInfo`'s own members are not
pinned: the pages show different ones, and the error handler reads none of them."""

import base64
import datetime
import json
import re

import pytest

from aws_lambda_powertools.utilities.parser.models import KafkaMskEventModel, KafkaSelfManagedEventModel

from conftest import EVENTS

SAMPLE = json.loads((EVENTS / "on-failure-envelopes.json").read_text())
RECORDS = [r for rs in SAMPLE["records"].values() for r in rs]

REQUEST_CONTEXT = {"requestId": str, "functionArn": str, "condition": str, "approximateInvokeCount": int}
RESPONSE_CONTEXT = {"statusCode": int, "executedVersion": str, "functionError": str}
TOP = {"requestContext", "responseContext", "version", "timestamp", "KafkaBatchInfo", "payload"}
CONDITIONS = {"RetryAttemptsExhausted", "RetriesExhausted", "RecordAgeExceeded"}


def envelopes():
    out = []
    for r in RECORDS:
        doc = json.loads(base64.b64decode(r["value"]))
        if "KafkaBatchInfo" in doc:
            out.append((r, doc))
    return out


def test_the_sample_holds_envelopes_and_one_record_that_is_not():
    assert len(envelopes()) == 2
    assert len(RECORDS) == 3


@pytest.mark.parametrize("index", [0, 1])
def test_each_envelope_has_awss_members_with_awss_types(index):
    record, doc = envelopes()[index]
    assert set(doc) == TOP, sorted(doc)
    assert {k: type(v) for k, v in doc["requestContext"].items()} == REQUEST_CONTEXT
    assert doc["requestContext"]["condition"] in CONDITIONS
    assert re.fullmatch(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[^:]+)?", doc["requestContext"]["functionArn"])
    assert {k: type(v) for k, v in doc["responseContext"].items()} == RESPONSE_CONTEXT
    assert doc["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["timestamp"])
    datetime.datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00"))
    assert isinstance(doc["KafkaBatchInfo"], dict)


@pytest.mark.parametrize("index", [0, 1])
def test_each_payload_is_the_one_record_event_aws_sends(index):
    record, doc = envelopes()[index]
    payload = doc["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    model = KafkaMskEventModel if payload["eventSource"] == "aws:kafka" else KafkaSelfManagedEventModel
    (failed,) = [r for rs in payload["records"].values() for r in rs]
    # Powertools' model decodes a value to text, which bytes that are not UTF-8 (AWS sends any
    # bytes) cannot be: such a value is checked as base64 and stood in for.
    raw = base64.b64decode(failed["value"], validate=True)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        payload = json.loads(json.dumps(payload))
        for rs in payload["records"].values():
            for r in rs:
                r["value"] = base64.b64encode(b"not UTF-8").decode()
    model.model_validate(payload)
    for field in ("key", "value"):
        assert failed.get(field, "absent") is not None, f"{field} is null: AWS leaves it out"
    # The destination's record is keyed by the failed record's key.
    assert record.get("key") == failed.get("key")

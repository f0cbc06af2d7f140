"""Random requests signed by pyodps 0.13.2, for tests/maxcompute-emulator/tests/it/differential/signatures.rs.

    .venv/bin/python tests/differential/signatures.py --seed S --count N

Prints one JSON document: for each request its inputs (signing kind, credentials, method,
endpoint, the request target and headers as the server receives them, the headers as the caller
gave them) and what pyodps made of it:

* `canonical_string`, `authorization`: what pyodps' CloudAccount/StsAccount.sign_request built
  and sent, exactly as tests/vectors/signatures.json was produced (requests.PreparedRequest,
  pinned Date and v4 date, a fresh account per request).
* `canonical_string_decoded_once`: pyodps' own StringToSign builder fed the request target
  decoded the way a server decodes it (path percent-decoded once, query form-decoded once).
  pyodps itself percent-decodes the whole URL before it parses it, which a literal `+`, `&`,
  `%XX`, `;`, `?`, tab or newline in a decoded name, value or path changes; the generator
  produces such requests on purpose, and the Rust side checks both readings.

Everything random comes from random.Random(seed), so a seed replays the same requests.
"""

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import urllib.parse

os.environ["TZ"] = "UTC"
time.tzset()

import odps  # noqa: E402
import requests  # noqa: E402
from odps import accounts  # noqa: E402

PYODPS_VERSION = "0.13.2"
if odps.__version__ != PYODPS_VERSION:
    sys.exit("pyodps %s is installed, expected %s; run `bash scripts/venv.sh`" % (odps.__version__, PYODPS_VERSION))

ENDPOINTS = [
    "http://127.0.0.1:8080/api",
    "http://127.0.0.1:8081",
    "http://service.cn-hangzhou.maxcompute.aliyun.com/api",
    "https://dt.cn-shanghai.maxcompute.aliyun.com",
    "http://localhost:9000/odps/api",
]
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "get", "Post", "patch"]
REGIONS = ["cn-hangzhou", "cn-shanghai", "ap-southeast-1", "eu-central-1", "us-west-1"]
FIRST_SEGMENTS = ["projects", "tunnel", "logview", "p"]
PARAM_NAMES = [
    "curr_project", "partition", "uploadid", "blockid", "uploads", "create_partition", "service",
    "slot_num", "zorder_columns", "arrow", "schema", "x-odps-foo", "x-odps-user-agent",
    "x-odps-tunnel-version", "X-ODPS-Upper", "x-odps-", "content-type", "Date", "a", "b", "é",
]
HEADER_NAMES = [
    "Content-Type", "content-type", "CONTENT-TYPE", "Content-MD5", "content-md5", "x-odps-foo",
    "X-ODPS-Foo", "x-odps-bar", "X-Odps-Tunnel-Version", "x-odps-user-agent", "x-odps-",
    "x-odps-request-id", "odps-tunnel-date-transform", "Accept", "User-Agent", "x-pyodps-thing",
    "authorization-sts-token", "X-Other", "date",
]
CONTENT_TYPES = ["application/xml", "application/octet-stream", "text/plain; charset=utf-8", "", "application/json"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# Text pieces, many of which need percent-encoding or that pyodps' whole-URL decoding reads
# differently: `+`, `&`, `=`, `%`, `;`, `?`, `#`, tab/CR/LF, quotes, non-ASCII (BMP and astral).
PIECES = [
    "a", "Z", "0", "9", "-", "_", ".", "~", " ", "+", "&", "=", "%", "%41", "%zz", ";", "?", "#",
    "/", ":", "@", "!", "$", "'", "(", ")", "*", ",", "[", "]", "\t", "\n", "\r", "\"", "<", ">",
    "\\", "^", "`", "{", "|", "}", "é", "ü", "主题", "数据", "😀", "\u00a0", "\u2028", "dt=",
    "11-17-2020 15", "my_proj", "kafka_sink",
]
SAFE_CHOICES = ["", "/", "+", "=&", "@:", "!$'()*,;", "+&=;"]


def text(r, max_pieces=6, pieces=PIECES):
    return "".join(r.choice(pieces) for _ in range(r.randint(0, max_pieces)))


def word(r):
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(r.randint(1, 10)))


def path_segment(r):
    """One path segment, percent-encoded with a random set of characters left raw (requests
    encodes what must be), sometimes with raw bytes that are not UTF-8."""
    choice = r.random()
    if choice < 0.4:
        return word(r)
    if choice < 0.9:
        seg = text(r, 5, [p for p in PIECES if p not in ("/", "?", "#", "%", "%41", "%zz")])
        return urllib.parse.quote(seg, safe=r.choice(SAFE_CHOICES).replace("/", ""))
    # Escapes that do not decode to UTF-8 (a lone lead byte, a lone continuation byte, an
    # overlong form) and escaped characters that pyodps' decoding of the whole URL turns into
    # separators.
    return r.choice(["%FF", "%C3", "%80", "%C0%AF", "%E4%B8", "%3F", "%3B", "%2F", "%23", "%25", "%09", "%0A", "%2B", "%26"]) + word(r)


def make_path(r):
    segments = [r.choice(FIRST_SEGMENTS)] + [path_segment(r) for _ in range(r.randint(0, 4))]
    path = "/" + "/".join(segments)
    if r.random() < 0.1:
        path += "/"
    return path


def make_params(r):
    """Query parameters as requests takes them (a list, so names repeat and order is kept) and
    valueless "actions" that pyodps' RestClient appends to the URL itself."""
    params = []
    for _ in range(r.randint(0, 6)):
        name = r.choice(PARAM_NAMES) if r.random() < 0.7 else text(r, 3)
        value = "" if r.random() < 0.15 else (word(r) if r.random() < 0.4 else text(r))
        params.append((name, value))
    if params and r.random() < 0.2:
        params.append((r.choice(params)[0], text(r, 2)))  # a repeated name
    actions = []
    for _ in range(r.choice([0, 0, 0, 1, 1, 2])):
        name = r.choice(["service", "uploads", "x-odps-action", "", text(r, 2)])
        actions.append(urllib.parse.quote(name, safe=r.choice(SAFE_CHOICES).replace("/", "")))
    return params, actions


def http_date(r):
    at = dt.datetime(2000, 1, 1) + dt.timedelta(seconds=r.randint(0, 40 * 365 * 86400))
    return "%s, %02d %s %d %02d:%02d:%02d GMT" % (
        WEEKDAYS[at.weekday()], at.day, MONTHS[at.month - 1], at.year, at.hour, at.minute, at.second,
    )


def header_value(r):
    """A value requests accepts: no leading whitespace, no CR/LF."""
    pieces = [p for p in PIECES if p not in ("\t", "\n", "\r", "\u2028")]
    value = text(r, 5, pieces).lstrip(" \u00a0")
    if value and r.random() < 0.1:
        value += " "  # trailing spaces are kept and signed
    return value


def make_headers(r):
    headers = []
    for _ in range(r.randint(0, 6)):
        name = r.choice(HEADER_NAMES)
        if name.lower() == "content-type":
            value = r.choice(CONTENT_TYPES)
        elif name.lower() == "content-md5":
            value = r.choice(["1B2M2Y8AsgTpgAmY7PhCfg==", "", "XrY7u+Ae7tCTyyK7j1rNww=="])
        elif name.lower() == "date":
            value = http_date(r)
        else:
            value = header_value(r)
        headers.append((name, value))
    if r.random() < 0.9:
        headers.append(("x-odps-user-agent", "pyodps/0.13.2 CPython/3.11.7 Linux/6.1.0"))
    # pyodps adds a Date only when none is there; give one mostly, under either spelling.
    if r.random() < 0.85:
        headers.append((r.choice(["Date", "date", "DATE"]), http_date(r)))
    return headers


def credentials(r, signing):
    ids = ["testAccessId", "LTAI5tExample", "STS.NUgYrLnoC37mZZCNnAbez2" + word(r), "id with space", "ключ", word(r)]
    secrets = ["testAccessKeySecret", "", "s3cr+t/ =&", "密钥😀", word(r) * 3]
    access_id = r.choice(ids)
    secret = r.choice(secrets)
    token = None
    if signing == "sts_v2":
        token = r.choice(["CAIS-example-security-token", "CAIS" + word(r) * 5 + "==", ""])
    return access_id, secret, token


def sign_one(r, index):
    signing = r.choice(["ak_v2", "sts_v2", "ak_v4"])
    access_id, secret, token = credentials(r, signing)
    endpoint = r.choice(ENDPOINTS)
    method = r.choice(METHODS)
    path = make_path(r)
    params, actions = make_params(r)
    headers_given = make_headers(r)
    body = None if r.random() < 0.5 else bytes(r.randrange(256) for _ in range(r.randint(0, 16)))
    region = r.choice(REGIONS) if signing == "ak_v4" else None
    v4_now = dt.datetime(2020, 1, 1) + dt.timedelta(seconds=r.randint(0, 10 * 365 * 86400))
    fallback_date = http_date(r)

    url = endpoint + path
    if actions:
        url += "?" + "&".join(actions)
    # Given in order, so that a repeated name (in any case) keeps its last value, as a caller
    # setting headers one after the other gets; a plain dict would merge exact repeats first.
    headers = requests.structures.CaseInsensitiveDict()
    for name, value in headers_given:
        headers[name] = value
    request = requests.Request(method, url, headers=headers, params=params, data=body)
    prepared = request.prepare()

    # The clock pyodps reads: the Date it adds when none was given, and the v4 scope date.
    accounts.utils.formatdate = lambda *a, **k: fallback_date
    accounts.datetime_utcnow = lambda: v4_now
    if signing == "sts_v2":
        account = accounts.StsAccount(access_id, secret, token)
    else:
        account = accounts.CloudAccount(access_id, secret)

    seen = []
    original = accounts.BaseAccount._build_canonical_str

    def recording(self, url_components, req):
        s = original(self, url_components, req)
        seen.append(s)
        return s

    accounts.BaseAccount._build_canonical_str = recording
    try:
        account.sign_request(prepared, endpoint, region_name=region)
    finally:
        accounts.BaseAccount._build_canonical_str = original
    if len(seen) != 1:
        raise SystemExit("request %d: pyodps built %d canonical strings" % (index, len(seen)))

    # The target as a server splits it: path and query apart first, then each decoded once.
    endpoint_path = urllib.parse.urlsplit(endpoint).path
    target = prepared.path_url
    raw_path, _, raw_query = target.partition("?")
    relative = raw_path[len(endpoint_path):] if raw_path.startswith(endpoint_path) else raw_path
    components = urllib.parse.SplitResult("", "", urllib.parse.unquote(relative), raw_query, "")
    decoded_once = account._build_canonical_str(components, prepared)
    decoded_query = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)

    final_headers = [[k, v] for k, v in prepared.headers.items() if k != "Authorization"]
    return {
        "index": index,
        "signing": signing,
        "access_id": access_id,
        "access_key_secret": secret,
        "sts_token": token,
        "region": region,
        "v4_date": v4_now.strftime("%Y%m%d") if region else None,
        "method": method,
        "endpoint": endpoint,
        "endpoint_path": endpoint_path,
        "request_path_and_query": target,
        "headers_given": [[k, v] for k, v in headers_given],
        "headers": final_headers,
        "decoded_path": urllib.parse.unquote(relative),
        "decoded_query": [[k, v] for k, v in decoded_query],
        "has_query": raw_query != "",
        "canonical_string": seen[0],
        "canonical_string_decoded_once": decoded_once,
        "authorization": prepared.headers["Authorization"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    r = random.Random(args.seed)
    out = [sign_one(r, i) for i in range(args.count)]
    json.dump({"seed": args.seed, "pyodps": odps.__version__, "requests": out}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()

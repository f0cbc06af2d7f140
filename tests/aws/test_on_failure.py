"""The trigger's on-failure records in events/on-failure-envelopes.json (what a `kafka://`
on-failure destination receives, and the error handler unwraps), field by field against the
record AWS publishes in the Lambda developer guide, "Using a Kafka topic as an on-failure
destination", section "Record format for a Kafka destination".

That record is one JSON document per failed record: `requestContext` (`requestId`,
`functionArn`, `condition`, `approximateInvokeCount`), `responseContext` (`statusCode`,
`executedVersion`, `functionError`), `version` "1.0", an RFC 3339 `timestamp` in milliseconds,
`KafkaBatchInfo` (`batchSize` 1, the cluster's `eventSourceArn` for MSK, `bootstrapServers`,
`payloadSize` in bytes, and `recordInfo`: the record's `offset` as a string and its `timestamp`
in RFC 3339) and `payload`, the invocation event of the failed record as a JSON object. The
destination's record has the failed record's key. The guide's example shows the condition
`RetriesExhausted`; its page on discarded batches spells it `RetryAttemptsExhausted`."""

import base64
import datetime
import json
import re

import pytest

from aws_lambda_powertools.utilities.parser.models import KafkaMskEventModel, KafkaSelfManagedEventModel

from conftest import EVENTS

SAMPLE = json.loads((EVENTS / "on-failure-envelopes.json").read_text())
RECORDS = [r for rs in SAMPLE["records"].values() for r in rs]

# The published record's members and their JSON types, in the project's words.
PUBLISHED = {
    "requestContext": {"requestId": str, "functionArn": str, "condition": str, "approximateInvokeCount": int},
    "responseContext": {"statusCode": int, "executedVersion": str, "functionError": str},
    "version": str,
    "timestamp": str,
    "KafkaBatchInfo": {
        "batchSize": int,
        "eventSourceArn": str,
        "bootstrapServers": str,
        "payloadSize": int,
        "recordInfo": {"offset": str, "timestamp": str},
    },
    "payload": dict,
}
CONDITIONS = {"RetriesExhausted", "RetryAttemptsExhausted"}
RFC3339_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def shape(value, published, where, msk):
    """Checks `value` against the published member tree; `eventSourceArn` only for MSK."""
    if isinstance(published, dict):
        assert isinstance(value, dict), where
        expected = {k for k in published if msk or k != "eventSourceArn"}
        assert set(value) == expected, f"{where}: {sorted(value)} against AWS's {sorted(expected)}"
        for key in expected:
            shape(value[key], published[key], f"{where}.{key}", msk)
    else:
        assert isinstance(value, published) and not isinstance(value, bool), f"{where}: {value!r}"


def envelopes():
    out = []
    for r in RECORDS:
        doc = json.loads(base64.b64decode(r["value"]))
        if "KafkaBatchInfo" in doc:
            out.append((r, doc))
    return out


def payload_of(doc):
    # The error handler also reads a payload written as JSON text (as S3 destinations write
    # it); the second envelope of the sample keeps that tolerance tested.
    payload = doc["payload"]
    return json.loads(payload) if isinstance(payload, str) else payload


def test_the_sample_holds_two_envelopes_and_one_record_that_is_not():
    assert len(envelopes()) == 2
    assert len(RECORDS) == 3
    assert isinstance(envelopes()[0][1]["payload"], dict)
    assert isinstance(envelopes()[1][1]["payload"], str)


@pytest.mark.parametrize("index", [0, 1])
def test_each_envelope_has_the_published_members_and_types(index):
    record, doc = envelopes()[index]
    payload = payload_of(doc)
    msk = payload["eventSource"] == "aws:kafka"
    shape(dict(doc, payload=payload), PUBLISHED, "envelope", msk)
    assert doc["requestContext"]["condition"] in CONDITIONS
    assert re.fullmatch(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[^:]+)?", doc["requestContext"]["functionArn"])
    assert doc["version"] == "1.0"
    for stamp in (doc["timestamp"], doc["KafkaBatchInfo"]["recordInfo"]["timestamp"]):
        assert re.fullmatch(RFC3339_MS, stamp), stamp
    info = doc["KafkaBatchInfo"]
    (failed,) = [r for rs in payload["records"].values() for r in rs]
    # KafkaBatchInfo describes the one record of the payload.
    assert info["batchSize"] == 1
    assert info["bootstrapServers"] == payload["bootstrapServers"]
    if msk:
        assert info["eventSourceArn"] == payload["eventSourceArn"]
    assert info["payloadSize"] > 0
    assert info["recordInfo"]["offset"] == str(failed["offset"])
    stamp = datetime.datetime.fromisoformat(info["recordInfo"]["timestamp"].replace("Z", "+00:00"))
    assert int(stamp.timestamp() * 1000) == failed["timestamp"]


@pytest.mark.parametrize("index", [0, 1])
def test_each_payload_is_the_one_record_event_aws_sends(index):
    record, doc = envelopes()[index]
    payload = payload_of(doc)
    model = KafkaMskEventModel if payload["eventSource"] == "aws:kafka" else KafkaSelfManagedEventModel
    (failed,) = [r for rs in payload["records"].values() for r in rs]
    for field in ("key", "value"):
        assert failed.get(field, "absent") is not None, f"{field} is null: AWS leaves it out"
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
    # The destination's record has the failed record's key (none when it had none).
    assert record.get("key") == failed.get("key")

"""Every sample event in events/ is classified in event-shapes.json, and every one classified as
an AWS shape is one: AWS's own Python library for Lambda (Powertools' Kafka event models) parses
it, and it keeps the rules AWS's trigger follows when it writes a record (AWS's Go event types
leave a null key or value out of the record and always write the headers, as signed bytes). The
Rust half of the check (aws_lambda_events' KafkaEvent) is in shared/tests/it/pipeline/events.rs.
"""

import json

import pytest
from pydantic import ValidationError

from aws_lambda_powertools.utilities.parser.models import (
    KafkaMskEventModel,
    KafkaSelfManagedEventModel,
)

from conftest import EVENTS, REPO

SHAPES = json.loads((REPO / "tests" / "aws" / "event-shapes.json").read_text())["files"]
SAMPLES = sorted(p.name for p in EVENTS.glob("*.json"))


def model_for(event):
    # The trigger names its source: MSK events carry the cluster ARN, self-managed ones do not.
    return KafkaMskEventModel if event.get("eventSource") == "aws:kafka" else KafkaSelfManagedEventModel


def powertools_errors(event):
    """Powertools' refusals of the event, as {location: pydantic error type}."""
    try:
        model_for(event).model_validate(event)
    except ValidationError as e:
        return {".".join(str(p) for p in err["loc"]): err["type"] for err in e.errors()}
    return {}


def test_every_sample_event_is_classified():
    unclassified = [name for name in SAMPLES if name not in SHAPES]
    assert not unclassified, f"classify these in tests/aws/event-shapes.json: {unclassified}"
    gone = [name for name in SHAPES if name not in SAMPLES]
    assert not gone, f"event-shapes.json names files that are not in events/: {gone}"
    for name, entry in SHAPES.items():
        assert entry["shape"] in ("aws", "tolerance", "bad"), name
        if entry["shape"] != "aws":
            assert entry.get("why"), f"{name}: say why it is {entry['shape']}"


AWS_SHAPED = [n for n in SAMPLES if SHAPES.get(n, {}).get("shape") == "aws"]
NOT_AWS = [n for n in SAMPLES if SHAPES.get(n, {}).get("shape") in ("tolerance", "bad")]


@pytest.mark.parametrize("name", AWS_SHAPED)
def test_powertools_parses_every_aws_shaped_event(name):
    event = json.loads((EVENTS / name).read_text())
    refused = SHAPES[name].get("powertools_refuses", {})
    errors = powertools_errors(event)
    # Exactly the listed fields are refused: nothing else, and each listed one really is.
    assert sorted(errors) == sorted(refused), f"{name}: Powertools refused {errors}"
    if refused:
        # Without those records the rest of the event parses.
        for location in refused:
            # "records.<topic>-<partition>.<index>.<field>"; a topic name may hold dots.
            parts = location.split(".")
            key, index = ".".join(parts[1:-2]), int(parts[-2])
            event["records"][key][index] = None
        for key in event["records"]:
            event["records"][key] = [r for r in event["records"][key] if r is not None]
        assert powertools_errors(event) == {}, name


@pytest.mark.parametrize("name", AWS_SHAPED)
def test_aws_shaped_events_keep_the_triggers_record_rules(name):
    event = json.loads((EVENTS / name).read_text())
    assert event.get("eventSource") in ("aws:kafka", "SelfManagedKafka"), name
    if event["eventSource"] == "aws:kafka":
        assert event.get("eventSourceArn", "").startswith("arn:aws:kafka:"), name
    else:
        assert "eventSourceArn" not in event, name
    assert isinstance(event.get("bootstrapServers"), str), name
    for key, records in event["records"].items():
        for r in records:
            where = f"{name} {key} offset {r.get('offset')}"
            # The key of the list is "<topic>-<partition>" of its records.
            assert key == f"{r['topic']}-{r['partition']}", where
            # A null key or value (a record without a key, a tombstone) is left out, never null.
            for field in ("key", "value"):
                assert r.get(field, "absent") is not None, f"{where}: {field} is null"
            # Headers are always there: a list of one-entry objects of signed bytes.
            assert isinstance(r.get("headers"), list), f"{where}: no headers list"
            for h in r["headers"]:
                assert len(h) == 1, where
                (values,) = h.values()
                assert all(isinstance(b, int) and -128 <= b <= 127 for b in values), where
            assert r["timestampType"] in ("CREATE_TIME", "LOG_APPEND_TIME"), where


@pytest.mark.parametrize("name", NOT_AWS)
def test_tolerance_and_bad_events_are_not_aws_shapes(name):
    # If Powertools parsed one of these and it kept AWS's rules, it should be classified aws.
    event = json.loads((EVENTS / name).read_text())
    assert powertools_errors(event), f"{name} parses as an AWS event: classify it as aws"

"""The sink's partial batch response against AWS's own: the sink binary runs behind the project's
local runtime API against the MaxCompute emulator with a write fault, so that some topic-partitions
fail; Powertools' Kafka batch processor (AWS's Python library for Lambda) then runs over the same
event with a record handler that fails exactly the first unwritten record of each topic-partition,
as read back from the table (not from the sink's answer). Both answers must be the same
identifiers, key for key.

AWS reads `batchItemFailures` as a set: for each topic-partition it resumes from the lowest
reported offset. The two lists are compared in order after sorting by (partition, offset):
Powertools lists them in the event's order of topic-partitions, the sink in sorted order.
"""

import base64
import json

import pytest

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from conftest import EVENTS, answer_of, binary, invoke


def stored(emulator):
    """(topic, partition, offset) of every row the sink wrote."""
    return {(t, p, o) for t, p, o in emulator.query("select topic, partition, offset from test_kafka")}


def first_unwritten(event, written):
    """For each topic-partition, its first record (by offset) that is not in the table."""
    first = {}
    for records in event["records"].values():
        for r in sorted(records, key=lambda r: r["offset"]):
            coords = (r["topic"], r["partition"], r["offset"])
            tp = (r["topic"], r["partition"])
            if coords not in written and tp not in first:
                first[tp] = r["offset"]
    return first


def powertools_answer(event, failing):
    """Powertools' partial batch response when exactly `failing` ({(topic, partition): offset})
    records fail."""
    seen = []

    def record_handler(record):
        seen.append((record.topic, record.partition, record.offset))
        # The record really is the event's record: Powertools decodes the same bytes.
        assert record.decoded_value == base64.b64decode(record.value)
        if failing.get((record.topic, record.partition)) == record.offset:
            raise RuntimeError("not written by the sink")
        return "written"

    processor = BatchProcessor(event_type=EventType.Kafka)
    answer = process_partial_response(event=event, record_handler=record_handler, processor=processor)
    assert len(seen) == sum(len(rs) for rs in event["records"].values())
    return answer


def by_coords(answer):
    return sorted(
        answer["batchItemFailures"],
        key=lambda f: (f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]),
    )


CASES = [
    # Every pack of the second hour is refused: the first hour is written.
    pytest.param(
        "self-managed-several-partitions.json",
        {"kind": "stream_write", "skip": 1, "count": 100, "action": "error", "status": 400, "code": "InvalidArgument"},
        "stream",
        id="several-partitions-second-hour-refused",
    ),
    # Every write is refused: every topic-partition fails at its first record.
    pytest.param(
        "self-managed-several-partitions.json",
        {"kind": "stream_write", "count": 100, "action": "error", "status": 400, "code": "MalformedDataStream"},
        "stream",
        id="several-partitions-all-refused",
    ),
    # An MSK event, batch tunnel: the second hour's commit is refused.
    pytest.param(
        "hour-boundary-gmt8.json",
        {"kind": "commit", "skip": 1, "count": 100, "action": "error", "status": 400, "code": "InvalidArgument"},
        "batch",
        id="msk-second-hour-commit-refused",
    ),
]


@pytest.mark.parametrize("name,fault,tunnel", CASES)
def test_the_sinks_partial_batch_response_is_powertools_answer(emulator, name, fault, tunnel):
    event_file = EVENTS / name
    event = json.loads(event_file.read_text())
    emulator.fault(fault)
    done = invoke(
        binary("SINK_BIN"),
        [event_file],
        env=emulator.sink_env(SINK_PARTIAL_BATCH="true", SINK_TUNNEL=tunnel),
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    sink = json.loads(answer_of(done, event_file))

    failing = first_unwritten(event, stored(emulator))
    # The fault made some, and in the first case not all, topic-partitions fail.
    assert failing, "nothing failed: the fault did not apply"
    theirs = powertools_answer(event, failing)
    assert len(theirs["batchItemFailures"]) == len(failing)

    assert "batchItemFailures" in sink, sink
    # Key for key: each identifier has exactly AWS's keys with the same types and values.
    for entry in sink["batchItemFailures"]:
        assert sorted(entry) == ["itemIdentifier"], entry
        assert sorted(entry["itemIdentifier"]) == ["offset", "partition"], entry
        assert isinstance(entry["itemIdentifier"]["partition"], str), entry
        assert isinstance(entry["itemIdentifier"]["offset"], int), entry
    assert by_coords(sink) == by_coords(theirs)
    # And the sink lists them sorted, so the same order too.
    assert sink["batchItemFailures"] == by_coords(theirs)


def test_a_batch_without_failures_answers_no_identifiers(emulator):
    event_file = EVENTS / "self-managed-several-partitions.json"
    event = json.loads(event_file.read_text())
    done = invoke(binary("SINK_BIN"), [event_file], env=emulator.sink_env(SINK_PARTIAL_BATCH="true"))
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    sink = json.loads(answer_of(done, event_file))
    assert first_unwritten(event, stored(emulator)) == {}
    theirs = powertools_answer(event, {})
    # Powertools answers an empty list; AWS reads a missing or empty list alike (nothing failed).
    assert theirs == {"batchItemFailures": []}
    assert sink.get("batchItemFailures", []) == []

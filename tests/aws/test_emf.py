"""The sink's metrics line, as the sink binary prints it per invocation, checked against
CloudWatch's Embedded Metric Format (EMF) specification three ways: a JSON schema written here
from the specification's document structure, the specification's rules that a schema cannot say
(every declared dimension and metric has its member at the root), AWS's EMF library's own
validators (namespace, dimension sets, metrics and units), and Powertools' EMF serializer, which
must write the same document from the same figures.

The lines come from real invocations through the project's local runtime API, which forwards the
function's stdout to `emulator invoke`'s stderr, as CloudWatch Logs would receive it.
"""

import datetime
import json

import jsonschema
import pytest

from aws_embedded_metrics import validator as emf_validator
from aws_embedded_metrics.storage_resolution import StorageResolution
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from conftest import EVENTS, binary, invoke

# CloudWatch's units, as the specification lists them for a MetricDefinition's Unit.
UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
]

# The document structure of the specification: a root object with an `_aws` metadata object
# holding a millisecond Timestamp and CloudWatchMetrics, an array of MetricDirectives; each has a
# Namespace (1 to 1024 characters), Dimensions (an array of DimensionSets, each an array of at
# most 30 strings naming root members) and Metrics (at most 100 MetricDefinitions: a Name of 1 to
# 1024 characters, an optional Unit from CloudWatch's list and an optional StorageResolution of 1
# or 60). Objects the specification defines carry no other members.
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

# A log event holds at most 1 MB, EMF documents included.
MAX_EVENT_BYTES = 1024 * 1024


def emf_lines(done):
    """The function's log lines that are EMF documents (JSON objects with `_aws`)."""
    docs = []
    for line in done.stderr.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            docs.append((line, doc))
    return docs


@pytest.fixture
def lines(emulator):
    """Real lines: a clean batch, an empty batch and an MSK batch over two hours; then a batch
    whose writes are refused, once answered with batchItemFailures and once failing."""
    env = emulator.sink_env()
    files = [EVENTS / n for n in ("seed-test-message.json", "empty-batch.json", "hour-boundary-gmt8.json")]
    done = invoke(binary("SINK_BIN"), files, env=env, name="kafka-maxcompute-sink")
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    got = emf_lines(done)
    emulator.fault({"kind": "stream_write", "count": 100, "action": "error", "status": 400, "code": "InvalidArgument"})
    several = EVENTS / "self-managed-several-partitions.json"
    done = invoke(binary("SINK_BIN"), [several], env=emulator.sink_env(SINK_PARTIAL_BATCH="true"), name="kafka-maxcompute-sink")
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    got += emf_lines(done)
    done = invoke(binary("SINK_BIN"), [several], env=emulator.sink_env(), name="kafka-maxcompute-sink")
    # The invocation fails (the whole batch is retried), and still prints its line.
    assert "Permanent.MaxComputeWrite" in done.stdout, done.stdout
    got += emf_lines(done)
    assert len(got) == 5, f"one line per invocation, got {len(got)}: {done.stderr[-4000:]}"
    return got


def test_every_line_follows_the_emf_specification(lines):
    for text, doc in lines:
        assert doc["Function"] == "kafka-maxcompute-sink", text
        assert len(text.encode()) <= MAX_EVENT_BYTES
        jsonschema.validate(doc, EMF_SCHEMA)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            # Every member a directive names is at the root: dimensions are strings, metric
            # values numbers (or arrays of at most 100 numbers).
            for dimension_set in directive["Dimensions"]:
                for name in dimension_set:
                    assert isinstance(doc.get(name), str), f"dimension {name} in {text}"
            for metric in directive["Metrics"]:
                value = doc.get(metric["Name"])
                values = value if isinstance(value, list) else [value]
                assert 1 <= len(values) <= 100, text
                assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values), (
                    f"metric {metric['Name']} in {text}"
                )


def test_aws_emf_library_accepts_every_namespace_dimension_and_metric(lines):
    for text, doc in lines:
        stamp = datetime.datetime.fromtimestamp(doc["_aws"]["Timestamp"] / 1000, tz=datetime.timezone.utc)
        emf_validator.validate_timestamp(stamp)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            emf_validator.validate_namespace(directive["Namespace"])
            for dimension_set in directive["Dimensions"]:
                emf_validator.validate_dimension_set({name: doc[name] for name in dimension_set})
            seen = {}
            for metric in directive["Metrics"]:
                resolution = StorageResolution(metric.get("StorageResolution", 60))
                emf_validator.validate_metric(metric["Name"], doc[metric["Name"]], metric.get("Unit"), resolution, seen)
                seen[metric["Name"]] = resolution


def test_powertools_writes_the_same_document_from_the_same_figures(lines):
    for text, doc in lines:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        provider = AmazonCloudWatchEMFProvider(namespace=directive["Namespace"])
        dimensions = [name for dimension_set in directive["Dimensions"] for name in dimension_set]
        for name in dimensions:
            provider.add_dimension(name=name, value=doc[name])
        for metric in directive["Metrics"]:
            provider.add_metric(name=metric["Name"], unit=metric["Unit"], value=doc[metric["Name"]])
        declared = {m["Name"] for m in directive["Metrics"]} | set(dimensions) | {"_aws"}
        for key, value in doc.items():
            if key not in declared:
                provider.add_metadata(key=key, value=value)
        provider.set_timestamp(doc["_aws"]["Timestamp"])
        theirs = provider.serialize_metric_set()
        # Powertools adds one value per metric as a one-element list; CloudWatch reads a number
        # and a one-element array alike.
        ours = json.loads(text)
        for metric in directive["Metrics"]:
            theirs[metric["Name"]] = theirs[metric["Name"]][0] if isinstance(theirs[metric["Name"]], list) else theirs[metric["Name"]]
        by_name = lambda d: sorted(d["_aws"]["CloudWatchMetrics"][0]["Metrics"], key=lambda m: m["Name"])
        assert by_name(ours) == by_name(theirs), text
        ours["_aws"]["CloudWatchMetrics"][0]["Metrics"] = by_name(ours)
        theirs["_aws"]["CloudWatchMetrics"][0]["Metrics"] = by_name(theirs)
        assert ours == json.loads(json.dumps(theirs)), text

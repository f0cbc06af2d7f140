"""The trigger's schema registry and its topics, driven by the stock Kafka client: records are
produced with confluent-kafka's own AvroSerializer through its SchemaRegistryClient, which
registers the schema in the project's local registry (`emulator trigger registry`); `emulator
trigger` runs the template's mappings (one per topic of SourceTopics, provisioned mode, a
SchemaRegistryConfig) into the sink, which writes into the MaxCompute emulator. The sink's
TEXT format stores each value as the function received it, so the table shows what the trigger
delivered: the decoded record as JSON (EventRecordFormat JSON) or the Avro datum without the
registry's framing (SOURCE); the same for Protobuf records written by its ProtobufSerializer.
Records the registry cannot decode (an unknown schema id, garbage
after the magic byte) land in the on-failure topic, never in the table.

Needs the local broker (KAFKA_BOOTSTRAP, `bash scripts/broker.sh start`) and the built emulator
and sink (scripts/registry.sh builds them).
"""

import base64
import io
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "aws"))
from conftest import Emulator, SEED_DDL, binary  # noqa: E402  (the shared emulator helper)

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer  # noqa: E402
from fastavro import parse_schema, schemaless_writer  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402
from google.protobuf.message_factory import GetMessageClass  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092")
SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "id", "type": "int"},
            {"name": "item", "type": "string"},
            {"name": "note", "type": ["null", "string"], "default": None},
        ],
    }
)


def topics(*names, partitions=1):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    try:
        admin.list_topics(timeout=10)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"no broker on {BOOTSTRAP} ({e}): run bash scripts/broker.sh start")
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    for f in futures.values():
        f.result(timeout=30)


def unique(name):
    return f"registry-{name}-{uuid.uuid4().hex[:8]}"


class Registry:
    """`emulator trigger registry` on a free port."""

    def __init__(self, tmp_path):
        self.log = open(tmp_path / "registry.log", "w+b")
        self.proc = subprocess.Popen(
            [binary("EMULATOR_BIN"), "trigger", "registry", "--listen", "127.0.0.1:0",
             "--data-file", str(tmp_path / "schemas.json")],
            stdout=subprocess.PIPE, stderr=self.log,
        )
        line = self.proc.stdout.readline().decode()
        assert line.startswith("registry: ready on "), line
        self.url = line.split()[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def flow(tmp_path):
    emu = Emulator(tmp_path)
    emu.odps().execute_sql(SEED_DDL)
    registry = Registry(tmp_path)
    yield emu, registry
    registry.stop()
    emu.stop()


def produce_avro(registry_url, topic, orders):
    """Produces `orders` with the stock AvroSerializer; returns the schema id it registered."""
    client = SchemaRegistryClient({"url": registry_url})
    serializer = AvroSerializer(client, SCHEMA)
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    framed = []
    for order in orders:
        value = serializer(order, SerializationContext(topic, MessageField.VALUE))
        framed.append(value)
        producer.produce(topic, key=str(order["id"]).encode(), value=value)
    assert producer.flush(30) == 0
    ids = {int.from_bytes(v[1:5], "big") for v in framed}
    assert all(v[0] == 0 for v in framed) and len(ids) == 1, framed
    return ids.pop(), framed


def produce_raw(topic, values):
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    for v in values:
        producer.produce(topic, value=v)
    assert producer.flush(30) == 0


def run_trigger(emu, registry, source_topics, error_topic, stop_after, fmt="JSON", function=None, env=None):
    """`emulator trigger` with the template's mappings of SourceTopics, until `stop_after`
    records are committed (given-up ones included); the sink unless `function` says otherwise."""
    args = [
        binary("EMULATOR_BIN"), "trigger",
        "--function", function or binary("SINK_BIN"),
        "--template", str(REPO / "template.yaml"),
        "--bootstrap", BOOTSTRAP,
        "--parameter", f"SourceTopics={','.join(source_topics)}",
        "--parameter", "KafkaSource=SelfManagedKafka",
        "--parameter", "MinimumPollers=1",
        "--parameter", "ConsumerOffset=earliest",
        "--parameter", f"ConnectorName={unique('c')}",
        "--parameter", f"ErrorTopic={error_topic}",
        "--parameter", f"SchemaRegistryURI={registry.url}",
        "--parameter", f"EventRecordFormat={fmt}",
        "--window-ms", "200",
        "--timeout", "30",
        "--stop-after", str(stop_after),
        "--max-wait", "120",
    ]
    for k, v in (env or emu.sink_env(SINK_ERROR_TOPIC=error_topic)).items():
        args += ["--env", f"{k}={v}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    return done


def rows(emu):
    return sorted(
        (t, o, v) for t, o, v in emu.query("select topic, offset, value from test_kafka")
    )


def on_failure_records(topic, expected, timeout=30):
    consumer = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": unique("reader"),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    found = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                found.append(json.loads(m.value()))
    finally:
        consumer.close()
    return found


def avro_datum(order):
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(json.loads(SCHEMA)), order)
    return out.getvalue()


def test_avro_through_the_registry_reaches_the_function_as_json_from_two_topics(flow):
    emu, registry = flow
    orders, payments, errors = unique("orders"), unique("payments"), unique("errors")
    topics(orders, payments, errors)
    a = [{"id": 1, "item": "tea", "note": None}, {"id": 2, "item": "cake", "note": "warm"}]
    b = [{"id": 3, "item": "card", "note": None}]
    schema_id, framed = produce_avro(registry.url, orders, a)
    assert produce_avro(registry.url, payments, b)[0] == schema_id
    # An id the registry never gave, and a known id followed by bytes that are no Order.
    unknown = b"\x00" + (schema_id + 1000).to_bytes(4, "big") + framed[0][5:]
    garbage = b"\x00" + schema_id.to_bytes(4, "big") + b"\xff\xff\xff\xff\xff"
    produce_raw(orders, [unknown, garbage])

    run_trigger(emu, registry, [orders, payments], errors, stop_after=5)

    got = rows(emu)
    expected = sorted(
        [(orders, i, json.dumps(o, separators=(",", ":"), sort_keys=True)) for i, o in enumerate(a)]
        + [(payments, 0, json.dumps(b[0], separators=(",", ":"), sort_keys=True))]
    )
    assert [(t, o, json.loads(v)) for t, o, v in got] == [
        (t, o, json.loads(v)) for t, o, v in expected
    ], got
    # Neither undecodable record reached the function: they are in the on-failure topic, whole.
    failed = on_failure_records(errors, 2)
    assert len(failed) == 2, failed
    sent = sorted(
        base64.b64decode(r["payload"]["records"][f"{orders}-0"][0]["value"]) for r in failed
    )
    assert sent == sorted([unknown, garbage])
    assert {r["requestContext"]["condition"] for r in failed} == {"SchemaRegistryValidationFailed"}
    assert {r["payload"]["records"][f"{orders}-0"][0]["offset"] for r in failed} == {2, 3}


def test_source_format_delivers_the_datum_without_the_framing(flow):
    emu, registry = flow
    orders, errors = unique("orders-source"), unique("errors")
    topics(orders, errors)
    # Small ints and ASCII strings: the datum is valid UTF-8, so TEXT stores it unchanged.
    order = {"id": 7, "item": "jam", "note": "x"}
    _, framed = produce_avro(registry.url, orders, [order])
    run_trigger(emu, registry, [orders], errors, stop_after=1, fmt="SOURCE")
    (row,) = rows(emu)
    assert row[2].encode() == framed[0][5:] == avro_datum(order)


def test_the_stock_client_reads_back_what_it_registered(flow):
    _, registry = flow
    client = SchemaRegistryClient({"url": registry.url})
    subject = unique("subject") + "-value"
    from confluent_kafka.schema_registry import Schema

    schema_id = client.register_schema(subject, Schema(SCHEMA, "AVRO"))
    assert client.register_schema(subject, Schema(SCHEMA, "AVRO")) == schema_id
    fresh = SchemaRegistryClient({"url": registry.url})
    assert json.loads(fresh.get_schema(schema_id).schema_str) == json.loads(SCHEMA)
    assert fresh.lookup_schema(subject, Schema(SCHEMA, "AVRO")).schema_id == schema_id
    assert subject in fresh.get_subjects()
    assert fresh.get_latest_version(subject).schema_id == schema_id
    with pytest.raises(Exception) as e:
        fresh.get_schema(schema_id + 999)
    assert "40403" in str(e.value) or "not found" in str(e.value).lower()


FUNCTION = REPO / "tests" / "aws" / "function" / "bootstrap"


@pytest.mark.parametrize("fmt", ["JSON", "SOURCE"])
def test_powertools_reads_what_the_trigger_delivers(flow, tmp_path, fmt):
    """AWS's Powertools, as a function behind the local trigger: its Kafka event model accepts
    the events (schema metadata included), and its Kafka consumer deserializes the values: JSON
    text with EventRecordFormat JSON, the Avro datum with SOURCE."""
    emu, registry = flow
    orders, errors = unique("orders-powertools"), unique("errors")
    topics(orders, errors)
    sent = [{"id": 10, "item": "pie", "note": None}, {"id": 11, "item": "tart", "note": "hot"}]
    schema_id, _ = produce_avro(registry.url, orders, sent)
    records_file = tmp_path / "records.jsonl"
    env = {
        "_HANDLER": "powertools_consumer.handler",
        "PYTHONPATH": str(pathlib.Path(__file__).resolve().parent / "function"),
        "PYTHON_BIN": sys.executable,
        "RECORDS_FILE": str(records_file),
        "RECORD_FORMAT": fmt,
        "AVRO_SCHEMA": SCHEMA,
    }
    run_trigger(emu, registry, [orders], errors, stop_after=2, fmt=fmt, function=str(FUNCTION), env=env)
    got = [json.loads(line) for line in records_file.read_text().splitlines()]
    assert got == [
        # dataFormat names what is delivered: Powertools refuses a JSON value marked AVRO.
        {"topic": orders, "offset": i, "value": o, "schema": {"dataFormat": "JSON" if fmt == "JSON" else "AVRO", "schemaId": str(schema_id)}}
        for i, o in enumerate(sent)
    ], got


CHANGE_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Envelope",
        "namespace": "shop.public.orders",
        "fields": [
            {
                "name": "before",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Value",
                        "fields": [
                            {"name": "id", "type": "long"},
                            {"name": "item", "type": "string"},
                            {"name": "qty", "type": "long"},
                        ],
                    },
                ],
                "default": None,
            },
            {"name": "after", "type": ["null", "Value"], "default": None},
            {
                "name": "source",
                "type": {
                    "type": "record",
                    "name": "Source",
                    "namespace": "io.debezium.connector.postgresql",
                    "fields": [
                        {"name": "ts_ms", "type": "long"},
                        {"name": "db", "type": "string"},
                        {"name": "table", "type": "string"},
                    ],
                },
            },
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": None},
        ],
    }
)


def test_debezium_changes_in_avro_mirror_the_source_table(flow):
    """Debezium's change events as the stock AvroSerializer writes them (the envelope schema
    Debezium's Avro converter registers), decoded by the trigger (EventRecordFormat JSON) and
    applied by the sink (SINK_FORMAT=DEBEZIUM) to a Delta Table keyed by the source's key: the
    table ends equal to the source table the test keeps, a key changed twice in one batch and a
    key deleted then inserted again included."""
    emu, registry = flow
    emu.odps().execute_sql(
        "CREATE TABLE orders_mirror(id BIGINT NOT NULL, item STRING, qty BIGINT, PRIMARY KEY (id)) "
        "TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')"
    )
    changes_topic, errors = unique("shop.public.orders"), unique("errors")
    topics(changes_topic, errors)
    source, changes = {}, []

    def change(op, key, row=None):
        before = source.get(key)
        if op == "d":
            del source[key]
        else:
            source[key] = row
        after = None if op == "d" else {"id": key, **row}
        before = None if before is None or op == "c" else {"id": key, **before}
        changes.append((key, {
            "before": before, "after": after, "op": op, "ts_ms": 1_700_000_000_000 + len(changes),
            "source": {"ts_ms": 1_700_000_000_000 + len(changes), "db": "shop", "table": "orders"},
        }))

    for key in range(1, 6):
        change("c", key, {"item": f"item-{key}", "qty": key})
    change("u", 2, {"item": "item-2", "qty": 20})
    change("u", 2, {"item": "item-2b", "qty": 21})
    change("d", 3)
    change("d", 4)
    change("c", 4, {"item": "item-4 again", "qty": 40})

    serializer = AvroSerializer(SchemaRegistryClient({"url": registry.url}), CHANGE_SCHEMA)
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    for key, value in changes:
        framed = serializer(value, SerializationContext(changes_topic, MessageField.VALUE))
        producer.produce(changes_topic, key=json.dumps({"id": key}).encode(), value=framed)
    assert producer.flush(30) == 0

    env = emu.sink_env(
        SINK_ERROR_TOPIC=errors, SINK_FORMAT="DEBEZIUM", MAXCOMPUTE_TABLE="orders_mirror"
    )
    run_trigger(emu, registry, [changes_topic], errors, stop_after=len(changes), env=env)

    mirror = sorted(tuple(r) for r in emu.query("select id, item, qty from orders_mirror"))
    assert mirror == sorted((k, r["item"], r["qty"]) for k, r in source.items()), mirror
    assert on_failure_records(errors, 1, timeout=2) == []


def order_message_class():
    """An `Order` message as protoc would generate it from a small shop.proto, built from its
    descriptor (no generated code in the repository). It is the file's second message and has a
    nested one, so the record's message indexes are not the lone 0 the first message gets."""
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name=f"{unique('shop')}.proto", package="shop", syntax="proto3"
    )
    header = proto.message_type.add(name="Header")
    header.field.add(name="source", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    order = proto.message_type.add(name="Order")
    item = order.nested_type.add(name="Item")
    item.field.add(name="sku", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    for name, number, kind in [
        ("order_id", 1, field.TYPE_INT64),
        ("customer", 2, field.TYPE_STRING),
        ("amount", 3, field.TYPE_DOUBLE),
    ]:
        order.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    order.field.add(
        name="items", number=4, type=field.TYPE_MESSAGE, type_name=".shop.Order.Item",
        label=field.LABEL_REPEATED,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


@pytest.mark.parametrize("fmt", ["JSON", "SOURCE"])
def test_protobuf_through_the_registry_reaches_the_function(flow, fmt):
    """Protobuf records written by the stock ProtobufSerializer (which registers the file's
    descriptor): with JSON the function receives the message in Protobuf's JSON mapping (field
    names as in the .proto, 64-bit integers as numbers), with SOURCE the message bytes without
    the framing and message indexes; a record whose message does not parse goes to the
    on-failure topic."""
    emu, registry = flow
    orders, errors = unique("orders-protobuf"), unique("errors")
    topics(orders, errors)
    Order = order_message_class()
    serializer = ProtobufSerializer(
        Order, SchemaRegistryClient({"url": registry.url}), {"use.deprecated.format": False}
    )
    # A 64-bit id past 2^53 in JSON; with SOURCE one whose bytes are valid UTF-8, since the
    # sink's TEXT format keeps a value as text.
    big = 9_007_199_254_740_993 if fmt == "JSON" else 7
    sent = [
        Order(order_id=big, customer="ann", amount=12.5,
              items=[Order.Item(sku="tea"), Order.Item(sku="cake")]),
        Order(order_id=2, customer="bob"),
    ]
    framed = [serializer(o, SerializationContext(orders, MessageField.VALUE)) for o in sent]
    # Magic byte, schema id, then the indexes [1] as zig-zag varints (count 1, index 1).
    assert all(f[0] == 0 and f[5:7] == b"\x02\x02" for f in framed), framed
    garbage = framed[0][:7] + b"\xff\xff\xff\xff"
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    for value in framed + [garbage]:
        producer.produce(orders, value=value)
    assert producer.flush(30) == 0

    run_trigger(emu, registry, [orders], errors, stop_after=3, fmt=fmt)

    got = [v for _, _, v in rows(emu)]
    if fmt == "JSON":
        assert [json.loads(v) for v in got] == [
            {"order_id": big, "customer": "ann", "amount": 12.5,
             "items": [{"sku": "tea"}, {"sku": "cake"}]},
            {"order_id": 2, "customer": "bob"},
        ], got
    else:
        assert [v.encode() for v in got] == [o.SerializeToString() for o in sent], got
    (failed,) = on_failure_records(errors, 1)
    assert base64.b64decode(failed["payload"]["records"][f"{orders}-0"][0]["value"]) == garbage
    assert failed["requestContext"]["condition"] == "SchemaRegistryValidationFailed"

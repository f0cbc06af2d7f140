"""The source side of `make demo-cdc`: a small `orders` table and the Debezium changes of it.

`produce PHASE BOOTSTRAP TOPIC REGISTRY` writes that phase's changes to TOPIC as Debezium's
Postgres connector does through Confluent's Avro converter: each value serialized by the stock
`AvroSerializer` with the envelope schema (registered in the schema registry at REGISTRY), the
key `{"id": N}` as JSON, a tombstone as a null value; it prints one line per change.
`changes PHASE` prints one change per line as `KEY<TAB>VALUE` (VALUE `-` for a tombstone) in
the JSON of Kafka Connect's JSON converter without the schema wrapper (the same changes); `table
PHASE` prints the source table after that phase; `compare PHASE FILE`
checks the mirror's rows (the emulator's `select` output in FILE) against it; `sorted FILE`
prints that output with its rows sorted by their first column.
Phase 1 is the initial snapshot (op `r`) and one insert; phase 2, one batch, has a key updated
twice, a delete with its tombstone, a delete followed by an insert of the same key, an insert
and an update.
"""

import json
import sys

SOURCE = {"version": "2.5.0.Final", "connector": "postgresql", "name": "shop", "db": "shop",
          "schema": "public", "table": "orders"}
COLUMNS = ["id", "customer", "product", "quantity", "amount", "status"]

PHASES = {
    1: [
        ("r", (1001, "Sally Thomas", "widget", 1, "12.50", "new")),
        ("r", (1002, "George Bailey", "gadget", 3, "7.25", "new")),
        ("r", (1003, "Edward Walker", "sprocket", 2, "40.00", "paid")),
        ("c", (1004, "Anne Kretchmar", "widget", 5, "62.50", "new")),
    ],
    2: [
        ("u", (1001, "Sally Thomas", "widget", 2, "25.00", "paid")),
        ("u", (1001, "Sally Thomas", "widget", 2, "25.00", "shipped")),
        ("d", 1002),
        ("tombstone", 1002),
        ("d", 1003),
        ("c", (1003, "Edward Walker", "sprocket", 1, "20.00", "new")),
        ("c", (1005, "Ada Lovelace", "engine", 1, "999.99", "new")),
        ("u", (1004, "Anne Kretchmar", "widget", 4, "50.00", "paid")),
    ],
}


def row_json(row):
    return dict(zip(COLUMNS, row))


def changes(phase):
    ts = 1_700_000_000_000 + phase * 60_000
    for n, (op, data) in enumerate(PHASES[phase]):
        key_id = data if isinstance(data, int) else data[0]
        key = json.dumps({"id": key_id}, separators=(",", ":"))
        if op == "tombstone":
            yield key, "-"
            continue
        before, after = None, None
        if op == "d":
            before = {"id": key_id}
        else:
            after = row_json(data)
        value = {"before": before, "after": after, "source": dict(SOURCE, ts_ms=ts + n),
                 "op": op, "ts_ms": ts + n + 5}
        yield key, json.dumps(value, separators=(",", ":"))


def row_schema():
    optional = lambda name, t: {"name": name, "type": ["null", t], "default": None}
    return {
        "type": "record", "name": "Value",
        "fields": [{"name": "id", "type": "long"}, optional("customer", "string"),
                   optional("product", "string"), optional("quantity", "long"),
                   # decimal.handling.mode=string: the amount as its decimal text.
                   optional("amount", "string"), optional("status", "string")],
    }


# The envelope schema Debezium's Avro converter registers for the table (the fields the demo
# uses).
ENVELOPE_SCHEMA = json.dumps({
    "type": "record", "name": "Envelope", "namespace": "shop.public.orders",
    "fields": [
        {"name": "before", "type": ["null", row_schema()], "default": None},
        {"name": "after", "type": ["null", "Value"], "default": None},
        {"name": "source", "type": {
            "type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql",
            "fields": [{"name": k, "type": "string"} for k in SOURCE] +
                      [{"name": "ts_ms", "type": "long"}]}},
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
    ],
})


def produce(phase, bootstrap, topic, registry):
    """Writes the phase's changes with the stock Avro serializer; prints what it wrote."""
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    serializer = AvroSerializer(SchemaRegistryClient({"url": registry}), ENVELOPE_SCHEMA)
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in changes(phase):
        if value == "-":
            print(f"  key {key}  tombstone (no value)")
            producer.produce(topic, key=key.encode(), value=None)
            continue
        change = json.loads(value)
        framed = serializer(change, SerializationContext(topic, MessageField.VALUE))
        row = change["after"] or change["before"]
        print(f"  key {key}  op {change['op']} {json.dumps(row)}  ({len(framed)} bytes of Avro)")
        producer.produce(topic, key=key.encode(), value=framed)
    if producer.flush(30) != 0:
        sys.exit("producing failed: the broker did not take every change")


def table(phase):
    rows = {}
    for p in range(1, phase + 1):
        for op, data in PHASES[p]:
            if op in ("c", "r", "u"):
                rows[data[0]] = data
            elif op == "d":
                rows.pop(data, None)
    return [rows[k] for k in sorted(rows)]


def show(rows):
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(COLUMNS)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(COLUMNS, widths)) + " |")
    print(line)
    for r in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print(line)


def mirror_rows(path):
    """The rows of the emulator's `select` table, as tuples of text."""
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f if l.startswith("|")]
    for line in lines[1:]:
        rows.append(tuple(c.strip() for c in line.strip().strip("|").split("|")))
    return sorted(rows, key=lambda r: int(r[0]))


def main():
    if sys.argv[1] == "sorted":
        print_sorted(sys.argv[2])
        return
    what, phase = sys.argv[1], int(sys.argv[2])
    if what == "produce":
        produce(phase, *sys.argv[3:6])
    elif what == "changes":
        for key, value in changes(phase):
            print(f"{key}\t{value}")
    elif what == "table":
        show(table(phase))
    elif what == "compare":
        want = [tuple(str(c) for c in r) for r in table(phase)]
        got = mirror_rows(sys.argv[3])
        if got != want:
            print(f"the mirror differs from the source:\n  source {want}\n  mirror {got}",
                  file=sys.stderr)
            sys.exit(1)
        print(f"the mirror equals the source: {len(want)} rows")
    else:
        sys.exit(f"unknown command {what}")


def print_sorted(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    rows = [i for i, l in enumerate(lines) if l.startswith("|")][1:]
    body = sorted((lines[i] for i in rows), key=lambda l: int(l.strip("|").split("|")[0]))
    for i, line in enumerate(lines):
        print(body.pop(0) if i in rows else line)


if __name__ == "__main__":
    main()

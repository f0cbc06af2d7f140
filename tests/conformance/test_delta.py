"""Delta Tables driven by the stock pyodps client, unpatched: pyodps creates the seed's table as a
Delta Table keyed by (topic, partition, offset), detects it from the metadata, writes through its
own upsert sessions (records hashed into buckets by pyodps' hasher, which the emulator checks),
rewrites keys, deletes one, and reads back one row per key with the latest values, through
`open_reader` (an SQL instance read through the instance tunnel) and through SQL results.
The tests form one scenario and run in file order.
"""

import pytest
from odps import ODPS
from odps.models import TableSchema
from odps.types import Column, Partition
from odps.tunnel import TableTunnel

from conftest import ACCESS_ID, ACCESS_SECRET, PROJECT

TABLE = "delta_kafka"
KEY = ["topic", "partition", "offset"]
PT = "2026-11-30 20"
SPEC = f"pt={PT}"
OFFSETS = range(6)


@pytest.fixture(scope="module")
def o(emulator):
    return ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=emulator.endpoint)


@pytest.fixture(scope="module")
def table(o):
    schema = TableSchema(
        columns=[
            Column("topic", "string", nullable=False),
            Column("partition", "bigint", nullable=False),
            Column("offset", "bigint", nullable=False),
            Column("key", "string"),
            Column("value", "string"),
        ],
        partitions=[Partition("pt", "string")],
    )
    # pyodps writes the DDL: backquoted names, a trailing PRIMARY KEY, quoted TBLPROPERTIES.
    return o.create_table(
        TABLE,
        schema,
        if_not_exists=True,
        transactional=True,
        primary_key=KEY,
        table_properties={"write.bucket.num": "4"},
        lifecycle=7,
    )


def rows_of(records):
    """`offset -> (key, value)` of records read back, checking each key appears once."""
    seen = {}
    for r in records:
        assert (r["topic"], r["partition"]) == ("orders", 0), r
        assert r["offset"] not in seen, f"offset {r['offset']} read twice"
        seen[r["offset"]] = (r["key"], r["value"])
    return seen


def read_by_reader(o):
    table = o.get_table(TABLE)
    with table.open_reader(partition=SPEC) as reader:
        records = list(reader)
    assert all(r["pt"] == PT for r in records)
    return rows_of(records)


def read_by_sql(o):
    inst = o.execute_sql(f"SELECT * FROM {TABLE} WHERE pt='{PT}'")
    with inst.open_reader(tunnel=False) as reader:
        return rows_of(list(reader))


def test_pyodps_detects_a_delta_table(o, table):
    t = o.get_table(TABLE)
    t.reload_extend_info()
    assert t.is_transactional is True
    assert t.primary_key == KEY
    assert [c.nullable for c in t.table_schema.simple_columns] == [False, False, False, True, True]


def test_open_writer_upserts_through_an_upsert_session(o, table):
    t = o.get_table(TABLE)
    with t.open_writer(partition=SPEC, create_partition=True) as writer:
        writer.write([["orders", 0, off, f"k{off}", f"v{off}"] for off in OFFSETS])
    expected = {off: (f"k{off}", f"v{off}") for off in OFFSETS}
    assert read_by_reader(o) == expected
    assert read_by_sql(o) == expected


def test_rewrites_and_a_delete_leave_the_latest_value_per_key(o, table):
    t = o.get_table(TABLE)
    with t.open_writer(partition=SPEC) as writer:
        writer.write([["orders", 0, off, f"k{off}", f"w{off}"] for off in OFFSETS])
        writer.delete([["orders", 0, 3, None, None]])
    expected = {off: (f"k{off}", f"w{off}") for off in OFFSETS if off != 3}
    assert read_by_reader(o) == expected
    assert read_by_sql(o) == expected
    count = o.execute_sql(f"SELECT COUNT(*) FROM {TABLE} WHERE pt='{PT}'")
    with count.open_reader(tunnel=False) as reader:
        assert [r[0] for r in reader] == [len(expected)]


def test_a_session_reopened_by_id_commits_once_and_an_aborted_one_changes_nothing(o, table):
    tunnel = TableTunnel(o)
    session = tunnel.create_upsert_session(TABLE, partition_spec=SPEC)
    assert sorted(session.buckets) == [0, 1, 2, 3]
    stream = session.open_upsert_stream()
    stream.upsert(session.new_record(["orders", 0, 0, "k0", "x0"]))
    stream.close()
    reopened = tunnel.create_upsert_session(TABLE, partition_spec=SPEC, upsert_id=session.id)
    reopened.commit()
    # A repeated commit is answered as committed, as the clients expect.
    session.commit()
    assert session.status.value == "COMMITTED"

    aborted = tunnel.create_upsert_session(TABLE, partition_spec=SPEC)
    stream = aborted.open_upsert_stream()
    stream.upsert(aborted.new_record(["orders", 0, 1, "k1", "never"]))
    stream.close()
    aborted.abort()
    aborted.reload()
    assert aborted.status.value == "ABORTED"

    expected = {off: (f"k{off}", f"w{off}") for off in OFFSETS if off != 3}
    expected[0] = ("k0", "x0")
    assert read_by_reader(o) == expected


def test_delta_rows_survive_a_restart(o, emulator, table):
    before = read_by_sql(o)
    emulator.restart()
    assert read_by_reader(o) == before
    assert len(before) == 5

"""A table's columns added with `ALTER TABLE .. ADD COLUMNS`, driven by the stock pyodps client,
unpatched: pyodps creates a table and writes rows, adds columns through `execute_sql`, reloads
the table and sees them (and the new schema version), reads the older rows with None in the new
columns (download tunnel, `head`, SQL), writes rows with the new columns through its batch and
stream tunnels and reads them back; a stream session opened before a change is refused with
`SchemaModified` and the latest version. The tests form one scenario and run in file order.
"""

import pytest
from odps import ODPS, errors
from odps.models import TableSchema
from odps.types import Column, Partition
from odps.tunnel import TableTunnel

from conftest import ACCESS_ID, ACCESS_SECRET, PROJECT

TABLE = "schema_evolution"


@pytest.fixture(scope="module")
def o(emulator):
    return ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=emulator.endpoint)


@pytest.fixture(scope="module")
def table(o):
    o.delete_table(TABLE, if_exists=True)
    schema = TableSchema(
        columns=[Column("a", "bigint"), Column("b", "string")],
        partitions=[Partition("pt", "string")],
    )
    return o.create_table(TABLE, schema)


def read(o, pt):
    """Every row of a partition through the download tunnel, without the partition value."""
    with o.get_table(TABLE).open_reader(partition=f"pt={pt}") as reader:
        return sorted([list(r.values)[:-1] for r in reader], key=lambda r: r[0])


def column_names(t):
    return [c.name for c in t.table_schema.simple_columns]


def test_rows_written_before_the_change_read_back(o, table):
    o.write_table(TABLE, [[1, "b1"], [2, "b2"]], partition="pt=old", create_partition=True)
    assert read(o, "old") == [[1, "b1"], [2, "b2"]]
    assert table.schema_version == "0"


def test_add_columns_through_execute_sql_appends_nullable_columns(o, table):
    created = o.get_table(TABLE).creation_time
    o.execute_sql(f"ALTER TABLE {TABLE} ADD COLUMNS (c DOUBLE COMMENT 'added', d STRING)")
    table.reload()
    assert column_names(table) == ["a", "b", "c", "d"]
    assert [p.name for p in table.table_schema.partitions] == ["pt"]
    c = table.table_schema["c"]
    assert (str(c.type).lower(), c.comment, c.nullable) == ("double", "added", True)
    assert table.table_schema["d"].nullable
    fresh = o.get_table(TABLE)
    assert fresh.schema_version == "1"
    assert fresh.last_meta_modified_time >= created


def test_older_rows_read_none_in_the_new_columns(o, table):
    assert read(o, "old") == [[1, "b1", None, None], [2, "b2", None, None]]
    head = [list(r.values) for r in table.head(10, partition="pt=old")]
    assert sorted(head, key=lambda r: r[0]) == [[1, "b1", None, None, "old"], [2, "b2", None, None, "old"]]
    inst = o.execute_sql(f"SELECT a, c, d FROM {TABLE} WHERE pt = 'old'")
    with inst.open_reader() as reader:
        assert sorted([list(r.values) for r in reader], key=lambda r: r[0]) == [[1, None, None], [2, None, None]]


def test_new_rows_carry_the_new_columns_through_the_batch_tunnel(o, table):
    o.write_table(TABLE, [[3, "b3", 1.5, "d3"]], partition="pt=new", create_partition=True)
    assert read(o, "new") == [[3, "b3", 1.5, "d3"]]


def test_adding_an_existing_column_is_refused_unless_if_not_exists(o, table):
    with pytest.raises(errors.ODPSError) as e:
        o.execute_sql(f"ALTER TABLE {TABLE} ADD COLUMNS (C string)")
    assert "already exists" in str(e.value)
    o.execute_sql(f"ALTER TABLE {TABLE} ADD COLUMNS IF NOT EXISTS (c double, D string)")
    fresh = o.get_table(TABLE)
    assert column_names(fresh) == ["a", "b", "c", "d"]
    assert fresh.schema_version == "1"


def test_a_stream_session_opened_before_a_change_is_refused(o, table):
    tunnel = TableTunnel(o)
    before = tunnel.create_stream_upload_session(TABLE, partition_spec="pt=stream", create_partition=True)
    o.execute_sql(f"ALTER TABLE {TABLE} ADD COLUMNS IF NOT EXISTS (e BIGINT)")
    with pytest.raises(errors.SchemaModified) as e:
        with before.open_record_writer() as writer:
            writer.write(before.new_record([4, "b4", None, None]))
    assert e.value.latest_schema_version == "2"
    assert read(o, "stream") == []

    # A session opened now is on the new schema, and its rows read back with the new column.
    after = tunnel.create_stream_upload_session(TABLE, partition_spec="pt=stream")
    assert [c.name for c in after.schema.simple_columns] == ["a", "b", "c", "d", "e"]
    with after.open_record_writer() as writer:
        writer.write(after.new_record([5, "b5", None, "d5", 55]))
    assert read(o, "stream") == [[5, "b5", None, "d5", 55]]

    # pyodps opens a session on the version the table reports when it must not mismatch.
    checked = tunnel.create_stream_upload_session(TABLE, partition_spec="pt=stream", allow_schema_mismatch=False)
    assert str(checked.schema_version) == "2"
    with checked.open_record_writer() as writer:
        writer.write(checked.new_record([6, "b6", 6.5, None, None]))
    assert read(o, "stream") == [[5, "b5", None, "d5", 55], [6, "b6", 6.5, None, None]]
    assert read(o, "new") == [[3, "b3", 1.5, "d3", None]]

"""The MaxCompute emulator driven by the stock pyodps client, unpatched.

Every call goes through pyodps' own signing, endpoint discovery (no tunnel_endpoint is given, so
the tunnel is found with `GET /api/projects/{p}/tunnel?service`), retry and record codec.
The tests form one scenario and run in file order: later reads check rows earlier tests wrote.
"""

import json
import math
import os
import struct
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from odps import ODPS, errors
from odps.models import TableSchema
from odps.accounts import StsAccount
from odps.tunnel import CompressOption, TableTunnel

from conftest import ACCESS_ID, ACCESS_SECRET, PROJECT, STS_ID, STS_SECRET, STS_TOKEN

EVENTS = Path(__file__).resolve().parents[2] / "events"
TABLE = "test_kafka"
SEED_DDL = (
    "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,"
    "key STRING,value STRING) PARTITIONED by (pt STRING);"
)
SEED_PT = "11-17-2020 15"
ROWS = [
    ["maxcompute-test-input", 0, 0, "1", "1"],
    ["maxcompute-test-input", 0, 1, None, "v2"],
]


@pytest.fixture(scope="module")
def o(emulator):
    return ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=emulator.endpoint)


@pytest.fixture(scope="module")
def table(o):
    o.execute_sql(SEED_DDL)
    return o.get_table(TABLE)


def read_partition(o, pt, columns=None):
    tunnel = TableTunnel(o)
    session = tunnel.create_download_session(TABLE, partition_spec=f"pt={pt}")
    with session.open_record_reader(0, session.count, columns=columns) as reader:
        rows = [list(r.values) for r in reader]
    if columns is None:
        # pyodps appends the partition value to each record read from a partition.
        assert all(r[-1] == pt for r in rows), rows
        rows = [r[:-1] for r in rows]
    return rows


def test_seed_ddl_creates_the_table_with_its_schema(o, table):
    assert o.exist_table(TABLE)
    t = o.get_table(TABLE)
    assert [c.name for c in t.table_schema.simple_columns] == ["topic", "partition", "offset", "key", "value"]
    assert [str(c.type).lower() for c in t.table_schema.simple_columns] == ["string", "bigint", "bigint", "string", "string"]
    assert [p.name for p in t.table_schema.partitions] == ["pt"]
    # IF NOT EXISTS makes the seed's statement re-runnable.
    o.execute_sql(SEED_DDL)


def test_write_table_creates_the_partition_and_rows_read_back(o, table):
    assert not table.exist_partition(f"pt='{SEED_PT}'")
    o.write_table(TABLE, ROWS, partition=f"pt='{SEED_PT}'", create_partition=True)
    assert table.exist_partition(f"pt='{SEED_PT}'")
    assert read_partition(o, SEED_PT) == ROWS
    with table.open_reader(partition=f"pt='{SEED_PT}'") as reader:
        assert reader.count == 2
        got = [list(r.values) for r in reader]
    assert got == [row + [SEED_PT] for row in ROWS]


def test_upload_session_with_several_blocks_publishes_on_commit(o, table):
    tunnel = TableTunnel(o)
    session = tunnel.create_upload_session(TABLE, partition_spec="pt=blocks", create_partition=True)
    for block_id, offset in [(0, 10), (3, 30), (1, 20)]:
        with session.open_record_writer(block_id) as writer:
            for i in range(3):
                writer.write(session.new_record(["t", 1, offset + i, f"k{i}", f"v{offset + i}"]))
    # Nothing is visible before the commit.
    assert read_partition(o, "blocks") == []
    session.commit([0, 1, 3])
    offsets = [r[2] for r in read_partition(o, "blocks")]
    assert offsets == [10, 11, 12, 20, 21, 22, 30, 31, 32]


def test_deflate_upload(o, table):
    tunnel = TableTunnel(o)
    option = CompressOption(compress_algo="zlib")
    session = tunnel.create_upload_session(
        TABLE, partition_spec="pt=deflate", create_partition=True, compress_option=option
    )
    with session.open_record_writer(0, compress=True) as writer:
        for row in ROWS:
            writer.write(session.new_record(row))
    session.commit([0])
    assert read_partition(o, "deflate") == ROWS


# pyodps's compress_algo, the stream class its download picks for the answer's Content-Encoding.
CODECS = [
    ("zlib", "DeflateRequestsInputStream"),
    ("zstd", "ZstdRequestsInputStream"),
    ("lz4", "LZ4RequestsInputStream"),
    ("snappy", "SnappyRequestsInputStream"),
]


@pytest.mark.parametrize("algo, stream_class", CODECS)
def test_compressed_uploads_and_downloads(o, table, algo, stream_class):
    """A batch block and a stream pack in each codec (pyodps's Content-Encoding names and
    framing), read back in the same codec: the answer's Content-Encoding is the one asked for."""
    tunnel = TableTunnel(o)
    option = CompressOption(compress_algo=algo)
    pt = f"codec-{algo}"
    rows = [
        ["maxcompute-test-input", i % 3, i, f"key-{i}", f"value {i} " + "abc" * (i % 40)]
        for i in range(3000)
    ]
    upload = tunnel.create_upload_session(
        TABLE, partition_spec=f"pt={pt}", create_partition=True, compress_option=option
    )
    with upload.open_record_writer(0, compress=True) as writer:
        for row in rows[:2000]:
            writer.write(upload.new_record(row))
    upload.commit([0])
    stream = tunnel.create_stream_upload_session(
        TABLE, partition_spec=f"pt={pt}", compress_option=option
    )
    writer = stream.open_record_writer(compress=True)
    for row in rows[2000:]:
        writer.write(stream.new_record(row))
    if algo == "lz4":
        # pyodps 0.13.2's buffered writer flushes its lz4 stream again after the pack is sent
        # and lz4 refuses a second end of frame; the pack has arrived (read back below).
        with pytest.raises(ValueError, match="No compression context"):
            writer.close()
    else:
        writer.close()

    download = tunnel.create_download_session(
        TABLE, partition_spec=f"pt={pt}", compress_option=CompressOption(compress_algo=algo)
    )
    raw = download._build_input_stream(0, download.count, compress=True)
    assert type(raw).__name__ == stream_class
    raw.close()
    with download.open_record_reader(0, download.count, compress=True) as reader:
        got = [list(r.values)[:-1] for r in reader]
    assert got == rows
    assert read_partition(o, pt) == rows


def test_stream_upload_is_visible_without_commit(o, table):
    tunnel = TableTunnel(o)
    session = tunnel.create_stream_upload_session(TABLE, partition_spec="pt=stream", create_partition=True)
    writer = session.open_record_writer()
    for row in ROWS:
        writer.write(session.new_record(row))
    writer.close()
    assert read_partition(o, "stream") == ROWS


def test_download_of_a_column_subset(o, table):
    assert read_partition(o, SEED_PT, columns=["offset", "value"]) == [[0, "1"], [1, "v2"]]
    tunnel = TableTunnel(o)
    session = tunnel.create_download_session(TABLE, partition_spec="pt=blocks")
    with session.open_record_reader(4, 3, columns=["value", "offset"]) as reader:
        assert [list(r.values) for r in reader] == [["v21", 21], ["v22", 22], ["v30", 30]]


def test_download_with_compression(o, table):
    tunnel = TableTunnel(o)
    session = tunnel.create_download_session(
        TABLE, partition_spec="pt=blocks", compress_option=CompressOption(compress_algo="zlib")
    )
    with session.open_record_reader(0, session.count, compress=True) as reader:
        assert len(list(reader)) == 9


def test_show_partitions(o, table):
    inst = o.execute_sql("show partitions test_kafka")
    text = inst.get_task_result(inst.get_task_names()[0])
    lines = text.strip().splitlines()
    assert f"pt={SEED_PT}" in lines
    assert "pt=blocks" in lines and "pt=stream" in lines
    assert sorted(p.name for p in table.partitions) == sorted(
        f"pt='{v}'"
        for v in [SEED_PT, "blocks", "deflate", "stream"] + [f"codec-{a}" for a, _ in CODECS]
    )


def test_seed_select_where_double_quoted(o, table):
    inst = o.execute_sql(f'select * from test_kafka where pt = "{SEED_PT}";')
    with inst.open_reader() as reader:
        rows = [list(r.values) for r in reader]
    assert rows == [row + [SEED_PT] for row in ROWS]
    # The result API (CSV with a result descriptor) gives the same typed rows.
    with inst.open_reader(tunnel=False) as reader:
        assert [list(r.values) for r in reader] == rows


def test_select_columns_limit_and_count(o, table):
    inst = o.execute_sql("SELECT `offset`, value FROM test_kafka WHERE pt='blocks' LIMIT 2")
    with inst.open_reader() as reader:
        assert [list(r.values) for r in reader] == [[10, "v10"], [11, "v11"]]
    inst = o.execute_sql("select count(*) from test_kafka where pt = 'blocks'")
    with inst.open_reader() as reader:
        assert [list(r.values) for r in reader] == [[9]]


def test_pyodps_create_and_delete_table(o, table):
    schema = TableSchema.from_lists(["a", "b"], ["string", "decimal(10,2)"], ["ds", "h"], ["string", "string"])
    t = o.create_table("other_table", schema, if_not_exists=True, lifecycle=3)
    assert [str(c.type).lower() for c in t.table_schema.simple_columns] == ["string", "decimal(10,2)"]
    t.create_partition("ds='2020-11-17',h='15'")
    assert t.exist_partition("ds='2020-11-17',h='15'")
    o.write_table("other_table", [["x", Decimal("1.25")]], partition="ds='2020-11-17',h='15'")
    with t.open_reader(partition="ds='2020-11-17',h='15'") as reader:
        assert [list(r.values) for r in reader] == [["x", Decimal("1.25"), "2020-11-17", "15"]]
    t.delete_partition("ds='2020-11-17',h='15'")
    assert not t.exist_partition("ds='2020-11-17',h='15'")
    o.delete_table("other_table")
    assert not o.exist_table("other_table")


def test_all_column_types_round_trip(o, table):
    o.execute_sql(
        "create table if not exists typed(b boolean, i int, bi bigint, d double, s string, vc varchar(10), "
        "bin binary, dec decimal(10,2), dt datetime, da date, arr array<bigint>, "
        "m map<string,bigint>, st struct<x:bigint,y:string>)"
    )
    row = [
        True, -7, 2**62, 1.5, "héllo", "short", b"\x00\xff", Decimal("12.34"),
        datetime(2020, 11, 17, 15, 4, 5), date(2020, 11, 17),
        [1, None, 3], {"a": 1}, (5, "y"),
    ]
    o.write_table("typed", [row, [None] * len(row)])
    with o.get_table("typed").open_reader() as reader:
        got = [list(r.values) for r in reader]
    assert got[1] == [None] * len(row)
    first = got[0]
    assert first[:12] == row[:12]
    assert tuple(first[12]) == (5, "y")
    inst = o.execute_sql("select count(*) from typed")
    with inst.open_reader() as reader:
        assert [list(r.values) for r in reader] == [[2]]


def test_unsupported_sql_fails_with_a_clear_message(o, table):
    with pytest.raises(errors.ODPSError) as exc:
        o.execute_sql("insert into test_kafka partition (pt='x') values ('a', 1, 1, 'k', 'v')")
    assert "unsupported statement" in str(exc.value)


def test_bad_signature_is_refused(emulator, table):
    bad = ODPS(ACCESS_ID, "not-the-secret", PROJECT, endpoint=emulator.endpoint, logview_host="http://x")
    with pytest.raises(errors.SignatureNotMatch):
        bad.get_table(TABLE).reload()


def test_sts_credentials_are_accepted(emulator, table):
    if not emulator.is_emulator:
        pytest.skip("needs the emulator's configured STS key")
    sts = ODPS(account=StsAccount(STS_ID, STS_SECRET, STS_TOKEN), project=PROJECT, endpoint=emulator.endpoint)
    assert sts.exist_table(TABLE)
    wrong_token = ODPS(
        account=StsAccount(STS_ID, STS_SECRET, "stale"), project=PROJECT, endpoint=emulator.endpoint,
        logview_host="http://x",
    )
    with pytest.raises(errors.ODPSError):
        wrong_token.get_table(TABLE).reload()


def test_v4_signed_service_calls_are_verified(emulator, table):
    if not emulator.is_emulator:
        pytest.skip("uses a made-up region")
    # With a region pyodps signs service API calls with v4 (the tunnel stays v2).
    v4 = ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=emulator.endpoint, region_name="cn-test")
    assert v4.exist_table(TABLE)
    bad = ODPS(ACCESS_ID, "wrong", PROJECT, endpoint=emulator.endpoint, region_name="cn-test", logview_host="http://x")
    with pytest.raises(errors.ODPSError):
        bad.get_table(TABLE).reload()


def test_missing_partition(o, table):
    assert not table.exist_partition("pt='nope'")
    with pytest.raises(errors.NoSuchPartition):
        TableTunnel(o).create_upload_session(TABLE, partition_spec="pt=nope")


def test_commit_twice_is_a_conflict(o, table):
    tunnel = TableTunnel(o)
    session = tunnel.create_upload_session(TABLE, partition_spec="pt=twice", create_partition=True)
    with session.open_record_writer(0) as writer:
        writer.write(session.new_record(ROWS[0]))
    session.commit([0])
    with pytest.raises(errors.ODPSError) as exc:
        session.commit([0])
    assert exc.value.code == "StatusConflict", repr(exc.value)


def test_rows_survive_a_restart(emulator, o, table):
    before = read_partition(o, SEED_PT)
    emulator.restart()
    fresh = ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=emulator.endpoint)
    assert read_partition(fresh, SEED_PT) == before == ROWS
    inst = fresh.execute_sql("select count(*) from test_kafka where pt = 'blocks'")
    with inst.open_reader() as reader:
        assert [list(r.values) for r in reader] == [[9]]


def test_exponent_form_decimals_are_stored_at_the_column_scale(o, table):
    # str(Decimal) prints small values in exponent form, and pyodps sends that text as is.
    o.execute_sql("create table if not exists decimals(id bigint, d18 decimal(38,18), d9 decimal(38,9))")
    rows = [
        [1, Decimal("6.73261E-12"), Decimal("6.73261E-12")],
        [2, Decimal("1E+5"), Decimal("0E-9")],
        [3, Decimal("-1.0000000005"), Decimal("-1.0000000005")],
    ]
    o.write_table("decimals", rows)
    with o.get_table("decimals").open_reader() as reader:
        got = sorted((list(r.values) for r in reader), key=lambda r: r[0])
    # Extra places are rounded half-up to the scale; the rest keeps every digit.
    assert got == [
        [1, Decimal("0.00000000000673261"), Decimal("0E-9")],
        [2, Decimal("100000"), Decimal("0")],
        [3, Decimal("-1.0000000005"), Decimal("-1.000000001")],
    ]


def test_the_sink_keeps_every_digit_of_json_numbers(emulator, o, table, tmp_path):
    """The sink binary, behind the emulator's Lambda runtime API, writes JSON numbers that
    pyodps reads back exactly: DECIMAL digits as written, doubles correctly rounded."""
    if not emulator.is_emulator:
        pytest.skip("the sink is invoked through the emulator's runtime API")
    sink = os.environ.get("SINK_BIN")
    if not sink or not os.path.exists(sink):
        pytest.fail("SINK_BIN is not set to a built sink binary: run scripts/conformance.sh")
    o.execute_sql(
        "create table if not exists json_numbers(id bigint, amount decimal(38,9), ratio double, "
        "small float, text string) partitioned by (pt string)"
    )
    event = json.loads((EVENTS / "json-exact-numbers.json").read_text())
    # Only the records that fit: without an error topic a reject fails the whole batch.
    for key, records in event["records"].items():
        event["records"][key] = [r for r in records if r["offset"] <= 3]
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    env = {
        "MAXCOMPUTE_ENDPOINT": emulator.endpoint,
        "MAXCOMPUTE_PROJECT": PROJECT,
        "MAXCOMPUTE_TABLE": "json_numbers",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_SECRET,
        "SINK_MODE": "VALUE",
        "SINK_FORMAT": "JSON",
    }
    args = [emulator.binary, "invoke", "--function", sink]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    done = subprocess.run(args + [str(event_file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "errorType" not in done.stdout, done.stdout
    with o.get_table("json_numbers").open_reader(partition="pt='11-17-2020 15'") as reader:
        got = sorted((list(r.values)[:5] for r in reader), key=lambda r: r[0])
    assert [r[1] for r in got] == [
        Decimal("123456789012.123456789"),
        Decimal("12345678901234567890.123456789"),
        Decimal("0.000000001"),
        Decimal("0E-9"),  # 6.73261E-12 rounded to the column's 9 places
    ]
    assert [r[2] for r in got] == [1077442837911.414, -0.0, 5e-324, 1e308]
    assert math.copysign(1.0, got[1][2]) == -1.0
    assert [r[4] for r in got] == ["12345678.123456789", "1E+3", "0.000000001", "-7"]
    # FLOAT: pyodps widens the stored f32 to a Python float.
    assert [struct.pack("<f", r[3]) for r in got] == [
        struct.pack("<f", v) for v in (0.1, 3.4028235e38, 1.00000011920928955078125, -1.401298464324817e-45)
    ]

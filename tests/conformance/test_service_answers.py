"""What the service answers, asked through pyodps's own calls: table metadata (lifecycle, the
`?extended` fields, listings by prefix and owner, paging), `Table.head()`, CHAR padding,
TRUNCATE, an empty download, refusals of what the emulator does not serve, and several
processes writing blocks of one upload session at once.

Each test makes its own tables (names start with `svc_`), so the file runs in any order.
"""

import multiprocessing
import time

import pytest
from odps import ODPS, errors
from odps.models import TableSchema
from odps.tunnel import TableTunnel

from conftest import ACCESS_ID, ACCESS_SECRET, PROJECT

# How long a child process may take to write its rows; a hung writer fails the test instead of
# blocking the run.
WRITER_DEADLINE_SECS = 60


@pytest.fixture(scope="module")
def o(emulator):
    return ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=emulator.endpoint)


def fresh_table(o, name, schema, **kw):
    o.delete_table(name, if_exists=True)
    return o.create_table(name, schema, **kw)


def read_all(o, name, partition=None):
    with o.get_table(name).open_reader(partition=partition) as reader:
        return [list(r.values) for r in reader]


def test_lifecycle_is_kept_reported_and_altered(o):
    t = fresh_table(o, "svc_lifecycle", "id bigint", lifecycle=7)
    assert o.get_table("svc_lifecycle").lifecycle == 7
    o.execute_sql(f"ALTER TABLE {PROJECT}.svc_lifecycle SET LIFECYCLE 3")
    t.reload()
    assert t.lifecycle == 3
    # A table created without one reports -1, as the service does.
    assert fresh_table(o, "svc_no_lifecycle", "id bigint").lifecycle == -1
    with pytest.raises(errors.ODPSError, match="LIFECYCLE"):
        o.execute_sql("ALTER TABLE svc_lifecycle SET LIFECYCLE 0")


def test_extended_table_metadata(emulator, o):
    t = fresh_table(o, "svc_extended", "id bigint, s string")
    fresh = o.get_table("svc_extended")
    assert fresh.is_archived is False
    assert fresh.physical_size == 0
    assert fresh.file_num == 0
    o.write_table("svc_extended", [[1, "a"], [2, "b"]])
    o.write_table("svc_extended", [[3, "c"]])
    t = o.get_table("svc_extended")
    assert t.physical_size > 0
    # One file per committed upload in the emulator; the service may merge files, but a table
    # with data never has none.
    assert t.file_num == 2 if emulator.is_emulator else t.file_num >= 1
    assert isinstance(t.table_label, str)
    assert t.lifecycle == -1


def test_extended_partition_metadata_and_max_partition(emulator, o):
    t = fresh_table(o, "svc_parts", ("v string", "pt string"), lifecycle=5)
    o.write_table("svc_parts", [["x"]], partition="pt=a", create_partition=True)
    t.create_partition("pt=b")
    a = t.partitions["pt=a"]
    assert a.is_archived is False
    assert a.is_exstore is False
    assert a.lifecycle == 5
    assert a.physical_size > 0
    assert a.file_num >= 1
    b = t.partitions["pt=b"]
    assert (b.physical_size, b.file_num) == (0, 0)
    # skip_empty reads each partition's physical size from its extended metadata.
    assert str(t.get_max_partition().partition_spec) == "pt='a'"
    assert str(t.get_max_partition(skip_empty=False).partition_spec) == "pt='b'"


def test_list_tables_filters_by_prefix_and_owner(o):
    for name in ["svc_list_a1", "svc_list_a2", "svc_list_b1"]:
        fresh_table(o, name, "id bigint")
    names = sorted(t.name for t in o.list_tables(prefix="svc_list_a"))
    assert names == ["svc_list_a1", "svc_list_a2"]
    owner = o.get_table("svc_list_a1").owner
    assert {t.owner for t in o.list_tables(owner=owner)} == {owner}
    assert list(o.list_tables(owner="ALIYUN$somebody-else@example.com")) == []
    extended = list(o.list_tables(prefix="svc_list_b", extended=True))
    assert [t.name for t in extended] == ["svc_list_b1"]


def test_list_tables_pages_by_marker(o):
    for i in range(5):
        fresh_table(o, f"svc_page_{i}", "id bigint")
    # pyodps pages with the service's page size; ask for pages of two through its own client.
    url = o.get_project().tables.resource()
    seen, marker = [], None
    for _ in range(10):
        params = {"expectmarker": "true", "name": "svc_page_", "maxitems": "2"}
        if marker:
            params["marker"] = marker
        page = o.get_project().tables.parse(o.rest, o.rest.get(url, params=params))
        seen.append([t.name for t in page.tables])
        marker = page.marker
        if not marker:
            break
    assert seen == [["svc_page_0", "svc_page_1"], ["svc_page_2", "svc_page_3"], ["svc_page_4"]]


def test_head_reads_the_first_rows(o):
    rows = [[i, f"s{i}", i % 2 == 0] for i in range(5)]
    fresh_table(o, "svc_head", "id bigint, name string, flag boolean")
    o.write_table("svc_head", rows)
    t = o.get_table("svc_head")
    assert [r.values for r in t.head(3)] == rows[:3]
    assert [r.values for r in t.head(10, columns=["name"])] == [[r[1]] for r in rows]


def test_head_of_a_partition_carries_the_partition_value(o):
    t = fresh_table(o, "svc_head_parts", ("v string, n bigint", "pt string"))
    o.write_table("svc_head_parts", [["a,b", None], ['q"uote', 2]], partition="pt=p1", create_partition=True)
    o.write_table("svc_head_parts", [["other", 3]], partition="pt=p2", create_partition=True)
    t.create_partition("pt=empty")
    got = [r.values for r in t.head(5, partition="pt=p1")]
    assert got == [["a,b", None, "p1"], ['q"uote', 2, "p1"]]
    assert list(t.partitions["pt=empty"].head(5)) == []
    with pytest.raises(errors.ODPSError):
        t.head(5, partition="pt=missing")


def test_char_values_read_back_padded(o):
    schema = TableSchema.from_lists(["c", "v"], ["char(5)", "varchar(5)"])
    fresh_table(o, "svc_char", schema)
    o.write_table("svc_char", [["ab", "ab"], ["abcde", "cd"], [None, None]])
    # CHAR(n) is fixed-length: a shorter value comes back padded with spaces; VARCHAR is not.
    assert read_all(o, "svc_char") == [["ab   ", "ab"], ["abcde", "cd"], [None, None]]
    with o.execute_sql("select c from svc_char").open_reader() as reader:
        assert [r[0] for r in reader] == ["ab   ", "abcde", None]


def test_truncate_a_table_and_partitions(o):
    t = fresh_table(o, "svc_truncate", "id bigint")
    o.write_table("svc_truncate", [[1], [2]])
    t.truncate()
    assert read_all(o, "svc_truncate") == []
    o.write_table("svc_truncate", [[3]])
    assert read_all(o, "svc_truncate") == [[3]]

    p = fresh_table(o, "svc_truncate_parts", ("id bigint", "pt string"))
    for pt in ["a", "b", "c"]:
        o.write_table("svc_truncate_parts", [[ord(pt)]], partition=f"pt={pt}", create_partition=True)
    p.truncate(partition_spec=["pt=a", "pt=b"])
    assert read_all(o, "svc_truncate_parts", "pt=a") == []
    assert read_all(o, "svc_truncate_parts", "pt=b") == []
    assert read_all(o, "svc_truncate_parts", "pt=c") == [[ord("c"), "c"]]
    p.partitions["pt=c"].truncate()
    assert read_all(o, "svc_truncate_parts", "pt=c") == []
    # The partitions stay.
    assert sorted(str(x.partition_spec) for x in p.partitions) == ["pt='a'", "pt='b'", "pt='c'"]
    # A partitioned table is truncated partition by partition, as MaxCompute's SQL requires.
    with pytest.raises(errors.ODPSError, match="partitioned"):
        o.execute_sql("TRUNCATE TABLE svc_truncate_parts")


def test_an_empty_table_downloads_no_rows(o):
    fresh_table(o, "svc_empty", "id bigint")
    session = TableTunnel(o).create_download_session("svc_empty")
    assert session.count == 0
    with session.open_record_reader(0, 1) as reader:
        assert list(reader) == []
    assert list(o.read_table("svc_empty")) == []


def test_an_unknown_action_is_an_error(o):
    t = fresh_table(o, "svc_actions", "id bigint")
    with pytest.raises(errors.InvalidArgument, match="ODPS-0420061"):
        o.rest.get(t.resource(), action="nosuchaction")
    # An instance's summary is not served: refused, not answered with the plain instance.
    inst = o.execute_sql("select * from svc_actions")
    with pytest.raises(errors.InvalidArgument, match="instancesummary"):
        inst.get_task_summary()


def test_arrow_reads_and_writes_are_refused_clearly(emulator, o):
    if not emulator.is_emulator:
        pytest.skip("the service serves the Arrow tunnel; only the emulator refuses it")
    t = fresh_table(o, "svc_arrow", "id bigint")
    o.write_table("svc_arrow", [[1]])
    with pytest.raises(errors.ODPSError, match="Arrow"):
        with t.open_reader(arrow=True) as reader:
            reader.read_all()
    # pyodps's Arrow writer needs pandas, which the project does not install: the block goes
    # through the upload session's own signed client, as the writer would send it.
    tunnel = TableTunnel(o)
    session = tunnel.create_upload_session("svc_arrow")
    with pytest.raises(errors.ODPSError, match="Arrow"):
        resp = tunnel.tunnel_rest.put(
            t.table_resource(endpoint=tunnel.tunnel_rest.endpoint),
            b"not-an-arrow-stream",
            params={"uploadid": session.id, "blockid": "0", "arrow": ""},
        )
        errors.throw_if_parsable(resp)
    assert read_all(o, "svc_arrow") == [[1]]


def _write_rows(writer, worker, n):
    for i in range(n):
        writer.write([worker, i, f"w{worker}-{i}"])
    writer.close()


def test_processes_write_blocks_of_one_session_at_once(o):
    # pyodps lets child processes write blocks of the parent's upload session; the parent
    # commits every block they wrote. Forked children inherit the parent's idle pooled
    # connections, which is what once made some of them hang or fail; several rounds, since
    # that happened only some of the time.
    ctx = multiprocessing.get_context("fork")
    fresh_table(o, "svc_multi_process", "worker bigint, i bigint, s string")
    t = o.get_table("svc_multi_process")
    workers, per_worker, rounds = 3, 20, 3
    for _ in range(rounds):
        with t.open_writer() as writer:
            procs = [ctx.Process(target=_write_rows, args=(writer, w, per_worker)) for w in range(workers)]
            for p in procs:
                p.start()
            deadline = time.monotonic() + WRITER_DEADLINE_SECS
            for p in procs:
                p.join(timeout=max(0.0, deadline - time.monotonic()))
            hung = [p.pid for p in procs if p.is_alive()]
            for p in procs:
                if p.is_alive():
                    p.kill()
            assert not hung, f"writer processes {hung} did not finish within {WRITER_DEADLINE_SECS} s"
            assert [p.exitcode for p in procs] == [0] * workers
    got = sorted(read_all(o, "svc_multi_process"))
    want = [[w, i, f"w{w}-{i}"] for w in range(workers) for i in range(per_worker)]
    assert got == sorted(want * rounds)

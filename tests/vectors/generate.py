"""Regenerates the pyodps test vectors in this directory from pyodps 0.13.2 itself.

    .venv/bin/python tests/vectors/generate.py           # rewrite the three files
    .venv/bin/python tests/vectors/generate.py --check   # exit 1 with a unified diff if stale

records.json: Tunnel record-stream blocks written by pyodps' compiled BaseRecordWriter and by its
pure-Python one, read back by its compiled reader, and walked by an independent decoder below.
signatures.json: StringToSign and Authorization from pyodps' CloudAccount/StsAccount.sign_request
on requests.PreparedRequest objects.
upsert-hash.json: upsert bucket hashes from pyodps' compiled RecordHasher, cross-checked against
its pure-Python hasher and against the bucket its Upsert writer picks for a parsed session.

Everything that depends on the host is pinned here: the time zone (UTC), the user agent (a fixed
string in the x-odps-user-agent header, not pyodps' platform probe), the Date header and the v4
credential date (pyodps' clock is replaced by a frozen one). The files were first produced beside
the checkout (shared/reference/vectors/); this script reproduces them byte for byte.

pandas is not part of the project's venv. pyodps only needs pandas.Timestamp/Timedelta for
TIMESTAMP columns; when pandas is missing a small stand-in with the attributes pyodps touches
(to_pydatetime, microsecond, nanosecond, + Timedelta) is installed after pyodps is imported, and
it prints the way pandas does, so the files are the same either way.
"""

import argparse
import datetime as dt
import decimal
import difflib
import importlib.util
import io
import json
import os
import sys
import threading
import time

# Before pyodps is imported: its converters read the local zone once.
os.environ["TZ"] = "UTC"
time.tzset()

HERE = os.path.dirname(os.path.abspath(__file__))
PYODPS_VERSION = "0.13.2"
USER_AGENT = "pyodps/0.13.2 CPython/3.11.7 Linux/6.1.0"
HTTP_DATE = "Mon, 24 Nov 2025 12:00:00 GMT"
# The UTC "now" that v4 signing reads for its credential scope date.
FROZEN_NOW = dt.datetime(2025, 11, 24, 12, 0, 0)
EPOCH = dt.datetime(1970, 1, 1)

import odps  # noqa: E402
import requests  # noqa: E402
from odps import accounts  # noqa: E402
from odps import options  # noqa: E402
from odps.models import Record, TableSchema  # noqa: E402
from odps.tunnel.io import reader as reader_mod  # noqa: E402
from odps.tunnel.io import writer as writer_mod  # noqa: E402

if odps.__version__ != PYODPS_VERSION:
    sys.exit(
        "pyodps %s is installed, the vectors are made with %s; run `bash scripts/venv.sh`"
        % (odps.__version__, PYODPS_VERSION)
    )


# ---------------------------------------------------------------------------------------------
# pandas, or a stand-in for the part of it pyodps uses


class StandInTimestamp:
    """pandas.Timestamp as far as pyodps' writers and readers use it, naive, nanosecond exact."""

    def __init__(self, value):
        if isinstance(value, str):
            value = parse_timestamp_text(value)
        if isinstance(value, dt.datetime):
            delta = value - EPOCH
            value = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        self.value = int(value)  # nanoseconds since the epoch, as pandas keeps it

    def to_pydatetime(self, warn=True):
        return EPOCH + dt.timedelta(microseconds=self.value // 1000)

    @property
    def microsecond(self):
        return self.value % 10**9 // 1000

    @property
    def nanosecond(self):
        return self.value % 1000

    def __add__(self, other):
        return StandInTimestamp(self.value + other.value)

    def __str__(self):
        # pandas prints 9 fraction digits when there are nanoseconds, else 6 when there are
        # microseconds, else none.
        seconds, nanos = divmod(self.value, 10**9)
        text = (EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")
        if nanos % 1000:
            return "%s.%09d" % (text, nanos)
        if nanos:
            return "%s.%06d" % (text, nanos // 1000)
        return text


class StandInTimedelta:
    def __init__(self, nanoseconds=0, seconds=0):
        self.value = seconds * 10**9 + nanoseconds


def parse_timestamp_text(text):
    """'YYYY-MM-DD HH:MM:SS[.fraction]' (up to 9 digits) to nanoseconds since the epoch."""
    whole, _, fraction = text.partition(".")
    at = dt.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S")
    delta = at - EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**9 + int((fraction + "000000000")[:9])


try:
    import pandas as pd  # noqa: F401
except ImportError:
    import types as pytypes

    pd = pytypes.ModuleType("pandas")
    pd.Timestamp = StandInTimestamp
    pd.Timedelta = StandInTimedelta
    # pyodps' compiled reader imports pandas lazily, on its first TIMESTAMP.
    sys.modules["pandas"] = pd


# ---------------------------------------------------------------------------------------------
# Record-stream vectors

RECORDS_ABOUT = (
    "Tunnel record-stream test vectors generated by running pyodps 0.13.2's own BaseRecordWriter "
    "(compression off) into an in-memory buffer, TZ=UTC. 'hex' = default C-extension writer "
    "(record CRCs with bit31 set are written as 10-byte sign-extended varints); 'hex_java_style' "
    "= pyodps pure-Python writer, which writes every uint32 as a plain <=5-byte varint like the "
    "Java SDK. Both decode identically (varint value mod 2^32). Each hex is a complete block "
    "body: records then the META_COUNT/META_CHECKSUM trailer. Partition key columns are never "
    "encoded in the body. Row value notation: JSON null = SQL NULL; {'binary_hex': ..} = BINARY "
    "bytes; {'iso': ..} = naive DATETIME/DATE interpreted in UTC; {'decimal': ..}; "
    "{'timestamp': ..} = pandas Timestamp (UTC); {'map': ..}; {'struct': [..]}. "
    "read_back_by_pyodps may carry an extra trailing None for the partition column slot."
)

KAFKA_COLUMNS = [
    ("topic", "string"),
    ("partition", "bigint"),
    ("offset", "bigint"),
    ("key", "string"),
    ("value", "string"),
]
DT_PARTITION = [("dt", "string")]

TIMESTAMP_NOTE = (
    "pure-Python writer truncates negative epoch seconds toward zero (its value for the 1969 "
    "timestamp is wrong); the C writer floors. Use floor semantics: seconds=floor(t), "
    "0<=nanos<1e9."
)

# (name, columns, partition keys, rows in the notation of RECORDS_ABOUT, note or None)
RECORD_CASES = [
    ("kafka_row_basic", KAFKA_COLUMNS, DT_PARTITION, [["maxcompute-test-input", 0, 0, "1", "1"]], None),
    ("empty_block", KAFKA_COLUMNS, DT_PARTITION, [], None),
    ("kafka_nulls", KAFKA_COLUMNS, DT_PARTITION, [["t", None, 5, None, None]], None),
    (
        "kafka_negative_unicode_empty",
        KAFKA_COLUMNS,
        DT_PARTITION,
        [
            ["主题-ü", -1, -(2**63), "", "value with émoji 😀"],
            ["t2", 2**63 - 1, 300, "k", ""],
        ],
        None,
    ),
    (
        "binary_double_bool",
        [("b", "binary"), ("d", "double"), ("flag", "boolean"), ("i", "bigint")],
        [],
        [
            [{"binary_hex": "00ff10616263"}, 1.5, True, 1],
            [{"binary_hex": ""}, -0.0, False, -2],
        ],
        None,
    ),
    (
        "datetime_decimal_date",
        [("dt", "datetime"), ("dec", "decimal(10,2)"), ("d", "date"), ("f", "float"), ("i32", "int")],
        [],
        [[{"iso": "2020-11-17T15:00:00"}, {"decimal": "12.34"}, {"iso": "2020-11-17"}, 0.25, -7]],
        None,
    ),
    (
        "timestamp_ntz_and_timestamp",
        [("ts", "timestamp"), ("tsn", "timestamp_ntz")],
        [],
        [[{"timestamp": "2020-11-17 15:00:00.123456789"}, {"timestamp": "1969-12-31 23:59:59.500000"}]],
        TIMESTAMP_NOTE,
    ),
    (
        "complex_array_map_struct",
        [("arr", "array<bigint>"), ("m", "map<string,bigint>"), ("st", "struct<a:bigint,b:string>")],
        [],
        [[[1, None, -1], {"map": {"k": 2}}, {"struct": [7, None]}]],
        None,
    ),
]

# Types whose tag's wire type tells how long the value is, so a generic protobuf walk can find
# the record boundaries. TIMESTAMP (tagged length-delimited, written as two bare varints) and
# ARRAY/MAP/STRUCT (bare element lists) are not walkable, so those vectors carry no
# independent_decoder_check.
WALKABLE_TYPE_PREFIXES = ("string", "bigint", "int", "binary", "double", "float", "boolean", "datetime", "date", "decimal")


def load_pure_python_writer():
    """A second copy of pyodps' writer module imported under options.force_py, which makes it
    define its pure-Python BaseRecordWriter instead of importing the compiled one."""
    spec = importlib.util.find_spec("odps.tunnel.io.writer")
    module = importlib.util.module_from_spec(spec)
    options.force_py = True
    try:
        spec.loader.exec_module(module)
    finally:
        options.force_py = False
    return module.BaseRecordWriter


C_WRITER = writer_mod.BaseRecordWriter
PY_WRITER = load_pure_python_writer()


class CReader(reader_mod.BaseTunnelRecordReader):
    """pyodps' compiled reader; subclassed in Python because the extension type has no slot for
    the attributes its own __init__ sets."""


for cls, module_suffix in [(C_WRITER, "writer_c"), (CReader.__base__, "reader_c")]:
    if not cls.__module__.endswith(module_suffix):
        sys.exit("pyodps' compiled %s is not in use (got %s)" % (module_suffix, cls.__module__))
if PY_WRITER.__module__.endswith("_c"):
    sys.exit("pyodps' pure-Python writer was not loaded (got %s)" % PY_WRITER.__module__)


def to_python(value):
    """A row cell in the vectors' notation to the Python value pyodps writes."""
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if not isinstance(value, dict):
        return value
    (kind, inner), = value.items()
    if kind == "binary_hex":
        return bytes.fromhex(inner)
    if kind == "iso":
        return dt.datetime.fromisoformat(inner) if "T" in inner else dt.date.fromisoformat(inner)
    if kind == "decimal":
        return decimal.Decimal(inner)
    if kind == "timestamp":
        return pd.Timestamp(inner)
    if kind == "map":
        return {k: to_python(v) for k, v in inner.items()}
    if kind == "struct":
        return tuple(to_python(v) for v in inner)
    raise ValueError("unknown notation %r" % (value,))


def to_notation(value):
    """A value pyodps' reader returned, in the vectors' notation."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"binary_hex": bytes(value).hex()}
    if isinstance(value, (dt.datetime, dt.date)):
        return {"iso": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if type(value).__name__ == "Timestamp" or isinstance(value, StandInTimestamp):
        return {"timestamp": str(value)}
    if isinstance(value, dict):
        return {"map": {k: to_notation(v) for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"struct": [to_notation(v) for v in value]}
    if isinstance(value, list):
        return [to_notation(v) for v in value]
    raise ValueError("cannot write %r (%s) in the vectors' notation" % (value, type(value)))


def odps_schema(columns, partitions):
    return TableSchema.from_lists(
        [n for n, _ in columns],
        [t for _, t in columns],
        [n for n, _ in partitions],
        [t for _, t in partitions],
    )


def encode(writer_cls, schema, rows):
    out = io.BytesIO()
    writer = writer_cls(schema, out)
    for row in rows:
        record = Record(schema=schema)
        for i, cell in enumerate(row):
            record[i] = to_python(cell)
        writer.write(record)
    writer.close()
    return out.getvalue()


def read_back(schema, body):
    def stream_creator(cursor, row_number=None, raw_size=None):
        return io.BytesIO(body) if cursor == 0 else None

    reader = CReader(schema, stream_creator)
    rows = []
    while True:
        record = reader.read()
        if record is None:
            return rows
        rows.append([to_notation(v) for v in record.values])


# Field numbers of the record-end CRC and of the trailer's record count in the Tunnel stream
# (pyodps' ProtoWireConstants TUNNEL_END_RECORD and TUNNEL_META_COUNT), both varints.
TAG_RECORD_CRC = 33553408
TAG_META_COUNT = 33554430


def read_varint(body, pos):
    value, shift, start = 0, 0, pos
    while True:
        byte = body[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos, pos - start


def independent_check(body):
    """Walks a block with nothing but protobuf wire types: the number of records, and the sorted
    distinct byte lengths of their CRC varints (10 for a sign-extended one, <=5 otherwise)."""
    pos, rows, lengths, count = 0, 0, set(), None
    while pos < len(body):
        key, pos, _ = read_varint(body, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos, width = read_varint(body, pos)
            if field == TAG_RECORD_CRC:
                rows += 1
                lengths.add(width)
            elif field == TAG_META_COUNT:
                count = (value >> 1) ^ -(value & 1)  # zigzag, like every sint64 of the stream
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos, _ = read_varint(body, pos)
            pos += size
        else:
            raise ValueError("wire type %d at byte %d" % (wire, pos))
    if count != rows:
        raise ValueError("trailer counts %r records, the walk found %d" % (count, rows))
    return {"rows": rows, "crc_varint_lengths": sorted(lengths)}


def records_document():
    vectors = []
    for name, columns, partitions, rows, note in RECORD_CASES:
        schema = odps_schema(columns, partitions)
        hex_c = encode(C_WRITER, schema, rows)
        hex_py = encode(PY_WRITER, schema, rows)
        vector = {
            "name": name,
            "schema": {
                "columns": [{"name": n, "type": t} for n, t in columns],
                "partition_keys": [{"name": n, "type": t} for n, t in partitions],
            },
            "rows": rows,
            "hex": hex_c.hex(),
            "hex_java_style": hex_py.hex(),
            "read_back_by_pyodps": read_back(schema, hex_c),
        }
        if read_back(schema, hex_py) != vector["read_back_by_pyodps"] and note is None:
            raise SystemExit("%s: pyodps reads its two writers' blocks differently" % name)
        if all(t.startswith(WALKABLE_TYPE_PREFIXES) for _, t in columns):
            vector["independent_decoder_check"] = {
                "hex": independent_check(hex_c),
                "hex_java_style": independent_check(hex_py),
            }
        if note is not None:
            vector["note"] = note
        vectors.append(vector)
    return {"_about": RECORDS_ABOUT, "vectors": vectors}


# ---------------------------------------------------------------------------------------------
# Signing vectors

SIGNATURES_ABOUT = (
    "Request-signing vectors produced by pyodps 0.13.2 accounts.CloudAccount/StsAccount "
    "sign_request on requests.PreparedRequest objects. 'headers' are the final request headers "
    "(minus Authorization); 'canonical_string' is the exact StringToSign; v4 entries use the UTC "
    "date 20251124 for the credential scope. query_params values are decoded; an empty value "
    "means a valueless parameter."
)

AK = ("testAccessId", "testAccessKeySecret")
STS = ("STS.tmpAccessId", "tmpSecret")
STS_TOKEN = "CAIS-example-security-token"
SERVICE = "http://127.0.0.1:8080/api"
TUNNEL = "http://127.0.0.1:8081"
TABLE = "/projects/my_proj/tables/kafka_sink"
UPLOAD_ID = "20251124120000abcdef0123456789"

UA = {"x-odps-user-agent": USER_AGENT, "Date": HTTP_DATE}
TUNNEL_VERSION = {"x-odps-tunnel-version": "6"}
# The headers pyodps' TableTunnel sends when it creates an upload session.
CREATE_SESSION = {
    "x-odps-tunnel-version": "6",
    "odps-tunnel-date-transform": "v1",
    "odps-tunnel-sdk-support-schema-evolution": "true",
    "Content-Length": "0",
}
PUT_BLOCK = {
    "x-odps-tunnel-version": "6",
    "Content-Type": "application/octet-stream",
    "Transfer-Encoding": "chunked",
}
MY_PROJ = [("curr_project", "my_proj")]

# name, signing, (id, secret), endpoint, method, path, params, valueless actions, headers, body,
# region. Params are in the order pyodps' callers pass them; actions are appended to the URL
# before requests adds the params, as pyodps' RestClient does.
SIGNATURE_CASES = [
    ("get_table_meta", "ak_v2", AK, SERVICE, "GET", TABLE, MY_PROJ, [], UA, None, None),
    (
        "get_tunnel_endpoint_valueless_param", "ak_v2", AK,
        "http://service.cn-hangzhou.maxcompute.aliyun.com/api", "GET", "/projects/my_proj/tunnel",
        MY_PROJ, ["service"], UA, None, None,
    ),
    (
        "get_partition_quoted_spec", "ak_v2", AK, SERVICE, "GET", TABLE,
        [("partition", "dt='11-17-2020 15'")] + MY_PROJ, [], UA, None, None,
    ),
    (
        "tunnel_create_upload_session", "ak_v2", AK, TUNNEL, "POST", TABLE,
        [("uploads", "1"), ("partition", "dt=11-17-2020 15"), ("create_partition", "true")] + MY_PROJ,
        [], {**CREATE_SESSION, **UA}, None, None,
    ),
    (
        "tunnel_put_block", "ak_v2", AK, TUNNEL, "PUT", TABLE,
        [("uploadid", UPLOAD_ID), ("blockid", "0"), ("partition", "dt=2020111715")] + MY_PROJ,
        [], {**PUT_BLOCK, **UA}, b"\x00", None,
    ),
    (
        "post_instance_xml_with_md5", "ak_v2", AK, SERVICE, "POST", "/projects/my_proj/instances",
        MY_PROJ, [],
        {
            "Content-Type": "application/xml",
            "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
            "x-odps-user-agent": USER_AGENT,
            "x-odps-foo": "bar",
            "Date": HTTP_DATE,
        },
        b"<Instance/>", None,
    ),
    ("get_table_meta_sts", "sts_v2", STS, SERVICE, "GET", TABLE, MY_PROJ, [], UA, None, None),
    (
        "tunnel_put_block_sts", "sts_v2", STS, TUNNEL, "PUT", TABLE,
        [("uploadid", UPLOAD_ID), ("blockid", "0"), ("partition", "dt=2020111715")] + MY_PROJ,
        [], {**PUT_BLOCK, **UA}, b"\x00", None,
    ),
    ("get_table_meta", "ak_v4", AK, SERVICE, "GET", TABLE, MY_PROJ, [], UA, None, "cn-hangzhou"),
    (
        "tunnel_create_upload_session", "ak_v4", AK, TUNNEL, "POST", TABLE,
        [("uploads", "1"), ("partition", "dt=11-17-2020 15"), ("create_partition", "true")] + MY_PROJ,
        [], {**CREATE_SESSION, **UA}, None, "cn-shanghai",
    ),
]

# What pyodps' StsAccount adds after signing that depends on the clock of the run: the time the
# account object was made. It is not signed (x-pyodps-, not x-odps-) and the files leave it out.
UNPINNABLE_HEADERS = ("x-pyodps-token-timestamp",)


def freeze_pyodps_clock():
    """v4 signing takes its credential date from odps.accounts.datetime_utcnow()."""
    accounts.datetime_utcnow = lambda: FROZEN_NOW


def capture_canonical_strings():
    """Records every StringToSign pyodps builds, exactly as it signs it."""
    seen = []
    original = accounts.BaseAccount._build_canonical_str

    def recording(self, url_components, req):
        text = original(self, url_components, req)
        seen.append(text)
        return text

    accounts.BaseAccount._build_canonical_str = recording
    return seen


def make_account(signing, access_id, secret, sts_token):
    """A fresh account per request: CloudAccount caches its v4 key by date alone, so reusing one
    across regions would sign the second region with the first region's key."""
    if signing == "sts_v2":
        return accounts.StsAccount(access_id, secret, sts_token)
    return accounts.CloudAccount(access_id, secret)


def sign(canonicals, signing, access_id, secret, sts_token, endpoint, method, url, params,
         headers, body, region):
    """Prepares and signs one request as pyodps' RestClient does; returns the prepared request
    and the StringToSign pyodps built for it."""
    request = requests.Request(method, url, headers=dict(headers), params=params, data=body)
    prepared = request.prepare()
    account = make_account(signing, access_id, secret, sts_token)
    before = len(canonicals)
    account.sign_request(prepared, endpoint, region_name=region)
    if len(canonicals) != before + 1:
        raise SystemExit("pyodps built %d canonical strings for one request" % (len(canonicals) - before))
    for name in UNPINNABLE_HEADERS:
        prepared.headers.pop(name, None)
    return prepared, canonicals[-1]


def signatures_document():
    freeze_pyodps_clock()
    canonicals = capture_canonical_strings()
    vectors = []
    for (name, signing, (access_id, secret), endpoint, method, path, params, actions, headers,
         body, region) in SIGNATURE_CASES:
        url = endpoint + path
        if actions:
            url += "?" + "&".join(actions)
        sts_token = STS_TOKEN if signing == "sts_v2" else None
        prepared, canonical = sign(canonicals, signing, access_id, secret, sts_token, endpoint,
                                   method, url, params, headers, body, region)
        final_headers = {k: v for k, v in prepared.headers.items() if k != "Authorization"}
        vector = {
            "name": name,
            "signing": signing,
            "access_id": access_id,
            "access_key_secret": secret,
            "endpoint": endpoint,
            "method": method,
            "path_relative_to_endpoint": path,
            "query_params": dict(params + [(a, "") for a in actions]),
            "request_url": prepared.url,
            "request_path_and_query": prepared.path_url,
            "headers": final_headers,
            "date": prepared.headers["Date"],
            "canonical_string": canonical,
            "authorization": prepared.headers["Authorization"],
        }
        if sts_token is not None:
            vector["sts_token"] = sts_token
        if region is not None:
            vector["region"] = region
            vector["v4_date"] = FROZEN_NOW.strftime("%Y%m%d")
        vectors.append(vector)
    return {"_about": SIGNATURES_ABOUT, "vectors": vectors}


# ---------------------------------------------------------------------------------------------
# Upsert bucket-hash vectors

from odps.tunnel import hasher as py_hasher  # noqa: E402
from odps.tunnel import hasher_c  # noqa: E402
from odps.tunnel.io.writer import Upsert  # noqa: E402
from odps.tunnel.tabletunnel import TableUpsertSession  # noqa: E402

UPSERT_ABOUT = {
    "source": "pyodps 0.13.2 (PyPI wheel), run with no server",
    "function": "odps.tunnel.hasher_c.RecordHasher(schema, hasher, hash_key).hash_record(record) % bucket_count  (odps/tunnel/io/writer.py Upsert._write)",
    "cross_checks": [
        "odps.tunnel.hasher.RecordHasher (pure Python) gives the same record_hash",
        "column_hashes: odps.tunnel.hasher.hash_value(hasher, type, value) == odps.tunnel.hasher_c.hash_value(hasher, type, value)",
        "record_hash == s ^ (s >> 8) with s = int32 wrap of sum(column_hashes), arithmetic shift",
        "bucket also obtained by driving odps.tunnel.io.writer.Upsert.upsert() with a session parsed from a session JSON body (TableUpsertSession.parse), no network",
    ],
    "fields": {
        "hasher": "value of the session JSON field 'hasher' ('default' or 'legacy')",
        "hash_key": "session JSON field 'hash_key': key column names (primary key order)",
        "column_hashes": "signed int32 per key column, in hash_key order",
        "sum_int32": "sum of column_hashes wrapped to signed int32",
        "record_hash": "sum_int32 ^ (sum_int32 >> 8); always >= 0",
        "buckets": "bucket id for a session with that many buckets (keys '1', '16', '100')",
    },
    # The text of the original file, which names the tool that first made it.
    "notes": "Strings hash their UTF-8 bytes, each taken as a signed byte. Values that are NULL add 0. Integers are exact JSON integers (int64 range). Made by tools/pyodps-kit/gen_upsert_hash.py.",
}

KAFKA_TABLE = [["topic", "string"], ["partition", "bigint"], ["offset", "bigint"], ["key", "string"], ["value", "string"]]
I64_MIN, I64_MAX, I32_MIN, I32_MAX = -(2**63), 2**63 - 1, -(2**31), 2**31 - 1

# (group, table columns, hash key, rows); each row is hashed with both hashers.
UPSERT_GROUPS = [
    (
        "string_pk", [["id", "string"], ["v", "string"]], ["id"],
        [[v, "x"] for v in ["", "1", "a", "hello", "maxcompute-test-input", "a1b()2c3", "阿里巴巴云计算", "  1  ", "😀 emoji", "\u00ff\u0080"]],
    ),
    (
        "bigint_pk", [["id", "bigint"], ["v", "string"]], ["id"],
        [[v, "x"] for v in [0, 1, -1, 10, -10, 42, I32_MAX, I32_MIN, 2**32, 1234567890123, I64_MAX, I64_MIN]],
    ),
    (
        "int_pk", [["id", "int"], ["v", "string"]], ["id"],
        [[v, "x"] for v in [0, 1, -1, 127, -128, 123456, I32_MAX, I32_MIN]],
    ),
    (
        "string_bigint_pk", [["name", "string"], ["id", "bigint"], ["v", "string"]], ["name", "id"],
        [["a", 1, "x"], ["a", 2, "x"], ["b", 1, "x"], ["", 0, "x"], ["user-7", -5, "x"]],
    ),
    (
        "bigint_int_pk_reversed_order", [["a", "int"], ["b", "bigint"], ["v", "string"]], ["b", "a"],
        [[1, 1, "x"], [-1, 7, "x"], [I32_MAX, I64_MIN, "x"]],
    ),
    (
        "kafka_pk", KAFKA_TABLE, ["topic", "partition", "offset"],
        [
            ["maxcompute-test-input", 0, 0, "1", "1"],
            ["maxcompute-test-input", 0, 1, "1", "1"],
            ["maxcompute-test-input", 0, 2, None, None],
            ["maxcompute-test-input", 1, 0, "k", "v"],
            ["maxcompute-test-input", 2, 12345, "k", "v"],
            ["orders", 11, 9876543210, "k", "v"],
            ["orders", 0, I64_MAX, "k", "v"],
            ["t", 5, 1000000, "other", "payload"],
            ["", 0, 0, "", ""],
            ["事件", 3, 77, "k", "v"],
        ],
    ),
]
BUCKET_COUNTS = [1, 16, 100]


def to_int32(value):
    return (value + 2**31) % 2**32 - 2**31


def upsert_session(columns, hash_key, hasher, buckets):
    """A TableUpsertSession parsed from the JSON body the tunnel answers with, without a server."""
    body = {
        "id": "upsert-vectors",
        "status": "normal",
        "hash_key": hash_key,
        "hasher": hasher,
        "slots": [{"slot_id": "1", "worker_addr": "127.0.0.1:1", "buckets": list(range(buckets))}],
        "schema": {
            "columns": [{"name": n, "type": t, "comment": "", "nullable": True} for n, t in columns],
            "partitionKeys": [],
        },
    }
    session = TableUpsertSession.__new__(TableUpsertSession)
    super(TableUpsertSession, session).__init__()
    session._buckets_lock = threading.RLock()
    TableUpsertSession.parse(json.dumps(body), obj=session)
    session._patch_schema()
    return session


def bucket_by_upsert(columns, hash_key, hasher, buckets, row):
    """The bucket pyodps' Upsert writes the row to."""
    session = upsert_session(columns, hash_key, hasher, buckets)
    stream = Upsert(session.schema, None, session)
    before = {b: w.n_bytes for b, w in stream._bucket_writers.items()}
    stream.upsert(Record(schema=session.schema, values=list(row) + [None] * TableUpsertSession.UPSERT_EXTRA_COL_NUM))
    written = [b for b, w in stream._bucket_writers.items() if w.n_bytes != before[b]]
    if len(written) != 1:
        raise SystemExit("Upsert wrote one row to buckets %r" % written)
    return written[0]


def upsert_document():
    cases = []
    for group, columns, hash_key, rows in UPSERT_GROUPS:
        schema = TableSchema.from_lists([n for n, _ in columns], [t for _, t in columns])
        types_by_name = dict((n, t) for n, t in columns)
        for i, row in enumerate(rows):
            for hasher in ("default", "legacy"):
                name = "%s/%d/%s" % (group, i, hasher)
                key_types = [types_by_name[k] for k in hash_key]
                key_values = [row[[n for n, _ in columns].index(k)] for k in hash_key]
                column_hashes = []
                for t, v in zip(key_types, key_values):
                    h = hasher_c.hash_value(hasher, t, v)
                    if h != py_hasher.hash_value(hasher, t, v):
                        raise SystemExit("%s: compiled and pure-Python hash_value differ" % name)
                    column_hashes.append(h)
                total = to_int32(sum(column_hashes))
                record = Record(schema=schema, values=list(row))
                record_hash = hasher_c.RecordHasher(schema, hasher, hash_key).hash_record(record)
                if record_hash != py_hasher.RecordHasher(schema, hasher, hash_key).hash_record(record):
                    raise SystemExit("%s: compiled and pure-Python RecordHasher differ" % name)
                if record_hash != total ^ (total >> 8):
                    raise SystemExit("%s: record hash is not s ^ (s >> 8)" % name)
                buckets = {}
                for n in BUCKET_COUNTS:
                    buckets[str(n)] = record_hash % n
                    if bucket_by_upsert(columns, hash_key, hasher, n, row) != buckets[str(n)]:
                        raise SystemExit("%s: Upsert chose another bucket of %d" % (name, n))
                cases.append(
                    {
                        "name": name,
                        "hasher": hasher,
                        "table_columns": columns,
                        "hash_key": hash_key,
                        "key_types": key_types,
                        "key_values": key_values,
                        "row": row,
                        "column_hashes": column_hashes,
                        "sum_int32": total,
                        "record_hash": record_hash,
                        "buckets": buckets,
                    }
                )
    return cases


def render_upsert(cases):
    # The layout of the original file: the description indented, one line per case, final newline.
    about = json.dumps(UPSERT_ABOUT, indent=1, ensure_ascii=False).replace("\n", "\n ")
    lines = ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases)
    return '{\n "_about": %s,\n "cases": [\n%s\n ]\n}\n' % (about, lines)


# ---------------------------------------------------------------------------------------------


def render(document):
    # The layout of the original files: one-space indent, UTF-8 text, no final newline.
    return json.dumps(document, indent=1, ensure_ascii=False)


def documents():
    return {
        "records.json": render(records_document()),
        "signatures.json": render(signatures_document()),
        "upsert-hash.json": render_upsert(upsert_document()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate in memory; exit 1 with a unified diff if a committed file differs",
    )
    parser.add_argument("--dir", default=HERE, help="where the vector files live (default: here)")
    args = parser.parse_args()

    fresh = documents()
    if not args.check:
        for name, text in fresh.items():
            with open(os.path.join(args.dir, name), "w", encoding="utf-8", newline="") as f:
                f.write(text)
            print("wrote %s" % os.path.join(args.dir, name))
        return

    stale = []
    for name, text in fresh.items():
        path = os.path.join(args.dir, name)
        try:
            with open(path, encoding="utf-8", newline="") as f:
                committed = f.read()
        except FileNotFoundError:
            committed = ""
        if committed != text:
            stale.append(name)
            sys.stdout.writelines(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile="committed/" + name,
                    tofile="regenerated/" + name,
                )
            )
            sys.stdout.write("\n")
    if stale:
        print(
            "stale vectors: %s; regenerate with `.venv/bin/python tests/vectors/generate.py`"
            % ", ".join(stale)
        )
        sys.exit(1)
    print("vectors up to date: %s" % ", ".join(sorted(fresh)))


if __name__ == "__main__":
    main()

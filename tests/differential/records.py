#!/usr/bin/env python3
"""Random record batches written by pyodps 0.13.2's own record writers, for differential testing
of the Rust Tunnel record codec (shared/maxcompute-core/tests/it/differential/codec.rs drives this script).

    records.py gen   --seed S --rows N            JSON on stdout: batches of schema, rows, bodies
    records.py check --seed S --rows N --file F   pyodps' compiled reader reads the bodies in F
                                                  (JSON list of hex, one per batch) back to the
                                                  generated rows

`gen` makes random schemas over every column type pyodps writes and random rows aimed at the
edges (integer limits, NaN/inf/-0.0/subnormal floats, decimals that print in exponent form,
times before 1970 to the nanosecond, text from empty to over 64 KiB in every UTF-8 width with
NUL bytes, nested ARRAY/MAP/STRUCT with NULLs inside, NULL in every column). Each batch is
encoded twice, without compression, into an in-memory buffer: by pyodps' compiled writer
(`odps.tunnel.io.writer_c`, which writes record CRCs with bit 31 set as 10-byte sign-extended
varints) and by its pure-Python writer (`odps.tunnel.io.writer` imported with
`options.force_py`, plain <=5-byte varints like the Java SDK).

Row notation (lossless, decided by the column type): NULL is null; integers are JSON integers;
FLOAT/DOUBLE are their IEEE bit patterns as hex; STRING/VARCHAR/CHAR/BINARY/JSON are the cell's
bytes as hex (JSON: the exact `json.dumps` text pyodps writes); DECIMAL is `str(Decimal)`; DATE
is days and DATETIME milliseconds since the epoch; TIMESTAMP/TIMESTAMP_NTZ are
[floored seconds, nanos]; ARRAY and STRUCT are lists; MAP is a list of [key, value] pairs.

pandas: pyodps carries TIMESTAMP values as pandas Timestamps, but its writers only call
`to_pydatetime(warn=False)`, `.microsecond` and `.nanosecond`, and its compiled reader only builds
`Timestamp(datetime) + Timedelta(nanoseconds=n)`. The project venv has no pandas, so when it is
missing a minimal stand-in with exactly that surface is installed as the `pandas` module (after
pyodps is imported, so only the reader's lazy look-up sees it); with real pandas installed the
real types are used. Records are filled without pyodps' Record validation (which needs pandas
for timestamps); the generator only makes valid values.

Only the compiled reader reads back: pyodps' pure-Python reader stores each cell through Record
validation, which decodes BINARY inside nested values as UTF-8 and fails on other bytes.
"""

import argparse
import datetime as dt
import decimal
import importlib.util
import io
import json
import os
import random
import struct
import sys
import time

# Times are written and read in UTC, as in the reference vectors.
os.environ["TZ"] = "UTC"
time.tzset()

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DATE = dt.date(1970, 1, 1)


class Ts:
    """A TIMESTAMP value with the surface of pandas.Timestamp that pyodps uses."""

    def __init__(self, value, nanos=0):
        if isinstance(value, dt.datetime):
            delta = value - EPOCH
            total = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
            total += nanos
        else:
            total = int(value) * 10**9 + nanos
        self.seconds, self.nanos = divmod(total, 10**9)

    def to_pydatetime(self, warn=True):
        return EPOCH + dt.timedelta(seconds=self.seconds, microseconds=self.nanos // 1000)

    @property
    def microsecond(self):
        return self.nanos // 1000

    @property
    def nanosecond(self):
        return self.nanos % 1000

    def __add__(self, other):
        out = Ts(self.seconds, self.nanos + other.nanos)
        return out

    def __repr__(self):
        return "Ts(%d, %d)" % (self.seconds, self.nanos)


class Td:
    """pandas.Timedelta as pyodps' readers build it (nanoseconds only)."""

    def __init__(self, nanoseconds=0):
        self.nanos = nanoseconds


def install_pandas_stand_in():
    try:
        import pandas  # noqa: F401

        return False
    except ImportError:
        pass
    import types as pytypes

    mod = pytypes.ModuleType("pandas")
    mod.Timestamp = Ts
    mod.Timedelta = Td
    sys.modules["pandas"] = mod
    return True


def timestamp_parts(v):
    """(floored seconds, nanos) of a pyodps TIMESTAMP value (pandas or the stand-in)."""
    if isinstance(v, Ts):
        return [v.seconds, v.nanos]
    total = v.value  # pandas.Timestamp: nanoseconds since the epoch, UTC for a naive value
    return list(divmod(total, 10**9))


from odps import options  # noqa: E402
from odps import types as otypes  # noqa: E402
from odps.models import Record  # noqa: E402
from odps.tunnel.io import reader as c_reader_mod  # noqa: E402
from odps.tunnel.io import writer as c_writer_mod  # noqa: E402

options.allow_antique_date = True


def load_pure_python(name):
    """A second copy of a pyodps module imported with `options.force_py`, which makes it define
    its pure-Python classes instead of importing the compiled ones."""
    options.force_py = True
    try:
        spec = importlib.util.find_spec(name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        options.force_py = False
    return mod


py_writer_mod = load_pure_python("odps.tunnel.io.writer")
# After pyodps is imported (its import-time pandas checks need the real thing or nothing): the
# compiled reader imports pandas lazily, when it reads its first TIMESTAMP.
STAND_IN = install_pandas_stand_in()
C_WRITER = c_writer_mod.BaseRecordWriter
PY_WRITER = py_writer_mod.BaseRecordWriter


class C_READER(c_reader_mod.BaseTunnelRecordReader):
    """The compiled reader; a Python subclass, because the extension type has no slot for the
    attributes its own __init__ sets."""


for cls, want in [(C_WRITER, "writer_c"), (C_READER.__base__, "reader_c")]:
    if not cls.__module__.endswith(want):
        sys.exit("pyodps' compiled %s is not in use (got %s)" % (want, cls.__module__))
if PY_WRITER.__module__.endswith("_c"):
    sys.exit("pyodps' pure-Python writer was not loaded (got %s)" % PY_WRITER.__module__)

# ---------------------------------------------------------------------------------------------
# Random schemas

SCALARS = [
    "boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "string", "varchar",
    "char", "binary", "json", "decimal", "date", "datetime", "timestamp", "timestamp_ntz",
]
INT_BITS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}
DECIMAL_SHAPES = [(1, 0), (5, 2), (10, 2), (10, 0), (18, 9), (18, 18), (20, 4), (38, 18), (38, 0),
                  (38, 10), (54, 18), (12, 6)]
MAP_KEYS = ["string", "bigint", "int", "tinyint", "boolean", "date", "varchar", "binary",
            "double", "float", "decimal", "datetime", "timestamp", "smallint"]


def rand_type(r, depth):
    """A type tree: (name, params) with nested children."""
    roll = r.random()
    if depth < 2 and roll < 0.22:
        kind = r.choice(["array", "map", "struct"])
        if kind == "array":
            return ("array", rand_type(r, depth + 1))
        if kind == "map":
            key = r.choice(MAP_KEYS)
            key_t = {"varchar": ("varchar", r.choice([1, 8, 300])), "decimal": ("decimal", 10, 2)}.get(key, (key,))
            return ("map", key_t, rand_type(r, depth + 1))
        n = r.randint(1, 4)
        names = r.sample(["a", "b", "c", "x1", "y_2", "zz", "val", "k"], n)
        return ("struct", [(nm, rand_type(r, depth + 1)) for nm in names])
    name = r.choice(SCALARS)
    if name in ("varchar", "char"):
        return (name, r.choice([1, 2, 10, 255, 65535]))
    if name == "decimal":
        return ("decimal",) + r.choice(DECIMAL_SHAPES)
    return (name,)


def type_str(t):
    k = t[0]
    if k in ("varchar", "char"):
        return "%s(%d)" % (k, t[1])
    if k == "decimal":
        return "decimal(%d,%d)" % (t[1], t[2])
    if k == "array":
        return "array<%s>" % type_str(t[1])
    if k == "map":
        return "map<%s,%s>" % (type_str(t[1]), type_str(t[2]))
    if k == "struct":
        return "struct<%s>" % ",".join("%s:%s" % (n, type_str(ft)) for n, ft in t[1])
    return k


# ---------------------------------------------------------------------------------------------
# Random values: each generator returns (pyodps value, lossless notation)

F32_SPECIAL = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
               0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,
               0x3DCCCCCD, 0x3F800000, 0xBF800000, 0x4B000001, 0x33800000]
F64_SPECIAL = [0x0000000000000000, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
               0x7FF8000000000000, 0xFFF8000000000000, 0x0000000000000001, 0x8000000000000001,
               0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
               0x3FB999999999999A, 0x3FD3333333333333, 0x4340000000000001, 0x3CB0000000000000,
               0x3FF0000000000001, 0x400921FB54442D18]

# Code points of every UTF-8 width, NUL and other controls, the edges of each width, the
# surrogate neighbours and the largest code point.
CHARS = ["a", "Z", "0", " ", "\x00", "\x01", "\x7f", "\n", "\"", "\\", "é", "ü", "\u0080",
         "\u07ff", "\u0800", "中", "题", "\ud7ff", "\ue000", "\ufeff", "\uffff", "😀",
         "\U00010000", "\U0010ffff"]


# Cells over 64 KiB per batch: enough to cover 3-byte lengths, few enough to keep a run fast.
HUGE_PER_BATCH = 3
_huge_left = [HUGE_PER_BATCH]


def take_huge():
    if _huge_left[0] <= 0:
        return False
    _huge_left[0] -= 1
    return True


def rand_text(r, max_chars=None):
    roll = r.random()
    if roll < 0.1:
        n = 0
    elif roll < 0.75:
        n = r.randint(1, 12)
    elif roll < 0.97:
        n = r.randint(13, 100)
    elif roll < 0.995:
        n = r.randint(101, 1000)
    elif take_huge():
        n = r.randint(16_400, 22_000)
    else:
        n = r.randint(13, 100)
    if max_chars is not None:
        n = min(n, max_chars)
    if n <= 1000:
        return "".join(r.choice(CHARS) for _ in range(n))
    # A long run built from a repeated random chunk keeps generation fast.
    chunk = "".join(r.choice(CHARS) for _ in range(97))
    s = (chunk * (n // 97 + 1))[:n]
    if max_chars is None and len(s.encode()) <= 65536:
        # Over 64 KiB in bytes, so the length needs a 3-byte varint.
        s += "\U0010ffff" * ((65537 - len(s.encode())) // 4 + 1)
    return s


def rand_binary(r):
    roll = r.random()
    if roll < 0.1:
        return b""
    if roll < 0.995 or not take_huge():
        n = r.randint(1, 40)
    else:
        n = r.randint(65_537, 70_000)
    b = bytes(r.getrandbits(8) for _ in range(min(n, 64)))
    if n > 64:
        b = (b * (n // 64 + 1))[:n]
    # Bytes that look like control tags inside a cell must not confuse any reader.
    if r.random() < 0.2:
        b = b + bytes.fromhex("80c0ff7f") + b
    return b


def rand_int(r, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    roll = r.random()
    if roll < 0.25:
        v = r.choice([lo, hi, lo + 1, hi - 1, 0, 1, -1, 63, 64, -64, -65, 127, 128, -129])
    elif roll < 0.5:
        v = r.randint(-300, 300)
    else:
        v = r.randint(lo, hi)
    # The special values are clamped to the type: a narrow type gets its own limits instead.
    return max(lo, min(hi, v))


def rand_f32_bits(r):
    if r.random() < 0.4:
        return r.choice(F32_SPECIAL)
    while True:
        bits = r.getrandbits(32)
        # Random NaN payloads do not survive pyodps' double/float conversions; quiet NaNs only.
        if (bits >> 23) & 0xFF != 0xFF or bits & 0x7FFFFF == 0:
            return bits


def rand_f64_bits(r):
    if r.random() < 0.4:
        return r.choice(F64_SPECIAL)
    if r.random() < 0.3:
        # Decimal fractions that have no exact binary form.
        return struct.unpack("<Q", struct.pack("<d", r.randint(-10**6, 10**6) / 10**r.randint(1, 9)))[0]
    while True:
        bits = r.getrandbits(64)
        if (bits >> 52) & 0x7FF != 0x7FF or bits & ((1 << 52) - 1) == 0:
            return bits


def rand_decimal(r, p, s):
    """A Decimal that fits decimal(p,s) once rounded half-up to s places, often in the forms
    `str(Decimal)` prints with an exponent."""
    ctx = decimal.Context(prec=200)
    int_digits = p - s
    for _ in range(100):
        roll = r.random()
        sign = r.choice(["", "-"])
        if roll < 0.15:
            text = r.choice(["0", "-0", "0E-9", "0E+3", "0.000", "-0E-2", "1E+5", "1E+%d" % max(int_digits - 1, 0),
                             "6.73261E-12", "1E-%d" % (s + 1), "5E-%d" % (s + 1), "-5E-%d" % (s + 1),
                             "9" * max(int_digits, 1), "1.5E-7"])
        elif roll < 0.35:
            # Exponent forms: coefficient digits with an exponent.
            digits = str(r.randint(1, 10**r.randint(1, 12)))
            exp = r.randint(-(s + 8), max(int_digits - len(digits), 0))
            text = "%s%sE%+d" % (sign, digits, exp)
        else:
            ip = str(r.randint(0, 10**r.randint(0, max(int_digits, 0)) - 1)) if int_digits > 0 else "0"
            nf = r.choice([0, s, r.randint(0, s), s + r.randint(1, 6)]) if s > 0 else r.choice([0, 0, 2])
            fp = "".join(str(r.randint(0, 9)) for _ in range(nf))
            text = sign + ip + ("." + fp if nf else "")
        d = decimal.Decimal(text)
        q = d.quantize(decimal.Decimal(1).scaleb(-s), rounding=decimal.ROUND_HALF_UP, context=ctx)
        if len(str(abs(q).to_integral_value(rounding=decimal.ROUND_DOWN))) <= max(int_digits, 0) or (
            abs(q) < 1 and int_digits == 0
        ):
            if abs(q) >= 1 and int_digits == 0:
                continue
            return d
    return decimal.Decimal(0)


def rand_json(r, depth=0):
    roll = r.random()
    if depth < 3 and roll < 0.25:
        return {rand_text(r, 6): rand_json(r, depth + 1) for _ in range(r.randint(0, 4))}
    if depth < 3 and roll < 0.45:
        return [rand_json(r, depth + 1) for _ in range(r.randint(0, 4))]
    if roll < 0.6:
        return rand_text(r, 20)
    if roll < 0.75:
        return r.choice([0, -1, 2**63 - 1, -(2**63), 2**64, r.randint(-10**6, 10**6)])
    if roll < 0.85:
        return r.choice([0.5, -0.0, 1e300, 5e-324, 0.1, r.random()])
    return r.choice([True, False, None])


def rand_datetime_ms(r):
    roll = r.random()
    if roll < 0.3:
        return r.randint(-5000, 5000)
    if roll < 0.4:
        return r.choice([-1, 0, 1, -999, -1000, -1001, 999, 1000,
                         -62135510400000,  # 0001-01-02
                         253402041600000 + 86399999])  # 9999-12-30T23:59:59.999
    if roll < 0.7:
        return r.randint(-2208988800000, 4102444800000)  # 1900..2100
    return r.randint(-62135510400000, 253402041600000)


# TIMESTAMP within what pandas can hold (1677-09-22 .. 2262-04-10), so real pandas works too.
TS_MIN, TS_MAX = -9223286400, 9223200000


def rand_timestamp(r):
    roll = r.random()
    nanos = r.choice([0, 1, 999_999_999, 500_000_000, 1000, 999_000, r.randint(0, 999_999_999),
                      r.randint(0, 999_999_999)])
    if roll < 0.3:
        secs = r.randint(-3, 2)
    elif roll < 0.6:
        secs = r.randint(-2208988800, 4102444800)
    else:
        secs = r.randint(TS_MIN, TS_MAX)
    return secs, nanos


def rand_value(r, t, null_p):
    """(pyodps value, notation); NULL with probability null_p."""
    if r.random() < null_p:
        return None, None
    k = t[0]
    if k == "boolean":
        b = r.random() < 0.5
        return b, b
    if k in INT_BITS:
        v = rand_int(r, INT_BITS[k])
        return v, v
    if k == "float":
        bits = rand_f32_bits(r)
        return struct.unpack("<f", struct.pack("<I", bits))[0], "%08x" % bits
    if k == "double":
        bits = rand_f64_bits(r)
        return struct.unpack("<d", struct.pack("<Q", bits))[0], "%016x" % bits
    if k == "string":
        s = rand_text(r)
        return s, s.encode().hex()
    if k in ("varchar", "char"):
        s = rand_text(r, t[1])
        return s, s.encode().hex()
    if k == "binary":
        b = rand_binary(r)
        return b, b.hex()
    if k == "json":
        # The top level is never JSON null: a None cell is SQL NULL.
        v = rand_json(r)
        while v is None:
            v = rand_json(r)
        return v, json.dumps(v).encode().hex()
    if k == "decimal":
        d = rand_decimal(r, t[1], t[2])
        return d, str(d)
    if k == "date":
        days = r.choice([0, -1, 1, -719162, 2932896, r.randint(-719162, 2932896), r.randint(-30000, 30000)])
        return EPOCH_DATE + dt.timedelta(days=days), days
    if k == "datetime":
        ms = rand_datetime_ms(r)
        return EPOCH + dt.timedelta(milliseconds=ms), ms
    if k in ("timestamp", "timestamp_ntz"):
        secs, nanos = rand_timestamp(r)
        return Ts(secs, nanos), [secs, nanos]
    inner_null = r.choice([0.0, 0.2, 0.5])
    if k == "array":
        items = [rand_value(r, t[1], inner_null) for _ in range(r.choice([0, 1, 2, 3, 5, 9]))]
        return [v for v, _ in items], [n for _, n in items]
    if k == "map":
        pairs, seen, keys = [], set(), {}
        for _ in range(r.choice([0, 1, 2, 4])):
            kv, kn = rand_value(r, t[1], 0.0)
            key = json.dumps(kn)
            # Keys equal in Python (0.0 and -0.0, Decimal 0 and 0E-9) would merge in the dict.
            if key in seen or kv in keys:
                continue
            seen.add(key)
            keys[kv] = None
            vv, vn = rand_value(r, t[2], inner_null)
            pairs.append((kv, kn, vv, vn))
        return {kv: vv for kv, _, vv, _ in pairs}, [[kn, vn] for _, kn, _, vn in pairs]
    if k == "struct":
        fields = [rand_value(r, ft, inner_null) for _, ft in t[1]]
        return tuple(v for v, _ in fields), [n for _, n in fields]
    raise ValueError("unknown type %r" % (t,))


# ---------------------------------------------------------------------------------------------
# Batches


def make_batches(seed, rows):
    """Deterministic from (seed, rows): a list of (type trees, pyodps rows, notation rows)."""
    r = random.Random(seed)
    n_batches = r.randint(10, 14)
    cuts = sorted(r.randint(0, rows) for _ in range(n_batches - 1))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [rows])]
    # An empty block (trailer only) somewhere in every run.
    sizes.insert(r.randint(0, len(sizes)), 0)
    batches = []
    for size in sizes:
        _huge_left[0] = HUGE_PER_BATCH
        # Wide rows sometimes: from column 16 on, a field's tag takes two bytes.
        ncols = r.randint(1, 10) if r.random() < 0.75 else r.randint(15, 40)
        types_ = [rand_type(r, 0) for _ in range(ncols)]
        null_ps = [r.choice([0.0, 0.05, 0.2, 0.6]) for _ in types_]
        values, notes = [], []
        for i in range(size):
            if i == 0 and size > 1:
                # A record of NULLs only: no fields, just END_RECORD and its CRC.
                row = [(None, None)] * ncols
            elif i == 1 and size > 2:
                # NULL in every column at least once.
                row = [rand_value(r, t, 1.0) for t in types_]
            else:
                row = [rand_value(r, t, p) for t, p in zip(types_, null_ps)]
            values.append([v for v, _ in row])
            notes.append([n for _, n in row])
        batches.append((types_, values, notes))
    return batches


def odps_schema(types_):
    return otypes.OdpsSchema(
        columns=[otypes.Column("c%d" % i, type_str(t)) for i, t in enumerate(types_)]
    )


def encode(writer_cls, schema, values):
    buf = io.BytesIO()
    w = writer_cls(schema, buf)
    for row in values:
        rec = Record(schema=schema)
        # Filled in place, without pyodps' value casting: the writers are under test.
        rec._values[:] = row
        w.write(rec)
    w.close()
    return buf.getvalue()


def cmd_gen(args):
    out = []
    for types_, values, notes in make_batches(args.seed, args.rows):
        schema = odps_schema(types_)
        out.append(
            {
                "schema": [type_str(t) for t in types_],
                "rows": notes,
                "hex_c": encode(C_WRITER, schema, values).hex(),
                "hex_py": encode(PY_WRITER, schema, values).hex(),
            }
        )
    json.dump({"seed": args.seed, "pandas_stand_in": STAND_IN, "batches": out}, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Reading back


def notation_of_read(t, v):
    """A value as pyodps' reader returns it, in the generator's notation."""
    if v is None:
        return None
    k = t[0]
    if k in ("boolean",) or k in INT_BITS:
        return v
    if k == "float":
        return "%08x" % struct.unpack("<I", struct.pack("<f", v))[0]
    if k == "double":
        return "%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if k in ("string", "varchar", "char"):
        return (v.encode() if isinstance(v, str) else bytes(v)).hex()
    if k == "binary":
        return bytes(v).hex()
    if k == "json":
        return json.dumps(v).encode().hex()
    if k == "decimal":
        return str(v)
    if k == "date":
        return (v - EPOCH_DATE).days
    if k == "datetime":
        return (v - EPOCH) // dt.timedelta(milliseconds=1)
    if k in ("timestamp", "timestamp_ntz"):
        return timestamp_parts(v)
    if k == "array":
        return [notation_of_read(t[1], x) for x in v]
    if k == "map":
        return [[notation_of_read(t[1], a), notation_of_read(t[2], b)] for a, b in v.items()]
    if k == "struct":
        items = list(v.values()) if isinstance(v, dict) else list(v)
        return [notation_of_read(ft, x) for (_, ft), x in zip(t[1], items)]
    raise ValueError("unknown type %r" % (t,))


def read_body(reader_cls, schema, body):
    def stream_creator(cursor, row_number=None, raw_size=None):
        return io.BytesIO(body) if cursor == 0 else None

    reader = reader_cls(schema, stream_creator)
    rows = []
    while True:
        rec = reader.read()
        if rec is None:
            return rows
        rows.append(list(rec.values))


def cmd_check(args):
    with open(args.file) as f:
        bodies = json.load(f)
    batches = make_batches(args.seed, args.rows)
    if len(bodies) != len(batches):
        sys.exit("%d bodies for %d batches" % (len(bodies), len(batches)))
    problems = []
    checked = 0
    for b, ((types_, _values, notes), body_hex) in enumerate(zip(batches, bodies)):
        schema = odps_schema(types_)
        for name, reader_cls in [("compiled reader", C_READER)]:
            try:
                got = read_body(reader_cls, schema, bytes.fromhex(body_hex))
            except Exception as e:  # noqa: BLE001 - any failure to read is the finding
                problems.append("batch %d: pyodps %s fails: %r" % (b, name, e))
                continue
            if len(got) != len(notes):
                problems.append("batch %d: pyodps %s reads %d rows, %d written" % (b, name, len(got), len(notes)))
                continue
            for i, (grow, want) in enumerate(zip(got, notes)):
                for c, (t, gv, wv) in enumerate(zip(types_, grow, want)):
                    checked += 1
                    gn = notation_of_read(t, gv)
                    if gn != wv:
                        problems.append(
                            "batch %d row %d column %d (%s), pyodps %s: read %s, generated %s"
                            % (b, i, c, type_str(t), name, short(gn), short(wv))
                        )
    if problems:
        print("%d differences; first ones:" % len(problems), file=sys.stderr)
        for p in problems[:20]:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print("pyodps read back %d batches, %d cells, as generated" % (len(bodies), checked))


def short(v):
    s = json.dumps(v)
    return s if len(s) <= 300 else s[:300] + "...(%d chars)" % len(s)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("gen", "check"):
        sp = sub.add_parser(name)
        sp.add_argument("--seed", type=int, required=True)
        sp.add_argument("--rows", type=int, required=True)
        if name == "check":
            sp.add_argument("--file", required=True)
    args = p.parse_args()
    (cmd_gen if args.cmd == "gen" else cmd_check)(args)


if __name__ == "__main__":
    main()

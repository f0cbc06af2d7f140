#!/usr/bin/env python3
"""The encoder benchmark's rows written by pyodps' own record writer, for comparison.

Uses pyodps 0.13.2's default BaseRecordWriter (the compiled C writer in
odps.tunnel.io.writer) writing into an in-memory buffer, uncompressed and through pyodps' own
compress streams (odps.tunnel.io.stream.get_compress_stream, what its uploads use); the cases
are encode.rs's: `encode` (one body), `encode-blocks` (one body per 4000 rows), and one body per
4000 rows compressed with `deflate-1` (pyodps's default), `deflate-6`, `zstd-3` (pyodps's
zstd stream always uses zstandard's default level, 3), `lz4` (level 1, pyodps's default) and
`snappy`. The rows are byte-identical to shared/maxcompute-core/benches/encode.rs.

Environment: ENCODE_BENCH_ROWS (default 100000), ENCODE_BENCH_RUNS (default 7),
ENCODE_BENCH_COMPRESS_RUNS (default 3), ENCODE_BENCH_TSV=1 for tab-separated lines: case,
rows, rows/s, MB/s encoded, output bytes; ENCODE_BENCH_DUMP=<file> only writes the
uncompressed body there (for the Rust side to check).
"""

import io
import os
import sys
import time

from odps import types as odps_types
from odps.models import Record
from odps.tunnel.io import writer as tunnel_writer
from odps.tunnel import CompressOption
from odps.tunnel.io.stream import get_compress_stream

VALUE_LEN = 1024
WORDS = [
    "kafka", "maxcompute", "event", "user", "click", "view", "order", "payment", "session",
    "region", "alpha", "beta", "gamma", "delta", "cart", "item",
]
MASK = (1 << 64) - 1
# Case name, pyodps's compress_algo and level (None: pyodps's default), as in encode.rs.
CODECS = [
    ("deflate-1", "zlib", 1),
    ("deflate-6", "zlib", 6),
    ("zstd-3", "zstd", None),
    ("lz4", "lz4", None),
    ("snappy", "snappy", None),
]
BLOCK_ROWS = 4000


def value(i):
    """Mirror of value() in shared/maxcompute-core/benches/encode.rs."""
    s = '{"offset":%d,"body":"' % i
    parts = [s]
    length = len(s)
    x = ((i * 0x9E3779B97F4A7C15) & MASK) | 1
    while length < VALUE_LEN:
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        w = WORDS[x % 16] + " "
        parts.append(w)
        length += len(w)
    return ("".join(parts)[: VALUE_LEN - 2] + '"}')


def build(n):
    schema = odps_types.OdpsSchema(
        columns=[
            odps_types.Column("topic", "string"),
            odps_types.Column("partition", "bigint"),
            odps_types.Column("offset", "bigint"),
            odps_types.Column("key", "string"),
            odps_types.Column("value", "string"),
        ]
    )
    records = []
    for i in range(n):
        offset = 1_000_000 + i
        records.append(
            Record(schema=schema, values=["orders", i % 16, offset, "key-%d" % offset, value(offset)])
        )
    return schema, records


def encode(schema, records, option=None):
    buf = io.BytesIO()
    out = get_compress_stream(buf, option) if option else buf
    w = tunnel_writer.BaseRecordWriter(schema, out)
    for r in records:
        w.write(r)
    w.close()
    return buf.getvalue()


def encode_blocks(schema, records, option=None):
    return sum(
        len(encode(schema, records[i : i + BLOCK_ROWS], option))
        for i in range(0, len(records), BLOCK_ROWS)
    )


def best(runs, f):
    best_t, size = float("inf"), 0
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        size = out if isinstance(out, int) else len(out)
        best_t = min(best_t, time.perf_counter() - t)
    return best_t, size


def main():
    n = int(os.environ.get("ENCODE_BENCH_ROWS", "100000"))
    runs = int(os.environ.get("ENCODE_BENCH_RUNS", "7"))
    tsv = "ENCODE_BENCH_TSV" in os.environ
    writer_mod = tunnel_writer.BaseRecordWriter.__module__
    if not writer_mod.endswith("writer_c"):
        sys.exit("pyodps' compiled writer is not in use (got %s)" % writer_mod)
    schema, records = build(n)
    dump = os.environ.get("ENCODE_BENCH_DUMP")
    if dump:
        with open(dump, "wb") as f:
            f.write(encode(schema, records))
        return
    compress_runs = int(os.environ.get("ENCODE_BENCH_COMPRESS_RUNS", "3"))
    encoded_len = len(encode(schema, records))
    cases = [
        ("encode",) + best(runs, lambda: encode(schema, records)),
        ("encode-blocks",) + best(runs, lambda: encode_blocks(schema, records)),
    ]
    for name, algo, level in CODECS:
        option = CompressOption(compress_algo=algo, level=level)
        cases.append((name,) + best(compress_runs, lambda: encode_blocks(schema, records, option)))
    if tsv:
        for name, t, size in cases:
            print("%s\t%d\t%.0f\t%.1f\t%d" % (name, n, n / t, encoded_len / t / 1e6, size))
        return
    print(
        "pyodps 0.13.2 C writer (%s), %d Kafka rows (1 KiB values), best of %d runs (%d compressed)"
        % (writer_mod, n, runs, compress_runs)
    )
    print("%-16s %12s %14s %14s %7s" % ("case", "rows/s", "MB/s encoded", "output bytes", "ratio"))
    for name, t, size in cases:
        print("%-16s %12.0f %14.1f %14d %7.2f" % (name, n / t, encoded_len / t / 1e6, size, encoded_len / max(size, 1)))


if __name__ == "__main__":
    main()

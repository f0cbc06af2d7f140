#!/usr/bin/env bash
# Encoder and compression benchmark: maxcompute_core::codec against pyodps 0.13.2's compiled C record
# writer and its compress streams, on the same 100k Kafka-shaped rows (1 KiB values): one body,
# one body per 4000 rows, and one body per 4000 rows compressed with each Tunnel codec at
# pyodps's default level (deflate 1, zstd 3, lz4, snappy) and with deflate at level 6. Prints
# both tables and one side-by-side table: throughput in MB/s of uncompressed record bytes, the
# Rust/pyodps ratio, and each side's compression ratio.
#
# Uses the project's .venv (scripts/venv.sh creates it). ENCODE_BENCH_ROWS,
# ENCODE_BENCH_RUNS and ENCODE_BENCH_COMPRESS_RUNS change the row count and the runs per plain
# and per compressed case.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export ENCODE_BENCH_ROWS="${ENCODE_BENCH_ROWS:-100000}"
export ENCODE_BENCH_RUNS="${ENCODE_BENCH_RUNS:-7}"
export ENCODE_BENCH_COMPRESS_RUNS="${ENCODE_BENCH_COMPRESS_RUNS:-3}"
py=.venv/bin/python

bash scripts/venv.sh >&2

echo "==> building the Rust benchmark (cargo bench -p maxcompute-core --bench encode)" >&2
cargo bench -p maxcompute-core --bench encode --no-run >&2

# Like for like: pyodps' bytes for 1000 of the rows must decode to exactly the rows Rust encodes.
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
ENCODE_BENCH_ROWS=1000 ENCODE_BENCH_DUMP="$tmp" "$py" scripts/bench_pyodps.py
ENCODE_BENCH_ROWS=1000 ENCODE_BENCH_VERIFY="$tmp" cargo bench -q -p maxcompute-core --bench encode 2>/dev/null |
    sed 's/^/==> check: pyodps body /' >&2

# Each side runs once; its tab-separated lines (case, rows, rows/s, MB/s, output bytes) make
# both its own table and the side-by-side one.
table() {
    awk -F '\t' -v title="$1" -v plain="$2" '
        BEGIN { print title; printf "%-16s %12s %14s %14s %7s\n", "case", "rows/s", "MB/s encoded", "output bytes", "ratio" }
        { printf "%-16s %12.0f %14.1f %14d %7.2f\n", $1, $3, $4, $5, plain / $5 }'
}
echo "==> running the Rust benchmark" >&2
rust="$(ENCODE_BENCH_TSV=1 cargo bench -q -p maxcompute-core --bench encode 2>/dev/null)"
echo "==> running pyodps" >&2
python="$(ENCODE_BENCH_TSV=1 "$py" scripts/bench_pyodps.py)"
rust_plain="$(awk -F '\t' '$1 == "encode" { print $5 }' <<<"$rust")"
python_plain="$(awk -F '\t' '$1 == "encode" { print $5 }' <<<"$python")"
table "rust maxcompute_core::codec, $ENCODE_BENCH_ROWS Kafka rows (1 KiB values), best of $ENCODE_BENCH_RUNS runs ($ENCODE_BENCH_COMPRESS_RUNS compressed)" "$rust_plain" <<<"$rust"
echo
table "pyodps 0.13.2 C writer and compress streams, the same rows" "$python_plain" <<<"$python"
echo

echo "side by side, $ENCODE_BENCH_ROWS rows (MB/s of uncompressed record bytes; compressed cases: one body per 4000 rows)"
# join needs both inputs sorted on the case name; the output keeps the benchmark's order.
join -t $'\t' <(sort <<<"$rust") <(sort <<<"$python") |
    awk -F '\t' -v rp="$rust_plain" -v pp="$python_plain" '
        BEGIN { printf "%-16s %11s %11s %12s %11s %13s\n", "case", "rust MB/s", "pyodps MB/s", "rust/pyodps", "rust ratio", "pyodps ratio" }
        { printf "%-16s %11.1f %11.1f %11.1fx %11.2f %13.2f\n", $1, $4, $8, $3 / $7, rp / $5, pp / $9 }' |
    awk 'NR == 1 { print; next } { line[$1] = $0 }
        END { n = split("encode encode-blocks deflate-1 deflate-6 zstd-3 lz4 snappy", order, " ");
              for (i = 1; i <= n; i++) if (order[i] in line) print line[order[i]] }'

#!/usr/bin/env bash
# Encoder benchmark: shared::codec against pyodps 0.13.2's compiled C record writer, on the
# same 100k Kafka-shaped rows (1 KiB values): one body, one body per 4000 rows, and one body
# through zlib (level 6 on both sides). Prints both tables and
# one side-by-side table with the Rust/pyodps ratio.
#
# Creates .venv at the project root with pyodps==0.13.2 if it is missing.
# ENCODE_BENCH_ROWS / ENCODE_BENCH_RUNS change the row count and the runs per case.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export ENCODE_BENCH_ROWS="${ENCODE_BENCH_ROWS:-100000}"
export ENCODE_BENCH_RUNS="${ENCODE_BENCH_RUNS:-7}"
py=.venv/bin/python

if ! "$py" -c 'import odps, sys; sys.exit(odps.__version__ != "0.13.2")' 2>/dev/null; then
    echo "==> creating .venv with pyodps==0.13.2" >&2
    python3 -m venv .venv
    "$py" -m pip install --progress-bar on pyodps==0.13.2 >&2
fi

echo "==> building the Rust benchmark (cargo bench -p shared --bench encode)" >&2
cargo bench -p shared --bench encode --no-run >&2

# Like for like: pyodps' bytes for 1000 of the rows must decode to exactly the rows Rust encodes.
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
ENCODE_BENCH_ROWS=1000 ENCODE_BENCH_DUMP="$tmp" "$py" scripts/bench_pyodps.py
ENCODE_BENCH_ROWS=1000 ENCODE_BENCH_VERIFY="$tmp" cargo bench -q -p shared --bench encode 2>/dev/null |
    sed 's/^/==> check: pyodps body /' >&2

echo "==> running the Rust benchmark" >&2
cargo bench -q -p shared --bench encode 2>/dev/null
rust="$(ENCODE_BENCH_TSV=1 cargo bench -q -p shared --bench encode 2>/dev/null)"
echo
echo "==> running pyodps" >&2
"$py" scripts/bench_pyodps.py
python="$(ENCODE_BENCH_TSV=1 "$py" scripts/bench_pyodps.py)"
echo

echo "side by side, $ENCODE_BENCH_ROWS rows, best of $ENCODE_BENCH_RUNS runs (MB/s of uncompressed record bytes)"
# join needs both inputs sorted on the case name.
join -t $'\t' <(sort <<<"$rust") <(sort <<<"$python") |
    awk -F '\t' '
        BEGIN { printf "%-16s %14s %14s %11s %11s %12s\n", "case", "rust rows/s", "pyodps rows/s", "rust MB/s", "pyodps MB/s", "rust/pyodps" }
        { printf "%-16s %14.0f %14.0f %11.1f %11.1f %11.1fx\n", $1, $3, $7, $4, $8, $3 / $7 }'

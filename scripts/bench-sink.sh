#!/usr/bin/env bash
# Sink benchmark: a 6 MB trigger event (10,000 records) decoded, turned into rows, encoded and
# written by Sink::handle to a MaxCompute emulator running as a separate process, so the
# figures for peak RSS are the sink's own. Prints the table of functions/sink/benches/flow.rs:
# wall time per stage, MB/s of event JSON and peak RSS, with PASS/FAIL against the targets.
#
# Builds the emulator and the bench in one optimised profile (`bench`: release plus line
# tables), so the dependency tree is compiled once rather than once per profile. Starts the
# emulator on a free loopback port with a temporary data directory, creates the seed's table
# through `emulator sql`, runs the bench with the sink's variables pointing at it, and stops
# the emulator and removes its data on exit.
#
# SINK_BENCH_RUNS (timed Sink::handle runs per tunnel, default 5) and SINK_BENCH_VALUE_BYTES
# (mean record value size) are passed through to the bench; with SINK_BENCH_WAN set
# (`scripts/bench-wan.sh`) the bench prints its WAN tables instead.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

access_key="bench-access-id:bench-access-secret"
project="connector_test"
table="test_kafka"

step "building the emulator and the sink bench (cargo build --profile bench -p emulator -p sink)"
build_json=$(cargo build --profile bench -p emulator -p sink --bin emulator --bench flow \
  --message-format=json-render-diagnostics) || fail "the build failed"
executable() {
  # The path of the built artifact whose target is named $1 and has kind $2.
  python3 -c '
import json, sys
name, kind = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name \
            and kind in m["target"]["kind"] and m.get("executable"):
        print(m["executable"])
' "$1" "$2" <<<"$build_json" | tail -n 1
}
emulator=$(executable emulator bin)
bench=$(executable flow bench)
[ -x "$emulator" ] || fail "no emulator binary in cargo's output"
[ -x "$bench" ] || fail "no flow bench binary in cargo's output"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/sink-bench.XXXXXX")
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port/api"
step "starting the MaxCompute emulator on 127.0.0.1:$port (data in $data_dir)"
"$emulator" maxcompute --listen "127.0.0.1:$port" --data-dir "$data_dir/maxcompute" \
  --access-key "$access_key" >"$data_dir/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/_emulator/health" >/dev/null 2>&1; then break; fi
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$data_dir/emulator.log" >&2; fail "the emulator exited"; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/_emulator/health" >/dev/null || fail "the emulator did not come up"

step "creating the seed's table $project.$table"
"$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" \
  "CREATE TABLE IF NOT EXISTS $table(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);" \
  >/dev/null || fail "creating the table failed"
step "creating the Delta Table $project.${table}_delta (the upsert path)"
"$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" \
  "CREATE TABLE IF NOT EXISTS ${table}_delta(topic STRING NOT NULL,\`partition\` BIGINT NOT NULL,\`offset\` BIGINT NOT NULL,key STRING,value STRING,PRIMARY KEY (topic,\`partition\`,\`offset\`)) PARTITIONED BY (pt STRING) TBLPROPERTIES (\"transactional\"=\"true\");" \
  >/dev/null || fail "creating the Delta Table failed"

step "running the bench ($bench)"
MAXCOMPUTE_ENDPOINT="$endpoint" \
MAXCOMPUTE_PROJECT="$project" \
MAXCOMPUTE_TABLE="$table" \
ALIBABA_CLOUD_ACCESS_KEY_ID="${access_key%%:*}" \
ALIBABA_CLOUD_ACCESS_KEY_SECRET="${access_key#*:}" \
RUST_LOG="${RUST_LOG:-off}" \
  "$bench" --bench

rows=$("$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" \
  "select count(*) from $table" | sed -n 's/^| *\([0-9][0-9]*\) *|$/\1/p' | head -n 1)
step "the emulator holds ${rows:-?} rows of $table; stopping it"

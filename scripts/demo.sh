#!/usr/bin/env bash
# The seed's walkthrough on this machine, with no cloud account: start the MaxCompute emulator,
# create the seed's test_kafka table with the seed's DDL, run the sink function as its deployed
# binary (behind a local Lambda runtime API) on the seed's test message (partition 0, key 1,
# value 1), then print `show partitions` and `select * ... where pt = "..."` like the seed's
# console. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
emulator="$target_dir/debug/emulator"
sink="$target_dir/debug/sink"
access_key="demo-access-id:demo-access-secret"
project="connector_test"

step "building the emulator and the sink function"
cargo build --quiet -p emulator -p sink || fail "the build failed"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/sink-demo.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port/api"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

step "starting the MaxCompute emulator on 127.0.0.1:$port"
"$emulator" maxcompute --listen "127.0.0.1:$port" --data-dir "$data_dir/maxcompute" \
  --access-key "$access_key" >"$data_dir/emulator.log" 2>&1 &
emulator_pid=$!


sql() { "$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" "$1"; }

step "creating the seed's table"
echo "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);"
sql "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);" \
  || fail "creating the table failed"

step "invoking the sink function with events/seed-test-message.json (partition 0, key 1, value 1)"
"$emulator" invoke --function "$sink" --name kafka-maxcompute-sink \
  --env "MAXCOMPUTE_ENDPOINT=$endpoint" --env "MAXCOMPUTE_PROJECT=$project" \
  --env "MAXCOMPUTE_TABLE=test_kafka" \
  --env "ALIBABA_CLOUD_ACCESS_KEY_ID=${access_key%%:*}" \
  --env "ALIBABA_CLOUD_ACCESS_KEY_SECRET=${access_key#*:}" \
  events/seed-test-message.json || fail "the sink function did not succeed"

step "show partitions test_kafka"
partitions=$(sql "show partitions test_kafka") || fail "show partitions failed"
echo "$partitions"
pt=$(printf '%s\n' "$partitions" | sed -n 's/.*pt=\([^|]*[^| ]\).*/\1/p' | head -n 1)
[ -n "$pt" ] || fail "no partition was created"

step "select * from test_kafka where pt = \"$pt\""
sql "select * from test_kafka where pt = \"$pt\";" || fail "the query failed"

step "done: the seed's message is a row of test_kafka in partition pt=$pt"

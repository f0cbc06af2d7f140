#!/usr/bin/env bash
# `make demo-routing`: one sink function serving two topics, each into its own table, which the
# sink creates from the first JSON records and gives a new column when the producer adds a
# field. A Kafka broker (started here unless one answers), the MaxCompute emulator and the
# emulator's trigger with one mapping per topic of template.yaml (SourceTopics=orders,payments)
# feeding the sink binary with MAXCOMPUTE_TABLE=ods_${topic}, SINK_FORMAT=JSON, SINK_MODE=VALUE,
# SINK_CREATE_TABLE=true and SINK_EVOLVE=add-columns. Phase 1 produces records of both topics
# and prints the two tables the sink created; phase 2's producers add a field halfway, and the
# tables are printed again with the new columns. Everything started here is stopped on exit
# (the broker only if this script started it).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
emulator="$target_dir/debug/emulator"
sink="$target_dir/debug/sink"
access_key="demo-access-id:demo-access-secret"
project="connector_test"
kafka_port="${KAFKA_PORT:-19092}"
bootstrap="${KAFKA_BOOTSTRAP:-127.0.0.1:$kafka_port}"
# Fresh topics per run, so a broker that keeps earlier runs' topics does not replay them.
run=$(date +%s)
orders="orders-$run"
payments="payments-$run"
# The sink's naming rule for ods_${topic}: lower case, anything but [a-z0-9_] becomes `_`.
orders_table="ods_orders_$run"
payments_table="ods_payments_$run"

step "building the emulator and the sink function"
cargo build --quiet -p emulator -p sink || fail "the build failed"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/sink-demo-routing.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port/api"
emulator_pid=""
started_broker=""
cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  if [ -n "$started_broker" ]; then KAFKA_PORT="$kafka_port" bash scripts/broker.sh stop || true; fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

step "Kafka broker on $bootstrap"
if (exec 3<>"/dev/tcp/${bootstrap%:*}/${bootstrap##*:}") 2>/dev/null; then
  echo "a broker already answers on $bootstrap; using it (it stays running)"
else
  [ "$bootstrap" = "127.0.0.1:$kafka_port" ] || fail "no broker answers on $bootstrap"
  KAFKA_PORT="$kafka_port" bash scripts/broker.sh start || fail "the broker did not start"
  started_broker=1
fi
for topic in "$orders" "$payments"; do
  step "creating the topic $topic"
  KAFKA_PORT="$kafka_port" bash scripts/broker.sh topic "$topic" 1 | tail -n 1 || fail "creating the topic failed"
done

step "starting the MaxCompute emulator on 127.0.0.1:$port (no tables in it yet)"
"$emulator" maxcompute --listen "127.0.0.1:$port" --data-dir "$data_dir/maxcompute" \
  --access-key "$access_key" >"$data_dir/emulator.log" 2>&1 &
emulator_pid=$!
sql() { "$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" "$1"; }
ok=""
for _ in $(seq 1 50); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://127.0.0.1:$port/_emulator/health" 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { cat "$data_dir/emulator.log" >&2; fail "the emulator did not answer"; }

produce() {
  echo "  $1  $2"
  "$emulator" trigger produce --bootstrap "$bootstrap" --topic "$1" --value "$2" >/dev/null \
    || fail "producing failed"
}

# Runs the trigger (one mapping per topic) until it has committed $1 records, then prints both
# tables.
deliver() {
  local n=$1 count=$2
  step "phase $n: the trigger feeds both topics to one sink (MAXCOMPUTE_TABLE=ods_\${topic})"
  "$emulator" trigger --function "$sink" --template template.yaml --bootstrap "$bootstrap" \
    --parameter "SourceTopics=$orders,$payments" --parameter "ConnectorName=demo-routing-$run" \
    --starting-position earliest --batch-size 100 \
    --env 'MAXCOMPUTE_TABLE=ods_${topic}' --env "SINK_FORMAT=JSON" --env "SINK_MODE=VALUE" \
    --env "SINK_CREATE_TABLE=true" --env "SINK_EVOLVE=add-columns" \
    --env "MAXCOMPUTE_ENDPOINT=$endpoint" --env "MAXCOMPUTE_PROJECT=$project" \
    --env "ALIBABA_CLOUD_ACCESS_KEY_ID=${access_key%%:*}" \
    --env "ALIBABA_CLOUD_ACCESS_KEY_SECRET=${access_key#*:}" \
    --stop-after "$count" --max-wait 120 >"$data_dir/trigger-$n.out" 2>"$data_dir/trigger-$n.log" \
    || { cat "$data_dir/trigger-$n.log" >&2; fail "the trigger did not commit the records"; }
  tail -n 2 "$data_dir/trigger-$n.out"
  for table in "$orders_table" "$payments_table"; do
    step "phase $n: select * from $table"
    sql "select * from $table;" || fail "the query failed"
  done
}

step "phase 1: two producers, two topics"
produce "$orders" '{"order_id": 1, "customer": "ann", "amount": 12.5}'
produce "$orders" '{"order_id": 2, "customer": "bob", "amount": 7}'
produce "$payments" '{"payment_id": 10, "order_id": 1, "method": "card"}'
produce "$payments" '{"payment_id": 11, "order_id": 2, "method": "cash"}'
deliver 1 4

step "phase 2: the producers add a field halfway (coupon to orders, currency to payments)"
produce "$orders" '{"order_id": 3, "customer": "cy", "amount": 3.25}'
produce "$orders" '{"order_id": 4, "customer": "di", "amount": 40, "coupon": "WELCOME"}'
produce "$payments" '{"payment_id": 12, "order_id": 3, "method": "card"}'
produce "$payments" '{"payment_id": 13, "order_id": 4, "method": "card", "currency": "EUR"}'
deliver 2 4

step "done: each topic in its own table, created by the sink, with a column for each new field"

#!/usr/bin/env bash
# `make demo-cdc`: a source table mirrored into a Delta Table from its Debezium changes, on this
# machine. A Kafka broker (started here unless one answers), the MaxCompute emulator, a Delta
# Table `orders` keyed by the source's primary key and not partitioned, a local schema registry,
# and the emulator's trigger feeding the sink function (its deployed binary, settings from
# template.yaml with Format=DEBEZIUM, the mapping's SchemaRegistryConfig decoding Avro to JSON).
# The changes are Debezium's for a small `orders` table (scripts/demo_cdc.py), in Avro as
# Confluent's converter writes them, produced with the stock Python client's AvroSerializer:
# first the initial snapshot and an insert, then one batch with a key updated twice, a delete
# and its tombstone, a delete followed by an insert of the same key, an insert and an update. After each phase it prints the source table and the mirror, and checks
# that they are equal. Everything started here is stopped on exit (the broker only if this
# script started it).
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
# A fresh topic per run, as Debezium names it (<server>.<schema>.<table>), so a broker that keeps
# earlier runs' topics does not replay them into this run's table.
topic="shop.public.orders.$(date +%s)"
# Where the trigger puts a change the registry cannot decode, and the sink its rejects.
errors="demo-cdc-errors.$(date +%s)"
group="connect-demo-cdc-$(date +%s)"
ddl='CREATE TABLE IF NOT EXISTS orders(id BIGINT NOT NULL, customer STRING, product STRING, quantity BIGINT, amount DECIMAL(10,2), status STRING, cdc_op STRING, cdc_source_ts_ms BIGINT, PRIMARY KEY (id)) TBLPROPERTIES ("transactional"="true", "write.bucket.num"="4");'

step "the Python environment (confluent-kafka's Avro serializer)"
bash scripts/venv.sh >/dev/null || fail "the Python environment could not be made"
python="$PWD/.venv/bin/python"

step "building the emulator and the sink function"
cargo build --quiet -p emulator -p sink || fail "the build failed"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/sink-demo-cdc.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port/api"
emulator_pid=""
registry_pid=""
started_broker=""
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
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
step "creating the change topic $topic and the error topic $errors"
KAFKA_PORT="$kafka_port" bash scripts/broker.sh topic "$topic" 1 | tail -n 1 || fail "creating the topic failed"
KAFKA_PORT="$kafka_port" bash scripts/broker.sh topic "$errors" 1 | tail -n 1 || fail "creating the topic failed"

step "starting the MaxCompute emulator on 127.0.0.1:$port"
"$emulator" maxcompute --listen "127.0.0.1:$port" --data-dir "$data_dir/maxcompute" \
  --access-key "$access_key" >"$data_dir/emulator.log" 2>&1 &
emulator_pid=$!
sql() { "$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" "$1"; }

registry_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
registry_url="http://127.0.0.1:$registry_port"
step "starting the schema registry on $registry_url"
"$emulator" trigger registry --listen "127.0.0.1:$registry_port" >"$data_dir/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$registry_port") 2>/dev/null && break
  sleep 0.1
done

step "creating the mirror: a Delta Table keyed by the source's primary key, without partitions"
echo "$ddl"
ok=""
for _ in $(seq 1 50); do
  if sql "$ddl" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { cat "$data_dir/emulator.log" >&2; fail "creating the table failed"; }

# Produces a phase's changes, runs the trigger until it has committed them (one batch), then
# prints the source table and the mirror and checks that they are equal.
phase() {
  local n=$1 what=$2 count=0
  step "phase $n: $what"
  "$python" scripts/demo_cdc.py produce "$n" "$bootstrap" "$topic" "$registry_url" \
    || fail "producing failed"
  count=$("$python" scripts/demo_cdc.py changes "$n" | wc -l)

  step "phase $n: the trigger decodes the $count changes through the registry and feeds them to the sink (SINK_FORMAT=DEBEZIUM) in one batch"
  "$emulator" trigger --function "$sink" --template template.yaml --bootstrap "$bootstrap" \
    --topic "$topic" --group "$group" --starting-position earliest --batch-size 100 \
    --parameter MinimumPollers=1 --parameter "SchemaRegistryURI=$registry_url" \
    --parameter SchemaValidation=VALUE --parameter EventRecordFormat=JSON \
    --parameter "ErrorTopic=$errors" \
    --env "SINK_FORMAT=DEBEZIUM" \
    --env "MAXCOMPUTE_ENDPOINT=$endpoint" --env "MAXCOMPUTE_PROJECT=$project" \
    --env "MAXCOMPUTE_TABLE=orders" \
    --env "ALIBABA_CLOUD_ACCESS_KEY_ID=${access_key%%:*}" \
    --env "ALIBABA_CLOUD_ACCESS_KEY_SECRET=${access_key#*:}" \
    --stop-after "$count" --max-wait 120 >"$data_dir/trigger-$n.out" 2>"$data_dir/trigger-$n.log" \
    || { cat "$data_dir/trigger-$n.log" >&2; fail "the trigger did not commit the changes"; }
  tail -n 1 "$data_dir/trigger-$n.out"

  step "phase $n: the source table"
  python3 scripts/demo_cdc.py table "$n"
  step "phase $n: the mirror (select * from orders, rows sorted by id here)"
  sql "select * from orders;" >"$data_dir/mirror-$n.txt" || fail "the query failed"
  python3 scripts/demo_cdc.py sorted "$data_dir/mirror-$n.txt"
  sql "select id, customer, product, quantity, amount, status from orders;" >"$data_dir/rows-$n.txt" \
    || fail "the query failed"
  python3 scripts/demo_cdc.py compare "$n" "$data_dir/rows-$n.txt" || fail "the mirror is not the source table"
}

phase 1 "the initial snapshot (op r) and an insert"
phase 2 "one batch: 1001 updated twice, 1002 deleted (and its tombstone), 1003 deleted and inserted again, 1005 inserted, 1004 updated"

step "done: the Delta Table orders equals the source table after every phase"

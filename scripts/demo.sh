#!/usr/bin/env bash
# The seed's walkthrough on this machine, with no cloud account, over the whole flow: a Kafka
# broker (started here unless one answers), the MaxCompute emulator, the seed's test_kafka table,
# and the emulator's trigger feeding the sink function (run as its deployed binary behind a
# local Lambda runtime API) from the source topic with the settings of template.yaml. It sends
# the seed's test message (partition 0, key 1, value 1) and a record that cannot be written
# (invalid UTF-8), waits until the trigger has committed both, then prints `show partitions`,
# `select * ... where pt = "..."` like the seed's console, what landed in the error topic, and
# the row the error-handler function (fed by a second trigger on the error topic) wrote into the
# errors table.
# The functions read their AccessKey from a Secrets Manager secret through the local stand-in of
# the Parameters and Secrets Lambda Extension (`emulator secrets`), as deployed functions do.
# Everything started here is stopped on exit (the broker only if this script started it).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
emulator="$target_dir/debug/emulator"
sink="$target_dir/debug/sink"
access_key="demo-access-id:demo-access-secret"
# The emulator's default project (DEFAULT_PROJECT in tests/emulator/src/sql.rs, whose tests keep the
# two equal), as in sink.env and the README, so `emulator sql` needs no --project for it.
project="connector_test"
kafka_port="${KAFKA_PORT:-19092}"
bootstrap="${KAFKA_BOOTSTRAP:-127.0.0.1:$kafka_port}"
# The template's defaults: SourceTopics, ErrorTopic and the consumer group connect-<ConnectorName>.
source_topic="maxcompute-test-input"
error_topic="connect-error-kafka-maxcompute-sink"
group="connect-kafka-maxcompute-sink"

step "building the emulator and the two functions"
cargo build --quiet -p emulator -p sink -p error-handler || fail "the build failed"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/sink-demo.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port/api"
secrets_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
session_token="demo-session-token"
secret_id="maxcompute-access-key"
emulator_pid=""
secrets_pid=""
trigger_pid=""
started_broker=""
cleanup() {
  local pid
  for pid in $trigger_pid $emulator_pid $secrets_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
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

# Creates a topic unless it exists already (a broker that was running keeps its topics).
topic() {
  local out
  if out=$(KAFKA_PORT="$kafka_port" bash scripts/broker.sh topic "$1" "$2" 2>&1); then
    echo "$out" | tail -n 1
  elif grep -q "already exists" <<<"$out"; then
    echo "topic $1 already exists; using it"
  else
    echo "$out" >&2
    fail "creating topic $1 failed"
  fi
}

step "creating the source topic $source_topic and the error topic $error_topic"
topic "$source_topic" 1
topic "$error_topic" 1
kafka() { "$emulator" trigger "$@" --bootstrap "$bootstrap"; }
# Where this run's error records will start (the topic may hold earlier runs' records).
error_start=$(kafka read --topic "$error_topic" --all --timeout 1 | grep -c ' offset ' || true)

step "starting the MaxCompute emulator on 127.0.0.1:$port"
"$emulator" maxcompute --listen "127.0.0.1:$port" --data-dir "$data_dir/maxcompute" \
  --access-key "$access_key" >"$data_dir/emulator.log" 2>&1 &
emulator_pid=$!

sql() { "$emulator" sql --endpoint "$endpoint" --project "$project" --access-key "$access_key" "$1"; }

step "serving the AccessKey as the secret $secret_id (the secrets extension's stand-in, 127.0.0.1:$secrets_port)"
AWS_SESSION_TOKEN="$session_token" "$emulator" secrets --listen "127.0.0.1:$secrets_port" \
  --secret "$secret_id={\"AccessKeyId\":\"${access_key%%:*}\",\"AccessKeySecret\":\"${access_key#*:}\"}" \
  >"$data_dir/secrets.log" 2>&1 &
secrets_pid=$!
# What a function needs to read it: the secret's id, the extension's port, Lambda's session token.
secret_env=(--env "ALIBABA_CLOUD_CREDENTIALS_SECRET=$secret_id"
  --env "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=$secrets_port"
  --env "AWS_SESSION_TOKEN=$session_token")

step "creating the seed's table"
echo "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);"
ok=""
for _ in $(seq 1 50); do
  if sql "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { cat "$data_dir/emulator.log" >&2; fail "creating the table failed"; }
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$secrets_port") 2>/dev/null && break
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$secrets_port") 2>/dev/null || { cat "$data_dir/secrets.log" >&2; fail "the secrets stand-in did not start"; }

step "starting the trigger: $source_topic -> sink function (settings from template.yaml)"
"$emulator" trigger --function "$sink" --template template.yaml --bootstrap "$bootstrap" \
  --env "MAXCOMPUTE_ENDPOINT=$endpoint" --env "MAXCOMPUTE_PROJECT=$project" \
  --env "MAXCOMPUTE_TABLE=test_kafka" \
  "${secret_env[@]}" \
  --env "SINK_ERROR_TOPIC=$error_topic" \
  --stop-after 2 --max-wait 120 >"$data_dir/trigger.out" 2>"$data_dir/trigger.log" &
trigger_pid=$!
for _ in $(seq 1 300); do
  grep -q '^trigger: ready' "$data_dir/trigger.out" 2>/dev/null && break
  kill -0 "$trigger_pid" 2>/dev/null || { cat "$data_dir/trigger.out" "$data_dir/trigger.log" >&2; fail "the trigger did not start"; }
  sleep 0.1
done
grep -q '^trigger: ready' "$data_dir/trigger.out" || fail "the trigger was not ready within 30 s"
head -n 1 "$data_dir/trigger.out"

step "producing the seed's test message (partition 0, key 1, value 1) and a bad record (value bytes ff fe: not UTF-8)"
kafka produce --topic "$source_topic" --partition 0 --key 1 --value 1 || fail "producing the test message failed"
kafka produce --topic "$source_topic" --partition 0 --key 2 --value-hex fffe || fail "producing the bad record failed"

step "waiting until the trigger has committed both records"
if ! wait "$trigger_pid"; then
  trigger_pid=""
  cat "$data_dir/trigger.log" >&2
  fail "the trigger did not commit both records (its log is above)"
fi
trigger_pid=""
grep -E 'batch (done|failed|partly)' "$data_dir/trigger.log" | sed 's/\x1b\[[0-9;]*m//g' || true
tail -n 1 "$data_dir/trigger.out"
kafka committed --topic "$source_topic" --group "$group" || fail "reading the committed offsets failed"

step "show partitions test_kafka"
partitions=$(sql "show partitions test_kafka") || fail "show partitions failed"
echo "$partitions"
pt=$(printf '%s\n' "$partitions" | sed -n 's/.*pt=\([^|]*[^| ]\).*/\1/p' | head -n 1)
[ -n "$pt" ] || fail "no partition was created"

step "select * from test_kafka where pt = \"$pt\""
sql "select * from test_kafka where pt = \"$pt\";" || fail "the query failed"

step "the error topic $error_topic: the bad record, its bytes kept, with the error headers"
kafka read --topic "$error_topic" --from "$error_start" --count 1 --timeout 10 \
  || fail "the bad record did not reach the error topic"

step "starting the trigger: $error_topic -> error-handler function (ErrorHandlerFunction of template.yaml)"
"$emulator" trigger --function "$target_dir/debug/error-handler" --function-id ErrorHandlerFunction \
  --template template.yaml --bootstrap "$bootstrap" \
  --env "MAXCOMPUTE_ENDPOINT=$endpoint" --env "MAXCOMPUTE_PROJECT=$project" \
  --env "ERRORS_TABLE=kafka_sink_errors" \
  "${secret_env[@]}" \
  --stop-after 1 --max-wait 120 >"$data_dir/errors-trigger.out" 2>"$data_dir/errors-trigger.log" \
  || { cat "$data_dir/errors-trigger.log" >&2; fail "the error handler did not write the bad record"; }
tail -n 1 "$data_dir/errors-trigger.out"

step "the errors table: the bad record, partitioned like test_kafka by the time of failure"
sql "show partitions kafka_sink_errors" || fail "show partitions of the errors table failed"
sql "select error_class, error_message, origin_topic, origin_partition, origin_offset, payload_kind, function_name from kafka_sink_errors;" \
  || fail "the errors table query failed"

step "done: the seed's message is a row of test_kafka in partition pt=$pt; the bad record went through $error_topic into kafka_sink_errors"

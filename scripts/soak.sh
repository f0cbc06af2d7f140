#!/usr/bin/env bash
# The soak test at full size (`make soak`): SOAK_RECORDS records (default 20 000) per scenario
# through the broker, the trigger, the sink binary and the MaxCompute emulator while faults are
# injected and the sink is killed now and then; prints one table per scenario. `make test` runs
# the same test at 2 000 records. SOAK_WAN_RTT_MS (and SOAK_WAN_MB_S) run it through a WAN proxy.
# SOAK_SEED replays a run's fault draws; SOAK_FILTER picks
# scenarios (a test-name substring, e.g. stream). Starts the broker unless one answers, and stops
# what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${KAFKA_PORT:-19092}"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:$port}"
export SOAK_RECORDS="${SOAK_RECORDS:-20000}"
started_broker=""
cleanup() { if [ -n "$started_broker" ]; then bash scripts/broker.sh stop || true; fi; }
trap cleanup EXIT

if (exec 3<>"/dev/tcp/${KAFKA_BOOTSTRAP%:*}/${KAFKA_BOOTSTRAP##*:}") 2>/dev/null; then
  echo "soak: a broker already answers on $KAFKA_BOOTSTRAP; using it"
else
  bash scripts/broker.sh install
  bash scripts/broker.sh start
  started_broker=1
fi

# The test runs the sink as its deployed binary, from the same target directory.
cargo build --workspace --bins
filter="soak::${SOAK_FILTER:-}"
echo "soak: $SOAK_RECORDS records per scenario${SOAK_SEED:+, SOAK_SEED=$SOAK_SEED}"
if cargo nextest --version >/dev/null 2>&1; then
  # Scenarios run side by side; each prints its table when it ends (a failure also its logs).
  cargo nextest run -p emulator --test it --no-fail-fast \
    --success-output final --failure-output final -E "test(/^$filter/)"
else
  cargo test -p emulator --test it --no-fail-fast -- --nocapture "$filter"
fi

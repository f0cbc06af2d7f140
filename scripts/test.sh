#!/usr/bin/env bash
# Every test of the project, in one command (`make test`): starts what the tests need that is not
# running yet (the local Kafka broker), runs the Rust tests, the doc tests and the pyodps
# conformance suite, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

port="${KAFKA_PORT:-19092}"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:$port}"
started_broker=""
cleanup() { if [ -n "$started_broker" ]; then bash scripts/broker.sh stop || true; fi; }
trap cleanup EXIT

step "Kafka broker for the error-topic tests ($KAFKA_BOOTSTRAP)"
if (exec 3<>"/dev/tcp/${KAFKA_BOOTSTRAP%:*}/${KAFKA_BOOTSTRAP##*:}") 2>/dev/null; then
  echo "a broker already answers on $KAFKA_BOOTSTRAP; using it"
else
  bash scripts/broker.sh start
  started_broker=1
fi

step "Rust tests"
cargo nextest run --workspace --no-fail-fast

step "doc tests"
cargo test --workspace --doc --quiet

step "pyodps conformance against the emulator"
bash scripts/conformance.sh

step "template.yaml checks (cfn-lint, sam validate --lint, content the linters cannot see)"
bash scripts/template-check.sh

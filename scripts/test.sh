#!/usr/bin/env bash
# Every test of the project, in one command (`make test`), on a machine with only Rust and
# Python 3: installs what the tests need and is missing (the project's .venv with pyodps, which
# the Python suites and the Rust differential tests run; cargo-nextest; the local Kafka broker;
# cargo-lambda), starts the broker unless one answers already, runs the Rust tests, the doc
# tests, the sample events under cargo-lambda, the pyodps conformance suite, the AWS shape checks
# (tests/aws), the schema registry flow (tests/registry) and the template checks, and stops what it started. Each install step is a no-op
# when its tool is there, so this is also the everyday command.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

port="${KAFKA_PORT:-19092}"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:$port}"
started_broker=""
cleanup() { if [ -n "$started_broker" ]; then bash scripts/broker.sh stop || true; fi; }
trap cleanup EXIT

step "Python venv (.venv, scripts/requirements.txt) for the pyodps tests"
bash scripts/venv.sh

step "test runner"
# nextest runs each test in its own process (one test's global state cannot leak into another)
# and reports every failure; `cargo test` is the fallback when it cannot be installed (offline).
runner=nextest
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest is missing; installing it (cargo install --locked cargo-nextest)"
  if ! cargo install --locked cargo-nextest; then
    runner=cargo-test
  fi
fi
if [ "$runner" = nextest ]; then
  cargo nextest --version | head -n 1
else
  echo "cargo-nextest could not be installed: running the Rust tests with cargo test instead"
fi

step "Kafka broker for the error-topic tests ($KAFKA_BOOTSTRAP)"
# The TLS and SASL tests start brokers of their own from the same binary (TANSU_BIN or the one
# installed under .cache/broker), so it is installed even when a broker answers already.
bash scripts/broker.sh install
if (exec 3<>"/dev/tcp/${KAFKA_BOOTSTRAP%:*}/${KAFKA_BOOTSTRAP##*:}") 2>/dev/null; then
  echo "a broker already answers on $KAFKA_BOOTSTRAP; using it"
else
  bash scripts/broker.sh start
  started_broker=1
fi

step "Rust tests"
if [ "$runner" = nextest ]; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

step "doc tests"
cargo test --workspace --doc --quiet

step "sample events under cargo-lambda's runtime emulator (cargo lambda watch, invoke)"
# The binaries the Rust tests built, behind a Lambda runtime API the project did not write.
bash scripts/cargo-lambda.sh

step "pyodps conformance against the emulator"
bash scripts/conformance.sh

step "AWS shapes against AWS's own libraries (Powertools, the runtime interface client, EMF)"
bash scripts/aws-shapes.sh

step "the trigger's schema registry and topics with the stock Kafka client (confluent-kafka's Avro and Protobuf serializers)"
bash scripts/registry.sh

step "template.yaml checks (cfn-lint, sam validate --lint, content the linters cannot see)"
bash scripts/template-check.sh

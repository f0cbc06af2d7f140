#!/usr/bin/env bash
# The project's AWS shapes checked against AWS's own libraries (tests/aws/, pytest): the sample
# events against Powertools' Kafka event models, the sink's partial batch response against
# Powertools' Kafka batch processor, the sink's metrics line against CloudWatch's Embedded
# Metric Format, the on-failure record against AWS's published example, and the local Lambda
# runtime API driven by AWS's Python runtime interface client. Builds the emulator and the sink,
# reuses/creates .venv with the pinned packages (scripts/requirements.txt), and runs the tests,
# each bounded in time. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh >/dev/null
cargo build --quiet -p emulator -p sink

export EMULATOR_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/emulator"
export SINK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sink"
exec timeout 900 .venv/bin/python -m pytest -q -p no:cacheprovider tests/aws "$@"

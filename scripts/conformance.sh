#!/usr/bin/env bash
# Conformance of the MaxCompute emulator with the stock Python client: builds the emulator (and
# the sink binary, which one test invokes through the emulator),
# reuses/creates .venv with the pinned pyodps and pytest (scripts/requirements.txt), and runs
# tests/conformance/test_pyodps.py, test_delta.py, test_service_answers.py and
# test_schema_evolution.py. The tests start the emulator binary on a free loopback port
# with a temporary data directory (and restart it once, to check durability), then stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh >/dev/null
cargo build --quiet -p emulator -p sink

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/emulator-conformance.XXXXXX")
trap 'rm -rf "$data_dir"' EXIT

export EMULATOR_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/emulator"
export EMULATOR_DATA_DIR="$data_dir"
export SINK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sink"
exec_status=0
.venv/bin/python -m pytest -q -p no:cacheprovider tests/conformance/test_pyodps.py tests/conformance/test_delta.py tests/conformance/test_service_answers.py tests/conformance/test_schema_evolution.py "$@" || exec_status=$?
exit "$exec_status"

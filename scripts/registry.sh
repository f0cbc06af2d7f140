#!/usr/bin/env bash
# The trigger's schema registry and topics with the stock Kafka client (tests/registry/,
# pytest): confluent-kafka's AvroSerializer and ProtobufSerializer register in the local
# registry (`emulator trigger registry`), `emulator trigger` runs one mapping per topic with a SchemaRegistryConfig into the
# sink and the MaxCompute emulator. Needs the local broker (KAFKA_BOOTSTRAP, default
# 127.0.0.1:19092). Builds the emulator and the sink, reuses/creates .venv with the pinned
# packages (scripts/requirements.txt). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh >/dev/null
cargo build --quiet -p emulator -p sink

export EMULATOR_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/emulator"
export SINK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sink"
exec timeout 900 .venv/bin/python -m pytest -q -p no:cacheprovider tests/registry "$@"

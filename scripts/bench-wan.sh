#!/usr/bin/env bash
# The sink through a WAN: `scripts/bench-sink.sh` (an emulator in its own process, the seed's
# table and a Delta Table) with SINK_BENCH_WAN set, so the flow bench puts a `wan-proxy` between
# Sink::handle and the emulator and prints its WAN tables: per tunnel kind and for one and four
# partitions per batch, then each codec on the stream tunnel.
#
# WAN_RTT_MS (default 60), WAN_MB_S (default 20, each way), SINK_BENCH_WAN_RUNS (timed runs per
# row, default 3), SINK_BENCH_WAN_CODECS (default none,deflate,zstd,lz4,snappy) and SINK_COMPRESS
# (the first table's codec; the sink's default when unset) are passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
SINK_BENCH_WAN=1 exec bash scripts/bench-sink.sh

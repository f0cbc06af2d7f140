#!/usr/bin/env bash
# Every sample event in events/ under cargo-lambda's Lambda runtime emulator (`cargo lambda watch`
# and `cargo lambda invoke`, a runtime API the project did not write), against the MaxCompute
# emulator and the local Kafka broker ($KAFKA_BOOTSTRAP): tests/cargo-lambda/sample_events.py
# holds the cases. Runs the binaries already built under ${CARGO_TARGET_DIR:-target}/debug and
# builds nothing (cargo-lambda's watch would otherwise `cargo run` each function).
#
# cargo-lambda comes from the PyPI wheel pinned in scripts/deploy-requirements.txt (the one
# `make deploy` uses), installed into a venv of its own (.cache/cargo-lambda/venv) so the
# project's .venv stays as scripts/requirements.txt makes it; it is installed again only when
# that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.cache/cargo-lambda/venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum scripts/deploy-requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing cargo-lambda from scripts/deploy-requirements.txt into $venv"
  timeout 600 "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --quiet \
    -r scripts/deploy-requirements.txt
  echo "$want" >"$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"
timeout 60 cargo lambda --version

# Every call inside is bounded; this bounds the whole, and TERM lets the driver stop what it
# started.
exec timeout 900 python3 tests/cargo-lambda/sample_events.py "$@"

#!/usr/bin/env bash
# `make deploy` and `make delete`: builds both functions with `sam build` (the template's
# rust-cargolambda build method: `cargo lambda build --release`, x86_64 unless the Architecture
# parameter says arm64) and deploys the stack with `sam deploy`, or deletes it with `sam delete`.
# Settings come from samconfig.toml when there is one (copy samconfig.example.toml), else
# `sam deploy --guided` asks for them. Needs AWS credentials; nothing here runs in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh >/dev/null
export SAM_CLI_TELEMETRY=0
sam=.venv/bin/sam
case "${1:-deploy}" in
  deploy)
    .venv/bin/pip install --disable-pip-version-check --progress-bar off -q \
      -r scripts/deploy-requirements.txt
    export PATH="$PWD/.venv/bin:$PATH"
    "$sam" build
    if [ -f samconfig.toml ]; then
      "$sam" deploy
    else
      echo "no samconfig.toml (see samconfig.example.toml): asking for the settings"
      "$sam" deploy --guided
    fi
    ;;
  delete)
    "$sam" delete
    ;;
  *)
    echo "usage: bash scripts/deploy.sh [deploy|delete]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Creates (or reuses) the project's Python environment at .venv with the pinned packages of
# scripts/requirements.txt: pyodps (the stock MaxCompute client the conformance tests and the
# benchmark drive), pytest, cfn-lint and aws-sam-cli (template checks). Reinstalls when the
# requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing Python packages from scripts/requirements.txt"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r scripts/requirements.txt
  echo "$want" >"$stamp"
fi
"$venv/bin/python" -c 'import odps; print("pyodps", odps.__version__)'

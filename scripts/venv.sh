#!/usr/bin/env bash
# Creates (or reuses) the project's Python environment at .venv with the pinned packages that the
# conformance tests and benchmarks drive: pyodps is the stock MaxCompute client.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import odps, pytest' 2>/dev/null; then
  echo "installing Python packages from scripts/requirements.txt"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r scripts/requirements.txt
fi
"$venv/bin/python" -c 'import odps; print("pyodps", odps.__version__)'

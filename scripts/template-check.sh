#!/usr/bin/env bash
# Template checks: cfn-lint, `sam validate --lint`, and the content
# checks of tests/template/test_template.py (Kafka trigger properties, consumer group, starting
# position, connector name pattern, parameters and environment against the sink's config.rs).
# Reuses/creates .venv with the pinned packages of scripts/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh >/dev/null
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/template/test_template.py "$@"

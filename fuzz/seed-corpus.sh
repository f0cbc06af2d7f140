#!/usr/bin/env bash
# Writes the Kafka-schema vectors of tests/vectors/records.json into the fuzz corpus, each
# prefixed with the selector byte 00 (the Kafka schema in fuzz_targets/decode_block.rs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$here/../tests/vectors/records.json"
out="$here/corpus/decode_block"
mkdir -p "$out"
python3 - "$vectors" "$out" <<'PY'
import json, sys
vectors, out = sys.argv[1], sys.argv[2]
for v in json.load(open(vectors))["vectors"]:
    if [c["type"] for c in v["schema"]["columns"]] != ["string", "bigint", "bigint", "string", "string"]:
        continue
    for key in ("hex", "hex_java_style"):
        with open(f"{out}/{v['name']}-{key}", "wb") as f:
            f.write(b"\x00" + bytes.fromhex(v[key]))
PY
echo "seeded $(ls "$out" | wc -l) files in $out"

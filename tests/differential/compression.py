"""Tunnel body compression by pyodps 0.13.2, for shared/maxcompute-core/tests/it/differential/compression.rs.

    .venv/bin/python tests/differential/compression.py make --seed S --count N
    .venv/bin/python tests/differential/compression.py check < bodies.json

`make` draws N bodies from random.Random(S) (empty, random bytes, word soup like event
payloads, long runs, record-stream-like mixtures; up to 256 KiB, a few larger) and compresses
each with pyodps's own output streams (odps.tunnel.io.stream.get_compress_stream, the code a
pyodps upload runs) for zlib, zstd, lz4 and snappy at pyodps's default options. It prints one
JSON document: {"bodies": [{"body": b64, "zlib": b64, "zstd": b64, "lz4": b64, "snappy": b64}]}.

`check` reads {"cases": [{"algo": ..., "body": b64, "compressed": b64}]} (the Rust side's output)
and decompresses each with pyodps's own input streams (get_decompress_stream, what a pyodps
download runs); it prints {"failures": [{"index": i, "error": ...}]}.
"""

import argparse
import base64
import io
import json
import random
import sys

import odps
from odps.tunnel import CompressOption
from odps.tunnel.io.stream import get_compress_stream, get_decompress_stream

PYODPS_VERSION = "0.13.2"
if odps.__version__ != PYODPS_VERSION:
    sys.exit("pyodps %s is installed, expected %s; run `bash scripts/venv.sh`" % (odps.__version__, PYODPS_VERSION))

ALGOS = ["zlib", "zstd", "lz4", "snappy"]
WORDS = [b"kafka", b"maxcompute", b"event", b"user", b"click", b"order", b"\x00\x01", b"{\"id\":", b"\xe4\xb8\xad"]


def body(rng):
    kind = rng.randrange(6)
    size = int(rng.choice([0, 1, 7, 100, 4096, 65535, 65536, 65537]) if kind == 0 else 2 ** rng.uniform(0, 18))
    if rng.random() < 0.05:
        size = rng.randrange(1 << 20, 3 << 20)
    if kind <= 1:
        return rng.randbytes(size)
    if kind == 2:
        out = bytearray()
        while len(out) < size:
            out += rng.choice(WORDS) + b" "
        return bytes(out[:size])
    if kind == 3:
        return bytes([rng.getrandbits(8)]) * size
    # Mixtures: runs of random bytes and repeated words, like encoded records.
    out = bytearray()
    while len(out) < size:
        if rng.random() < 0.3:
            out += rng.randbytes(rng.randrange(1, 64))
        else:
            out += rng.choice(WORDS) * rng.randrange(1, 20)
    return bytes(out[:size])


def compress(algo, data):
    buf = io.BytesIO()
    stream = get_compress_stream(buf, CompressOption(compress_algo=algo))
    stream.write(data)
    stream.flush()
    return buf.getvalue()


def decompress(algo, data):
    stream = get_decompress_stream(io.BytesIO(data), CompressOption(compress_algo=algo), requests=False)
    return stream.read()


def b64(data):
    return base64.b64encode(data).decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["make", "check"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=60)
    args = parser.parse_args()
    if args.mode == "make":
        rng = random.Random(args.seed)
        bodies = []
        for _ in range(args.count):
            data = body(rng)
            entry = {"body": b64(data)}
            for algo in ALGOS:
                entry[algo] = b64(compress(algo, data))
            bodies.append(entry)
        json.dump({"bodies": bodies}, sys.stdout)
        return
    failures = []
    for i, case in enumerate(json.load(sys.stdin)["cases"]):
        want = base64.b64decode(case["body"])
        try:
            got = decompress(case["algo"], base64.b64decode(case["compressed"]))
        except Exception as e:  # noqa: BLE001 - every failure is reported, with its type
            failures.append({"index": i, "error": "%s: %s" % (type(e).__name__, e)})
            continue
        if got != want:
            failures.append({"index": i, "error": "got %d bytes, want %d" % (len(got), len(want))})
    json.dump({"failures": failures}, sys.stdout)


if __name__ == "__main__":
    main()

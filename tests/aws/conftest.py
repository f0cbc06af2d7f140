"""Shared helpers of the tests that check the project's AWS shapes against AWS's own libraries
(scripts/aws-shapes.sh runs them): paths, the built binaries, and the MaxCompute emulator
started on a free loopback port."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

ACCESS_ID = "aws-shapes-id"
ACCESS_SECRET = "aws-shapes-secret"
PROJECT = "aws_shapes"
SEED_DDL = (
    "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,"
    "key STRING,value STRING) PARTITIONED by (pt STRING);"
)


def binary(var):
    path = os.environ.get(var)
    if not path or not os.path.exists(path):
        pytest.fail(f"{var} is not set to a built binary: run scripts/aws-shapes.sh")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """The project's MaxCompute emulator, its own process and data directory."""

    def __init__(self, data_dir):
        self.binary = binary("EMULATOR_BIN")
        self.port = free_port()
        self.log = open(data_dir / "emulator.log", "ab")
        self.proc = subprocess.Popen(
            [
                self.binary, "maxcompute",
                "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(data_dir / "db"),
                "--access-key", f"{ACCESS_ID}:{ACCESS_SECRET}",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + "/_emulator/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not become healthy within 30 s")
                time.sleep(0.05)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self):
        return self.base + "/api"

    def odps(self):
        from odps import ODPS

        return ODPS(ACCESS_ID, ACCESS_SECRET, PROJECT, endpoint=self.endpoint)

    def query(self, statement):
        """The rows of one query, through pyodps."""
        with self.odps().execute_sql(statement).open_reader() as reader:
            return [list(r.values) for r in reader]

    def fault(self, rule):
        req = urllib.request.Request(
            self.base + "/_emulator/faults",
            data=json.dumps(rule).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def sink_env(self, **extra):
        env = {
            "MAXCOMPUTE_ENDPOINT": self.endpoint,
            "MAXCOMPUTE_PROJECT": PROJECT,
            "MAXCOMPUTE_TABLE": "test_kafka",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_SECRET,
        }
        env.update(extra)
        return env

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def emulator(tmp_path):
    emu = Emulator(tmp_path)
    emu.odps().execute_sql(SEED_DDL)
    yield emu
    emu.stop()


def invoke(function, events, env=None, name=None, timeout=60, extra_env=None):
    """Runs `emulator invoke` (the project's local Lambda runtime API) with `function` as the
    function's executable, once per event file; returns the finished process (stdout: one line
    per answer, stderr: the function's log lines)."""
    args = [binary("EMULATOR_BIN"), "invoke", "--function", str(function), "--timeout", str(timeout)]
    if name:
        args += ["--name", name]
    for k, v in (env or {}).items():
        args += ["--env", f"{k}={v}"]
    run_env = dict(os.environ)
    run_env.update(extra_env or {})
    return subprocess.run(
        args + [str(e) for e in events],
        capture_output=True, text=True, timeout=timeout + 60, env=run_env,
    )


def answer_of(done, event_file):
    """The answer `emulator invoke` printed for one event file (`<path>: <answer>`)."""
    prefix = f"{event_file}: "
    lines = [l[len(prefix):] for l in done.stdout.splitlines() if l.startswith(prefix)]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]

"""Starts the emulator binary for the pyodps conformance tests (see scripts/conformance.sh)."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

# The same suite can run against the real service: set MAXCOMPUTE_CONFORMANCE_ENDPOINT (the
# service API, e.g. https://service.cn-hangzhou.maxcompute.aliyun.com/api) with
# MAXCOMPUTE_CONFORMANCE_ACCESS_ID, _ACCESS_SECRET and _PROJECT. Tests that need the emulator
# (restart, configured STS keys) are then skipped. It creates tables in that project.
REMOTE_ENDPOINT = os.environ.get("MAXCOMPUTE_CONFORMANCE_ENDPOINT")
ACCESS_ID = os.environ.get("MAXCOMPUTE_CONFORMANCE_ACCESS_ID", "conformance-id")
ACCESS_SECRET = os.environ.get("MAXCOMPUTE_CONFORMANCE_ACCESS_SECRET", "conformance-secret")
PROJECT = os.environ.get("MAXCOMPUTE_CONFORMANCE_PROJECT", "conformance_proj")
STS_ID = "STS.conformance"
STS_SECRET = "sts-secret"
STS_TOKEN = "sts-token-123"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    is_emulator = True

    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = data_dir
        self.port = _free_port()
        self.proc = None
        self.log = open(os.path.join(data_dir, "emulator.log"), "ab")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            [
                self.binary, "maxcompute",
                "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", os.path.join(self.data_dir, "db"),
                "--access-key", f"{ACCESS_ID}:{ACCESS_SECRET}",
                "--sts-key", f"{STS_ID}:{STS_SECRET}:{STS_TOKEN}",
                # pyodps's multi-process writers fork with idle pooled connections.
                "--close-connections",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + "/_emulator/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("emulator did not become healthy within 30 s")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self):
        self.stop()
        self.start()


class RemoteService:
    """The real service, when the suite is pointed at it."""

    is_emulator = False

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def restart(self):
        pytest.skip("the real service cannot be restarted")


@pytest.fixture(scope="session")
def emulator():
    if REMOTE_ENDPOINT:
        yield RemoteService(REMOTE_ENDPOINT)
        return
    binary = os.environ.get("EMULATOR_BIN")
    if not binary or not os.path.exists(binary):
        pytest.fail("EMULATOR_BIN is not set to a built emulator binary: run scripts/conformance.sh")
    data_dir = os.environ.get("EMULATOR_DATA_DIR") or tempfile.mkdtemp(prefix="emulator-conformance-")
    emu = Emulator(binary, data_dir)
    emu.start()
    yield emu
    emu.stop()
    emu.log.close()

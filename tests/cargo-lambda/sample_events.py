#!/usr/bin/env python3
"""Every sample event in events/ through cargo-lambda's Lambda runtime emulator.

A runtime emulator the project did not write checks what the project's own runtime API stand-in
cannot: that the function binaries speak the Lambda runtime API as another implementation reads
it, and that `cargo lambda invoke`, which the README tells users to run, gets the answers and
error types the sink documents. For each function configuration this starts
`cargo lambda watch --only-lambda-apis` on a free loopback port and the already built binary
beside it with `AWS_LAMBDA_RUNTIME_API` pointed at it, as cargo-lambda would start it itself
(`http://ADDR/.rt/<function>`), so nothing is compiled again. Each event is sent with
`cargo lambda invoke`, and the answer (its JSON body or its error type), the rows read back from
the MaxCompute emulator with `emulator sql`, and the records of the error topic on the local
Kafka broker ($KAFKA_BOOTSTRAP) are checked against what the sink's documentation promises.

Then a cold start against a table that does not exist: the invokes sent before it must all end
within seconds with the error type `Permanent.TableSchema`, and none may hang.

Usage: sample_events.py (run by scripts/cargo-lambda.sh, which installs cargo-lambda first).
Environment: CARGO_TARGET_DIR (the binaries are $CARGO_TARGET_DIR/debug/{sink,error-handler,
emulator}), KAFKA_BOOTSTRAP (default 127.0.0.1:19092), KAFKA_PORT, KEEP_LOGS=1 (keep the log
directory even when every check passes).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
BIN = TARGET / "debug"
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092")
PROJECT = "connector_test"
ACCESS_KEY = ("emulator-access-id", "emulator-access-secret")

# Bounds of every wait. A call that needs longer than these on a busy 2-core machine is a hang.
START_SECS = 60  # a server or function to come up
INVOKE_SECS = 60  # one `cargo lambda invoke`, the function's cold start included
SQL_SECS = 30  # one `emulator sql`
INIT_ERROR_SECS = 20  # every invoke waiting at a failed cold start to end

SEED_TABLE = (
    "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,"
    "key STRING,value STRING) PARTITIONED by (pt STRING);"
)


class Failed(Exception):
    """A check that did not hold: the message says what was expected and what came."""


def say(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick), so parallel test runs do not collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(what: str, ready, secs: float, alive=None) -> None:
    """Polls `ready()` until it holds; fails after `secs` or as soon as `alive()` is false."""
    deadline = time.monotonic() + secs
    while not ready():
        if alive is not None and not alive():
            raise Failed(f"{what}: the process exited before it was ready")
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not ready within {secs} s")
        time.sleep(0.05)


class Processes:
    """Every long-running process this script starts, each in a process group of its own so
    that `cargo lambda watch` goes with the cargo process that started it; all are stopped at
    exit, whatever the exit."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc)


class Emulator:
    """The project's MaxCompute emulator on a free port, with its console (`emulator sql`)."""

    def __init__(self, procs: Processes, data_dir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/api"
        self.proc = procs.start(
            "maxcompute",
            [str(BIN / "emulator"), "maxcompute", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", str(data_dir)],
        )
        wait_for(f"the MaxCompute emulator on 127.0.0.1:{self.port}", self.healthy, START_SECS,
                 lambda: self.proc.poll() is None)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_emulator/health",
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def sql(self, statement: str) -> list[list[str]]:
        """Runs one statement; a query's table comes back as rows of cells, header first."""
        out = run([str(BIN / "emulator"), "sql", "--endpoint", self.endpoint, "--project",
                   PROJECT, statement], SQL_SECS)
        if out.returncode != 0:
            raise Failed(f"emulator sql {statement!r} failed ({out.returncode}): {out.stderr}")
        return [
            [cell.strip() for cell in line.strip()[1:-1].split("|")]
            for line in out.stdout.splitlines()
            if line.startswith("|")
        ]

    def fault(self, rule: dict | None) -> None:
        """Adds a fault rule (POST), or clears them all (None: DELETE)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_emulator/faults",
            data=None if rule is None else json.dumps(rule).encode(),
            method="DELETE" if rule is None else "POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status >= 300:
                raise Failed(f"fault {rule}: HTTP {r.status}")


def run(argv: list[str], secs: float, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=secs, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise Failed(f"`{' '.join(argv)}` did not end within {secs} s") from e


class Answer:
    """What `cargo lambda invoke` printed: the function's JSON answer, or its error type."""

    def __init__(self, out: subprocess.CompletedProcess):
        self.out = out
        self.body = None
        self.error_type = None
        if out.returncode == 0:
            try:
                self.body = json.loads(out.stdout)
            except json.JSONDecodeError as e:
                raise Failed(f"the answer is not JSON ({e}): {out.stdout!r}") from e
            # cargo-lambda hands an init error to the invoke as a 200 with the error's JSON.
            if isinstance(self.body, dict) and "errorType" in self.body:
                self.error_type = self.body["errorType"]
                self.body = None
        else:
            # cargo-lambda prints a function error as a diagnostic: `Error: <errorType>`.
            m = re.search(r"^Error:\s*(\S+)\s*$", out.stderr, re.MULTILINE)
            if m is None:
                raise Failed(f"invoke failed without an error type ({out.returncode}): "
                             f"{out.stderr.strip()}")
            self.error_type = m.group(1)

    def __repr__(self) -> str:
        return f"body={self.body!r} error_type={self.error_type!r}"


class Function:
    """One function configuration: `cargo lambda watch --only-lambda-apis` on a free port and
    the function's binary beside it, reading `env` at its cold start."""

    def __init__(self, procs: Processes, label: str, name: str, env: dict, start: bool = True):
        self.procs = procs
        self.label = label
        self.name = name
        self.env = env
        self.port = free_port()
        self.watch = procs.start(
            f"{label}-watch",
            ["cargo", "lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1",
             "--invoke-port", str(self.port)],
        )
        wait_for(f"cargo lambda watch for {label} on 127.0.0.1:{self.port}",
                 lambda: port_open(self.port), START_SECS, lambda: self.watch.poll() is None)
        self.cold_starts = 0
        self.proc = self.start() if start else None

    def start(self) -> subprocess.Popen:
        """Starts the binary as cargo-lambda's watch starts a function (its variables, with the
        runtime API at `/.rt/<name>`), in an environment of its configuration only."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt/{self.name}",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            **self.env,
        }
        self.cold_starts += 1
        self.proc = self.procs.start(f"{self.label}-function", [str(BIN / self.name)], env)
        return self.proc

    def invoke_argv(self, event: str) -> list[str]:
        return ["cargo", "lambda", "invoke", self.name, "--invoke-address", "127.0.0.1",
                "--invoke-port", str(self.port), "--color", "never",
                "--data-file", str(EVENTS / event)]

    def invoke(self, event: str) -> Answer:
        out = run(self.invoke_argv(event), INVOKE_SECS)
        if self.proc is not None and self.proc.poll() is not None:
            raise Failed(f"{self.label}: the function exited ({self.proc.returncode}) "
                         f"while answering {event}")
        return Answer(out)

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
        self.procs.stop(self.watch)


def expect(what: str, got, want) -> None:
    if got != want:
        raise Failed(f"{what}:\n  expected {want!r}\n  got      {got!r}")


def expect_error(event: str, answer: Answer, want: str) -> None:
    if answer.error_type != want:
        raise Failed(f"{event}: expected the error type {want}, got {answer!r}")


def expect_body(event: str, answer: Answer) -> dict:
    if answer.body is None:
        raise Failed(f"{event}: expected an answer, got the error {answer.error_type}; "
                     f"stderr: {answer.out.stderr.strip()}")
    return answer.body


def hour_partition(ms: int) -> str:
    """The seed's default partition value of a record time: hour, GMT+08:00, `%m-%d-%Y %H`.
    Computed here from the event's timestamps, independently of the sink's code."""
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone(datetime.timedelta(hours=8)))
    return t.strftime("%m-%d-%Y %H")


def event_records(event: str) -> list[dict]:
    body = json.loads((EVENTS / event).read_text())
    return [r for rs in body["records"].values() for r in rs if isinstance(r, dict)]


def headers_text(record: dict) -> str:
    """A record's headers as the sink writes them into a STRING `headers` column (README.md):
    a JSON list in order, `value` for UTF-8 bytes, `base64` for others. Made here from the
    event's bytes, independently of the sink's code."""
    out = []
    for header in record.get("headers", []):
        for name, signed in header.items():
            raw = bytes(b & 0xFF for b in signed)
            try:
                out.append({"key": name, "value": raw.decode("utf-8")})
            except UnicodeDecodeError:
                out.append({"key": name, "base64": base64.b64encode(raw).decode()})
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def partitions_of(event: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in event_records(event):
        key = "pt=" + hour_partition(r["timestamp"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def create_topic(name: str) -> None:
    port = BOOTSTRAP.rsplit(":", 1)[-1]
    out = run(["bash", "scripts/broker.sh", "topic", name, "1"], 60,
              env={**os.environ, "KAFKA_PORT": port})
    if out.returncode != 0:
        raise Failed(f"creating the topic {name} on {BOOTSTRAP} failed: {out.stderr.strip()} "
                     "(is the broker running? bash scripts/broker.sh start)")


def error_topic_offsets(topic: str, want: int) -> list[str]:
    """Reads `want` records of the error topic; fails if fewer arrive."""
    out = run([str(BIN / "emulator"), "trigger", "read", "--bootstrap", BOOTSTRAP, "--topic",
               topic, "--count", str(want), "--timeout", "20"], 60)
    if out.returncode != 0:
        raise Failed(f"expected {want} records in the error topic {topic}: "
                     f"{out.stderr.strip() or out.stdout.strip()}")
    return re.findall(r"^\S+ offset \d+ key .*$", out.stdout, re.MULTILINE)


class Suite:
    def __init__(self, procs: Processes, mc: Emulator, run_id: str):
        self.procs = procs
        self.mc = mc
        self.run_id = run_id
        self.covered: set[str] = set()
        self.failures: list[str] = []

    def base_env(self, table: str) -> dict:
        return {
            "MAXCOMPUTE_ENDPOINT": self.mc.endpoint,
            "MAXCOMPUTE_PROJECT": PROJECT,
            "MAXCOMPUTE_TABLE": table,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY[0],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY[1],
        }

    def case(self, fn: Function, event: str, check) -> None:
        """Invokes `fn` with one event and runs `check(answer)`; a failure is recorded with
        the event's name and the suite goes on."""
        self.covered.add(event)
        started = time.monotonic()
        try:
            answer = fn.invoke(event)
            check(answer)
            say(f"ok    {fn.label:<16} {event} ({time.monotonic() - started:.1f} s)")
        except (KeyError, TypeError, IndexError) as e:
            e = Failed(f"the answer or a query result lacks {e!r}")
            self.failures.append(f"{fn.label} {event}: {e}")
            say(f"FAIL  {fn.label:<16} {event}: {e}")
        except Failed as e:
            self.failures.append(f"{fn.label} {event}: {e}")
            say(f"FAIL  {fn.label:<16} {event}: {e}")

    def function(self, label: str, name: str, env: dict) -> Function:
        return Function(self.procs, label, name, env)

    # The sink with the seed's table and settings (sink.env's).
    def seed(self) -> None:
        self.mc.sql(SEED_TABLE)
        fn = self.function("seed", "sink", self.base_env("test_kafka"))

        def seed_message(a: Answer) -> None:
            body = expect_body("seed-test-message.json", a)
            expect("summary", {k: body["summary"][k] for k in ("records", "rowsWritten",
                                                                 "partitions")},
                   {"records": 1, "rowsWritten": 1, "partitions": {"pt=11-17-2020 15": 1}})
            expect("rows in pt=11-17-2020 15",
                   self.mc.sql('select * from test_kafka where pt = "11-17-2020 15";'),
                   [["topic", "partition", "offset", "key", "value", "pt"],
                    ["maxcompute-test-input", "0", "0", "1", "1", "11-17-2020 15"]])

        def hour_boundary(a: Answer) -> None:
            body = expect_body("hour-boundary-gmt8.json", a)
            want = partitions_of("hour-boundary-gmt8.json")
            expect("partitions", body["summary"]["partitions"], want)
            for spec, n in want.items():
                expect(f"clicks rows in {spec}", self.mc.sql(
                    f"select count(*) from test_kafka where topic = 'clicks' and "
                    f"pt = '{spec[3:]}'")[1:], [[str(n)]])

        def several_partitions(a: Answer) -> None:
            body = expect_body("self-managed-several-partitions.json", a)
            want = partitions_of("self-managed-several-partitions.json")
            expect("partitions", body["summary"]["partitions"], want)
            expect("batchItemFailures", body.get("batchItemFailures"), None)
            rows = self.mc.sql("select `partition`, `offset`, key from test_kafka "
                               "where topic = 'orders-eu'")[1:]
            expect("orders-eu rows", sorted(rows), sorted(
                [str(r["partition"]), str(r["offset"]),
                 base64.b64decode(r["key"]).decode()]
                for r in event_records("self-managed-several-partitions.json")))

        def tombstone(a: Answer) -> None:
            body = expect_body("tombstone.json", a)
            expect("rows written", body["summary"]["rowsWritten"], 4)
            rows = self.mc.sql("select `offset`, key, value from test_kafka "
                               "where topic = 'user-profiles'")[1:]
            expect("user-profiles rows (tombstones write NULL)", sorted(rows),
                   [["5", "user-1", "alice"], ["6", "user-1", "NULL"], ["7", "user-2", "NULL"],
                    ["8", "NULL", "keyless"]])

        def loose(a: Answer) -> None:
            body = expect_body("tolerance-only-loose-records.json", a)
            expect("rows written", body["summary"]["rowsWritten"], 3)
            rows = self.mc.sql("select `offset`, key, value from test_kafka "
                               "where topic = 'loose'")[1:]
            expect("loose rows (null key and value, no headers, unsigned header bytes)",
                   sorted(rows), [["1", "NULL", "NULL"], ["2", "key", "value"],
                                  ["3", "h", "unsigned"]])

        def empty(a: Answer) -> None:
            body = expect_body("empty-batch.json", a)
            expect("summary", (body["summary"]["records"], body["summary"]["rowsWritten"]),
                   (0, 0))

        self.case(fn, "seed-test-message.json", seed_message)
        self.case(fn, "hour-boundary-gmt8.json", hour_boundary)
        self.case(fn, "self-managed-several-partitions.json", several_partitions)
        self.case(fn, "tombstone.json", tombstone)
        self.case(fn, "tolerance-only-loose-records.json", loose)
        self.case(fn, "empty-batch.json", empty)
        self.case(fn, "malformed-event.json",
                  lambda a: expect_error("malformed-event.json", a, "Permanent.MalformedEvent"))
        fn.stop()

    # Partial batch responses: every write refused for good, so each topic-partition is
    # reported at its first offset.
    def partial_batch(self) -> None:
        self.mc.sql("CREATE TABLE IF NOT EXISTS orders_partial(topic STRING,partition BIGINT,"
                    "offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);")
        fn = self.function("partial-batch", "sink",
                           {**self.base_env("orders_partial"), "SINK_PARTIAL_BATCH": "true"})
        self.mc.fault({"kind": "stream_write", "count": 100, "action": "error", "status": 400,
                       "code": "MalformedDataStream"})

        def check(a: Answer) -> None:
            body = expect_body("self-managed-several-partitions.json", a)
            first: dict[str, int] = {}
            for r in event_records("self-managed-several-partitions.json"):
                tp = f"{r['topic']}-{r['partition']}"
                first[tp] = min(first.get(tp, r["offset"]), r["offset"])
            expect("batchItemFailures", body.get("batchItemFailures"),
                   [{"itemIdentifier": {"partition": tp, "offset": off}}
                    for tp, off in sorted(first.items())])
            expect("rows written", body["summary"]["rowsWritten"], 0)

        try:
            self.case(fn, "self-managed-several-partitions.json", check)
        finally:
            self.mc.fault(None)
            fn.stop()

    # CSV into typed columns, and records that can never be written going to the error topic.
    def csv(self) -> None:
        self.mc.sql("CREATE TABLE IF NOT EXISTS csv_values(id BIGINT,name STRING,score DOUBLE,"
                    "active BOOLEAN,amount DECIMAL(10,2),day DATE,seen DATETIME) "
                    "PARTITIONED by (pt STRING);")
        self.mc.sql("CREATE TABLE IF NOT EXISTS csv_bad(id BIGINT,name STRING) "
                    "PARTITIONED by (pt STRING);")
        csv_env = {"SINK_MODE": "VALUE", "SINK_FORMAT": "CSV"}
        fn = self.function("csv", "sink", {**self.base_env("csv_values"), **csv_env})

        def values(a: Answer) -> None:
            body = expect_body("csv-values.json", a)
            expect("rows written", body["summary"]["rowsWritten"], 3)
            rows = self.mc.sql("select id, name, amount from csv_values")[1:]
            expect("csv_values rows", sorted(rows),
                   [["1", "alice", "12.34"], ["2", "Smith, Bob", "NULL"],
                    ["3", 'say "hi"', "-0.5"]])

        self.case(fn, "csv-values.json", values)
        fn.stop()

        # Without an error topic, a record that can never be written fails the batch.
        fn = self.function("csv-no-topic", "sink", {**self.base_env("csv_bad"), **csv_env})
        self.case(fn, "bad-records.json",
                  lambda a: expect_error("bad-records.json", a, "Permanent.NoErrorTopic"))
        fn.stop()
        self.covered.discard("bad-records.json")  # covered below, with the error topic

        topic = f"cargo-lambda-errors-{self.run_id}"
        create_topic(topic)
        fn = self.function("csv-error-topic", "sink", {
            **self.base_env("csv_bad"), **csv_env,
            "SINK_ERROR_TOPIC": topic, "SINK_ERROR_BOOTSTRAP_SERVERS": BOOTSTRAP})

        def bad(a: Answer) -> None:
            body = expect_body("bad-records.json", a)
            rejects = sum(body["summary"]["rejects"].values())
            # Only `1,good` fits (id BIGINT, name STRING); every other record is a reject.
            expect("rows written", body["summary"]["rowsWritten"], 1)
            expect("csv_bad rows", self.mc.sql("select id, name from csv_bad")[1:],
                   [["1", "good"]])
            # The error-topic sample was made from these rejects: one message per record.
            want = len(event_records("error-topic-bad-records.json"))
            expect("rejects", rejects, want)
            expect("error-topic records", len(error_topic_offsets(topic, want)), want)

        self.case(fn, "bad-records.json", bad)
        fn.stop()

    # JSON values into columns by name, with exact numbers.
    def json_values(self) -> None:
        self.mc.sql("CREATE TABLE IF NOT EXISTS json_values(id BIGINT,name STRING,"
                    "tags ARRAY<STRING>,attrs MAP<STRING,BIGINT>,payload STRING,topic STRING,"
                    "offset BIGINT,timestamp DATETIME) PARTITIONED by (pt STRING);")
        self.mc.sql("CREATE TABLE IF NOT EXISTS json_numbers(id BIGINT,amount DECIMAL(38,9),"
                    "ratio DOUBLE,small FLOAT,text STRING) PARTITIONED by (pt STRING);")
        json_env = {"SINK_MODE": "VALUE", "SINK_FORMAT": "JSON"}
        topic = f"cargo-lambda-json-errors-{self.run_id}"
        create_topic(topic)
        errors = {"SINK_ERROR_TOPIC": topic, "SINK_ERROR_BOOTSTRAP_SERVERS": BOOTSTRAP}

        fn = self.function("json", "sink", {**self.base_env("json_values"), **json_env,
                                            **errors})

        def values(a: Answer) -> None:
            body = expect_body("json-values.json", a)
            expect("rows written and rejects",
                   (body["summary"]["rowsWritten"], body["summary"]["rejects"]),
                   (2, {"invalid_json": 2, "type_conversion": 1}))
            rows = self.mc.sql("select id, name, payload, `offset` from json_values")[1:]
            expect("json_values rows", sorted(rows),
                   [["1", "alice", '{"nested":true}', "200"], ["2", "NULL", "[1,2]", "201"]])
            expect("error-topic records", len(error_topic_offsets(topic, 3)), 3)

        self.case(fn, "json-values.json", values)
        fn.stop()

        fn = self.function("json-numbers", "sink", {**self.base_env("json_numbers"),
                                                    **json_env, **errors})

        def numbers(a: Answer) -> None:
            body = expect_body("json-exact-numbers.json", a)
            expect("rows written", body["summary"]["rowsWritten"], 4)
            rows = self.mc.sql("select id, amount, text from json_numbers")[1:]
            expect("json_numbers rows (digits kept, never through f64)", sorted(rows),
                   [["1", "123456789012.123456789", "12345678.123456789"],
                    ["2", "12345678901234567890.123456789", "1E+3"],
                    ["3", "0.000000001", "0.000000001"],
                    ["4", "0.000000000", "-7"]])

        self.case(fn, "json-exact-numbers.json", numbers)
        fn.stop()

    # A table with the headers metadata column: headers land as JSON text.
    def headers(self) -> None:
        self.mc.sql("CREATE TABLE IF NOT EXISTS audit_kafka(topic STRING,partition BIGINT,"
                    "offset BIGINT,key STRING,value STRING,headers STRING) "
                    "PARTITIONED by (pt STRING);")
        fn = self.function("headers", "sink", self.base_env("audit_kafka"))

        def check(a: Answer) -> None:
            body = expect_body("headers-non-ascii.json", a)
            expect("rows written", body["summary"]["rowsWritten"], 1)
            expect("audit_kafka rows",
                   self.mc.sql("select `offset`, key, value, headers from audit_kafka")[1:],
                   [["77", "k", "v", headers_text(event_records("headers-non-ascii.json")[0])]])

        self.case(fn, "headers-non-ascii.json", check)
        fn.stop()

    # The error handler: error-topic messages and on-failure envelopes into the errors table,
    # which it creates at its cold start.
    def error_handler(self) -> None:
        fn = self.function("error-handler", "error-handler",
                           {**self.base_env("test_kafka"), "ERRORS_TABLE": "kafka_sink_errors"})
        seen: dict[str, int] = {}

        def rows_by_class() -> dict[str, int]:
            counts: dict[str, int] = {}
            for (c,) in self.mc.sql("select error_class from kafka_sink_errors")[1:]:
                counts[c] = counts.get(c, 0) + 1
            return counts

        def written(event: str, want: int):
            def check(a: Answer) -> None:
                body = expect_body(event, a)
                expect("rows written", body["summary"]["rowsWritten"], want)
                total = sum(rows_by_class().values())
                expect("rows in kafka_sink_errors", total, sum(seen.values()) + want)
                seen[event] = want
            return check

        self.case(fn, "error-topic-bad-records.json",
                  written("error-topic-bad-records.json",
                          len(event_records("error-topic-bad-records.json"))))
        self.case(fn, "error-topic-headers-non-ascii.json",
                  written("error-topic-headers-non-ascii.json", 1))
        before = rows_by_class().get("trigger_gave_up", 0)

        def envelopes(a: Answer) -> None:
            written("on-failure-envelopes.json", 3)(a)
            expect("trigger_gave_up rows", rows_by_class().get("trigger_gave_up", 0) - before, 2)

        self.case(fn, "on-failure-envelopes.json", envelopes)
        # Not a sample of its own: the malformed event is the sink's, sent here too.
        self.case(fn, "malformed-event.json",
                  lambda a: expect_error("malformed-event.json", a, "Permanent.MalformedEvent"))
        fn.stop()


    # A cold start that cannot succeed (the table does not exist): every invoke waiting for it
    # ends within seconds with a permanent error, none hangs. cargo-lambda hands one init error
    # to one waiting invoke and does not start the function again, so the script starts it
    # again while invokes wait, as Lambda initialises again for the next invoke.
    def missing_table(self, pending: int = 3) -> None:
        label = "missing-table"
        fn = Function(self.procs, label, "sink", self.base_env("no_such_table"), start=False)
        invokes = [self.procs.start(f"{label}-invoke-{i}", fn.invoke_argv(
            "seed-test-message.json")) for i in range(pending)]
        # The invokes are queued once each has its connection to the runtime emulator.
        wait_for("the invokes' connections", lambda: established(fn.port) >= pending,
                 START_SECS)
        started = time.monotonic()
        deadline = started + INIT_ERROR_SECS
        try:
            while True:
                waiting = [p for p in invokes if p.poll() is None]
                if not waiting:
                    break
                if time.monotonic() > deadline:
                    log = (self.procs.logs / f"{label}-function.log").read_text().splitlines()
                    raise Failed(
                        f"{len(waiting)} of {pending} invokes still waiting {INIT_ERROR_SECS} s "
                        f"after the first of {fn.cold_starts} cold starts: each cold start that "
                        "fails must report it (POST /2018-06-01/runtime/init/error) before it "
                        "exits. The function's last lines:\n    " + "\n    ".join(log[-6:]))
                # Each cold start answers one invoke. One that reports before any invoke is
                # queued answers none, hence the margin; one that finds the queue empty waits
                # for an invoke and is stopped with the rest.
                if (fn.proc is None or fn.proc.poll() is not None) and \
                        fn.cold_starts < 2 * pending:
                    fn.start()
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            for i, p in enumerate(invokes):
                text = (self.procs.logs / f"{label}-invoke-{i}.log").read_text()
                m = re.search(r"^Error:\s*(\S+)\s*$", text, re.MULTILINE)
                error_type = m.group(1) if m else None
                if error_type is None:
                    try:
                        error_type = json.loads(text).get("errorType")
                    except (json.JSONDecodeError, AttributeError):
                        pass
                # The type README.md documents for a table the sink cannot read.
                if error_type != "Permanent.TableSchema":
                    raise Failed(f"invoke {i}: expected the error type Permanent.TableSchema, "
                                 f"got: {text.strip()}")
                if "NoSuchTable" not in text:
                    raise Failed(f"invoke {i}: the error does not name NoSuchTable: "
                                 f"{text.strip()}")
            say(f"ok    {label:<16} {pending} waiting invokes ended with Permanent.TableSchema "
                f"in {elapsed:.1f} s ({fn.cold_starts} cold starts)")
        except Failed as e:
            self.failures.append(f"{label}: {e}")
            say(f"FAIL  {label}: {e}")
        finally:
            for p in invokes:
                self.procs.stop(p)
            fn.stop()


def established(port: int) -> int:
    """Connections to 127.0.0.1:port in state ESTABLISHED (from /proc/net/tcp)."""
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local = fields[1]
        if local.endswith(f":{port:04X}") and fields[3] == "01":
            n += 1
    return n


def main() -> int:
    for binary in ("sink", "error-handler", "emulator"):
        if not (BIN / binary).is_file():
            say(f"error: {BIN / binary} is missing; build it first: cargo build --workspace")
            return 1
    if shutil.which("cargo-lambda") is None:
        say("error: cargo-lambda is not on PATH; run bash scripts/cargo-lambda.sh")
        return 1
    seed = int(os.environ.get("CARGO_LAMBDA_TEST_SEED") or random.SystemRandom().randrange(1 << 32))
    run_id = f"{seed:08x}"
    say(f"seed {seed} (topic names end in {run_id}; CARGO_LAMBDA_TEST_SEED={seed} repeats them)")
    logs = Path(tempfile.mkdtemp(prefix="cargo-lambda-events."))
    procs = Processes(logs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    suite = None
    started = time.monotonic()
    try:
        mc = Emulator(procs, logs / "maxcompute")
        suite = Suite(procs, mc, run_id)
        for part in (suite.seed, suite.partial_batch, suite.csv, suite.json_values,
                     suite.headers, suite.error_handler, suite.missing_table):
            try:
                part()
            except Failed as e:
                suite.failures.append(f"{part.__name__}: {e}")
                say(f"FAIL  {part.__name__}: {e}")
        every = sorted(p.name for p in EVENTS.glob("*.json"))
        missing = [e for e in every if e not in suite.covered]
        if missing:
            suite.failures.append(f"events without a case here: {missing}")
            say(f"FAIL  every event has a case: {missing} have none")
    except (KeyboardInterrupt, SystemExit):
        say(f"interrupted; the logs of every process: {logs}")
        raise
    except Failed as e:
        say(f"FAIL  {e}")
        if suite is None:
            suite = Suite(procs, None, run_id)
        suite.failures.append(str(e))
    finally:
        procs.stop_all()
    say(f"{len(suite.covered)} events, {len(suite.failures)} failures, "
        f"{time.monotonic() - started:.1f} s")
    if suite.failures or os.environ.get("KEEP_LOGS"):
        say(f"logs of every process: {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    if suite.failures:
        say("failed:\n  " + "\n  ".join(suite.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

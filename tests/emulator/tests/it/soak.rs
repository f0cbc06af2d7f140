//! Soak: many records through the whole flow while faults are injected all along, then a count
//! of what is stored. Each scenario writes `SOAK_RECORDS` records (default 2 000; `make soak`
//! runs 20 000) with unique keys to a fresh topic of three partitions, half of each partition's
//! records before an hour boundary and half after (in offset order), so every batch can span two
//! MaxCompute partitions. The trigger runs the sink binary against the emulator while a driver,
//! at each invocation, draws from a seeded generator whether to add a fault rule, which one, and
//! whether to SIGKILL the running sink process a moment later (the seed is printed; `SOAK_SEED`
//! replays the same draws, though not the same interleaving).
//!
//! Once the trigger has committed every record, the faults are cleared and every row of the
//! table is read back: one table per scenario is printed (records, rows, distinct keys, missing,
//! duplicates, invocations, failed invocations, faults and kills injected).
//!
//! What is asserted holds whatever the interleaving: every record is committed and stored
//! (missing is 0), no row has a key that was not produced or sits in the wrong hour, and in the
//! exactly-once scenarios duplicates are 0: upsert into a Delta Table under every fault and
//! killed processes, and batch append under lost answers. Elsewhere duplicates are measured, not asserted: the
//! stream tunnel is at-least-once, and in batch append a commit that lands while its process
//! is killed or hangs past the function timeout, or a partition that fails for good after an
//! earlier one committed, makes the trigger retry the batch as a whole. The batch append exactly-once scenario has only lost answers of block uploads and
//! commits, at most one rule pending and each rule letting at least one
//! matching request pass first: a request's retry therefore always succeeds, every invocation
//! fits its timeout many times over, and the client recognises a landed commit.
//!
//! One scenario has the sink create its Delta Table from JSON records and add a column for each
//! of three fields the producer adds partway, under the same faults and kills: besides `missing
//! 0` and `duplicates 0`, every added field's value must be in its column.
//!
//! With `SOAK_WAN_RTT_MS` set (and optionally `SOAK_WAN_MB_S`), the sink reaches the emulator
//! through a WAN proxy of that round-trip time and bandwidth (`wan-proxy`), and each scenario
//! also prints the connections and requests that crossed it; what is asserted stays the same.
//!
//! A scenario is one entry in `scenarios!` at the end of this file.
//!
//! The change-data-capture scenario (`cdc_mirror`) is a mirror of a source table instead: random
//! inserts, updates and deletes (and the tombstones Debezium writes after a delete) over
//! [`CDC_KEYS`] keys, at least [`CDC_MIN_CHANGES`] changes (or `SOAK_RECORDS`, when larger), as
//! Debezium JSON with and without the schema wrapper, each key's changes on the Kafka partition
//! its key hashes to (Kafka's default partitioner, which Debezium's records go through), written
//! with `SINK_FORMAT=DEBEZIUM` into a Delta Table without partition columns under every upsert
//! fault and killed processes. It ends with the table equal, row for row, to the source table
//! the test computed from the changes it produced.
//!
//! Its Avro variant (`cdc_mirror_avro`) writes the same changes as Debezium's Avro converter does
//! (keys and values in the schema registry's wire format, their schemas registered in the local
//! schema registry), and the trigger decodes them through `SchemaRegistryConfig`
//! (`EventRecordFormat: JSON`) before the sink sees them; the mirror must end equal all the same.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_emulator::trigger::tools::{NewRecord, produce};
use lambda_emulator::trigger::{self, Stats};
use maxcompute_emulator::testing::TestEmulator;
use tokio::time::Instant;

use crate::sink_flow::SEED_DDL;
use crate::support::{create_topic, function_binary, require_broker, unique_topic};

/// 2020-11-17 16:00:00 in GMT+08:00 (08:00Z), the hour boundary the records cross.
const BOUNDARY_MS: i64 = 1_605_600_000_000;
const HOUR_BEFORE: &str = "11-17-2020 15";
const HOUR_AFTER: &str = "11-17-2020 16";
const PARTITIONS: i32 = 3;
/// The records of a scenario unless `SOAK_RECORDS` says otherwise.
const DEFAULT_RECORDS: usize = 2_000;
/// Records per invocation (the trigger's BatchSize).
const BATCH_SIZE: usize = 10;
/// How often the driver looks at the trigger's counters.
const TICK: Duration = Duration::from_millis(10);
/// A kill comes up to ten of these after the invocation that drew it started.
const KILL_DELAY: Duration = Duration::from_millis(30);
/// At most one long hang (each costs a function timeout) per this many invocations.
const HANG_EVERY: u64 = 40;
/// A hang shorter than any timeout: the request is slow, nothing more.
const SHORT_HANG: Duration = Duration::from_millis(300);
/// How much longer than the function timeout a long hang lasts, so the runtime kills it.
const PAST_TIMEOUT: Duration = Duration::from_secs(2);

/// The calls of each tunnel that a fault can hit.
const STREAM_KINDS: &[&str] = &["stream_write", "session_create", "metadata"];
const BATCH_KINDS: &[&str] = &[
    "block_upload",
    "commit",
    "session_status",
    "session_create",
    "partition_create",
    "metadata",
];
const UPSERT_KINDS: &[&str] = &[
    "upsert_write",
    "upsert_commit",
    "session_status",
    "session_create",
    "partition_create",
    "metadata",
];
/// The calls whose answers the batch tunnel can lose without writing twice. The session's
/// status is read only after a commit whose answer was lost (a commit of the blocks the service
/// acknowledged needs no look first), so a pending rule for it would wait for that and hold back
/// every other rule of this one-at-a-time scenario (the client's tests cover that read after a
/// lost commit answer).
const LOST_ANSWER_KINDS: &[&str] = &["block_upload", "commit"];

/// What a fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// 503 ServiceUnavailable: transient, retried by the client.
    Unavailable,
    /// 400: permanent, the invocation gives up on the partition.
    BadRequest,
    /// The connection is closed without an answer.
    Drop,
    /// The answer comes [`SHORT_HANG`] late.
    ShortHang,
    /// The answer comes after the function timeout: the runtime kills the process.
    LongHang,
}

const ALL_ACTIONS: &[Action] = &[
    Action::Unavailable,
    Action::BadRequest,
    Action::Drop,
    Action::ShortHang,
    Action::LongHang,
];
/// An answer that is lost, never a refusal and never past the timeout.
const LOST_ANSWER_ACTIONS: &[Action] = &[Action::Unavailable, Action::Drop, Action::ShortHang];

/// One fault rule to draw: a call kind, a phase and an action.
#[derive(Debug, Clone, Copy)]
struct Fault {
    kind: &'static str,
    /// `before`: the request is not applied; `after`: it is, and its answer is lost.
    phase: &'static str,
    action: Action,
}

impl Fault {
    fn rule(self, skip: u64, timeout: Duration) -> serde_json::Value {
        let mut rule = serde_json::json!({
            "kind": self.kind, "count": 1, "skip": skip, "phase": self.phase,
        });
        let action = match self.action {
            Action::Unavailable => serde_json::json!({
                "action": "error", "status": 503, "code": "ServiceUnavailable",
                "message": "soak: injected"
            }),
            Action::BadRequest => serde_json::json!({
                "action": "error", "status": 400, "code": "InvalidArgument",
                "message": "soak: injected"
            }),
            Action::Drop => serde_json::json!({"action": "drop"}),
            Action::ShortHang => {
                serde_json::json!({"action": "hang", "millis": SHORT_HANG.as_millis() as u64})
            }
            Action::LongHang => serde_json::json!({
                "action": "hang", "millis": (timeout + PAST_TIMEOUT).as_millis() as u64
            }),
        };
        for (k, v) in action.as_object().unwrap() {
            rule[k] = v.clone();
        }
        rule
    }

    /// Whether the fault costs the invocation its process.
    fn severe(self) -> bool {
        self.action == Action::LongHang
    }
}

/// How faults are injected in a scenario.
#[derive(Debug, Clone, Copy)]
struct Chaos {
    kinds: &'static [&'static str],
    phases: &'static [&'static str],
    actions: &'static [Action],
    /// Whether the driver SIGKILLs the running sink now and then.
    kills: bool,
    /// At most this many rules of one kind wait at a time.
    pending_per_kind: usize,
    /// At most this many rules wait at a time.
    pending_total: usize,
    /// The smallest `skip` of a rule (the largest is two more).
    min_skip: u64,
}

impl Chaos {
    fn catalogue(&self) -> Vec<Fault> {
        let mut out = Vec::new();
        for kind in self.kinds {
            for phase in self.phases {
                for action in self.actions {
                    out.push(Fault {
                        kind,
                        phase,
                        action: *action,
                    });
                }
            }
        }
        out
    }
}

/// Every kind of the tunnel, both phases, every action, and killed processes.
const fn everything(kinds: &'static [&'static str]) -> Chaos {
    Chaos {
        kinds,
        phases: &["before", "after"],
        actions: ALL_ACTIONS,
        kills: true,
        pending_per_kind: 2,
        pending_total: usize::MAX,
        min_skip: 0,
    }
}

/// Lost answers only, one at a time, each letting a request through before it acts.
const LOST_ANSWERS: Chaos = Chaos {
    kinds: LOST_ANSWER_KINDS,
    phases: &["after"],
    actions: LOST_ANSWER_ACTIONS,
    kills: false,
    pending_per_kind: 1,
    pending_total: 1,
    min_skip: 1,
};

/// The table a scenario writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// The seed's append table.
    Seed,
    /// The seed's columns as a Delta Table keyed by (`topic`, `partition`, `offset`), which
    /// the sink writes by upsert.
    Delta,
    /// A Delta Table the sink creates from JSON records (keyed by `topic`, `partition`,
    /// `offset`) and gives a column for each of the three fields the producer adds partway
    /// through each Kafka partition ([`EVOLVING_FIELDS`]), while its functions run side by side.
    DeltaEvolving,
}

/// The fields the producer of [`Table::DeltaEvolving`] adds, in order: the first at a quarter
/// of each partition's records, the second at half, the third at three quarters.
const EVOLVING_FIELDS: [&str; 3] = ["f1", "f2", "f3"];

/// The sink's settings for a table it creates from JSON and evolves.
const EVOLVING_ENV: &[(&str, &str)] = &[
    ("SINK_FORMAT", "JSON"),
    ("SINK_MODE", "VALUE"),
    ("SINK_CREATE_TABLE", "true"),
    ("SINK_WRITE", "upsert"),
    ("SINK_EVOLVE", "add-columns"),
];

/// The Delta Table of [`Table::Delta`].
const DELTA_DDL: &str = "CREATE TABLE IF NOT EXISTS kafka_delta(topic STRING NOT NULL, `partition` BIGINT NOT NULL, `offset` BIGINT NOT NULL, key STRING, value STRING, PRIMARY KEY (topic, `partition`, `offset`)) PARTITIONED BY (pt STRING) TBLPROPERTIES (\"transactional\"=\"true\", \"write.bucket.num\"=\"4\");";

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Seed => "test_kafka",
            Self::Delta => "kafka_delta",
            Self::DeltaEvolving => "kafka_evolving",
        }
    }

    /// The table's DDL; `None` when the sink creates it.
    fn ddl(self) -> Option<&'static str> {
        match self {
            Self::Seed => Some(SEED_DDL),
            Self::Delta => Some(DELTA_DDL),
            Self::DeltaEvolving => None,
        }
    }

    fn evolving(self) -> bool {
        self == Self::DeltaEvolving
    }
}

/// One soak scenario: how the sink writes and what goes wrong meanwhile.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    table: Table,
    /// `SINK_TUNNEL` (of an append table).
    tunnel: &'static str,
    /// `SINK_PARTIAL_BATCH`, and the trigger's `ReportBatchItemFailures`.
    partial_batch: bool,
    chaos: Chaos,
    /// The function timeout.
    timeout: Duration,
    /// Whether duplicates must be 0 (else they are reported only).
    exactly_once: bool,
}

/// A small deterministic generator (SplitMix64): the draws of a seed are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// The record a key stands for: its Kafka partition, its place in it, and its hour.
struct Produced {
    key: String,
    hour: &'static str,
    /// What each of [`EVOLVING_FIELDS`] holds, as a query prints it (`NULL` before the field was
    /// added); JSON records only.
    fields: Vec<String>,
}

/// The JSON value of record `n` of `count` in partition `p`, with the fields added so far, and
/// what the table's columns of those fields then hold.
fn evolving_value(p: i32, n: usize, count: usize) -> (String, Vec<String>) {
    let mut value = format!(r#"{{"key": "k{p}-{n}", "v": "v{p}-{n}""#);
    let mut fields = Vec::with_capacity(EVOLVING_FIELDS.len());
    for (i, field) in EVOLVING_FIELDS.iter().enumerate() {
        if n * 4 >= count * (i + 1) {
            value.push_str(&format!(r#", "{field}": "{field}-{n}""#));
            fields.push(format!("{field}-{n}"));
        } else {
            fields.push("NULL".to_owned());
        }
    }
    value.push('}');
    (value, fields)
}

/// Produces `total` records over the topic's partitions, the three partitions at once; each
/// partition's first half falls before [`BOUNDARY_MS`] and its second half after. With `json`,
/// values are JSON objects that gain [`EVOLVING_FIELDS`] as they go.
async fn produce_all(bootstrap: &str, topic: &str, total: usize, json: bool) -> Vec<Produced> {
    let parts = PARTITIONS as usize;
    let mut tasks = Vec::new();
    let mut produced = Vec::with_capacity(total);
    for p in 0..PARTITIONS {
        let count = total / parts + usize::from((p as usize) < total % parts);
        let half = count / 2;
        let mut records = Vec::with_capacity(count);
        for n in 0..count {
            let key = format!("k{p}-{n}");
            let (timestamp_ms, hour) = if n < half {
                (BOUNDARY_MS - 1_800_000 + n as i64, HOUR_BEFORE)
            } else {
                (BOUNDARY_MS + n as i64, HOUR_AFTER)
            };
            let (value, fields) = if json {
                evolving_value(p, n, count)
            } else {
                (format!("v{p}-{n}"), Vec::new())
            };
            records.push(NewRecord {
                partition: p,
                key: Some(key.clone().into_bytes()),
                value: Some(value.into_bytes()),
                headers: vec![],
                timestamp_ms: Some(timestamp_ms),
            });
            produced.push(Produced { key, hour, fields });
        }
        let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
        tasks.push(tokio::spawn(async move {
            let offsets = produce(&bootstrap, &topic, &records).await.unwrap();
            let expected: Vec<i64> = (0..records.len() as i64).collect();
            assert_eq!(offsets, expected, "partition {p} of a fresh topic");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    produced
}

/// What the driver did.
#[derive(Debug, Default)]
struct Injected {
    rules: u64,
    kills: u64,
}

/// Waits until the trigger has committed `records` records or `budget` has passed, and
/// meanwhile, at each invocation the trigger starts, draws what to do: add a fault rule (at
/// most one long hang per [`HANG_EVERY`] invocations, and only while fewer rules than the
/// scenario allows are pending), kill the sink a little later, or nothing. Pacing by invocation
/// keeps the faults per record, and so the run's length per record, the same on any machine.
/// Returns what was injected and the trigger's counters at the end.
async fn drive(
    flow: &TestEmulator,
    scenario: &Scenario,
    sink: Sinks<'_>,
    seed: u64,
    running: &trigger::Running,
    records: u64,
    budget: Duration,
) -> (Injected, Stats) {
    let chaos = &scenario.chaos;
    let catalogue = chaos.catalogue();
    let mut rng = Rng(seed);
    let mut injected = Injected::default();
    let mut seen = 0;
    let mut last_hang: Option<u64> = None;
    let mut kill_at: Option<Instant> = None;
    let give_up = Instant::now() + budget;
    loop {
        let stats = running.stats();
        if stats.committed_records >= records || Instant::now() >= give_up {
            return (injected, stats);
        }
        if kill_at.is_some_and(|at| at <= Instant::now()) {
            kill_at = None;
            injected.kills += kill_sink(sink.binary, sink.endpoint);
        }
        while seen < stats.invocations {
            seen += 1;
            let draw = rng.below(10);
            if draw == 0 {
                if chaos.kills && kill_at.is_none() {
                    kill_at = Some(Instant::now() + KILL_DELAY * rng.below(10) as u32);
                }
                continue;
            }
            if draw > 5 {
                continue;
            }
            let fault = catalogue[rng.below(catalogue.len())];
            let skip = chaos.min_skip + rng.below(3) as u64;
            if fault.severe() && last_hang.is_some_and(|at| seen < at + HANG_EVERY) {
                continue;
            }
            let pending = flow.faults().await;
            let same_kind = pending.iter().filter(|r| r["kind"] == fault.kind).count();
            if pending.len() >= chaos.pending_total || same_kind >= chaos.pending_per_kind {
                continue;
            }
            flow.fault(fault.rule(skip, scenario.timeout)).await;
            injected.rules += 1;
            if fault.severe() {
                last_hang = Some(seen);
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Where the sink reaches the emulator: directly, or with `SOAK_WAN_RTT_MS` set through a WAN
/// proxy of that round-trip time (and `SOAK_WAN_MB_S` each way, unlimited when unset). The
/// proxy lives as long as this value.
struct Wan {
    endpoint: String,
    proxy: Option<wan_proxy::WanProxy>,
}

impl Wan {
    /// A line for the scenario's output: the WAN and what crossed it.
    fn describe(&self) -> String {
        match &self.proxy {
            None => "no WAN (SOAK_WAN_RTT_MS unset)".to_owned(),
            Some(proxy) => {
                let stats = proxy.stats();
                format!(
                    "through a WAN of {} ms RTT, {}: {} connections, {} requests",
                    env_number("SOAK_WAN_RTT_MS").unwrap_or(0),
                    env_number("SOAK_WAN_MB_S")
                        .map_or_else(|| "unlimited".to_owned(), |mb| format!("{mb} MB/s")),
                    stats.connections,
                    stats.requests_total()
                )
            }
        }
    }
}

/// Points the function of `settings` at the emulator through the WAN `SOAK_WAN_RTT_MS` asks
/// for, if any (see [`Wan`]).
async fn through_wan(flow: &TestEmulator, settings: &mut trigger::Settings) -> Wan {
    let Some(rtt_ms) = env_number("SOAK_WAN_RTT_MS") else {
        return Wan {
            endpoint: flow.endpoint(),
            proxy: None,
        };
    };
    let bandwidth = env_number("SOAK_WAN_MB_S").map(|mb| mb * 1_000_000);
    let config = wan_proxy::WanConfig::symmetric(Duration::from_millis(rtt_ms), bandwidth);
    let proxy =
        wan_proxy::WanProxy::start("127.0.0.1:0".parse().unwrap(), flow.server.addr, config)
            .await
            .unwrap();
    let endpoint = format!("http://{}/api", proxy.local_addr());
    let env = &mut settings.function.env;
    env.push(("MAXCOMPUTE_ENDPOINT".to_owned(), endpoint.clone()));
    // The emulator names itself as the tunnel's endpoint; the WAN is the proxy.
    env.push((
        "MAXCOMPUTE_TUNNEL_ENDPOINT".to_owned(),
        format!("http://{}", proxy.local_addr()),
    ));
    Wan {
        endpoint,
        proxy: Some(proxy),
    }
}

/// The sink processes a scenario runs: their binary and the `MAXCOMPUTE_ENDPOINT` they are
/// given, which tell them apart from any other test's.
#[derive(Clone, Copy)]
struct Sinks<'a> {
    binary: &'a Path,
    endpoint: &'a str,
}

/// SIGKILLs the processes that run `binary` against `endpoint` (its `MAXCOMPUTE_ENDPOINT`: the
/// emulator's or the WAN proxy's, unique to one test, so no other test's sink is touched);
/// returns how many.
fn kill_sink(binary: &Path, endpoint: &str) -> u64 {
    let marker = format!("MAXCOMPUTE_ENDPOINT={endpoint}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if std::fs::read_link(entry.path().join("exe")).ok().as_deref() != Some(binary) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ
            .split(|b| *b == 0)
            .any(|var| var == marker.as_bytes())
        {
            continue;
        }
        let status = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
        if status.is_ok_and(|s| s.success()) {
            killed += 1;
        }
    }
    killed
}

/// What one scenario came to.
struct Report {
    records: usize,
    rows: usize,
    distinct: usize,
    missing: usize,
    duplicates: usize,
    /// Stored keys that were never produced.
    unknown: usize,
    /// Rows in another hour than their record's.
    misplaced: usize,
    stats: Stats,
    injected: Injected,
    seconds: f64,
}

fn table(scenario: &Scenario, seed: u64, r: &Report) -> String {
    let header = [
        "mode",
        "records",
        "rows",
        "distinct",
        "missing",
        "duplicates",
        "invocations",
        "failures",
        "faults",
        "kills",
        "seconds",
    ];
    let cells = [
        scenario.name.to_owned(),
        r.records.to_string(),
        r.rows.to_string(),
        r.distinct.to_string(),
        r.missing.to_string(),
        r.duplicates.to_string(),
        r.stats.invocations.to_string(),
        r.stats.failed_invocations.to_string(),
        r.injected.rules.to_string(),
        r.injected.kills.to_string(),
        format!("{:.1}", r.seconds),
    ];
    let widths: Vec<usize> = header
        .iter()
        .zip(&cells)
        .map(|(h, c)| h.len().max(c.len()))
        .collect();
    let line = |items: &[String]| {
        let mut out = String::new();
        for (i, (item, w)) in items.iter().zip(&widths).enumerate() {
            let sep = if i == 0 { "" } else { " | " };
            if i == 0 {
                write!(out, "{sep}{item:<w$}").unwrap();
            } else {
                write!(out, "{sep}{item:>w$}").unwrap();
            }
        }
        out
    };
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let rule: String = widths
        .iter()
        .map(|w| "-".repeat(*w))
        .collect::<Vec<_>>()
        .join("-|-");
    format!(
        "soak (SOAK_SEED={seed}, SOAK_RECORDS={}, unknown keys {}, rows in the wrong hour {})\n{}\n{rule}\n{}\n",
        r.records,
        r.unknown,
        r.misplaced,
        line(&header),
        line(&cells)
    )
}

async fn soak(scenario: Scenario) {
    let records = env_number("SOAK_RECORDS").map_or(DEFAULT_RECORDS, |n| n as usize);
    assert!(records > 0, "SOAK_RECORDS must be positive");
    let seed = env_number("SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!(
        "soak {}: {records} records, SOAK_SEED={seed} replays its faults",
        scenario.name
    );
    let started = std::time::Instant::now();
    let bootstrap = require_broker().await;
    let topic = unique_topic(
        "flow",
        &format!("soak-{}", scenario.name.replace([' ', ','], "-")),
    );
    create_topic(&bootstrap, &topic, PARTITIONS).await;
    let flow = TestEmulator::start().await;
    if let Some(ddl) = scenario.table.ddl() {
        flow.sql(ddl).await;
    }
    let produced = produce_all(&bootstrap, &topic, records, scenario.table.evolving()).await;

    let sink = std::fs::canonicalize(function_binary("sink")).unwrap();
    let level = std::env::var("SOAK_FUNCTION_LOG").unwrap_or_else(|_| "error".to_owned());
    let partial = if scenario.partial_batch {
        "true"
    } else {
        "false"
    };
    let mut env = vec![
        ("MAXCOMPUTE_TABLE", scenario.table.name()),
        ("SINK_TUNNEL", scenario.tunnel),
        ("SINK_PARTIAL_BATCH", partial),
        ("AWS_LAMBDA_LOG_LEVEL", level.as_str()),
    ];
    if scenario.table.evolving() {
        env.extend_from_slice(EVOLVING_ENV);
    }
    let mut settings = crate::support::settings(&flow, &bootstrap, &topic, "sink", &env);
    settings.function.binary = PathBuf::from(&sink);
    settings.function.timeout = scenario.timeout;
    settings.limits.batch_size = BATCH_SIZE;
    settings.report_batch_item_failures = scenario.partial_batch;

    // Generous: a few seconds per hundred records covers the slowest machine under every fault.
    let budget = Duration::from_secs(120) + Duration::from_millis(40) * records as u32;
    let wan = through_wan(&flow, &mut settings).await;
    let running = trigger::start(settings).await.unwrap();
    let sinks = Sinks {
        binary: &sink,
        endpoint: &wan.endpoint,
    };
    let (injected, waited) = drive(
        &flow,
        &scenario,
        sinks,
        seed,
        &running,
        records as u64,
        budget,
    )
    .await;
    flow.clear_faults().await;
    let stats = running.stop().await.unwrap();

    let stored = flow
        .query(&format!("select key, pt from {}", scenario.table.name()))
        .await;
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut unknown = 0;
    let mut misplaced = 0;
    let hours: HashMap<&str, &str> = produced.iter().map(|p| (p.key.as_str(), p.hour)).collect();
    for row in stored.iter().skip(1) {
        let (key, pt) = (row[0].as_str(), row[1].as_str());
        match hours.get(key) {
            Some(hour) => {
                *count.entry(key).or_default() += 1;
                if *hour != pt {
                    misplaced += 1;
                }
            }
            None => unknown += 1,
        }
    }
    // Every value of every added field in its column: read back by key, compared with what
    // the producer wrote.
    let mut wrong_fields = Vec::new();
    if scenario.table.evolving() {
        let read = flow
            .query(&format!(
                "select key, {} from {}",
                EVOLVING_FIELDS.join(", "),
                scenario.table.name()
            ))
            .await;
        let fields: HashMap<&str, &[String]> = produced
            .iter()
            .map(|p| (p.key.as_str(), p.fields.as_slice()))
            .collect();
        for row in read.iter().skip(1) {
            let expected = fields.get(row[0].as_str()).copied().unwrap_or_default();
            if row.get(1..) != Some(expected) {
                wrong_fields.push(row.clone());
            }
        }
    }
    let rows = stored.len() - 1;
    let distinct = count.len();
    let report = Report {
        records,
        rows,
        distinct,
        missing: records - distinct,
        duplicates: rows - unknown - distinct,
        unknown,
        misplaced,
        stats: stats.clone(),
        injected,
        seconds: started.elapsed().as_secs_f64(),
    };
    println!("{}\n{}", table(&scenario, seed, &report), wan.describe());

    let per_partition: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| {
            let n = produced
                .iter()
                .filter(|r| r.key.starts_with(&format!("k{p}-")))
                .count();
            (p, n as i64)
        })
        .collect();
    let replay = format!("replay: SOAK_SEED={seed} SOAK_RECORDS={records}");
    assert_eq!(
        waited.committed_records, records as u64,
        "not every record was committed within {budget:?}: {waited:?} ({replay})"
    );
    assert_eq!(
        stats.committed, per_partition,
        "committed offsets ({replay})"
    );
    let missing: Vec<&str> = produced
        .iter()
        .map(|p| p.key.as_str())
        .filter(|k| !count.contains_key(k))
        .take(20)
        .collect();
    assert_eq!(
        report.missing, 0,
        "committed but not stored, e.g. {missing:?} ({replay})"
    );
    assert_eq!(report.unknown, 0, "rows of no produced record ({replay})");
    assert!(
        wrong_fields.is_empty(),
        "{} rows whose added fields are not what was produced, e.g. {:?} ({replay})",
        wrong_fields.len(),
        wrong_fields.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(report.misplaced, 0, "rows in the wrong hour ({replay})");
    if scenario.exactly_once {
        let twice: Vec<&&str> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .take(20)
            .collect();
        assert_eq!(
            report.duplicates, 0,
            "written twice, e.g. {twice:?} ({replay})"
        );
    }
}

/// One test per scenario, so that the runner runs them side by side.
macro_rules! scenarios {
    ($($(#[$doc:meta])* $test:ident: $scenario:expr;)+) => {
        $(
            $(#[$doc])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                soak($scenario).await;
            }
        )+
    };
}

scenarios! {
    /// Stream append with partial batch responses, every stream fault and killed processes.
    stream_append_partial_batch: Scenario {
        name: "stream append, partial batch",
        table: Table::Seed,
        tunnel: "stream",
        partial_batch: true,
        chaos: everything(STREAM_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: false,
    };
    /// Batch append with partial batch responses, every batch fault and killed processes.
    batch_append_partial_batch: Scenario {
        name: "batch append, partial batch",
        table: Table::Seed,
        tunnel: "batch",
        partial_batch: true,
        chaos: everything(BATCH_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: false,
    };
    /// Batch append retried as whole batches, every batch fault and killed processes.
    batch_append_whole_batch: Scenario {
        name: "batch append, whole batch",
        table: Table::Seed,
        tunnel: "batch",
        partial_batch: false,
        chaos: everything(BATCH_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: false,
    };
    /// Batch append retried as whole batches under lost answers only: exactly once.
    batch_append_lost_answers: Scenario {
        name: "batch append, lost answers",
        table: Table::Seed,
        tunnel: "batch",
        partial_batch: false,
        chaos: LOST_ANSWERS,
        timeout: Duration::from_secs(30),
        exactly_once: true,
    };
    /// Upsert into a Delta Table with partial batch responses, every upsert fault and killed
    /// processes: exactly once, because every replay overwrites itself.
    upsert_partial_batch: Scenario {
        name: "upsert, partial batch",
        table: Table::Delta,
        tunnel: "stream",
        partial_batch: true,
        chaos: everything(UPSERT_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: true,
    };
    /// A Delta Table the sink creates from JSON records and gives three new columns as the
    /// producer adds three fields, with partial batch responses, every upsert fault and killed
    /// processes: exactly once, and every added field's value in its column.
    upsert_evolving_columns: Scenario {
        name: "upsert, added columns",
        table: Table::DeltaEvolving,
        tunnel: "stream",
        partial_batch: true,
        chaos: everything(UPSERT_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: true,
    };
    /// Upsert into a Delta Table retried as whole batches, every upsert fault and killed
    /// processes: exactly once.
    upsert_whole_batch: Scenario {
        name: "upsert, whole batch",
        table: Table::Delta,
        tunnel: "stream",
        partial_batch: false,
        chaos: everything(UPSERT_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: true,
    };
}

/// The source table's keys in the change-data-capture scenario.
const CDC_KEYS: u64 = 1_000;
/// The fewest changes the scenario produces.
const CDC_MIN_CHANGES: usize = 20_000;
/// Records per invocation there: a batch then often holds several changes of one key.
const CDC_BATCH_SIZE: usize = 100;
/// The mirror of the source table: its own primary key, no partition columns.
const CDC_DDL: &str = "CREATE TABLE IF NOT EXISTS cdc_mirror(id BIGINT NOT NULL, name STRING, qty BIGINT, price DECIMAL(12,2), cdc_op STRING, PRIMARY KEY (id)) TBLPROPERTIES (\"transactional\"=\"true\", \"write.bucket.num\"=\"4\");";

/// Kafka's murmur2 (the default partitioner's hash of the key bytes, as the Java client computes
/// it, wrapping 32-bit arithmetic).
fn murmur2(data: &[u8]) -> i32 {
    const M: i32 = 0x5bd1_e995;
    let mut h: i32 = (0x9747_b28c_u32 as i32) ^ data.len() as i32;
    let chunks = data.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let mut k = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if rest.len() == 3 {
        h ^= i32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= i32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= i32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(M);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// The partition Kafka's default partitioner gives a key: `toPositive(murmur2(key)) % n`.
fn key_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// A source row: name, quantity, price in cents, and the `op` that wrote it last.
type SourceRow = (String, i64, i64, &'static str);

/// One change of the source table.
#[derive(Debug, Clone)]
enum SourceChange {
    Upsert(&'static str, SourceRow),
    Delete,
    Tombstone,
}

fn price_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// A change as Debezium's JSON converter writes it, with the schema wrapper (the price as
/// Connect's Decimal bytes) or without (the price as a string, decimal.handling.mode=string).
fn debezium_value(id: u64, change: &SourceChange, wrapped: bool) -> Option<Vec<u8>> {
    use base64::Engine;
    let source = r#"{"version":"2.5.0.Final","connector":"postgresql","name":"soak","ts_ms":1605600000000,"db":"shop","schema":"public","table":"items"}"#;
    let text = match change {
        SourceChange::Tombstone => return None,
        SourceChange::Delete => {
            format!(
                r#"{{"before":{{"id":{id}}},"after":null,"source":{source},"op":"d","ts_ms":1}}"#
            )
        }
        SourceChange::Upsert(op, (name, qty, cents, _)) if wrapped => {
            let bytes = cents.to_be_bytes();
            let skip = bytes
                .windows(2)
                .take_while(|w| (w[0] == 0 && w[1] < 0x80) || (w[0] == 0xff && w[1] >= 0x80))
                .count();
            let price = base64::engine::general_purpose::STANDARD.encode(&bytes[skip..]);
            let fields = r#"[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"int64","optional":true,"field":"qty"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"12"},"field":"price"}]"#;
            format!(
                r#"{{"schema":{{"type":"struct","fields":[{{"type":"struct","fields":{fields},"optional":true,"name":"soak.public.items.Value","field":"before"}},{{"type":"struct","fields":{fields},"optional":true,"name":"soak.public.items.Value","field":"after"}},{{"type":"string","optional":false,"field":"op"}}],"optional":false,"name":"soak.public.items.Envelope"}},"payload":{{"before":null,"after":{{"id":{id},"name":"{name}","qty":{qty},"price":"{price}"}},"source":{source},"op":"{op}","ts_ms":1}}}}"#
            )
        }
        SourceChange::Upsert(op, (name, qty, cents, _)) => format!(
            r#"{{"before":null,"after":{{"id":{id},"name":"{name}","qty":{qty},"price":"{}"}},"source":{source},"op":"{op}","ts_ms":1}}"#,
            price_text(*cents)
        ),
    };
    Some(text.into_bytes())
}

/// How the changes are written to Kafka.
enum Encoding {
    /// Debezium's JSON converter, with and without the schema wrapper.
    Json,
    /// Debezium's Avro converter: the registry's framing around Avro datums of these schemas.
    Avro(Box<AvroSchemas>),
}

/// The key and envelope schemas of the Avro variant and their ids in the registry.
struct AvroSchemas {
    key: apache_avro::Schema,
    key_id: u32,
    value: apache_avro::Schema,
    value_id: u32,
}

/// The key schema Debezium's Avro converter registers for the source table.
const AVRO_KEY_SCHEMA: &str = r#"{"type":"record","name":"Key","namespace":"soak.public.items","fields":[{"name":"id","type":"long"}]}"#;

/// The envelope schema Debezium's Avro converter registers (the price as a string, as
/// decimal.handling.mode=string writes it).
const AVRO_VALUE_SCHEMA: &str = r#"{"type":"record","name":"Envelope","namespace":"soak.public.items","fields":[
 {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
   {"name":"id","type":"long"},
   {"name":"name","type":["null","string"],"default":null},
   {"name":"qty","type":["null","long"],"default":null},
   {"name":"price","type":["null","string"],"default":null}]}],"default":null},
 {"name":"after","type":["null","Value"],"default":null},
 {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
   {"name":"connector","type":"string"},{"name":"ts_ms","type":"long"},
   {"name":"db","type":"string"},{"name":"table","type":"string"}]}},
 {"name":"op","type":"string"},
 {"name":"ts_ms","type":["null","long"],"default":null}]}"#;

impl AvroSchemas {
    /// Registers both schemas for `topic` as the stock serializer does (`<topic>-key`,
    /// `<topic>-value`).
    fn register(registry: &schema_registry::SchemaRegistry, topic: &str) -> Self {
        let register = |subject: String, text: &str| {
            let stored = schema_registry::Stored {
                schema: text.to_owned(),
                schema_type: "AVRO".to_owned(),
            };
            registry.register(&subject, stored).unwrap().0
        };
        Self {
            key: apache_avro::Schema::parse_str(AVRO_KEY_SCHEMA).unwrap(),
            key_id: register(format!("{topic}-key"), AVRO_KEY_SCHEMA),
            value: apache_avro::Schema::parse_str(AVRO_VALUE_SCHEMA).unwrap(),
            value_id: register(format!("{topic}-value"), AVRO_VALUE_SCHEMA),
        }
    }

    /// A datum of `schema` in the registry's wire format: magic byte 0, the schema id (4 bytes,
    /// big endian), the Avro binary encoding.
    fn frame(schema: &apache_avro::Schema, id: u32, value: apache_avro::types::Value) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&id.to_be_bytes());
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
            .build()
            .unwrap();
        out.extend(writer.write_value_to_vec(value).unwrap());
        out
    }

    fn key(&self, id: u64) -> Vec<u8> {
        use apache_avro::types::Value;
        let key = Value::Record(vec![("id".to_owned(), Value::Long(id as i64))]);
        Self::frame(&self.key, self.key_id, key)
    }

    fn value(&self, id: u64, change: &SourceChange) -> Option<Vec<u8>> {
        use apache_avro::types::Value;
        let optional = |v: Option<Value>| match v {
            Some(v) => Value::Union(1, Box::new(v)),
            None => Value::Union(0, Box::new(Value::Null)),
        };
        let row = |r: Option<&SourceRow>| {
            Value::Record(vec![
                ("id".to_owned(), Value::Long(id as i64)),
                (
                    "name".to_owned(),
                    optional(r.map(|r| Value::String(r.0.clone()))),
                ),
                ("qty".to_owned(), optional(r.map(|r| Value::Long(r.1)))),
                (
                    "price".to_owned(),
                    optional(r.map(|r| Value::String(price_text(r.2)))),
                ),
            ])
        };
        let (before, after, op) = match change {
            SourceChange::Tombstone => return None,
            SourceChange::Delete => (Some(row(None)), None, "d"),
            SourceChange::Upsert(op, r) => (None, Some(row(Some(r))), *op),
        };
        let source = Value::Record(vec![
            (
                "connector".to_owned(),
                Value::String("postgresql".to_owned()),
            ),
            ("ts_ms".to_owned(), Value::Long(1_605_600_000_000)),
            ("db".to_owned(), Value::String("shop".to_owned())),
            ("table".to_owned(), Value::String("items".to_owned())),
        ]);
        let envelope = Value::Record(vec![
            ("before".to_owned(), optional(before)),
            ("after".to_owned(), optional(after)),
            ("source".to_owned(), source),
            ("op".to_owned(), Value::String(op.to_owned())),
            ("ts_ms".to_owned(), optional(Some(Value::Long(1)))),
        ]);
        Some(Self::frame(&self.value, self.value_id, envelope))
    }
}

/// Queues the `n`th change, of key `id`, on the partition of the key's bytes as Debezium would
/// write them in JSON without the wrapper, so that every change of a key lands on one partition
/// whichever way it is written.
fn push_record(
    per_partition: &mut [Vec<NewRecord>],
    id: u64,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    n: usize,
) {
    let p = key_partition(format!(r#"{{"id":{id}}}"#).as_bytes(), PARTITIONS);
    per_partition[p as usize].push(NewRecord {
        partition: p,
        key: Some(key),
        value,
        headers: vec![],
        timestamp_ms: Some(BOUNDARY_MS + n as i64),
    });
}

/// Produces random changes of a source table of [`CDC_KEYS`] keys, at least `changes` of them
/// plus the tombstones after deletes, each on its key's partition in the order they happened;
/// returns the source table they leave and the number of records produced.
async fn produce_changes(
    bootstrap: &str,
    topic: &str,
    changes: usize,
    rng: &mut Rng,
    encoding: &Encoding,
) -> (BTreeMap<u64, SourceRow>, usize) {
    let mut source: BTreeMap<u64, SourceRow> = BTreeMap::new();
    let mut per_partition: Vec<Vec<NewRecord>> = (0..PARTITIONS).map(|_| Vec::new()).collect();
    let mut push = |id: u64, change: &SourceChange, wrapped: bool, n: usize| {
        let key = if let Encoding::Avro(schemas) = encoding {
            return push_record(
                &mut per_partition,
                id,
                schemas.key(id),
                schemas.value(id, change),
                n,
            );
        } else if wrapped {
            format!(
                r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"id"}}],"optional":false,"name":"soak.public.items.Key"}},"payload":{{"id":{id}}}}}"#
            )
        } else {
            format!(r#"{{"id":{id}}}"#)
        };
        push_record(
            &mut per_partition,
            id,
            key.into_bytes(),
            debezium_value(id, change, wrapped),
            n,
        );
    };
    let mut records = 0;
    for n in 0..changes {
        let id = rng.below(CDC_KEYS as usize) as u64;
        let wrapped = rng.below(2) == 0;
        let change = if source.contains_key(&id) && rng.below(4) == 0 {
            source.remove(&id);
            SourceChange::Delete
        } else {
            let op = match source.contains_key(&id) {
                true => "u",
                false if rng.below(10) == 0 => "r",
                false => "c",
            };
            let row = (
                format!("item-{id}-{}", rng.below(1_000_000)),
                rng.below(1_000) as i64 - 100,
                rng.below(10_000_000) as i64 - 1_000_000,
                op,
            );
            source.insert(id, row.clone());
            SourceChange::Upsert(op, row)
        };
        push(id, &change, wrapped, n);
        records += 1;
        if matches!(change, SourceChange::Delete) && rng.below(2) == 0 {
            push(id, &SourceChange::Tombstone, wrapped, n);
            records += 1;
        }
    }
    let mut tasks = Vec::new();
    for (p, batch) in per_partition.into_iter().enumerate() {
        let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
        tasks.push(tokio::spawn(async move {
            let offsets = produce(&bootstrap, &topic, &batch).await.unwrap();
            let expected: Vec<i64> = (0..batch.len() as i64).collect();
            assert_eq!(offsets, expected, "partition {p} of a fresh topic");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (source, records)
}

/// Changes of a source table through the whole flow into its mirror, under every upsert fault
/// and killed processes; the mirror must end equal to the source.
async fn soak_cdc(scenario: Scenario, avro: bool) {
    let requested = env_number("SOAK_RECORDS").map_or(0, |n| n as usize);
    let changes = requested.max(CDC_MIN_CHANGES);
    let seed = env_number("SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!(
        "soak {}: {changes} changes over {CDC_KEYS} keys, SOAK_SEED={seed} replays them and their faults",
        scenario.name
    );
    let started = std::time::Instant::now();
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "soak-cdc");
    create_topic(&bootstrap, &topic, PARTITIONS).await;
    let flow = TestEmulator::start().await;
    flow.sql(CDC_DDL).await;
    let registry = schema_registry::SchemaRegistry::start(([127, 0, 0, 1], 0).into(), None)
        .await
        .unwrap();
    let encoding = if avro {
        Encoding::Avro(Box::new(AvroSchemas::register(&registry, &topic)))
    } else {
        Encoding::Json
    };
    // The changes and the faults draw from two generators of the one seed.
    let mut changes_rng = Rng(seed ^ 0x5eed_cdc0);
    let (source, records) =
        produce_changes(&bootstrap, &topic, changes, &mut changes_rng, &encoding).await;

    let sink = std::fs::canonicalize(function_binary("sink")).unwrap();
    let level = std::env::var("SOAK_FUNCTION_LOG").unwrap_or_else(|_| "error".to_owned());
    let partial = if scenario.partial_batch {
        "true"
    } else {
        "false"
    };
    let env = [
        ("MAXCOMPUTE_TABLE", "cdc_mirror"),
        ("SINK_FORMAT", "DEBEZIUM"),
        ("SINK_PARTIAL_BATCH", partial),
        ("AWS_LAMBDA_LOG_LEVEL", level.as_str()),
    ];
    let mut settings = crate::support::settings(&flow, &bootstrap, &topic, "sink", &env);
    settings.function.binary = PathBuf::from(&sink);
    settings.function.timeout = scenario.timeout;
    settings.limits.batch_size = CDC_BATCH_SIZE;
    settings.report_batch_item_failures = scenario.partial_batch;
    if avro {
        settings.schema_registry = Some(trigger::schema::RegistryConfig {
            uri: registry.url(),
            format: trigger::schema::RecordFormat::Json,
            validate_key: true,
            validate_value: true,
        });
    }

    let budget = Duration::from_secs(120) + Duration::from_millis(10) * records as u32;
    let wan = through_wan(&flow, &mut settings).await;
    let running = trigger::start(settings).await.unwrap();
    let sinks = Sinks {
        binary: &sink,
        endpoint: &wan.endpoint,
    };
    let (injected, waited) = drive(
        &flow,
        &scenario,
        sinks,
        seed,
        &running,
        records as u64,
        budget,
    )
    .await;
    flow.clear_faults().await;
    let stats = running.stop().await.unwrap();

    let stored: Vec<(u64, SourceRow)> = flow
        .query("select id, name, qty, price, cdc_op from cdc_mirror")
        .await
        .into_iter()
        .skip(1)
        .map(|r| {
            let op = match r[4].as_str() {
                "c" => "c",
                "r" => "r",
                "u" => "u",
                other => panic!("cdc_op {other:?} in the mirror"),
            };
            // The price as MaxCompute shows DECIMAL(12,2): always two places.
            let cents = r[3].replace('.', "").parse::<i64>().unwrap();
            let row = (r[1].clone(), r[2].parse().unwrap(), cents, op);
            (r[0].parse().unwrap(), row)
        })
        .collect();
    let mirror: BTreeMap<u64, SourceRow> = stored.iter().cloned().collect();
    let differing: Vec<u64> = source
        .keys()
        .chain(mirror.keys())
        .filter(|id| source.get(id) != mirror.get(id))
        .copied()
        .collect::<std::collections::BTreeSet<u64>>()
        .into_iter()
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", wan.describe());
    println!(
        "soak (SOAK_SEED={seed}, {changes} changes over {CDC_KEYS} keys)\n\
         mode       | records | source rows | mirror rows | differing | invocations | failures | faults | kills | seconds\n\
         -----------|---------|-------------|-------------|-----------|-------------|----------|--------|-------|--------\n\
         {:<10} | {records:>7} | {:>11} | {:>11} | {:>9} | {:>11} | {:>8} | {:>6} | {:>5} | {seconds:>7.1}\n",
        scenario.name,
        source.len(),
        stored.len(),
        differing.len(),
        stats.invocations,
        stats.failed_invocations,
        injected.rules,
        injected.kills,
    );
    let replay = format!("replay: SOAK_SEED={seed} SOAK_RECORDS={changes}");
    assert_eq!(
        waited.committed_records, records as u64,
        "not every change was committed within {budget:?}: {waited:?} ({replay})"
    );
    assert_eq!(stored.len(), mirror.len(), "one row per key ({replay})");
    let examples: Vec<(u64, Option<&SourceRow>, Option<&SourceRow>)> = differing
        .iter()
        .take(5)
        .map(|id| (*id, source.get(id), mirror.get(id)))
        .collect();
    assert!(
        differing.is_empty(),
        "{} keys differ from the source, e.g. (id, source, mirror) {examples:?} ({replay})",
        differing.len()
    );
}

/// The change-data-capture scenario: its own driver, the machinery above, under every upsert
/// fault and killed processes, with partial batch responses.
fn cdc_scenario(name: &'static str) -> Scenario {
    Scenario {
        name,
        table: Table::Delta,
        tunnel: "stream",
        partial_batch: true,
        chaos: everything(UPSERT_KINDS),
        timeout: Duration::from_secs(3),
        exactly_once: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_mirror() {
    soak_cdc(cdc_scenario("cdc mirror"), false).await;
}

/// The same through the schema registry: Avro changes, decoded by the trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_mirror_avro() {
    soak_cdc(cdc_scenario("cdc avro"), true).await;
}

#[test]
fn murmur2_is_kafka_s() {
    // Values of Kafka's own UtilsTest.testMurmur2.
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
    assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58_897_971
    );
    assert_eq!(murmur2(b"abc"), 479_470_107);
}

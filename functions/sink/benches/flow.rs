//! The sink's whole flow on the largest event the trigger sends: 10,000 records in about 6 MB
//! of event JSON, decoded, turned into rows, encoded and written to a MaxCompute emulator.
//!
//! Prints one table: wall time per stage (best and median of several runs) in ms and in MB/s
//! of event JSON, the sink process's peak RSS, and PASS/FAIL against the targets (peak RSS under
//! 64 MB so a 128 MB Lambda holds it; at least 200 MB/s of event JSON through decode, row
//! building and encoding on one core, deflate excluded).
//!
//! The pure stages run in this process. The `Sink::handle` stages need a running emulator in
//! another process, named by the sink's own variables (`MAXCOMPUTE_ENDPOINT`,
//! `MAXCOMPUTE_PROJECT`, `MAXCOMPUTE_TABLE`, `ALIBABA_CLOUD_ACCESS_KEY_ID`,
//! `ALIBABA_CLOUD_ACCESS_KEY_SECRET`) on the seed's table; `scripts/bench-sink.sh` starts one.
//! Without them those rows say how to get them.
//!
//! Peak RSS is `VmHWM` of a fresh child process (this binary run again with
//! `SINK_BENCH_CHILD=pure|stream|batch|upsert`) that only builds the event, receives it the way the
//! Lambda runtime does (a second copy as a `Box<RawValue>`, then the first dropped) and handles
//! it [`WARM_INVOCATIONS`] times, so the timing runs' garbage and the emulator are not counted.
//!
//! With `SINK_BENCH_WAN` set (`scripts/bench-wan.sh`), it prints the WAN tables instead (see
//! [`wan`]).
//!
//! `SINK_BENCH_RUNS` sets the timed runs of each `Sink::handle` stage (default 5);
//! `SINK_BENCH_VALUE_BYTES` the mean record value size (default sized for a 6 MB event).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use maxcompute_core::codec::deflate;
use maxcompute_core::event::decode_event_str;
use maxcompute_core::partition::PartitionRouter;
use maxcompute_core::rows::{RowBuilder, build_rows};
use maxcompute_core::types::{Column, OdpsType, TableSchema};
use serde_json::value::RawValue;
use sink::config::{Config, vars};
use sink::handler::{MetricsOutput, Sink};
use sink::plan::{Planner, TableRows};
use sink::rejects::NoErrorTopic;

const RECORDS: usize = 10_000;
const KAFKA_PARTITIONS: usize = 4;
const TOPIC: &str = "orders";
/// The mean value size that makes the event about 6.0 MB, the trigger's cap per invocation:
/// with its base64, key, headers and coordinates a record takes about 600 bytes of JSON.
const DEFAULT_VALUE_BYTES: usize = 235;
/// 2026-11-25T07:30:00Z, 15:30 in GMT+08:00: the records span 15:30 to 16:30 local time, so
/// the batch fans out to two hourly partitions.
const FIRST_TIMESTAMP_MS: i64 = 1_795_591_800_000;
const SPAN_MS: i64 = 3_600_000;
/// Processing time handed to the handler (only used for records without a timestamp).
const NOW_MS: i64 = FIRST_TIMESTAMP_MS + 2 * SPAN_MS;

const TARGET_RSS_MB: f64 = 64.0;
const TARGET_PIPELINE_MB_S: f64 = 200.0;
/// Invocations a warm function handles in the peak-RSS children.
const WARM_INVOCATIONS: usize = 3;
/// The pure stages run for at least this long and at least [`MIN_RUNS`] times.
const PURE_TIME: Duration = Duration::from_millis(1500);
const MIN_RUNS: usize = 7;

const WORDS: [&str; 16] = [
    "kafka",
    "maxcompute",
    "event",
    "user",
    "click",
    "view",
    "order",
    "payment",
    "session",
    "region",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "cart",
    "item",
];

/// A JSON-ish order event of about `mean` bytes (±25 %, varying with `seed`), made of
/// pseudo-random words so that it compresses like real payloads do.
fn value(seed: u64, offset: i64, mean: usize, out: &mut String) {
    out.clear();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = mean * 3 / 4 + (next() as usize) % (mean / 2 + 1);
    write!(
        out,
        r#"{{"order_id":{offset},"customer":"customer-{:06}","status":"{}","amount":"{}.{:02}","note":""#,
        next() % 100_000,
        WORDS[(next() % 16) as usize],
        next() % 1000,
        next() % 100,
    )
    .unwrap();
    while out.len() + 2 < len {
        out.push_str(WORDS[(next() % 16) as usize]);
        out.push(' ');
    }
    out.push_str("\"}");
}

/// Header bytes as the trigger writes them: a JSON array of signed decimal bytes.
fn header_bytes(bytes: &[u8], out: &mut String) {
    out.push('[');
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "{}", *b as i8).unwrap();
    }
    out.push(']');
}

/// An MSK trigger event: `RECORDS` records over `KAFKA_PARTITIONS` lists, base64 keys and
/// values, two headers each (one with bytes over 127), CREATE_TIME timestamps across an hour
/// boundary in GMT+08:00. Written straight into one string, as large as the trigger sends.
fn event(mean_value: usize) -> String {
    event_spanning(mean_value, SPAN_MS)
}

/// [`event`] with the records' timestamps spread over `span_ms` from 15:30 local time.
fn event_spanning(mean_value: usize, span_ms: i64) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::with_capacity(RECORDS * (mean_value * 4 / 3 + 400) + 1024);
    out.push_str(
        r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/orders/a1b2c3d4-5678-90ab-cdef-1234567890ab-2","bootstrapServers":"b-1.orders.a1b2c3.c2.kafka.us-east-1.amazonaws.com:9098,b-2.orders.a1b2c3.c2.kafka.us-east-1.amazonaws.com:9098","records":{"#,
    );
    let per_list = RECORDS / KAFKA_PARTITIONS;
    let mut v = String::new();
    let mut scratch = String::new();
    for p in 0..KAFKA_PARTITIONS {
        if p > 0 {
            out.push(',');
        }
        write!(out, r#""{TOPIC}-{p}":["#).unwrap();
        for i in 0..per_list {
            if i > 0 {
                out.push(',');
            }
            let offset = 48_213_000 + i as i64;
            let ts = FIRST_TIMESTAMP_MS + span_ms * i as i64 / per_list as i64 + p as i64 * 7;
            let seed = (p * per_list + i) as u64;
            value(seed, offset, mean_value, &mut v);
            write!(
                out,
                r#"{{"topic":"{TOPIC}","partition":{p},"offset":{offset},"timestamp":{ts},"timestampType":"CREATE_TIME","key":""#
            )
            .unwrap();
            scratch.clear();
            write!(scratch, "customer-{:06}", seed % 100_000).unwrap();
            b64.encode_string(scratch.as_bytes(), &mut out);
            out.push_str(r#"","value":""#);
            b64.encode_string(v.as_bytes(), &mut out);
            out.push_str(r#"","headers":[{"content-type":"#);
            header_bytes(b"application/json", &mut out);
            out.push_str(r#"},{"trace-id":"#);
            let trace = (seed.wrapping_mul(0xA24B_AED4_963E_E407)).to_le_bytes();
            header_bytes(&trace, &mut out);
            out.push_str("}]}");
        }
        out.push(']');
    }
    out.push_str("}}");
    out
}

/// The seed's table as the emulator describes it.
fn seed_schema() -> TableSchema {
    let cols = [
        ("topic", "string"),
        ("partition", "bigint"),
        ("offset", "bigint"),
        ("key", "string"),
        ("value", "string"),
    ];
    TableSchema {
        columns: cols
            .iter()
            .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
            .collect(),
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    }
}

/// The write paths timed through `Sink::handle`, with their names in the tables.
const WRITE_PATHS: [(&str, &str); 3] = [
    ("stream", "Sink::handle, stream tunnel"),
    ("batch", "Sink::handle, batch tunnel"),
    ("upsert", "Sink::handle, upsert (Delta)"),
];

/// The Delta Table `scripts/bench-sink.sh` creates beside the seed's table.
const DELTA_TABLE: &str = "test_kafka_delta";

/// The sink's configuration from the environment, with the write path chosen here: `stream`
/// or `batch` append to the seed's table, `upsert` writes the Delta Table.
fn config(kind: &str) -> Option<Config> {
    std::env::var(vars::ENDPOINT).ok()?;
    let kind = kind.to_owned();
    let config = Config::from_lookup(move |name| match (name, kind.as_str()) {
        (vars::TUNNEL, "stream" | "batch") => Some(kind.clone()),
        (vars::WRITE, "upsert") => Some("upsert".to_owned()),
        (vars::TABLE, "upsert") => Some(DELTA_TABLE.to_owned()),
        _ => std::env::var(name).ok(),
    });
    Some(config.unwrap_or_else(|e| panic!("the sink's configuration: {e}")))
}

/// The defaults (seed table, DEFAULT mode, TEXT, HOUR in GMT+08:00) with a dummy endpoint,
/// for the stages that do no I/O.
fn offline_config() -> Config {
    let config = Config::from_lookup(|name| {
        match name {
            "MAXCOMPUTE_ENDPOINT" => Some("http://127.0.0.1:9/api"),
            "MAXCOMPUTE_PROJECT" => Some("connector_test"),
            "MAXCOMPUTE_TABLE" => Some("test_kafka"),
            "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("bench"),
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some("bench"),
            _ => None,
        }
        .map(str::to_owned)
    });
    config.unwrap()
}

/// The pure parts of a sink, built as `Sink::start` builds them.
struct Pipeline {
    builder: RowBuilder,
    router: PartitionRouter,
    planner: Planner,
    rows: TableRows,
}

impl Pipeline {
    fn new(config: &Config) -> Self {
        let schema = seed_schema();
        let router = PartitionRouter::new(&config.partition).unwrap();
        router.check_table(&schema).unwrap();
        let builder = RowBuilder::new(config.mode, config.format, router.zone(), &schema).unwrap();
        let planner = Planner::new(PartitionRouter::new(&config.partition).unwrap());
        let rows = TableRows::new(
            "test_kafka",
            RowBuilder::new(config.mode, config.format, router.zone(), &schema).unwrap(),
            &schema,
            None,
        );
        Self {
            builder,
            router,
            planner,
            rows,
        }
    }

    /// Decode and plan (build rows, encode): returns the encoded bytes.
    fn run(&self, event: &str) -> usize {
        let batch = decode_event_str(event).unwrap();
        let plan = self
            .planner
            .plan(&batch.records, batch.rejects, NOW_MS, &self.rows);
        assert!(plan.rejects.is_empty());
        plan.partitions
            .iter()
            .map(|p| p.encoded.bytes() as usize)
            .sum()
    }
}

/// This thread's time on a CPU (Linux), so a busy machine's waits are not counted as work.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The whole process's time on a CPU, every thread's (Linux): `Sink::handle` also works on the
/// runtime's workers (overlapped writes) and on blocking threads (compression). A thread that
/// ends in between is not counted.
fn process_cpu_time() -> Option<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// The timings of one stage.
struct Timings {
    runs: Vec<Duration>,
    /// Mean CPU time per run: this thread's for the pure stages, the process's for
    /// `Sink::handle`.
    cpu: Option<Duration>,
}

impl Timings {
    fn best(&self) -> Duration {
        self.runs.iter().copied().min().unwrap()
    }

    fn median(&self) -> Duration {
        let mut sorted = self.runs.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }
}

/// Runs `f` once to warm up, then for at least `time` and `min_runs` times.
fn measure(time: Duration, min_runs: usize, mut f: impl FnMut()) -> Timings {
    f();
    let mut runs = Vec::new();
    let start = Instant::now();
    let cpu_start = cpu_time();
    while start.elapsed() < time || runs.len() < min_runs {
        let t = Instant::now();
        f();
        runs.push(t.elapsed());
    }
    let cpu = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => Some((b - a) / runs.len() as u32),
        _ => None,
    };
    Timings { runs, cpu }
}

/// Times `Sink::handle` against the emulator; the first call (stream sessions opened,
/// partitions created) is the warm-up.
fn measure_handle(rt: &tokio::runtime::Runtime, tunnel: &str, event: &str, runs: usize) -> Timings {
    let config = config(tunnel).unwrap();
    rt.block_on(async {
        let sink = Sink::start_from_config(&config, Box::new(NoErrorTopic), deadline())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "starting the sink against {}: {e}",
                    config.connection.endpoint
                )
            })
            // The metrics lines would interleave with the tables.
            .with_metrics_output(MetricsOutput::to(|_| {}));
        let mut timings = Vec::with_capacity(runs);
        let mut cpu = Duration::ZERO;
        for run in 0..=runs {
            let cpu_start = process_cpu_time();
            let t = Instant::now();
            let response = sink.handle(event, NOW_MS, deadline()).await.unwrap();
            let elapsed = t.elapsed();
            assert_eq!(response.summary.rows_written, RECORDS as u64);
            if run > 0 {
                timings.push(elapsed);
                if let (Some(a), Some(b)) = (cpu_start, process_cpu_time()) {
                    cpu += b.saturating_sub(a);
                }
            }
        }
        Timings {
            runs: timings,
            cpu: Some(cpu / runs as u32),
        }
    })
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(120)
}

fn mean_value_bytes() -> usize {
    std::env::var("SINK_BENCH_VALUE_BYTES")
        .ok()
        .map(|v| v.parse().expect("SINK_BENCH_VALUE_BYTES is a number"))
        .unwrap_or(DEFAULT_VALUE_BYTES)
}

/// A field of /proc/self/status in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The peak-RSS child: prints `<VmRSS before the first invocation> <VmHWM at the end>` in kB.
fn child(kind: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = event(mean_value_bytes());
    let before = match kind {
        "pure" => {
            let pipeline = Pipeline::new(&offline_config());
            let raw: Box<RawValue> = serde_json::from_str(&text).unwrap();
            drop(text);
            let before = status_kb("VmRSS");
            for _ in 0..WARM_INVOCATIONS {
                black_box(pipeline.run(raw.get()));
            }
            before
        }
        "stream" | "batch" | "upsert" => {
            let config = config(kind).expect("the emulator's variables are set");
            rt.block_on(async {
                let sink = Sink::start_from_config(&config, Box::new(NoErrorTopic), deadline())
                    .await
                    .unwrap()
                    .with_metrics_output(MetricsOutput::to(|_| {}));
                // What lambda_runtime does: the HTTP body, parsed into the handler's
                // `Box<RawValue>` (a copy), then the body dropped.
                let raw: Box<RawValue> = serde_json::from_str(&text).unwrap();
                drop(text);
                let before = status_kb("VmRSS");
                for _ in 0..WARM_INVOCATIONS {
                    let response = sink.handle(raw.get(), NOW_MS, deadline()).await.unwrap();
                    assert_eq!(response.summary.rows_written, RECORDS as u64);
                }
                before
            })
        }
        other => panic!("unknown SINK_BENCH_CHILD={other}"),
    };
    println!("{before} {}", status_kb("VmHWM"));
}

/// Runs this binary as a peak-RSS child; returns (RSS before handling, peak RSS) in kB.
fn peak_rss(kind: &str) -> (u64, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("SINK_BENCH_CHILD", kind)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the {kind} peak-RSS child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut fields = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap());
    (fields.next().unwrap(), fields.next().unwrap())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    if let Ok(kind) = std::env::var("SINK_BENCH_CHILD") {
        child(&kind);
        return;
    }
    if std::env::var_os("SINK_BENCH_WAN").is_some() {
        wan::run();
        return;
    }
    let handle_runs: usize = std::env::var("SINK_BENCH_RUNS")
        .ok()
        .map(|v| v.parse().expect("SINK_BENCH_RUNS is a number"))
        .unwrap_or(5)
        .max(1);

    let text = event(mean_value_bytes());
    let bytes = text.len();
    let mb = |b: usize| b as f64 / 1e6;

    let offline = offline_config();
    let pipeline = Pipeline::new(&offline);
    let batch = decode_event_str(&text).unwrap();
    assert_eq!(batch.records.len(), RECORDS);
    assert!(batch.rejects.is_empty());
    let values: usize = batch
        .records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, bytes::Bytes::len))
        .sum();
    let plan = pipeline
        .planner
        .plan(&batch.records, Vec::new(), NOW_MS, &pipeline.rows);
    let packs: Vec<&[u8]> = plan
        .partitions
        .iter()
        .flat_map(|p| p.encoded.in_order())
        .map(|p| &p.bytes[..])
        .collect();
    let encoded_bytes: usize = packs.iter().map(|p| p.len()).sum();
    let deflated_bytes: usize = packs.iter().map(|p| deflate(p).len()).sum();
    let partitions: Vec<String> = plan.partitions.iter().map(|p| p.name()).collect();

    println!(
        "event: {RECORDS} records in {KAFKA_PARTITIONS} Kafka partitions, {:.2} MB of JSON \
         (values {:.0} B on average); {} partitions ({}); encoded {:.2} MB, deflated {:.2} MB",
        mb(bytes),
        values as f64 / RECORDS as f64,
        partitions.len(),
        partitions.join(", "),
        mb(encoded_bytes),
        mb(deflated_bytes),
    );
    eprintln!("==> timing the pure stages");

    let mut rows: Vec<(String, Timings, Option<bool>)> = Vec::new();
    rows.push((
        "decode (decode_event_str)".into(),
        measure(PURE_TIME, MIN_RUNS, || {
            black_box(decode_event_str(black_box(&text)).unwrap());
        }),
        None,
    ));
    // A floor for decoding: one validating pass of serde_json over the event, keeping nothing.
    rows.push((
        "  reference: one JSON pass".into(),
        measure(PURE_TIME, MIN_RUNS, || {
            black_box(serde_json::from_str::<serde::de::IgnoredAny>(black_box(&text)).unwrap());
        }),
        None,
    ));
    rows.push((
        "build rows (build_rows)".into(),
        measure(PURE_TIME, MIN_RUNS, || {
            black_box(build_rows(
                &batch.records,
                &pipeline.builder,
                &pipeline.router,
                NOW_MS,
            ));
        }),
        None,
    ));
    rows.push((
        "plan: build rows + encode (Planner::plan)".into(),
        measure(PURE_TIME, MIN_RUNS, || {
            black_box(
                pipeline
                    .planner
                    .plan(&batch.records, Vec::new(), NOW_MS, &pipeline.rows),
            );
        }),
        None,
    ));
    let together = measure(PURE_TIME, MIN_RUNS, || {
        black_box(pipeline.run(black_box(&text)));
    });
    // Judged on this thread's CPU time per run, which is what "on one core" asks and what a
    // shared machine does not inflate by making the thread wait for a core; the best and median
    // wall times are printed beside it.
    let pipeline_mb_s = mb(bytes)
        / together
            .cpu
            .unwrap_or_else(|| together.best())
            .as_secs_f64();
    rows.push((
        "decode + plan (build + encode)".into(),
        together,
        Some(pipeline_mb_s >= TARGET_PIPELINE_MB_S),
    ));
    rows.push((
        "deflate (of the encoded packs)".into(),
        measure(PURE_TIME, MIN_RUNS, || {
            for p in &packs {
                black_box(deflate(black_box(p)));
            }
        }),
        None,
    ));

    let online = config("stream").is_some();
    let mut rss: Vec<(&str, Option<(u64, u64)>)> = Vec::new();
    eprintln!("==> measuring peak RSS of decode + build + encode in a child process");
    rss.push(("decode + build + encode", Some(peak_rss("pure"))));
    let mut skipped = Vec::new();
    if online {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        for (kind, name) in WRITE_PATHS {
            eprintln!("==> timing {name}, {handle_runs} runs");
            rows.push((
                name.to_owned(),
                measure_handle(&rt, kind, &text, handle_runs),
                None,
            ));
            eprintln!("==> measuring peak RSS of {name} in a child process");
            rss.push((name, Some(peak_rss(kind))));
        }
    } else {
        for (_, name) in WRITE_PATHS {
            rss.push((name, None));
        }
        skipped.push(format!(
            "Sink::handle stages skipped: {} is not set; run `bash scripts/bench-sink.sh`, which \
             starts an emulator and sets the sink's variables",
            vars::ENDPOINT
        ));
    }

    println!();
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>10} {:>11}  {:<12} result",
        "stage (event JSON in MB/s)",
        "best ms",
        "median ms",
        "CPU ms",
        "best MB/s",
        "median MB/s",
        "target",
    );
    for (name, t, pass) in &rows {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let rate = |d: Duration| mb(bytes) / d.as_secs_f64();
        let cpu = t.cpu.map_or("n/a".to_owned(), |c| format!("{:.1}", ms(c)));
        let (target, result) = match pass {
            Some(p) => (
                format!(">= {TARGET_PIPELINE_MB_S:.0} MB/s"),
                format!("{} (CPU time)", verdict(*p)),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "{name:<32} {:>9.1} {:>9.1} {cpu:>9} {:>10.0} {:>11.0}  {target:<12} {result}",
            ms(t.best()),
            ms(t.median()),
            rate(t.best()),
            rate(t.median()),
        );
    }
    println!();
    println!(
        "{:<32} {:>10} {:>9}  {:<12} result",
        "peak RSS (VmHWM, own process)", "before MiB", "peak MiB", "target",
    );
    for (name, m) in &rss {
        match m {
            Some((before, peak)) => {
                let peak_mb = *peak as f64 / 1024.0;
                println!(
                    "{name:<32} {:>10.1} {:>9.1}  {:<12} {}",
                    *before as f64 / 1024.0,
                    peak_mb,
                    format!("< {TARGET_RSS_MB:.0} MiB"),
                    verdict(peak_mb < TARGET_RSS_MB)
                );
            }
            None => println!("{name:<32} {:>10} {:>9}  {:<12} skipped", "-", "-", ""),
        }
    }
    println!(
        "\n(throughput in MB = 10^6 bytes of event JSON per second; CPU is this thread's for the \
         pure stages and the whole process's, every thread, for Sink::handle; RSS \"before\" is \
         the process with the sink started and the event received, \"peak\" its VmHWM after \
         {WARM_INVOCATIONS} invocations)"
    );
    for s in &skipped {
        println!("{s}");
    }
}

/// `Sink::handle` in a warm sink with a WAN between it and the emulator (`wan_proxy`): the
/// invocation's wall time, its requests by kind and connections as the proxy saw them, the
/// request body bytes the client sent (compressed), and the ratio of the wall time to the
/// limit, one RTT plus those bytes at the bandwidth.
///
/// One table per tunnel kind and partitions per batch with the configured compression (the
/// sink's default unless `SINK_COMPRESS` is set), then one of the codecs on the stream tunnel.
/// `WAN_RTT_MS` (default 60), `WAN_MB_S` (20, both ways), `SINK_BENCH_WAN_RUNS` (timed runs per
/// row, default 3) and `SINK_BENCH_WAN_CODECS` (default `none,deflate,zstd,lz4,snappy`) shape
/// it.
mod wan {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use sink::config::{Config, vars};
    use sink::handler::{MetricsOutput, Sink};
    use sink::rejects::NoErrorTopic;
    use wan_proxy::{WanConfig, WanProxy, WanStats};

    use super::{
        DELTA_TABLE, FIRST_TIMESTAMP_MS, NOW_MS, RECORDS, deadline, event_spanning,
        mean_value_bytes,
    };

    /// Spans from 15:30 local time that put the records in one hourly partition (to 15:55)
    /// and in four (to 18:59).
    const SPANS: [(usize, i64); 2] = [(1, 25 * 60_000), (4, 3 * 3_600_000 + 29 * 60_000)];
    const KINDS: [&str; 3] = ["stream", "batch", "upsert"];
    const CODECS: &str = "none,deflate,zstd,lz4,snappy";

    fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
        match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
            Err(_) => default,
        }
    }

    /// One row: the median run's figures.
    struct Row {
        label: String,
        wall: Duration,
        best: Duration,
        requests: u64,
        connections: u64,
        bytes_sent: u64,
        limit: Duration,
        kinds: BTreeMap<String, u64>,
    }

    /// The sink's configuration from the environment, pointed at the proxy, for `kind` and
    /// `compress` (`None`: the environment's or the default).
    fn config(proxy: SocketAddr, kind: &str, compress: Option<&str>) -> Config {
        let endpoint = format!("http://{proxy}/api");
        let tunnel = format!("http://{proxy}");
        let kind = kind.to_owned();
        let compress = compress.map(str::to_owned);
        Config::from_lookup(move |name| match (name, kind.as_str()) {
            (vars::ENDPOINT, _) => Some(endpoint.clone()),
            // The emulator advertises its own address as the tunnel's; the WAN is the proxy.
            ("MAXCOMPUTE_TUNNEL_ENDPOINT", _) => Some(tunnel.clone()),
            (vars::COMPRESS, _) if compress.is_some() => compress.clone(),
            (vars::TUNNEL, "stream" | "batch") => Some(kind.clone()),
            (vars::WRITE, "upsert") => Some("upsert".to_owned()),
            (vars::TABLE, "upsert") => Some(DELTA_TABLE.to_owned()),
            _ => std::env::var(name).ok(),
        })
        .unwrap_or_else(|e| panic!("the sink's configuration: {e}"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn measure(
        proxy: &WanProxy,
        wan: WanConfig,
        bandwidth: f64,
        label: String,
        kind: &str,
        compress: Option<&str>,
        (partitions, event): &(usize, String),
        runs: usize,
    ) -> Row {
        let config = config(proxy.local_addr(), kind, compress);
        let sink = Sink::start_from_config(&config, Box::new(NoErrorTopic), deadline())
            .await
            .unwrap_or_else(|e| panic!("starting the sink through the WAN: {e}"))
            .with_metrics_output(MetricsOutput::to(|_| {}));
        // The warm-up: sessions opened, partitions created.
        let response = sink.handle(event, NOW_MS, deadline()).await.unwrap();
        assert_eq!(response.summary.rows_written, RECORDS as u64);
        assert_eq!(response.summary.partitions.len(), *partitions, "{label}");
        let mut measured: Vec<(Duration, WanStats, u64)> = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (proxy_before, client_before) = (proxy.stats(), sink.client().stats());
            let t = Instant::now();
            let response = sink.handle(event, NOW_MS, deadline()).await.unwrap();
            let wall = t.elapsed();
            assert_eq!(response.summary.rows_written, RECORDS as u64);
            let client = sink.client().stats();
            let seen = proxy.stats().since(&proxy_before);
            // Every request went through the WAN, none around it.
            assert_eq!(
                seen.requests_total(),
                client.requests - client_before.requests,
                "requests the proxy saw vs the client sent ({label})"
            );
            measured.push((wall, seen, client.bytes_sent - client_before.bytes_sent));
        }
        measured.sort_by_key(|(wall, _, _)| *wall);
        let best = measured[0].0;
        let (wall, seen, bytes_sent) = measured.swap_remove(measured.len() / 2);
        Row {
            label,
            wall,
            best,
            requests: seen.requests_total(),
            connections: seen.connections,
            bytes_sent,
            limit: wan.rtt + Duration::from_secs_f64(bytes_sent as f64 / bandwidth),
            kinds: seen.requests,
        }
    }

    /// A request kind without the `/api/projects/{}/tables/{}` and `curr_project` every
    /// tunnel call has.
    fn short(kind: &str) -> String {
        kind.replace("/api/projects/{}/tables/{}", "…")
            .replace("/projects/{}/tables/{}", "…")
            .replace("curr_project&", "")
            .replace("&curr_project", "")
    }

    fn print(title: &str, rows: &[Row]) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!();
        println!(
            "{title:<34} {:>9} {:>9} {:>8} {:>6} {:>9} {:>9} {:>6}",
            "median ms", "best ms", "requests", "conns", "sent MB", "limit ms", "ratio"
        );
        for r in rows {
            println!(
                "{:<34} {:>9.0} {:>9.0} {:>8} {:>6} {:>9.3} {:>9.0} {:>6.1}",
                r.label,
                ms(r.wall),
                ms(r.best),
                r.requests,
                r.connections,
                r.bytes_sent as f64 / 1e6,
                ms(r.limit),
                r.wall.as_secs_f64() / r.limit.as_secs_f64(),
            );
        }
        println!("  requests by kind (median run):");
        for r in rows {
            let kinds: Vec<String> = r
                .kinds
                .iter()
                .map(|(k, n)| format!("{n} {}", short(k)))
                .collect();
            println!("  {:<32} {}", r.label, kinds.join(", "));
        }
    }

    pub(super) fn run() {
        let endpoint = std::env::var(vars::ENDPOINT).unwrap_or_else(|_| {
            panic!(
                "{} is not set; run `bash scripts/bench-wan.sh`, which starts an emulator",
                vars::ENDPOINT
            )
        });
        let upstream: SocketAddr = endpoint
            .trim_start_matches("http://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{endpoint} is not http://<ip:port>/..."));
        let rtt_ms: u64 = env("WAN_RTT_MS", 60);
        let mb_s: f64 = env("WAN_MB_S", 20.0);
        let runs: usize = env("SINK_BENCH_WAN_RUNS", 3).max(1);
        let codecs = std::env::var("SINK_BENCH_WAN_CODECS").unwrap_or_else(|_| CODECS.into());
        let bandwidth = mb_s * 1e6;
        let wan = WanConfig::symmetric(Duration::from_millis(rtt_ms), Some(bandwidth as u64));
        let default_compress = std::env::var(vars::COMPRESS).ok();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let proxy = WanProxy::start("127.0.0.1:0".parse().unwrap(), upstream, wan)
                .await
                .unwrap();
            let events: Vec<(usize, String)> = SPANS
                .iter()
                .map(|(n, span)| (*n, event_spanning(mean_value_bytes(), *span)))
                .collect();
            println!(
                "WAN: {rtt_ms} ms RTT, {mb_s} MB/s each way, a TCP handshake's RTT per new \
                 connection (connections are kept alive, so a warm sink opens none); events of \
                 {RECORDS} records, {:.2} MB of JSON, from {} (ms since the epoch); median of \
                 {runs} runs in a warm sink; limit = one RTT + request body bytes / bandwidth",
                events[0].1.len() as f64 / 1e6,
                FIRST_TIMESTAMP_MS,
            );
            let compress_label = default_compress.as_deref().unwrap_or("the default");
            let mut rows = Vec::new();
            for kind in KINDS {
                for event in &events {
                    let label = format!("{kind}, {} partition(s)", event.0);
                    eprintln!("==> WAN: {label}, {runs} runs");
                    rows.push(
                        measure(&proxy, wan, bandwidth, label, kind, None, event, runs).await,
                    );
                }
            }
            print(
                &format!("Sink::handle (SINK_COMPRESS: {compress_label})"),
                &rows,
            );
            let mut rows = Vec::new();
            for codec in codecs.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                for event in &events {
                    let label = format!("{codec}, {} partition(s)", event.0);
                    eprintln!("==> WAN: stream tunnel, {label}, {runs} runs");
                    rows.push(
                        measure(
                            &proxy,
                            wan,
                            bandwidth,
                            label,
                            "stream",
                            Some(codec),
                            event,
                            runs,
                        )
                        .await,
                    );
                }
            }
            print("stream tunnel by SINK_COMPRESS", &rows);
        });
    }
}

//! Throughput of the pure pipeline on a full-size trigger event: decode, then build rows and
//! route them. Prints a table; run with `cargo bench -p maxcompute-core --bench pipeline`.
//!
//! The event is the worst case the trigger sends: 10,000 records and about 6 MB of JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use maxcompute_core::event::decode_event;
use maxcompute_core::partition::{PartitionConfig, PartitionRouter};
use maxcompute_core::rows::{Format, Mode, RowBuilder, build_rows};
use maxcompute_core::types::{Column, OdpsType, TableSchema};

const RECORDS: usize = 10_000;
const PARTITIONS: usize = 4;

/// A trigger event shaped like the MSK example, with JSON text values of ~420 bytes.
fn event() -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let per_list = RECORDS / PARTITIONS;
    let mut lists = Vec::new();
    for p in 0..PARTITIONS {
        let mut records = Vec::with_capacity(per_list);
        for i in 0..per_list {
            let offset = 1_000_000 + i;
            let value = format!(
                r#"{{"order_id":{offset},"customer":"customer-{i:06}","items":[{{"sku":"SKU-{i:05}","qty":{q},"price":"{i}.99"}}],"note":"{pad}"}}"#,
                q = i % 7 + 1,
                pad = "lorem ipsum dolor sit amet ".repeat(6),
            );
            records.push(format!(
                r#"{{"topic":"orders","partition":{p},"offset":{offset},"timestamp":{ts},"timestampType":"CREATE_TIME","key":"{key}","value":"{value}","headers":[{{"source":[119,101,98]}},{{"trace":[45,12,-3,99,100,101,102,103]}}]}}"#,
                ts = 1_750_237_198_120_i64 + (i as i64) * 360,
                key = b64.encode(format!("customer-{i:06}")),
                value = b64.encode(value),
            ));
        }
        lists.push(format!(r#""orders-{p}":[{}]"#, records.join(",")));
    }
    format!(
        r#"{{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/demo/1","bootstrapServers":"b-1:9092,b-2:9092","records":{{{}}}}}"#,
        lists.join(",")
    )
}

fn schema() -> TableSchema {
    let cols = [
        ("topic", "string"),
        ("partition", "bigint"),
        ("offset", "bigint"),
        ("key", "string"),
        ("value", "string"),
        ("timestamp", "datetime"),
        ("headers", "string"),
    ];
    TableSchema {
        columns: cols
            .iter()
            .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
            .collect(),
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    }
}

/// This thread's time on a CPU in nanoseconds (Linux), so that figures on a busy machine count
/// only the work done and not the time spent waiting for a core.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `f` for about two seconds; reports the fastest wall-clock run and the mean CPU time.
fn measure(name: &str, bytes: usize, mut f: impl FnMut()) {
    f(); // warm up
    let mut best = Duration::MAX;
    let mut runs = 0u32;
    let start = Instant::now();
    let cpu_start = cpu_ns();
    while start.elapsed() < Duration::from_secs(2) || runs < 5 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    let mb_s = |secs: f64| bytes as f64 / secs / 1e6;
    let cpu = match (cpu_start, cpu_ns()) {
        (Some(a), Some(b)) => {
            let secs = (b - a) as f64 / 1e9 / f64::from(runs);
            format!("{:>8.2} ms | {:>8.0} MB/s", secs * 1e3, mb_s(secs))
        }
        _ => format!("{:>11} | {:>13}", "n/a", "n/a"),
    };
    let wall = best.as_secs_f64();
    println!(
        "| {name:<46} | {:>8.2} ms | {:>8.0} MB/s | {cpu} |",
        wall * 1e3,
        mb_s(wall)
    );
}

fn main() {
    let text = event();
    let bytes = text.len();
    println!(
        "event: {RECORDS} records, {:.2} MB of JSON\n",
        bytes as f64 / 1e6
    );
    println!(
        "| {:<46} | {:>11} | {:>13} | {:>11} | {:>13} |",
        "stage", "fastest", "event JSON", "mean CPU", "event JSON"
    );
    println!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(48),
        "-".repeat(13),
        "-".repeat(15),
        "-".repeat(13),
        "-".repeat(15)
    );

    measure("decode_event", bytes, || {
        black_box(decode_event(black_box(text.as_bytes())).unwrap());
    });

    let batch = decode_event(text.as_bytes()).unwrap();
    assert_eq!(batch.records.len(), RECORDS);
    // What decoding is measured against: one serde_json pass over the event that keeps nothing,
    // the base64 decoding of every key and value alone (each into a fresh vector with the SIMD
    // decoder, as decoding does), and a copy of the event's bytes.
    measure(
        "  reference: one serde_json pass (IgnoredAny)",
        bytes,
        || {
            black_box(serde_json::from_str::<serde::de::IgnoredAny>(black_box(&text)).unwrap());
        },
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoded: Vec<String> = batch
        .records
        .iter()
        .flat_map(|r| [&r.key, &r.value])
        .flatten()
        .map(|bytes| b64.encode(bytes))
        .collect();
    let mut out = Vec::new();
    measure(
        "  reference: base64 of keys and values alone",
        bytes,
        || {
            for s in &encoded {
                out.clear();
                b64.decode_vec(black_box(s), &mut out).unwrap();
                black_box(&out);
            }
        },
    );
    measure("  reference: the same with base64-simd", bytes, || {
        for s in &encoded {
            black_box(base64_simd::STANDARD.decode_to_vec(black_box(s)).unwrap());
        }
    });
    let mut copy = vec![0u8; bytes];
    measure("  reference: memcpy of the event", bytes, || {
        copy.copy_from_slice(black_box(text.as_bytes()));
        black_box(&copy);
    });
    let router = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    let table = schema();
    for (mode, format, label) in [
        (
            Mode::Default,
            Format::Text,
            "build_rows DEFAULT TEXT (+timestamp, headers)",
        ),
        (Mode::Value, Format::Json, "build_rows VALUE JSON"),
    ] {
        let builder = RowBuilder::new(mode, format, router.zone(), &table).unwrap();
        measure(label, bytes, || {
            black_box(build_rows(&batch.records, &builder, &router, 0));
        });
    }

    // JSON values into columns named like their fields: every number and string converted, the
    // array kept as text. Beside it, the floor the former `serde_json::Value` parse set (numbers
    // through f64), so the cost of keeping every number's text shows in one run.
    let json_table = TableSchema {
        columns: [
            ("order_id", "bigint"),
            ("customer", "string"),
            ("items", "string"),
            ("note", "string"),
            ("offset", "bigint"),
        ]
        .iter()
        .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
        .collect(),
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    };
    let builder = RowBuilder::new(Mode::Value, Format::Json, router.zone(), &json_table).unwrap();
    let built = build_rows(&batch.records, &builder, &router, 0);
    assert!(built.rejects.is_empty(), "{:?}", built.rejects.first());
    measure("build_rows VALUE JSON (fields by name)", bytes, || {
        black_box(build_rows(&batch.records, &builder, &router, 0));
    });
    measure(
        "  reference: serde_json::Value of each value",
        bytes,
        || {
            for r in &batch.records {
                let v = r.value.as_deref().unwrap_or_default();
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(v)).unwrap());
            }
        },
    );

    let seed = TableSchema {
        columns: schema().columns.into_iter().take(5).collect(),
        ..schema()
    };
    let builder = RowBuilder::new(Mode::Default, Format::Text, router.zone(), &seed).unwrap();
    measure("decode + build_rows DEFAULT TEXT (seed)", bytes, || {
        let batch = decode_event(text.as_bytes()).unwrap();
        black_box(build_rows(&batch.records, &builder, &router, 0));
    });
}

//! Encoder throughput on Kafka-shaped rows (`topic STRING, partition BIGINT, offset BIGINT,
//! key STRING, value STRING`, 1 KiB values), uncompressed and with `deflate`.
//!
//! Cases: `encode` builds one body of all rows (about 106 MB); `encode-blocks` builds one body
//! per 4000 rows (about 4 MB, what one Lambda batch of at most 6 MB becomes), so the output
//! buffers stay warm as they do in a running sink; `encode+deflate` is `encode` then `deflate`.
//! Prints a table (best of several runs). `scripts/bench_pyodps.py` builds the very same rows
//! for pyodps' C writer, and `scripts/bench-encoder.sh` puts the two side by side; it sets
//! `ENCODE_BENCH_TSV=1` to get machine-readable lines. `ENCODE_BENCH_ROWS` and
//! `ENCODE_BENCH_RUNS` change the row count (default 100000) and runs (default 7).
//! With `ENCODE_BENCH_VERIFY=<file>` it only decodes that body (pyodps' output for the same
//! rows) and checks it holds exactly these rows, so the comparison is known to be like for like.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use shared::codec::{RecordWriter, decode_block, deflate};
use shared::types::{OdpsType, Value};

const VALUE_LEN: usize = 1024;
/// Rows per body in the `encode-blocks` case (mirrored in bench_pyodps.py).
const BLOCK_ROWS: usize = 4000;
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

/// The record value of offset `i`: a JSON-ish text of pseudo-random words, exactly 1 KiB, so
/// it compresses about as well as real event payloads. Mirrored exactly in bench_pyodps.py.
fn value(i: u64) -> Vec<u8> {
    let mut s = format!("{{\"offset\":{i},\"body\":\"");
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while s.len() < VALUE_LEN {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(WORDS[(x % 16) as usize]);
        s.push(' ');
    }
    s.truncate(VALUE_LEN - 2);
    s.push_str("\"}");
    s.into_bytes()
}

fn rows(n: u64) -> Vec<Vec<Value>> {
    (0..n)
        .map(|i| {
            let offset = 1_000_000 + i;
            vec![
                Value::text("orders"),
                Value::Integer((i % 16) as i64),
                Value::Integer(offset as i64),
                Value::text(format!("key-{offset}")),
                Value::Bytes(value(offset)),
            ]
        })
        .collect()
}

fn types() -> Vec<OdpsType> {
    ["string", "bigint", "bigint", "string", "string"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect()
}

fn encode(types: &[OdpsType], rows: &[Vec<Value>], capacity: usize) -> Vec<u8> {
    let mut w = RecordWriter::with_capacity(types.to_vec(), capacity);
    for r in rows {
        w.write(r).unwrap();
    }
    w.finish()
}

/// Best wall time of `runs` runs of `f`, and the output size of the last run.
fn best(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        size = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, size)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_usize("ENCODE_BENCH_ROWS", 100_000);
    let runs = env_usize("ENCODE_BENCH_RUNS", 7);
    let tsv = std::env::var_os("ENCODE_BENCH_TSV").is_some();
    let types = types();
    let rows = rows(n as u64);
    if let Some(path) = std::env::var_os("ENCODE_BENCH_VERIFY") {
        let body = std::fs::read(&path).unwrap();
        let decoded = decode_block(&types, &body).unwrap();
        assert!(
            decoded == rows,
            "{path:?} does not hold the benchmark's {n} rows"
        );
        println!("{} holds the same {n} rows", path.to_string_lossy());
        return;
    }
    let encoded = encode(&types, &rows, 0);
    let capacity = encoded.len();

    let (t_plain, size_plain) = best(runs, || encode(&types, &rows, capacity).len());
    let block_capacity = capacity / rows.len().max(1) * BLOCK_ROWS + 64;
    let (t_blocks, size_blocks) = best(runs, || {
        rows.chunks(BLOCK_ROWS)
            .map(|block| encode(&types, block, block_capacity).len())
            .sum()
    });
    let (t_zlib, size_zlib) = best(runs, || deflate(&encode(&types, &rows, capacity)).len());

    let cases = [
        ("encode", t_plain, size_plain),
        ("encode-blocks", t_blocks, size_blocks),
        ("encode+deflate", t_zlib, size_zlib),
    ];
    if tsv {
        for (name, t, size) in cases {
            let s = t.as_secs_f64();
            println!(
                "{name}\t{n}\t{:.0}\t{:.1}\t{size}",
                n as f64 / s,
                encoded.len() as f64 / s / 1e6
            );
        }
        return;
    }
    println!("rust shared::codec, {n} Kafka rows (1 KiB values), best of {runs} runs");
    println!(
        "{:<16} {:>12} {:>14} {:>14}",
        "case", "rows/s", "MB/s encoded", "output bytes"
    );
    for (name, t, size) in cases {
        let s = t.as_secs_f64();
        println!(
            "{name:<16} {:>12.0} {:>14.1} {size:>14}",
            n as f64 / s,
            encoded.len() as f64 / s / 1e6
        );
    }
}

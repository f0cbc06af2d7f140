//! Encoder throughput on Kafka-shaped rows (`topic STRING, partition BIGINT, offset BIGINT,
//! key STRING, value STRING`, 1 KiB values), uncompressed and with each Tunnel codec.
//!
//! Cases: `encode` builds one body of all rows (about 106 MB); `encode-blocks` builds one body
//! per 4000 rows (about 4 MB, what one Lambda batch of at most 6 MB becomes). Both take their
//! output buffers warm, as a running sink does: bodies finished with `finish_bytes` hand their
//! buffer back to the benchmark's `BufferPool` once dropped (the very first large body still
//! pays its page faults).
//! The compressed cases (`deflate-1`, `deflate-6`, `zstd-3`, `lz4`, `snappy`: each codec at
//! pyodps's default level, and deflate at 6) encode and compress one body per 4000 rows, as
//! the sink compresses each pack it uploads. Prints a table (best of several runs; MB/s of
//! uncompressed record bytes, and the compression ratio). `scripts/bench_pyodps.py` builds the
//! very same rows for pyodps' C writer and its compress streams, and `scripts/bench-encoder.sh`
//! puts the two side by side; it sets `ENCODE_BENCH_TSV=1` to get machine-readable lines.
//! `ENCODE_BENCH_ROWS`, `ENCODE_BENCH_RUNS` and `ENCODE_BENCH_COMPRESS_RUNS` change the row
//! count (default 100000) and the runs of the plain (default 7) and compressed cases (default 3).
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

use maxcompute_core::codec::{BufferPool, Codec, Compression, RecordWriter, decode_block};
use maxcompute_core::types::{OdpsType, Value};

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

fn encode(
    types: &[OdpsType],
    rows: &[Vec<Value>],
    capacity: usize,
    pool: &BufferPool,
) -> bytes::Bytes {
    let mut w = RecordWriter::pooled(types.to_vec(), capacity, pool);
    for r in rows {
        w.write(r).unwrap();
    }
    w.finish_bytes()
}

/// The compressed cases: name, codec, level (`None`: pyodps's default).
const CODECS: [(&str, Codec, Option<i32>); 5] = [
    ("deflate-1", Codec::Deflate, Some(1)),
    ("deflate-6", Codec::Deflate, Some(6)),
    ("zstd-3", Codec::Zstd, Some(3)),
    ("lz4", Codec::Lz4, None),
    ("snappy", Codec::Snappy, None),
];

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
    let pool = BufferPool::new();
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
    let capacity = encode(&types, &rows, 0, &pool).len();
    let plain_len = capacity;
    let compress_runs = env_usize("ENCODE_BENCH_COMPRESS_RUNS", 3);

    let (t_plain, size_plain) = best(runs, || encode(&types, &rows, capacity, &pool).len());
    let block_capacity = capacity / rows.len().max(1) * BLOCK_ROWS + 64;
    let (t_blocks, size_blocks) = best(runs, || {
        rows.chunks(BLOCK_ROWS)
            .map(|block| encode(&types, block, block_capacity, &pool).len())
            .sum()
    });
    let mut cases = vec![
        ("encode", t_plain, size_plain),
        ("encode-blocks", t_blocks, size_blocks),
    ];
    for (name, codec, level) in CODECS {
        let compression = Compression::new(codec, level).unwrap();
        let (t, size) = best(compress_runs, || {
            rows.chunks(BLOCK_ROWS)
                .map(|block| {
                    let body = encode(&types, block, block_capacity, &pool);
                    compression.compress(&body).unwrap().len()
                })
                .sum()
        });
        cases.push((name, t, size));
    }

    if tsv {
        for (name, t, size) in cases {
            let s = t.as_secs_f64();
            println!(
                "{name}\t{n}\t{:.0}\t{:.1}\t{size}",
                n as f64 / s,
                plain_len as f64 / s / 1e6
            );
        }
        return;
    }
    println!(
        "rust maxcompute_core::codec, {n} Kafka rows (1 KiB values), best of {runs} runs ({compress_runs} compressed)"
    );
    println!(
        "{:<16} {:>12} {:>14} {:>14} {:>7}",
        "case", "rows/s", "MB/s encoded", "output bytes", "ratio"
    );
    for (name, t, size) in cases {
        let s = t.as_secs_f64();
        println!(
            "{name:<16} {:>12.0} {:>14.1} {size:>14} {:>7.2}",
            n as f64 / s,
            plain_len as f64 / s / 1e6,
            plain_len as f64 / size.max(1) as f64
        );
    }
}

//! `maxcompute_core::codec` compression against pyodps 0.13.2's own streams, every run, both ways.
//!
//! `tests/differential/compression.py make` draws random bodies from a seed (empty, random
//! bytes, word soup, long runs, record-like mixtures, now and then a few MiB) and compresses
//! each with pyodps's upload streams for zlib, zstd, lz4 and snappy; this test decompresses
//! every one with [`decompress`]. Then it compresses every body with every codec at a level
//! drawn from the same seed (pyodps's default for half of them) and hands the result to
//! `compression.py check`, which decompresses it with pyodps's download streams.
//!
//! The seed is printed; `DIFFERENTIAL_SEED=<n>` replays a run.

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use maxcompute_core::codec::{Codec, Compression, decompress};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value as Json, json};

use test_support::python::{python, seed, workspace_root};

/// Bodies per run.
const COUNT: usize = 60;

/// pyodps's name for each codec (`CompressOption(compress_algo=...)`).
fn algo(codec: Codec) -> &'static str {
    match codec {
        Codec::Deflate => "zlib",
        Codec::Zstd => "zstd",
        Codec::Lz4 => "lz4",
        Codec::Snappy => "snappy",
    }
}

fn run(args: &[&str], stdin: Option<&[u8]>, seed: u64) -> Json {
    let script = workspace_root().join("tests/differential/compression.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.unwrap_or_default().to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}); replay with DIFFERENTIAL_SEED={seed}:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} printed no JSON ({e})", script.display()))
}

fn bytes(v: &Json) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn compression_matches_pyodps_both_ways() {
    let seed = seed();
    println!("differential compression: DIFFERENTIAL_SEED={seed}");
    let made = run(
        &[
            "make",
            "--seed",
            &seed.to_string(),
            "--count",
            &COUNT.to_string(),
        ],
        None,
        seed,
    );
    let bodies = made["bodies"].as_array().unwrap();
    assert_eq!(bodies.len(), COUNT);

    let mut failures = Vec::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = Vec::new();
    let mut levels = Vec::new();
    for (i, entry) in bodies.iter().enumerate() {
        let body = bytes(&entry["body"]);
        for codec in Codec::ALL {
            let theirs = bytes(&entry[algo(codec)]);
            match decompress(codec, &theirs, body.len()) {
                Ok(got) if got == body => {}
                Ok(got) => failures.push(format!(
                    "body {i}, pyodps {codec}: {} bytes back, want {}",
                    got.len(),
                    body.len()
                )),
                Err(e) => failures.push(format!("body {i}, pyodps {codec}: {e}")),
            }
            let level = match codec.levels() {
                Some(range) if rng.random_bool(0.5) => Some(rng.random_range(range)),
                _ => None,
            };
            let ours = Compression::new(codec, level).unwrap();
            levels.push(format!("body {i}, {codec} level {:?}", ours.level()));
            cases.push(json!({
                "algo": algo(codec),
                "body": entry["body"],
                "compressed": STANDARD.encode(ours.compress(&body).unwrap()),
            }));
        }
    }
    let checked = run(
        &["check"],
        Some(&serde_json::to_vec(&json!({ "cases": cases })).unwrap()),
        seed,
    );
    for f in checked["failures"].as_array().unwrap() {
        let index = f["index"].as_u64().unwrap() as usize;
        failures.push(format!(
            "{}: pyodps cannot read ours: {}",
            levels[index], f["error"]
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed (DIFFERENTIAL_SEED={seed}):\n{}",
        failures.len(),
        COUNT * Codec::ALL.len() * 2,
        failures.join("\n")
    );
}

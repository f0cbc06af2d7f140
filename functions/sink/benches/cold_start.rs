//! Cold start: from exec of the sink binary (built in this profile) to its answer to the seed's
//! event, written into a MaxCompute emulator, as Lambda's `Init` plus the first invocation.
//!
//! Each run starts a new process behind the local Lambda runtime API
//! (`lambda_emulator::runtime`), invokes it once and stops it; the MaxCompute emulator runs in
//! this process on loopback. Two paths: the AccessKey from the environment, and the AccessKey
//! from a Secrets Manager secret through the extension's local stand-in, which deployments use.
//! Prints best, median and slowest of `SINK_BENCH_COLD_RUNS` runs (default 20) and PASS/FAIL
//! against the target (the median under 30 ms).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use lambda_emulator::runtime::{Function, FunctionSpec, Outcome};
use lambda_emulator::secrets::LocalSecrets;
use maxcompute_emulator::testing::{ACCESS_ID, ACCESS_SECRET, TestEmulator};

const TARGET: Duration = Duration::from_millis(30);
const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";
const SECRET_ID: &str = "maxcompute-access-key";
const SESSION_TOKEN: &str = "bench-session-token";

async fn cold_starts(env: Vec<(String, String)>, event: &[u8], runs: usize) -> Vec<Duration> {
    let spec = FunctionSpec {
        name: "kafka-maxcompute-sink".to_owned(),
        binary: env!("CARGO_BIN_EXE_sink").into(),
        env,
        timeout: Duration::from_secs(30),
        memory_mb: 256,
    };
    let mut function = Function::new(spec).await.unwrap();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let outcome = function.invoke(event.to_vec().into()).await.unwrap();
        times.push(started.elapsed());
        let Outcome::Response(body) = &outcome else {
            panic!("the cold start failed: {outcome:?}")
        };
        assert!(body.contains("\"rowsWritten\":1"), "{body}");
        // The next invocation starts a new process: a cold start again.
        function.stop().await;
    }
    times.sort();
    times
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("SINK_BENCH_COLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(20);
    let event = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/seed-test-message.json"
    ))
    .unwrap();
    let emulator = TestEmulator::start().await;
    emulator.sql(SEED_DDL).await;
    let table = [("MAXCOMPUTE_TABLE", "test_kafka"), ("RUST_LOG", "warn")];

    let secrets = LocalSecrets::start("127.0.0.1:0".parse().unwrap(), SESSION_TOKEN)
        .await
        .unwrap();
    secrets.put(
        SECRET_ID,
        &serde_json::json!({ "AccessKeyId": ACCESS_ID, "AccessKeySecret": ACCESS_SECRET })
            .to_string(),
    );
    let mut from_secret = emulator.env_with(
        &[
            &table[..],
            &[
                ("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
                ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
                ("ALIBABA_CLOUD_CREDENTIALS_SECRET", SECRET_ID),
            ],
        ]
        .concat(),
    );
    from_secret.extend(secrets.function_env());

    let cases = [
        ("AccessKey in the environment", emulator.env_with(&table)),
        ("AccessKey from Secrets Manager", from_secret),
    ];
    println!(
        "Cold start: exec of the sink binary to its answer to events/seed-test-message.json ({runs} runs each)"
    );
    println!(
        "| {:<32} | {:>8} | {:>10} | {:>11} | {:>6} | {:<6} |",
        "path", "best ms", "median ms", "slowest ms", "target", "median"
    );
    println!(
        "|{:-<34}|{:->10}|{:->12}|{:->13}|{:->8}|{:-<8}|",
        "", "", "", "", "", ""
    );
    let mut ok = true;
    for (name, env) in cases {
        let times = cold_starts(env, &event, runs).await;
        let median = times[times.len() / 2];
        let pass = median < TARGET;
        ok &= pass;
        println!(
            "| {:<32} | {:>8} | {:>10} | {:>11} | {:>6} | {:<6} |",
            name,
            ms(times[0]),
            ms(median),
            ms(times[times.len() - 1]),
            format!("<{}", TARGET.as_millis()),
            if pass { "PASS" } else { "FAIL" }
        );
    }
    assert_eq!(
        secrets.reads() as usize,
        runs,
        "each cold start reads the secret once"
    );
    if !ok {
        std::process::exit(1);
    }
}

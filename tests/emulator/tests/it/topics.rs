//! Several topics through `emulator trigger` as a user runs it: the command (its built binary)
//! reads the project's template with `SourceTopics=a,b`, runs one mapping per topic, each with
//! its own consumer group, and both feed the one sink, which writes both topics into the seed's
//! table of the in-process MaxCompute emulator.

use std::time::Duration;

use crate::support::{create_topic, function_binary, require_broker, unique_topic};
use lambda_emulator::trigger::tools::{NewRecord, produce};
use lambda_emulator::trigger::{self};
use maxcompute_emulator::testing::TestEmulator;

fn record(key: &str, value: &str) -> NewRecord {
    NewRecord {
        partition: 0,
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        ..NewRecord::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topics_of_the_template_are_two_mappings_into_one_function() {
    let bootstrap = require_broker().await;
    let a = unique_topic("topics", "a");
    let b = unique_topic("topics", "b");
    create_topic(&bootstrap, &a, 1).await;
    create_topic(&bootstrap, &b, 1).await;
    let flow = TestEmulator::start().await;
    flow.sql(crate::sink_flow::SEED_DDL).await;
    produce(
        &bootstrap,
        &a,
        &[record("1", "a-one"), record("2", "a-two")],
    )
    .await
    .unwrap();
    produce(&bootstrap, &b, &[record("3", "b-one")])
        .await
        .unwrap();

    let connector = unique_topic("c", "topics");
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let mut args: Vec<String> = [
        "trigger",
        "--template",
        template,
        "--bootstrap",
        &bootstrap,
        "--parameter",
        &format!("SourceTopics={a},{b}"),
        "--parameter",
        "KafkaSource=SelfManagedKafka",
        "--parameter",
        "ConsumerOffset=earliest",
        "--parameter",
        &format!("ConnectorName={connector}"),
        "--window-ms",
        "200",
        "--timeout",
        "30",
        "--stop-after",
        "3",
        "--max-wait",
        "120",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push("--function".to_owned());
    args.push(function_binary("sink").display().to_string());
    for (k, v) in flow.env_with(&[("MAXCOMPUTE_TABLE", "test_kafka")]) {
        args.push("--env".to_owned());
        args.push(format!("{k}={v}"));
    }
    let done = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_emulator"))
            .args(&args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    // One start line per mapping, each with its own group.
    for topic in [&a, &b] {
        let group = format!("group connect-{connector}-{topic},");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("trigger: {topic} ")) && l.contains(&group)),
            "{stdout}"
        );
    }

    let mut rows: Vec<(String, String, String)> = flow
        .query("select topic, offset, value from test_kafka")
        .await
        .into_iter()
        .skip(1)
        .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone(), r.get(2)?.clone())))
        .collect();
    rows.sort();
    let mut expected = vec![
        (a.clone(), "0".to_owned(), "a-one".to_owned()),
        (a.clone(), "1".to_owned(), "a-two".to_owned()),
        (b.clone(), "0".to_owned(), "b-one".to_owned()),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    // Each mapping committed its own group's offsets.
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &format!("connect-{connector}-{a}"), &a).unwrap(),
        [(0, 2)].into()
    );
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &format!("connect-{connector}-{b}"), &b).unwrap(),
        [(0, 1)].into()
    );
}

//! `StartingPosition: LATEST` over a real broker (tansu, `bash scripts/broker.sh start`;
//! address from `KAFKA_BOOTSTRAP`, default `127.0.0.1:19092`): a trigger started on a topic
//! that already holds records delivers only the records produced after it started, however
//! the old ones were produced. The local broker can report a high watermark short of what it
//! holds after a produce request of several records; the trigger finds the end by reading.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sink_flow::SEED_DDL;
use crate::support::{create_topic, require_broker, settings, unique_topic};
use lambda_emulator::trigger::tools::{NewRecord, produce, produce_together};
use lambda_emulator::trigger::{self, StartingPosition};
use maxcompute_emulator::testing::TestEmulator;

/// 2020-11-17T07:04:05.123Z.
const T15: i64 = 1_605_596_645_123;

fn records(prefix: &str, n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            partition: 0,
            key: Some(format!("{prefix}{i}").into_bytes()),
            value: Some(format!("{prefix}{i}").into_bytes()),
            headers: vec![],
            timestamp_ms: Some(T15),
        })
        .collect()
}

/// The high watermark the broker reports for partition 0 (for the record; not trusted).
fn reported_high(bootstrap: &str, topic: &str) -> i64 {
    lambda_emulator::trigger::tools::watermarks(bootstrap, topic, 0)
        .unwrap()
        .1
}

/// Fills a topic with 200 records in `requests` produce requests, starts the sink's trigger
/// at LATEST, produces 5 more, and checks that exactly those 5 were delivered.
async fn only_new_records_after(requests: usize) {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", &format!("latest{requests}"));
    create_topic(&bootstrap, &topic, 1).await;
    let flow = TestEmulator::start().await;
    flow.query(SEED_DDL).await;
    let old = records("old", 200);
    let mut offsets = Vec::new();
    for chunk in old.chunks(200 / requests) {
        offsets.extend(produce_together(&bootstrap, &topic, chunk).await.unwrap());
    }
    assert_eq!(offsets, (0..200).collect::<Vec<i64>>());
    let high = reported_high(&bootstrap, &topic);
    eprintln!(
        "{requests} produce request(s) of 200 records: the broker reports high watermark {high}"
    );
    assert_eq!(
        trigger::end_offset(&bootstrap, &topic, 0, high.min(200)).unwrap(),
        200
    );

    let mut s = settings(
        &flow,
        &bootstrap,
        &topic,
        "sink",
        &[("MAXCOMPUTE_TABLE", "test_kafka")],
    );
    s.starting_position = StartingPosition::Latest;
    let group = s.group.clone();
    let mut running = trigger::start(s).await.unwrap();
    produce(&bootstrap, &topic, &records("new", 5))
        .await
        .unwrap();
    let stats = running
        .wait_for(
            |s| s.committed.get(&0).is_some_and(|o| *o >= 205),
            Duration::from_secs(60),
        )
        .await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed.get(&0), Some(&205), "{stats:?}");
    assert_eq!(
        stats.committed_records, 5,
        "old records replayed: {stats:?}"
    );
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::from([(0, 205)])
    );
    let rows = flow
        .query(&format!("select * from test_kafka where topic = '{topic}'"))
        .await;
    let mut keys: Vec<String> = rows.iter().skip(1).map(|r| r[3].clone()).collect();
    keys.sort();
    assert_eq!(keys, ["new0", "new1", "new2", "new3", "new4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_after_one_produce_request_of_200_records_delivers_only_new_ones() {
    only_new_records_after(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_after_several_produce_requests_delivers_only_new_ones() {
    only_new_records_after(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_an_empty_partition_is_zero_and_of_a_read_one_its_next_offset() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "end");
    create_topic(&bootstrap, &topic, 1).await;
    assert_eq!(trigger::end_offset(&bootstrap, &topic, 0, 0).unwrap(), 0);
    produce(&bootstrap, &topic, &records("r", 3)).await.unwrap();
    for from in 0..=3 {
        assert_eq!(trigger::end_offset(&bootstrap, &topic, 0, from).unwrap(), 3);
    }
}

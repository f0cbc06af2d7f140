//! The whole local flow over a real broker: records produced to a Kafka topic (tansu, started by
//! `bash scripts/broker.sh start`; address from `KAFKA_BOOTSTRAP`, default `127.0.0.1:19092`),
//! the emulator's trigger, the sink as its deployed binary, and the MaxCompute emulator
//! in-process. Rows land in the right partitions, the consumer group's offsets move only after
//! success, failures lose nothing, and partial batch responses resume from the reported offset.
//! Each test uses its own topic and consumer group.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{create_topic, require_broker, unique_topic};
use lambda_emulator::trigger::tools::{NewRecord, produce};
use lambda_emulator::trigger::{self, Settings, StartingPosition};
use maxcompute_emulator::testing::TestEmulator;

/// 2020-11-17T07:04:05.123Z: 15:04 in GMT+08:00, so partition `11-17-2020 15`.
const T15: i64 = 1_605_596_645_123;
const T16: i64 = T15 + 3_600_000;

/// The seed's table.
pub(crate) const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";

/// The emulator with the seed's table.
async fn start() -> TestEmulator {
    let flow = TestEmulator::start().await;
    flow.sql(SEED_DDL).await;
    flow
}

/// The sink on `topic`, writing into the seed's table, partial batch responses honoured.
fn settings(
    flow: &TestEmulator,
    bootstrap: &str,
    topic: &str,
    extra_env: &[(&str, &str)],
) -> Settings {
    let env = [&[("MAXCOMPUTE_TABLE", "test_kafka")][..], extra_env].concat();
    let mut s = crate::support::settings(flow, bootstrap, topic, "sink", &env);
    s.function.name = "kafka-maxcompute-sink".to_owned();
    s.report_batch_item_failures = true;
    s
}

fn record(partition: i32, key: &str, value: &str, timestamp_ms: i64) -> NewRecord {
    NewRecord {
        partition,
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![("source".to_owned(), b"test".to_vec())],
        timestamp_ms: Some(timestamp_ms),
    }
}

/// `(partition, offset, key, value)` of the rows in one MaxCompute partition, sorted.
async fn rows(flow: &TestEmulator, topic: &str, pt: &str) -> Vec<(String, String, String, String)> {
    let table = flow
        .query(&format!(
            "select * from test_kafka where pt = '{pt}' and topic = '{topic}'"
        ))
        .await;
    let mut out: Vec<_> = table
        .iter()
        .skip(1)
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone(), r[4].clone()))
        .collect();
    out.sort_by_key(|(p, o, _, _)| (p.parse::<i64>().unwrap(), o.parse::<i64>().unwrap()));
    out
}

fn row(p: i32, o: i64, k: &str, v: &str) -> (String, String, String, String) {
    (p.to_string(), o.to_string(), k.to_owned(), v.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_become_rows_and_offsets_are_committed_after_success() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "happy");
    create_topic(&bootstrap, &topic, 2).await;
    let flow = start().await;
    let mut s = settings(&flow, &bootstrap, &topic, &[]);
    // Batches fill by count, so their number is known: 5 records of partition 0 in batches
    // of 2 are three invocations (the last one when the window closes), 3 of partition 1 two.
    s.limits.batch_size = 2;
    s.limits.window = Duration::from_secs(2);
    let group = s.group.clone();

    produce(
        &bootstrap,
        &topic,
        &[
            record(0, "1", "1", T15),
            record(0, "2", "two", T15 + 1),
            record(0, "3", "three", T16),
            record(0, "4", "four", T16 + 1),
            record(0, "5", "five", T15 + 2),
            record(1, "a", "x", T15),
            record(1, "b", "y", T16),
            record(1, "c", "z", T16 + 5),
        ],
    )
    .await
    .unwrap();
    // Nothing is committed before the trigger ran.
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::new()
    );

    let mut running = trigger::start(s).await.unwrap();
    let stats = running.wait_committed(8, Duration::from_secs(60)).await;
    let stats_final = running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 8, "{stats:?}");
    assert_eq!(stats_final.invocations, 5, "{stats_final:?}");
    assert_eq!(stats_final.failed_invocations, 0);
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::from([(0, 5), (1, 3)])
    );

    assert_eq!(
        rows(&flow, &topic, "11-17-2020 15").await,
        vec![
            row(0, 0, "1", "1"),
            row(0, 1, "2", "two"),
            row(0, 4, "5", "five"),
            row(1, 0, "a", "x"),
        ]
    );
    assert_eq!(
        rows(&flow, &topic, "11-17-2020 16").await,
        vec![
            row(0, 2, "3", "three"),
            row(0, 3, "4", "four"),
            row(1, 1, "b", "y"),
            row(1, 2, "c", "z"),
        ]
    );

    // A second trigger of the same group starts at the committed offsets: only new records.
    produce(&bootstrap, &topic, &[record(1, "d", "new", T15)])
        .await
        .unwrap();
    let mut again = trigger::start(settings(&flow, &bootstrap, &topic, &[]))
        .await
        .unwrap();
    let stats = again.wait_committed(1, Duration::from_secs(30)).await;
    again.stop().await.unwrap();
    assert_eq!(stats.committed_records, 1);
    assert_eq!(stats.committed, BTreeMap::from([(1, 4)]));
    let count = flow
        .query(&format!(
            "select count(*) from test_kafka where topic = '{topic}'"
        ))
        .await;
    assert_eq!(count[1], vec!["9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_loses_nothing_and_offsets_move_only_after_success() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "failing");
    create_topic(&bootstrap, &topic, 1).await;
    let flow = start().await;
    let mut s = settings(&flow, &bootstrap, &topic, &[]);
    s.function.timeout = Duration::from_secs(3);
    let group = s.group.clone();
    // Every stream write fails (transiently) until the rule is removed: each invocation
    // retries inside its deadline, then fails, and the trigger retries the whole batch.
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 1000000, "action": "error",
        "status": 503, "code": "ServiceUnavailable"
    }))
    .await;
    produce(
        &bootstrap,
        &topic,
        &[record(0, "1", "1", T15), record(0, "2", "2", T15)],
    )
    .await
    .unwrap();
    let mut running = trigger::start(s).await.unwrap();

    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    while running.stats().failed_invocations < 2 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{:?}",
            running.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running.stats().committed_records, 0);
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::new(),
        "offsets moved while the function failed"
    );

    maxcompute_client::http_client_builder()
        .build()
        .expect("an HTTP client")
        .delete(format!("http://{}/_emulator/faults", flow.server.addr))
        .send()
        .await
        .unwrap();
    let stats = running.wait_committed(2, Duration::from_secs(60)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 2, "{stats:?}");
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::from([(0, 2)])
    );
    assert_eq!(
        rows(&flow, &topic, "11-17-2020 15").await,
        vec![row(0, 0, "1", "1"), row(0, 1, "2", "2")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_invocation_restarts_the_function_and_is_retried() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "timeout");
    create_topic(&bootstrap, &topic, 1).await;
    let flow = start().await;
    let mut s = settings(&flow, &bootstrap, &topic, &[]);
    // The first write hangs far past the function's timeout. The timeout itself leaves a cold
    // start and a write on a loaded machine seconds to spare, so that only the hang times out.
    s.function.timeout = Duration::from_secs(5);
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 1, "action": "hang", "millis": 15000
    }))
    .await;
    produce(&bootstrap, &topic, &[record(0, "1", "1", T15)])
        .await
        .unwrap();
    let mut running = trigger::start(s).await.unwrap();
    let stats = running.wait_committed(1, Duration::from_secs(60)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 1, "{stats:?}");
    assert!(stats.failed_invocations >= 1, "{stats:?}");
    let written = rows(&flow, &topic, "11-17-2020 15").await;
    assert!(
        written.contains(&row(0, 0, "1", "1")),
        "the record was lost: {written:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_response_resumes_from_the_reported_offset() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "partial");
    create_topic(&bootstrap, &topic, 1).await;
    let flow = start().await;
    let mut s = settings(&flow, &bootstrap, &topic, &[("SINK_PARTIAL_BATCH", "true")]);
    s.limits.window = Duration::from_secs(1);
    let group = s.group.clone();
    // One batch, two MaxCompute partitions, hours interleaved: hour 15 (the older) is written
    // first and its one write fails permanently; hour 16 is then not tried, so nothing of the
    // batch is written and the sink reports offset 0.
    produce(
        &bootstrap,
        &topic,
        &[
            record(0, "a", "16a", T16),
            record(0, "b", "15b", T15),
            record(0, "c", "15c", T15),
            record(0, "d", "16d", T16),
        ],
    )
    .await
    .unwrap();
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 1, "action": "error",
        "status": 400, "code": "MalformedDataStream"
    }))
    .await;
    let mut running = trigger::start(s).await.unwrap();
    let stats = running.wait_committed(4, Duration::from_secs(60)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 4, "{stats:?}");
    assert_eq!(stats.invocations, 2, "{stats:?}");
    assert_eq!(stats.failed_invocations, 1, "{stats:?}");
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::from([(0, 4)])
    );
    assert_eq!(
        rows(&flow, &topic, "11-17-2020 15").await,
        vec![row(0, 1, "b", "15b"), row(0, 2, "c", "15c")]
    );
    // The retry wrote every record once: the failed invocation had written nothing.
    assert_eq!(
        rows(&flow, &topic, "11-17-2020 16").await,
        vec![row(0, 0, "a", "16a"), row(0, 3, "d", "16d")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_is_restarted_cold_until_it_can() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "cold");
    create_topic(&bootstrap, &topic, 1).await;
    let flow = start().await;
    // The table does not exist yet: every cold start fails (Permanent.TableSchema) and the process
    // is thrown away, as Lambda does, until the table is created.
    let s = settings(
        &flow,
        &bootstrap,
        &topic,
        &[("MAXCOMPUTE_TABLE", "late_table")],
    );
    let group = s.group.clone();
    produce(&bootstrap, &topic, &[record(0, "1", "1", T15)])
        .await
        .unwrap();
    let mut running = trigger::start(s).await.unwrap();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    while running.stats().failed_invocations < 2 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{:?}",
            running.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &topic).unwrap(),
        BTreeMap::new()
    );
    flow.query(&SEED_DDL.replace("test_kafka", "late_table"))
        .await;
    let stats = running.wait_committed(1, Duration::from_secs(60)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 1, "{stats:?}");
    let table = flow.query("select key, value, pt from late_table").await;
    assert_eq!(table[1], vec!["1", "1", "11-17-2020 15"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_records_are_split_so_that_no_event_is_over_6_mb() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "large");
    create_topic(&bootstrap, &topic, 1).await;
    let flow = start().await;
    let mut s = settings(&flow, &bootstrap, &topic, &[]);
    s.limits.window = Duration::from_secs(3);
    s.function.timeout = Duration::from_secs(60);
    // 900 000 bytes are 1 200 000 in base64: five fit in a 6 MB event, seven do not.
    let big = vec![b'x'; 900_000];
    let records: Vec<NewRecord> = (0..7)
        .map(|i| NewRecord {
            partition: 0,
            key: Some(i.to_string().into_bytes()),
            value: Some(big.clone()),
            headers: vec![],
            timestamp_ms: Some(T15),
        })
        .collect();
    produce(&bootstrap, &topic, &records).await.unwrap();
    let mut running = trigger::start(s).await.unwrap();
    let stats = running.wait_committed(7, Duration::from_secs(90)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 7, "{stats:?}");
    // Seven do not fit in one event, so it takes two invocations at least; how the rest is cut
    // depends on when the trigger reads the records within its window (a third invocation on a
    // busy machine), which this test does not pin.
    assert!(stats.invocations >= 2, "{stats:?}");
    let count = flow
        .query(&format!(
            "select count(*) from test_kafka where topic = '{topic}'"
        ))
        .await;
    assert_eq!(count[1], vec!["7"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_skips_what_was_there_before_the_start_and_delivers_the_rest() {
    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "latest");
    create_topic(&bootstrap, &topic, 1).await;
    let flow = start().await;
    produce(&bootstrap, &topic, &[record(0, "old", "old", T15)])
        .await
        .unwrap();
    let mut s = settings(&flow, &bootstrap, &topic, &[]);
    s.starting_position = StartingPosition::Latest;
    let mut running = trigger::start(s).await.unwrap();
    produce(&bootstrap, &topic, &[record(0, "new", "new", T15)])
        .await
        .unwrap();
    let stats = running.wait_committed(1, Duration::from_secs(30)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed, BTreeMap::from([(0, 2)]), "{stats:?}");
    assert_eq!(
        rows(&flow, &topic, "11-17-2020 15").await,
        vec![row(0, 1, "new", "new")]
    );
}

#[tokio::test]
async fn a_missing_topic_is_a_clear_error() {
    let bootstrap = require_broker().await;
    let flow = start().await;
    let err = trigger::start(settings(
        &flow,
        &bootstrap,
        &unique_topic("flow", "missing"),
        &[],
    ))
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("create it first") || message.contains("broker.sh"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_reaches_the_error_topic_byte_for_byte_through_the_trigger() {
    use lambda_emulator::trigger::tools::read;
    use maxcompute_core::error_record::{ErrorMessage, OriginalPayload};

    let bootstrap = require_broker().await;
    let topic = unique_topic("flow", "bad");
    let errors = unique_topic("flow", "bad-errors");
    create_topic(&bootstrap, &topic, 1).await;
    create_topic(&bootstrap, &errors, 1).await;
    let flow = start().await;
    // No SINK_ERROR_BOOTSTRAP_SERVERS: the sink finds the cluster in the event's
    // bootstrapServers, which the trigger fills in.
    let s = settings(&flow, &bootstrap, &topic, &[("SINK_ERROR_TOPIC", &errors)]);
    let headers = vec![
        ("h".to_owned(), vec![0x00, 0xff, 0x80, 0x7f]),
        ("h".to_owned(), b"again".to_vec()),
        ("empty".to_owned(), vec![]),
    ];
    produce(
        &bootstrap,
        &topic,
        &[
            record(0, "good", "fine", T15),
            NewRecord {
                partition: 0,
                key: Some(b"bad".to_vec()),
                value: Some(vec![0xff, 0xfe, b'!']),
                headers: headers.clone(),
                timestamp_ms: Some(T15 + 7),
            },
        ],
    )
    .await
    .unwrap();
    let mut running = trigger::start(s).await.unwrap();
    let stats = running.wait_committed(2, Duration::from_secs(60)).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 2, "{stats:?}");
    assert_eq!(stats.failed_invocations, 0, "{stats:?}");
    assert_eq!(
        rows(&flow, &topic, "11-17-2020 15").await,
        vec![row(0, 0, "good", "fine")]
    );

    let stored = read(&bootstrap, &errors, 0, 0, 1, Duration::from_secs(10)).unwrap();
    assert_eq!(stored.len(), 1, "the error topic: {stored:?}");
    let parsed = ErrorMessage {
        key: stored[0].key.clone(),
        value: stored[0].value.clone(),
        headers: stored[0]
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap()))
            .collect(),
        timestamp_ms: stored[0].timestamp_ms,
    }
    .parse()
    .unwrap();
    assert_eq!(parsed.error.class, "invalid_utf8");
    assert_eq!(parsed.original.topic.as_deref(), Some(topic.as_str()));
    assert_eq!(parsed.original.offset, Some(1));
    assert_eq!(parsed.original.timestamp_ms, Some(T15 + 7));
    assert_eq!(parsed.original.key.as_deref(), Some(&b"bad"[..]));
    assert_eq!(
        parsed.original.payload,
        OriginalPayload::Value(Some(vec![0xff, 0xfe, b'!']))
    );
    assert_eq!(parsed.original.headers, headers);
}

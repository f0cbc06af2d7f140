//! The trigger's provisioned-mode error handling over a real broker (tansu, `bash
//! scripts/broker.sh start`; address from `KAFKA_BOOTSTRAP`, default `127.0.0.1:19092`), with
//! the sink and the error handler as their deployed binaries: a batch the sink can never take
//! is retried `MaximumRetryAttempts` times (split in halves first with
//! `BisectBatchOnFunctionError`), then written record by record to the on-failure destination
//! (the error topic) in AWS's format, and the partition moves on; the error handler stores
//! those records as `trigger_gave_up`. Records older than `MaximumRecordAgeInSeconds` are given
//! up without being sent. Outcomes are decided by counts and offsets, never by elapsed time:
//! old records are produced with timestamps years in the past.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sink_flow::SEED_DDL;
use crate::support::{create_topic, require_broker, settings, unique_topic};
use error_handler::envelope;
use error_handler::table::COLUMNS;
use lambda_emulator::trigger::retry::ErrorHandling;
use lambda_emulator::trigger::tools::{NewRecord, produce, read_all};
use lambda_emulator::trigger::{self, Settings, Stats};
use maxcompute_core::types::Value;
use maxcompute_emulator::testing::TestEmulator;

/// 2020-11-17T07:04:05.123Z.
const T15: i64 = 1_605_596_645_123;

fn record(key: &str, value: &str, timestamp_ms: Option<i64>) -> NewRecord {
    NewRecord {
        partition: 0,
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![("h".to_owned(), vec![0x00, 0xff])],
        timestamp_ms,
    }
}

/// The sink on `source` writing into `table`, with the given error handling.
fn sink(
    flow: &TestEmulator,
    bootstrap: &str,
    source: &str,
    table: &str,
    handling: ErrorHandling,
) -> Settings {
    let mut s = settings(
        flow,
        bootstrap,
        source,
        "sink",
        &[("MAXCOMPUTE_TABLE", table)],
    );
    s.function.name = "kafka-maxcompute-sink".to_owned();
    s.error_handling = handling;
    s
}

fn handling(retries: i64, age: i64, bisect: bool, errors: &str) -> ErrorHandling {
    ErrorHandling::from_settings(
        Some(retries),
        Some(age),
        Some(bisect),
        Some(&format!("kafka://{errors}")),
    )
    .unwrap()
}

/// Waits until partition 0 of the trigger's topic is committed up to `offset`.
async fn wait_offset(running: &mut trigger::Running, offset: i64) -> Stats {
    running
        .wait_for(
            |s| s.committed.get(&0).is_some_and(|o| *o >= offset),
            Duration::from_secs(90),
        )
        .await
}

/// The on-failure records in the error topic, unwrapped by the error handler's own parser.
fn envelopes(
    bootstrap: &str,
    errors: &str,
    count: usize,
) -> Vec<(Option<Vec<u8>>, envelope::Envelope)> {
    let records = lambda_emulator::trigger::tools::read(
        bootstrap,
        errors,
        0,
        0,
        count,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(records.len(), count, "{records:?}");
    records
        .into_iter()
        .map(|r| {
            let value = r.value.unwrap_or_default();
            let parsed = envelope::parse(&value)
                .unwrap_or_else(|| panic!("not an envelope: {}", String::from_utf8_lossy(&value)));
            (r.key, parsed)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_always_fails_is_bisected_given_up_to_the_error_topic_and_passed() {
    let bootstrap = require_broker().await;
    let source = unique_topic("flow", "giveup");
    let errors = unique_topic("flow", "giveup-errors");
    for topic in [&source, &errors] {
        create_topic(&bootstrap, topic, 1).await;
    }
    let flow = TestEmulator::start().await;
    let keys = ["k0", "k1", "k2", "k3"];
    let batch: Vec<NewRecord> = keys
        .iter()
        .map(|k| record(k, &format!("v-{k}"), Some(T15)))
        .collect();
    produce(&bootstrap, &source, &batch).await.unwrap();

    // The table does not exist: every invocation fails at the sink's cold start.
    let mut s = sink(
        &flow,
        &bootstrap,
        &source,
        "late_table",
        handling(1, -1, true, &errors),
    );
    s.limits.batch_size = 4;
    // The batch fills by count at once; the long window only keeps a stall between two
    // records of one fetch from cutting it short.
    s.limits.window = Duration::from_secs(5);
    let group = s.group.clone();
    let mut running = trigger::start(s).await.unwrap();
    let stats = wait_offset(&mut running, 4).await;
    // Four records: 1 invocation of four, 2 of two, 4 of one, and 1 retry of each single
    // record (MaximumRetryAttempts 1); splits use no retries.
    assert_eq!(stats.invocations, 11, "{stats:?}");
    assert_eq!(stats.failed_invocations, 11, "{stats:?}");
    assert_eq!(stats.bisections, 3, "{stats:?}");
    assert_eq!(stats.given_up_records, 4, "{stats:?}");
    assert_eq!(stats.committed_records, 4, "{stats:?}");
    assert_eq!(
        trigger::committed_offsets(&bootstrap, &group, &source).unwrap(),
        BTreeMap::from([(0, 4)])
    );

    let given_up = envelopes(&bootstrap, &errors, 4);
    for (i, (key, e)) in given_up.iter().enumerate() {
        assert_eq!(
            key.as_deref(),
            Some(keys[i].as_bytes()),
            "keyed by the record's key"
        );
        assert!(e.retries_exhausted(), "{e:?}");
        assert_eq!(e.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(e.approximate_invoke_count, Some(4), "{e:?}");
        assert_eq!(e.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(e.function_name().as_deref(), Some("kafka-maxcompute-sink"));
        assert!(e.request_id.is_some());
        assert_eq!(e.payload.records.len(), 1);
        let r = &e.payload.records[0];
        assert_eq!(
            (&*r.topic, r.partition, r.offset),
            (source.as_str(), 0, i as i64)
        );
        assert_eq!(
            r.value.as_deref(),
            Some(format!("v-{}", keys[i]).as_bytes())
        );
        assert_eq!(r.timestamp_ms, T15);
        assert_eq!(r.headers.to_vec(), vec![("h".to_owned(), vec![0x00, 0xff])]);
    }

    // The partition moved on: once the table exists, the next record is written.
    flow.query(&SEED_DDL.replace("test_kafka", "late_table"))
        .await;
    produce(&bootstrap, &source, &[record("k4", "v-k4", Some(T15))])
        .await
        .unwrap();
    let stats = wait_offset(&mut running, 5).await;
    running.stop().await.unwrap();
    assert_eq!(stats.committed_records, 5, "{stats:?}");
    assert_eq!(stats.given_up_records, 4, "{stats:?}");
    let written = offsets_and_keys(&flow, "late_table", &source).await;
    assert_eq!(written, vec![("4".to_owned(), "k4".to_owned())]);

    // The error handler stores the given-up records as trigger_gave_up, with their bytes.
    let mut handler = trigger::start(settings(
        &flow,
        &bootstrap,
        &errors,
        "error-handler",
        &[("ERRORS_TABLE", "kafka_sink_errors")],
    ))
    .await
    .unwrap();
    let stats = handler.wait_committed(4, Duration::from_secs(60)).await;
    handler.stop().await.unwrap();
    assert_eq!(stats.committed_records, 4, "{stats:?}");
    assert_eq!(stats.failed_invocations, 0, "{stats:?}");
    let partitions = flow.query("show partitions kafka_sink_errors").await;
    let types: Vec<maxcompute_core::types::OdpsType> = COLUMNS
        .iter()
        .map(|(_, ty, ..)| ty.parse().unwrap())
        .collect();
    let mut stored = Vec::new();
    for p in &partitions {
        stored.extend(flow.download("kafka_sink_errors", &p[0], &types).await);
    }
    let col = |row: &Vec<Value>, name: &str| {
        row[COLUMNS.iter().position(|(n, ..)| *n == name).unwrap()].clone()
    };
    stored.sort_by_key(|row| format!("{:?}", col(row, "origin_offset")));
    assert_eq!(stored.len(), 4);
    for (i, row) in stored.iter().enumerate() {
        assert_eq!(col(row, "error_class"), Value::text("trigger_gave_up"));
        assert_eq!(col(row, "origin_topic"), Value::text(source.clone()));
        assert_eq!(col(row, "origin_offset"), Value::Integer(i as i64));
        assert_eq!(
            col(row, "record_key"),
            Value::Bytes(keys[i].as_bytes().to_vec())
        );
        assert_eq!(
            col(row, "record_value"),
            Value::Bytes(format!("v-{}", keys[i]).into_bytes())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bisection_a_batch_gets_exactly_its_retries() {
    let bootstrap = require_broker().await;
    let source = unique_topic("flow", "retries");
    let errors = unique_topic("flow", "retries-errors");
    for topic in [&source, &errors] {
        create_topic(&bootstrap, topic, 1).await;
    }
    let flow = TestEmulator::start().await;
    produce(
        &bootstrap,
        &source,
        &[
            record("a", "1", Some(T15)),
            record("b", "2", Some(T15)),
            record("c", "3", Some(T15)),
        ],
    )
    .await
    .unwrap();
    let mut s = sink(
        &flow,
        &bootstrap,
        &source,
        "late_table",
        handling(2, -1, false, &errors),
    );
    s.limits.batch_size = 3;
    s.limits.window = Duration::from_secs(5);
    let mut running = trigger::start(s).await.unwrap();
    let stats = wait_offset(&mut running, 3).await;
    running.stop().await.unwrap();
    // The first attempt and two retries.
    assert_eq!(stats.invocations, 3, "{stats:?}");
    assert_eq!(stats.bisections, 0, "{stats:?}");
    assert_eq!(stats.given_up_records, 3, "{stats:?}");
    let given_up = envelopes(&bootstrap, &errors, 3);
    assert!(
        given_up
            .iter()
            .all(|(_, e)| e.approximate_invoke_count == Some(3)),
        "{given_up:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_maximum_age_go_to_the_error_topic_unsent() {
    let bootstrap = require_broker().await;
    let source = unique_topic("flow", "age");
    let errors = unique_topic("flow", "age-errors");
    for topic in [&source, &errors] {
        create_topic(&bootstrap, topic, 1).await;
    }
    let flow = TestEmulator::start().await;
    flow.query(SEED_DDL).await;
    // Two records from 2020 around one stamped a day ahead, which no clock makes too old.
    let tomorrow = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 86_400_000;
    produce(
        &bootstrap,
        &source,
        &[
            record("old1", "1", Some(T15)),
            record("new", "2", Some(tomorrow)),
            record("old2", "3", Some(T15 + 1)),
        ],
    )
    .await
    .unwrap();
    let mut s = sink(
        &flow,
        &bootstrap,
        &source,
        "test_kafka",
        handling(-1, 60, true, &errors),
    );
    s.limits.batch_size = 3;
    s.limits.window = Duration::from_secs(5);
    let mut running = trigger::start(s).await.unwrap();
    let stats = wait_offset(&mut running, 3).await;
    running.stop().await.unwrap();
    assert_eq!(stats.invocations, 1, "{stats:?}");
    assert_eq!(stats.failed_invocations, 0, "{stats:?}");
    assert_eq!(stats.given_up_records, 2, "{stats:?}");
    assert_eq!(stats.committed_records, 3, "{stats:?}");
    let written = offsets_and_keys(&flow, "test_kafka", &source).await;
    assert_eq!(written, vec![("1".to_owned(), "new".to_owned())]);
    let given_up = envelopes(&bootstrap, &errors, 2);
    for ((key, e), (expected_key, offset)) in given_up.iter().zip([("old1", 0), ("old2", 2)]) {
        assert_eq!(key.as_deref(), Some(expected_key.as_bytes()));
        assert_eq!(e.condition.as_deref(), Some("RecordAgeExceeded"));
        assert_eq!(e.approximate_invoke_count, Some(0));
        assert_eq!(e.function_error, None);
        assert_eq!(e.request_id, None);
        assert_eq!(e.payload.records[0].offset, offset);
    }
    // Nothing else came: read everything the error topic holds.
    assert_eq!(
        read_all(&bootstrap, &errors, 0, 0, Duration::from_secs(1))
            .unwrap()
            .len(),
        2
    );
}

/// `(offset, key)` of the rows of `table` that came from `source`, as the table holds them.
async fn offsets_and_keys(flow: &TestEmulator, table: &str, source: &str) -> Vec<(String, String)> {
    let rows = flow
        .query(&format!("select * from {table} where topic = '{source}'"))
        .await;
    rows[1..]
        .iter()
        .map(|r| (r[2].clone(), r[3].clone()))
        .collect()
}

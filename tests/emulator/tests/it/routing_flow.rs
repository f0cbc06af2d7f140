//! Routing through the whole local flow: two topics on a real broker, a trigger for each (as
//! the template makes one per topic), the sink binary with one configuration
//! (`MAXCOMPUTE_TABLE=ods_${topic}`, tables created from the first records, columns added for
//! new JSON fields), and the MaxCompute emulator. Each topic ends in its own table with every
//! record once, the fields a producer added halfway in their new columns; a field whose type
//! changes goes through the error topic and the error handler into the errors table, its bytes
//! kept.

use std::time::Duration;

use lambda_emulator::trigger::tools::{NewRecord, produce};
use lambda_emulator::trigger::{self};
use maxcompute_emulator::testing::TestEmulator;

use crate::support::{create_topic, require_broker, unique_topic};

/// 2020-11-17T07:04:05.123Z: partition `11-17-2020 15` in GMT+08:00.
const T15: i64 = 1_605_596_645_123;

fn json_record(partition: i32, value: String) -> NewRecord {
    NewRecord {
        partition,
        key: None,
        value: Some(value.into_bytes()),
        headers: vec![],
        timestamp_ms: Some(T15),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topics_through_their_triggers_land_in_two_created_tables() {
    let bootstrap = require_broker().await;
    let flow = TestEmulator::start().await;
    let env = [
        ("MAXCOMPUTE_TABLE", "ods_${topic}"),
        ("SINK_FORMAT", "JSON"),
        ("SINK_MODE", "VALUE"),
        ("SINK_CREATE_TABLE", "true"),
        ("SINK_WRITE", "upsert"),
        ("SINK_EVOLVE", "add-columns"),
    ];
    let mut topics = Vec::new();
    let mut running = Vec::new();
    for name in ["orders", "users"] {
        let topic = unique_topic("flow", &format!("route-{name}"));
        create_topic(&bootstrap, &topic, 2).await;
        // Ten records per partition; from the sixth on, the producer adds a field.
        let records: Vec<NewRecord> = (0..2)
            .flat_map(|p| {
                (0..10).map(move |n| {
                    let value = if n < 5 {
                        format!(r#"{{"id": "{p}-{n}", "n": {n}}}"#)
                    } else {
                        format!(r#"{{"id": "{p}-{n}", "n": {n}, "added": "a{n}"}}"#)
                    };
                    json_record(p, value)
                })
            })
            .collect();
        produce(&bootstrap, &topic, &records).await.unwrap();
        let mut s = crate::support::settings(&flow, &bootstrap, &topic, "sink", &env);
        s.limits.batch_size = 4;
        s.limits.window = Duration::from_millis(200);
        running.push(trigger::start(s).await.unwrap());
        topics.push(topic);
    }
    for r in &mut running {
        let stats = r.wait_committed(20, Duration::from_secs(90)).await;
        assert_eq!(stats.committed_records, 20, "{stats:?}");
    }
    for r in running {
        r.stop().await.unwrap();
    }
    for topic in &topics {
        // The template maps the topic: `flow-route-orders-…` becomes `ods_flow_route_orders_…`.
        let table = format!(
            "ods_{}",
            topic.to_ascii_lowercase().replace(['-', '.'], "_")
        );
        let mut rows: Vec<Vec<String>> = flow
            .query(&format!("select id, n, added from {table}"))
            .await
            .into_iter()
            .skip(1)
            .collect();
        rows.sort();
        let mut expected: Vec<Vec<String>> = (0..2)
            .flat_map(|p| {
                (0..10).map(move |n| {
                    let added = if n < 5 {
                        "NULL".to_owned()
                    } else {
                        format!("a{n}")
                    };
                    vec![format!("{p}-{n}"), n.to_string(), added]
                })
            })
            .collect();
        expected.sort();
        assert_eq!(rows, expected, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_that_changes_type_reaches_the_errors_table_with_its_bytes() {
    use error_handler::table::COLUMNS;
    use maxcompute_core::types::{OdpsType, Value};

    let bootstrap = require_broker().await;
    let source = unique_topic("flow", "evolve-source");
    let errors = unique_topic("flow", "evolve-errors");
    let flow = TestEmulator::start().await;
    for topic in [&source, &errors] {
        create_topic(&bootstrap, topic, 1).await;
    }
    let changed = br#"{"id": "1", "n": "no longer a number"}"#.to_vec();
    let values: [&[u8]; 3] = [
        br#"{"id": "0", "n": 0}"#,
        &changed,
        br#"{"id": "2", "n": 2}"#,
    ];
    let records: Vec<NewRecord> = values
        .iter()
        .map(|v| NewRecord {
            value: Some(v.to_vec()),
            ..json_record(0, String::new())
        })
        .collect();
    produce(&bootstrap, &source, &records).await.unwrap();
    let env = [
        ("MAXCOMPUTE_TABLE", "evolving"),
        ("SINK_FORMAT", "JSON"),
        ("SINK_MODE", "VALUE"),
        ("SINK_CREATE_TABLE", "true"),
        ("SINK_EVOLVE", "add-columns"),
        ("SINK_ERROR_TOPIC", errors.as_str()),
    ];
    let mut sink = trigger::start(crate::support::settings(
        &flow, &bootstrap, &source, "sink", &env,
    ))
    .await
    .unwrap();
    let stats = sink.wait_committed(3, Duration::from_secs(60)).await;
    sink.stop().await.unwrap();
    assert_eq!(stats.committed_records, 3, "{stats:?}");

    let mut handler = trigger::start(crate::support::settings(
        &flow,
        &bootstrap,
        &errors,
        "error-handler",
        &[("ERRORS_TABLE", "kafka_sink_errors")],
    ))
    .await
    .unwrap();
    let stats = handler.wait_committed(1, Duration::from_secs(60)).await;
    handler.stop().await.unwrap();
    assert_eq!(stats.committed_records, 1, "{stats:?}");

    let mut stored: Vec<Vec<String>> = flow
        .query("select id, n from evolving")
        .await
        .into_iter()
        .skip(1)
        .collect();
    stored.sort();
    assert_eq!(stored, vec![vec!["0", "0"], vec!["2", "2"]]);
    let partitions = flow.query("show partitions kafka_sink_errors").await;
    assert_eq!(partitions.len(), 1, "{partitions:?}");
    let types: Vec<OdpsType> = COLUMNS
        .iter()
        .map(|(_, ty, ..)| ty.parse().unwrap())
        .collect();
    let rows = flow
        .download("kafka_sink_errors", &partitions[0][0], &types)
        .await;
    assert_eq!(rows.len(), 1);
    let col = |name: &str| &rows[0][COLUMNS.iter().position(|(n, ..)| *n == name).unwrap()];
    assert_eq!(col("error_class"), &Value::text("schema_mismatch"));
    assert_eq!(col("origin_offset"), &Value::Integer(1));
    assert_eq!(col("record_value"), &Value::Bytes(changed));
}

//! The sink and a Delta Table in the MaxCompute emulator: the table is recognised from its
//! metadata and written by upsert, so a replayed batch and lost answers of every upsert call
//! leave one row per record; a write mode that does not fit the table stops the cold start.

use crate::support::flow::{Flow, NOW_MS, SinkFlow, deadline, kafka_event, sessions_opened_ahead};

/// The seed's columns as a Delta Table keyed by the record's coordinates.
const DELTA_DDL: &str = "CREATE TABLE IF NOT EXISTS kafka_delta(topic STRING NOT NULL, `partition` BIGINT NOT NULL, `offset` BIGINT NOT NULL, key STRING, value STRING, PRIMARY KEY (topic, `partition`, `offset`)) PARTITIONED BY (pt STRING) TBLPROPERTIES (\"transactional\"=\"true\", \"write.bucket.num\"=\"4\");";

/// 2020-11-17T07:04:05.123Z: 15:04 in GMT+08:00.
const T15: i64 = 1_605_596_645_123;
const T16: i64 = T15 + 3_600_000;

/// 120 records over 3 Kafka partitions, each crossing from hour 15 into hour 16.
fn records() -> Vec<(i32, i64, i64)> {
    (0..3)
        .flat_map(|p| (0..40).map(move |o| (p, o, if o < 20 { T15 + o } else { T16 + o })))
        .collect()
}

/// `(partition, offset, key, pt)` of every row of the Delta Table, sorted.
async fn stored(flow: &Flow) -> Vec<(i64, i64, String, String)> {
    let mut rows: Vec<(i64, i64, String, String)> = flow
        .query("select `partition`, `offset`, key, pt from kafka_delta")
        .await
        .into_iter()
        .skip(1)
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].clone(),
                r[3].clone(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn expected() -> Vec<(i64, i64, String, String)> {
    let mut rows: Vec<_> = records()
        .into_iter()
        .map(|(p, o, _)| {
            let pt = if o < 20 {
                "11-17-2020 15"
            } else {
                "11-17-2020 16"
            };
            (i64::from(p), o, format!("k{o}"), pt.to_owned())
        })
        .collect();
    rows.sort();
    rows
}

async fn delta_flow() -> Flow {
    let flow = Flow::seeded().await;
    flow.sql(DELTA_DDL).await;
    flow
}

#[tokio::test]
async fn a_delta_table_is_upserted_and_a_replayed_batch_writes_nothing_twice() {
    let flow = delta_flow().await;
    let sink = flow.sink(&[("MAXCOMPUTE_TABLE", "kafka_delta")]).await;
    let event = kafka_event("orders", &records());
    for _ in 0..2 {
        let response = sink.handle(&event, NOW_MS, deadline()).await.unwrap();
        assert_eq!(response.summary.rows_written, 120);
        assert_eq!(response.summary.partitions.len(), 2);
    }
    assert_eq!(stored(&flow).await, expected());
}

#[tokio::test]
async fn lost_answers_of_every_upsert_call_leave_one_row_per_record() {
    for kind in [
        "session_create",
        "upsert_write",
        "upsert_commit",
        "session_status",
    ] {
        for action in [
            serde_json::json!({"action": "drop"}),
            serde_json::json!({"action": "error", "status": 503, "code": "ServiceUnavailable"}),
        ] {
            let flow = delta_flow().await;
            let sink = flow
                .sink(&[
                    ("MAXCOMPUTE_TABLE", "kafka_delta"),
                    ("SINK_WRITE", "upsert"),
                ])
                .await;
            let mut rule = action.clone();
            rule["kind"] = kind.into();
            rule["phase"] = "after".into();
            rule["count"] = 2.into();
            flow.fault(rule.clone()).await;
            let event = kafka_event("orders", &records());
            // A lost answer may fail the invocation; the trigger then sends the batch again.
            let mut attempts = 0;
            while sink.handle(&event, NOW_MS, deadline()).await.is_err() {
                attempts += 1;
                assert!(attempts < 5, "{rule}: still failing");
            }
            assert_eq!(stored(&flow).await, expected(), "{rule}");
        }
    }
}

#[tokio::test]
async fn a_write_mode_that_does_not_fit_the_table_stops_the_cold_start() {
    let flow = delta_flow().await;
    let start = |extra: Vec<(&'static str, &'static str)>| {
        let config = flow.config(&extra);
        async move {
            sink::handler::Sink::start_from_config(
                &config,
                Box::new(sink::rejects::NoErrorTopic),
                deadline(),
            )
            .await
        }
    };
    let err = start(vec![
        ("MAXCOMPUTE_TABLE", "kafka_delta"),
        ("SINK_WRITE", "append"),
    ])
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("SINK_WRITE=auto or upsert"),
        "{err}"
    );
    let err = start(vec![("SINK_WRITE", "upsert")]).await.unwrap_err();
    assert!(err.to_string().contains("needs a Delta Table"), "{err}");
    // The seed's append table, auto: appended as before.
    assert!(start(vec![]).await.is_ok());
}

/// As with the batch tunnel: the upsert session opened beside a commit serves the next
/// invocation, and one the service refuses when it is used is replaced by a fresh session
/// (`sessions_opened_ahead`); every record is stored once.
#[tokio::test]
async fn an_upsert_session_opened_ahead_serves_the_next_invocation_and_is_replaced_when_refused() {
    let flow = delta_flow().await;
    let sink = flow.sink(&[("MAXCOMPUTE_TABLE", "kafka_delta")]).await;
    let refused_use = serde_json::json!({
        "kind": "upsert_write", "count": 1, "action": "error",
        "status": 404, "code": "UpsertSessionNotFound"
    });
    sessions_opened_ahead(&flow, &sink, refused_use, T15).await;
    let offsets: Vec<i64> = stored(&flow).await.iter().map(|r| r.1).collect();
    assert_eq!(offsets, (0..40).collect::<Vec<_>>());
}

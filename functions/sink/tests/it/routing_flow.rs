//! Routing, table creation and column evolution against the emulator: several topics into
//! their tables in one invocation, an allow-list, a table created from the first records, new
//! JSON fields becoming columns, and a field whose type changes going to the error topic.

use std::sync::{Arc, Mutex};

use maxcompute_core::event::Reject;
use sink::handler::Sink;
use sink::rejects::{DeliverFuture, RejectSink};
use test_support::events::{Record, trigger_event};
use tokio::time::Instant;

use crate::support::flow::{Flow, NOW_MS, SinkFlow, deadline};

/// Keeps every reject it is given, as an error topic that always answers.
#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<Reject>>>);

impl Kept {
    fn classes(&self) -> Vec<(String, i64, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.topic.clone().unwrap_or_default(),
                    r.offset.unwrap_or(-1),
                    r.class.as_str().to_owned(),
                )
            })
            .collect()
    }

    fn values(&self) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.value.clone().unwrap_or_default())
            .collect()
    }
}

impl RejectSink for Kept {
    fn deliver<'a>(
        &'a self,
        rejects: &'a [Reject],
        _bootstrap_servers: &'a [String],
        _now_ms: i64,
        _deadline: Instant,
    ) -> DeliverFuture<'a> {
        Box::pin(async move {
            self.0.lock().unwrap().extend(rejects.iter().cloned());
            Ok(())
        })
    }
}

/// A self-managed trigger event of `(topic, partition, offset, value)` records, all at
/// 2020-11-17 15:04 GMT+08:00.
fn event(records: &[(&str, i32, i64, &str)]) -> String {
    let records: Vec<Record> = records
        .iter()
        .map(|&(topic, partition, offset, value)| Record {
            key: Some(format!("k{offset}").into_bytes()),
            value: Some(value.as_bytes().to_vec()),
            ..Record::new(topic, partition, offset, NOW_MS)
        })
        .collect();
    trigger_event("SelfManagedKafka", Some("127.0.0.1:9092"), &records).to_string()
}

const PT: &str = "11-17-2020 15";

async fn sink(flow: &Flow, extra: &[(&str, &str)], kept: &Kept) -> Sink {
    flow.sink_with(extra, Box::new(kept.clone())).await
}

/// The rows a query answers (without its header), sorted.
async fn rows(flow: &Flow, sql: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = flow.query(sql).await.into_iter().skip(1).collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn two_topics_land_in_their_two_tables_in_one_invocation() {
    let flow = Flow::start_with(&[
        "CREATE TABLE ods_orders(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING);",
        "CREATE TABLE ods_users(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING);",
    ])
    .await;
    let kept = Kept::default();
    let sink = sink(&flow, &[("MAXCOMPUTE_TABLE", "ods_${topic}")], &kept).await;
    let response = sink
        .handle(
            &event(&[
                ("orders", 0, 0, "o0"),
                ("orders", 0, 1, "o1"),
                ("users", 0, 5, "u5"),
            ]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 3);
    assert_eq!(
        response.summary.tables,
        [("ods_orders".to_owned(), 2), ("ods_users".to_owned(), 1)].into()
    );
    assert_eq!(
        rows(
            &flow,
            &format!("select offset, value from ods_orders where pt = '{PT}'")
        )
        .await,
        vec![vec!["0", "o0"], vec!["1", "o1"]]
    );
    assert_eq!(
        rows(
            &flow,
            &format!("select offset, value from ods_users where pt = '{PT}'")
        )
        .await,
        vec![vec!["5", "u5"]]
    );
    assert!(kept.classes().is_empty(), "{:?}", kept.classes());
}

#[tokio::test]
async fn a_topic_list_routes_listed_topics_and_rejects_the_rest() {
    let flow = Flow::start_with(&[
        "CREATE TABLE table_a(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING);",
        "CREATE TABLE table_b(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING);",
    ])
    .await;
    let kept = Kept::default();
    let sink = sink(
        &flow,
        &[("MAXCOMPUTE_TABLE", "topicA=table_a, topicB=table_b")],
        &kept,
    )
    .await;
    let response = sink
        .handle(
            &event(&[
                ("topicA", 0, 0, "a"),
                ("topicB", 1, 0, "b"),
                ("topicC", 0, 9, "c"),
            ]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 2);
    assert_eq!(
        kept.classes(),
        vec![("topicC".to_owned(), 9, "table_name".to_owned())]
    );
    assert_eq!(kept.values(), vec![b"c".to_vec()]);
    assert_eq!(
        rows(&flow, "select value from table_b").await,
        vec![vec!["b"]]
    );
}

#[tokio::test]
async fn a_routed_name_outside_the_allow_list_is_a_reject_never_a_write() {
    let flow = Flow::start_with(&[
        "CREATE TABLE ods_a(name STRING, n BIGINT) PARTITIONED BY (pt STRING);",
        "CREATE TABLE secrets(name STRING, n BIGINT) PARTITIONED BY (pt STRING);",
    ])
    .await;
    let kept = Kept::default();
    let sink = sink(
        &flow,
        &[
            ("MAXCOMPUTE_TABLE", ""),
            ("SINK_FORMAT", "JSON"),
            ("SINK_MODE", "VALUE"),
            ("SINK_TABLE_FIELD", "table"),
            ("SINK_TABLE_ALLOW", "ods_[a-z]+"),
        ],
        &kept,
    )
    .await;
    let to_secrets = r#"{"table": "secrets", "name": "stolen", "n": 1}"#;
    let response = sink
        .handle(
            &event(&[
                ("t", 0, 0, r#"{"table": "ods_a", "name": "x", "n": 1}"#),
                ("t", 0, 1, to_secrets),
                ("t", 0, 2, r#"{"name": "no table"}"#),
            ]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert_eq!(
        kept.classes(),
        vec![
            ("t".to_owned(), 1, "table_not_allowed".to_owned()),
            ("t".to_owned(), 2, "table_name".to_owned()),
        ]
    );
    assert_eq!(kept.values()[0], to_secrets.as_bytes());
    assert!(flow.query("show partitions secrets").await.is_empty());
    assert_eq!(
        rows(&flow, "select name, n from ods_a").await,
        vec![vec!["x", "1"]]
    );
}

#[tokio::test]
async fn a_failure_in_one_table_leaves_a_prefix_of_each_topic_partition() {
    // Offsets 0 and 2 go to table a, 1 to table b, whose write fails for good: what is written
    // must stop at offset 1, so offset 2 is not written before it.
    let flow = Flow::start_with(&[
        "CREATE TABLE a(v STRING) PARTITIONED BY (pt STRING);",
        "CREATE TABLE b(v STRING) PARTITIONED BY (pt STRING);",
    ])
    .await;
    let kept = Kept::default();
    let sink = sink(
        &flow,
        &[
            ("MAXCOMPUTE_TABLE", ""),
            ("SINK_FORMAT", "JSON"),
            ("SINK_MODE", "VALUE"),
            ("SINK_TABLE_FIELD", "t"),
            ("SINK_TABLE_ALLOW", "a|b"),
            ("SINK_PARTIAL_BATCH", "true"),
        ],
        &kept,
    )
    .await;
    // Both tables read (and kept) by a first invocation; then b is dropped, so that its next
    // write fails for good.
    sink.handle(
        &event(&[
            ("w", 0, 0, r#"{"t": "a", "v": "w"}"#),
            ("w", 0, 1, r#"{"t": "b", "v": "w"}"#),
        ]),
        NOW_MS,
        deadline(),
    )
    .await
    .unwrap();
    flow.query("DROP TABLE b").await;
    let response = sink
        .handle(
            &event(&[
                ("x", 0, 0, r#"{"t": "a", "v": "0"}"#),
                ("x", 0, 1, r#"{"t": "b", "v": "1"}"#),
                ("x", 0, 2, r#"{"t": "a", "v": "2"}"#),
            ]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    let failures = serde_json::to_value(response.batch_item_failures.unwrap()).unwrap();
    assert_eq!(
        failures,
        serde_json::json!([{"itemIdentifier": {"partition": "x-0", "offset": 1}}])
    );
    assert_eq!(
        rows(&flow, "select v from a").await,
        vec![vec!["0"], vec!["w"]]
    );
}

#[tokio::test]
async fn a_missing_table_is_created_from_the_first_records() {
    let flow = Flow::start_with(&[]).await;
    let kept = Kept::default();
    let sink = sink(
        &flow,
        &[
            ("MAXCOMPUTE_TABLE", "ods_${topic}"),
            ("SINK_FORMAT", "JSON"),
            ("SINK_MODE", "VALUE"),
            ("SINK_CREATE_TABLE", "true"),
            ("SINK_TABLE_LIFECYCLE", "7"),
        ],
        &kept,
    )
    .await;
    let response = sink
        .handle(
            &event(&[(
                "events",
                0,
                0,
                r#"{"id": 7, "price": 1.5, "ok": true, "who": "ann", "tags": ["a"], "none": null}"#,
            )]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert_eq!(
        rows(&flow, "select id, price, ok, who, tags from ods_events").await,
        vec![vec!["7", "1.5", "true", "ann", r#"["a"]"#]]
    );
}

#[tokio::test]
async fn two_sinks_creating_one_delta_table_at_once_converge() {
    let flow = Flow::start_with(&[]).await;
    let extra = [
        ("MAXCOMPUTE_TABLE", "ods_${topic}"),
        ("SINK_CREATE_TABLE", "true"),
        ("SINK_WRITE", "upsert"),
    ];
    let (k1, k2) = (Kept::default(), Kept::default());
    let (s1, s2) = (
        sink(&flow, &extra, &k1).await,
        sink(&flow, &extra, &k2).await,
    );
    let e1 = event(&[("seed", 0, 0, "a"), ("seed", 0, 1, "b")]);
    let e2 = event(&[("seed", 1, 0, "c"), ("seed", 0, 1, "b")]);
    let (r1, r2) = tokio::join!(
        s1.handle(&e1, NOW_MS, deadline()),
        s2.handle(&e2, NOW_MS, deadline())
    );
    assert_eq!(r1.unwrap().summary.rows_written, 2);
    assert_eq!(r2.unwrap().summary.rows_written, 2);
    // A Delta Table keyed by (topic, partition, offset): offset 1 written twice is one row.
    assert_eq!(
        rows(&flow, "select partition, offset, value from ods_seed").await,
        vec![
            vec!["0", "0", "a"],
            vec!["0", "1", "b"],
            vec!["1", "0", "c"]
        ]
    );
}

const EVOLVE: [(&str, &str); 5] = [
    ("MAXCOMPUTE_TABLE", "ods_${topic}"),
    ("SINK_FORMAT", "JSON"),
    ("SINK_MODE", "VALUE"),
    ("SINK_CREATE_TABLE", "true"),
    ("SINK_EVOLVE", "add-columns"),
];

#[tokio::test]
async fn three_fields_added_mid_stream_become_three_columns_with_every_value() {
    let flow = Flow::start_with(&[]).await;
    let kept = Kept::default();
    let sink = sink(&flow, &EVOLVE, &kept).await;
    let first = event(&[("p", 0, 0, r#"{"id": 1}"#), ("p", 0, 1, r#"{"id": 2}"#)]);
    sink.handle(&first, NOW_MS, deadline()).await.unwrap();
    let second = event(&[
        ("p", 0, 2, r#"{"id": 3, "Color": "red"}"#),
        (
            "p",
            0,
            3,
            r#"{"id": 4, "Color": "blue", "size": 2.5, "meta": {"a": 1}}"#,
        ),
    ]);
    let response = sink.handle(&second, NOW_MS, deadline()).await.unwrap();
    assert_eq!(response.summary.rows_written, 2);
    assert!(kept.classes().is_empty(), "{:?}", kept.classes());
    assert_eq!(
        rows(&flow, "select id, color, size, meta from ods_p").await,
        vec![
            vec!["1", "NULL", "NULL", "NULL"],
            vec!["2", "NULL", "NULL", "NULL"],
            vec!["3", "red", "NULL", "NULL"],
            vec!["4", "blue", "2.5", r#"{"a":1}"#],
        ]
    );
}

#[tokio::test]
async fn a_field_that_changes_type_goes_to_the_error_topic_with_its_bytes() {
    let flow = Flow::start_with(&[]).await;
    let kept = Kept::default();
    let sink = sink(&flow, &EVOLVE, &kept).await;
    sink.handle(&event(&[("q", 0, 0, r#"{"n": 1}"#)]), NOW_MS, deadline())
        .await
        .unwrap();
    let changed = r#"{"n": "one"}"#;
    let collide = r#"{"n": 2, "a-b": 1, "a_b": 2}"#;
    let response = sink
        .handle(
            &event(&[
                ("q", 0, 1, changed),
                ("q", 0, 2, r#"{"n": 2.5}"#),
                ("q", 0, 3, collide),
                ("q", 0, 4, r#"{"n": 4}"#),
            ]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert_eq!(
        kept.classes(),
        vec![
            ("q".to_owned(), 1, "schema_mismatch".to_owned()),
            ("q".to_owned(), 2, "schema_mismatch".to_owned()),
            ("q".to_owned(), 3, "column_name".to_owned()),
        ]
    );
    assert_eq!(kept.values()[0], changed.as_bytes());
    assert_eq!(kept.values()[2], collide.as_bytes());
    assert_eq!(
        rows(&flow, "select n from ods_q").await,
        vec![vec!["1"], vec!["4"]]
    );
}

/// Two sinks on one table: the second adds a column while the first keeps what it read before.
/// The first's next write, through a session of the old schema (a kept stream session) or rows
/// encoded for it (an upsert session of the new one), is written again with the table read anew:
/// every record once, the new column filled where a record has it.
async fn a_column_added_by_another_sink(write: &str) {
    let flow = Flow::start_with(&[]).await;
    let extra = [
        ("MAXCOMPUTE_TABLE", "shared"),
        ("SINK_FORMAT", "JSON"),
        ("SINK_MODE", "VALUE"),
        ("SINK_CREATE_TABLE", "true"),
        ("SINK_EVOLVE", "add-columns"),
        ("SINK_WRITE", write),
    ];
    let (k1, k2) = (Kept::default(), Kept::default());
    let first = sink(&flow, &extra, &k1).await;
    let second = sink(&flow, &extra, &k2).await;
    let one = |offset: i64, value: &str| event(&[("t", 0, offset, value)]);
    first
        .handle(&one(0, r#"{"id": 1}"#), NOW_MS, deadline())
        .await
        .unwrap();
    second
        .handle(&one(1, r#"{"id": 2, "x": "a"}"#), NOW_MS, deadline())
        .await
        .unwrap();
    let r = first
        .handle(&one(2, r#"{"id": 3}"#), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(r.summary.rows_written, 1, "{write}");
    let r = first
        .handle(&one(3, r#"{"id": 4, "x": "b"}"#), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(r.summary.rows_written, 1, "{write}");
    assert!(
        k1.classes().is_empty() && k2.classes().is_empty(),
        "{write}"
    );
    assert_eq!(
        rows(&flow, "select id, x from shared").await,
        vec![
            vec!["1", "NULL"],
            vec!["2", "a"],
            vec!["3", "NULL"],
            vec!["4", "b"]
        ],
        "{write}"
    );
}

#[tokio::test]
async fn a_stream_session_of_an_old_schema_is_reopened_and_the_pack_written_once() {
    a_column_added_by_another_sink("auto").await;
}

#[tokio::test]
async fn upsert_rows_encoded_for_an_old_schema_are_planned_again_and_written_once() {
    a_column_added_by_another_sink("upsert").await;
}

#[tokio::test]
async fn a_created_delta_table_is_keyed_by_the_primary_key_named() {
    let flow = Flow::start_with(&[]).await;
    let kept = Kept::default();
    let sink = sink(
        &flow,
        &[
            ("MAXCOMPUTE_TABLE", "keyed"),
            ("SINK_FORMAT", "JSON"),
            ("SINK_MODE", "VALUE"),
            ("SINK_CREATE_TABLE", "true"),
            ("SINK_WRITE", "upsert"),
            ("SINK_PRIMARY_KEY", "id"),
        ],
        &kept,
    )
    .await;
    let response = sink
        .handle(
            &event(&[
                ("t", 0, 0, r#"{"id": 1, "v": "first"}"#),
                ("t", 0, 1, r#"{"id": 2, "v": "other"}"#),
                ("t", 0, 2, r#"{"id": 1, "v": "second"}"#),
            ]),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 3);
    // Upserted by `id`: the later record of id 1 replaced the first.
    assert_eq!(
        rows(&flow, "select id, v from keyed").await,
        vec![vec!["1", "second"], vec!["2", "other"]]
    );
}

//! Debezium changes through the sink into a Delta Table of the MaxCompute emulator without
//! partition columns (SINK_FORMAT=DEBEZIUM): inserts, updates, deletes and tombstones, a key
//! changed twice in one batch, a delete followed by an insert, a replayed batch, and a seeded
//! random differential run whose table must equal a model the test keeps by itself.

use std::collections::BTreeMap;

use sink::config::Config;
use test_support::events::{Record, trigger_event};

use crate::support::flow::{Flow, NOW_MS, SinkFlow, deadline};

/// A mirror of a source table keyed by its own primary key, not partitioned.
const ORDERS_DDL: &str = "CREATE TABLE IF NOT EXISTS orders(id BIGINT NOT NULL, customer STRING, amount DECIMAL(10,2), cdc_op STRING, PRIMARY KEY (id)) TBLPROPERTIES (\"transactional\"=\"true\", \"write.bucket.num\"=\"4\");";
const TOPIC: &str = "dbserver1.inventory.orders";

/// A change of one source row, as the test produces it.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// `c`, `r` or `u`, with the row's customer and amount in cents.
    Upsert(&'static str, String, i64),
    Delete,
    Tombstone,
}

/// One change of key `id`, in Debezium's JSON (with the wrapper when `wrapped`).
fn record(offset: i64, id: i64, op: &Op, wrapped: bool) -> Record {
    let key = format!(r#"{{"id":{id}}}"#);
    let value = match op {
        Op::Tombstone => None,
        Op::Delete => Some(format!(
            r#"{{"before":{{"id":{id}}},"after":null,"source":{{"db":"inventory","table":"orders","ts_ms":1}},"op":"d","ts_ms":2}}"#
        )),
        Op::Upsert(op, customer, cents) => {
            let after = if wrapped {
                // The amount as Connect's Decimal: the unscaled value's big-endian bytes.
                let bytes = cents.to_be_bytes();
                let skip = bytes
                    .iter()
                    .zip(bytes.iter().skip(1))
                    .take_while(|(b, next)| {
                        (**b == 0 && **next < 0x80) || (**b == 0xff && **next >= 0x80)
                    })
                    .count();
                use base64::Engine;
                let amount = base64::engine::general_purpose::STANDARD.encode(&bytes[skip..]);
                format!(r#"{{"id":{id},"customer":"{customer}","amount":"{amount}"}}"#)
            } else {
                format!(
                    r#"{{"id":{id},"customer":"{customer}","amount":"{}"}}"#,
                    amount(*cents)
                )
            };
            Some(if wrapped {
                format!(
                    r#"{{"schema":{{"type":"struct","fields":[{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"id"}},{{"type":"string","optional":true,"field":"customer"}},{{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{{"scale":"2","connect.decimal.precision":"10"}},"field":"amount"}}],"optional":true,"name":"dbserver1.inventory.orders.Value","field":"after"}},{{"type":"string","optional":false,"field":"op"}}],"optional":false,"name":"dbserver1.inventory.orders.Envelope"}},"payload":{{"before":null,"after":{after},"op":"{op}"}}}}"#
                )
            } else {
                format!(
                    r#"{{"before":null,"after":{after},"source":{{"db":"inventory","table":"orders","ts_ms":1}},"op":"{op}","ts_ms":2}}"#
                )
            })
        }
    };
    Record {
        key: Some(key.into_bytes()),
        value: value.map(String::into_bytes),
        ..Record::new(TOPIC, 0, offset, NOW_MS)
    }
}

/// Cents as the decimal text MaxCompute shows at scale 2.
fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn event(records: &[Record]) -> String {
    trigger_event("SelfManagedKafka", Some("127.0.0.1:9092"), records).to_string()
}

/// `(id, customer, amount, cdc_op)` of every row, by id.
async fn table(flow: &Flow) -> Vec<(i64, String, String, String)> {
    let mut rows: Vec<_> = flow
        .query("select id, customer, amount, cdc_op from orders")
        .await
        .into_iter()
        .skip(1)
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].clone(),
                r[2].clone(),
                r[3].clone(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// What the table must hold after `changes`, computed from the changes alone: the last
/// upsert of each key not deleted since.
fn model(changes: &[(i64, Op)]) -> Vec<(i64, String, String, String)> {
    let mut state: BTreeMap<i64, (String, String, String)> = BTreeMap::new();
    for (id, op) in changes {
        match op {
            Op::Upsert(op, customer, cents) => {
                state.insert(*id, (customer.clone(), amount(*cents), (*op).to_owned()));
            }
            Op::Delete => {
                state.remove(id);
            }
            Op::Tombstone => {}
        }
    }
    state
        .into_iter()
        .map(|(id, (c, a, o))| (id, c, a, o))
        .collect()
}

async fn orders_flow() -> (Flow, sink::handler::Sink) {
    let flow = Flow::seeded().await;
    flow.sql(ORDERS_DDL).await;
    let sink = flow
        .sink(&[("MAXCOMPUTE_TABLE", "orders"), ("SINK_FORMAT", "DEBEZIUM")])
        .await;
    (flow, sink)
}

fn up(op: &'static str, customer: &str, cents: i64) -> Op {
    Op::Upsert(op, customer.to_owned(), cents)
}

#[tokio::test]
async fn changes_become_the_source_table_and_a_replayed_batch_leaves_it_so() {
    let (flow, sink) = orders_flow().await;
    let first: Vec<(i64, Op)> = vec![
        (1, up("r", "Sally", 1234)),
        (2, up("c", "George", 50)),
        (3, up("c", "Edward", 999)),
        (4, up("c", "Anne", 100)),
    ];
    let second: Vec<(i64, Op)> = vec![
        // Updated twice in one batch: the second wins.
        (1, up("u", "Sally Thomas", 1300)),
        (1, up("u", "Sally T.", 1301)),
        // Deleted, its tombstone, then inserted again.
        (2, Op::Delete),
        (2, Op::Tombstone),
        (2, up("c", "George again", 75)),
        // Deleted for good.
        (3, Op::Delete),
        (3, Op::Tombstone),
        // Inserted and deleted in the same batch: never there.
        (5, up("c", "Brief", 1)),
        (5, Op::Delete),
    ];
    let mut offset = 0;
    let mut batch = |changes: &[(i64, Op)], wrapped: bool| {
        let records: Vec<Record> = changes
            .iter()
            .map(|(id, op)| {
                offset += 1;
                record(offset, *id, op, wrapped)
            })
            .collect();
        event(&records)
    };
    let first_event = batch(&first, true);
    let second_event = batch(&second, false);

    let response = sink.handle(&first_event, NOW_MS, deadline()).await.unwrap();
    assert_eq!(response.summary.rows_written, 4);
    assert_eq!(
        response.summary.partitions,
        BTreeMap::from([("(table)".to_owned(), 4)])
    );
    assert_eq!(table(&flow).await, model(&first));

    // Replayed as the trigger replays a batch whose answer was lost: the same table.
    for _ in 0..2 {
        let response = sink
            .handle(&second_event, NOW_MS, deadline())
            .await
            .unwrap();
        let summary = &response.summary;
        assert_eq!(summary.records, 9);
        assert_eq!(summary.tombstones, 2);
        assert_eq!(summary.superseded, 3, "1 twice, 2 once, 5 once");
        assert_eq!(summary.rows_written, 4, "one change per key: 1, 2, 3, 5");
        assert!(summary.rejects.is_empty());
        let all: Vec<(i64, Op)> = first.iter().chain(&second).cloned().collect();
        assert_eq!(table(&flow).await, model(&all));
    }
    assert_eq!(
        table(&flow).await,
        vec![
            (1, "Sally T.".into(), "13.01".into(), "u".into()),
            (2, "George again".into(), "0.75".into(), "c".into()),
            (4, "Anne".into(), "1.00".into(), "c".into()),
        ]
    );
}

#[tokio::test]
async fn a_change_without_a_key_is_a_reject_and_without_an_error_topic_fails_the_batch_unwritten() {
    let (flow, sink) = orders_flow().await;
    let mut keyless = record(1, 9, &up("c", "x", 1), false);
    keyless.key = None;
    keyless.value = Some(br#"{"after":{"customer":"x"},"op":"c"}"#.to_vec());
    let records = [record(0, 8, &up("c", "y", 2), false), keyless];
    let err = sink
        .handle(&event(&records), NOW_MS, deadline())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing_key"), "{err}");
    assert!(table(&flow).await.is_empty());
}

/// Keeps the rejects it is given, as an error topic would.
#[derive(Debug, Default, Clone)]
struct Kept(std::sync::Arc<std::sync::Mutex<Vec<maxcompute_core::event::Reject>>>);

impl sink::rejects::RejectSink for Kept {
    fn deliver<'a>(
        &'a self,
        rejects: &'a [maxcompute_core::event::Reject],
        _bootstrap_servers: &'a [String],
        _now_ms: i64,
        _deadline: tokio::time::Instant,
    ) -> sink::rejects::DeliverFuture<'a> {
        self.0.lock().unwrap().extend_from_slice(rejects);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn changes_that_cannot_be_applied_go_to_the_error_topic_with_their_bytes_and_the_rest_is_written()
 {
    let flow = Flow::seeded().await;
    flow.sql(ORDERS_DDL).await;
    let kept = Kept::default();
    let sink = flow
        .sink_with(
            &[("MAXCOMPUTE_TABLE", "orders"), ("SINK_FORMAT", "DEBEZIUM")],
            Box::new(kept.clone()),
        )
        .await;
    let bad_values: [&[u8]; 5] = [
        br#"{"before":null,"after":{"customer":"no key"},"op":"c"}"#,
        br#"{"before":null,"after":{"id":7,"amount":"not a number"},"op":"u"}"#,
        br#"{"before":null,"after":null,"op":"t"}"#,
        b"\xff not UTF-8",
        b"not JSON",
    ];
    let mut records = vec![record(0, 1, &up("c", "kept", 100), false)];
    for (i, value) in bad_values.iter().enumerate() {
        let mut r = record(i as i64 + 1, 7, &Op::Delete, false);
        r.key = None;
        r.value = Some(value.to_vec());
        records.push(r);
    }
    let response = sink
        .handle(&event(&records), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert_eq!(
        response.summary.rejects,
        BTreeMap::from([
            ("invalid_json", 1),
            ("invalid_utf8", 1),
            ("missing_key", 1),
            ("type_conversion", 1),
            ("unsupported_change", 1)
        ])
    );
    let rejects = kept.0.lock().unwrap().clone();
    let values: Vec<&[u8]> = rejects
        .iter()
        .map(|r| r.value.as_deref().unwrap())
        .collect();
    assert_eq!(
        values,
        bad_values.to_vec(),
        "each reject keeps its record's bytes"
    );
    assert_eq!(
        table(&flow).await,
        vec![(1, "kept".into(), "1.00".into(), "c".into())]
    );
}

#[tokio::test]
async fn debezium_needs_upsert_into_a_delta_table() {
    let flow = Flow::seeded().await;
    flow.sql(ORDERS_DDL).await;
    let config = Config::from_lookup(flow.lookup(&[
        ("MAXCOMPUTE_TABLE", "orders"),
        ("SINK_FORMAT", "DEBEZIUM"),
        ("SINK_WRITE", "append"),
    ]))
    .unwrap_err();
    assert!(config.to_string().contains("SINK_WRITE"), "{config}");
    let mode = Config::from_lookup(flow.lookup(&[
        ("MAXCOMPUTE_TABLE", "orders"),
        ("SINK_FORMAT", "DEBEZIUM"),
        ("SINK_MODE", "VALUE"),
    ]))
    .unwrap_err();
    assert!(mode.to_string().contains("SINK_MODE"), "{mode}");
    // Unset and auto mean upsert.
    let auto = Config::from_lookup(flow.lookup(&[
        ("MAXCOMPUTE_TABLE", "orders"),
        ("SINK_FORMAT", "DEBEZIUM"),
        ("SINK_WRITE", "auto"),
    ]))
    .unwrap();
    assert_eq!(auto.write, sink::config::WriteMode::Upsert);
    let err = sink::handler::Sink::start_from_config(
        &flow.config(&[("SINK_FORMAT", "DEBEZIUM")]),
        Box::new(sink::rejects::NoErrorTopic),
        deadline(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("needs a Delta Table"), "{err}");
}

/// SplitMix64: the same draws for the same seed on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn random_changes_leave_the_table_equal_to_an_independent_model() {
    let seed = std::env::var("CDC_SEED")
        .ok()
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("CDC_SEED={seed} replays this run");
    let mut rng = Rng(seed);
    let (flow, sink) = orders_flow().await;
    const KEYS: u64 = 40;
    let mut live: BTreeMap<i64, bool> = BTreeMap::new();
    let mut applied: Vec<(i64, Op)> = Vec::new();
    let mut offset = 0;
    for round in 0..12 {
        let size = 1 + rng.below(60);
        let mut changes = Vec::new();
        for _ in 0..size {
            let id = rng.below(KEYS) as i64;
            let exists = live.get(&id).copied().unwrap_or(false);
            let op = match (exists, rng.below(10)) {
                (false, 0) => Op::Tombstone,
                (false, 1..=2) => Op::Delete,
                (false, n) => up(
                    if n < 5 { "r" } else { "c" },
                    &format!("n{}", rng.below(1000)),
                    rng.below(2_000_000) as i64 - 1_000_000,
                ),
                (true, 0..=3) => Op::Delete,
                (true, _) => up(
                    "u",
                    &format!("n{}", rng.below(1000)),
                    rng.below(2_000_000) as i64 - 1_000_000,
                ),
            };
            match op {
                Op::Upsert(..) => live.insert(id, true),
                Op::Delete => live.insert(id, false),
                Op::Tombstone => None,
            };
            changes.push((id, op));
        }
        let wrapped = rng.below(2) == 0;
        let records: Vec<Record> = changes
            .iter()
            .map(|(id, op)| {
                offset += 1;
                record(offset, *id, op, wrapped)
            })
            .collect();
        let event = event(&records);
        // Now and then the batch is replayed, as after a lost answer.
        for _ in 0..=rng.below(2) {
            let response = sink.handle(&event, NOW_MS, deadline()).await.unwrap();
            assert!(
                response.summary.rejects.is_empty(),
                "round {round} (CDC_SEED={seed})"
            );
        }
        applied.extend(changes);
        assert_eq!(
            table(&flow).await,
            model(&applied),
            "round {round} (CDC_SEED={seed})"
        );
    }
}

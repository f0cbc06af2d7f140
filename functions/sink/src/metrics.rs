//! What one invocation did, as CloudWatch metrics: one line of Embedded Metric Format (EMF) JSON
//! per invocation, which Lambda's log pipeline turns into metrics without an API call.
//!
//! Metrics: `Records`, `RowsWritten`, `BytesWritten`, `Rejects` (and `Rejects.<class>` per
//! reject class), `Retries`, `FailedPartitions`, `Latency` and `RecordAge` (the age of the
//! batch's oldest record at processing time: how far behind the topic the sink is). Dimensions:
//! `Function`, `Topic`, `Table`. The line also carries `Partitions`, the rows written per
//! partition as a JSON object, which Logs Insights reads as fields (`Partitions.<spec>`) without
//! making metrics of them. Pure: the caller prints the line.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The namespace the metrics are filed under.
pub const NAMESPACE: &str = "KafkaMaxComputeSink";

/// The `Topic` (and `Table`) dimension of a batch without records (or without a table
/// written). CloudWatch drops a metric whose dimension value is empty (the EMF specification
/// wants 1 to 1024 characters, AWS's EMF library refuses an empty or blank one), and no Kafka
/// topic or MaxCompute table can be named this (topic names are `[a-zA-Z0-9._-]`, table names
/// `[a-zA-Z0-9_]`), so it cannot be mistaken for one.
pub const NO_TOPIC: &str = "(none)";

/// One invocation's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub function: String,
    /// The source topic(s) of the batch, comma-separated when there are several; empty for a
    /// batch without records, written as [`NO_TOPIC`].
    pub topic: String,
    pub table: String,
    pub records: usize,
    pub rows_written: u64,
    pub bytes_written: u64,
    pub rejects: BTreeMap<&'static str, usize>,
    /// Rows written per partition, as `SHOW PARTITIONS` spells it.
    pub partitions: BTreeMap<String, u64>,
    pub retries: u64,
    pub failed_partitions: usize,
    pub latency_ms: u64,
    /// The oldest record's timestamp (epoch milliseconds); `None` when no record has one.
    pub oldest_record_ms: Option<i64>,
    /// Processing time (epoch milliseconds): the metrics' timestamp and the age's reference.
    pub now_ms: i64,
}

/// The invocation as one EMF document.
pub fn emf(i: &Invocation) -> Value {
    let mut metrics: Vec<(String, &str, Value)> = vec![
        ("Records".into(), "Count", json!(i.records)),
        ("RowsWritten".into(), "Count", json!(i.rows_written)),
        ("BytesWritten".into(), "Bytes", json!(i.bytes_written)),
        (
            "Rejects".into(),
            "Count",
            json!(i.rejects.values().sum::<usize>()),
        ),
        ("Retries".into(), "Count", json!(i.retries)),
        (
            "FailedPartitions".into(),
            "Count",
            json!(i.failed_partitions),
        ),
        ("Latency".into(), "Milliseconds", json!(i.latency_ms)),
    ];
    for (class, count) in &i.rejects {
        metrics.push((format!("Rejects.{class}"), "Count", json!(count)));
    }
    if let Some(oldest) = i.oldest_record_ms {
        metrics.push((
            "RecordAge".into(),
            "Milliseconds",
            json!(i.now_ms.saturating_sub(oldest).max(0)),
        ));
    }
    let mut doc = Map::new();
    doc.insert("Function".into(), json!(i.function));
    let topic = if i.topic.trim().is_empty() {
        NO_TOPIC
    } else {
        i.topic.as_str()
    };
    doc.insert("Topic".into(), json!(topic));
    let table = if i.table.trim().is_empty() {
        NO_TOPIC
    } else {
        i.table.as_str()
    };
    doc.insert("Table".into(), json!(table));
    doc.insert("Partitions".into(), json!(i.partitions));
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    for (name, _, value) in metrics {
        doc.insert(name, value);
    }
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": i.now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function", "Topic", "Table"]],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(topic: &str) -> Invocation {
        Invocation {
            function: "sink".to_owned(),
            topic: topic.to_owned(),
            table: "t".to_owned(),
            records: 0,
            rows_written: 0,
            bytes_written: 0,
            rejects: BTreeMap::new(),
            partitions: BTreeMap::new(),
            retries: 0,
            failed_partitions: 0,
            latency_ms: 1,
            oldest_record_ms: None,
            now_ms: 1_605_596_645_123,
        }
    }

    #[test]
    fn every_dimension_value_is_non_empty() {
        assert_eq!(emf(&invocation(""))["Topic"], NO_TOPIC);
        let no_table = Invocation {
            table: String::new(),
            ..invocation("t")
        };
        assert_eq!(emf(&no_table)["Table"], NO_TOPIC);
        assert_eq!(emf(&invocation("orders,clicks"))["Topic"], "orders,clicks");
    }
}

//! Kafka trigger events: the project's `events/` corpus, and builders of the JSON the event
//! source mapping sends a function, for tests that need records the corpus does not hold.
//!
//! The builders write records as AWS's trigger does (see `tests/aws/event-shapes.json`): key and
//! value in base64, a null key or value (a tombstone) left out of the record, headers as a list
//! of one-entry objects whose values are Java's signed bytes, and records grouped in lists named
//! `<topic>-<partition>`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use serde_json::{Value as Json, json};

/// The `events/` folder at the root of the repository.
pub fn events_dir() -> PathBuf {
    crate::python::workspace_root().join("events")
}

/// The text of `events/<name>`; panics naming the path when it cannot be read.
pub fn read_event(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One record of a trigger event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In order, repeated names kept, as Kafka carries them.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// A record of `topic`/`partition` at `offset`, without key, value or headers.
    pub fn new(topic: &str, partition: i32, offset: i64, timestamp_ms: i64) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            offset,
            timestamp_ms,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    /// The record as the trigger writes it (`timestampType` `CREATE_TIME`).
    pub fn to_json(&self) -> Json {
        let b64 = |b: &Vec<u8>| Json::from(base64::engine::general_purpose::STANDARD.encode(b));
        let headers: Vec<Json> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let signed: Vec<Json> = v.iter().map(|b| Json::from(*b as i8)).collect();
                json!({ k.clone(): signed })
            })
            .collect();
        let mut record = json!({
            "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "timestamp": self.timestamp_ms, "timestampType": "CREATE_TIME",
            "headers": headers,
        });
        if let Some(object) = record.as_object_mut() {
            if let Some(key) = &self.key {
                object.insert("key".to_owned(), b64(key));
            }
            if let Some(value) = &self.value {
                object.insert("value".to_owned(), b64(value));
            }
        }
        record
    }
}

/// A trigger event from `event_source` (`aws:kafka` or `SelfManagedKafka`) holding `records`,
/// with `bootstrapServers` when given. Lists are in name order; records keep their order within
/// a list.
pub fn trigger_event(event_source: &str, bootstrap: Option<&str>, records: &[Record]) -> Json {
    let mut lists: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for r in records {
        lists
            .entry(format!("{}-{}", r.topic, r.partition))
            .or_default()
            .push(r.to_json());
    }
    let mut event = json!({ "eventSource": event_source, "records": lists });
    if let (Some(object), Some(bootstrap)) = (event.as_object_mut(), bootstrap) {
        object.insert("bootstrapServers".to_owned(), Json::from(bootstrap));
    }
    event
}

/// A self-managed Kafka trigger event of one topic: records `(partition, offset, timestamp_ms)`,
/// each with the key `k<offset>` and the value `v<offset>`.
pub fn kafka_event(topic: &str, records: &[(i32, i64, i64)]) -> String {
    let records: Vec<Record> = records
        .iter()
        .map(|&(partition, offset, timestamp_ms)| Record {
            key: Some(format!("k{offset}").into_bytes()),
            value: Some(format!("v{offset}").into_bytes()),
            ..Record::new(topic, partition, offset, timestamp_ms)
        })
        .collect();
    trigger_event("SelfManagedKafka", Some("127.0.0.1:9092"), &records).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_written_as_the_trigger_writes_it() {
        let mut r = Record::new("orders", 3, 7, 1_750_237_198_120);
        r.value = Some(vec![0x00, 0xfe]);
        r.headers = vec![("h".to_owned(), vec![0x68, 0xff]), ("h".to_owned(), vec![])];
        assert_eq!(
            trigger_event("aws:kafka", None, &[r]),
            json!({"eventSource": "aws:kafka", "records": {"orders-3": [{
                "topic": "orders", "partition": 3, "offset": 7,
                "timestamp": 1_750_237_198_120_i64, "timestampType": "CREATE_TIME",
                "value": "AP4=", "headers": [{"h": [104, -1]}, {"h": []}],
            }]}})
        );
    }

    #[test]
    fn records_are_grouped_by_topic_and_partition_in_their_order() {
        let event: Json =
            serde_json::from_str(&kafka_event("t", &[(1, 5, 10), (0, 9, 11), (1, 4, 12)])).unwrap();
        assert_eq!(event["bootstrapServers"], "127.0.0.1:9092");
        let offsets = |list: &str| -> Vec<i64> {
            let records = event["records"][list].as_array().unwrap();
            records
                .iter()
                .map(|r| r["offset"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(offsets("t-0"), [9]);
        assert_eq!(offsets("t-1"), [5, 4]);
        assert_eq!(event["records"]["t-1"][1]["key"], "azQ=");
    }

    #[test]
    fn the_corpus_is_found() {
        assert!(read_event("seed-test-message.json").contains("records"));
    }
}

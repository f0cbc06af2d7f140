//! Kafka helpers for the integration tests: a protocol-level fetch that keeps headers as the list
//! Kafka carries, and topic creation through one broker; the broker's address, unique topics
//! and plain topic creation come from the project's test support.

use std::sync::Arc;

use maxcompute_core::error_record::ErrorMessage;
use rskafka::messenger::Messenger;
use rskafka::protocol::messages::{
    CreateTopicRequest, CreateTopicsRequest, FetchRequest, FetchRequestPartition,
    FetchRequestTopic, IsolationLevel, NORMAL_CONSUMER,
};
use rskafka::protocol::primitives::{Int16, Int32, Int64, String_};
use rskafka::protocol::record::ControlBatchOrRecords;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::time::Instant;

pub(crate) use test_support::kafka::{bootstrap, create_topic, require_broker, unique_topic};
pub(crate) use test_support::time::in_secs;

/// A record as it is stored in the broker, headers as the wire list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Stored {
    pub(crate) fn as_message(&self) -> ErrorMessage {
        ErrorMessage {
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Reads `expected` records of one partition from offset 0, at the protocol level. Polls
/// rather than trusting the high watermark, which tansu may report late.
pub(crate) async fn fetch(
    address: &str,
    topic: &str,
    partition: i32,
    expected: usize,
) -> Vec<Stored> {
    fetch_from(&messenger(address).await, topic, partition, expected).await
}

pub(crate) type PlainMessenger = Messenger<BufStream<TcpStream>>;

/// A protocol-level connection to one broker, versions negotiated.
pub(crate) async fn messenger(address: &str) -> PlainMessenger {
    let tcp = TcpStream::connect(address).await.unwrap();
    let mut messenger =
        Messenger::new(BufStream::new(tcp), 64 << 20, Arc::from("error-topic-test"));
    messenger.sync_versions().await.unwrap();
    messenger
}

/// Creates a topic through `messenger`'s broker itself (rskafka's client would go to the
/// address the broker advertises, which may be a TLS port).
pub(crate) async fn create_topic_on(messenger: &PlainMessenger, topic: &str, partitions: i32) {
    let response = messenger
        .request(CreateTopicsRequest {
            topics: vec![CreateTopicRequest {
                name: String_(topic.to_owned()),
                num_partitions: Int32(partitions),
                replication_factor: Int16(1),
                assignments: vec![],
                configs: vec![],
                tagged_fields: None,
            }],
            timeout_ms: Int32(5_000),
            validate_only: None,
            tagged_fields: None,
        })
        .await
        .unwrap();
    for t in response.topics {
        assert_eq!(t.error, None, "create topic {topic}");
    }
}

/// [`fetch`] on an open connection.
pub(crate) async fn fetch_from(
    messenger: &PlainMessenger,
    topic: &str,
    partition: i32,
    expected: usize,
) -> Vec<Stored> {
    let give_up = in_secs(10);
    let mut stored: Vec<Stored> = Vec::new();
    while stored.len() < expected {
        assert!(
            Instant::now() < give_up,
            "only {} of {expected} records in {topic}/{partition}: {stored:?}",
            stored.len()
        );
        let next = stored.last().map_or(0, |s| s.offset + 1);
        let response = messenger
            .request(FetchRequest {
                replica_id: NORMAL_CONSUMER,
                max_wait_ms: Int32(200),
                min_bytes: Int32(1),
                max_bytes: Some(Int32(32 << 20)),
                isolation_level: Some(IsolationLevel::ReadCommitted),
                topics: vec![FetchRequestTopic {
                    topic: String_(topic.to_owned()),
                    partitions: vec![FetchRequestPartition {
                        partition: Int32(partition),
                        fetch_offset: Int64(next),
                        partition_max_bytes: Int32(32 << 20),
                    }],
                }],
            })
            .await
            .unwrap();
        for t in response.responses {
            for p in t.partitions {
                assert_eq!(p.error_code, None, "fetch {topic}/{partition}");
                for batch in p.records.0 {
                    let ControlBatchOrRecords::Records(records) = batch.records else {
                        continue;
                    };
                    for r in records {
                        let offset = batch.base_offset + i64::from(r.offset_delta);
                        if offset < next {
                            continue;
                        }
                        stored.push(Stored {
                            offset,
                            timestamp_ms: batch.first_timestamp + r.timestamp_delta,
                            key: r.key,
                            value: r.value,
                            headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                        });
                    }
                }
            }
        }
    }
    assert_eq!(
        stored.len(),
        expected,
        "more records than sent in {topic}/{partition}"
    );
    stored
}

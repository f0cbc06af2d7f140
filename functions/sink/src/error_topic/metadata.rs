//! The error topic's layout (partitions, leaders, broker addresses) from a metadata request that
//! never asks the broker to create the topic. It opens no connection itself.

use std::collections::HashMap;

use rskafka::messenger::RequestError;
use rskafka::protocol::error::Error as ProtocolError;
use rskafka::protocol::messages::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse, WriteVersionedError,
};
use rskafka::protocol::primitives::{Boolean, String_};
use tokio::time::{Instant, timeout_at};

use super::connection::Connection;
use super::error::ErrorTopicError;

/// The error topic as the last metadata answer described it.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// Partition ids, ascending.
    pub(super) partitions: Vec<i32>,
    /// Partition id → leader broker id, for partitions that have a leader.
    pub(super) leaders: HashMap<i32, i32>,
    /// Broker id → `host:port`.
    pub(super) brokers: HashMap<i32, String>,
}

/// Reads the topic's partitions, their leaders and the brokers' addresses.
pub(super) async fn read_layout(
    topic: &str,
    address: &str,
    conn: &Connection,
    deadline: Instant,
) -> Result<Layout, ErrorTopicError> {
    // Ask the broker not to create the topic: a metadata request is otherwise an implicit
    // "create it" on clusters with `auto.create.topics.enable`, and a misspelt error topic would
    // quietly appear with default settings. The flag exists from metadata v4 on; an older broker
    // creates according to its own configuration whatever we send.
    let request = |allow: Option<Boolean>| MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: String_(topic.to_owned()),
        }]),
        allow_auto_topic_creation: allow,
    };
    let timeout = || ErrorTopicError::Timeout {
        broker: address.to_owned(),
        stage: "a metadata request",
    };
    let failed = |source| ErrorTopicError::Request {
        broker: address.to_owned(),
        source,
    };
    let response = match timeout_at(deadline, conn.request(request(Some(Boolean(false))))).await {
        Err(_) => return Err(timeout()),
        Ok(Err(RequestError::WriteError(WriteVersionedError::FieldNotAvailable { .. }))) => {
            timeout_at(deadline, conn.request(request(None)))
                .await
                .map_err(|_| timeout())?
                .map_err(failed)?
        }
        Ok(result) => result.map_err(failed)?,
    };
    layout_of(topic, response)
}

/// The topic's layout as a metadata answer gives it.
fn layout_of(topic: &str, response: MetadataResponse) -> Result<Layout, ErrorTopicError> {
    let unusable = |reason: String| ErrorTopicError::Metadata {
        topic: topic.to_owned(),
        reason,
    };
    let entry = response
        .topics
        .into_iter()
        .find(|t| t.name.0 == topic)
        .ok_or_else(|| unusable("the answer does not mention the topic".to_owned()))?;
    match entry.error {
        None => {}
        Some(ProtocolError::UnknownTopicOrPartition) => {
            return Err(ErrorTopicError::UnknownTopic {
                topic: topic.to_owned(),
            });
        }
        Some(error) => {
            return Err(ErrorTopicError::Broker {
                operation: "a metadata request",
                topic: topic.to_owned(),
                partition: None,
                error,
            });
        }
    }
    if entry.partitions.is_empty() {
        return Err(ErrorTopicError::UnknownTopic {
            topic: topic.to_owned(),
        });
    }
    let mut partitions: Vec<i32> = entry
        .partitions
        .iter()
        .map(|p| p.partition_index.0)
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    let leaders = entry
        .partitions
        .iter()
        .filter(|p| p.leader_id.0 >= 0)
        .map(|p| (p.partition_index.0, p.leader_id.0))
        .collect();
    let brokers = response
        .brokers
        .iter()
        .map(|b| {
            let host = &b.host.0;
            // An IPv6 literal needs brackets before the port.
            let address = if host.contains(':') {
                format!("[{host}]:{}", b.port.0)
            } else {
                format!("{host}:{}", b.port.0)
            };
            (b.node_id.0, address)
        })
        .collect();
    Ok(Layout {
        partitions,
        leaders,
        brokers,
    })
}

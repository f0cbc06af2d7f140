//! Routing and batching of error messages and the produce request (`acks=all`) that carries
//! one record batch, headers kept as a list. It sends nothing.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use maxcompute_core::error_record::ErrorMessage;
use rskafka::protocol::messages::{
    ProduceRequest, ProduceRequestPartitionData, ProduceRequestTopicData,
};
use rskafka::protocol::primitives::{Int16, Int32, NullableString, Records, String_};
use rskafka::protocol::record::{
    ControlBatchOrRecords, Record as ProtocolRecord, RecordBatch, RecordBatchCompression,
    RecordBatchTimestampType, RecordHeader,
};
use tokio::time::Instant;

use super::error::ErrorTopicError;

/// Messages of one partition are sent in record batches of about this many bytes at most, under
/// Kafka's default `max.message.bytes` (1 MiB) with room for batch and record overhead. A single
/// larger message is sent alone, and the broker's answer (MESSAGE_TOO_LARGE) is reported.
const MAX_BATCH_BYTES: usize = 768 * 1024;

/// The broker-side wait for replica acknowledgements, when the deadline leaves more.
const MAX_PRODUCE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most messages in one record batch, far below the `i32` offset deltas can count.
const MAX_BATCH_MESSAGES: usize = 10_000;

/// The error-topic partition for a message: origin partition modulo the partition count, over
/// the sorted partition ids; 0 when the origin is unknown. `None` only for a topic without
/// partitions, which metadata never lets through.
fn pick_partition(origin_partition: Option<i32>, partitions: &[i32]) -> Option<i32> {
    let n = i64::try_from(partitions.len()).ok().filter(|n| *n > 0)?;
    let index = i64::from(origin_partition.unwrap_or(0)).rem_euclid(n);
    partitions.get(usize::try_from(index).ok()?).copied()
}

/// Groups messages by error-topic partition, in arrival order, cut into record batches.
pub(super) fn route(
    messages: Vec<ErrorMessage>,
    partitions: &[i32],
) -> BTreeMap<i32, VecDeque<Vec<ErrorMessage>>> {
    let mut by_partition: BTreeMap<i32, Vec<ErrorMessage>> = BTreeMap::new();
    for message in messages {
        let partition = pick_partition(message.origin_partition(), partitions).unwrap_or(0);
        by_partition.entry(partition).or_default().push(message);
    }
    by_partition
        .into_iter()
        .map(|(partition, messages)| (partition, split_batches(messages).into()))
        .collect()
}

/// Cuts one partition's messages into batches of at most [`MAX_BATCH_BYTES`] (estimated) and
/// [`MAX_BATCH_MESSAGES`], keeping order; a message larger than the bound goes alone.
fn split_batches(messages: Vec<ErrorMessage>) -> Vec<Vec<ErrorMessage>> {
    let mut batches = Vec::new();
    let mut current: Vec<ErrorMessage> = Vec::new();
    let mut current_bytes = 0usize;
    for message in messages {
        let size = estimated_size(&message);
        if !current.is_empty()
            && (current_bytes.saturating_add(size) > MAX_BATCH_BYTES
                || current.len() >= MAX_BATCH_MESSAGES)
        {
            batches.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes = current_bytes.saturating_add(size);
        current.push(message);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// A record's encoded size, rounded up for varints and lengths.
fn estimated_size(message: &ErrorMessage) -> usize {
    const RECORD_OVERHEAD: usize = 32;
    const HEADER_OVERHEAD: usize = 10;
    message
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD)
        .sum::<usize>()
        + message.key.as_ref().map_or(0, Vec::len)
        + message.value.as_ref().map_or(0, Vec::len)
        + RECORD_OVERHEAD
}

/// One produce request holding one record batch for one partition, `acks=all`.
pub(super) fn produce_request(
    topic: &str,
    partition: i32,
    batch: &[ErrorMessage],
    deadline: Instant,
) -> Result<ProduceRequest, ErrorTopicError> {
    let first = batch.first().map_or(0, |m| m.timestamp_ms);
    let mut max_timestamp = first;
    let mut records = Vec::with_capacity(batch.len());
    for (i, message) in batch.iter().enumerate() {
        let timestamp_delta =
            message
                .timestamp_ms
                .checked_sub(first)
                .ok_or(ErrorTopicError::TimestampRange {
                    first,
                    other: message.timestamp_ms,
                })?;
        max_timestamp = max_timestamp.max(message.timestamp_ms);
        records.push(ProtocolRecord {
            timestamp_delta,
            offset_delta: i32::try_from(i).unwrap_or(i32::MAX),
            key: message.key.clone(),
            value: message.value.clone(),
            // The reason for this module: a list, in order, duplicates kept.
            headers: message
                .headers
                .iter()
                .map(|(key, value)| RecordHeader {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        });
    }
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .min(MAX_PRODUCE_TIMEOUT);
    let timeout_ms = i32::try_from(remaining.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    Ok(ProduceRequest {
        transactional_id: NullableString(None),
        acks: Int16(-1),
        timeout_ms: Int32(timeout_ms),
        topic_data: vec![ProduceRequestTopicData {
            name: String_(topic.to_owned()),
            partition_data: vec![ProduceRequestPartitionData {
                index: Int32(partition),
                records: Records(vec![RecordBatch {
                    base_offset: 0,
                    // -1: "no leader epoch known", as producers send it.
                    partition_leader_epoch: -1,
                    last_offset_delta: i32::try_from(batch.len().saturating_sub(1))
                        .unwrap_or(i32::MAX),
                    first_timestamp: first,
                    max_timestamp,
                    producer_id: -1,
                    producer_epoch: -1,
                    base_sequence: -1,
                    records: ControlBatchOrRecords::Records(records),
                    compression: RecordBatchCompression::NoCompression,
                    is_transactional: false,
                    timestamp_type: RecordBatchTimestampType::CreateTime,
                }]),
            }],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_origin_modulo_count_over_sorted_ids() {
        assert_eq!(pick_partition(Some(7), &[0, 1, 2]), Some(1));
        assert_eq!(pick_partition(Some(2), &[0, 1, 2]), Some(2));
        assert_eq!(pick_partition(None, &[0, 1, 2]), Some(0));
        assert_eq!(pick_partition(Some(-1), &[0, 1, 2]), Some(2));
        assert_eq!(pick_partition(Some(i32::MIN), &[0, 1, 2]), Some(1));
        assert_eq!(pick_partition(Some(5), &[3, 9]), Some(9));
        assert_eq!(pick_partition(Some(5), &[]), None);
    }

    fn message(size: usize) -> ErrorMessage {
        ErrorMessage {
            key: None,
            value: Some(vec![0; size]),
            headers: vec![],
            timestamp_ms: 0,
        }
    }

    #[test]
    fn batches_are_cut_by_size_in_order_and_big_messages_go_alone() {
        let big = MAX_BATCH_BYTES;
        let batches = split_batches(vec![message(10), message(big), message(20), message(30)]);
        let sizes: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| b.iter().map(|m| m.value.as_ref().unwrap().len()).collect())
            .collect();
        assert_eq!(sizes, vec![vec![10], vec![big], vec![20, 30]]);
        assert!(split_batches(vec![]).is_empty());
    }
}

//! The provisioned-mode error handling of the Lambda Kafka event source mapping, pure: what the
//! settings mean, what happens to a batch after a failed attempt, which records are too old to
//! send, and the on-failure record a `kafka://` destination receives.
//!
//! The rules (the Lambda developer guide, "Configuring error handling controls for Kafka event
//! sources" and "Using a Kafka topic as an on-failure destination"):
//! - `MaximumRetryAttempts` counts retries, not the first attempt: 0 sends a batch once. -1 is
//!   infinite, except that with an on-failure destination Lambda applies at most 10.
//! - `BisectBatchOnFunctionError` splits a failed batch of more than one record in two halves,
//!   sent one after the other in offset order. Splitting does not count as a retry: the halves
//!   keep the retries their batch had used, so a single record that fails everything is
//!   isolated after about log2(BatchSize) splits and then retried `MaximumRetryAttempts` times.
//! - `MaximumRecordAgeInSeconds`: a record older than this (by its Kafka timestamp) is not
//!   sent to the function any more, on a first attempt or a retry; it goes to the destination.
//! - A batch given up goes to the destination, one message per record: the JSON below, keyed
//!   by the record's key; then the trigger commits past it and the partition moves on. Without
//!   a destination the records are dropped (logged).
//!
//! This module does no I/O and reads no clock: callers pass "now".

use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use super::batch::{Batch, EventMeta, Pending};

/// `MaximumRetryAttempts`: -1 (infinite) or 0..=10000.
pub const RETRY_ATTEMPTS_RANGE: RangeInclusive<i64> = -1..=10_000;
/// `MaximumRecordAgeInSeconds` when not -1 (infinite).
pub const RECORD_AGE_RANGE: RangeInclusive<i64> = 60..=604_800;
/// The retries Lambda applies when they are infinite and an on-failure destination is set.
pub const RETRIES_WITH_DESTINATION: u32 = 10;
/// `requestContext.condition` of a batch whose retries ran out (the spelling of AWS's page on
/// Kafka destinations; its page on SQS and SNS destinations says `RetryAttemptsExhausted`).
pub const RETRIES_EXHAUSTED: &str = "RetriesExhausted";
/// `requestContext.condition` of a record older than `MaximumRecordAgeInSeconds`. AWS's Kafka
/// pages show no example of this one; the spelling is this trigger's.
pub const RECORD_AGE_EXCEEDED: &str = "RecordAgeExceeded";

/// Where given-up records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `kafka://<topic>`: a topic on the source cluster.
    Kafka { topic: String },
}

impl std::str::FromStr for Destination {
    type Err = String;

    /// `kafka://<topic>`; SQS, SNS and S3 ARNs are valid in AWS but refused here.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(topic) = s.strip_prefix("kafka://") {
            if topic.is_empty() || topic.contains('/') {
                return Err(format!("expected kafka://<topic>, got `{s}`"));
            }
            return Ok(Self::Kafka {
                topic: topic.to_owned(),
            });
        }
        let kind = ["sqs", "sns", "s3"]
            .into_iter()
            .find(|k| s.starts_with(&format!("arn:aws:{k}:")));
        Err(match kind {
            Some(kind) => format!(
                "the on-failure destination `{s}` is an {} ARN: the local trigger writes only to kafka://<topic> destinations",
                kind.to_uppercase()
            ),
            None => format!(
                "the on-failure destination must be kafka://<topic> (or, in AWS only, an SQS, SNS or S3 ARN), got `{s}`"
            ),
        })
    }
}

/// The mapping's error handling. The default is on-demand mode's: retry for ever, never split,
/// never give up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorHandling {
    /// `None`: infinite (-1).
    pub maximum_retry_attempts: Option<u32>,
    /// `None`: infinite (-1).
    pub maximum_record_age: Option<Duration>,
    pub bisect_batch_on_function_error: bool,
    pub on_failure: Option<Destination>,
}

impl ErrorHandling {
    /// From the settings as AWS takes them; `None` where a setting is absent. Values out of
    /// AWS's ranges and destinations other than `kafka://` are refused with what is accepted.
    pub fn from_settings(
        maximum_retry_attempts: Option<i64>,
        maximum_record_age_s: Option<i64>,
        bisect: Option<bool>,
        on_failure: Option<&str>,
    ) -> Result<Self, String> {
        let retries = match maximum_retry_attempts {
            None | Some(-1) => None,
            Some(n) if RETRY_ATTEMPTS_RANGE.contains(&n) => u32::try_from(n).ok(),
            Some(n) => {
                return Err(format!(
                    "MaximumRetryAttempts must be -1 or 0..=10000, got {n}"
                ));
            }
        };
        let age = match maximum_record_age_s {
            None | Some(-1) => None,
            Some(s) if RECORD_AGE_RANGE.contains(&s) => {
                Some(Duration::from_secs(u64::try_from(s).unwrap_or_default()))
            }
            Some(s) => {
                return Err(format!(
                    "MaximumRecordAgeInSeconds must be -1 or 60..=604800, got {s}"
                ));
            }
        };
        Ok(Self {
            maximum_retry_attempts: retries,
            maximum_record_age: age,
            bisect_batch_on_function_error: bisect.unwrap_or(false),
            on_failure: on_failure.map(str::parse).transpose()?,
        })
    }

    /// The retries a batch gets: `MaximumRetryAttempts`, or 10 when that is infinite and a
    /// destination is set; `None` is infinite.
    pub fn retry_limit(&self) -> Option<u32> {
        self.maximum_retry_attempts
            .or(self.on_failure.as_ref().map(|_| RETRIES_WITH_DESTINATION))
    }

    /// What to do with a batch of `records` records that failed after `retries` retries.
    pub fn after_failure(&self, retries: u32, records: usize) -> AfterFailure {
        if self.bisect_batch_on_function_error && records > 1 {
            AfterFailure::Bisect
        } else if self.retry_limit().is_some_and(|limit| retries >= limit) {
            AfterFailure::GiveUp
        } else {
            AfterFailure::Retry
        }
    }

    /// Whether a record with this Kafka timestamp is too old to send at `now_ms`. A record
    /// without a timestamp (-1) never is.
    pub fn too_old(&self, timestamp_ms: i64, now_ms: i64) -> bool {
        let Some(max) = self.maximum_record_age else {
            return false;
        };
        let max_ms = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
        timestamp_ms >= 0 && now_ms.saturating_sub(timestamp_ms) > max_ms
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Send the same records again (after a backoff); one more retry used.
    Retry,
    /// Send each half on its own; no retry used.
    Bisect,
    /// Write the records to the destination and move past them.
    GiveUp,
}

/// Splits a batch in two halves in offset order (the first is the smaller one when the count
/// is odd); `None` for a batch of fewer than two records.
pub fn bisect(batch: Batch) -> Option<(Batch, Batch)> {
    if batch.records.len() < 2 {
        return None;
    }
    let Batch {
        topic,
        partition,
        mut records,
        first_seen,
    } = batch;
    let second = records.split_off(records.len() / 2);
    let half = |records| Batch {
        topic: topic.clone(),
        partition,
        records,
        first_seen,
    };
    Some((half(records), half(second)))
}

/// Why and after what a record was given up: the `requestContext` and `responseContext` of its
/// on-failure record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiveUp {
    pub condition: &'static str,
    /// The last invocation's request id; `None` when the record was never sent.
    pub request_id: Option<String>,
    pub function_arn: String,
    /// How often the function was invoked with the record.
    pub invoke_count: u32,
    /// The last invocation's answer: `None` when the record was never sent (no
    /// `responseContext`), `Some(None)` for a response without error, `Some(Some("Unhandled"))`
    /// for an error, a timeout or a crash.
    pub function_error: Option<Option<String>>,
}

/// RFC 3339 in UTC with milliseconds, as AWS writes the envelope's times.
fn rfc3339_ms(ms: i64) -> Value {
    DateTime::from_timestamp_millis(ms)
        .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

/// The value of the on-failure message for one record, as a Kafka destination receives it:
/// `requestContext`, `responseContext`, `version`, `timestamp`, `KafkaBatchInfo` (batch size 1,
/// the cluster, the payload's size, the record's offset as a string and its time) and
/// `payload`, the one-record event the function would have received.
pub fn on_failure_value(
    give_up: &GiveUp,
    meta: &EventMeta,
    topic: &str,
    partition: i32,
    record: &Pending,
    now_ms: i64,
) -> String {
    let event = Batch {
        topic: topic.to_owned(),
        partition,
        records: vec![record.clone()],
        first_seen: std::time::Instant::now(),
    }
    .event(meta);
    let payload: Value = serde_json::from_str(&event).unwrap_or(Value::Null);
    let mut batch_info = json!({
        "batchSize": 1,
        "bootstrapServers": meta.bootstrap_servers,
        "payloadSize": event.len(),
        "recordInfo": {
            "offset": record.offset.to_string(),
            "timestamp": rfc3339_ms(record.timestamp_ms),
        },
    });
    if let (Some(arn), Some(info)) = (&meta.event_source_arn, batch_info.as_object_mut()) {
        info.insert("eventSourceArn".to_owned(), Value::String(arn.clone()));
    }
    let response = give_up.function_error.as_ref().map(|error| {
        let mut r = json!({"statusCode": 200, "executedVersion": "$LATEST"});
        if let (Some(e), Some(r)) = (error, r.as_object_mut()) {
            r.insert("functionError".to_owned(), Value::String(e.clone()));
        }
        r
    });
    json!({
        "requestContext": {
            "requestId": give_up.request_id,
            "functionArn": give_up.function_arn,
            "condition": give_up.condition,
            "approximateInvokeCount": give_up.invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": rfc3339_ms(now_ms),
        "KafkaBatchInfo": batch_info,
        "payload": payload,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::trigger::batch::{SourceRecord, record_json};

    fn handling(retries: i64, age: i64, bisect: bool, dest: Option<&str>) -> ErrorHandling {
        ErrorHandling::from_settings(Some(retries), Some(age), Some(bisect), dest).unwrap()
    }

    fn batch(offsets: std::ops::Range<i64>) -> Batch {
        Batch::of_offsets("t", 0, offsets)
    }

    #[test]
    fn settings_are_checked_against_the_ranges_aws_accepts() {
        assert_eq!(
            ErrorHandling::from_settings(None, None, None, None).unwrap(),
            ErrorHandling::default()
        );
        let h = handling(-1, -1, true, Some("kafka://errors"));
        assert_eq!(h.maximum_retry_attempts, None);
        assert_eq!(h.maximum_record_age, None);
        assert_eq!(
            h.on_failure,
            Some(Destination::Kafka {
                topic: "errors".to_owned()
            })
        );
        for (retries, age, dest, expected) in [
            (-2, -1, None, "MaximumRetryAttempts must be -1 or 0..=10000"),
            (10_001, -1, None, "MaximumRetryAttempts"),
            (
                0,
                59,
                None,
                "MaximumRecordAgeInSeconds must be -1 or 60..=604800",
            ),
            (0, 604_801, None, "MaximumRecordAgeInSeconds"),
            (
                0,
                -1,
                Some("arn:aws:sqs:us-east-1:1:q"),
                "is an SQS ARN: the local trigger writes only to kafka://<topic>",
            ),
            (0, -1, Some("arn:aws:s3:::b"), "is an S3 ARN"),
            (0, -1, Some("kafka://"), "expected kafka://<topic>"),
            (0, -1, Some("errors"), "must be kafka://<topic>"),
        ] {
            let e = ErrorHandling::from_settings(Some(retries), Some(age), None, dest).unwrap_err();
            assert!(e.contains(expected), "{retries} {age} {dest:?}: {e}");
        }
    }

    #[test]
    fn infinite_retries_become_ten_with_a_destination() {
        assert_eq!(handling(-1, -1, false, None).retry_limit(), None);
        assert_eq!(
            handling(-1, -1, false, Some("kafka://e")).retry_limit(),
            Some(10)
        );
        assert_eq!(
            handling(3, -1, false, Some("kafka://e")).retry_limit(),
            Some(3)
        );
        assert_eq!(handling(0, -1, false, None).retry_limit(), Some(0));
    }

    #[test]
    fn a_failed_batch_is_retried_then_given_up() {
        let h = handling(2, -1, false, Some("kafka://e"));
        assert_eq!(h.after_failure(0, 5), AfterFailure::Retry);
        assert_eq!(h.after_failure(1, 5), AfterFailure::Retry);
        assert_eq!(h.after_failure(2, 5), AfterFailure::GiveUp);
        let none = handling(0, -1, false, None);
        assert_eq!(none.after_failure(0, 1), AfterFailure::GiveUp);
        // On-demand mode retries for ever.
        assert_eq!(
            ErrorHandling::default().after_failure(u32::MAX, 1),
            AfterFailure::Retry
        );
    }

    #[test]
    fn bisection_splits_without_using_retries_until_one_record_is_left() {
        let h = handling(1, -1, true, Some("kafka://e"));
        assert_eq!(h.after_failure(0, 2), AfterFailure::Bisect);
        assert_eq!(h.after_failure(5, 2), AfterFailure::Bisect);
        assert_eq!(h.after_failure(0, 1), AfterFailure::Retry);
        assert_eq!(h.after_failure(1, 1), AfterFailure::GiveUp);

        let (a, b) = bisect(batch(10..15)).unwrap();
        let offsets = |b: &Batch| b.records.iter().map(|r| r.offset).collect::<Vec<_>>();
        assert_eq!((offsets(&a), offsets(&b)), (vec![10, 11], vec![12, 13, 14]));
        assert!(bisect(batch(3..4)).is_none());

        // One poison record among eight, never a retry before it is alone: 3 splits on its
        // path, then the single record is tried 1 + MaximumRetryAttempts times.
        let mut queue = vec![(batch(0..8), 0u32)];
        let mut invocations = 0;
        let mut given_up = Vec::new();
        while let Some((b, retries)) = queue.pop() {
            invocations += 1;
            if !b.records.iter().any(|r| r.offset == 5) {
                continue;
            }
            match h.after_failure(retries, b.records.len()) {
                AfterFailure::Bisect => {
                    let (x, y) = bisect(b).unwrap();
                    queue.push((y, retries));
                    queue.push((x, retries));
                }
                AfterFailure::Retry => queue.push((b, retries + 1)),
                AfterFailure::GiveUp => given_up.extend(offsets(&b)),
            }
        }
        assert_eq!(given_up, vec![5]);
        // 1 (eight) + 2 (fours) + 2 (twos) + 2 (ones) + 1 retry of offset 5.
        assert_eq!(invocations, 8);
    }

    #[test]
    fn records_older_than_the_maximum_age_are_too_old() {
        let h = handling(-1, 60, false, None);
        let now = 1_700_000_000_000;
        assert!(!h.too_old(now - 60_000, now));
        assert!(h.too_old(now - 60_001, now));
        assert!(!h.too_old(-1, now), "no timestamp");
        assert!(!ErrorHandling::default().too_old(0, now));
    }

    #[test]
    fn the_on_failure_record_has_the_documented_shape() {
        let record = SourceRecord {
            topic: "orders-eu".to_owned(),
            partition: 2,
            offset: 48,
            timestamp_ms: 1_605_596_645_123,
            timestamp_type: "CREATE_TIME",
            key: Some(b"k".to_vec()),
            value: Some(vec![0xff, 0xfe]),
            headers: vec![("h".to_owned(), Some(vec![0x80]))],
        };
        let pending = Pending::of(&record, record_json(&record));
        let meta = EventMeta {
            event_source: "aws:kafka".to_owned(),
            event_source_arn: Some("arn:aws:kafka:local:0:cluster/c/u".to_owned()),
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
        };
        let give_up = GiveUp {
            condition: RETRIES_EXHAUSTED,
            request_id: Some("local-000000000007".to_owned()),
            function_arn: "arn:aws:lambda:local:000000000000:function:sink".to_owned(),
            invoke_count: 3,
            function_error: Some(Some("Unhandled".to_owned())),
        };
        let now = 1_605_597_000_250;
        let text = on_failure_value(&give_up, &meta, "orders-eu", 2, &pending, now);
        let v: Value = serde_json::from_str(&text).unwrap();
        let event = serde_json::json!({
            "eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:local:0:cluster/c/u",
            "bootstrapServers": "127.0.0.1:9092",
            "records": {"orders-eu-2": [{
                "topic": "orders-eu", "partition": 2, "offset": 48,
                "timestamp": 1_605_596_645_123_i64, "timestampType": "CREATE_TIME",
                "key": "aw==", "value": "//4=", "headers": [{"h": [-128]}]
            }]}
        });
        assert_eq!(
            v,
            serde_json::json!({
                "requestContext": {
                    "requestId": "local-000000000007",
                    "functionArn": "arn:aws:lambda:local:000000000000:function:sink",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3
                },
                "responseContext": {
                    "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"
                },
                "version": "1.0",
                "timestamp": "2020-11-17T07:10:00.250Z",
                "KafkaBatchInfo": {
                    "batchSize": 1,
                    "eventSourceArn": "arn:aws:kafka:local:0:cluster/c/u",
                    "bootstrapServers": "127.0.0.1:9092",
                    "payloadSize": event.to_string().len(),
                    "recordInfo": {"offset": "48", "timestamp": "2020-11-17T07:04:05.123Z"}
                },
                "payload": event
            })
        );
        let decoded = maxcompute_core::event::decode_event_str(&v["payload"].to_string()).unwrap();
        assert_eq!(decoded.records[0].value.as_deref(), Some(&[0xff, 0xfe][..]));

        // A record that was never sent has no response context and no request id.
        let never = GiveUp {
            condition: RECORD_AGE_EXCEEDED,
            request_id: None,
            invoke_count: 0,
            function_error: None,
            ..give_up
        };
        let v: Value = serde_json::from_str(&on_failure_value(
            &never,
            &meta,
            "orders-eu",
            2,
            &pending,
            now,
        ))
        .unwrap();
        assert_eq!(v["responseContext"], Value::Null);
        assert_eq!(v["requestContext"]["requestId"], Value::Null);
        assert_eq!(v["requestContext"]["condition"], "RecordAgeExceeded");
    }
}

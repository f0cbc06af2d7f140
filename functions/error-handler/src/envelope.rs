//! The Lambda Kafka trigger's own on-failure envelopes (a `kafka://` on-failure destination):
//! recognising one in an error-topic record's value and unwrapping the failed record from it.
//!
//! The envelope is one JSON object per failed record, roughly
//! `{requestContext{requestId, functionArn, condition, approximateInvokeCount}, responseContext,
//! version, timestamp, KafkaBatchInfo{...}, payload{a Kafka trigger event with one record}}`
//! (the Lambda developer guide, "Capturing discarded batches for a Kafka event source"). AWS
//! documents the condition both as `RetryAttemptsExhausted` and as `RetriesExhausted`; both are
//! accepted, and so is any other condition (a record-age expiry, say), which is kept verbatim in
//! the row's message.
//!
//! Recognition is deliberately narrow: a JSON object with `requestContext` and
//! `KafkaBatchInfo` objects and a `payload` that decodes as a trigger event (an object, or that
//! object as a JSON string as S3 destinations write it). Anything else is not an envelope, and the
//! caller stores it raw. `timestamp` is read as RFC 3339 text or epoch milliseconds; the other
//! fields are optional. This module is pure and never panics; it does not build rows.

use chrono::DateTime;
use maxcompute_core::event::{DecodedBatch, decode_event_str};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The condition spellings AWS documents for "the trigger retried until it gave up".
pub const RETRIES_EXHAUSTED: [&str; 2] = ["RetryAttemptsExhausted", "RetriesExhausted"];

/// An unwrapped envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub condition: Option<String>,
    pub request_id: Option<String>,
    pub function_arn: Option<String>,
    pub approximate_invoke_count: Option<i64>,
    /// `responseContext.functionError`, e.g. `Unhandled`.
    pub function_error: Option<String>,
    /// The envelope's `timestamp`, epoch milliseconds, when it has a readable one.
    pub timestamp_ms: Option<i64>,
    /// The failed record(s), decoded like any trigger event.
    pub payload: DecodedBatch,
}

impl Envelope {
    /// Whether the condition is one of the documented spellings of "retries exhausted".
    pub fn retries_exhausted(&self) -> bool {
        self.condition
            .as_deref()
            .is_some_and(|c| RETRIES_EXHAUSTED.contains(&c))
    }

    /// The function's name from its ARN (`arn:aws:lambda:region:account:function:NAME[:qualifier]`),
    /// or the ARN itself when it has another shape.
    pub fn function_name(&self) -> Option<String> {
        let arn = self.function_arn.as_deref()?;
        let mut parts = arn.split(':');
        let name = parts
            .by_ref()
            .skip_while(|p| *p != "function")
            .nth(1)
            .filter(|n| !n.is_empty());
        Some(name.unwrap_or(arn).to_owned())
    }

    /// What went wrong, for people: condition, invoke count, function error and request id.
    pub fn message(&self) -> String {
        let mut parts = vec![format!(
            "the trigger gave up on the record: {}",
            self.condition.as_deref().unwrap_or("no condition given")
        )];
        if let Some(n) = self.approximate_invoke_count {
            parts.push(format!("after about {n} invocation(s)"));
        }
        if let Some(e) = &self.function_error {
            parts.push(format!("function error {e}"));
        }
        if let Some(id) = &self.request_id {
            parts.push(format!("request id {id}"));
        }
        parts.join("; ")
    }
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "requestContext")]
    request_context: RequestContext,
    #[serde(rename = "responseContext", default)]
    response_context: Option<ResponseContext>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    /// Required for recognition only; its fields differ between AWS's pages and are not needed.
    #[serde(rename = "KafkaBatchInfo")]
    _kafka_batch_info: serde_json::Map<String, serde_json::Value>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Deserialize)]
struct RequestContext {
    #[serde(rename = "requestId", default)]
    request_id: Option<String>,
    #[serde(rename = "functionArn", default)]
    function_arn: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(rename = "approximateInvokeCount", default)]
    approximate_invoke_count: Option<i64>,
}

#[derive(Deserialize)]
struct ResponseContext {
    #[serde(rename = "functionError", default)]
    function_error: Option<String>,
}

/// Reads `value` as an on-failure envelope; `None` when it is not one.
pub fn parse(value: &[u8]) -> Option<Envelope> {
    // Cheap pre-check: envelopes are JSON objects; most error-topic values are not.
    let first = value.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let wire: Wire<'_> = serde_json::from_str(text).ok()?;
    let payload_text = wire.payload.get();
    let payload = match serde_json::from_str::<String>(payload_text) {
        Ok(inner) => decode_event_str(&inner).ok()?,
        Err(_) => decode_event_str(payload_text).ok()?,
    };
    Some(Envelope {
        condition: wire.request_context.condition,
        request_id: wire.request_context.request_id,
        function_arn: wire.request_context.function_arn,
        approximate_invoke_count: wire.request_context.approximate_invoke_count,
        function_error: wire.response_context.and_then(|r| r.function_error),
        timestamp_ms: wire.timestamp.as_ref().and_then(timestamp_ms),
        payload,
    })
}

fn timestamp_ms(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn envelope(condition: &str, payload: &str) -> String {
        format!(
            r#"{{"requestContext":{{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:sink:live","condition":"{condition}","approximateInvokeCount":4}},
              "responseContext":{{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}},
              "version":"1.0","timestamp":"2020-11-17T07:10:00.250Z",
              "KafkaBatchInfo":{{"batchSize":1,"topic":"t"}},
              "payload":{payload}}}"#
        )
    }

    const PAYLOAD: &str = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,"offset":5,"timestamp":1605596645123,"timestampType":"CREATE_TIME","key":"aw==","value":"/w==","headers":[]}]}}"#;

    #[test]
    fn both_condition_spellings_unwrap() {
        for condition in RETRIES_EXHAUSTED {
            let e = parse(envelope(condition, PAYLOAD).as_bytes()).unwrap();
            assert!(e.retries_exhausted());
            assert_eq!(e.condition.as_deref(), Some(condition));
            assert_eq!(e.timestamp_ms, Some(1_605_597_000_250));
            assert_eq!(e.function_name().as_deref(), Some("sink"));
            assert_eq!(e.payload.records.len(), 1);
            assert_eq!(e.payload.records[0].value.as_deref(), Some(&[0xff][..]));
            assert_eq!(
                e.message(),
                format!(
                    "the trigger gave up on the record: {condition}; after about 4 invocation(s); function error Unhandled; request id r-1"
                )
            );
        }
    }

    #[test]
    fn a_payload_given_as_a_json_string_unwraps_too() {
        let quoted = serde_json::to_string(PAYLOAD).unwrap();
        let e = parse(envelope("RecordAgeExceeded", &quoted).as_bytes()).unwrap();
        assert!(!e.retries_exhausted());
        assert_eq!(e.payload.records[0].offset, 5);
    }

    #[test]
    fn other_json_and_bytes_are_not_envelopes() {
        for value in [
            &b"\xff\xfe"[..],
            b"",
            b"1,good",
            b"{\"requestContext\":{}}",
            b"{\"requestContext\":{},\"KafkaBatchInfo\":{},\"payload\":[1]}",
            b"{\"requestContext\":1,\"KafkaBatchInfo\":{},\"payload\":{\"records\":{}}}",
        ] {
            assert_eq!(parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn odd_arns_and_timestamps_are_kept_as_they_are() {
        let text = r#"{"requestContext":{"functionArn":"sink-fn"},"KafkaBatchInfo":{},"timestamp":1605597000250,"payload":{"records":{}}}"#;
        let e = parse(text.as_bytes()).unwrap();
        assert_eq!(e.function_name().as_deref(), Some("sink-fn"));
        assert_eq!(e.timestamp_ms, Some(1_605_597_000_250));
        assert_eq!(e.condition, None);
        assert_eq!(
            e.message(),
            "the trigger gave up on the record: no condition given"
        );
    }
}

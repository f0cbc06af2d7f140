//! Error-topic messages: what the sink sends to the error topic for a record it can never write,
//! and the inverse that the error handler and a replay tool use to read such a message back.
//!
//! A message keeps the original record byte for byte (key, value, headers in order with
//! duplicates, timestamp) and appends a block of headers that say what went wrong. The block
//! always starts with `mc.error.class` and always comes after every original header, so a reader
//! splits the headers at the **last** `mc.error.class`: everything before it is the original
//! record's, everything from it on is ours. That stays unambiguous when the original itself
//! carries `mc.*` headers (a replayed record that failed again keeps its earlier block as
//! ordinary original headers).
//!
//! | Header | Value (UTF-8) | Always |
//! |---|---|---|
//! | `mc.error.class` | the reject class, e.g. `csv_field_count` ([`RejectClass::as_str`]) | yes, first of the block |
//! | `mc.error.message` | what is wrong, for people; at most [`MAX_ERROR_MESSAGE_BYTES`] bytes | yes |
//! | `mc.origin.topic` | the record's topic | when known |
//! | `mc.origin.partition` | the record's partition, decimal | when known |
//! | `mc.origin.offset` | the record's offset, decimal | when known |
//! | `mc.origin.timestamp` | the record's timestamp, epoch milliseconds, decimal (`-1`: none) | when known |
//! | `mc.function` | the name of the function that rejected it | yes |
//! | `mc.failed.at` | when it was rejected, epoch milliseconds, decimal | yes |
//! | `mc.payload` | `record`: key and value are the original ones; `raw-event-json`: see below | yes |
//!
//! With `mc.payload=raw-event-json` the record did not decode from the trigger event
//! ([`RejectClass::MalformedRecord`]): the message value is the record's JSON exactly as it was in
//! the event, and the key and headers are those that could be recovered from it exactly (absent
//! when they could not). Every record whose reject carries raw JSON is sent this way, even when
//! its key and value decoded, because the raw JSON is then the only complete account of it.
//!
//! The message's own Kafka timestamp is the original timestamp when there is one (not negative),
//! and the rejection time otherwise; `mc.origin.timestamp` keeps the original even where the
//! error topic's `LogAppendTime` overwrites the message timestamp.
//!
//! Readers ignore block headers that start with `mc.` and that they do not know, so later
//! versions can add headers; any other header inside the block is an error.
//!
//! This module is pure: no I/O, no clock (the caller passes the time in). It does not pick the
//! error topic's partition nor send anything (see the sink's `error_topic` module).

use crate::event::{Reject, RejectClass};

/// The prefix of every header this module adds.
pub const HEADER_PREFIX: &str = "mc.";
/// The reject class; the first header of the added block.
pub const ERROR_CLASS: &str = "mc.error.class";
/// The human-readable reason.
pub const ERROR_MESSAGE: &str = "mc.error.message";
/// The record's topic.
pub const ORIGIN_TOPIC: &str = "mc.origin.topic";
/// The record's partition.
pub const ORIGIN_PARTITION: &str = "mc.origin.partition";
/// The record's offset.
pub const ORIGIN_OFFSET: &str = "mc.origin.offset";
/// The record's timestamp in epoch milliseconds.
pub const ORIGIN_TIMESTAMP: &str = "mc.origin.timestamp";
/// The function that rejected the record.
pub const FUNCTION: &str = "mc.function";
/// When the record was rejected, in epoch milliseconds.
pub const FAILED_AT: &str = "mc.failed.at";
/// What the message's key and value are: [`PAYLOAD_RECORD`] or [`PAYLOAD_RAW_EVENT_JSON`].
pub const PAYLOAD: &str = "mc.payload";
/// `mc.payload` value: the key and value are the original record's.
pub const PAYLOAD_RECORD: &str = "record";
/// `mc.payload` value: the value is the record's raw JSON from the trigger event.
pub const PAYLOAD_RAW_EVENT_JSON: &str = "raw-event-json";

/// Every header of the added block, in the order they are written.
pub const ADDED_HEADERS: [&str; 9] = [
    ERROR_CLASS,
    ERROR_MESSAGE,
    ORIGIN_TOPIC,
    ORIGIN_PARTITION,
    ORIGIN_OFFSET,
    ORIGIN_TIMESTAMP,
    FUNCTION,
    FAILED_AT,
    PAYLOAD,
];

/// Longest `mc.error.message` value. Reject messages are short already; this bound keeps a
/// pathological one from pushing the message past the broker's size limit.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Who rejected the record, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorContext<'a> {
    /// The function's name (for Lambda, `AWS_LAMBDA_FUNCTION_NAME`).
    pub function: &'a str,
    /// The time of rejection, epoch milliseconds.
    pub now_ms: i64,
}

/// One message for the error topic, as Kafka carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    /// `None` is Kafka's null key.
    pub key: Option<Vec<u8>>,
    /// `None` is Kafka's null value (the original was a tombstone).
    pub value: Option<Vec<u8>>,
    /// The original headers, then the added block.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The message's Kafka timestamp, epoch milliseconds.
    pub timestamp_ms: i64,
}

impl ErrorMessage {
    /// Builds the error-topic message for a reject.
    pub fn from_reject(reject: &Reject, ctx: ErrorContext<'_>) -> Self {
        let (value, payload) = match &reject.raw_json {
            Some(raw) => (Some(raw.as_bytes().to_vec()), PAYLOAD_RAW_EVENT_JSON),
            None => (reject.value.clone(), PAYLOAD_RECORD),
        };

        let mut headers = Vec::with_capacity(reject.headers.len() + ADDED_HEADERS.len());
        headers.extend(reject.headers.iter().cloned());
        let mut add =
            |name: &str, value: String| headers.push((name.to_owned(), value.into_bytes()));
        add(ERROR_CLASS, reject.class.as_str().to_owned());
        add(
            ERROR_MESSAGE,
            truncate(&reject.message, MAX_ERROR_MESSAGE_BYTES).to_owned(),
        );
        if let Some(topic) = &reject.topic {
            add(ORIGIN_TOPIC, topic.clone());
        }
        if let Some(partition) = reject.partition {
            add(ORIGIN_PARTITION, partition.to_string());
        }
        if let Some(offset) = reject.offset {
            add(ORIGIN_OFFSET, offset.to_string());
        }
        if let Some(ts) = reject.timestamp_ms {
            add(ORIGIN_TIMESTAMP, ts.to_string());
        }
        add(FUNCTION, ctx.function.to_owned());
        add(FAILED_AT, ctx.now_ms.to_string());
        add(PAYLOAD, payload.to_owned());

        Self {
            key: reject.key.clone(),
            value,
            headers,
            timestamp_ms: match reject.timestamp_ms {
                Some(ts) if ts >= 0 => ts,
                _ => ctx.now_ms,
            },
        }
    }

    /// The original record's partition, read from the added block; `None` when unknown or when
    /// this is not an error-topic message.
    pub fn origin_partition(&self) -> Option<i32> {
        let start = block_start(&self.headers)?;
        self.headers
            .get(start..)?
            .iter()
            .find(|(name, _)| name == ORIGIN_PARTITION)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
    }

    /// Reads an error-topic message back into the original record and the error.
    pub fn parse(&self) -> Result<ParsedErrorMessage, ParseError> {
        let start = block_start(&self.headers).ok_or(ParseError::NotAnErrorMessage)?;
        let (original_headers, block) = self.headers.split_at(start);

        let mut fields: [Option<&str>; ADDED_HEADERS.len()] = [None; ADDED_HEADERS.len()];
        for (name, value) in block {
            let Some(slot) = ADDED_HEADERS.iter().position(|known| known == name) else {
                if name.starts_with(HEADER_PREFIX) {
                    continue;
                }
                return Err(ParseError::UnexpectedHeader(name.clone()));
            };
            let text = std::str::from_utf8(value).map_err(|_| ParseError::NotUtf8(name.clone()))?;
            match fields.get_mut(slot) {
                Some(Some(_)) => return Err(ParseError::DuplicateHeader(name.clone())),
                Some(field) => *field = Some(text),
                None => {}
            }
        }
        let field = |name: &'static str| {
            ADDED_HEADERS
                .iter()
                .position(|known| *known == name)
                .and_then(|i| fields.get(i).copied().flatten())
        };
        let required = |name: &'static str| field(name).ok_or(ParseError::MissingHeader(name));
        let integer = |name: &'static str| -> Result<Option<i64>, ParseError> {
            field(name)
                .map(|s| {
                    s.parse::<i64>().map_err(|_| ParseError::NotAnInteger {
                        header: name,
                        value: crate::event::excerpt(s),
                    })
                })
                .transpose()
        };

        let partition = match integer(ORIGIN_PARTITION)? {
            Some(p) => Some(i32::try_from(p).map_err(|_| ParseError::NotAnInteger {
                header: ORIGIN_PARTITION,
                value: p.to_string(),
            })?),
            None => None,
        };
        let failed_at_ms = integer(FAILED_AT)?.ok_or(ParseError::MissingHeader(FAILED_AT))?;
        let payload = match required(PAYLOAD)? {
            PAYLOAD_RECORD => OriginalPayload::Value(self.value.clone()),
            PAYLOAD_RAW_EVENT_JSON => {
                let bytes = self.value.as_deref().unwrap_or_default();
                let json = std::str::from_utf8(bytes).map_err(|_| ParseError::RawJsonNotUtf8)?;
                OriginalPayload::RawEventJson(json.to_owned())
            }
            other => return Err(ParseError::UnknownPayload(crate::event::excerpt(other))),
        };

        Ok(ParsedErrorMessage {
            original: OriginalRecord {
                topic: field(ORIGIN_TOPIC).map(str::to_owned),
                partition,
                offset: integer(ORIGIN_OFFSET)?,
                timestamp_ms: integer(ORIGIN_TIMESTAMP)?,
                key: self.key.clone(),
                payload,
                headers: original_headers.to_vec(),
            },
            error: ErrorInfo {
                class: required(ERROR_CLASS)?.to_owned(),
                message: required(ERROR_MESSAGE)?.to_owned(),
                function: required(FUNCTION)?.to_owned(),
                failed_at_ms,
            },
        })
    }
}

/// An error-topic message read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedErrorMessage {
    pub original: OriginalRecord,
    pub error: ErrorInfo,
}

impl ParsedErrorMessage {
    /// The reject this message was built from; `None` when the class is not one this version
    /// knows. For a `raw-event-json` message the value is `None` and `raw_json` holds the record.
    pub fn to_reject(&self) -> Option<Reject> {
        let (value, raw_json) = match &self.original.payload {
            OriginalPayload::Value(v) => (v.clone(), None),
            OriginalPayload::RawEventJson(json) => (None, Some(json.clone())),
        };
        Some(Reject {
            class: self.error.reject_class()?,
            message: self.error.message.clone(),
            topic: self.original.topic.clone(),
            partition: self.original.partition,
            offset: self.original.offset,
            timestamp_ms: self.original.timestamp_ms,
            key: self.original.key.clone(),
            value,
            headers: self.original.headers.clone(),
            raw_json,
        })
    }
}

/// The original record, as far as the message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRecord {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub payload: OriginalPayload,
    /// In order, duplicates kept, bytes unchanged.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// The original value, or the record's raw JSON when it did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginalPayload {
    /// `mc.payload=record`: the original value (`None`: a tombstone).
    Value(Option<Vec<u8>>),
    /// `mc.payload=raw-event-json`: the record's JSON from the trigger event.
    RawEventJson(String),
}

/// What went wrong, from the added headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The class name as written; see [`ErrorInfo::reject_class`].
    pub class: String,
    pub message: String,
    pub function: String,
    pub failed_at_ms: i64,
}

impl ErrorInfo {
    /// The class, when this version knows it (a newer writer may add classes).
    pub fn reject_class(&self) -> Option<RejectClass> {
        RejectClass::ALL
            .into_iter()
            .find(|c| c.as_str() == self.class)
    }
}

/// A message that cannot be read as an error-topic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not an error-topic message: it has no `{ERROR_CLASS}` header")]
    NotAnErrorMessage,
    #[error("error-topic message lacks the `{0}` header")]
    MissingHeader(&'static str),
    #[error("error-topic message has the `{0}` header twice in its error block")]
    DuplicateHeader(String),
    #[error(
        "error-topic message has the header `{0}` inside its error block, which is not an error header"
    )]
    UnexpectedHeader(String),
    #[error("error-topic header `{0}` is not UTF-8")]
    NotUtf8(String),
    #[error("error-topic header `{header}` is not an integer: {value:?}")]
    NotAnInteger { header: &'static str, value: String },
    #[error("error-topic header `{PAYLOAD}` has an unknown value {0:?}")]
    UnknownPayload(String),
    #[error("error-topic message says its value is the raw event JSON, but the value is not UTF-8")]
    RawJsonNotUtf8,
}

/// The index of the added block: the last `mc.error.class` header.
fn block_start(headers: &[(String, Vec<u8>)]) -> Option<usize> {
    headers.iter().rposition(|(name, _)| name == ERROR_CLASS)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event::decode_event_str;

    const CTX: ErrorContext<'static> = ErrorContext {
        function: "sink-fn",
        now_ms: 1_764_000_000_123,
    };

    fn h(name: &str, value: &[u8]) -> (String, Vec<u8>) {
        (name.to_owned(), value.to_vec())
    }

    fn reject() -> Reject {
        Reject {
            class: RejectClass::CsvFieldCount,
            message: "expected 3 fields, got 2".to_owned(),
            topic: Some("orders-eu".to_owned()),
            partition: Some(7),
            offset: Some(48_213),
            timestamp_ms: Some(1_750_237_198_120),
            key: Some(b"k1".to_vec()),
            value: Some(vec![0xff, 0x00, b'a', b',', 0x80]),
            headers: vec![
                h("trace", b"a"),
                h("dup", &[0xc3, 0x28]),
                h("trace", b"b"),
                h("dup", &[0xc3, 0x28]),
                h("empty", b""),
            ],
            raw_json: None,
        }
    }

    #[test]
    fn keeps_the_original_and_appends_the_block_in_order() {
        let r = reject();
        let m = ErrorMessage::from_reject(&r, CTX);
        assert_eq!(m.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(m.value, r.value);
        assert_eq!(m.timestamp_ms, 1_750_237_198_120);
        let mut expected = r.headers.clone();
        expected.extend([
            h(ERROR_CLASS, b"csv_field_count"),
            h(ERROR_MESSAGE, b"expected 3 fields, got 2"),
            h(ORIGIN_TOPIC, b"orders-eu"),
            h(ORIGIN_PARTITION, b"7"),
            h(ORIGIN_OFFSET, b"48213"),
            h(ORIGIN_TIMESTAMP, b"1750237198120"),
            h(FUNCTION, b"sink-fn"),
            h(FAILED_AT, b"1764000000123"),
            h(PAYLOAD, b"record"),
        ]);
        assert_eq!(m.headers, expected);
        assert_eq!(m.origin_partition(), Some(7));
    }

    #[test]
    fn round_trip_keeps_duplicates_order_and_non_utf8_bytes() {
        let r = reject();
        let parsed = ErrorMessage::from_reject(&r, CTX).parse().unwrap();
        assert_eq!(parsed.original.headers, r.headers);
        assert_eq!(
            parsed.original.payload,
            OriginalPayload::Value(r.value.clone())
        );
        assert_eq!(
            parsed.error,
            ErrorInfo {
                class: "csv_field_count".to_owned(),
                message: r.message.clone(),
                function: "sink-fn".to_owned(),
                failed_at_ms: CTX.now_ms,
            }
        );
        assert_eq!(
            parsed.error.reject_class(),
            Some(RejectClass::CsvFieldCount)
        );
        assert_eq!(parsed.to_reject(), Some(r));
    }

    #[test]
    fn an_earlier_error_block_stays_part_of_the_original() {
        // A replayed error-topic record that fails again: its old block is original data.
        let mut r = reject();
        r.headers = ErrorMessage::from_reject(&reject(), CTX).headers;
        r.class = RejectClass::TypeConversion;
        let m = ErrorMessage::from_reject(
            &r,
            ErrorContext {
                function: "again",
                now_ms: 5,
            },
        );
        let parsed = m.parse().unwrap();
        assert_eq!(parsed.original.headers, r.headers);
        assert_eq!(parsed.error.class, "type_conversion");
        assert_eq!(parsed.error.function, "again");
        assert_eq!(parsed.to_reject(), Some(r));
    }

    #[test]
    fn tombstone_and_null_key_stay_null() {
        let mut r = reject();
        r.key = None;
        r.value = None;
        let m = ErrorMessage::from_reject(&r, CTX);
        assert_eq!((m.key.clone(), m.value.clone()), (None, None));
        let parsed = m.parse().unwrap();
        assert_eq!(parsed.original.payload, OriginalPayload::Value(None));
        assert_eq!(parsed.to_reject(), Some(r));
    }

    #[test]
    fn malformed_record_carries_its_raw_json() {
        let raw = r#"{"topic":"t-x","partition":3,"offset":9,"timestamp":1700000000000,"key":"azE=","value":"not base64!","headers":[{"h":[1,-1]},{"h":[2]}]}"#;
        let event = format!(r#"{{"records":{{"t-x-3":[{raw}]}}}}"#);
        let batch = decode_event_str(&event).unwrap();
        let [r] = batch.rejects.as_slice() else {
            panic!("one reject expected")
        };
        assert_eq!(r.class, RejectClass::MalformedRecord);

        let m = ErrorMessage::from_reject(r, CTX);
        assert_eq!(m.value.as_deref(), Some(raw.as_bytes()));
        assert_eq!(m.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(m.timestamp_ms, 1_700_000_000_000);
        assert_eq!(&m.headers[..2], &[h("h", &[1, 0xff]), h("h", &[2])]);
        assert_eq!(m.headers.last(), Some(&h(PAYLOAD, b"raw-event-json")));

        let parsed = m.parse().unwrap();
        assert_eq!(
            parsed.original.payload,
            OriginalPayload::RawEventJson(raw.to_owned())
        );
        assert_eq!(parsed.original.topic.as_deref(), Some("t-x"));
        assert_eq!(parsed.original.partition, Some(3));
        assert_eq!(parsed.original.offset, Some(9));
        let mut expected = r.clone();
        expected.value = None;
        assert_eq!(parsed.to_reject(), Some(expected));
    }

    #[test]
    fn unknown_coordinates_are_left_out_and_the_timestamp_falls_back_to_now() {
        let r = Reject {
            class: RejectClass::MalformedRecord,
            message: "record is not a JSON object".to_owned(),
            topic: None,
            partition: None,
            offset: None,
            timestamp_ms: None,
            key: None,
            value: None,
            headers: vec![],
            raw_json: Some("[1,2]".to_owned()),
        };
        let m = ErrorMessage::from_reject(&r, CTX);
        assert_eq!(m.timestamp_ms, CTX.now_ms);
        let names: Vec<&str> = m.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [ERROR_CLASS, ERROR_MESSAGE, FUNCTION, FAILED_AT, PAYLOAD]
        );
        assert_eq!(m.origin_partition(), None);
        assert_eq!(m.parse().unwrap().to_reject(), Some(r));

        let mut no_ts = reject();
        no_ts.timestamp_ms = Some(-1);
        let m = ErrorMessage::from_reject(&no_ts, CTX);
        assert_eq!(m.timestamp_ms, CTX.now_ms);
        assert_eq!(m.parse().unwrap().original.timestamp_ms, Some(-1));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let mut r = reject();
        r.message = "é".repeat(MAX_ERROR_MESSAGE_BYTES); // two bytes each
        let m = ErrorMessage::from_reject(&r, CTX);
        let info = m.parse().unwrap().error;
        assert_eq!(info.message.len(), MAX_ERROR_MESSAGE_BYTES);
        assert!(info.message.chars().all(|c| c == 'é'));
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("abc", 3), "abc");
    }

    fn with_block(block: &[(&str, &[u8])]) -> ErrorMessage {
        ErrorMessage {
            key: None,
            value: Some(b"v".to_vec()),
            headers: std::iter::once(h("orig", b"x"))
                .chain(block.iter().map(|(n, v)| h(n, v)))
                .collect(),
            timestamp_ms: 0,
        }
    }

    const GOOD: [(&str, &[u8]); 5] = [
        (ERROR_CLASS, b"invalid_utf8"),
        (ERROR_MESSAGE, b"m"),
        (FUNCTION, b"f"),
        (FAILED_AT, b"1"),
        (PAYLOAD, b"record"),
    ];

    #[test]
    fn parse_errors_are_exact() {
        let plain = ErrorMessage {
            headers: vec![h("a", b"b")],
            ..with_block(&[])
        };
        assert_eq!(plain.parse(), Err(ParseError::NotAnErrorMessage));

        let missing = with_block(&GOOD[..4]);
        assert_eq!(missing.parse(), Err(ParseError::MissingHeader(PAYLOAD)));

        let mut dup = GOOD.to_vec();
        dup.push((FUNCTION, b"g"));
        assert_eq!(
            with_block(&dup).parse(),
            Err(ParseError::DuplicateHeader(FUNCTION.to_owned()))
        );

        let mut foreign = GOOD.to_vec();
        foreign.push(("trace", b"t"));
        assert_eq!(
            with_block(&foreign).parse(),
            Err(ParseError::UnexpectedHeader("trace".to_owned()))
        );

        let mut bad_int = GOOD.to_vec();
        bad_int.push((ORIGIN_PARTITION, b"seven"));
        assert_eq!(
            with_block(&bad_int).parse(),
            Err(ParseError::NotAnInteger {
                header: ORIGIN_PARTITION,
                value: "seven".to_owned()
            })
        );

        let mut too_big = GOOD.to_vec();
        too_big.push((ORIGIN_PARTITION, b"4294967296"));
        assert!(matches!(
            with_block(&too_big).parse(),
            Err(ParseError::NotAnInteger {
                header: ORIGIN_PARTITION,
                ..
            })
        ));

        let mut not_utf8 = GOOD.to_vec();
        not_utf8.push((ORIGIN_TOPIC, &[0xff]));
        assert_eq!(
            with_block(&not_utf8).parse(),
            Err(ParseError::NotUtf8(ORIGIN_TOPIC.to_owned()))
        );

        let mut payload = GOOD.to_vec();
        payload[4] = (PAYLOAD, b"zip");
        assert_eq!(
            with_block(&payload).parse(),
            Err(ParseError::UnknownPayload("zip".to_owned()))
        );

        let mut raw = GOOD.to_vec();
        raw[4] = (PAYLOAD, b"raw-event-json");
        let raw_bad = ErrorMessage {
            value: Some(vec![0xff]),
            ..with_block(&raw)
        };
        assert_eq!(raw_bad.parse(), Err(ParseError::RawJsonNotUtf8));
    }

    #[test]
    fn unknown_mc_headers_and_classes_are_tolerated() {
        let mut newer = GOOD.to_vec();
        newer.push(("mc.error.retries", b"3"));
        newer[0] = (ERROR_CLASS, b"some_future_class");
        let parsed = with_block(&newer).parse().unwrap();
        assert_eq!(parsed.original.headers, vec![h("orig", b"x")]);
        assert_eq!(parsed.error.class, "some_future_class");
        assert_eq!(parsed.error.reject_class(), None);
        assert_eq!(parsed.to_reject(), None);
    }

    #[test]
    fn every_class_round_trips_by_name() {
        for class in RejectClass::ALL {
            let mut r = reject();
            r.class = class;
            let parsed = ErrorMessage::from_reject(&r, CTX).parse().unwrap();
            assert_eq!(parsed.error.reject_class(), Some(class));
        }
    }

    fn header_strategy() -> impl Strategy<Value = (String, Vec<u8>)> {
        (
            prop_oneof![
                Just("mc.error.class".to_owned()),
                Just("mc.payload".to_owned()),
                Just("dup".to_owned()),
                "\\PC{0,8}",
            ],
            proptest::collection::vec(any::<u8>(), 0..8),
        )
    }

    proptest! {
        #[test]
        fn any_reject_round_trips(
            class in proptest::sample::select(RejectClass::ALL.to_vec()),
            message in "\\PC{0,40}",
            topic in proptest::option::of("[a-z.\\-_]{1,12}"),
            partition in proptest::option::of(any::<i32>()),
            offset in proptest::option::of(any::<i64>()),
            timestamp_ms in proptest::option::of(any::<i64>()),
            key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            headers in proptest::collection::vec(header_strategy(), 0..6),
            raw_json in proptest::option::of("\\PC{0,20}"),
            now_ms in any::<i64>(),
        ) {
            let r = Reject { class, message, topic, partition, offset, timestamp_ms, key, value, headers, raw_json };
            let m = ErrorMessage::from_reject(&r, ErrorContext { function: "f", now_ms });
            let back = m.parse().unwrap().to_reject().unwrap();
            let mut expected = r.clone();
            if expected.raw_json.is_some() {
                expected.value = None;
            }
            prop_assert_eq!(back, expected);
            prop_assert_eq!(m.origin_partition(), r.partition);
        }
    }
}

//! A Kafka record as the trigger event carries it, its identity, and the event's source.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Where the event came from, from its `eventSource` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// `aws:kafka`: Amazon MSK.
    Msk,
    /// `SelfManagedKafka`.
    SelfManagedKafka,
    /// Any other spelling, kept as given (the emulator or another adapter).
    Other(String),
}

impl EventSource {
    pub(super) fn parse(s: &str) -> Self {
        match s {
            "aws:kafka" => Self::Msk,
            "SelfManagedKafka" => Self::SelfManagedKafka,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The spelling used in the event.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Msk => "aws:kafka",
            Self::SelfManagedKafka => "SelfManagedKafka",
            Self::Other(s) => s,
        }
    }
}

/// The record's `timestampType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampType {
    /// `CREATE_TIME`: set by the producer.
    CreateTime,
    /// `LOG_APPEND_TIME`: set by the broker.
    LogAppendTime,
    /// `NO_TIMESTAMP_TYPE`: the record has no timestamp (old message formats).
    NoTimestampType,
    /// The field was absent or null.
    Unspecified,
    /// Any other spelling, kept as given.
    Other(String),
}

impl TimestampType {
    pub(super) fn parse(s: &str) -> Self {
        match s {
            "CREATE_TIME" => Self::CreateTime,
            "LOG_APPEND_TIME" => Self::LogAppendTime,
            "NO_TIMESTAMP_TYPE" => Self::NoTimestampType,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The spelling used in the event; empty for [`TimestampType::Unspecified`].
    pub fn as_str(&self) -> &str {
        match self {
            Self::CreateTime => "CREATE_TIME",
            Self::LogAppendTime => "LOG_APPEND_TIME",
            Self::NoTimestampType => "NO_TIMESTAMP_TYPE",
            Self::Unspecified => "",
            Self::Other(s) => s,
        }
    }
}

/// Kafka's "no timestamp" sentinel (`RecordBatch.NO_TIMESTAMP`), also used here when the event
/// has no `timestamp` for a record.
pub const NO_TIMESTAMP: i64 = -1;

/// The instants MaxCompute's DATETIME and TIMESTAMP can hold, in epoch milliseconds:
/// 0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 UTC. A record time outside it can neither
/// name a partition nor fill a time column; decoding keeps it exactly, and the stage that would
/// use it rejects the record.
pub const MAXCOMPUTE_TIME_RANGE_MS: std::ops::RangeInclusive<i64> =
    -62_135_596_800_000..=253_402_300_799_999;

/// Where a record is in Kafka: its topic, partition and offset. Ordered that way, which is the
/// order a batch is processed in; a redelivered duplicate has the same id as the original.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One decoded Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// Shared by the records of one topic in an event.
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// Epoch milliseconds, exactly as in the event; [`NO_TIMESTAMP`] when it had none.
    pub timestamp_ms: i64,
    pub timestamp_type: TimestampType,
    /// `None` when the record has no key (absent or null in the event).
    /// A slice of one buffer that holds the event's decoded bytes, like `value` and `headers`.
    pub key: Option<Bytes>,
    /// `None` for a tombstone (absent or null in the event).
    pub value: Option<Bytes>,
    /// In event order, duplicates kept. A null header value decodes as empty bytes.
    pub headers: Headers,
}

impl KafkaRecord {
    /// The record's place in Kafka.
    pub fn id(&self) -> RecordId {
        RecordId {
            topic: self.topic.to_string(),
            partition: self.partition,
            offset: self.offset,
        }
    }

    /// The order a batch is processed in: (topic, partition, offset).
    pub fn order_key(&self) -> (&str, i32, i64) {
        (&self.topic, self.partition, self.offset)
    }

    /// `records` in [`KafkaRecord::order_key`] order (a stable sort, skipped when they already
    /// are, as the trigger sends them).
    pub fn in_order(records: &[KafkaRecord]) -> Vec<&KafkaRecord> {
        let mut ordered: Vec<&KafkaRecord> = records.iter().collect();
        if !ordered.is_sorted_by(|a, b| a.order_key() <= b.order_key()) {
            ordered.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        }
        ordered
    }

    /// The trigger's "topic-partition" identifier, as `batchItemFailures` must quote it.
    pub fn topic_partition(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// The record's own time, or `None` when Kafka says it has none (so that event-time
    /// routing can fall back to processing time instead of filing it under 1969).
    pub fn event_time_ms(&self) -> Option<i64> {
        if self.timestamp_type == TimestampType::NoTimestampType
            || self.timestamp_ms == NO_TIMESTAMP
        {
            None
        } else {
            Some(self.timestamp_ms)
        }
    }
}

/// A record's headers: names and byte values, in event order, duplicates kept.
///
/// Held as one buffer, each header as the length of its name (u32, little-endian), the name,
/// the length of its value and the value, so that decoding an event gives each record's
/// headers as a slice of one shared buffer rather than an allocation per name and value.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers(Bytes);

impl Headers {
    /// Appends one header to `buf` in the layout [`Headers`] reads.
    pub(super) fn append(buf: &mut Vec<u8>, name: &str, value: &[u8]) -> Option<()> {
        Self::append_with(buf, name, |buf| {
            buf.extend_from_slice(value);
            Some(())
        })
    }

    /// Appends one header to `buf` in the layout [`Headers`] reads, its value written onto the
    /// end of `buf` by `value`. Gives `None`, and leaves `buf` as it was, when `value` does or
    /// when a name or value is longer than `u32::MAX` bytes (beyond any Kafka event, 6 MB).
    pub(super) fn append_with(
        buf: &mut Vec<u8>,
        name: &str,
        value: impl FnOnce(&mut Vec<u8>) -> Option<()>,
    ) -> Option<()> {
        let mark = buf.len();
        let lay_out = || {
            buf.extend_from_slice(&u32::try_from(name.len()).ok()?.to_le_bytes());
            buf.extend_from_slice(name.as_bytes());
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            value(buf)?;
            let len = u32::try_from(buf.len() - len_at - 4).ok()?;
            buf.get_mut(len_at..len_at + 4)?
                .copy_from_slice(&len.to_le_bytes());
            Some(())
        };
        let laid_out = lay_out();
        if laid_out.is_none() {
            buf.truncate(mark);
        }
        laid_out
    }

    /// Headers laid out by [`Headers::append`].
    pub(super) fn from_laid_out(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// Each header's name and value, in order.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter { rest: &self.0 }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The headers as owned pairs.
    pub fn to_vec(&self) -> Vec<(String, Vec<u8>)> {
        self.iter()
            .map(|(name, value)| (name.to_owned(), value.to_vec()))
            .collect()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    /// Headers from pairs; a pair beyond `u32::MAX` bytes (see [`Headers::append_with`]) is
    /// left out.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut buf = Vec::new();
        for (name, value) in pairs {
            // Left out: `append` leaves `buf` as it was.
            let _ = Self::append(&mut buf, name.as_ref(), value.as_ref());
        }
        Self(Bytes::from(buf))
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a [u8]);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The headers of a [`Headers`], in order.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    rest: &'a [u8],
}

impl<'a> HeaderIter<'a> {
    /// The next length-prefixed part.
    fn part(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (part, rest) = rest.split_at_checked(len)?;
        self.rest = rest;
        Some(part)
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        // Only `Headers::append` lays the bytes out, from a `&str` name: the name is UTF-8.
        let name = std::str::from_utf8(self.part()?).ok()?;
        let value = self.part()?;
        Some((name, value))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn headers_keep_order_repeats_and_empty_values() {
        let pairs = vec![
            ("trace".to_owned(), b"a".to_vec()),
            ("ünï".to_owned(), vec![0xff, 0x00]),
            ("trace".to_owned(), vec![]),
            (String::new(), b"x".to_vec()),
        ];
        let headers: Headers = pairs.iter().cloned().collect();
        assert_eq!(headers.to_vec(), pairs);
        assert_eq!(headers.len(), 4);
        assert!(!headers.is_empty());
        let names: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["trace", "ünï", "trace", ""]);
        assert_eq!(
            format!("{headers:?}"),
            r#"[("trace", [97]), ("ünï", [255, 0]), ("trace", []), ("", [120])]"#
        );
    }

    #[test]
    fn headers_compare_by_their_pairs() {
        let a: Headers = [("h", b"1")].into_iter().collect();
        let b: Headers = vec![("h".to_owned(), b"1".to_vec())].into_iter().collect();
        assert_eq!(a, b);
        let c: Headers = [("h", b"2")].into_iter().collect();
        assert_ne!(a, c);
        let none = Headers::default();
        assert!(none.is_empty());
        assert_eq!(none.len(), 0);
        assert_eq!(none.to_vec(), vec![]);
        assert_ne!(a, none);
    }

    #[test]
    fn a_header_whose_value_fails_leaves_the_buffer_as_it_was() {
        let mut buf = b"before".to_vec();
        let failed = Headers::append_with(&mut buf, "h", |buf| {
            buf.extend_from_slice(b"partial");
            None
        });
        assert_eq!(failed, None);
        assert_eq!(buf, b"before");
        Headers::append_with(&mut buf, "h", |buf| {
            buf.extend_from_slice(&[1, 2, 3]);
            Some(())
        })
        .unwrap();
        let mut expected = b"before".to_vec();
        Headers::append(&mut expected, "h", &[1, 2, 3]).unwrap();
        assert_eq!(buf, expected);
    }

    #[test]
    fn headers_laid_out_in_a_shared_buffer_read_back_as_slices() {
        let mut buf = b"before".to_vec();
        let start = buf.len();
        Headers::append(&mut buf, "a", &[1, 2]).unwrap();
        Headers::append(&mut buf, "b", &[]).unwrap();
        let end = buf.len();
        buf.extend_from_slice(b"after");
        let shared = Bytes::from(buf);
        let headers = Headers::from_laid_out(shared.slice(start..end));
        assert_eq!(
            headers.to_vec(),
            vec![("a".to_owned(), vec![1, 2]), ("b".to_owned(), vec![])]
        );
    }
}

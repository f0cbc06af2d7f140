//! The trigger event's JSON as serde sees it: tolerant, borrowing wire types and the per-record
//! decoding (and, for records that fail, the salvage of what is recoverable).
//!
//! The envelope is read one of two ways. [`DecodedLists`] decodes each record as it is read,
//! field by field with base64 strings borrowed from the event text, and gives up at the first
//! record that does not decode. [`RecordLists`] keeps each record as a borrowed `RawValue`, so a
//! record that does not decode can be handed on exactly as it was, and the others are parsed
//! once more with the same types: both ways decode a good record alike.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::record::{KafkaRecord, NO_TIMESTAMP, TimestampType};
use super::reject::{Reject, RejectClass, cap_message, excerpt};

/// Standard base64; padding optional because some emitters strip it and nothing is ambiguous
/// without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The top level of the event, with `records` read as `L`: the lists of raw records
/// ([`RecordLists`]) or the records decoded in the same pass ([`DecodedLists`]). Unknown fields
/// are ignored.
#[derive(Deserialize)]
#[serde(expecting = "a Kafka trigger event object with a `records` object")]
pub(super) struct Envelope<'a, L> {
    #[serde(rename = "eventSource", default)]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventSourceArn", default)]
    pub event_source_arn: Option<Cow<'a, str>>,
    #[serde(rename = "bootstrapServers", default)]
    pub bootstrap_servers: Option<Cow<'a, str>>,
    pub records: L,
}

/// The event as a whole: only a JSON object is accepted (serde's derive would also take an
/// array of fields, and then explain the failure in confusing terms).
pub(super) struct TopLevel<'a, L>(pub Envelope<'a, L>);

impl<'de, 'a, L: Deserialize<'de>> Deserialize<'de> for TopLevel<'a, L> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TopVisitor<'a, L>(PhantomData<(&'a (), L)>);
        impl<'de, 'a, L: Deserialize<'de>> Visitor<'de> for TopVisitor<'a, L> {
            type Value = TopLevel<'a, L>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kafka trigger event object with a `records` object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Envelope::deserialize(de::value::MapAccessDeserializer::new(map)).map(TopLevel)
            }
        }
        d.deserialize_map(TopVisitor(PhantomData))
    }
}

/// `records` decoded as it is read, every list's records in one vector in event order. Any
/// record that does not decode fails the whole parse: the caller then reads the event again as
/// [`RecordLists`], which keeps each record's raw text for the reject.
pub(super) struct DecodedLists(pub Vec<KafkaRecord>);

impl<'de> Deserialize<'de> for DecodedLists {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListsVisitor;
        impl<'de> Visitor<'de> for ListsVisitor {
            type Value = DecodedLists;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of arrays of records")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut records = Vec::new();
                while map.next_key::<de::IgnoredAny>()?.is_some() {
                    map.next_value_seed(DecodedList { out: &mut records })?;
                }
                Ok(DecodedLists(records))
            }
        }
        d.deserialize_map(ListsVisitor)
    }
}

/// One `records["topic-partition"]` array, decoded onto the end of `out`.
struct DecodedList<'o> {
    out: &'o mut Vec<KafkaRecord>,
}

impl<'de> DeserializeSeed<'de> for DecodedList<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DecodedList<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(w) = seq.next_element::<WireRecord<'de>>()? {
            self.out.push(finish(w).map_err(de::Error::custom)?);
        }
        Ok(())
    }
}

/// `records`: "topic-partition" → array of raw records, in event order. A list rather than a map
/// so that a key repeated in the JSON cannot silently drop the records of its first occurrence.
pub(super) struct RecordLists<'a>(Vec<(String, Vec<&'a RawValue>)>);

impl<'a> RecordLists<'a> {
    pub(super) fn iter(&self) -> impl Iterator<Item = &(String, Vec<&'a RawValue>)> {
        self.0.iter()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RecordLists<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListsVisitor;
        impl<'de> Visitor<'de> for ListsVisitor {
            type Value = RecordLists<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "`records` to be an object mapping \"topic-partition\" to arrays of records",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut lists = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let list = map.next_value_seed(ListSeed { key: &key })?;
                    lists.push((key, list));
                }
                Ok(RecordLists(lists))
            }
        }
        d.deserialize_map(ListsVisitor)
    }
}

/// One `records["topic-partition"]` array; the seed carries the key into the error message.
struct ListSeed<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Vec<&'de RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Vec<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`records[\"{}\"]` to be an array of records", self.key)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            out.push(raw);
        }
        Ok(out)
    }
}

/// One record as it appears in the event. Every field is optional here so that a missing one
/// produces our own message (and the salvage path) rather than a bare serde error.
#[derive(Deserialize, Default)]
#[serde(expecting = "a Kafka record object")]
pub(super) struct WireRecord<'a> {
    #[serde(borrow, default)]
    pub(super) topic: Option<Text<'a>>,
    #[serde(default)]
    pub(super) partition: Option<Int>,
    #[serde(default)]
    pub(super) offset: Option<Int>,
    #[serde(default)]
    pub(super) timestamp: Option<Int>,
    #[serde(rename = "timestampType", borrow, default)]
    pub(super) timestamp_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) key: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) value: Option<Text<'a>>,
    #[serde(default)]
    pub(super) headers: Option<WireHeaders>,
}

/// A string that borrows from the event text unless it holds JSON escapes (such as `\/`, which
/// some emitters write inside base64). Record values read as JSON use it too.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// An exact integer. Accepts a JSON integer, an integral float below 2^53 (exact in an `f64`),
/// or a decimal string (what a re-serialized `aws_lambda_events` record carries). Never goes
/// through `f64` for an integer literal, so no millisecond is lost.
#[derive(Clone, Copy)]
pub(super) struct Int(pub(super) i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("integer {v} is out of the 64-bit range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
                if v.fract() == 0.0 && v.abs() < EXACT {
                    // Exact: checked integral and within the range where f64 holds every integer.
                    Ok(Int(v as i64))
                } else {
                    Err(E::custom(format!("expected an integer, got {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.trim().parse().map(Int).map_err(|_| {
                    E::custom(format!(
                        "expected an integer, got the string \"{}\"",
                        excerpt(v)
                    ))
                })
            }
        }
        d.deserialize_any(IntVisitor)
    }
}

/// Record headers, in order, duplicates kept.
pub(super) struct WireHeaders(pub(super) Vec<(String, Vec<u8>)>);

impl<'de> Deserialize<'de> for WireHeaders {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = WireHeaders;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`headers` as an array of {\"name\": [bytes]} objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireHeaders, A::Error> {
                let mut out = Vec::new();
                while seq
                    .next_element_seed(HeaderObject { out: &mut out })?
                    .is_some()
                {}
                Ok(WireHeaders(out))
            }
            // Tolerated: a single object holding several headers.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WireHeaders, A::Error> {
                let mut out = Vec::new();
                HeaderObject { out: &mut out }.visit_map(map)?;
                Ok(WireHeaders(out))
            }
        }
        d.deserialize_any(HeadersVisitor)
    }
}

/// One element of the `headers` array: usually one entry, but any number is accepted.
struct HeaderObject<'o> {
    out: &'o mut Vec<(String, Vec<u8>)>,
}

impl<'de> DeserializeSeed<'de> for HeaderObject<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderObject<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header object {\"name\": [bytes]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let bytes = map.next_value_seed(HeaderBytes { name: &name })?;
            self.out.push((name, bytes));
        }
        Ok(())
    }
}

/// A header value: an array of Java signed bytes (-128..=127), also accepting unsigned bytes
/// (0..=255) since some emitters write those; null is an empty value.
struct HeaderBytes<'n> {
    name: &'n str,
}

impl<'de> DeserializeSeed<'de> for HeaderBytes<'_> {
    type Value = Vec<u8>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderBytes<'_> {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "header `{}` to be an array of bytes", self.name)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(b) = seq.next_element::<i64>()? {
            let byte = header_byte(b).ok_or_else(|| {
                de::Error::custom(format!(
                    "header `{}` has byte {b}, outside -128..=255",
                    excerpt(self.name)
                ))
            })?;
            out.push(byte);
        }
        Ok(out)
    }
}

/// A header byte as the event spells it: a Java signed byte (-128..=127, whose two's
/// complement is the wire byte) or an unsigned one (0..=255); `None` outside both.
pub(super) fn header_byte(b: i64) -> Option<u8> {
    match b {
        -128..=-1 => Some((b + 256) as u8),
        0..=255 => Some(b as u8),
        _ => None,
    }
}

/// Decodes a key or value. The SIMD decoder takes the canonical spellings (padded to a multiple
/// of four, or unpadded), and on those agrees with [`BASE64`]; anything else (padding cut short,
/// a bad symbol) goes to [`BASE64`], which decides and says what is wrong.
pub(super) fn decode_base64(field: &str, text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decode_base64_onto(field, text, &mut out)?;
    Ok(out)
}

/// [`decode_base64`], onto the end of `out` (left as it was on an error).
pub(super) fn decode_base64_onto(
    field: &str,
    text: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let simd = if text.ends_with(b"=") {
        base64_simd::STANDARD
    } else {
        base64_simd::STANDARD_NO_PAD
    };
    let mark = out.len();
    if simd.decode_append(text, out).is_ok() {
        return Ok(());
    }
    out.truncate(mark);
    BASE64.decode_vec(text, out).map_err(|e| {
        out.truncate(mark);
        format!("`{field}` is not valid base64: {e}")
    })
}

/// Decodes one record from its raw JSON, or says what is wrong with it.
pub(super) fn decode_record(raw: &str) -> Result<KafkaRecord, String> {
    let w: WireRecord<'_> =
        serde_json::from_str(raw).map_err(|e| format!("the record does not decode: {e}"))?;
    finish(w)
}

/// Checks a parsed record's coordinates and decodes its key and value.
fn finish(w: WireRecord<'_>) -> Result<KafkaRecord, String> {
    let topic = Arc::from(
        w.topic
            .as_ref()
            .ok_or("the record has no `topic`")?
            .0
            .as_ref(),
    );
    let (partition, offset) = place(&w)?;
    let (timestamp_ms, timestamp_type) = time(&w);
    let key = w
        .key
        .map(|t| decode_base64("key", t.0.as_bytes()).map(Bytes::from))
        .transpose()?;
    let value = w
        .value
        .map(|t| decode_base64("value", t.0.as_bytes()).map(Bytes::from))
        .transpose()?;
    Ok(KafkaRecord {
        topic,
        partition,
        offset,
        timestamp_ms,
        timestamp_type,
        key,
        value,
        headers: w
            .headers
            .map(|h| h.0.into_iter().collect())
            .unwrap_or_default(),
    })
}

/// A record's partition and offset, checked.
pub(super) fn place(w: &WireRecord<'_>) -> Result<(i32, i64), String> {
    let partition = w.partition.ok_or("the record has no `partition`")?.0;
    let partition = i32::try_from(partition)
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| format!("`partition` {partition} is not a partition number (0..=2^31-1)"))?;
    let offset = w.offset.ok_or("the record has no `offset`")?.0;
    if offset < 0 {
        return Err(format!("`offset` {offset} is negative"));
    }
    Ok((partition, offset))
}

/// A record's timestamp and its type, as given or their defaults.
pub(super) fn time(w: &WireRecord<'_>) -> (i64, TimestampType) {
    (
        w.timestamp.map_or(NO_TIMESTAMP, |t| t.0),
        w.timestamp_type
            .as_ref()
            .map_or(TimestampType::Unspecified, |t| TimestampType::parse(&t.0)),
    )
}

/// Builds the reject for a record that did not decode, recovering each field on its own so that
/// one bad field does not hide the good ones.
pub(super) fn salvage(raw: &str, list_key: &str, message: String) -> Reject {
    let parsed: Option<serde_json::Value> = serde_json::from_str(raw).ok();
    let obj = parsed.as_ref().and_then(serde_json::Value::as_object);
    let field = |name: &str| obj.and_then(|o| o.get(name));
    let int = |name: &str| {
        field(name).and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    };
    let bytes = |name: &str| {
        field(name)
            .and_then(serde_json::Value::as_str)
            .and_then(|s| BASE64.decode(s).ok())
    };
    // The list key is "topic-partition"; the topic may itself contain '-', so split at the last.
    let (key_topic, key_partition) = match list_key.rsplit_once('-') {
        Some((t, p)) => (Some(t), p.parse::<i32>().ok()),
        None => (None, None),
    };
    Reject {
        class: RejectClass::MalformedRecord,
        message: cap_message(message),
        topic: field("topic")
            .and_then(serde_json::Value::as_str)
            .or(key_topic)
            .map(str::to_owned),
        partition: int("partition")
            .and_then(|p| i32::try_from(p).ok())
            .or(key_partition),
        offset: int("offset"),
        timestamp_ms: int("timestamp"),
        key: bytes("key"),
        value: bytes("value"),
        headers: field("headers")
            .and_then(|h| WireHeaders::deserialize(h).ok())
            .map(|h| h.0)
            .unwrap_or_default(),
        raw_json: Some(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// The SIMD decoder never changes what is accepted, what it decodes to, or the message.
    #[test]
    fn base64_decodes_as_the_tolerant_engine_decodes() {
        let same = |text: &str| {
            let want = BASE64
                .decode(text)
                .map_err(|e| format!("`value` is not valid base64: {e}"));
            assert_eq!(decode_base64("value", text.as_bytes()), want, "{text:?}");
        };
        // Every string of up to six symbols over an alphabet that holds padding, symbols whose
        // low bits are zero or not, both special symbols, a URL-safe one and a blank.
        let alphabet = b"AQRw+/=-_ ";
        let mut text = Vec::new();
        fn all(text: &mut Vec<u8>, alphabet: &[u8], left: usize, same: &dyn Fn(&str)) {
            same(std::str::from_utf8(text).unwrap());
            if left > 0 {
                for &c in alphabet {
                    text.push(c);
                    all(text, alphabet, left - 1, same);
                    text.pop();
                }
            }
        }
        all(&mut text, alphabet, 6, &same);
        // Long enough for the vector loops, with the odd symbol at every place.
        let long =
            base64::engine::general_purpose::STANDARD.encode((0..=255u8).collect::<Vec<_>>());
        for at in 0..long.len() {
            for c in ["=", " ", "-", "*"] {
                let mut t = long.clone();
                t.replace_range(at..at + 1, c);
                same(&t);
            }
            same(&long[..at]);
        }
    }
}

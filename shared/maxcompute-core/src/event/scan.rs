//! The fast path of event decoding: an event in the spelling the trigger itself writes, read in
//! one pass over its bytes.
//!
//! Written by hand because the generic paths cost three times a plain JSON pass on this shape:
//! serde's derive visits each field through its generic machinery, and simd-json and sonic-rs
//! measured no faster on these events. It reads a strict subset of JSON: strings without
//! escapes, integers as plain literals, `headers` as an array of `{"name": [bytes]}` objects,
//! no unknown fields and no field twice. Anything else, and any record that does not decode,
//! gives `None`, and the serde path (`wire`) decodes the event instead; each record goes
//! through the same checks (`wire::finish`). So what is accepted and what it decodes to are the
//! serde path's, which the differential test in `tests/it/pipeline/events.rs` holds on random
//! events.

use std::borrow::Cow;

use super::record::KafkaRecord;
use super::wire::{self, Headers, Int, Text, WireRecord};

/// The event's top-level fields and every record, in event order.
pub(super) struct Scanned<'a> {
    pub(super) event_source: Option<&'a str>,
    pub(super) event_source_arn: Option<&'a str>,
    pub(super) bootstrap_servers: Option<&'a str>,
    pub(super) records: Vec<KafkaRecord>,
}

/// Decodes `input` when it is in the trigger's own spelling and every record decodes.
pub(super) fn scan(input: &[u8]) -> Option<Scanned<'_>> {
    let mut c = Cursor { b: input, pos: 0 };
    let mut out = Scanned {
        event_source: None,
        event_source_arn: None,
        bootstrap_servers: None,
        records: Vec::new(),
    };
    let mut seen = 0u8;
    c.object(|c, key| {
        let bit = match key {
            "eventSource" => {
                out.event_source = c.optional(Cursor::text)?;
                1
            }
            "eventSourceArn" => {
                out.event_source_arn = c.optional(Cursor::text)?;
                2
            }
            "bootstrapServers" => {
                out.bootstrap_servers = c.optional(Cursor::text)?;
                4
            }
            "records" => {
                c.object(|c, _list_key| c.array(|c| record(c, &mut out.records)))?;
                8
            }
            _ => return None,
        };
        once(&mut seen, bit)
    })?;
    c.skip_whitespace();
    (seen & 8 != 0 && c.pos == input.len()).then_some(out)
}

/// Marks `bit` seen; `None` when it already was (a field given twice).
fn once(seen: &mut u8, bit: u8) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// One record object, decoded onto the end of `out`.
fn record<'a>(c: &mut Cursor<'a>, out: &mut Vec<KafkaRecord>) -> Option<()> {
    let mut w = WireRecord::default();
    // Key and value as their base64 bytes, decoded once the record's coordinates check out:
    // no UTF-8 check is needed, since anything but base64's ASCII alphabet fails to decode.
    let (mut key_base64, mut value_base64) = (None, None);
    let mut seen = 0u8;
    c.object(|c, key| {
        let int = |c: &mut Cursor<'a>| c.optional(Cursor::int).map(|v| v.map(Int));
        let text = |c: &mut Cursor<'a>| c.optional(Cursor::text).map(|v| v.map(borrowed));
        let bit = match key {
            "topic" => {
                w.topic = Some(borrowed(c.text()?));
                1
            }
            "partition" => {
                w.partition = int(c)?;
                2
            }
            "offset" => {
                w.offset = int(c)?;
                4
            }
            "timestamp" => {
                w.timestamp = int(c)?;
                8
            }
            "timestampType" => {
                w.timestamp_type = text(c)?;
                16
            }
            "key" => {
                key_base64 = c.optional(Cursor::raw_string)?;
                32
            }
            "value" => {
                value_base64 = c.optional(Cursor::raw_string)?;
                64
            }
            "headers" => {
                w.headers = c.optional(headers)?;
                128
            }
            _ => return None,
        };
        once(&mut seen, bit)
    })?;
    let mut record = wire::finish(w).ok()?;
    record.key = key_base64
        .map(|k| wire::decode_base64("key", k))
        .transpose()
        .ok()?;
    record.value = value_base64
        .map(|v| wire::decode_base64("value", v))
        .transpose()
        .ok()?;
    out.push(record);
    Some(())
}

fn borrowed(text: &str) -> Text<'_> {
    Text(Cow::Borrowed(text))
}

/// `[{"name": [bytes]}, ...]`: the bytes Java's signed (-128..=127) or unsigned (0..=255), or
/// null for an empty value.
fn headers(c: &mut Cursor<'_>) -> Option<Headers> {
    let mut out = Vec::new();
    c.array(|c| {
        c.object(|c, name| {
            let mut bytes = Vec::new();
            c.optional(|c| {
                c.array(|c| {
                    bytes.push(wire::header_byte(c.int()?)?);
                    Some(())
                })
            })?;
            out.push((name.to_owned(), bytes));
            Some(())
        })
    })?;
    Some(Headers(out))
}

/// A position in the event's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after any whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// `null` as `None`, else what `f` reads.
    fn optional<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            let rest = self.b.get(self.pos..)?;
            rest.starts_with(b"null").then(|| self.pos += 4)?;
            return Some(None);
        }
        f(self).map(Some)
    }

    /// A string without escapes, as its raw bytes (not yet checked as UTF-8).
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = self.b.get(self.pos..)?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        let (text, tail) = rest.split_at(end);
        (tail.first() == Some(&b'"')).then(|| self.pos += end + 1)?;
        Some(text)
    }

    /// A string without escapes or control characters (which JSON does not allow raw).
    fn text(&mut self) -> Option<&'a str> {
        let text = std::str::from_utf8(self.raw_string()?).ok()?;
        (!text.bytes().any(|b| b < 0x20)).then_some(text)
    }

    /// An integer literal (`-?(0|[1-9][0-9]*)`, not followed by a fraction or exponent) that
    /// fits an `i64`.
    fn int(&mut self) -> Option<i64> {
        self.skip_whitespace();
        let rest = self.b.get(self.pos..)?;
        let negative = rest.first() == Some(&b'-');
        let digits = rest.get(usize::from(negative)..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, after) = digits.split_at(len);
        match (number, after.first()) {
            // No digits, a leading zero, a fraction or exponent; and `-0`, which serde_json
            // reads as a float.
            ([], _) | ([b'0', _, ..], _) | (_, Some(b'.' | b'e' | b'E')) => return None,
            ([b'0'], _) if negative => return None,
            _ => {}
        }
        let mut value: i64 = 0;
        for &d in number {
            let d = i64::from(d - b'0');
            value = value.checked_mul(10)?;
            value = if negative {
                value.checked_sub(d)?
            } else {
                value.checked_add(d)?
            };
        }
        self.pos += usize::from(negative) + len;
        Some(value)
    }

    /// After an item: `true` past a `,`, `false` past `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        (next == b',' || next == close).then(|| self.pos += 1)?;
        Some(next == b',')
    }

    /// `[item, ...]`, each item read by `item`.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self)?;
            if !self.more(b']')? {
                return Some(());
            }
        }
    }

    /// `{"key": value, ...}`, each value read by `member` given its key.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.text()?;
            self.eat(b':')?;
            member(self, key)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }
}

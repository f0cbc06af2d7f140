//! The fast path of event decoding: an event in the spelling the trigger itself writes, read in
//! one pass over its bytes.
//!
//! Written by hand because the generic paths cost three times a plain JSON pass on this shape:
//! serde's derive visits each field through its generic machinery, and simd-json and sonic-rs
//! measured no faster on these events. It reads a strict subset of JSON: strings without
//! escapes, integers as plain literals, `headers` as an array of `{"name": [bytes]}` objects,
//! no unknown fields and no field twice. Anything else, and any record that does not decode,
//! gives `None`, and the serde path (`wire`) decodes the event instead; each record goes
//! through the same checks (`wire::place`, `wire::time`, `wire::decode_base64_onto`). So what
//! is accepted and what it decodes to are the serde path's, which the differential test in
//! `tests/it/pipeline/events.rs` holds on random events.
//!
//! Every key, value and header set is decoded into one buffer for the whole event, and each
//! record holds slices of it: a record costs no allocation of its own, and the records of one
//! topic share one topic string.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::record::{Headers, KafkaRecord};
use super::wire::{self, Int, Text, WireRecord};

/// The event's top-level fields and every record, in event order.
pub(super) struct Scanned<'a> {
    pub(super) event_source: Option<&'a str>,
    pub(super) event_source_arn: Option<&'a str>,
    pub(super) bootstrap_servers: Option<&'a str>,
    pub(super) records: Vec<KafkaRecord>,
}

/// The most records the trigger puts in one event (its largest `BatchSize`).
const MAX_BATCH_RECORDS: usize = 10_000;

/// Where a record's bytes are in the event's buffer, until the buffer is complete.
struct Spans {
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    headers: Range<usize>,
}

/// The records decoded so far, their bytes in one buffer.
#[derive(Default)]
struct Records {
    records: Vec<KafkaRecord>,
    spans: Vec<Spans>,
    buf: Vec<u8>,
    /// The event's length, for a guess at how many records it holds.
    event_len: usize,
}

impl Records {
    /// The records with their bytes: slices of the one buffer.
    fn finish(self) -> Vec<KafkaRecord> {
        let buf = Bytes::from(self.buf);
        let mut records = self.records;
        for (record, spans) in records.iter_mut().zip(self.spans) {
            record.key = spans.key.map(|r| buf.slice(r));
            record.value = spans.value.map(|r| buf.slice(r));
            record.headers = Headers::from_laid_out(buf.slice(spans.headers));
        }
        records
    }
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
    // Decoded base64 is three quarters of its text, and headers are about as long as their
    // JSON or shorter: the buffer seldom grows (and pages never written cost nothing).
    let mut records = Records {
        buf: Vec::with_capacity(input.len()),
        event_len: input.len(),
        ..Records::default()
    };
    let mut seen = 0u8;
    c.object(|c, key| {
        let bit = match key {
            b"eventSource" => {
                out.event_source = c.optional(Cursor::text)?;
                1
            }
            b"eventSourceArn" => {
                out.event_source_arn = c.optional(Cursor::text)?;
                2
            }
            b"bootstrapServers" => {
                out.bootstrap_servers = c.optional(Cursor::text)?;
                4
            }
            b"records" => {
                c.object(|c, _list_key| c.array(|c| record(c, &mut records)))?;
                8
            }
            _ => return None,
        };
        once(&mut seen, bit)
    })?;
    c.skip_whitespace();
    (seen & 8 != 0 && c.pos == input.len()).then_some(())?;
    out.records = records.finish();
    Some(out)
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
fn record<'a>(c: &mut Cursor<'a>, out: &mut Records) -> Option<()> {
    let start = c.pos;
    let mut w = WireRecord::default();
    // Key and value as their base64 bytes, decoded once the record's coordinates check out:
    // no UTF-8 check is needed, since anything but base64's ASCII alphabet fails to decode.
    let (mut key_base64, mut value_base64) = (None, None);
    let mut topic = None;
    let headers_start = out.buf.len();
    let mut seen = 0u8;
    c.object(|c, key| {
        let int = |c: &mut Cursor<'a>| c.optional(Cursor::int).map(|v| v.map(Int));
        let bit = match key {
            b"topic" => {
                topic = Some(c.raw_string()?);
                1
            }
            b"partition" => {
                w.partition = int(c)?;
                2
            }
            b"offset" => {
                w.offset = int(c)?;
                4
            }
            b"timestamp" => {
                w.timestamp = int(c)?;
                8
            }
            b"timestampType" => {
                w.timestamp_type = match c.optional(Cursor::raw_string)? {
                    // The trigger's own spellings need no UTF-8 check.
                    Some(b"CREATE_TIME") => Some(borrowed("CREATE_TIME")),
                    Some(b"LOG_APPEND_TIME") => Some(borrowed("LOG_APPEND_TIME")),
                    Some(raw) => Some(borrowed(text(raw)?)),
                    None => None,
                };
                16
            }
            b"key" => {
                key_base64 = c.optional(Cursor::base64_string)?;
                32
            }
            b"value" => {
                value_base64 = c.optional(Cursor::base64_string)?;
                64
            }
            b"headers" => {
                c.optional(|c| headers(c, &mut out.buf))?;
                128
            }
            _ => return None,
        };
        once(&mut seen, bit)
    })?;
    let headers = headers_start..out.buf.len();
    // The records of one topic share its name, checked once.
    let topic = match (topic?, out.records.last()) {
        (raw, Some(last)) if last.topic.as_bytes() == raw => Arc::clone(&last.topic),
        (raw, _) => Arc::from(text(raw)?),
    };
    let (partition, offset) = wire::place(&w).ok()?;
    let (timestamp_ms, timestamp_type) = wire::time(&w);
    let mut decode = |field, base64: &[u8]| {
        let start = out.buf.len();
        wire::decode_base64_onto(field, base64, &mut out.buf).ok()?;
        Some(start..out.buf.len())
    };
    let key = match key_base64 {
        Some(k) => Some(decode("key", k)?),
        None => None,
    };
    let value = match value_base64 {
        Some(v) => Some(decode("value", v)?),
        None => None,
    };
    if out.records.is_empty() {
        // Room for as many records as the event holds were they all the size of the first, so
        // that the vectors seldom grow (a growth copies all the records before it); never more
        // than the trigger's largest batch, whatever a tiny first record suggests.
        let guess = (out.event_len / (c.pos - start).max(64)).min(MAX_BATCH_RECORDS);
        out.records.reserve(guess);
        out.spans.reserve(guess);
    }
    // Built in place (a record moved through a `Result` is copied twice); key, value and
    // headers are filled in by `Records::finish`.
    out.records.push(KafkaRecord {
        topic,
        partition,
        offset,
        timestamp_ms,
        timestamp_type,
        key: None,
        value: None,
        headers: Headers::default(),
    });
    out.spans.push(Spans {
        key,
        value,
        headers,
    });
    Some(())
}

fn borrowed(text: &str) -> Text<'_> {
    Text(Cow::Borrowed(text))
}

/// `[{"name": [bytes]}, ...]`, the bytes Java's signed (-128..=127) or unsigned (0..=255), or
/// null for an empty value: laid out onto the end of `buf` as [`Headers`] reads them.
fn headers(c: &mut Cursor<'_>, buf: &mut Vec<u8>) -> Option<()> {
    c.array(|c| {
        c.object(|c, name| {
            let name = text(name)?;
            Headers::append_with(buf, name, |buf| {
                c.optional(|c| c.header_bytes(buf))?;
                Some(())
            })
        })
    })
}

/// A string's raw bytes as text: UTF-8 without control characters (which JSON does not allow
/// raw).
fn text(raw: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?;
    (!raw.iter().any(|b| *b < 0x20)).then_some(text)
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

    /// A string without escapes, as its raw bytes (not yet checked as UTF-8). Such strings are
    /// short (names, a topic): a plain loop decoded the bench's event 3% faster than `memchr2`,
    /// whose vectorised search costs more to set up than these strings are long.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = self.b.get(self.pos..)?;
        let end = rest.iter().position(|b| matches!(b, b'"' | b'\\'))?;
        let (text, tail) = rest.split_at(end);
        (tail.first() == Some(&b'"')).then(|| self.pos += end + 1)?;
        Some(text)
    }

    /// The text of a base64 string up to the next quote, escapes not looked for: a backslash
    /// is outside base64's alphabet, so text holding an escape fails to decode (and the event
    /// goes to the serde path) whether or not the quote found was an escaped one. One search
    /// for one byte instead of two, over most of the event's bytes.
    fn base64_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = self.b.get(self.pos..)?;
        let end = memchr::memchr(b'"', rest)?;
        self.pos += end + 1;
        rest.get(..end)
    }

    /// A string without escapes or control characters (which JSON does not allow raw).
    fn text(&mut self) -> Option<&'a str> {
        text(self.raw_string()?)
    }

    /// An integer literal (`-?(0|[1-9][0-9]*)`, not followed by a fraction or exponent) that
    /// fits an `i64`.
    fn int(&mut self) -> Option<i64> {
        self.skip_whitespace();
        let rest = self.b.get(self.pos..)?;
        let (negative, digits) = match rest.split_first() {
            Some((b'-', digits)) => (true, digits),
            _ => (false, rest),
        };
        // Nineteen digits always fit a u64; more are beyond an i64 anyway.
        let mut magnitude: u64 = 0;
        let mut len = 0;
        for &b in digits.iter().take(19) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            magnitude = magnitude * 10 + u64::from(digit);
            len += 1;
        }
        match (digits.first(), digits.get(len)) {
            // No digits, a leading zero, a fraction or exponent, or a twentieth digit.
            _ if len == 0 => return None,
            (Some(b'0'), _) if len > 1 => return None,
            (_, Some(b'.' | b'e' | b'E' | b'0'..=b'9')) => return None,
            // `-0`, which serde_json reads as a float.
            _ if negative && magnitude == 0 => return None,
            _ => {}
        }
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)?
        } else {
            i64::try_from(magnitude).ok()?
        };
        self.pos += usize::from(negative) + len;
        Some(value)
    }

    /// A header value, `[byte, ...]`, onto the end of `buf`: each byte as [`Cursor::int`] reads
    /// it, for the few spellings a byte has (at most three digits, no leading zero), in one loop
    /// over the bytes, because headers hold most of an event's numbers.
    fn header_bytes(&mut self, buf: &mut Vec<u8>) -> Option<()> {
        self.eat(b'[')?;
        let b = self.b;
        let mut i = self.pos;
        let skip_whitespace = |i: &mut usize| {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(*i) {
                *i += 1;
            }
        };
        skip_whitespace(&mut i);
        if b.get(i) == Some(&b']') {
            self.pos = i + 1;
            return Some(());
        }
        loop {
            skip_whitespace(&mut i);
            let negative = b.get(i) == Some(&b'-');
            i += usize::from(negative);
            let start = i;
            let mut magnitude = 0i64;
            while let Some(d @ b'0'..=b'9') = b.get(i) {
                if i - start == 3 {
                    return None; // beyond a byte
                }
                magnitude = magnitude * 10 + i64::from(d - b'0');
                i += 1;
            }
            // No digits, a leading zero, and `-0` (which serde_json reads as a float). A
            // fraction or exponent is refused below, where a `,` or `]` is expected.
            let digits = i - start;
            if digits == 0
                || (digits > 1 && b.get(start) == Some(&b'0'))
                || (negative && magnitude == 0)
            {
                return None;
            }
            buf.push(wire::header_byte(if negative {
                -magnitude
            } else {
                magnitude
            })?);
            skip_whitespace(&mut i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b']') => {
                    self.pos = i + 1;
                    return Some(());
                }
                _ => return None,
            }
        }
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

    /// `{"key": value, ...}`, each value read by `member` given its key's raw bytes.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.raw_string()?;
            self.eat(b':')?;
            member(self, key)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }
}

//! A JSON record value that keeps every number's text.
//!
//! `serde_json::Value` turns numbers into `f64` (or needs `arbitrary_precision`, a global
//! feature that changes how every crate in the build parses numbers). Here each node keeps its
//! source text: a number meets its column type as written, so `123456789012.123456789` reaches a
//! DECIMAL column with all its digits, and a DOUBLE column gets Rust's correctly rounded parse.
//! Strings borrow from the input when they have no escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::event::Text;

/// serde_json's own limit on nesting.
const MAX_DEPTH: usize = 128;

/// Why a record's text is not a JSON value this module reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JsonError {
    #[error(transparent)]
    Syntax(serde_json::Error),
    #[error("arrays and objects nest more than {MAX_DEPTH} deep")]
    TooDeep,
}

/// The deepest nesting of arrays and objects in `text`, brackets inside strings not counted.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// One JSON value, kept as its text and read one level at a time ([`Json::kind`]): a field no
/// column asks for is never parsed beyond the first pass, and an object bound for a text column
/// is never taken apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Json<'a> {
    /// The value's text in the record, exactly as written.
    pub raw: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind<'a> {
    Null,
    Bool(bool),
    /// The number's text, valid JSON number syntax.
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Fields in document order; a repeated key keeps only its last value (as serde_json does).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Checks one JSON document whole (syntax, nesting) and keeps its text.
    pub(super) fn parse(text: &'a str) -> Result<Self, JsonError> {
        // Each level is read by a fresh serde_json deserializer, whose own depth limit then
        // never trips: bound the nesting first so that no input can exhaust the stack.
        if nesting(text) > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        serde_json::from_str(text).map_err(JsonError::Syntax)
    }

    /// What the value is, its children still as text.
    pub(super) fn kind(&self) -> Result<Kind<'a>, JsonError> {
        let raw = self.raw;
        Ok(match raw.as_bytes().first() {
            Some(b'{') => Kind::Object(
                serde_json::from_str::<Fields<'a>>(raw)
                    .map_err(JsonError::Syntax)?
                    .0,
            ),
            Some(b'[') => Kind::Array(serde_json::from_str(raw).map_err(JsonError::Syntax)?),
            // Without escapes the text between the quotes is the string: `RawValue` has checked
            // it, so it need not be parsed again.
            Some(b'"') => match raw.get(1..raw.len() - 1) {
                Some(inner) if !inner.contains('\\') => Kind::String(Cow::Borrowed(inner)),
                _ => Kind::String(
                    serde_json::from_str::<Text<'a>>(raw)
                        .map_err(JsonError::Syntax)?
                        .0,
                ),
            },
            Some(b't') => Kind::Bool(true),
            Some(b'f') => Kind::Bool(false),
            Some(b'n') => Kind::Null,
            // `RawValue` checked the syntax: anything else is a number.
            _ => Kind::Number(raw),
        })
    }

    /// The value's text without the whitespace between tokens: key order, escapes and every
    /// number's digits stay as written.
    pub(super) fn compact(&self) -> Cow<'a, str> {
        let raw = self.raw;
        if !raw.bytes().any(|b| b.is_ascii_whitespace()) {
            return Cow::Borrowed(raw);
        }
        let mut out = String::with_capacity(raw.len());
        let (mut in_string, mut escaped) = (false, false);
        for c in raw.chars() {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
                continue;
            }
            out.push(c);
        }
        Cow::Owned(out)
    }

    pub(super) fn is_null(&self) -> bool {
        self.raw == "null"
    }

    /// A field looked up by name, exactly first, then ignoring ASCII case (as MaxCompute matches
    /// column names).
    pub(super) fn field<'f>(
        fields: &'f [(Cow<'a, str>, Json<'a>)],
        name: &str,
    ) -> Option<&'f Json<'a>> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The text only: its parts are read when asked for, as written, never through f64.
        let raw = <&'de RawValue>::deserialize(d)?;
        Ok(Json { raw: raw.get() })
    }
}

/// An object's fields in order, later duplicates replacing earlier ones in place.
struct Fields<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
                while let Some((Text(key), value)) = map.next_entry::<Text<'de>, Json<'de>>()? {
                    match fields.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => fields.push((key, value)),
                    }
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let j = Json::parse(r#"{"a": 123456789012.123456789, "b": [1e-9, -0.0], "c": 1E+400}"#)
            .unwrap();
        let Kind::Object(fields) = j.kind().unwrap() else {
            panic!("{j:?}")
        };
        assert_eq!(
            Json::field(&fields, "a").unwrap().kind().unwrap(),
            Kind::Number("123456789012.123456789")
        );
        let Kind::Array(items) = Json::field(&fields, "b").unwrap().kind().unwrap() else {
            panic!()
        };
        assert_eq!(items[0].kind().unwrap(), Kind::Number("1e-9"));
        assert_eq!(items[1].kind().unwrap(), Kind::Number("-0.0"));
        assert_eq!(
            Json::field(&fields, "C").unwrap().kind().unwrap(),
            Kind::Number("1E+400")
        );
    }

    #[test]
    fn strings_objects_and_duplicates() {
        let text = r#" {"s": "plain", "e": "tab\there", "o": {"x": null, "y": true}, "s": false} "#;
        let j = Json::parse(text).unwrap();
        let Kind::Object(fields) = j.kind().unwrap() else {
            panic!()
        };
        assert_eq!(fields.len(), 3, "a repeated key keeps one entry");
        assert_eq!(
            Json::field(&fields, "s").unwrap().kind().unwrap(),
            Kind::Bool(false)
        );
        assert!(matches!(
            &Json::field(&fields, "e").unwrap().kind().unwrap(),
            Kind::String(Cow::Owned(s)) if s == "tab\there"
        ));
        let o = Json::field(&fields, "o").unwrap();
        assert_eq!(o.raw, r#"{"x": null, "y": true}"#);
        assert_eq!(o.compact(), r#"{"x":null,"y":true}"#);
        let spaced = Json::parse("[ \"a b\\\" c\" ,\n 1.50 ]").unwrap();
        assert_eq!(spaced.compact(), r#"["a b\" c",1.50]"#);
        assert!(Json::parse(r#"{"a": }"#).is_err());
        assert!(Json::parse("[1, 2").is_err());
        assert!(Json::parse("01").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(matches!(Json::parse(&deep), Err(JsonError::TooDeep)));
        let fine = "[".repeat(128) + &"]".repeat(128);
        assert!(Json::parse(&fine).is_ok());
        // Brackets in strings do not count.
        let text = format!("[\"{}\"]", "[".repeat(1000));
        assert!(Json::parse(&text).is_ok());
    }
}

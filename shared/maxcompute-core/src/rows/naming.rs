//! MaxCompute names made from Kafka topics and JSON field names, by one rule.
//!
//! MaxCompute's table and column names are letters, digits and underscores, start with a
//! letter and are at most 128 bytes. A topic (`orders.EU-1`) or a JSON field (`User Name`) often
//! is not one, so the sink maps it, always the same way:
//!
//! 1. ASCII letters are lower-cased;
//! 2. every character outside `[a-z0-9_]` becomes one `_` (a multi-byte character too);
//! 3. the result must start with a letter and be at most 128 characters; if it does not, there
//!    is no name and the record is a reject (never a truncated or prefixed name, which could
//!    silently meet another).
//!
//! So `orders.EU-1` is `orders_eu_1`, `User Name` is `user_name`, and `_id`, `1st` or a
//! 129-character topic have no name. A name that is already valid and lower-case maps to
//! itself. Two different inputs may map to the same name (`a.b` and `a_b`); where that matters
//! (two fields of one record) the caller rejects the record rather than merge them.
//!
//! No I/O; nothing here panics.

/// MaxCompute's longest table or column name, in bytes (the mapped names are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// Why a topic or field has no MaxCompute name under the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{mapped}` (from `{original}`) does not start with a letter")]
    NoLetterFirst { original: String, mapped: String },
    #[error("`{original}` maps to {len} characters, over MaxCompute's {MAX_NAME_LEN}")]
    TooLong { original: String, len: usize },
}

/// The MaxCompute name of `text` under the module's rule, or why it has none.
pub fn maxcompute_name(text: &str) -> Result<String, NameError> {
    let mapped: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            l @ ('a'..='z' | '0'..='9' | '_') => l,
            _ => '_',
        })
        .collect();
    let excerpt = || crate::event::excerpt(text);
    if !mapped.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(NameError::NoLetterFirst {
            original: excerpt(),
            mapped: crate::event::excerpt(&mapped),
        });
    }
    if mapped.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            original: excerpt(),
            len: mapped.len(),
        });
    }
    Ok(mapped)
}

/// Whether `name` is a MaxCompute name as it stands (letters, digits, underscores, a letter
/// first, at most 128 bytes), in any case.
pub fn is_maxcompute_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A table name template: text around one `${topic}`, which the record's topic replaces before
/// the whole name is mapped by the rule (`ods_${topic}` for topic `Orders.V1` is
/// `ods_orders_v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableTemplate {
    prefix: String,
    suffix: String,
}

/// The placeholder a [`TableTemplate`] replaces.
pub const TOPIC_PLACEHOLDER: &str = "${topic}";

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("expected exactly one `${{topic}}`")]
    Placeholders,
    #[error(
        "the text around `${{topic}}` must be lower-case letters, digits and underscores, and the name must start with a letter"
    )]
    Text,
}

impl TableTemplate {
    /// `Ok(None)` when `text` has no `${topic}` (a fixed name); a template must keep its own
    /// text valid under the rule, so that what the user wrote is what the tables are called.
    pub fn parse(text: &str) -> Result<Option<Self>, TemplateError> {
        let Some((prefix, suffix)) = text.split_once(TOPIC_PLACEHOLDER) else {
            return if text.contains("${") {
                Err(TemplateError::Placeholders)
            } else {
                Ok(None)
            };
        };
        if suffix.contains("${") || prefix.contains("${") {
            return Err(TemplateError::Placeholders);
        }
        let own_text_valid = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        // With a letter in place of the topic, the template alone must be a valid name.
        let sample = format!("{prefix}t{suffix}");
        if !own_text_valid(prefix) || !own_text_valid(suffix) || !is_maxcompute_name(&sample) {
            return Err(TemplateError::Text);
        }
        Ok(Some(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }))
    }

    /// The table of `topic`: the template filled and mapped by the rule.
    pub fn table_for(&self, topic: &str) -> Result<String, NameError> {
        maxcompute_name(&format!("{}{topic}{}", self.prefix, self.suffix))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_rule_lower_cases_and_replaces_what_maxcompute_cannot_take() {
        assert_eq!(maxcompute_name("orders.EU-1").unwrap(), "orders_eu_1");
        assert_eq!(maxcompute_name("User Name").unwrap(), "user_name");
        assert_eq!(maxcompute_name("prix_€").unwrap(), "prix__");
        assert_eq!(maxcompute_name("already_ok_1").unwrap(), "already_ok_1");
        assert_eq!(maxcompute_name(&"a".repeat(128)).unwrap().len(), 128);
    }

    #[test]
    fn a_name_that_cannot_start_with_a_letter_or_is_too_long_has_none() {
        assert!(matches!(
            maxcompute_name("_id"),
            Err(NameError::NoLetterFirst { .. })
        ));
        assert!(matches!(
            maxcompute_name("1st"),
            Err(NameError::NoLetterFirst { .. })
        ));
        assert!(matches!(
            maxcompute_name(""),
            Err(NameError::NoLetterFirst { .. })
        ));
        assert!(matches!(
            maxcompute_name("é"),
            Err(NameError::NoLetterFirst { .. })
        ));
        assert_eq!(
            maxcompute_name(&"a".repeat(129)),
            Err(NameError::TooLong {
                original: crate::event::excerpt(&"a".repeat(129)),
                len: 129
            })
        );
    }

    #[test]
    fn templates_fill_the_topic_and_map_the_whole_name() {
        let t = TableTemplate::parse("ods_${topic}").unwrap().unwrap();
        assert_eq!(t.table_for("Orders.V1").unwrap(), "ods_orders_v1");
        // With a prefix, a topic starting with a digit still makes a name.
        assert_eq!(t.table_for("1st").unwrap(), "ods_1st");
        let bare = TableTemplate::parse("${topic}").unwrap().unwrap();
        assert!(bare.table_for("1st").is_err());
        assert_eq!(
            TableTemplate::parse("${topic}_raw")
                .unwrap()
                .unwrap()
                .table_for("a-b")
                .unwrap(),
            "a_b_raw"
        );
        assert_eq!(TableTemplate::parse("test_kafka").unwrap(), None);
    }

    #[test]
    fn a_template_must_spell_its_own_text_validly() {
        for bad in [
            "ODS_${topic}",
            "ods-${topic}",
            "${topic}${topic}",
            "x_${tpic}",
            "9_${topic}",
        ] {
            assert!(TableTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    /// Random text (ASCII, controls, multi-byte characters, any length up to 200) always gives a
    /// valid name or an error, never a panic; the seed is printed so a failure can be replayed.
    #[test]
    fn random_text_maps_to_a_valid_name_or_an_error() {
        let seed: u64 = std::env::var("NAMING_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("NAMING_SEED={seed}");
        // xorshift64*: enough for test inputs, no dependency.
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let alphabet: Vec<char> = "aZ09_-. $/\t\u{0}é€𝄞".chars().collect();
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..5_000 {
            let len = (next() % 200) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            match maxcompute_name(&text) {
                Ok(name) => {
                    valid += 1;
                    assert!(
                        is_maxcompute_name(&name),
                        "seed {seed}: {text:?} -> {name:?}"
                    );
                    assert_eq!(name, name.to_ascii_lowercase(), "seed {seed}: {text:?}");
                    assert_eq!(name.chars().count(), text.chars().count(), "seed {seed}");
                    // The rule maps a name to itself.
                    assert_eq!(maxcompute_name(&name).unwrap(), name, "seed {seed}");
                }
                Err(_) => {
                    invalid += 1;
                    let starts = text.starts_with(|c: char| c.is_ascii_alphabetic());
                    assert!(
                        !starts || text.chars().count() > MAX_NAME_LEN,
                        "seed {seed}: {text:?} should have a name"
                    );
                }
            }
        }
        assert!(
            valid > 0 && invalid > 0,
            "seed {seed}: {valid} valid, {invalid} not"
        );
    }
}

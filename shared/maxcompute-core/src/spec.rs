//! Partition specs: the ordered (key, value) levels that name one partition, in the two textual
//! forms MaxCompute uses: `k1=v1,k2=v2` on the tunnel and `k1='v1',k2='v2'` in metadata calls
//! and SQL.
//!
//! Values are validated when a spec is built, refusing characters that break spec parsing or
//! pyodps-style signing (`, = ' / & + %`), control characters, empty values and values over 128
//! bytes, so a spec can be written into a URL or a SQL statement without escaping. This module
//! is pure; it does not check the keys against a table's partition columns (the service and
//! `partition::PartitionRouter::check_table` do). The router and the client use this one type.
//! The MaxCompute emulator parses specs as the service does, which accepts more than this type
//! lets the sink write (`tests/maxcompute-emulator/src/partition.rs`).

use std::fmt;
use std::str::FromStr;

/// The most bytes a partition value may have (the stricter of the documented limits).
pub const MAX_VALUE_BYTES: usize = 128;
/// The most bytes of a partition key name.
pub const MAX_KEY_BYTES: usize = 128;
/// The most partition levels a table may have.
pub const MAX_LEVELS: usize = 6;

/// Characters a partition value must not contain.
const FORBIDDEN_IN_VALUE: &[char] = &[',', '=', '\'', '/', '&', '+', '%'];

/// A validated partition spec; levels are in the table's partition-key order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionSpec {
    levels: Vec<(String, String)>,
}

/// Why a partition spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("a partition spec needs at least one level")]
    Empty,
    #[error("a partition spec has at most {MAX_LEVELS} levels, got {0}")]
    TooManyLevels(usize),
    #[error("invalid partition key {key:?}: {reason}")]
    Key { key: String, reason: &'static str },
    #[error("invalid value {value:?} for partition key {key}: {reason}")]
    Value {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("partition key {0} appears twice")]
    DuplicateKey(String),
    #[error("cannot parse partition spec {0:?}: expected k=v or k='v' levels separated by commas")]
    Syntax(String),
}

impl PartitionSpec {
    /// Builds a spec from levels in partition-key order.
    pub fn new<K, V>(levels: impl IntoIterator<Item = (K, V)>) -> Result<Self, SpecError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let levels: Vec<(String, String)> = levels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if levels.is_empty() {
            return Err(SpecError::Empty);
        }
        if levels.len() > MAX_LEVELS {
            return Err(SpecError::TooManyLevels(levels.len()));
        }
        for (i, (key, value)) in levels.iter().enumerate() {
            validate_key(key)?;
            validate_value(key, value)?;
            if levels
                .iter()
                .take(i)
                .any(|(k, _)| k.eq_ignore_ascii_case(key))
            {
                return Err(SpecError::DuplicateKey(key.clone()));
            }
        }
        Ok(Self { levels })
    }

    /// A one-level spec.
    pub fn single(key: impl Into<String>, value: impl Into<String>) -> Result<Self, SpecError> {
        Self::new([(key.into(), value.into())])
    }

    pub fn levels(&self) -> &[(String, String)] {
        &self.levels
    }

    /// The tunnel form `k1=v1,k2=v2` (no quotes, no spaces).
    pub fn tunnel_form(&self) -> String {
        self.join(",", |k, v| format!("{k}={v}"))
    }

    /// The metadata form `k1='v1',k2='v2'` used by `GET ...?partition=`.
    pub fn quoted_form(&self) -> String {
        self.join(",", |k, v| format!("{k}='{v}'"))
    }

    /// The SQL form `k1='v1', k2='v2'` used inside `PARTITION (...)`.
    pub fn sql_form(&self) -> String {
        self.join(", ", |k, v| format!("{k}='{v}'"))
    }

    fn join(&self, sep: &str, f: impl Fn(&str, &str) -> String) -> String {
        self.levels
            .iter()
            .map(|(k, v)| f(k, v))
            .collect::<Vec<_>>()
            .join(sep)
    }
}

/// As `SHOW PARTITIONS` prints it: `ds=20201117/hh=15`.
impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join("/", |k, v| format!("{k}={v}")))
    }
}

/// Parses `k=v,k2=v2` or `k='v',k2='v2'` (spaces around levels are ignored).
impl FromStr for PartitionSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut levels = Vec::new();
        for part in s.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| SpecError::Syntax(s.to_owned()))?;
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            levels.push((key.trim().to_owned(), value.to_owned()));
        }
        Self::new(levels)
    }
}

fn validate_key(key: &str) -> Result<(), SpecError> {
    let err = |reason| SpecError::Key {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(err("empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(err("longer than 128 bytes"));
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(err("only letters, digits and underscores are allowed"));
    }
    Ok(())
}

/// Checks one partition value against MaxCompute's rules; the error says why in a few words.
pub fn check_value(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("empty");
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err("longer than 128 bytes");
    }
    if value.chars().any(char::is_control) {
        return Err("control characters are not allowed");
    }
    if value.contains(FORBIDDEN_IN_VALUE) {
        return Err("the characters , = ' / & + % are not allowed");
    }
    Ok(())
}

fn validate_value(key: &str, value: &str) -> Result<(), SpecError> {
    check_value(value).map_err(|reason| SpecError::Value {
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let spec = PartitionSpec::new([("dt", "11-17-2020 15"), ("region", "eu")]).unwrap();
        assert_eq!(spec.tunnel_form(), "dt=11-17-2020 15,region=eu");
        assert_eq!(spec.quoted_form(), "dt='11-17-2020 15',region='eu'");
        assert_eq!(spec.sql_form(), "dt='11-17-2020 15', region='eu'");
        assert_eq!(spec.to_string(), "dt=11-17-2020 15/region=eu");
    }

    #[test]
    fn parses_both_forms() {
        let a: PartitionSpec = "dt='11-17-2020 15', region='eu'".parse().unwrap();
        let b: PartitionSpec = "dt=11-17-2020 15,region=eu".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.levels().len(), 2);
        assert_eq!(
            "nonsense".parse::<PartitionSpec>(),
            Err(SpecError::Syntax("nonsense".to_owned()))
        );
    }

    #[test]
    fn refuses_bad_values_and_keys() {
        for bad in [
            "a,b",
            "a=b",
            "it's",
            "a/b",
            "a&b",
            "a+b",
            "50%",
            "",
            "tab\there",
            "nl\n",
        ] {
            assert!(
                matches!(
                    PartitionSpec::single("dt", bad),
                    Err(SpecError::Value { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(PartitionSpec::single("dt", "x".repeat(128)).is_ok());
        assert!(PartitionSpec::single("dt", "x".repeat(129)).is_err());
        assert!(PartitionSpec::single("dt", "2020-11-17 15:04").is_ok());
        assert!(matches!(
            PartitionSpec::single("d t", "x"),
            Err(SpecError::Key { .. })
        ));
        assert_eq!(
            PartitionSpec::new(Vec::<(String, String)>::new()),
            Err(SpecError::Empty)
        );
        assert_eq!(
            PartitionSpec::new([("dt", "a"), ("DT", "b")]),
            Err(SpecError::DuplicateKey("DT".to_owned()))
        );
        let seven: Vec<(String, String)> = (0..7).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(PartitionSpec::new(seven), Err(SpecError::TooManyLevels(7)));
    }
}

//! Partition specs: parsing the tunnel form (`k=v,k2=v2`) and the SQL/metadata form
//! (`k='v',k2='v2'`), validating them against a table's partition keys, and the one canonical
//! text (`k=v,k2=v2` in key order) used as the storage key. Pure; no I/O.

use maxcompute_core::types::TableSchema;

use crate::service_error::{EmuError, EmuResult};

/// A validated partition spec in the table's key order; empty for a non-partitioned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSpec {
    pub pairs: Vec<(String, String)>,
}

impl PartSpec {
    pub fn none() -> Self {
        Self { pairs: Vec::new() }
    }

    /// `k=v,k2=v2`: the storage key and the tunnel spelling.
    pub fn canonical(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `k='v',k2='v2'`: the metadata/SQL spelling.
    pub fn quoted(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}='{v}'"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `k=v/k2=v2`: what `SHOW PARTITIONS` prints.
    pub fn show(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Parses a stored canonical key back (keys and values never contain `,` or `=`).
    pub fn from_canonical(s: &str) -> Self {
        let pairs = s
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self { pairs }
    }
}

/// Splits `k=v,k2='v2'` into raw pairs, stripping one level of single or double quotes.
pub fn parse_pairs(raw: &str) -> EmuResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in raw.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| {
            EmuError::InvalidPartitionSpec(format!(
                "invalid partition spec `{raw}`: `{part}` is not key=value"
            ))
        })?;
        let v = v.trim();
        let v = strip_quotes(v);
        out.push((k.trim().to_owned(), v.to_owned()));
    }
    Ok(out)
}

fn strip_quotes(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Checks raw pairs against the table's partition keys: every level given, no unknown key, no
/// character that breaks spec parsing. Returns the spec in key order with the table's key names.
pub fn validate(schema: &TableSchema, pairs: &[(String, String)]) -> EmuResult<PartSpec> {
    if schema.partition_keys.is_empty() {
        if pairs.is_empty() {
            return Ok(PartSpec::none());
        }
        return Err(EmuError::InvalidPartitionSpec(
            "the table is not partitioned but a partition spec was given".to_owned(),
        ));
    }
    if pairs.is_empty() {
        return Err(EmuError::MissingPartitionSpec(
            "the table is partitioned: a partition spec is required".to_owned(),
        ));
    }
    for (k, _) in pairs {
        if !schema
            .partition_keys
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(k))
        {
            return Err(EmuError::InvalidPartitionSpec(format!(
                "unknown partition key `{k}`"
            )));
        }
    }
    let mut ordered = Vec::with_capacity(schema.partition_keys.len());
    for key in &schema.partition_keys {
        let value = pairs
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key.name))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                EmuError::InvalidPartitionSpec(format!(
                    "partition key `{}` is missing from the spec",
                    key.name
                ))
            })?;
        if value.is_empty()
            || value.len() > 255
            || value.contains([',', '=', '\'', '"', '/', '\n', '\r', '\t'])
        {
            return Err(EmuError::InvalidPartitionSpec(format!(
                "invalid value `{value}` for partition key `{}`",
                key.name
            )));
        }
        ordered.push((key.name.clone(), value));
    }
    Ok(PartSpec { pairs: ordered })
}

/// Parses and validates an optional raw spec for a table.
pub fn resolve(schema: &TableSchema, raw: Option<&str>) -> EmuResult<PartSpec> {
    let pairs = match raw {
        Some(r) => parse_pairs(r)?,
        None => Vec::new(),
    };
    validate(schema, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxcompute_core::types::{Column, OdpsType};

    fn schema() -> TableSchema {
        TableSchema {
            columns: vec![Column::new("a", OdpsType::String)],
            partition_keys: vec![
                Column::new("pt", OdpsType::String),
                Column::new("h", OdpsType::String),
            ],
        }
    }

    #[test]
    fn both_spellings_resolve_to_one_canonical_key() {
        let a = resolve(&schema(), Some("pt=11-17-2020 15,h=1")).unwrap();
        let b = resolve(&schema(), Some("H='1', PT='11-17-2020 15'")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.canonical(), "pt=11-17-2020 15,h=1");
        assert_eq!(a.quoted(), "pt='11-17-2020 15',h='1'");
        assert_eq!(PartSpec::from_canonical(&a.canonical()), a);
    }

    #[test]
    fn missing_levels_and_unknown_keys_are_refused() {
        assert!(matches!(
            resolve(&schema(), None),
            Err(EmuError::MissingPartitionSpec(_))
        ));
        assert!(matches!(
            resolve(&schema(), Some("pt=x")),
            Err(EmuError::InvalidPartitionSpec(_))
        ));
        assert!(matches!(
            resolve(&schema(), Some("pt=x,h=1,z=2")),
            Err(EmuError::InvalidPartitionSpec(_))
        ));
        assert!(matches!(
            resolve(&schema(), Some("pt=a/b,h=1")),
            Err(EmuError::InvalidPartitionSpec(_))
        ));
    }
}

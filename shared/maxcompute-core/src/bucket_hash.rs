//! The bucket of a row in a Delta Table upsert session: the hash the Tunnel's clients compute
//! over the key columns (`hash_key` of the session) with the session's `hasher`, modulo the
//! number of buckets. Equal keys must land in one bucket, because the service merges each
//! bucket on its own; a writer that hashes differently from the service scatters one key over
//! several buckets.
//!
//! The functions reproduce pyodps 0.13.2's `RecordHasher` (and the Java SDK's, which it
//! mirrors) for integer (TINYINT, SMALLINT, INT, BIGINT) and byte-string (STRING, VARCHAR,
//! CHAR, BINARY) key columns, the types `tests/vectors/upsert-hash.json` pins. Other key types
//! are refused with [`HashError::UnsupportedType`] rather than hashed by an unpinned rule.
//! Pure: no I/O.

use crate::types::{OdpsType, Value};

/// The session's `hasher` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hasher {
    Default,
    Legacy,
}

impl Hasher {
    /// The name the session JSON carries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Legacy => "legacy",
        }
    }
}

impl std::str::FromStr for Hasher {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Self::Default),
            "legacy" => Ok(Self::Legacy),
            other => Err(HashError::UnknownHasher(other.to_owned())),
        }
    }
}

/// Why a key cannot be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("hasher `{0}` is not known (expected `default` or `legacy`)")]
    UnknownHasher(String),
    #[error("key columns of type {0} cannot be hashed here (integer and string types only)")]
    UnsupportedType(OdpsType),
    #[error("a {kind} value in a key column of type {ty}")]
    ValueMismatch { ty: OdpsType, kind: &'static str },
}

/// Whether a key column of this type can be hashed.
pub fn is_hashable(ty: &OdpsType) -> bool {
    ty.integer_range().is_some()
        || matches!(
            ty,
            OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Binary
        )
}

/// The hash of one key cell, as a signed 32-bit integer; NULL hashes to 0.
pub fn column_hash(hasher: Hasher, ty: &OdpsType, value: &Value) -> Result<i32, HashError> {
    if !is_hashable(ty) {
        return Err(HashError::UnsupportedType(ty.clone()));
    }
    match value {
        Value::Null => Ok(0),
        Value::Integer(v) if ty.integer_range().is_some() => Ok(match hasher {
            Hasher::Default => default_integer(*v),
            Hasher::Legacy => legacy_integer(*v),
        }),
        Value::Bytes(b) if ty.integer_range().is_none() => Ok(match hasher {
            Hasher::Default => default_bytes(b),
            Hasher::Legacy => legacy_bytes(b),
        }),
        other => Err(HashError::ValueMismatch {
            ty: ty.clone(),
            kind: other.kind(),
        }),
    }
}

/// The hash of a row's key: the wrapping sum of the column hashes (so key order does not
/// matter), folded as `s ^ (s >> 8)`, which is never negative.
pub fn record_hash<'a>(
    hasher: Hasher,
    key: impl IntoIterator<Item = (&'a OdpsType, &'a Value)>,
) -> Result<i32, HashError> {
    let mut sum = 0i32;
    for (ty, value) in key {
        sum = sum.wrapping_add(column_hash(hasher, ty, value)?);
    }
    Ok(sum ^ (sum >> 8))
}

/// The bucket of a record hash among `bucket_count` buckets (`0` when there are none, which a
/// session never has).
pub fn bucket(record_hash: i32, bucket_count: u32) -> u32 {
    if bucket_count == 0 {
        return 0;
    }
    // A record hash is never negative; `rem_euclid` keeps the result in range regardless.
    let b = i64::from(record_hash).rem_euclid(i64::from(bucket_count));
    u32::try_from(b).unwrap_or(0)
}

/// The 64-to-32-bit integer mix of the default hasher (Thomas Wang's), on wrapping i64.
fn default_integer(v: i64) -> i32 {
    let mut v = (!v).wrapping_add(v.wrapping_shl(18));
    v ^= v >> 31;
    v = v.wrapping_mul(21);
    v ^= v >> 11;
    v = v.wrapping_add(v.wrapping_shl(6));
    v ^= v >> 22;
    // The low 32 bits, reinterpreted as signed.
    v as i32
}

fn legacy_integer(v: i64) -> i32 {
    ((v >> 32) ^ v) as i32
}

/// Jenkins' one-at-a-time hash over the bytes taken as signed (as Java bytes are).
fn default_bytes(bytes: &[u8]) -> i32 {
    let mut h = 0i32;
    for &b in bytes {
        h = h.wrapping_add(i32::from(b as i8));
        h = h.wrapping_add(h.wrapping_shl(10));
        h ^= h >> 6;
    }
    h = h.wrapping_add(h.wrapping_shl(3));
    h ^= h >> 11;
    h.wrapping_add(h.wrapping_shl(15))
}

/// Java's `String.hashCode` rule over the signed bytes.
fn legacy_bytes(bytes: &[u8]) -> i32 {
    bytes.iter().fold(0i32, |h, &b| {
        h.wrapping_mul(31).wrapping_add(i32::from(b as i8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_sdk_cross_checks() {
        let h = |ty: OdpsType, v: Value| column_hash(Hasher::Default, &ty, &v).unwrap();
        assert_eq!(h(OdpsType::BigInt, Value::Integer(1)), 357654460);
        assert_eq!(h(OdpsType::BigInt, Value::Integer(-1)), 357653185);
        assert_eq!(h(OdpsType::BigInt, Value::Integer(10)), -718433742);
        assert_eq!(h(OdpsType::Int, Value::Integer(127)), -1788925397);
        assert_eq!(h(OdpsType::String, Value::text("1")), -2140438327);
        assert_eq!(
            h(OdpsType::String, Value::text("阿里巴巴云计算")),
            1623550194
        );
    }

    #[test]
    fn unsupported_types_and_values_are_refused() {
        assert_eq!(
            column_hash(Hasher::Default, &OdpsType::Double, &Value::Double(1.0)),
            Err(HashError::UnsupportedType(OdpsType::Double))
        );
        assert!(matches!(
            column_hash(Hasher::Default, &OdpsType::BigInt, &Value::text("1")),
            Err(HashError::ValueMismatch { .. })
        ));
        assert_eq!(
            "other".parse::<Hasher>(),
            Err(HashError::UnknownHasher("other".into()))
        );
    }
}

//! MaxCompute's type system as the sink sees it: column types, table schemas and cell values.
//!
//! Type names parse from, and print to, the spelling MaxCompute uses in table metadata and tunnel
//! session bodies (`bigint`, `decimal(10,2)`, `array<bigint>`, `struct<a:bigint,b:string>`).
//! This module does no I/O and knows nothing about the wire format.

use std::fmt;
use std::str::FromStr;

/// A MaxCompute column type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OdpsType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    String,
    /// `varchar(n)`: at most `n` characters.
    Varchar(u32),
    /// `char(n)`: at most `n` characters.
    Char(u32),
    Binary,
    Json,
    /// `decimal(precision, scale)`; a bare `decimal` is the 1.0 edition's `decimal(54,18)`.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    DateTime,
    Timestamp,
    TimestampNtz,
    Array(Box<OdpsType>),
    Map(Box<OdpsType>, Box<OdpsType>),
    Struct(Vec<StructField>),
}

/// One named field of a `struct<...>` type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructField {
    pub name: String,
    pub ty: OdpsType,
}

impl OdpsType {
    /// Whether cells of this type are text (STRING, VARCHAR, CHAR, JSON).
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            Self::String | Self::Varchar(_) | Self::Char(_) | Self::Json
        )
    }

    /// The inclusive range of an integer type, `None` for non-integer types.
    pub fn integer_range(&self) -> Option<(i64, i64)> {
        match self {
            Self::TinyInt => Some((i8::MIN.into(), i8::MAX.into())),
            Self::SmallInt => Some((i16::MIN.into(), i16::MAX.into())),
            Self::Int => Some((i32::MIN.into(), i32::MAX.into())),
            Self::BigInt => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

/// A type string that is not a MaxCompute type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MaxCompute type `{input}`: {reason}")]
pub struct TypeParseError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for OdpsType {
    type Err = TypeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| TypeParseError {
            input: s.to_owned(),
            reason,
        };
        let mut parser = TypeParser { rest: s };
        let ty = parser.parse_type().map_err(err)?;
        if !parser.rest.trim().is_empty() {
            return Err(err("trailing characters after the type"));
        }
        Ok(ty)
    }
}

/// A small recursive-descent parser over a type string.
struct TypeParser<'a> {
    rest: &'a str,
}

impl<'a> TypeParser<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn require(&mut self, c: char, reason: &'static str) -> Result<(), &'static str> {
        if self.eat(c) { Ok(()) } else { Err(reason) }
    }

    fn ident(&mut self) -> &'a str {
        self.skip_ws();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn number(&mut self) -> Result<u32, &'static str> {
        self.ident()
            .parse()
            .map_err(|_| "expected a number in the type parameters")
    }

    fn parse_type(&mut self) -> Result<OdpsType, &'static str> {
        let name = self.ident().to_ascii_lowercase();
        Ok(match name.as_str() {
            "boolean" => OdpsType::Boolean,
            "tinyint" => OdpsType::TinyInt,
            "smallint" => OdpsType::SmallInt,
            "int" => OdpsType::Int,
            "bigint" => OdpsType::BigInt,
            "float" => OdpsType::Float,
            "double" => OdpsType::Double,
            "string" => OdpsType::String,
            "binary" => OdpsType::Binary,
            "json" => OdpsType::Json,
            "date" => OdpsType::Date,
            "datetime" => OdpsType::DateTime,
            "timestamp" => OdpsType::Timestamp,
            "timestamp_ntz" => OdpsType::TimestampNtz,
            "varchar" | "char" => {
                self.require('(', "varchar and char need a length, as in varchar(20)")?;
                let n = self.number()?;
                self.require(')', "expected `)` after the length")?;
                if name == "varchar" {
                    OdpsType::Varchar(n)
                } else {
                    OdpsType::Char(n)
                }
            }
            "decimal" => {
                if self.eat('(') {
                    let precision = self.number()?;
                    let scale = if self.eat(',') { self.number()? } else { 0 };
                    self.require(')', "expected `)` after the decimal parameters")?;
                    if !(1..=54).contains(&precision) || scale > 18 || scale > precision {
                        return Err(
                            "decimal precision must be 1..=54 and scale 0..=18, at most the precision",
                        );
                    }
                    OdpsType::Decimal {
                        precision: precision as u8,
                        scale: scale as u8,
                    }
                } else {
                    OdpsType::Decimal {
                        precision: 54,
                        scale: 18,
                    }
                }
            }
            "array" => {
                self.require('<', "expected `<` after array")?;
                let elem = self.parse_type()?;
                self.require('>', "expected `>` to close array<...>")?;
                OdpsType::Array(Box::new(elem))
            }
            "map" => {
                self.require('<', "expected `<` after map")?;
                let key = self.parse_type()?;
                self.require(',', "expected `,` between the map's key and value types")?;
                let value = self.parse_type()?;
                self.require('>', "expected `>` to close map<...>")?;
                OdpsType::Map(Box::new(key), Box::new(value))
            }
            "struct" => {
                self.require('<', "expected `<` after struct")?;
                let mut fields = Vec::new();
                loop {
                    let field_name = self.ident();
                    if field_name.is_empty() {
                        return Err("expected a struct field name");
                    }
                    let field_name = field_name.to_owned();
                    self.require(':', "expected `:` after a struct field name")?;
                    let ty = self.parse_type()?;
                    fields.push(StructField {
                        name: field_name,
                        ty,
                    });
                    if !self.eat(',') {
                        break;
                    }
                }
                self.require('>', "expected `>` to close struct<...>")?;
                OdpsType::Struct(fields)
            }
            "" => return Err("expected a type name"),
            _ => return Err("unknown type name"),
        })
    }
}

impl fmt::Display for OdpsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("boolean"),
            Self::TinyInt => f.write_str("tinyint"),
            Self::SmallInt => f.write_str("smallint"),
            Self::Int => f.write_str("int"),
            Self::BigInt => f.write_str("bigint"),
            Self::Float => f.write_str("float"),
            Self::Double => f.write_str("double"),
            Self::String => f.write_str("string"),
            Self::Varchar(n) => write!(f, "varchar({n})"),
            Self::Char(n) => write!(f, "char({n})"),
            Self::Binary => f.write_str("binary"),
            Self::Json => f.write_str("json"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::Date => f.write_str("date"),
            Self::DateTime => f.write_str("datetime"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::TimestampNtz => f.write_str("timestamp_ntz"),
            Self::Array(e) => write!(f, "array<{e}>"),
            Self::Map(k, v) => write!(f, "map<{k},{v}>"),
            Self::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", field.name, field.ty)?;
                }
                f.write_str(">")
            }
        }
    }
}

/// A table column (data column or partition key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: OdpsType,
    pub comment: String,
    pub nullable: bool,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: OdpsType) -> Self {
        Self {
            name: name.into(),
            ty,
            comment: String::new(),
            nullable: true,
        }
    }
}

/// A table's shape: data columns in wire order, then partition keys in level order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
}

impl TableSchema {
    /// The index of a data column, matched case-insensitively as MaxCompute does.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The data column types in wire order.
    pub fn column_types(&self) -> Vec<OdpsType> {
        self.columns.iter().map(|c| c.ty.clone()).collect()
    }
}

/// One cell. Which variant is valid depends on the column type:
///
/// | variant | column types |
/// |---|---|
/// | `Boolean` | BOOLEAN |
/// | `Integer` | TINYINT, SMALLINT, INT, BIGINT (range-checked against the type) |
/// | `Float` / `Double` | FLOAT / DOUBLE |
/// | `Bytes` | STRING, VARCHAR, CHAR, JSON (UTF-8 expected), BINARY (any bytes) |
/// | `Decimal` | DECIMAL, as a plain decimal string such as `-12.34` |
/// | `Date` | DATE, days since 1970-01-01 |
/// | `DateTime` | DATETIME, milliseconds since the Unix epoch |
/// | `Timestamp` | TIMESTAMP, TIMESTAMP_NTZ: floored seconds and `0 <= nanos < 1e9` |
/// | `Array` / `Map` / `Struct` | ARRAY / MAP / STRUCT |
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f32),
    Double(f64),
    Bytes(Vec<u8>),
    Decimal(String),
    Date(i64),
    DateTime(i64),
    Timestamp { seconds: i64, nanos: u32 },
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Struct(Vec<Value>),
}

impl Value {
    /// A text cell from a string.
    pub fn text(s: impl Into<String>) -> Self {
        Self::Bytes(s.into().into_bytes())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// A short name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean(_) => "boolean",
            Self::Integer(_) => "integer",
            Self::Float(_) => "float",
            Self::Double(_) => "double",
            Self::Bytes(_) => "bytes",
            Self::Decimal(_) => "decimal",
            Self::Date(_) => "date",
            Self::DateTime(_) => "datetime",
            Self::Timestamp { .. } => "timestamp",
            Self::Array(_) => "array",
            Self::Map(_) => "map",
            Self::Struct(_) => "struct",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for s in [
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "float",
            "double",
            "string",
            "varchar(20)",
            "char(5)",
            "binary",
            "json",
            "decimal(10,2)",
            "date",
            "datetime",
            "timestamp",
            "timestamp_ntz",
            "array<bigint>",
            "map<string,bigint>",
            "struct<a:bigint,b:string>",
            "array<struct<x:map<string,array<double>>,y:decimal(38,18)>>",
        ] {
            let ty: OdpsType = s.parse().unwrap();
            assert_eq!(ty.to_string(), s);
        }
    }

    #[test]
    fn type_names_are_case_and_space_insensitive() {
        let ty: OdpsType = " STRUCT< a : BIGINT , b:String > ".parse().unwrap();
        assert_eq!(ty.to_string(), "struct<a:bigint,b:string>");
        let ty: OdpsType = "DECIMAL".parse().unwrap();
        assert_eq!(
            ty,
            OdpsType::Decimal {
                precision: 54,
                scale: 18
            }
        );
    }

    #[test]
    fn bad_type_names_say_why() {
        let cases = [
            ("bigintx", "unknown type name"),
            ("array<bigint", "expected `>` to close array<...>"),
            (
                "varchar",
                "varchar and char need a length, as in varchar(20)",
            ),
            (
                "map<string>",
                "expected `,` between the map's key and value types",
            ),
            (
                "decimal(60,2)",
                "decimal precision must be 1..=54 and scale 0..=18, at most the precision",
            ),
            ("bigint bigint", "trailing characters after the type"),
            ("", "expected a type name"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<OdpsType>().unwrap_err();
            assert_eq!(err.reason, reason, "input {input:?}");
        }
    }
}

//! The encoder's validation: every way a row can be refused, with the exact error, and the
//! guarantee that a refused row leaves the writer's buffer untouched.

use maxcompute_core::codec::{
    CellError, EncodeError, MAX_CELL_BYTES, RecordWriter, decode_block, encode_block,
};
use maxcompute_core::types::{OdpsType, StructField, Value};

fn ty(s: &str) -> OdpsType {
    s.parse().unwrap()
}

/// Encodes one single-column row and returns the error.
fn refuse(column_type: &str, value: Value) -> EncodeError {
    let types = vec![ty("bigint"), ty(column_type)];
    let mut w = RecordWriter::new(types.clone());
    w.write(&[Value::Integer(1), Value::Null]).unwrap();
    let before = w.buffered_bytes();
    let err = w.write(&[Value::Integer(2), value]).unwrap_err();
    assert_eq!(
        w.buffered_bytes(),
        before,
        "the refused row left bytes behind"
    );
    assert_eq!(w.record_count(), 1);
    err
}

fn accept(column_type: &str, value: Value) {
    let types = vec![ty(column_type)];
    let rows = vec![vec![value]];
    let body = encode_block(&types, &rows).unwrap();
    assert_eq!(decode_block(&types, &body).unwrap(), rows);
}

fn cell(error: CellError) -> EncodeError {
    EncodeError::Cell { column: 1, error }
}

#[test]
fn type_mismatch_names_column_type_and_value_kind() {
    let err = refuse("bigint", Value::text("12"));
    assert_eq!(
        err,
        cell(CellError::TypeMismatch {
            expected: OdpsType::BigInt,
            actual: "bytes"
        })
    );
    assert_eq!(
        err.to_string(),
        "column 1: a bytes value cannot be written to a bigint column"
    );
    assert_eq!(err.column(), Some(1));
    assert_eq!(
        refuse("double", Value::Float(1.0)),
        cell(CellError::TypeMismatch {
            expected: OdpsType::Double,
            actual: "float"
        })
    );
    assert_eq!(
        refuse("timestamp", Value::DateTime(0)),
        cell(CellError::TypeMismatch {
            expected: OdpsType::Timestamp,
            actual: "datetime"
        })
    );
}

#[test]
fn integer_ranges() {
    for (t, min, max) in [
        ("tinyint", -128i64, 127i64),
        ("smallint", -32768, 32767),
        ("int", i64::from(i32::MIN), i64::from(i32::MAX)),
    ] {
        accept(t, Value::Integer(min));
        accept(t, Value::Integer(max));
        for v in [min - 1, max + 1] {
            assert_eq!(
                refuse(t, Value::Integer(v)),
                cell(CellError::IntegerOutOfRange {
                    ty: ty(t),
                    value: v,
                    min,
                    max
                })
            );
        }
    }
    accept("bigint", Value::Integer(i64::MIN));
    accept("bigint", Value::Integer(i64::MAX));
}

#[test]
fn cell_size_limit_is_inclusive() {
    accept("string", Value::Bytes(vec![b'a'; MAX_CELL_BYTES]));
    assert_eq!(
        refuse("binary", Value::Bytes(vec![0; MAX_CELL_BYTES + 1])),
        cell(CellError::TooLarge {
            len: MAX_CELL_BYTES + 1,
            max: MAX_CELL_BYTES
        })
    );
    // A nested value is limited as a whole: two 4 MiB strings and their framing.
    let half = Value::Bytes(vec![b'x'; MAX_CELL_BYTES / 2]);
    let err = refuse("array<string>", Value::Array(vec![half.clone(), half]));
    assert!(
        matches!(err, EncodeError::Cell { column: 1, error: CellError::TooLarge { len, .. } } if len > MAX_CELL_BYTES),
        "{err:?}"
    );
}

#[test]
fn varchar_and_char_count_characters() {
    accept("varchar(3)", Value::text("日本語"));
    accept("char(2)", Value::text(""));
    assert_eq!(
        refuse("varchar(3)", Value::text("日本語x")),
        cell(CellError::TooLong {
            ty: ty("varchar(3)"),
            chars: 4
        })
    );
    assert_eq!(
        refuse("char(2)", Value::text("abc")),
        cell(CellError::TooLong {
            ty: ty("char(2)"),
            chars: 3
        })
    );
}

#[test]
fn utf8_is_required_for_text_types_but_not_string() {
    for t in ["varchar(10)", "char(10)", "json"] {
        assert_eq!(
            refuse(t, Value::Bytes(b"ok\xff".to_vec())),
            cell(CellError::InvalidUtf8 {
                ty: ty(t),
                valid_up_to: 2
            })
        );
    }
    accept("string", Value::Bytes(b"\xff\x00raw".to_vec()));
    accept("binary", Value::Bytes(b"\xff\x00raw".to_vec()));
}

#[test]
fn decimals() {
    accept("decimal(10,2)", Value::Decimal("-12345678.9".into()));
    accept("decimal(10,2)", Value::Decimal("0.10".into()));
    accept("decimal(4,2)", Value::Decimal("99.99".into()));
    // The decoder gives the plain value at the column's scale, as the service stores it.
    for (sent, stored) in [
        ("0099.990", "99.99"),
        ("6.73261E-12", "0.00"),
        ("1E+5", "100000"),
        ("-0.005", "-0.01"),
        ("+1.5", "1.5"),
    ] {
        let types = [ty("decimal(10,2)")];
        let body = encode_block(&types, &[vec![Value::Decimal(sent.into())]]).unwrap();
        assert_eq!(
            decode_block(&types, &body).unwrap(),
            vec![vec![Value::Decimal(stored.into())]],
            "{sent}"
        );
    }
    accept(
        "decimal",
        Value::Decimal("123456789012345678901234567890123456.5".into()),
    );
    // Exponent forms are what `str(Decimal)` and `BigDecimal.toString` print; they go out as
    // written, and extra fraction digits are left for the service to round.
    for fine in ["1e5", "6.73261E-12", "0E-9", ".5", "1.", "1.234", "-0.005"] {
        assert_eq!(
            encode_block(&[ty("decimal(10,2)")], &[vec![Value::Decimal(fine.into())]]).map(|_| ()),
            Ok(()),
            "{fine}"
        );
    }
    for bad in ["", "NaN", "Infinity", "1,5", " 1", "1e", "e5", "0x10"] {
        assert_eq!(
            refuse("decimal(10,2)", Value::Decimal(bad.into())),
            cell(CellError::InvalidDecimal { value: bad.into() })
        );
    }
    assert_eq!(
        refuse("decimal(4,2)", Value::Decimal("123.4".into())),
        cell(CellError::DecimalOverflow {
            ty: ty("decimal(4,2)"),
            value: "123.4".into(),
            integer_digits: 3,
        })
    );
    // 99.995 rounds to 100.00 at scale 2: three integer digits.
    assert_eq!(
        refuse("decimal(4,2)", Value::Decimal("99.995".into())),
        cell(CellError::DecimalOverflow {
            ty: ty("decimal(4,2)"),
            value: "99.995".into(),
            integer_digits: 3,
        })
    );
    assert_eq!(
        refuse("decimal(10,0)", Value::Decimal("1E+10".into())),
        cell(CellError::DecimalOverflow {
            ty: ty("decimal(10,0)"),
            value: "1E+10".into(),
            integer_digits: 11,
        })
    );
}

#[test]
fn timestamp_nanos_below_one_second() {
    accept(
        "timestamp_ntz",
        Value::Timestamp {
            seconds: -1,
            nanos: 999_999_999,
        },
    );
    assert_eq!(
        refuse(
            "timestamp",
            Value::Timestamp {
                seconds: 0,
                nanos: 1_000_000_000
            }
        ),
        cell(CellError::TimestampNanos {
            nanos: 1_000_000_000
        })
    );
}

#[test]
fn row_and_struct_width() {
    let mut w = RecordWriter::new(vec![ty("bigint"), ty("string")]);
    assert_eq!(
        w.write(&[Value::Integer(1)]).unwrap_err(),
        EncodeError::RowWidth {
            expected: 2,
            actual: 1
        }
    );
    assert_eq!(w.buffered_bytes(), 0);
    let st = OdpsType::Struct(vec![
        StructField {
            name: "a".into(),
            ty: OdpsType::BigInt,
        },
        StructField {
            name: "b".into(),
            ty: OdpsType::String,
        },
    ]);
    assert_eq!(
        refuse(&st.to_string(), Value::Struct(vec![Value::Integer(1)])),
        cell(CellError::StructWidth {
            ty: st,
            expected: 2,
            actual: 1
        })
    );
}

#[test]
fn errors_inside_nested_values_name_the_top_level_column() {
    assert_eq!(
        refuse(
            "array<int>",
            Value::Array(vec![
                Value::Integer(1),
                Value::Null,
                Value::Integer(1 << 40)
            ])
        ),
        cell(CellError::IntegerOutOfRange {
            ty: OdpsType::Int,
            value: 1 << 40,
            min: i32::MIN.into(),
            max: i32::MAX.into()
        })
    );
    assert_eq!(
        refuse(
            "map<varchar(2),bigint>",
            Value::Map(vec![(Value::text("abc"), Value::Integer(1))])
        ),
        cell(CellError::TooLong {
            ty: ty("varchar(2)"),
            chars: 3
        })
    );
}

#[test]
fn a_refused_row_does_not_change_the_block() {
    let types = vec![ty("string"), ty("int"), ty("array<bigint>")];
    let good = |i: i64| {
        vec![
            Value::text(format!("row {i}")),
            Value::Integer(i),
            Value::Array(vec![Value::Integer(i), Value::Null]),
        ]
    };
    let mut w = RecordWriter::with_capacity(types.clone(), 1024);
    w.write(&good(1)).unwrap();
    // Fails in its last cell, after the first cells were already written.
    let bad = vec![
        Value::text("bad"),
        Value::Integer(3),
        Value::Array(vec![Value::Integer(1), Value::text("x")]),
    ];
    assert!(w.write(&bad).is_err());
    w.write(&good(2)).unwrap();
    assert_eq!(w.record_count(), 2);
    let body = w.finish();
    assert_eq!(body, encode_block(&types, &[good(1), good(2)]).unwrap());
    assert_eq!(decode_block(&types, &body).unwrap(), vec![good(1), good(2)]);
}

#[test]
fn writer_accounting() {
    let types = vec![ty("bigint")];
    let w = RecordWriter::new(types.clone());
    assert_eq!(w.record_count(), 0);
    assert_eq!(w.buffered_bytes(), 0);
    // An empty block is just the trailer (vector `empty_block`).
    assert_eq!(w.finish(), b"\xf0\xff\xff\x7f\x00\xf8\xff\xff\x7f\x00");
    let mut w = RecordWriter::new(types);
    w.write(&[Value::Null]).unwrap();
    // An all-NULL record: END_RECORD and the CRC of nothing, 0.
    assert_eq!(w.buffered_bytes(), 5);
    let body = w.finish();
    assert_eq!(&body[..5], b"\x80\xc0\xff\x7f\x00");
}

//! Exact errors from the decoder on malformed bodies. Bodies are built here by hand (with the
//! `crc32c` crate for CRCs), not by the encoder under test, so each case has exactly one defect.

use maxcompute_core::codec::{DecodeError, decode_block, deflate, inflate};
use maxcompute_core::types::{OdpsType, Value};
use test_support::hex::unhex;

/// The worked example of protocol §7.3: one Kafka row, 5-byte CRC varints, 56 bytes.
const KAFKA_ROW: &str = "0a156d6178636f6d707574652d746573742d696e707574100018002201312a013180c0ff7fe6cab6d00df0ffff7f02f8ffff7feab6c1ca0d";
const RECORD_CRC: u32 = 0xDA0D_A566;
const STREAM_CRC: u32 = 0xD950_5B6A;
// Offsets into KAFKA_ROW.
const AT_PARTITION_TAG: usize = 0x17;
const AT_END_RECORD: usize = 0x21;
const AT_RECORD_CRC: usize = 0x25;
const AT_META_COUNT: usize = 0x2a;
const AT_COUNT: usize = 0x2e;
const AT_STREAM_CRC: usize = 0x33;

fn kafka_types() -> Vec<OdpsType> {
    ["string", "bigint", "bigint", "string", "string"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect()
}

fn kafka_row() -> Vec<u8> {
    unhex(KAFKA_ROW)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One field as it goes on the wire: field number, wire type, payload bytes (after the tag) and
/// the bytes it adds to the record CRC (after the field number).
struct Field {
    number: u64,
    wire: u8,
    payload: Vec<u8>,
    hashed: Vec<u8>,
}

fn len_prefixed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn string_field(number: u64, bytes: &[u8]) -> Field {
    Field {
        number,
        wire: 2,
        payload: len_prefixed(bytes),
        hashed: bytes.to_vec(),
    }
}

fn bigint_field(number: u64, v: i64) -> Field {
    let mut payload = Vec::new();
    varint(((v << 1) ^ (v >> 63)) as u64, &mut payload);
    Field {
        number,
        wire: 0,
        payload,
        hashed: v.to_le_bytes().to_vec(),
    }
}

/// A block with correct CRCs and count around the given records, plus optional extra bytes
/// between META_COUNT's value and META_CHECKSUM.
fn body_with(records: &[Vec<Field>], after_count: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = 0u32;
    for fields in records {
        let mut crc = 0u32;
        for f in fields {
            varint((f.number << 3) | u64::from(f.wire), &mut out);
            out.extend_from_slice(&f.payload);
            crc = crc32c::crc32c_append(crc, &(f.number as u32).to_le_bytes());
            crc = crc32c::crc32c_append(crc, &f.hashed);
        }
        out.extend_from_slice(&[0x80, 0xc0, 0xff, 0x7f]);
        varint(u64::from(crc), &mut out);
        stream = crc32c::crc32c_append(stream, &crc.to_le_bytes());
    }
    out.extend_from_slice(&[0xf0, 0xff, 0xff, 0x7f]);
    varint((records.len() as u64) << 1, &mut out);
    out.extend_from_slice(after_count);
    out.extend_from_slice(&[0xf8, 0xff, 0xff, 0x7f]);
    varint(u64::from(stream), &mut out);
    out
}

fn body(records: &[Vec<Field>]) -> Vec<u8> {
    body_with(records, &[])
}

#[test]
fn the_worked_example_decodes() {
    let rows = decode_block(&kafka_types(), &kafka_row()).unwrap();
    assert_eq!(
        rows,
        vec![vec![
            Value::text("maxcompute-test-input"),
            Value::Integer(0),
            Value::Integer(0),
            Value::text("1"),
            Value::text("1"),
        ]]
    );
    // The hand-built body of the same row is byte-identical to the worked example.
    let fields = vec![
        string_field(1, b"maxcompute-test-input"),
        bigint_field(2, 0),
        bigint_field(3, 0),
        string_field(4, b"1"),
        string_field(5, b"1"),
    ];
    assert_eq!(body(&[fields]), kafka_row());
}

#[test]
fn flipped_data_byte_is_a_bad_record_crc() {
    let mut bytes = kafka_row();
    bytes[5] ^= 0x01; // "maxcompute" becomes "maxbompute"
    // The record's CRC input as listed in §7.3, with the same byte changed.
    let mut hashed = unhex(concat!(
        "01000000",
        "6d6178636f6d707574652d746573742d696e707574",
        "02000000",
        "0000000000000000",
        "03000000",
        "0000000000000000",
        "04000000",
        "31",
        "05000000",
        "31"
    ));
    assert_eq!(hashed.len(), 59);
    assert_eq!(crc32c::crc32c(&hashed), RECORD_CRC);
    hashed[4 + 3] ^= 0x01;
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    match err {
        DecodeError::BadRecordCrc {
            record: 0,
            offset: AT_RECORD_CRC,
            expected,
            actual: RECORD_CRC,
        } => assert_eq!(expected, crc32c::crc32c(&hashed)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn changed_stream_crc_is_a_bad_stream_crc() {
    let mut bytes = kafka_row();
    bytes[AT_STREAM_CRC] ^= 0x02;
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::BadStreamCrc { offset: AT_STREAM_CRC, expected: STREAM_CRC, actual }
                if actual == STREAM_CRC ^ 0x02
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_count_is_a_count_mismatch() {
    let mut bytes = kafka_row();
    bytes[AT_COUNT] = 0x04; // zigzag 2
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::CountMismatch {
                declared: 2,
                actual: 1
            }
        ),
        "{err:?}"
    );
    bytes[AT_COUNT] = 0x01; // zigzag -1
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::CountMismatch {
                declared: -1,
                actual: 1
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_varints() {
    let bytes = kafka_row();
    // Inside the END_RECORD tag.
    let err = decode_block(&kafka_types(), &bytes[..AT_END_RECORD + 2]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TruncatedVarint {
                offset: AT_END_RECORD
            }
        ),
        "{err:?}"
    );
    // Inside the record CRC.
    let err = decode_block(&kafka_types(), &bytes[..AT_RECORD_CRC + 3]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TruncatedVarint {
                offset: AT_RECORD_CRC
            }
        ),
        "{err:?}"
    );
    // Inside the stream CRC.
    let err = decode_block(&kafka_types(), &bytes[..bytes.len() - 1]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TruncatedVarint {
                offset: AT_STREAM_CRC
            }
        ),
        "{err:?}"
    );
}

#[test]
fn overlong_varint() {
    let err = decode_block(&kafka_types(), &[0xff; 11]).unwrap_err();
    assert!(
        matches!(err, DecodeError::VarintTooLong { offset: 0 }),
        "{err:?}"
    );
    // Ten bytes whose last carries more than the 64th bit.
    let mut bytes = vec![0xff; 9];
    bytes.push(0x02);
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::VarintTooLong { offset: 0 }),
        "{err:?}"
    );
}

#[test]
fn unknown_field_numbers_are_unexpected_tags() {
    // Field 6 in a five-column table.
    let bytes = body(&[vec![string_field(1, b"t"), string_field(6, b"x")]]);
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnexpectedTag {
                offset: 3,
                field: 6,
                wire_type: 2
            }
        ),
        "{err:?}"
    );
    // Field 0.
    let err = decode_block(&kafka_types(), &[0x02, 0x00]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnexpectedTag {
                offset: 0,
                field: 0,
                wire_type: 2
            }
        ),
        "{err:?}"
    );
    // END_RECORD with the wrong wire type.
    let mut bytes = kafka_row();
    bytes[AT_END_RECORD] = 0x82;
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnexpectedTag {
                offset: AT_END_RECORD,
                field: 33_553_408,
                wire_type: 2
            }
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_wire_type_for_the_column() {
    let mut bytes = kafka_row();
    bytes[AT_PARTITION_TAG] = 0x11; // field 2 as fixed64
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::WrongWireType {
                offset: AT_PARTITION_TAG,
                column: 1,
                ty: OdpsType::BigInt,
                expected: 0,
                actual: 1
            }
        ),
        "{err:?}"
    );
}

#[test]
fn fields_must_ascend() {
    let types = kafka_types();
    let bytes = body(&[vec![bigint_field(3, 1), bigint_field(2, 1)]]);
    let err = decode_block(&types, &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::FieldOutOfOrder {
                offset: 2,
                field: 2,
                previous: 3
            }
        ),
        "{err:?}"
    );
    let bytes = body(&[vec![bigint_field(2, 1), bigint_field(2, 1)]]);
    let err = decode_block(&types, &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::FieldOutOfOrder {
                offset: 2,
                field: 2,
                previous: 2
            }
        ),
        "{err:?}"
    );
    // A new record starts the order again.
    let bytes = body(&[vec![bigint_field(3, 1)], vec![bigint_field(2, 1)]]);
    assert_eq!(decode_block(&types, &bytes).unwrap().len(), 2);
}

#[test]
fn invalid_utf8_in_varchar_but_not_in_string() {
    let bytes = body(&[vec![string_field(1, b"\xc3\x28")]]);
    let err = decode_block(&[OdpsType::Varchar(10)], &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidUtf8 {
                offset: 1,
                column: 0,
                ty: OdpsType::Varchar(10)
            }
        ),
        "{err:?}"
    );
    for ty in [OdpsType::Char(5), OdpsType::Json] {
        let err = decode_block(std::slice::from_ref(&ty), &bytes).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err:?}");
    }
    // STRING and BINARY cells are bytes: a BINARY-format sink writes raw bytes into STRING.
    for ty in [OdpsType::String, OdpsType::Binary] {
        let rows = decode_block(&[ty], &bytes).unwrap();
        assert_eq!(rows, vec![vec![Value::Bytes(b"\xc3\x28".to_vec())]]);
    }
}

#[test]
fn truncated_inside_a_string() {
    let bytes = kafka_row();
    let err = decode_block(&kafka_types(), &bytes[..0x10]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::LengthOverflow {
                offset: 1,
                len: 21,
                remaining: 14
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_between_fields_and_records() {
    let bytes = kafka_row();
    // After a complete field, before END_RECORD.
    let err = decode_block(&kafka_types(), &bytes[..AT_PARTITION_TAG]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnexpectedEnd {
                offset: AT_PARTITION_TAG,
                needed: 1
            }
        ),
        "{err:?}"
    );
    // After a complete record: the trailer is missing.
    let err = decode_block(&kafka_types(), &bytes[..AT_META_COUNT]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::MissingTrailer {
                offset: AT_META_COUNT
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        decode_block(&kafka_types(), &[]).unwrap_err(),
        DecodeError::MissingTrailer { offset: 0 }
    ));
    // Count present, checksum missing.
    let err = decode_block(&kafka_types(), &bytes[..AT_COUNT + 1]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnexpectedEnd {
                offset: 0x2f,
                needed: 1
            }
        ),
        "{err:?}"
    );
    // A record cut off before END_RECORD, followed by a trailer.
    let mut cut = bytes[..AT_END_RECORD].to_vec();
    cut.extend_from_slice(&bytes[AT_META_COUNT..]);
    let err = decode_block(&kafka_types(), &cut).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnexpectedTag {
                offset: AT_END_RECORD,
                field: 33_554_430,
                wire_type: 0
            }
        ),
        "{err:?}"
    );
}

#[test]
fn trailing_garbage() {
    let mut bytes = kafka_row();
    let end = bytes.len();
    bytes.extend_from_slice(b"\x00junk");
    let err = decode_block(&kafka_types(), &bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::TrailingBytes { offset, len: 5 } if offset == end),
        "{err:?}"
    );
}

#[test]
fn invalid_values_on_a_valid_wire() {
    // A boolean of 2.
    let bool2 = Field {
        number: 1,
        wire: 0,
        payload: vec![0x02],
        hashed: vec![0x02],
    };
    let err = decode_block(&[OdpsType::Boolean], &body(&[vec![bool2]])).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidValue {
                offset: 1,
                column: 0,
                ty: OdpsType::Boolean,
                ..
            }
        ),
        "{err:?}"
    );
    // 128 in a TINYINT column.
    let bytes = body(&[vec![bigint_field(1, 128)]]);
    let err = decode_block(&[OdpsType::TinyInt], &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidValue {
                ty: OdpsType::TinyInt,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        decode_block(&[OdpsType::SmallInt], &bytes).unwrap(),
        vec![vec![Value::Integer(128)]]
    );
    // Timestamp nanos of one full second.
    let mut payload = vec![0x00];
    varint(2_000_000_000, &mut payload);
    let mut hashed = 0i64.to_le_bytes().to_vec();
    hashed.extend_from_slice(&1_000_000_000i32.to_le_bytes());
    let ts = Field {
        number: 1,
        wire: 2,
        payload,
        hashed,
    };
    let err = decode_block(&[OdpsType::Timestamp], &body(&[vec![ts]])).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidValue {
                ty: OdpsType::Timestamp,
                ..
            }
        ),
        "{err:?}"
    );
    // A decimal that is not a number, and one too large for its type.
    let ty = OdpsType::Decimal {
        precision: 10,
        scale: 2,
    };
    for (text, reason) in [
        (&b"1e"[..], "not a decimal number"),
        (b"NaN", "not a decimal number"),
        (b"1E+8", "more integer digits than the decimal type allows"),
    ] {
        let dec = string_field(1, text);
        let err = decode_block(std::slice::from_ref(&ty), &body(&[vec![dec]])).unwrap_err();
        assert!(
            matches!(err, DecodeError::InvalidValue { reason: r, .. } if r == reason),
            "{err:?}"
        );
    }
    // An array null flag of 2.
    let arr = Field {
        number: 1,
        wire: 2,
        payload: vec![0x01, 0x02],
        hashed: vec![],
    };
    let ty = OdpsType::Array(Box::new(OdpsType::BigInt));
    let err = decode_block(&[ty], &body(&[vec![arr]])).unwrap_err();
    assert!(
        matches!(err, DecodeError::InvalidValue { offset: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn forged_array_count_is_refused_before_allocating() {
    let mut payload = Vec::new();
    varint(u64::from(u32::MAX), &mut payload);
    let arr = Field {
        number: 1,
        wire: 2,
        payload,
        hashed: vec![],
    };
    let ty = OdpsType::Array(Box::new(OdpsType::BigInt));
    let err = decode_block(&[ty], &body(&[vec![arr]])).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::LengthOverflow {
                offset: 1,
                len: 4_294_967_295,
                ..
            }
        ),
        "{err:?}"
    );
}

/// The optional download metrics section between META_COUNT and META_CHECKSUM.
fn metrics_section(field: u64, json: &[u8], crc_delta: u32) -> Vec<u8> {
    let mut out = Vec::new();
    varint((field << 3) | 2, &mut out);
    out.extend_from_slice(&len_prefixed(json));
    varint(33_554_176 << 3, &mut out);
    let mut crc = crc32c::crc32c(&(field as u32).to_le_bytes());
    crc = crc32c::crc32c_append(crc, json);
    // pyodps' C writer style: a CRC >= 2^31 as a 10-byte sign-extended varint.
    varint(i64::from((crc ^ crc_delta) as i32) as u64, &mut out);
    out
}

#[test]
fn download_metrics_section_is_accepted_and_checked() {
    let types = kafka_types();
    let records = || vec![vec![string_field(1, b"t"), bigint_field(3, 5)]];
    let json = br#"{"ServerIoCost":1,"StorageCost":2}"#;
    let bytes = body_with(&records(), &metrics_section(1, json, 0));
    let rows = decode_block(&types, &bytes).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][2], Value::Integer(5));

    let bytes = body_with(&records(), &metrics_section(1, json, 1));
    let err = decode_block(&types, &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::BadMetricsCrc { .. }), "{err:?}");
}

#[test]
fn inflated_bodies_decode_and_zip_bombs_are_refused() {
    let bytes = kafka_row();
    let z = deflate(&bytes);
    let back = inflate(&z, bytes.len()).unwrap();
    assert_eq!(decode_block(&kafka_types(), &back).unwrap().len(), 1);
    let bomb = deflate(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 << 10);
    let err = inflate(&bomb, 8 << 20).unwrap_err();
    assert!(
        matches!(err, DecodeError::InflateTooLarge { max_len } if max_len == 8 << 20),
        "{err:?}"
    );
}

#[test]
fn every_single_bit_flip_in_the_record_is_an_error() {
    // Within the record (tags, lengths, payloads, END_RECORD and the significant bits of its
    // CRC), no one-bit change yields a body that decodes.
    let types = kafka_types();
    let good = kafka_row();
    for at in 0..AT_META_COUNT {
        for bit in 0..8 {
            let mut bytes = good.clone();
            bytes[at] ^= 1 << bit;
            // The 5th CRC byte carries only 4 significant bits: the rest is above 2^32 and is
            // ignored by the modulo-2^32 rule that makes pyodps' 10-byte form readable.
            if at == AT_RECORD_CRC + 4 && (4..7).contains(&bit) {
                assert!(decode_block(&types, &bytes).is_ok());
                continue;
            }
            let result = decode_block(&types, &bytes);
            assert!(
                result.is_err(),
                "flip of bit {bit} at byte {at:#x} decoded: {result:?}"
            );
        }
    }
}

//! Kafka trigger event decoding, against the `events/` corpus and inline edge cases.

use bytes::Bytes;
use maxcompute_core::event::Headers;
use maxcompute_core::event::{
    DecodedBatch, EventError, EventSource, KafkaRecord, RejectClass, TimestampType, decode_event,
    decode_event_str,
};

fn event_text(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn decode_file(name: &str) -> DecodedBatch {
    decode_event(event_text(name).as_bytes()).unwrap()
}

fn coords(r: &KafkaRecord) -> (&str, i32, i64) {
    (&*r.topic, r.partition, r.offset)
}

#[test]
fn seed_test_message_decodes_exactly() {
    let batch = decode_file("seed-test-message.json");
    assert_eq!(batch.event_source, Some(EventSource::Msk));
    assert_eq!(
        batch.event_source_arn.as_deref(),
        Some(
            "arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster-1/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-5"
        )
    );
    assert_eq!(
        batch.bootstrap_servers,
        vec![
            "b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9094",
            "b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9094",
        ]
    );
    assert!(batch.rejects.is_empty());
    assert_eq!(
        batch.records,
        vec![KafkaRecord {
            topic: "maxcompute-test-input".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: 1_605_596_645_123,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from(b"1".to_vec())),
            value: Some(Bytes::from(b"1".to_vec())),
            headers: Headers::default(),
        }]
    );
}

#[test]
fn several_partitions_come_out_sorted_with_exact_timestamps() {
    let batch = decode_file("self-managed-several-partitions.json");
    assert_eq!(batch.event_source, Some(EventSource::SelfManagedKafka));
    assert_eq!(batch.event_source_arn, None);
    assert_eq!(batch.bootstrap_servers.len(), 3);
    assert!(batch.rejects.is_empty());
    let got: Vec<_> = batch.records.iter().map(coords).collect();
    assert_eq!(
        got,
        vec![
            ("orders-eu", 0, 100),
            ("orders-eu", 0, 101),
            ("orders-eu", 1, 7),
            ("orders-eu", 2, 42),
            ("orders-eu", 2, 43),
            ("orders-eu", 2, 44),
        ]
    );
    let ts: Vec<i64> = batch.records.iter().map(|r| r.timestamp_ms).collect();
    // 1750237198120 is the value `aws_lambda_events` turns into ...119.
    assert_eq!(
        ts,
        vec![
            1_750_237_190_001,
            1_750_237_190_002,
            1_750_237_195_555,
            1_750_237_198_120,
            1_750_237_198_121,
            1_750_237_200_000,
        ]
    );
    // Offset 101 has no headers and a broker timestamp.
    assert_eq!(batch.records[1].headers.to_vec(), vec![]);
    assert_eq!(
        batch.records[1].timestamp_type,
        TimestampType::LogAppendTime
    );
    assert_eq!(batch.records[3].key.as_deref(), Some(&b"order-42"[..]));
    assert_eq!(
        batch.records[3].value.as_deref(),
        Some(&br#"{"id":42,"total":"19.90"}"#[..])
    );
    assert_eq!(
        batch.records[2].headers.to_vec(),
        vec![("source".to_owned(), b"batch".to_vec())]
    );
}

#[test]
fn aws_lambda_events_traps_are_still_there_and_we_avoid_them() {
    use aws_lambda_events::event::kafka::KafkaEvent;
    // Tolerance only: a record without `headers` (AWS always sends the list) fails their
    // whole event.
    let text = event_text("tolerance-only-loose-records.json");
    let err = serde_json::from_str::<KafkaEvent>(&text).unwrap_err();
    assert!(err.to_string().contains("missing field `headers`"), "{err}");

    // With headers everywhere, the timestamp still comes back a millisecond early.
    let one = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,
        "offset":1,"timestamp":1750237198120,"timestampType":"CREATE_TIME","headers":[]}]}}"#;
    let theirs: KafkaEvent = serde_json::from_str(one).unwrap();
    let theirs_ms = theirs.records["t-0"][0].timestamp.timestamp_millis();
    assert_eq!(theirs_ms, 1_750_237_198_119);
    let ours = decode_event_str(one).unwrap();
    assert_eq!(ours.records[0].timestamp_ms, 1_750_237_198_120);

    // Unsigned header bytes are refused by theirs, accepted by ours.
    let unsigned = one.replace(r#""headers":[]"#, r#""headers":[{"h":[200]}]"#);
    assert!(serde_json::from_str::<KafkaEvent>(&unsigned).is_err());
    let ours = decode_event_str(&unsigned).unwrap();
    assert_eq!(
        ours.records[0].headers.to_vec(),
        vec![("h".to_owned(), vec![200])]
    );
}

/// `tests/aws/event-shapes.json`: what each sample event shows (`aws`, `tolerance`, `bad`).
fn event_shapes() -> Vec<(String, String)> {
    let path = format!(
        "{}/../../tests/aws/event-shapes.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, entry)| (name.clone(), entry["shape"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn aws_lambda_events_parses_every_aws_shaped_sample_and_no_other() {
    use aws_lambda_events::event::kafka::KafkaEvent;
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let shapes = event_shapes();
    let classified: Vec<String> = shapes.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        classified, on_disk,
        "every file of events/ is classified in tests/aws/event-shapes.json"
    );
    for (name, shape) in &shapes {
        let parsed = serde_json::from_str::<KafkaEvent>(&event_text(name));
        match shape.as_str() {
            "aws" => {
                let event = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
                // Ours reads the same records, and refuses none of them.
                let ours = decode_file(name);
                assert!(ours.rejects.is_empty(), "{name}: {:?}", ours.rejects);
                let theirs: usize = event.records.values().map(Vec::len).sum();
                assert_eq!(theirs, ours.records.len(), "{name}");
            }
            "tolerance" | "bad" => assert!(parsed.is_err(), "{name} parses: classify it as aws"),
            other => panic!("{name}: unknown shape {other}"),
        }
    }
}

#[test]
fn tolerance_only_null_fields_missing_headers_and_unsigned_bytes_are_read() {
    // None of these is a shape AWS's trigger writes; the sink reads them anyway.
    let batch = decode_file("tolerance-only-loose-records.json");
    assert!(batch.rejects.is_empty());
    let got: Vec<_> = batch
        .records
        .iter()
        .map(|r| {
            (
                r.offset,
                r.key.as_deref(),
                r.value.as_deref(),
                r.headers.to_vec(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, None, None, vec![]), // "key": null, "value": null
            (2, Some(&b"key"[..]), Some(&b"value"[..]), vec![]), // no "headers"
            (
                3,
                Some(&b"h"[..]),
                Some(&b"unsigned"[..]),
                vec![("h".to_owned(), vec![0xc3, 0xa9])]
            ), // bytes 195, 169
        ]
    );
}

#[test]
fn headers_keep_order_repeats_and_signed_bytes() {
    let batch = decode_file("headers-non-ascii.json");
    assert!(batch.rejects.is_empty());
    assert_eq!(batch.records.len(), 1);
    assert_eq!(
        batch.records[0].headers.to_vec(),
        vec![
            ("trace-id".to_owned(), b"abc".to_vec()),
            ("ünïcode-key".to_owned(), "é".as_bytes().to_vec()),
            ("trace-id".to_owned(), b"def".to_vec()),
            ("bin".to_owned(), vec![0xff, 0x00, 0x7f, 0x80]),
            ("empty".to_owned(), vec![]),
        ]
    );
}

#[test]
fn tombstones_and_missing_keys_are_none() {
    let batch = decode_file("tombstone.json");
    assert!(batch.rejects.is_empty());
    let kv: Vec<_> = batch
        .records
        .iter()
        .map(|r| (r.offset, r.key.as_deref(), r.value.as_deref()))
        .collect();
    assert_eq!(
        kv,
        vec![
            (5, Some(&b"user-1"[..]), Some(&b"alice"[..])),
            (6, Some(&b"user-1"[..]), None), // a tombstone: no "value" field
            (7, Some(&b"user-2"[..]), None), // likewise
            (8, None, Some(&b"keyless"[..])), // no "key" field
        ]
    );
}

#[test]
fn empty_batch_has_nothing() {
    let batch = decode_file("empty-batch.json");
    assert_eq!(batch.event_source, Some(EventSource::Msk));
    assert!(batch.records.is_empty());
    assert!(batch.rejects.is_empty());
}

#[test]
fn malformed_event_is_refused_as_a_whole() {
    let err = decode_event(event_text("malformed-event.json").as_bytes()).unwrap_err();
    assert!(matches!(err, EventError::Shape(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the Kafka trigger event does not have the expected shape: invalid type: sequence, \
         expected `records` to be an object mapping \"topic-partition\" to arrays of records \
         at line 5 column 13"
    );
}

#[test]
fn bad_records_become_rejects_that_keep_what_is_recoverable() {
    let text = event_text("bad-records.json");
    let batch = decode_event_str(&text).unwrap();
    let offsets: Vec<i64> = batch.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(batch.rejects.len(), 5);
    for r in &batch.rejects {
        assert_eq!(r.class, RejectClass::MalformedRecord);
        assert_eq!(r.topic.as_deref(), Some("maxcompute-test-input"));
        assert_eq!(r.partition, Some(0));
        // The raw record is kept exactly as it was in the event.
        let raw = r.raw_json.as_deref().unwrap();
        assert!(text.contains(raw), "{raw}");
    }
    let summary: Vec<_> = batch
        .rejects
        .iter()
        .map(|r| (r.offset, r.key.as_deref(), r.message.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (None, Some(&b"no-offset"[..]), "the record has no `offset`"),
            (
                None,
                None,
                "the record does not decode: invalid type: string \"not an object\", \
                 expected a Kafka record object at line 1 column 15"
            ),
            (
                Some(7),
                Some(&b"b64"[..]),
                "`value` is not valid base64: Invalid symbol 32, offset 3."
            ),
            (
                Some(9),
                Some(&b"hdr"[..]),
                "the record does not decode: header `h` has byte 300, outside -128..=255 \
                 at line 14 column 13"
            ),
            (
                Some(11),
                Some(&b"ts"[..]),
                "the record does not decode: expected an integer, got the string \"yesterday\" \
                 at line 5 column 32"
            ),
        ]
    );
    // Salvage keeps the fields that are fine even when one is not.
    let no_offset = &batch.rejects[0];
    assert_eq!(no_offset.value.as_deref(), Some(&b"9,no offset"[..]));
    assert_eq!(no_offset.timestamp_ms, Some(1_605_596_645_008));
    let bad_ts = &batch.rejects[4];
    assert_eq!(bad_ts.timestamp_ms, None);
    assert_eq!(bad_ts.value.as_deref(), Some(&b"11,timestamp"[..]));
}

#[test]
fn not_json_and_wrong_top_level_shapes_say_what_and_where() {
    let cases: &[(&str, &str)] = &[
        (
            "{\"records\": {",
            "the Kafka trigger event is not valid JSON: EOF while parsing an object at line 1 column 13",
        ),
        (
            "[]",
            "the Kafka trigger event does not have the expected shape: invalid type: sequence, \
             expected a Kafka trigger event object with a `records` object at line 1 column 0",
        ),
        (
            r#"{"eventSource":"aws:kafka"}"#,
            "the Kafka trigger event does not have the expected shape: missing field `records` \
             at line 1 column 27",
        ),
        (
            r#"{"records":null}"#,
            "the Kafka trigger event does not have the expected shape: invalid type: null, \
             expected `records` to be an object mapping \"topic-partition\" to arrays of records \
             at line 1 column 15",
        ),
        (
            r#"{"records":{"t-0":{"topic":"t"}}}"#,
            "the Kafka trigger event does not have the expected shape: invalid type: map, \
             expected `records[\"t-0\"]` to be an array of records at line 1 column 18",
        ),
    ];
    for (input, message) in cases {
        let err = decode_event_str(input).unwrap_err();
        assert_eq!(err.to_string(), *message, "input {input}");
    }
    assert!(matches!(
        decode_event(b"{\"records\":{}}\xff").unwrap_err(),
        EventError::NotUtf8(_)
    ));
}

#[test]
fn tolerant_record_fields() {
    let input = r#"{"records":{
        "my-topic-with-dashes-3":[
            {"topic":"my-topic-with-dashes","partition":"3","offset":"9007199254740993",
             "timestamp":1.6055966e12,"key":"YWJj","value":"a2\/f","headers":{"a":[1],"b":null},
             "extra":{"ignored":[1,2,3]}},
            {"topic":"my-topic-with-dashes","partition":3,"offset":2,"key":"","value":"YQ"}
        ],
        "my-topic-with-dashes-3":[
            {"topic":"my-topic-with-dashes","partition":3,"offset":1,"timestamp":-1,
             "timestampType":"NO_TIMESTAMP_TYPE"}
        ]}}"#;
    let batch = decode_event_str(input).unwrap();
    assert!(batch.rejects.is_empty(), "{:?}", batch.rejects);
    assert_eq!(batch.event_source, None);
    assert!(batch.bootstrap_servers.is_empty());
    let r: Vec<_> = batch.records.iter().map(coords).collect();
    // The repeated list key keeps both lists.
    assert_eq!(
        r,
        vec![
            ("my-topic-with-dashes", 3, 1),
            ("my-topic-with-dashes", 3, 2),
            ("my-topic-with-dashes", 3, 9_007_199_254_740_993),
        ]
    );
    let [no_ts, unpadded, exotic] = &batch.records[..] else {
        panic!()
    };
    assert_eq!(no_ts.event_time_ms(), None);
    assert_eq!(no_ts.key, None);
    assert_eq!(unpadded.key.as_deref(), Some(&b""[..]));
    assert_eq!(unpadded.value.as_deref(), Some(&b"a"[..]));
    assert_eq!(unpadded.timestamp_ms, -1);
    assert_eq!(unpadded.timestamp_type, TimestampType::Unspecified);
    assert_eq!(exotic.timestamp_ms, 1_605_596_600_000);
    assert_eq!(exotic.value.as_deref(), Some(&[0x6b, 0x6f, 0xdf][..]));
    assert_eq!(
        exotic.headers.to_vec(),
        vec![("a".to_owned(), vec![1]), ("b".to_owned(), vec![])]
    );
}

#[test]
fn coordinates_out_of_range_are_malformed() {
    let batch = decode_event_str(
        r#"{"records":{"t-0":[
            {"topic":"t","partition":2147483648,"offset":1},
            {"topic":"t","partition":0,"offset":-5},
            {"partition":0,"offset":3},
            {"topic":"t","partition":0,"offset":4,"timestamp":1.5}
        ]}}"#,
    )
    .unwrap();
    assert!(batch.records.is_empty());
    let messages: Vec<_> = batch
        .rejects
        .iter()
        .map(|r| {
            (
                r.topic.as_deref(),
                r.partition,
                r.offset,
                r.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            (Some("t"), Some(0), Some(-5), "`offset` -5 is negative"),
            (
                Some("t"),
                Some(0),
                Some(1),
                "`partition` 2147483648 is not a partition number (0..=2^31-1)"
            ),
            // No topic in the record: recovered from the list key.
            (Some("t"), Some(0), Some(3), "the record has no `topic`"),
            (
                Some("t"),
                Some(0),
                Some(4),
                "the record does not decode: expected an integer, got 1.5 at line 1 column 53"
            ),
        ]
    );
}

#[test]
fn reject_messages_are_capped() {
    let huge = "é".repeat(5000);
    let input = format!(r#"{{"records":{{"t-0":["{huge}"]}}}}"#);
    let batch = decode_event_str(&input).unwrap();
    let message = &batch.rejects[0].message;
    assert_eq!(message.len(), maxcompute_core::event::MAX_MESSAGE_BYTES - 1);
    assert!(message.ends_with('…'));
    assert!(message.starts_with("the record does not decode: invalid type: string \"éé"));
    // The raw record is still whole.
    assert_eq!(
        batch.rejects[0].raw_json.as_deref(),
        Some(format!("\"{huge}\"").as_str())
    );
}

/// The fast path reads only events the serde path reads alike: on random events in every
/// spelling the tests know (and some no emitter writes), the fast path either gives the event
/// to the serde path or decodes it exactly as the serde path does, and `decode_event` always
/// answers as the serde path. The seed is printed; `DIFFERENTIAL_SEED=<n>` replays a run.
#[test]
fn the_fast_path_decodes_as_the_serde_path_on_random_events() {
    use maxcompute_core::event::{decode_event_scanned, decode_event_serde};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    let seed = test_support::python::seed();
    eprintln!("DIFFERENTIAL_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let pick = |rng: &mut StdRng, choices: &[&str]| -> String {
        choices[rng.random_range(0..choices.len())].to_owned()
    };
    // Each field's spellings; "" leaves the field out.
    let topics = [
        r#""orders""#,
        r#""t-x""#,
        r#""tópico""#,
        r#""t\u002dx""#,
        "null",
        "",
        "7",
        r#""a\"b""#,
    ];
    let ints = [
        "0",
        "3",
        "17",
        r#""3""#,
        "3.0",
        "-1",
        "2147483648",
        "null",
        "",
        "-0",
        "01",
        "1e3",
        "9007199254740993",
        "18446744073709551615",
        "-9223372036854775808",
        "9223372036854775807",
        "-9223372036854775809",
        "20000000000000000000",
        "-",
    ];
    let types = [
        r#""CREATE_TIME""#,
        r#""LOG_APPEND_TIME""#,
        "null",
        "",
        r#""X""#,
        "1",
    ];
    let payloads = [
        r#""YQ==""#,
        r#""YQ""#,
        r#""""#,
        r#""Y""#,
        r#""a2\/f""#,
        "null",
        "",
        r#""é""#,
        r#""aGVsbG8gd29ybGQ=""#,
        "12",
        r#""YQ\"==""#,
        r#""YQ\\==""#,
        r#""YQ==\"""#,
    ];
    let headers = [
        "[]",
        r#"[{"a":[1,-128,255]}]"#,
        r#"[{"a":null}]"#,
        r#"{"a":[1]}"#,
        r#"[{"a":[256]}]"#,
        r#"[{"a":[1.0]}]"#,
        r#"[{"a":[-0]}]"#,
        "[{}]",
        r#"[{"a\u0062":[1]}]"#,
        "null",
        "",
        r#"[{"x":[1,2],"y":[]},{"x":[3]}]"#,
        "[null]",
        r#"[{"a":[01]}]"#,
        r#"[{"a":[1000]}]"#,
        r#"[{"a":[-129]}]"#,
        r#"[{"a":[-128,-1,0,127,128,255]}]"#,
        r#"[{"a":[ 1 ,2 , -3 ]}]"#,
        r#"[{"a":[1e2]}]"#,
        r#"[{"a":[-]}]"#,
        r#"[{"a":[1,]}]"#,
        r#"[{"a":[1 2]}]"#,
        r#"[{"é":[7]},{"é":[]}]"#,
        r#"[{"a"b":[7]}]"#,
    ];
    let space = |rng: &mut StdRng| -> &'static str {
        [""; 6]
            .iter()
            .chain(&[" ", "\n  ", "\t"])
            .copied()
            .nth(rng.random_range(0..9))
            .unwrap_or("")
    };
    let (mut fast, mut total) = (0, 0);
    for _ in 0..3000 {
        let mut lists = Vec::new();
        for l in 0..rng.random_range(0..3) {
            let mut records = Vec::new();
            for _ in 0..rng.random_range(0..3) {
                // Mostly spellings the fast path reads, so that an odd one is often the only
                // odd one in its event.
                let field = |rng: &mut StdRng, good: &[&str], all: &[&str]| {
                    if rng.random_bool(0.9) {
                        pick(rng, good)
                    } else {
                        pick(rng, all)
                    }
                };
                let mut fields = vec![
                    (
                        "topic",
                        field(&mut rng, &[r#""orders""#, r#""tópico""#], &topics),
                    ),
                    ("partition", field(&mut rng, &["0", "3"], &ints)),
                    (
                        "offset",
                        field(&mut rng, &["0", "17", "9007199254740993"], &ints),
                    ),
                    (
                        "timestamp",
                        field(&mut rng, &["17", "", "null", "-9223372036854775808"], &ints),
                    ),
                    (
                        "timestampType",
                        field(&mut rng, &[r#""CREATE_TIME""#, ""], &types),
                    ),
                    (
                        "key",
                        field(&mut rng, &[r#""YQ==""#, "null", ""], &payloads),
                    ),
                    (
                        "value",
                        field(
                            &mut rng,
                            &[r#""aGVsbG8gd29ybGQ=""#, r#""""#, r#""YQ""#],
                            &payloads,
                        ),
                    ),
                    (
                        "headers",
                        field(
                            &mut rng,
                            &[
                                "[]",
                                r#"[{"a":[1,-128,255]}]"#,
                                r#"[{"a":null}]"#,
                                "[{}]",
                                "",
                            ],
                            &headers,
                        ),
                    ),
                ];
                if rng.random_bool(0.3) {
                    fields.swap(0, 6);
                }
                if rng.random_bool(0.05) {
                    fields.push(("extra", "{\"x\":[1]}".to_owned()));
                }
                if rng.random_bool(0.05) {
                    fields.push(("offset", "4".to_owned()));
                }
                let body: Vec<String> = fields
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| {
                        format!(
                            "{}\"{k}\"{}:{}{v}{}",
                            space(&mut rng),
                            space(&mut rng),
                            space(&mut rng),
                            space(&mut rng)
                        )
                    })
                    .collect();
                records.push(format!("{{{}}}", body.join(",")));
            }
            lists.push(format!("\"orders-{l}\":[{}]", records.join(",")));
        }
        let source = pick(
            &mut rng,
            &[r#""aws:kafka""#, r#""SelfManagedKafka""#, "null", r#""x""#],
        );
        let mut event = format!(
            r#"{{"eventSource":{source},"bootstrapServers":"b-1:9092, b-2:9092","records":{}{{{}}}}}"#,
            space(&mut rng),
            lists.join(",")
        );
        match rng.random_range(0..20) {
            0 => event.push_str(" x"),
            1 => event.push_str(" \n"),
            2 => {
                event = event.replacen(r#""eventSource""#, r#""eventSource":null,"eventSource""#, 1)
            }
            3 => event = event.replacen(r#"{"eventSource""#, r#"{"other":1,"eventSource""#, 1),
            _ => {}
        }
        total += 1;
        let serde = decode_event_serde(&event).map_err(|e| e.to_string());
        let public = decode_event(event.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(public, serde, "DIFFERENTIAL_SEED={seed}: {event}");
        if let Some(scanned) = decode_event_scanned(event.as_bytes()) {
            fast += 1;
            assert_eq!(Ok(scanned), serde, "DIFFERENTIAL_SEED={seed}: {event}");
        }
    }
    // Both paths are exercised: the fast one takes a good share, the serde one the rest.
    assert!(
        fast > total / 10 && fast < total,
        "{fast} of {total} took the fast path"
    );
}

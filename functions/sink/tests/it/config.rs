//! Configuration: defaults, and a message naming the variable, the value and what is accepted
//! for every value the sink cannot use.

use std::collections::HashMap;

use maxcompute_core::codec::{Codec, Compression};
use maxcompute_core::partition::{Granularity, TimeSource};
use maxcompute_core::rows::{Format, Mode};
use sink::config::{Config, ConfigError, TunnelKind, WriteMode};

fn base() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("MAXCOMPUTE_ENDPOINT", "http://127.0.0.1:8080/api"),
        ("MAXCOMPUTE_PROJECT", "connector_test"),
        ("MAXCOMPUTE_TABLE", "test_kafka"),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "very-secret"),
    ])
}

fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
    Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
}

fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    let mut vars = base();
    vars.extend(extra.iter().copied());
    load(&vars)
}

#[test]
fn defaults_match_the_seed() {
    let c = load(&base()).unwrap();
    assert_eq!(c.mode, Mode::Default);
    assert_eq!(c.format, Format::Text);
    assert_eq!(c.partition.granularity, Granularity::Hour);
    assert_eq!(c.partition.zone.to_string(), "GMT+08:00");
    assert_eq!(c.partition.column, "pt");
    assert_eq!(c.partition.time_source, TimeSource::EventTime);
    assert_eq!(c.tunnel, TunnelKind::Stream);
    assert_eq!(c.write, WriteMode::Auto);
    assert!(!c.partial_batch);
    // zstd at pyodps's level, chosen from the WAN bench (README, "Compression").
    assert_eq!(
        c.compress.map(|c| (c.codec(), c.level())),
        Some((Codec::Zstd, Some(3)))
    );
    assert_eq!(c.error_topic, None);
    assert!(c.connection.assume_role.is_none());
    assert!(
        c.connection
            .credentials
            .environment()
            .unwrap()
            .security_token
            .is_none()
    );
}

#[test]
fn settings_are_read() {
    let c = with(&[
        ("SINK_MODE", "value"),
        ("SINK_FORMAT", "CSV"),
        ("SINK_PARTITION", "MINUTE"),
        ("SINK_TIME_ZONE", "Asia/Shanghai"),
        ("SINK_PARTITION_TIME", "processing"),
        ("SINK_TUNNEL", "batch"),
        ("SINK_WRITE", "Upsert"),
        ("SINK_COMPRESS", "true"),
        ("SINK_PARTIAL_BATCH", "true"),
        ("SINK_ERROR_TOPIC", "connect-error-sink"),
        ("SINK_ERROR_BOOTSTRAP_SERVERS", "a:9092, b:9092"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "token"),
        (
            "ALIBABA_CLOUD_ROLE_ARN",
            "acs:ram::1234567890:role/aliyunkafkamaxcomputeuser1",
        ),
        ("ALIBABA_CLOUD_STS_ENDPOINT", "http://127.0.0.1:9999"),
    ])
    .unwrap();
    assert_eq!(c.mode, Mode::Value);
    assert_eq!(c.format, Format::Csv);
    assert_eq!(c.partition.granularity, Granularity::Minute);
    assert_eq!(c.partition.time_source, TimeSource::ProcessingTime);
    assert_eq!(c.tunnel, TunnelKind::Batch);
    assert_eq!(c.write, WriteMode::Upsert);
    assert!(c.partial_batch);
    assert_eq!(c.compress, Compression::new(Codec::Deflate, None).ok());
    assert_eq!(c.error_topic.as_deref(), Some("connect-error-sink"));
    assert_eq!(
        c.error_bootstrap_servers,
        Some(vec!["a:9092".to_owned(), "b:9092".to_owned()])
    );
    assert!(
        c.connection
            .credentials
            .environment()
            .unwrap()
            .security_token
            .is_some()
    );
    let role = c.connection.assume_role.unwrap();
    assert_eq!(role.endpoint, "http://127.0.0.1:9999");
    assert_eq!(
        role.role_arn,
        "acs:ram::1234567890:role/aliyunkafkamaxcomputeuser1"
    );
}

#[test]
fn missing_variables_are_named() {
    for name in [
        "MAXCOMPUTE_ENDPOINT",
        "MAXCOMPUTE_PROJECT",
        "MAXCOMPUTE_TABLE",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    ] {
        let mut vars = base();
        vars.remove(name);
        match load(&vars) {
            Err(ConfigError::Missing { variable, .. }) => assert_eq!(variable, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn bad_values_name_the_variable_the_value_and_what_is_accepted() {
    let cases: &[(&str, &str, &str)] = &[
        ("SINK_MODE", "BOTH", "expected KEY, VALUE or DEFAULT"),
        (
            "SINK_FORMAT",
            "XML",
            "expected TEXT, BINARY, CSV, JSON or DEBEZIUM",
        ),
        ("SINK_PARTITION", "WEEK", "expected DAY, HOUR or MINUTE"),
        ("SINK_TIME_ZONE", "Mars/Base", "Asia/Shanghai"),
        ("SINK_PARTITION_TIME", "wallclock", "expected record"),
        (
            "SINK_PARTITION_FORMAT",
            "ds=static",
            "expected legacy, iso, or a pattern",
        ),
        ("SINK_TUNNEL", "kafka", "expected stream or batch"),
        ("SINK_WRITE", "merge", "expected auto, append or upsert"),
        ("SINK_PARTIAL_BATCH", "yes", "expected true or false"),
        (
            "SINK_COMPRESS",
            "gzip",
            "expected none, deflate, zstd, lz4 or snappy",
        ),
        // Alone, a level applies to the default codec, zstd.
        (
            "SINK_COMPRESS_LEVEL",
            "23",
            "zstd takes levels 1 to 22, not 23",
        ),
        ("SINK_ERROR_TOPIC", "bad topic!", "Kafka topic name"),
        (
            "MAXCOMPUTE_ENDPOINT",
            "service.example.com/api",
            "http:// or https://",
        ),
        (
            "MAXCOMPUTE_TABLE",
            "test-kafka",
            "letters, digits or underscores",
        ),
        (
            "ALIBABA_CLOUD_ROLE_ARN",
            "arn:aws:iam::1:role/x",
            "acs:ram::",
        ),
    ];
    for (variable, value, accepted) in cases {
        let err = with(&[(variable, value)]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{variable}={value:?}")),
            "{variable}: {text}"
        );
        assert!(text.contains(accepted), "{variable}: {text}");
    }
}

#[test]
fn csv_needs_key_or_value_mode() {
    let err = with(&[("SINK_FORMAT", "csv")]).unwrap_err();
    assert!(
        err.to_string().contains("SINK_MODE=KEY or SINK_MODE=VALUE"),
        "{err}"
    );
    assert!(with(&[("SINK_FORMAT", "csv"), ("SINK_MODE", "KEY")]).is_ok());
}

#[test]
fn the_seed_console_spelling_of_time_zones_is_accepted() {
    for zone in ["GMT 08:00", "GMT+08:00", "+08:00", "UTC", "Asia/Shanghai"] {
        assert!(with(&[("SINK_TIME_ZONE", zone)]).is_ok(), "{zone}");
    }
}

#[test]
fn secrets_never_print() {
    let c = with(&[("ALIBABA_CLOUD_SECURITY_TOKEN", "token-value")]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("very-secret"), "{debug}");
    assert!(!debug.contains("token-value"), "{debug}");
    assert!(debug.contains("\"id\""), "{debug}");
}

#[test]
fn permanent_write_errors_go_to_the_error_topic_only_when_there_is_one() {
    use sink::config::PermanentWriteErrors;
    assert_eq!(
        with(&[]).unwrap().permanent_write_errors,
        PermanentWriteErrors::Fail
    );
    let c = with(&[
        ("SINK_ERROR_TOPIC", "errors"),
        ("SINK_PERMANENT_WRITE_ERRORS", "Error-Topic"),
    ])
    .unwrap();
    assert_eq!(c.permanent_write_errors, PermanentWriteErrors::ErrorTopic);
    let err = with(&[("SINK_PERMANENT_WRITE_ERRORS", "error-topic")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "SINK_PERMANENT_WRITE_ERRORS=\"error-topic\" is not accepted: error-topic needs SINK_ERROR_TOPIC"
    );
    let err = with(&[("SINK_PERMANENT_WRITE_ERRORS", "drop")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected fail or error-topic"), "{err}");
}

#[test]
fn compression_codecs_and_levels() {
    let compress = |vars: &[(&'static str, &'static str)]| with(vars).map(|c| c.compress);
    for (value, want) in [
        ("none", None),
        ("false", None),
        ("0", None),
        ("true", Some((Codec::Deflate, Some(1)))),
        ("1", Some((Codec::Deflate, Some(1)))),
        ("Deflate", Some((Codec::Deflate, Some(1)))),
        ("zstd", Some((Codec::Zstd, Some(3)))),
        ("lz4", Some((Codec::Lz4, Some(1)))),
        ("snappy", Some((Codec::Snappy, None))),
    ] {
        let got = compress(&[("SINK_COMPRESS", value)]).unwrap();
        assert_eq!(got.map(|c| (c.codec(), c.level())), want, "{value}");
    }
    // Unset, the codec is zstd, and a level alone is zstd's.
    let got = compress(&[]).unwrap();
    assert_eq!(
        got.map(|c| (c.codec(), c.level())),
        Some((Codec::Zstd, Some(3)))
    );
    let got = compress(&[("SINK_COMPRESS_LEVEL", "19")]).unwrap();
    assert_eq!(
        got.map(|c| (c.codec(), c.level())),
        Some((Codec::Zstd, Some(19)))
    );
    for (codec, level, want) in [
        ("deflate", "6", (Codec::Deflate, 6)),
        ("true", "9", (Codec::Deflate, 9)),
        ("zstd", " 19 ", (Codec::Zstd, 19)),
        ("lz4", "1", (Codec::Lz4, 1)),
    ] {
        let got = compress(&[("SINK_COMPRESS", codec), ("SINK_COMPRESS_LEVEL", level)])
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.codec(), got.level()),
            (want.0, Some(want.1)),
            "{codec} {level}"
        );
    }
    for (codec, level, message) in [
        (
            "deflate",
            "10",
            "SINK_COMPRESS_LEVEL=\"10\" is not accepted: deflate takes levels 0 to 9, not 10",
        ),
        (
            "zstd",
            "0",
            "SINK_COMPRESS_LEVEL=\"0\" is not accepted: zstd takes levels 1 to 22, not 0",
        ),
        (
            "lz4",
            "9",
            "SINK_COMPRESS_LEVEL=\"9\" is not accepted: lz4 takes levels 1 to 1, not 9",
        ),
        (
            "snappy",
            "1",
            "SINK_COMPRESS_LEVEL=\"1\" is not accepted: snappy has no levels: leave SINK_COMPRESS_LEVEL unset",
        ),
        (
            "zstd",
            "fast",
            "SINK_COMPRESS_LEVEL=\"fast\" is not accepted: expected an integer level",
        ),
        (
            "none",
            "1",
            "SINK_COMPRESS_LEVEL=\"1\" is not accepted: a level needs SINK_COMPRESS set to deflate, zstd or lz4",
        ),
    ] {
        let err = with(&[("SINK_COMPRESS", codec), ("SINK_COMPRESS_LEVEL", level)]).unwrap_err();
        assert_eq!(err.to_string(), message, "{codec} {level}");
    }
}

#[test]
fn the_table_setting_is_a_name_a_template_or_a_topic_list() {
    use sink::route::TableRouting;
    assert!(matches!(with(&[]).unwrap().routing, TableRouting::Fixed(t) if t == "test_kafka"));
    assert!(matches!(
        with(&[("MAXCOMPUTE_TABLE", "ods_${topic}")])
            .unwrap()
            .routing,
        TableRouting::Template(_)
    ));
    match with(&[("MAXCOMPUTE_TABLE", "a=T_A, b.c=t_b")])
        .unwrap()
        .routing
    {
        TableRouting::Topics(t) => assert_eq!(
            t,
            [
                ("a".to_owned(), "t_a".to_owned()),
                ("b.c".to_owned(), "t_b".to_owned())
            ]
            .into()
        ),
        other => panic!("{other:?}"),
    }
    match with(&[
        ("SINK_TABLE_FIELD", "table"),
        ("SINK_TABLE_ALLOW", "ods_.*"),
    ])
    .unwrap()
    .routing
    {
        TableRouting::Field { field, default, .. } => {
            assert_eq!(field, "table");
            assert_eq!(default.as_deref(), Some("test_kafka"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_routing_creation_and_evolution_settings_name_their_variable() {
    let cases: &[(&[(&'static str, &'static str)], &str)] = &[
        (&[("MAXCOMPUTE_TABLE", "ODS_${topic}")], "MAXCOMPUTE_TABLE"),
        (
            &[("MAXCOMPUTE_TABLE", "a_${topic}_${topic}")],
            "MAXCOMPUTE_TABLE",
        ),
        (&[("MAXCOMPUTE_TABLE", "a=t,a=u")], "MAXCOMPUTE_TABLE"),
        (&[("MAXCOMPUTE_TABLE", "a=1t")], "MAXCOMPUTE_TABLE"),
        (&[("SINK_TABLE_FIELD", "table")], "SINK_TABLE_ALLOW"),
        (
            &[("SINK_TABLE_FIELD", "t"), ("SINK_TABLE_ALLOW", "(")],
            "SINK_TABLE_ALLOW",
        ),
        (&[("SINK_TABLE_ALLOW", "ods_.*")], "SINK_TABLE_ALLOW"),
        (&[("SINK_EVOLVE", "add-columns")], "SINK_EVOLVE"),
        (
            &[
                ("SINK_EVOLVE", "drop-columns"),
                ("SINK_FORMAT", "JSON"),
                ("SINK_MODE", "VALUE"),
            ],
            "SINK_EVOLVE",
        ),
        (&[("SINK_JSON_NUMBER", "float")], "SINK_JSON_NUMBER"),
        (&[("SINK_CREATE_TABLE", "yes")], "SINK_CREATE_TABLE"),
        (
            &[
                ("SINK_CREATE_TABLE", "true"),
                ("SINK_FORMAT", "CSV"),
                ("SINK_MODE", "VALUE"),
            ],
            "SINK_CREATE_TABLE",
        ),
        (&[("SINK_TABLE_LIFECYCLE", "7")], "SINK_TABLE_LIFECYCLE"),
        (
            &[("SINK_CREATE_TABLE", "true"), ("SINK_TABLE_LIFECYCLE", "0")],
            "SINK_TABLE_LIFECYCLE",
        ),
        (
            &[("SINK_CREATE_TABLE", "true"), ("SINK_PRIMARY_KEY", "id")],
            "SINK_PRIMARY_KEY",
        ),
        (
            &[
                ("SINK_CREATE_TABLE", "true"),
                ("SINK_WRITE", "upsert"),
                ("SINK_PRIMARY_KEY", "id,_x"),
            ],
            "SINK_PRIMARY_KEY",
        ),
    ];
    for (vars, variable) in cases {
        let text = with(vars).unwrap_err().to_string();
        assert!(text.starts_with(variable), "{vars:?}: {text}");
    }
    let mut vars = base();
    vars.remove("MAXCOMPUTE_TABLE");
    assert!(matches!(
        load(&vars),
        Err(ConfigError::Missing {
            variable: "MAXCOMPUTE_TABLE",
            ..
        })
    ));
}

#[test]
fn creation_and_evolution_settings_are_read() {
    use maxcompute_core::rows::infer::JsonNumber;
    use sink::config::Evolve;
    let c = with(&[
        ("SINK_FORMAT", "JSON"),
        ("SINK_MODE", "VALUE"),
        ("SINK_CREATE_TABLE", "true"),
        ("SINK_WRITE", "upsert"),
        ("SINK_PRIMARY_KEY", "Id, region"),
        ("SINK_TABLE_LIFECYCLE", "30"),
        ("SINK_JSON_NUMBER", "decimal"),
        ("SINK_EVOLVE", "add-columns"),
    ])
    .unwrap();
    let create = c.create_table.unwrap();
    assert_eq!(create.primary_key, vec!["id", "region"]);
    assert_eq!(create.lifecycle_days, Some(30));
    assert_eq!(c.json_number, JsonNumber::Decimal);
    assert_eq!(c.evolve, Evolve::AddColumns);
    let d = with(&[]).unwrap();
    assert_eq!(
        (d.create_table, d.evolve, d.json_number),
        (None, Evolve::None, JsonNumber::Double)
    );
}

//! Partition routing: configuration parsing, boundaries, zones and the cold-start table check.

use maxcompute_core::event::decode_event;
use maxcompute_core::partition::{
    Granularity, PartitionConfig, PartitionConfigError, PartitionRouter, PartitionValueError,
    TimeSource, ValueFormat, Zone, validate_value,
};
use maxcompute_core::types::{Column, OdpsType, TableSchema};

fn router(granularity: &str, zone: &str, format: &str) -> PartitionRouter {
    PartitionRouter::new(&PartitionConfig {
        granularity: granularity.parse().unwrap(),
        zone: zone.parse().unwrap(),
        format: format.parse().unwrap(),
        ..PartitionConfig::default()
    })
    .unwrap()
}

/// The single-level value, or all levels joined as `show partitions` prints them.
fn route(r: &PartitionRouter, ms: i64) -> String {
    r.route(ms).unwrap().to_string()
}

/// Epoch ms of a UTC instant.
fn utc(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

#[test]
fn defaults_are_the_seeds() {
    let config = PartitionConfig::default();
    assert_eq!(config.granularity, Granularity::Hour);
    assert_eq!(config.zone.to_string(), "GMT+08:00");
    assert_eq!(config.format, ValueFormat::Legacy);
    assert_eq!(config.column, "pt");
    assert_eq!(config.time_source, TimeSource::EventTime);
    let r = PartitionRouter::new(&config).unwrap();
    assert_eq!(route(&r, 1_605_596_645_123), "pt=11-17-2020 15");
}

#[test]
fn hour_boundary_in_gmt_plus_8_from_the_corpus() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/hour-boundary-gmt8.json"
    );
    let batch = decode_event(&std::fs::read(path).unwrap()).unwrap();
    // Every spelling of the seed's zone routes alike.
    for zone in ["GMT+08:00", "GMT 08:00", "+08:00", "Asia/Shanghai"] {
        let r = router("HOUR", zone, "legacy");
        let got: Vec<(i64, String)> = batch
            .records
            .iter()
            .map(|rec| (rec.offset, route(&r, rec.timestamp_ms)))
            .collect();
        assert_eq!(
            got,
            vec![
                (10, "pt=11-17-2020 14".to_owned()),
                (11, "pt=11-17-2020 14".to_owned()),
                (12, "pt=11-17-2020 15".to_owned()),
                (13, "pt=11-17-2020 15".to_owned()),
            ],
            "zone {zone}"
        );
    }
    let r = router("HOUR", "GMT+08:00", "legacy");
    assert_eq!(
        route(&r, utc("2020-11-17 06:59:59.999")),
        "pt=11-17-2020 14"
    );
    assert_eq!(
        route(&r, utc("2020-11-17 07:00:00.000")),
        "pt=11-17-2020 15"
    );
}

#[test]
fn every_granularity_and_format() {
    let t = utc("2020-11-17 07:04:05.123"); // 15:04:05.123 at GMT+8
    let cases = [
        ("DAY", "legacy", "pt=11-17-2020"),
        ("HOUR", "legacy", "pt=11-17-2020 15"),
        ("MINUTE", "legacy", "pt=11-17-2020 15:04"),
        ("day", "iso", "pt=2020-11-17"),
        ("Hour", "ISO", "pt=2020-11-17 15"),
        ("MINUTE", "iso", "pt=2020-11-17 15:04"),
        ("MINUTE", "%Y%m%d%H%M", "pt=202011171504"),
        // The granularity truncates before the pattern spells: no minutes in an HOUR partition.
        ("HOUR", "%Y%m%d%H%M", "pt=202011171500"),
        ("DAY", "%y/%m", "ERR"),
        ("HOUR", "ds=%Y%m%d/hh=%H", "ds=20201117/hh=15"),
        (
            "MINUTE",
            "y=%Y/m=%m/d=%d/h=%H/mi=%M",
            "y=2020/m=11/d=17/h=15/mi=04",
        ),
        ("HOUR", "dt=%Y-%m-%d %H", "dt=2020-11-17 15"),
    ];
    for (granularity, format, want) in cases {
        let config = PartitionConfig {
            granularity: granularity.parse().unwrap(),
            format: format.parse().unwrap(),
            ..PartitionConfig::default()
        };
        match PartitionRouter::new(&config) {
            Ok(r) => assert_eq!(route(&r, t), want, "{granularity} {format}"),
            Err(e) => assert_eq!("ERR", want, "{granularity} {format}: {e}"),
        }
    }
}

#[test]
fn multi_level_spec_in_order_and_as_the_tunnel_wants_it() {
    let r = router("HOUR", "UTC", "ds=%Y%m%d/hh=%H");
    assert_eq!(r.columns().collect::<Vec<_>>(), vec!["ds", "hh"]);
    let spec = r.route(utc("2020-11-17 07:04:05.123")).unwrap();
    assert_eq!(
        spec.levels(),
        &[
            ("ds".to_owned(), "20201117".to_owned()),
            ("hh".to_owned(), "07".to_owned())
        ]
    );
    assert_eq!(spec.tunnel_form(), "ds=20201117,hh=07");
    assert_eq!(spec.to_string(), "ds=20201117/hh=07");
}

#[test]
fn negative_offsets_shift_back_across_midnight() {
    let r = router("HOUR", "GMT-03:30", "legacy");
    assert_eq!(
        route(&r, utc("2020-11-17 03:29:59.999")),
        "pt=11-16-2020 23"
    );
    assert_eq!(
        route(&r, utc("2020-11-17 03:30:00.000")),
        "pt=11-17-2020 00"
    );
    let r = router("MINUTE", "-03:30", "iso");
    assert_eq!(
        route(&r, utc("2020-11-17 03:30:00.000")),
        "pt=2020-11-17 00:00"
    );
}

#[test]
fn dst_transitions_in_an_iana_zone() {
    let r = router("HOUR", "America/New_York", "iso");
    // Spring forward 2021-03-14: 01:59:59.999 EST is followed by 03:00 EDT; no 02 partition.
    assert_eq!(
        route(&r, utc("2021-03-14 06:59:59.999")),
        "pt=2021-03-14 01"
    );
    assert_eq!(
        route(&r, utc("2021-03-14 07:00:00.000")),
        "pt=2021-03-14 03"
    );
    // Fall back 2021-11-07: 01:30 EDT and 01:30 EST, an hour apart, share the 01 partition.
    assert_eq!(
        route(&r, utc("2021-11-07 05:30:00.000")),
        "pt=2021-11-07 01"
    );
    assert_eq!(
        route(&r, utc("2021-11-07 06:30:00.000")),
        "pt=2021-11-07 01"
    );
    assert_eq!(
        route(&r, utc("2021-11-07 07:00:00.000")),
        "pt=2021-11-07 02"
    );
    // Summer and winter offsets differ: noon UTC is 08 in July, 07 in January.
    assert_eq!(
        route(&r, utc("2021-07-01 12:00:00.000")),
        "pt=2021-07-01 08"
    );
    assert_eq!(
        route(&r, utc("2021-01-01 12:00:00.000")),
        "pt=2021-01-01 07"
    );
    // A zone with a half-hour DST shift (Lord Howe: +10:30 / +11:00).
    let r = router("MINUTE", "Australia/Lord_Howe", "iso");
    assert_eq!(
        route(&r, utc("2021-01-01 00:00:00.000")),
        "pt=2021-01-01 11:00"
    );
    assert_eq!(
        route(&r, utc("2021-07-01 00:00:00.000")),
        "pt=2021-07-01 10:30"
    );
}

#[test]
fn pre_1970_timestamps() {
    let r = router("MINUTE", "UTC", "iso");
    assert_eq!(route(&r, -1), "pt=1969-12-31 23:59");
    assert_eq!(route(&r, -86_400_001), "pt=1969-12-30 23:59");
    let r = router("HOUR", "GMT+08:00", "legacy");
    assert_eq!(route(&r, -1), "pt=01-01-1970 07");
    assert_eq!(
        route(&r, utc("1900-01-01 00:00:00.000")),
        "pt=01-01-1900 08"
    );
}

#[test]
fn times_outside_the_calendar_are_errors_not_panics() {
    let r = router("HOUR", "UTC", "legacy");
    assert_eq!(
        r.route(i64::MAX),
        Err(PartitionValueError::OutOfRange { ms: i64::MAX })
    );
    assert_eq!(
        r.route(i64::MIN).unwrap_err().to_string(),
        format!(
            "time {} ms since the epoch is outside MaxCompute's range \
             (0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 UTC)",
            i64::MIN
        )
    );
}

/// A trigger event with one record per timestamp, offsets 0, 1, ... in order.
fn event_with_timestamps(timestamps: &[i64]) -> String {
    let records: Vec<String> = timestamps
        .iter()
        .enumerate()
        .map(|(offset, ts)| {
            format!(
                r#"{{"topic":"orders","partition":0,"offset":{offset},"timestamp":{ts},"timestampType":"CREATE_TIME","key":"MQ==","value":"MQ==","headers":[]}}"#
            )
        })
        .collect();
    format!(r#"{{"records":{{"orders-0":[{}]}}}}"#, records.join(","))
}

#[test]
fn record_times_outside_maxcompute_range_are_rejects_for_the_error_topic() {
    use maxcompute_core::error_record::{
        ERROR_CLASS, ERROR_MESSAGE, ErrorContext, ErrorMessage, ORIGIN_TIMESTAMP,
    };
    use maxcompute_core::event::{MAXCOMPUTE_TIME_RANGE_MS, RejectClass, decode_event_str};
    use maxcompute_core::rows::{Format, Mode, RowBuilder, build_rows};

    let first = *MAXCOMPUTE_TIME_RANGE_MS.start();
    let last = *MAXCOMPUTE_TIME_RANGE_MS.end();
    // In GMT+08:00 (the default zone): one before the range (once spelled `pt=01-01-0001 07`),
    // the first instant in it, one after it, and the last instant of 9999 UTC, which is already
    // year 10000 in the zone.
    let timestamps = [first - 1, first, last + 1, last, 1_605_596_645_123];
    let batch = decode_event_str(&event_with_timestamps(&timestamps)).unwrap();
    assert!(batch.rejects.is_empty(), "decoding keeps every timestamp");
    let schema = TableSchema {
        columns: vec![Column::new("value", OdpsType::String)],
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    };
    let builder = RowBuilder::new(Mode::Value, Format::Text, Zone::default(), &schema).unwrap();
    let router = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    let built = build_rows(&batch.records, &builder, &router, 1_764_000_000_000);

    let specs: Vec<String> = built.partitions.keys().map(ToString::to_string).collect();
    assert_eq!(specs, vec!["pt=01-01-0001 08", "pt=11-17-2020 15"]);
    let rejected: Vec<(Option<i64>, RejectClass, &str)> = built
        .rejects
        .iter()
        .map(|r| (r.offset, r.class, r.message.as_str()))
        .collect();
    let out = |ms: i64| {
        format!(
            "time {ms} ms since the epoch is outside MaxCompute's range \
             (0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 UTC)"
        )
    };
    let in_zone = format!(
        "time {last} ms since the epoch is +10000-01-01 07:59:59.999 in GMT+08:00, \
         outside MaxCompute's years 0001 to 9999"
    );
    assert_eq!(
        rejected,
        vec![
            (
                Some(0),
                RejectClass::PartitionValue,
                out(first - 1).as_str()
            ),
            (Some(2), RejectClass::PartitionValue, out(last + 1).as_str()),
            (Some(3), RejectClass::PartitionValue, in_zone.as_str()),
        ]
    );

    // What the error topic receives says the same: the class and the reason, the time kept.
    let ctx = ErrorContext {
        function: "sink-test",
        now_ms: 1_764_000_000_000,
    };
    let message = ErrorMessage::from_reject(&built.rejects[0], ctx);
    let header = |name: &str| {
        message
            .headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
    };
    assert_eq!(header(ERROR_CLASS).as_deref(), Some("partition_value"));
    assert_eq!(header(ERROR_MESSAGE), Some(out(first - 1)));
    assert_eq!(
        header(ORIGIN_TIMESTAMP),
        Some((first - 1).to_string()),
        "the original time, exactly"
    );
    // Kafka takes no negative timestamp, so the message itself carries the rejection time.
    assert_eq!(message.timestamp_ms, ctx.now_ms);
}

#[test]
fn event_time_or_processing_time() {
    let event = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    assert_eq!(event.time_of(Some(5), 99), 5);
    assert_eq!(event.time_of(None, 99), 99);
    let processing = PartitionRouter::new(&PartitionConfig {
        time_source: "processing_time".parse().unwrap(),
        ..PartitionConfig::default()
    })
    .unwrap();
    assert_eq!(processing.time_of(Some(5), 99), 99);
}

#[test]
fn configuration_errors_say_what_was_given_and_what_is_accepted() {
    assert_eq!(
        "WEEK".parse::<Granularity>().unwrap_err().to_string(),
        "unknown partition granularity `WEEK`: expected DAY, HOUR or MINUTE"
    );
    assert_eq!(
        "Mars/Olympus".parse::<Zone>().unwrap_err().to_string(),
        "unknown time zone `Mars/Olympus`: expected an offset such as GMT+08:00, `GMT 08:00`, \
         GMT-03:30 or +08:00, UTC, GMT, or an IANA name such as Asia/Shanghai"
    );
    assert_eq!(
        "wallclock".parse::<TimeSource>().unwrap_err().to_string(),
        "unknown time source `wallclock`: expected EVENT_TIME or PROCESSING_TIME"
    );
    assert_eq!(
        "yyyy-MM-dd".parse::<ValueFormat>().unwrap_err().to_string(),
        "invalid partition format `yyyy-MM-dd`: neither a known name nor a pattern with % fields; \
         expected legacy, iso, or a pattern such as %Y%m%d%H or ds=%Y%m%d/hh=%H (fields %Y %y %m \
         %d %H %M %%)"
    );
    let new = |format: &str, column: &str| {
        PartitionRouter::new(&PartitionConfig {
            format: ValueFormat::Custom(format.to_owned()),
            column: column.to_owned(),
            ..PartitionConfig::default()
        })
        .unwrap_err()
        .to_string()
    };
    let reason = |s: &str| {
        s.split_once(": ")
            .and_then(|(_, r)| r.split_once(';'))
            .map(|(r, _)| r.to_owned())
            .unwrap()
    };
    assert_eq!(reason(&new("%Y%Q", "pt")), "unknown field %Q");
    assert_eq!(reason(&new("%Y%", "pt")), "a lone % at the end");
    assert_eq!(
        reason(&new("ds=%Y/%H", "pt")),
        "level `%H` needs a column, as in hh=%H"
    );
    assert_eq!(
        reason(&new("ds=%Y/DS=%m", "pt")),
        "column `DS` appears twice"
    );
    assert_eq!(reason(&new("ds=static", "pt")), "a level has no time field");
    assert_eq!(
        reason(&new("%Y+%m", "pt")),
        "literal `+` cannot be part of a partition value: the characters , = ' / & + % are not allowed"
    );
    assert_eq!(
        new("%Y", "1pt"),
        "invalid partition column `1pt`: expected a letter followed by letters, digits or `_`, at most 128 bytes"
    );
}

#[test]
fn partition_values_follow_maxcompute_rules() {
    assert_eq!(validate_value("11-17-2020 15"), Ok(()));
    assert_eq!(validate_value(&"x".repeat(128)), Ok(()));
    for (value, reason) in [
        ("", "empty"),
        ("a,b", "the characters , = ' / & + % are not allowed"),
        ("a=b", "the characters , = ' / & + % are not allowed"),
        ("it's", "the characters , = ' / & + % are not allowed"),
        ("a/b", "the characters , = ' / & + % are not allowed"),
        ("a&b", "the characters , = ' / & + % are not allowed"),
        ("a+b", "the characters , = ' / & + % are not allowed"),
        ("50%", "the characters , = ' / & + % are not allowed"),
        ("tab\there", "control characters are not allowed"),
    ] {
        match validate_value(value) {
            Err(PartitionValueError::Invalid { reason: r, .. }) => {
                assert_eq!(r, reason, "{value:?}")
            }
            other => panic!("{value:?}: {other:?}"),
        }
    }
    assert!(validate_value(&"x".repeat(129)).is_err());
}

fn table(keys: &[(&str, &str)]) -> TableSchema {
    TableSchema {
        columns: vec![Column::new("value", OdpsType::String)],
        partition_keys: keys
            .iter()
            .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
            .collect(),
    }
}

#[test]
fn cold_start_check_against_the_table_partition_keys() {
    let seed = router("HOUR", "GMT+08:00", "legacy");
    assert_eq!(seed.check_table(&table(&[("pt", "string")])), Ok(()));
    assert_eq!(seed.check_table(&table(&[("PT", "varchar(32)")])), Ok(()));
    assert_eq!(
        seed.check_table(&table(&[("ds", "string")]))
            .unwrap_err()
            .to_string(),
        "the table's partition keys (ds) do not match the configured partition columns (pt)"
    );
    assert_eq!(
        seed.check_table(&table(&[])).unwrap_err().to_string(),
        "the table's partition keys () do not match the configured partition columns (pt)"
    );
    let two = router("HOUR", "UTC", "ds=%Y%m%d/hh=%H");
    assert!(
        two.check_table(&table(&[("ds", "string"), ("hh", "string")]))
            .is_ok()
    );
    assert!(
        two.check_table(&table(&[("hh", "string"), ("ds", "string")]))
            .is_err()
    );
    assert!(two.check_table(&table(&[("ds", "string")])).is_err());
    // Integer keys are fine when the pattern yields only digits.
    assert!(
        two.check_table(&table(&[("ds", "bigint"), ("hh", "int")]))
            .is_ok()
    );
    assert_eq!(
        seed.check_table(&table(&[("pt", "bigint")])).unwrap_err(),
        PartitionConfigError::KeyType {
            column: "pt".to_owned(),
            ty: "bigint".to_owned()
        }
    );
    assert!(seed.check_table(&table(&[("pt", "double")])).is_err());
}

#[test]
fn settings_print_as_they_parse() {
    for g in ["DAY", "HOUR", "MINUTE"] {
        assert_eq!(g.parse::<Granularity>().unwrap().to_string(), g);
    }
    for t in ["EVENT_TIME", "PROCESSING_TIME"] {
        assert_eq!(t.parse::<TimeSource>().unwrap().to_string(), t);
    }
    for f in ["legacy", "iso", "ds=%Y%m%d/hh=%H"] {
        assert_eq!(f.parse::<ValueFormat>().unwrap().to_string(), f);
    }
}

//! Partition routing: which MaxCompute partition a record's row goes to.
//!
//! Configuration (granularity, time zone, value format, partition column, time source) is parsed
//! once at cold start into a [`PartitionRouter`]; [`PartitionRouter::route`] is then the one
//! function that turns a time in epoch milliseconds into an ordered partition spec such as
//! `pt=11-17-2020 15` or `ds=20201117/hh=15`. [`PartitionRouter::time_of`] picks that time: the
//! record's own timestamp (event time, the default) or the processing time passed in by the caller.
//!
//! The granularity truncates the local wall-clock time (a DAY partition never shows the hour); the
//! value format only spells the result. Local time follows the configured zone, DST included for
//! IANA zones: in the hour that repeats when clocks go back, both passes land in the same hour
//! partition.
//!
//! This module reads no clock and no environment: callers pass "now" and the configuration text in
//! (and add the environment variable's name to parse errors). It does not create partitions.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Offset, TimeZone, Timelike, Utc};

use crate::spec::PartitionSpec;
use crate::types::{OdpsType, TableSchema};

/// The seed's default partition column.
pub const DEFAULT_PARTITION_COLUMN: &str = "pt";

/// A configuration value that cannot be used. Messages say what was given and what is accepted;
/// the caller prefixes the name of the setting it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionConfigError {
    #[error("unknown partition granularity `{0}`: expected DAY, HOUR or MINUTE")]
    Granularity(String),
    #[error(
        "unknown time zone `{0}`: expected an offset such as GMT+08:00, `GMT 08:00`, GMT-03:30 or \
         +08:00, UTC, GMT, or an IANA name such as Asia/Shanghai"
    )]
    Zone(String),
    #[error("unknown time source `{0}`: expected EVENT_TIME or PROCESSING_TIME")]
    TimeSource(String),
    #[error(
        "invalid partition format `{given}`: {reason}; expected legacy, iso, or a pattern such as \
         %Y%m%d%H or ds=%Y%m%d/hh=%H (fields %Y %y %m %d %H %M %%)"
    )]
    Format { given: String, reason: String },
    #[error(
        "invalid partition column `{0}`: expected a letter followed by letters, digits or `_`, \
         at most 128 bytes"
    )]
    Column(String),
    #[error(
        "the table's partition keys ({table}) do not match the configured partition columns ({configured})"
    )]
    KeysMismatch { table: String, configured: String },
    #[error(
        "partition key `{column}` has type {ty}: expected STRING, VARCHAR or CHAR (or an integer \
         type when its pattern yields only digits)"
    )]
    KeyType { column: String, ty: String },
}

/// No valid partition value can be made for one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionValueError {
    #[error(
        "time {ms} ms since the epoch is outside MaxCompute's range \
         (0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 UTC)"
    )]
    OutOfRange { ms: i64 },
    /// In range as an instant, but its wall-clock time in the partition zone is not (the first
    /// hours of year 1 west of UTC, the last ones of 9999 east of it).
    #[error(
        "time {ms} ms since the epoch is {local} in {zone}, outside MaxCompute's years 0001 to 9999"
    )]
    OutOfRangeInZone {
        ms: i64,
        zone: String,
        local: String,
    },
    #[error("partition value `{value}` is not allowed: {reason}")]
    Invalid { value: String, reason: &'static str },
}

/// How finely partitions split time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    Day,
    #[default]
    Hour,
    Minute,
}

impl FromStr for Granularity {
    type Err = PartitionConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DAY" => Ok(Self::Day),
            "HOUR" => Ok(Self::Hour),
            "MINUTE" => Ok(Self::Minute),
            _ => Err(PartitionConfigError::Granularity(s.to_owned())),
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Day => "DAY",
            Self::Hour => "HOUR",
            Self::Minute => "MINUTE",
        })
    }
}

/// The time zone partition values (and CSV/JSON local date-times) are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Default for Zone {
    /// GMT+08:00, the seed's default.
    fn default() -> Self {
        // 8 h is always a valid offset; the fallback only keeps the code panic-free.
        Self::Fixed(FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix()))
    }
}

impl Zone {
    /// The local wall-clock time of an instant, `None` outside chrono's range.
    pub fn local(&self, ms: i64) -> Option<NaiveDateTime> {
        let utc = DateTime::from_timestamp_millis(ms)?;
        Some(match self {
            Self::Fixed(off) => utc.with_timezone(off).naive_local(),
            Self::Named(tz) => utc.with_timezone(tz).naive_local(),
        })
    }

    /// The instant of a local wall-clock time. In the hour that repeats when clocks go back the
    /// earlier instant is taken; a time skipped when clocks go forward does not exist (`None`).
    pub fn instant(&self, local: &NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Self::Fixed(off) => off
                .from_local_datetime(local)
                .earliest()
                .map(|d| d.to_utc()),
            Self::Named(tz) => tz.from_local_datetime(local).earliest().map(|d| d.to_utc()),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(off) => {
                let secs = off.local_minus_utc();
                let sign = if secs < 0 { '-' } else { '+' };
                let abs = secs.unsigned_abs();
                write!(f, "GMT{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
            }
            Self::Named(tz) => f.write_str(tz.name()),
        }
    }
}

impl FromStr for Zone {
    type Err = PartitionConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PartitionConfigError::Zone(s.to_owned());
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        if matches!(upper.as_str(), "UTC" | "GMT" | "Z") {
            return Ok(Self::Fixed(Utc.fix()));
        }
        let offset_text = if let Some(rest) = upper
            .strip_prefix("GMT")
            .or_else(|| upper.strip_prefix("UTC"))
        {
            // The seed's console writes `GMT 08:00`: a plus sign lost to URL decoding. An
            // unsigned `GMT0800` means the same.
            match rest.strip_prefix(' ') {
                Some(r) => Some(format!("+{}", r.trim_start())),
                None if rest.starts_with(|c: char| c.is_ascii_digit()) => Some(format!("+{rest}")),
                None => Some(rest.to_owned()),
            }
        } else if t.starts_with(['+', '-']) {
            Some(t.to_owned())
        } else {
            None
        };
        match offset_text {
            Some(text) => parse_offset(&text).map(Self::Fixed).ok_or_else(err),
            None => t
                .parse::<chrono_tz::Tz>()
                .map(Self::Named)
                .map_err(|_| err()),
        }
    }
}

/// `+H`, `+HH`, `+HH:MM`, `+HHMM` (or `-`), at most 18 hours as in java.time.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = match text.split_at_checked(1)? {
        ("+", r) => (1, r),
        ("-", r) => (-1, r),
        _ => return None,
    };
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) if m.len() == 2 && (1..=2).contains(&h.len()) => (h, m),
        Some(_) => return None,
        None => match rest.len() {
            1 | 2 => (rest, "0"),
            4 => rest.split_at_checked(2)?,
            _ => return None,
        },
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 18 || m > 59 || (h == 18 && m > 0) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Which time decides the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeSource {
    /// The record's own timestamp (processing time when the record has none).
    #[default]
    EventTime,
    /// The time the sink processes the batch, as the seed's connector does.
    ProcessingTime,
}

impl FromStr for TimeSource {
    type Err = PartitionConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "EVENT_TIME" | "EVENT" => Ok(Self::EventTime),
            "PROCESSING_TIME" | "PROCESSING" => Ok(Self::ProcessingTime),
            _ => Err(PartitionConfigError::TimeSource(s.to_owned())),
        }
    }
}

impl fmt::Display for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EventTime => "EVENT_TIME",
            Self::ProcessingTime => "PROCESSING_TIME",
        })
    }
}

/// How partition values are spelled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ValueFormat {
    /// The seed's: `11-17-2020 15` (HOUR), `11-17-2020` (DAY), `11-17-2020 15:04` (MINUTE).
    #[default]
    Legacy,
    /// `2020-11-17 15`, `2020-11-17`, `2020-11-17 15:04`.
    Iso,
    /// A pattern: single level (`%Y%m%d%H`, in the configured partition column, or `col=...`) or
    /// several levels separated by `/`, each `column=pattern`.
    Custom(String),
}

impl FromStr for ValueFormat {
    type Err = PartitionConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("legacy") {
            Ok(Self::Legacy)
        } else if t.eq_ignore_ascii_case("iso") {
            Ok(Self::Iso)
        } else if t.contains('%') {
            Ok(Self::Custom(t.to_owned()))
        } else {
            Err(PartitionConfigError::Format {
                given: s.to_owned(),
                reason: "neither a known name nor a pattern with % fields".to_owned(),
            })
        }
    }
}

impl fmt::Display for ValueFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Legacy => f.write_str("legacy"),
            Self::Iso => f.write_str("iso"),
            Self::Custom(p) => f.write_str(p),
        }
    }
}

/// Everything that decides partition values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionConfig {
    pub granularity: Granularity,
    pub zone: Zone,
    pub format: ValueFormat,
    /// The column for single-level formats (`pt` by default).
    pub column: String,
    pub time_source: TimeSource,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        Self {
            granularity: Granularity::default(),
            zone: Zone::default(),
            format: ValueFormat::default(),
            column: DEFAULT_PARTITION_COLUMN.to_owned(),
            time_source: TimeSource::default(),
        }
    }
}

/// One piece of a partition value pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    Year,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Level {
    column: String,
    items: Vec<Item>,
}

/// A local wall-clock time truncated to the partition granularity (see [`PartitionRouter::bucket`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeBucket(NaiveDateTime);

/// Checks a partition value against MaxCompute's rules (see [`crate::spec::check_value`]).
pub fn validate_value(value: &str) -> Result<(), PartitionValueError> {
    crate::spec::check_value(value).map_err(|reason| PartitionValueError::Invalid {
        value: crate::event::excerpt(value),
        reason,
    })
}

fn valid_column_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The routing function, built once from a [`PartitionConfig`].
#[derive(Debug, Clone)]
pub struct PartitionRouter {
    levels: Vec<Level>,
    zone: Zone,
    granularity: Granularity,
    time_source: TimeSource,
}

impl PartitionRouter {
    pub fn new(config: &PartitionConfig) -> Result<Self, PartitionConfigError> {
        let levels = match &config.format {
            ValueFormat::Legacy | ValueFormat::Iso => {
                let pattern = match (&config.format, config.granularity) {
                    (ValueFormat::Legacy, Granularity::Day) => "%m-%d-%Y",
                    (ValueFormat::Legacy, Granularity::Hour) => "%m-%d-%Y %H",
                    (ValueFormat::Legacy, Granularity::Minute) => "%m-%d-%Y %H:%M",
                    (_, Granularity::Day) => "%Y-%m-%d",
                    (_, Granularity::Hour) => "%Y-%m-%d %H",
                    (_, Granularity::Minute) => "%Y-%m-%d %H:%M",
                };
                vec![Level {
                    column: checked_column(&config.column)?,
                    items: parse_pattern(pattern, pattern)?,
                }]
            }
            ValueFormat::Custom(text) => parse_levels(text, &config.column)?,
        };
        Ok(Self {
            levels,
            zone: config.zone,
            granularity: config.granularity,
            time_source: config.time_source,
        })
    }

    /// The partition columns, in level order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().map(|l| l.column.as_str())
    }

    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The time that decides a record's partition: its own (when it has one) under event time,
    /// else the processing time `now_ms`.
    pub fn time_of(&self, event_time_ms: Option<i64>, now_ms: i64) -> i64 {
        match self.time_source {
            TimeSource::EventTime => event_time_ms.unwrap_or(now_ms),
            TimeSource::ProcessingTime => now_ms,
        }
    }

    /// The partition for a time in epoch milliseconds: [`Self::spec_for`] of [`Self::bucket`].
    pub fn route(&self, ms: i64) -> Result<PartitionSpec, PartitionValueError> {
        self.spec_for(self.bucket(ms)?)
    }

    /// The local wall-clock time of an instant truncated to the granularity. Two instants share
    /// a partition exactly when they share a bucket, so callers routing many records can spell
    /// each bucket once.
    ///
    /// Both the instant and its wall-clock time must lie in years 0001 to 9999, MaxCompute's
    /// range: a partition spelled from year 0 or 10000 would be written, and be wrong.
    pub fn bucket(&self, ms: i64) -> Result<TimeBucket, PartitionValueError> {
        if !crate::event::MAXCOMPUTE_TIME_RANGE_MS.contains(&ms) {
            return Err(PartitionValueError::OutOfRange { ms });
        }
        let local = self
            .zone
            .local(ms)
            .ok_or(PartitionValueError::OutOfRange { ms })?;
        if !(1..=9999).contains(&local.year()) {
            return Err(PartitionValueError::OutOfRangeInZone {
                ms,
                zone: self.zone.to_string(),
                local: local.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            });
        }
        let (hour, minute) = match self.granularity {
            Granularity::Day => (0, 0),
            Granularity::Hour => (local.hour(), 0),
            Granularity::Minute => (local.hour(), local.minute()),
        };
        local
            .date()
            .and_hms_opt(hour, minute, 0)
            .map(TimeBucket)
            .ok_or(PartitionValueError::OutOfRange { ms })
    }

    /// Spells the partition of a bucket.
    pub fn spec_for(&self, bucket: TimeBucket) -> Result<PartitionSpec, PartitionValueError> {
        let local = bucket.0;
        let mut levels = Vec::with_capacity(self.levels.len());
        for level in &self.levels {
            let mut value = String::with_capacity(16);
            for item in &level.items {
                match item {
                    Item::Literal(s) => value.push_str(s),
                    Item::Year => push_year(&mut value, local.year()),
                    Item::Year2 => push2(&mut value, local.year().rem_euclid(100).unsigned_abs()),
                    Item::Month => push2(&mut value, local.month()),
                    Item::Day => push2(&mut value, local.day()),
                    Item::Hour => push2(&mut value, local.hour()),
                    Item::Minute => push2(&mut value, local.minute()),
                }
            }
            validate_value(&value)?;
            levels.push((level.column.clone(), value));
        }
        // Columns were validated when the router was built and values just now, so the
        // spec's own checks only repeat them; a failure would still be reported, not panic.
        PartitionSpec::new(levels).map_err(|e| PartitionValueError::Invalid {
            value: e.to_string(),
            reason: "not a valid partition spec",
        })
    }

    /// Checks the table's partition keys against the configured levels (names case-insensitive,
    /// count and order); used at cold start so a mismatch fails before any record is read.
    pub fn check_table(&self, schema: &TableSchema) -> Result<(), PartitionConfigError> {
        let names_match = schema.partition_keys.len() == self.levels.len()
            && schema
                .partition_keys
                .iter()
                .zip(&self.levels)
                .all(|(k, l)| k.name.eq_ignore_ascii_case(&l.column));
        if !names_match {
            let table: Vec<&str> = schema
                .partition_keys
                .iter()
                .map(|k| k.name.as_str())
                .collect();
            let configured: Vec<&str> = self.columns().collect();
            return Err(PartitionConfigError::KeysMismatch {
                table: table.join(", "),
                configured: configured.join(", "),
            });
        }
        for (key, level) in schema.partition_keys.iter().zip(&self.levels) {
            let digits_only = level.items.iter().all(|i| !matches!(i, Item::Literal(_)));
            let ok = match &key.ty {
                OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) => true,
                t if t.integer_range().is_some() => digits_only,
                _ => false,
            };
            if !ok {
                return Err(PartitionConfigError::KeyType {
                    column: key.name.clone(),
                    ty: key.ty.to_string(),
                });
            }
        }
        Ok(())
    }
}

fn checked_column(name: &str) -> Result<String, PartitionConfigError> {
    let name = name.trim();
    if valid_column_name(name) {
        Ok(name.to_owned())
    } else {
        Err(PartitionConfigError::Column(name.to_owned()))
    }
}

fn parse_levels(text: &str, default_column: &str) -> Result<Vec<Level>, PartitionConfigError> {
    let format_err = |reason: String| PartitionConfigError::Format {
        given: text.to_owned(),
        reason,
    };
    let parts: Vec<&str> = text.split('/').collect();
    let mut levels = Vec::with_capacity(parts.len());
    for part in &parts {
        let (column, pattern) = match part.split_once('=') {
            Some((c, p)) => (checked_column(c)?, p),
            None if parts.len() == 1 => (checked_column(default_column)?, *part),
            None => {
                return Err(format_err(format!(
                    "level `{part}` needs a column, as in hh=%H"
                )));
            }
        };
        if levels
            .iter()
            .any(|l: &Level| l.column.eq_ignore_ascii_case(&column))
        {
            return Err(format_err(format!("column `{column}` appears twice")));
        }
        levels.push(Level {
            items: parse_pattern(pattern, text)?,
            column,
        });
    }
    Ok(levels)
}

fn parse_pattern(pattern: &str, whole: &str) -> Result<Vec<Item>, PartitionConfigError> {
    let format_err = |reason: String| PartitionConfigError::Format {
        given: whole.to_owned(),
        reason,
    };
    let mut items = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        let item = match chars.next() {
            Some('%') => {
                // A literal percent sign is itself forbidden in values; let validation say so.
                literal.push('%');
                continue;
            }
            Some('Y') => Item::Year,
            Some('y') => Item::Year2,
            Some('m') => Item::Month,
            Some('d') => Item::Day,
            Some('H') => Item::Hour,
            Some('M') => Item::Minute,
            Some(other) => return Err(format_err(format!("unknown field %{other}"))),
            None => return Err(format_err("a lone % at the end".to_owned())),
        };
        if !literal.is_empty() {
            items.push(Item::Literal(std::mem::take(&mut literal)));
        }
        items.push(item);
    }
    if !literal.is_empty() {
        items.push(Item::Literal(literal));
    }
    if !items.iter().any(|i| !matches!(i, Item::Literal(_))) {
        return Err(format_err("a level has no time field".to_owned()));
    }
    for item in &items {
        if let Item::Literal(s) = item {
            // The fields only ever produce digits (and a minus sign), so a literal that passes
            // here cannot make a value invalid except by length.
            if let Err(reason) = crate::spec::check_value(s) {
                return Err(format_err(format!(
                    "literal `{s}` cannot be part of a partition value: {reason}"
                )));
            }
        }
    }
    Ok(items)
}

fn push2(out: &mut String, n: u32) {
    use fmt::Write;
    let _ = write!(out, "{n:02}");
}

fn push_year(out: &mut String, year: i32) {
    use fmt::Write;
    if year < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:04}", year.unsigned_abs());
}

/// The partition specs of one batch, spelled once per time bucket rather than once per record
/// (most batches span one or two hours).
#[derive(Debug)]
pub struct Specs<'r> {
    router: &'r PartitionRouter,
    spelled: HashMap<TimeBucket, Result<PartitionSpec, PartitionValueError>>,
}

impl<'r> Specs<'r> {
    pub fn new(router: &'r PartitionRouter) -> Self {
        Self {
            router,
            spelled: HashMap::new(),
        }
    }

    /// The partition of a record at `event_time_ms` (its own time, if any) processed at
    /// `now_ms`, by the router's time source; or why the time names no partition.
    pub fn of(
        &mut self,
        event_time_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<&PartitionSpec, PartitionValueError> {
        let router = self.router;
        let bucket = router.bucket(router.time_of(event_time_ms, now_ms))?;
        self.spelled
            .entry(bucket)
            .or_insert_with(|| router.spec_for(bucket))
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(granularity: Granularity, zone: &str, format: &str) -> PartitionRouter {
        PartitionRouter::new(&PartitionConfig {
            granularity,
            zone: zone.parse().unwrap(),
            format: format.parse().unwrap(),
            ..PartitionConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn offsets_parse_in_every_accepted_spelling() {
        for (text, secs) in [
            ("GMT+08:00", 8 * 3600),
            ("GMT 08:00", 8 * 3600),
            ("GMT  8:00", 8 * 3600),
            ("GMT08:00", 8 * 3600),
            ("gmt+8", 8 * 3600),
            ("UTC+0530", 5 * 3600 + 1800),
            ("GMT-03:30", -(3 * 3600 + 1800)),
            ("+08:00", 8 * 3600),
            ("-11", -11 * 3600),
            ("UTC", 0),
            ("GMT", 0),
            (" Z ", 0),
        ] {
            match text.parse::<Zone>().unwrap() {
                Zone::Fixed(off) => assert_eq!(off.local_minus_utc(), secs, "{text}"),
                Zone::Named(tz) => panic!("{text} parsed as {tz:?}"),
            }
        }
    }

    #[test]
    fn bad_offsets_are_refused() {
        for text in [
            "GMT+19",
            "GMT+08:60",
            "+8:0",
            "+123",
            "GMT+",
            "+",
            "GMT*8",
            "Asia/Nowhere",
            "",
        ] {
            assert_eq!(
                text.parse::<Zone>(),
                Err(PartitionConfigError::Zone(text.to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn zone_displays_canonically() {
        assert_eq!(
            "GMT 08:00".parse::<Zone>().unwrap().to_string(),
            "GMT+08:00"
        );
        assert_eq!("-03:30".parse::<Zone>().unwrap().to_string(), "GMT-03:30");
        assert_eq!(
            "Asia/Shanghai".parse::<Zone>().unwrap().to_string(),
            "Asia/Shanghai"
        );
    }

    #[test]
    fn year_fields_pad_at_both_ends_of_the_range() {
        let r = router(Granularity::Day, "UTC", "%Y|%y");
        // Pattern literal `|` is allowed.
        assert_eq!(
            r.route(-62_135_596_800_000).unwrap().to_string(),
            "pt=0001|01"
        );
        assert_eq!(
            r.route(253_402_300_799_999).unwrap().to_string(),
            "pt=9999|99"
        );
    }

    #[test]
    fn instants_outside_years_1_to_9999_have_no_partition() {
        let r = router(Granularity::Hour, "GMT+08:00", "legacy");
        for ms in [-62_135_596_800_001, 253_402_300_800_000, i64::MIN, i64::MAX] {
            assert_eq!(r.route(ms), Err(PartitionValueError::OutOfRange { ms }));
        }
        // Year 0 and year -1 used to be spelled (`0000`, `-0001`); MaxCompute has neither.
        let r = router(Granularity::Day, "UTC", "%Y");
        assert!(r.route(-62_167_219_200_000).is_err());
        assert!(r.route(-62_198_755_200_000).is_err());
    }

    #[test]
    fn wall_clock_times_outside_years_1_to_9999_have_no_partition() {
        // The last millisecond of 9999 UTC is already 10000 east of UTC ...
        let east = router(Granularity::Hour, "GMT+08:00", "legacy");
        assert_eq!(
            east.route(253_402_300_799_999),
            Err(PartitionValueError::OutOfRangeInZone {
                ms: 253_402_300_799_999,
                zone: "GMT+08:00".to_owned(),
                local: "+10000-01-01 07:59:59.999".to_owned(),
            })
        );
        assert_eq!(
            east.route(253_402_271_999_999).unwrap().to_string(),
            "pt=12-31-9999 23"
        );
        // ... and the first of year 1 UTC is still year 0 west of it.
        let west = router(Granularity::Minute, "America/New_York", "iso");
        let err = west.route(-62_135_596_800_000).unwrap_err();
        assert!(
            matches!(&err, PartitionValueError::OutOfRangeInZone { local, .. } if local.starts_with("0000-12-31 ")),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("in America/New_York, outside MaxCompute's years 0001 to 9999"),
            "{err}"
        );
    }

    #[test]
    fn percent_literal_is_refused_at_parse_time() {
        let err = PartitionRouter::new(&PartitionConfig {
            format: ValueFormat::Custom("%Y%%".to_owned()),
            ..PartitionConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, PartitionConfigError::Format { .. }), "{err}");
    }
}

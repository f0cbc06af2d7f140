//! `emulator trigger`: arguments and the commands around the trigger.
//!
//! ```text
//! emulator trigger --function PATH [--template FILE | --no-template] [--function-id ID]
//!                  [--bootstrap HOST:PORT] [--topic T] [--group G]
//!                  [--starting-position latest|earliest] [--batch-size N] [--window-ms N]
//!                  [--timeout SECS] [--name NAME] [--event-source aws:kafka|SelfManagedKafka]
//!                  [--report-batch-item-failures] [--env K=V]... [--stop-after N] [--max-wait SECS]
//! emulator trigger produce [--bootstrap B] --topic T [--partition N] [--key K]
//!                  [--value V | --value-hex HEX] [--header K=V]...
//! emulator trigger read [--bootstrap B] --topic T [--partition N] [--from OFFSET]
//!                  [--count N | --all] [--timeout SECS]
//! emulator trigger committed [--bootstrap B] --topic T --group G
//! ```
//!
//! Settings come from the template (`./template.yaml` when present, else `--template`), then
//! the flags. This module only parses and prints; the trigger is in the parent module.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::batch::{Limits, MAX_EVENT_BYTES, SourceRecord};
use super::template::{self, TemplateSettings};
use super::tools::{self, NewRecord};
use super::{Settings, StartingPosition};
use crate::cli::CliError;
use crate::lambda::FunctionSpec;

pub const USAGE: &str =
    "  emulator trigger --function PATH [--template FILE | --no-template] [--function-id ID]
                   [--bootstrap HOST:PORT] [--topic T] [--group G]
                   [--starting-position latest|earliest] [--batch-size N] [--window-ms N]
                   [--timeout SECS] [--name NAME] [--event-source aws:kafka|SelfManagedKafka]
                   [--report-batch-item-failures] [--env K=V]... [--stop-after N] [--max-wait SECS]
      Runs the function binary on the records of a Kafka topic like the Lambda Kafka trigger:
      per-partition batches, offsets committed after success, retries. Settings come from
      template.yaml (the mapping of --function-id, default SinkFunction), then the flags.
      Bootstrap default: $KAFKA_BOOTSTRAP or 127.0.0.1:19092. Runs until Ctrl-C, or until
      --stop-after N records are committed (exit 1 if --max-wait passes first).
  emulator trigger produce [--bootstrap B] --topic T [--partition N] [--key K]
                   [--value V | --value-hex HEX] [--header K=V]...
      Produces one record and prints its offset.
  emulator trigger read [--bootstrap B] --topic T [--partition N] [--from OFFSET]
                   [--count N | --all] [--timeout SECS]
      Prints N records (default 1) of one partition with their headers (bytes shown escaped);
      fails when fewer arrive within the timeout (default 5 s). --all prints every record
      until none arrives for the timeout.
  emulator trigger committed [--bootstrap B] --topic T --group G
      Prints the consumer group's committed offset per partition.";

const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:19092";
const DEFAULT_FUNCTION_ID: &str = "SinkFunction";

fn bootstrap_default() -> String {
    std::env::var("KAFKA_BOOTSTRAP")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_owned())
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, CliError> {
    args.next()
        .ok_or_else(|| CliError::new(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(v: &str, flag: &str, what: &str) -> Result<T, CliError> {
    v.parse()
        .map_err(|_| CliError::new(format!("{flag} expects {what}, got `{v}`")))
}

/// Parsed `trigger` arguments.
#[derive(Debug)]
pub struct TriggerArgs {
    pub settings: Settings,
    pub stop_after: Option<u64>,
    pub max_wait: Option<Duration>,
    /// Where the template settings came from, for the start-up line.
    pub template: Option<PathBuf>,
}

pub fn parse_trigger(args: &[String]) -> Result<TriggerArgs, CliError> {
    let mut binary: Option<PathBuf> = None;
    let mut template_path: Option<PathBuf> = None;
    let mut no_template = false;
    let mut function_id = DEFAULT_FUNCTION_ID.to_owned();
    let mut bootstrap = bootstrap_default();
    let mut topic = None;
    let mut group = None;
    let mut position = None;
    let mut batch_size = None;
    let mut window = None;
    let mut timeout = None;
    let mut name = None;
    let mut event_source = None;
    let mut report = false;
    let mut env = Vec::new();
    let mut stop_after = None;
    let mut max_wait = None;
    let mut it = args.iter().cloned();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--function" => binary = Some(PathBuf::from(value(&mut it, &arg)?)),
            "--template" => template_path = Some(PathBuf::from(value(&mut it, &arg)?)),
            "--no-template" => no_template = true,
            "--function-id" => function_id = value(&mut it, &arg)?,
            "--bootstrap" => bootstrap = value(&mut it, &arg)?,
            "--topic" => topic = Some(value(&mut it, &arg)?),
            "--group" => group = Some(value(&mut it, &arg)?),
            "--starting-position" => {
                let v = value(&mut it, &arg)?;
                position = Some(
                    v.parse::<StartingPosition>()
                        .map_err(|e| CliError::new(format!("--starting-position {e}")))?,
                );
            }
            "--batch-size" => {
                let v = value(&mut it, &arg)?;
                let n: usize = number(&v, &arg, "1..=10000")?;
                if !super::batch::BATCH_SIZE_RANGE.contains(&n) {
                    return Err(CliError::new(format!(
                        "--batch-size expects 1..=10000, got {n}"
                    )));
                }
                batch_size = Some(n);
            }
            "--window-ms" => {
                let v = value(&mut it, &arg)?;
                let ms: u64 = number(&v, &arg, "milliseconds (0..=300000)")?;
                if ms > 300_000 {
                    return Err(CliError::new(format!(
                        "--window-ms expects 0..=300000, got {ms}"
                    )));
                }
                window = Some(Duration::from_millis(ms));
            }
            "--timeout" => {
                let v = value(&mut it, &arg)?;
                let secs: u64 = number(&v, &arg, "1..=900 seconds")?;
                if !(1..=900).contains(&secs) {
                    return Err(CliError::new(format!(
                        "--timeout expects 1..=900 seconds, got {secs}"
                    )));
                }
                timeout = Some(Duration::from_secs(secs));
            }
            "--name" => name = Some(value(&mut it, &arg)?),
            "--event-source" => {
                let v = value(&mut it, &arg)?;
                if v != "aws:kafka" && v != "SelfManagedKafka" {
                    return Err(CliError::new(format!(
                        "--event-source expects aws:kafka or SelfManagedKafka, got `{v}`"
                    )));
                }
                event_source = Some(v);
            }
            "--report-batch-item-failures" => report = true,
            "--env" => {
                let v = value(&mut it, &arg)?;
                let (k, val) = v
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| CliError::new(format!("--env expects NAME=VALUE, got `{v}`")))?;
                env.push((k.to_owned(), val.to_owned()));
            }
            "--stop-after" => {
                let v = value(&mut it, &arg)?;
                stop_after = Some(number(&v, &arg, "a number of records")?);
            }
            "--max-wait" => {
                let v = value(&mut it, &arg)?;
                max_wait = Some(Duration::from_secs(number(&v, &arg, "seconds")?));
            }
            other => return Err(CliError::new(format!("unknown argument `{other}`"))),
        }
    }
    let binary = binary.ok_or_else(|| CliError::new("--function PATH is required"))?;
    if template_path.is_none() && !no_template && std::path::Path::new("template.yaml").is_file() {
        template_path = Some(PathBuf::from("template.yaml"));
    }
    let t: TemplateSettings = match &template_path {
        Some(p) if !no_template => {
            template::read(p, &function_id).map_err(|e| CliError::new(e.to_string()))?
        }
        _ => TemplateSettings::default(),
    };
    let template_position = match &t.starting_position {
        Some(p) => Some(
            p.parse::<StartingPosition>()
                .map_err(|e| CliError::new(format!("StartingPosition in the template: {e}")))?,
        ),
        None => None,
    };
    let topic = topic
        .or(t.topic.clone())
        .ok_or_else(|| CliError::new("--topic is required (the template has none)"))?;
    let name = name.or(t.function_name.clone()).unwrap_or_else(|| {
        binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".to_owned())
    });
    let group = group
        .or(t.consumer_group.clone())
        .unwrap_or_else(|| format!("connect-{name}"));
    let event_source = event_source
        .or(t.event_source.clone())
        .unwrap_or_else(|| "SelfManagedKafka".to_owned());
    let event_source_arn = (event_source == "aws:kafka").then(|| {
        t.event_source_arn
            .clone()
            .unwrap_or_else(|| "arn:aws:kafka:local:000000000000:cluster/local/local".to_owned())
    });
    let defaults = Limits::default();
    let settings = Settings {
        bootstrap,
        topic,
        group,
        starting_position: position
            .or(template_position)
            .unwrap_or(StartingPosition::Latest),
        limits: Limits {
            batch_size: batch_size.or(t.batch_size).unwrap_or(defaults.batch_size),
            window: window.or(t.window).unwrap_or(defaults.window),
            max_event_bytes: MAX_EVENT_BYTES,
        },
        event_source,
        event_source_arn,
        report_batch_item_failures: report || t.report_batch_item_failures,
        function: FunctionSpec {
            name,
            binary,
            env,
            timeout: timeout.or(t.timeout).unwrap_or(Duration::from_secs(3)),
            memory_mb: t.memory_mb.unwrap_or(128),
        },
        retry_backoff: Duration::from_millis(500),
        retry_backoff_max: Duration::from_secs(10),
    };
    Ok(TriggerArgs {
        settings,
        stop_after,
        max_wait,
        template: template_path.filter(|_| !no_template),
    })
}

/// Runs the trigger until Ctrl-C (or `--stop-after`).
pub async fn run_trigger(
    args: TriggerArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> ExitCode {
    let s = &args.settings;
    println!(
        "trigger: {} ({}) -> {} as {}; group {}, batch {} records / {} ms window, timeout {} s{}",
        s.topic,
        s.bootstrap,
        s.function.binary.display(),
        s.function.name,
        s.group,
        s.limits.batch_size,
        s.limits.window.as_millis(),
        s.function.timeout.as_secs(),
        args.template
            .as_ref()
            .map(|p| format!(" (settings from {})", p.display()))
            .unwrap_or_default()
    );
    let mut running = match super::start(args.settings).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("trigger: ready");
    let mut code = ExitCode::SUCCESS;
    match args.stop_after {
        Some(n) => {
            let wait = args
                .max_wait
                .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
            tokio::select! {
                stats = running.wait_committed(n, wait) => {
                    if stats.committed_records < n {
                        eprintln!("error: {} of {n} records committed within {} s", stats.committed_records, wait.as_secs());
                        code = ExitCode::FAILURE;
                    }
                }
                () = shutdown => {}
            }
        }
        None => shutdown.await,
    }
    match running.stop().await {
        Ok(stats) => {
            println!(
                "trigger: stopped; {} invocations ({} failed), {} records committed, offsets {:?}",
                stats.invocations,
                stats.failed_invocations,
                stats.committed_records,
                stats.committed
            );
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hex(v: &str) -> Result<Vec<u8>, CliError> {
    let clean: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !clean.len().is_multiple_of(2) {
        return Err(CliError::new(format!(
            "--value-hex expects hex digit pairs, got `{v}`"
        )));
    }
    clean
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| CliError::new(format!("--value-hex expects hex digits, got `{v}`")))
        })
        .collect()
}

/// `emulator trigger produce|read|committed`.
pub async fn run_tool(tool: &str, args: &[String]) -> ExitCode {
    match tool_inner(tool, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(ToolError::Usage(e)) => {
            eprintln!("error: {e}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(ToolError::Run(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

enum ToolError {
    Usage(CliError),
    Run(super::TriggerError),
}

impl From<CliError> for ToolError {
    fn from(e: CliError) -> Self {
        Self::Usage(e)
    }
}

impl From<super::TriggerError> for ToolError {
    fn from(e: super::TriggerError) -> Self {
        Self::Run(e)
    }
}

async fn tool_inner(tool: &str, args: &[String]) -> Result<(), ToolError> {
    let mut bootstrap = bootstrap_default();
    let mut topic = None;
    let mut group = None;
    let mut record = NewRecord::default();
    let mut from = 0i64;
    let mut count = 1usize;
    let mut timeout = Duration::from_secs(5);
    let mut all = false;
    let mut it = args.iter().cloned();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = value(&mut it, &arg)?,
            "--topic" => topic = Some(value(&mut it, &arg)?),
            "--group" if tool == "committed" => group = Some(value(&mut it, &arg)?),
            "--partition" => {
                record.partition = number(&value(&mut it, &arg)?, &arg, "a partition number")?
            }
            "--key" if tool == "produce" => record.key = Some(value(&mut it, &arg)?.into_bytes()),
            "--value" if tool == "produce" => {
                record.value = Some(value(&mut it, &arg)?.into_bytes())
            }
            "--value-hex" if tool == "produce" => record.value = Some(hex(&value(&mut it, &arg)?)?),
            "--header" if tool == "produce" => {
                let v = value(&mut it, &arg)?;
                let (k, val) = v.split_once('=').ok_or_else(|| {
                    CliError::new(format!("--header expects NAME=VALUE, got `{v}`"))
                })?;
                record.headers.push((k.to_owned(), val.as_bytes().to_vec()));
            }
            "--all" if tool == "read" => all = true,
            "--from" if tool == "read" => from = number(&value(&mut it, &arg)?, &arg, "an offset")?,
            "--count" if tool == "read" => {
                count = number(&value(&mut it, &arg)?, &arg, "a number")?
            }
            "--timeout" if tool == "read" => {
                timeout = Duration::from_secs(number(&value(&mut it, &arg)?, &arg, "seconds")?)
            }
            other => {
                return Err(CliError::new(format!(
                    "unknown argument `{other}` for `trigger {tool}`"
                ))
                .into());
            }
        }
    }
    let topic = topic.ok_or_else(|| CliError::new("--topic is required"))?;
    match tool {
        "produce" => {
            let partition = record.partition;
            let offsets = tools::produce(&bootstrap, &topic, std::slice::from_ref(&record)).await?;
            for o in offsets {
                println!("{topic}-{partition} offset {o}");
            }
        }
        "read" => {
            let records = if all {
                tools::read_all(&bootstrap, &topic, record.partition, from, timeout)?
            } else {
                tools::read(&bootstrap, &topic, record.partition, from, count, timeout)?
            };
            for r in &records {
                println!("{}", describe(r));
            }
            if !all && records.len() < count {
                return Err(super::TriggerError::Settings(format!(
                    "only {} of {count} records in {topic}-{} within {} s",
                    records.len(),
                    record.partition,
                    timeout.as_secs()
                ))
                .into());
            }
        }
        _ => {
            let group = group.ok_or_else(|| CliError::new("--group is required"))?;
            let offsets = super::committed_offsets(&bootstrap, &group, &topic)?;
            if offsets.is_empty() {
                println!("{group}: no committed offsets for {topic}");
            }
            for (p, o) in offsets {
                println!("{group}: {topic}-{p} committed offset {o}");
            }
        }
    }
    Ok(())
}

/// One record on one line, bytes shown escaped so that binary values stay visible.
fn describe(r: &SourceRecord) -> String {
    let show = |b: &Option<Vec<u8>>| match b {
        None => "null".to_owned(),
        Some(b) => format!("\"{}\"", b.escape_ascii()),
    };
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}={}", show(v)))
        .collect();
    format!(
        "{}-{} offset {} key {} value {}\n    headers: {}",
        r.topic,
        r.partition,
        r.offset,
        show(&r.key),
        show(&r.value),
        headers.join("\n             ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_template_gives_defaults_and_flags_override_them() {
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let a = parse_trigger(&s(&[
            "--function",
            "target/debug/sink",
            "--template",
            template,
        ]))
        .unwrap();
        assert_eq!(a.settings.topic, "maxcompute-test-input");
        assert_eq!(a.settings.group, "connect-kafka-maxcompute-sink");
        assert_eq!(a.settings.limits.batch_size, 500);
        assert_eq!(a.settings.limits.window, Duration::from_secs(1));
        assert_eq!(a.settings.starting_position, StartingPosition::Latest);
        assert_eq!(a.settings.function.timeout, Duration::from_secs(120));
        assert_eq!(a.settings.event_source, "aws:kafka");
        let a = parse_trigger(&s(&[
            "--function",
            "f",
            "--template",
            template,
            "--batch-size",
            "3",
            "--window-ms",
            "0",
            "--starting-position",
            "earliest",
            "--group",
            "g",
            "--topic",
            "t",
            "--env",
            "A=b=c",
            "--event-source",
            "SelfManagedKafka",
        ]))
        .unwrap();
        assert_eq!(a.settings.limits.batch_size, 3);
        assert_eq!(a.settings.limits.window, Duration::ZERO);
        assert_eq!(a.settings.starting_position, StartingPosition::TrimHorizon);
        assert_eq!(
            (a.settings.group.as_str(), a.settings.topic.as_str()),
            ("g", "t")
        );
        assert_eq!(
            a.settings.function.env,
            vec![("A".to_owned(), "b=c".to_owned())]
        );
        assert_eq!(a.settings.event_source_arn, None);
    }

    #[test]
    fn bad_flags_are_refused_with_the_accepted_values() {
        for bad in [
            &[
                "--function",
                "f",
                "--no-template",
                "--topic",
                "t",
                "--batch-size",
                "0",
            ][..],
            &[
                "--function",
                "f",
                "--no-template",
                "--topic",
                "t",
                "--batch-size",
                "10001",
            ],
            &[
                "--function",
                "f",
                "--no-template",
                "--topic",
                "t",
                "--window-ms",
                "300001",
            ],
            &[
                "--function",
                "f",
                "--no-template",
                "--topic",
                "t",
                "--starting-position",
                "at",
            ],
            &["--function", "f", "--no-template"],
            &["--no-template", "--topic", "t"],
        ] {
            assert!(parse_trigger(&s(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(hex("ff fe41").unwrap(), vec![0xff, 0xfe, 0x41]);
        assert!(hex("f").is_err());
    }
}

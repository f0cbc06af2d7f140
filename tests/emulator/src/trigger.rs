//! `emulator trigger`: the Kafka trigger on its own, and the commands around it (`produce`,
//! `read`, `committed`).
//!
//! The trigger's settings come from the template (`./template.yaml` when present, else
//! `--template`; the event source mapping of `--function-id`), then the flags. This module only
//! parses and prints; the trigger is `lambda_emulator::trigger`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use lambda_emulator::runtime::FunctionSpec;
use lambda_emulator::trigger::batch::{BATCH_SIZE_RANGE, Limits, MAX_EVENT_BYTES, SourceRecord};
use lambda_emulator::trigger::retry::ErrorHandling;
use lambda_emulator::trigger::schema::RegistryConfig;
use lambda_emulator::trigger::template::{self, TemplateSettings};
use lambda_emulator::trigger::tools::{self, NewRecord};
use lambda_emulator::trigger::{self as kafka_trigger, Settings, StartingPosition};

use crate::args::{Failure, HexBytes, env_pair, hex};

const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:19092";

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    tool: Option<Tool>,
    #[command(flatten)]
    run: RunArgs,
}

/// The trigger itself: polls the topic, invokes the function per batch, commits after success.
/// Runs until Ctrl-C, or until `--stop-after N` records are committed (exit 1 if `--max-wait`
/// passes first).
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The function's executable, e.g. target/debug/sink.
    #[arg(long, value_name = "PATH", required = true)]
    function: Option<PathBuf>,
    /// The SAM template to read settings from (default: ./template.yaml when present).
    #[arg(long, value_name = "FILE", conflicts_with = "no_template")]
    template: Option<PathBuf>,
    /// Reads no template: every setting from the flags.
    #[arg(long)]
    no_template: bool,
    /// The function whose event source mapping the template gives the settings of.
    #[arg(long, value_name = "ID", default_value = "SinkFunction")]
    function_id: String,
    /// A template parameter in place of its default, as `sam deploy --parameter-overrides`
    /// takes it (e.g. MinimumPollers=1 for provisioned mode); repeatable.
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = env_pair, conflicts_with = "no_template")]
    parameters: Vec<(String, String)>,
    #[command(flatten)]
    broker: Broker,
    /// The source topic (default: the template's).
    #[arg(long)]
    topic: Option<String>,
    /// The consumer group (default: the template's, else connect-NAME).
    #[arg(long)]
    group: Option<String>,
    /// Where a partition without a committed offset starts: latest or earliest
    /// (LATEST or TRIM_HORIZON).
    #[arg(long, value_name = "POSITION")]
    starting_position: Option<StartingPosition>,
    /// Records per batch, 1..=10000 (BatchSize).
    #[arg(long, value_name = "N", value_parser = batch_size)]
    batch_size: Option<usize>,
    /// Batching window, 0..=300000 ms (MaximumBatchingWindowInSeconds).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=300_000))]
    window_ms: Option<u64>,
    /// Seconds an invocation may run, 1..=900 (default: the template's, else 3).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=900))]
    timeout: Option<u64>,
    /// The function's name (default: the template's, else the binary's file name).
    #[arg(long)]
    name: Option<String>,
    /// The event's eventSource.
    #[arg(long, value_parser = ["aws:kafka", "SelfManagedKafka"])]
    event_source: Option<String>,
    /// Honours batchItemFailures in the function's answer (ReportBatchItemFailures).
    #[arg(long)]
    report_batch_item_failures: bool,
    /// Retries of a failed batch, -1 (infinite) or 0..=10000 (MaximumRetryAttempts).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    maximum_retry_attempts: Option<i64>,
    /// Records older than this are given up, -1 (never) or 60..=604800
    /// (MaximumRecordAgeInSeconds).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    maximum_record_age: Option<i64>,
    /// Splits a failed batch in two (BisectBatchOnFunctionError).
    #[arg(long, value_name = "BOOL")]
    bisect_batch_on_function_error: Option<bool>,
    /// Where given-up records go: kafka://TOPIC (DestinationConfig.OnFailure.Destination).
    #[arg(long, value_name = "kafka://TOPIC")]
    on_failure_destination: Option<String>,
    /// An environment variable for the function; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = env_pair)]
    env: Vec<(String, String)>,
    /// Stops after N records were committed.
    #[arg(long, value_name = "N")]
    stop_after: Option<u64>,
    /// With --stop-after: fails when the records are not committed within SECS.
    #[arg(long, value_name = "SECS")]
    max_wait: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct Broker {
    /// The broker.
    #[arg(long, value_name = "HOST:PORT", env = "KAFKA_BOOTSTRAP", default_value = DEFAULT_BOOTSTRAP)]
    bootstrap: String,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Produces one record and prints its offset.
    Produce {
        #[command(flatten)]
        broker: Broker,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 0)]
        partition: i32,
        #[arg(long)]
        key: Option<String>,
        #[arg(long, conflicts_with = "value_hex")]
        value: Option<String>,
        /// The value as hex digit pairs, for binary values.
        #[arg(long, value_name = "HEX", value_parser = hex)]
        value_hex: Option<HexBytes>,
        /// A header; repeatable.
        #[arg(long = "header", value_name = "NAME=VALUE", value_parser = header)]
        headers: Vec<(String, Vec<u8>)>,
    },
    /// Prints records of one partition with their headers (bytes shown escaped); fails when
    /// fewer than --count arrive within the timeout. --all prints every record until none
    /// arrives for the timeout.
    Read {
        #[command(flatten)]
        broker: Broker,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 0)]
        partition: i32,
        /// The first offset.
        #[arg(long, default_value_t = 0)]
        from: i64,
        #[arg(long, default_value_t = 1, conflicts_with = "all")]
        count: usize,
        #[arg(long)]
        all: bool,
        /// Seconds to wait.
        #[arg(long, value_name = "SECS", default_value_t = 5)]
        timeout: u64,
    },
    /// Serves a local schema registry (the Confluent REST subset the stock serializers use)
    /// until Ctrl-C, for a mapping's SchemaRegistryConfig: SchemaRegistryURI=http://ADDR.
    Registry {
        /// Where it listens (port 0 picks one; the address is printed).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
        /// Keeps the schemas in this JSON file (read at start, written after each
        /// registration); without it they live as long as the process.
        #[arg(long, value_name = "FILE")]
        data_file: Option<PathBuf>,
    },
    /// Prints the consumer group's committed offset per partition.
    Committed {
        #[command(flatten)]
        broker: Broker,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        group: String,
    },
}

fn batch_size(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|n| BATCH_SIZE_RANGE.contains(n))
        .ok_or_else(|| format!("expected 1..=10000, got `{v}`"))
}

/// `NAME=VALUE`; unlike an environment variable, a header's name may be empty.
fn header(v: &str) -> Result<(String, Vec<u8>), String> {
    v.split_once('=')
        .map(|(k, val)| (k.to_owned(), val.as_bytes().to_vec()))
        .ok_or_else(|| format!("expected NAME=VALUE, got `{v}`"))
}

pub(crate) async fn run(
    args: Args,
    shutdown: impl Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    match args.tool {
        Some(Tool::Registry { listen, data_file }) => {
            run_registry(listen, data_file, shutdown).await
        }
        Some(tool) => run_tool(tool).await,
        None => run_trigger(args.run, shutdown).await,
    }
}

/// `emulator trigger registry`: serves until the shutdown signal.
async fn run_registry(
    listen: std::net::SocketAddr,
    data_file: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    let registry = schema_registry::SchemaRegistry::start(listen, data_file.as_deref())
        .await
        .map_err(|e| Failure::Run(e.to_string()))?;
    println!("registry: ready on {}", registry.url());
    shutdown.await;
    Ok(ExitCode::SUCCESS)
}

/// The trigger's settings, one per mapping, and where they came from.
#[derive(Debug)]
struct Run {
    settings: Vec<Settings>,
    template: Option<PathBuf>,
}

/// The mappings to run: the template's mappings of the function (one per topic), each with the
/// flags over it; `--topic` replaces the template's topics with one.
fn settings(args: RunArgs) -> Result<Run, Failure> {
    let binary = args
        .function
        .clone()
        .ok_or_else(|| Failure::Usage("--function PATH is required".to_owned()))?;
    let (template, mut mappings) = template_mappings(&args)?;
    if args.topic.is_some() {
        mappings.truncate(1);
    }
    if args.group.is_some() && mappings.len() > 1 {
        return Err(Failure::Usage(format!(
            "--group names one consumer group, and the template makes {} mappings (one per topic, each with its own group)",
            mappings.len()
        )));
    }
    let settings = mappings
        .iter()
        .map(|t| mapping_settings(&args, &binary, t))
        .collect::<Result<_, _>>()?;
    Ok(Run { settings, template })
}

/// The template's mappings of `--function-id`, or one empty mapping without a template.
fn template_mappings(args: &RunArgs) -> Result<(Option<PathBuf>, Vec<TemplateSettings>), Failure> {
    let path = match &args.template {
        Some(path) => Some(path.clone()),
        None if !args.no_template && std::path::Path::new("template.yaml").is_file() => {
            Some(PathBuf::from("template.yaml"))
        }
        None => None,
    };
    let mappings = match &path {
        Some(p) => template::read(p, &args.function_id, &args.parameters)
            .map_err(|e| Failure::Usage(e.to_string()))?,
        None => vec![TemplateSettings::default()],
    };
    Ok((path, mappings))
}

/// One mapping's settings: the flags, else the template's, else the trigger's defaults.
fn mapping_settings(
    args: &RunArgs,
    binary: &std::path::Path,
    t: &TemplateSettings,
) -> Result<Settings, Failure> {
    let usage = Failure::Usage;
    let template_position = match &t.starting_position {
        Some(p) => Some(
            p.parse::<StartingPosition>()
                .map_err(|e| usage(format!("StartingPosition in the template: {e}")))?,
        ),
        None => None,
    };
    let topic = args
        .topic
        .clone()
        .or(t.topic.clone())
        .ok_or_else(|| usage("--topic is required (the template has none)".to_owned()))?;
    let function = function_spec(args, binary, t);
    let group = args
        .group
        .clone()
        .or(t.consumer_group.clone())
        .unwrap_or_else(|| format!("connect-{}", function.name));
    let event_source = args
        .event_source
        .clone()
        .or(t.event_source.clone())
        .unwrap_or_else(|| "SelfManagedKafka".to_owned());
    let event_source_arn = (event_source == "aws:kafka").then(|| {
        t.event_source_arn
            .clone()
            .unwrap_or_else(|| "arn:aws:kafka:local:000000000000:cluster/local/local".to_owned())
    });
    let error_handling = ErrorHandling::from_settings(
        args.maximum_retry_attempts.or(t.maximum_retry_attempts),
        args.maximum_record_age.or(t.maximum_record_age_s),
        args.bisect_batch_on_function_error
            .or(t.bisect_batch_on_function_error),
        args.on_failure_destination
            .as_deref()
            .or(t.on_failure_destination.as_deref()),
    )
    .map_err(usage)?;
    // Creating a mapping with a registry fails in on-demand mode, as in AWS.
    let schema_registry = t
        .schema_registry
        .as_ref()
        .map(|r| RegistryConfig::new(r, t.provisioned))
        .transpose()
        .map_err(|e| usage(format!("the mapping of {topic}: {e}")))?;
    Ok(Settings {
        bootstrap: args.broker.bootstrap.clone(),
        topic,
        group,
        starting_position: args
            .starting_position
            .or(template_position)
            .unwrap_or(StartingPosition::Latest),
        limits: limits(args, t),
        event_source,
        event_source_arn,
        report_batch_item_failures: args.report_batch_item_failures || t.report_batch_item_failures,
        function,
        retry_backoff: Duration::from_millis(500),
        retry_backoff_max: Duration::from_secs(10),
        error_handling,
        schema_registry,
    })
}

fn limits(args: &RunArgs, t: &TemplateSettings) -> Limits {
    let defaults = Limits::default();
    Limits {
        batch_size: args
            .batch_size
            .or(t.batch_size)
            .unwrap_or(defaults.batch_size),
        window: args
            .window_ms
            .map(Duration::from_millis)
            .or(t.window)
            .unwrap_or(defaults.window),
        max_event_bytes: MAX_EVENT_BYTES,
    }
}

fn function_spec(args: &RunArgs, binary: &std::path::Path, t: &TemplateSettings) -> FunctionSpec {
    let name = args
        .name
        .clone()
        .or(t.function_name.clone())
        .unwrap_or_else(|| {
            binary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "function".to_owned())
        });
    FunctionSpec {
        name,
        binary: binary.to_owned(),
        env: args.env.clone(),
        timeout: args
            .timeout
            .map(Duration::from_secs)
            .or(t.timeout)
            .unwrap_or(Duration::from_secs(3)),
        memory_mb: t.memory_mb.unwrap_or(128),
    }
}

/// How one mapping handles errors, for its start line.
fn describe_errors(e: &ErrorHandling) -> String {
    match (e.retry_limit(), &e.on_failure) {
        (None, _) if e.maximum_record_age.is_none() => "retries until success".to_owned(),
        (limit, destination) => format!(
            "{} retries{}{}, then {}",
            limit.map_or("infinite".to_owned(), |n| n.to_string()),
            if e.bisect_batch_on_function_error {
                ", bisecting"
            } else {
                ""
            },
            e.maximum_record_age
                .map(|a| format!(", records older than {} s given up", a.as_secs()))
                .unwrap_or_default(),
            match destination {
                Some(lambda_emulator::trigger::retry::Destination::Kafka { topic }) =>
                    format!("kafka://{topic}"),
                None => "dropped".to_owned(),
            }
        ),
    }
}

/// Runs the trigger, one mapping per topic, until the shutdown signal (or `--stop-after`,
/// counted over all mappings).
async fn run_trigger(
    args: RunArgs,
    shutdown: impl Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    let stop_after = args.stop_after;
    let max_wait = args.max_wait.map(Duration::from_secs);
    let Run { settings, template } = settings(args)?;
    let mut running = Vec::with_capacity(settings.len());
    for s in settings {
        println!(
            "trigger: {} ({}) -> {} as {}; group {}, batch {} records / {} ms window, timeout {} s, {}{}{}",
            s.topic,
            s.bootstrap,
            s.function.binary.display(),
            s.function.name,
            s.group,
            s.limits.batch_size,
            s.limits.window.as_millis(),
            s.function.timeout.as_secs(),
            describe_errors(&s.error_handling),
            s.schema_registry
                .as_ref()
                .map(|r| format!(", schema registry {} ({:?})", r.uri, r.format))
                .unwrap_or_default(),
            template
                .as_ref()
                .map(|p| format!(" (settings from {})", p.display()))
                .unwrap_or_default()
        );
        running.push(
            kafka_trigger::start(s)
                .await
                .map_err(|e| Failure::Run(e.to_string()))?,
        );
    }
    println!("trigger: ready");
    let mut code = ExitCode::SUCCESS;
    match stop_after {
        Some(n) => {
            let wait = max_wait.unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
            tokio::select! {
                committed = committed_all(&running, n, wait) => {
                    if committed < n {
                        eprintln!("error: {committed} of {n} records committed within {} s", wait.as_secs());
                        code = ExitCode::FAILURE;
                    }
                }
                () = shutdown => {}
            }
        }
        None => shutdown.await,
    }
    for r in running {
        let topic_stats = r.stop().await.map_err(|e| Failure::Run(e.to_string()))?;
        println!(
            "trigger: stopped; {} invocations ({} failed), {} records committed ({} given up), offsets {:?}",
            topic_stats.invocations,
            topic_stats.failed_invocations,
            topic_stats.committed_records,
            topic_stats.given_up_records,
            topic_stats.committed
        );
    }
    Ok(code)
}

/// Waits until the mappings together committed `n` records, or `wait` passes; the count.
async fn committed_all(running: &[kafka_trigger::Running], n: u64, wait: Duration) -> u64 {
    let total = || {
        running
            .iter()
            .map(|r| r.stats().committed_records)
            .sum::<u64>()
    };
    let deadline = tokio::time::Instant::now() + wait;
    // The counters of several tasks: checked on a tick until the deadline.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while total() < n && tokio::time::Instant::now() < deadline {
        tick.tick().await;
    }
    total()
}

/// `emulator trigger produce|read|committed`.
async fn run_tool(tool: Tool) -> Result<ExitCode, Failure> {
    let failed = |e: kafka_trigger::TriggerError| Failure::Run(e.to_string());
    match tool {
        // Served until the shutdown signal by `run_registry`.
        Tool::Registry { .. } => {
            return Err(Failure::Usage(
                "the registry runs until Ctrl-C: emulator trigger registry".to_owned(),
            ));
        }
        Tool::Produce {
            broker,
            topic,
            partition,
            key,
            value,
            value_hex,
            headers,
        } => {
            let record = NewRecord {
                partition,
                key: key.map(String::into_bytes),
                value: value.map(String::into_bytes).or(value_hex.map(|h| h.0)),
                headers,
                ..NewRecord::default()
            };
            let offsets = tools::produce(&broker.bootstrap, &topic, std::slice::from_ref(&record))
                .await
                .map_err(failed)?;
            for o in offsets {
                println!("{topic}-{partition} offset {o}");
            }
        }
        Tool::Read {
            broker,
            topic,
            partition,
            from,
            count,
            all,
            timeout,
        } => {
            let timeout = Duration::from_secs(timeout);
            let records = if all {
                tools::read_all(&broker.bootstrap, &topic, partition, from, timeout)
            } else {
                tools::read(&broker.bootstrap, &topic, partition, from, count, timeout)
            }
            .map_err(failed)?;
            for r in &records {
                println!("{}", describe(r));
            }
            if !all && records.len() < count {
                return Err(Failure::Run(format!(
                    "only {} of {count} records in {topic}-{partition} within {} s",
                    records.len(),
                    timeout.as_secs()
                )));
            }
        }
        Tool::Committed {
            broker,
            topic,
            group,
        } => {
            let offsets = kafka_trigger::committed_offsets(&broker.bootstrap, &group, &topic)
                .map_err(failed)?;
            if offsets.is_empty() {
                println!("{group}: no committed offsets for {topic}");
            }
            for (p, o) in offsets {
                println!("{group}: {topic}-{p} committed offset {o}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::Command;
    use crate::tests::parse;

    fn trigger(line: &[&str]) -> Result<Args, clap::Error> {
        parse(&[&["trigger"], line].concat()).map(|c| match c {
            Command::Trigger(a) => a,
            other => panic!("{other:?}"),
        })
    }

    fn run_settings(line: &[&str]) -> Result<Settings, String> {
        let args = trigger(line).map_err(|e| e.to_string())?;
        assert!(args.tool.is_none());
        settings(args.run)
            .map(|r| {
                assert_eq!(r.settings.len(), 1, "{:?}", r.settings);
                r.settings.into_iter().next().unwrap()
            })
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn the_template_gives_defaults_and_flags_override_them() {
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let s = run_settings(&["--function", "target/debug/sink", "--template", template]).unwrap();
        assert_eq!(s.topic, "maxcompute-test-input");
        assert_eq!(s.group, "connect-kafka-maxcompute-sink");
        assert_eq!(s.limits.batch_size, 500);
        assert_eq!(s.limits.window, Duration::from_secs(1));
        assert_eq!(s.starting_position, StartingPosition::Latest);
        assert_eq!(s.function.timeout, Duration::from_secs(120));
        assert_eq!(s.event_source, "aws:kafka");
        assert_eq!(s.error_handling, ErrorHandling::default());
        let s = run_settings(&[
            "--function",
            "f",
            "--template",
            template,
            "--parameter",
            "MinimumPollers=1",
            "--parameter",
            "ErrorTopic=errs",
        ])
        .unwrap();
        assert_eq!(s.error_handling.retry_limit(), Some(10));
        assert!(s.error_handling.bisect_batch_on_function_error);
        assert_eq!(
            s.error_handling.on_failure,
            Some(lambda_emulator::trigger::retry::Destination::Kafka {
                topic: "errs".to_owned()
            })
        );
        let s = run_settings(&[
            "--function",
            "f",
            "--template",
            template,
            "--parameter",
            "MinimumPollers=1",
            "--maximum-retry-attempts",
            "-1",
            "--maximum-record-age",
            "60",
            "--bisect-batch-on-function-error",
            "false",
            "--on-failure-destination",
            "kafka://other",
        ])
        .unwrap();
        // Infinite retries with a destination are 10, as in AWS.
        assert_eq!(s.error_handling.retry_limit(), Some(10));
        assert_eq!(
            s.error_handling.maximum_record_age,
            Some(Duration::from_secs(60))
        );
        assert!(!s.error_handling.bisect_batch_on_function_error);
        let s = run_settings(&[
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
        ])
        .unwrap();
        assert_eq!(s.limits.batch_size, 3);
        assert_eq!(s.limits.window, Duration::ZERO);
        assert_eq!(s.starting_position, StartingPosition::TrimHorizon);
        assert_eq!((s.group.as_str(), s.topic.as_str()), ("g", "t"));
        assert_eq!(s.function.env, vec![("A".to_owned(), "b=c".to_owned())]);
        assert_eq!(s.event_source_arn, None);
    }

    fn all_settings(line: &[&str]) -> Result<Vec<Settings>, String> {
        let args = trigger(line).map_err(|e| e.to_string())?;
        settings(args.run)
            .map(|r| r.settings)
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn each_topic_of_the_template_is_a_mapping_of_its_own() {
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let base = ["--function", "f", "--template", template];
        let all =
            all_settings(&[&base[..], &["--parameter", "SourceTopics=a,b"]].concat()).unwrap();
        let mapped: Vec<_> = all
            .iter()
            .map(|s| (s.topic.as_str(), s.group.as_str()))
            .collect();
        assert_eq!(
            mapped,
            [
                ("a", "connect-kafka-maxcompute-sink-a"),
                ("b", "connect-kafka-maxcompute-sink-b")
            ]
        );
        // --topic replaces the list with one topic; --group cannot name two groups.
        let one = all_settings(
            &[
                &base[..],
                &["--parameter", "SourceTopics=a,b", "--topic", "c"],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].topic, "c");
        let e = all_settings(
            &[
                &base[..],
                &["--parameter", "SourceTopics=a,b", "--group", "g"],
            ]
            .concat(),
        )
        .unwrap_err();
        assert!(e.contains("one consumer group"), "{e}");
    }

    #[test]
    fn a_schema_registry_needs_provisioned_mode() {
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let base = [
            "--function",
            "f",
            "--template",
            template,
            "--parameter",
            "SchemaRegistryURI=http://127.0.0.1:8081",
        ];
        let e = all_settings(&base).unwrap_err();
        assert!(e.contains("InvalidParameterValueException"), "{e}");
        assert!(e.contains("provisioned mode"), "{e}");
        let s = run_settings(&[&base[..], &["--parameter", "MinimumPollers=1"]].concat()).unwrap();
        let r = s.schema_registry.unwrap();
        assert_eq!(r.uri, "http://127.0.0.1:8081");
        assert!(r.validate_value && !r.validate_key);
        assert!(run_settings(&base[..4]).unwrap().schema_registry.is_none());
    }

    #[test]
    fn bad_flags_are_refused_with_the_accepted_values() {
        let base = ["--function", "f", "--no-template", "--topic", "t"];
        for (extra, expected) in [
            (&["--batch-size", "0"][..], "1..=10000"),
            (&["--batch-size", "10001"], "1..=10000"),
            (&["--window-ms", "300001"], "0..=300000"),
            (&["--starting-position", "at"], "latest|earliest"),
            (&["--event-source", "kafka"], "SelfManagedKafka"),
            (&["--template", "x.yaml"], "cannot be used with"),
            (&["--parameter", "MinimumPollers=1"], "cannot be used with"),
            (&["--maximum-retry-attempts", "-2"], "-1 or 0..=10000"),
            (&["--maximum-record-age", "30"], "-1 or 60..=604800"),
            (
                &["--on-failure-destination", "arn:aws:sqs:us-east-1:1:q"],
                "writes only to kafka://<topic>",
            ),
        ] {
            let e = run_settings(&[&base[..], extra].concat()).unwrap_err();
            assert!(e.contains(expected), "{extra:?}: {e}");
        }
        let e = run_settings(&["--function", "f", "--no-template"]).unwrap_err();
        assert!(e.contains("--topic is required"), "{e}");
        let e = run_settings(&["--no-template", "--topic", "t"]).unwrap_err();
        assert!(e.contains("--function"), "{e}");
    }

    #[test]
    fn the_tools_take_their_own_flags() {
        let a = trigger(&[
            "produce",
            "--topic",
            "t",
            "--value-hex",
            "ff00",
            "--header",
            "=v",
        ])
        .unwrap();
        let Some(Tool::Produce {
            value_hex, headers, ..
        }) = a.tool
        else {
            panic!("not produce: {a:?}")
        };
        assert_eq!(value_hex, Some(HexBytes(vec![0xff, 0])));
        assert_eq!(headers, vec![(String::new(), b"v".to_vec())]);
        assert!(
            trigger(&[
                "produce",
                "--topic",
                "t",
                "--value",
                "a",
                "--value-hex",
                "61"
            ])
            .is_err()
        );
        assert!(trigger(&["read", "--topic", "t", "--all", "--count", "2"]).is_err());
        assert!(trigger(&["committed", "--topic", "t"]).is_err());
        assert!(trigger(&["produce", "--function", "f", "--topic", "t"]).is_err());
    }
}

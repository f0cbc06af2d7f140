//! What the flow tests share: the functions' binaries and the trigger's settings for a test;
//! the broker, unique topic names and topic creation come from the project's test support.

use std::path::PathBuf;
use std::time::Duration;

use lambda_emulator::runtime::FunctionSpec;
use lambda_emulator::trigger::batch::Limits;
use lambda_emulator::trigger::{Settings, StartingPosition};
use maxcompute_emulator::testing::TestEmulator;

pub(crate) use test_support::kafka::{create_topic, require_broker, unique_topic};

/// A function's binary (`sink`, `error-handler`), from the same target directory as this test.
/// `cargo nextest run --workspace` and `cargo test --workspace` (what `make test` runs) build
/// every binary of the workspace before any test starts.
pub(crate) fn function_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash>
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with --workspace (make test), or cargo build -p {name} first",
        path.display()
    );
    path
}

/// The trigger's settings for a test: the topic from its start, small batches, a short window,
/// quick retries, and the function configured against `emulator` plus `env`.
pub(crate) fn settings(
    emulator: &TestEmulator,
    bootstrap: &str,
    topic: &str,
    function: &str,
    env: &[(&str, &str)],
) -> Settings {
    let vars = emulator.env_with(env);
    Settings {
        bootstrap: bootstrap.to_owned(),
        topic: topic.to_owned(),
        group: format!("connect-{topic}"),
        starting_position: StartingPosition::TrimHorizon,
        limits: Limits {
            batch_size: 10,
            window: Duration::from_millis(300),
            ..Limits::default()
        },
        event_source: "SelfManagedKafka".to_owned(),
        event_source_arn: None,
        report_batch_item_failures: false,
        function: FunctionSpec {
            name: function.to_owned(),
            binary: function_binary(function),
            env: vars,
            timeout: Duration::from_secs(10),
            memory_mb: 128,
        },
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(500),
        error_handling: Default::default(),
        schema_registry: None,
    }
}

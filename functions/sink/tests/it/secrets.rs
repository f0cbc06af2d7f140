//! The AccessKey read from Secrets Manager through the Lambda extension (its local stand-in,
//! `lambda_emulator::secrets`), by the deployed binary: read once per container, read again when
//! MaxCompute refuses it, and never printed, not even at `RUST_LOG=trace`.

use lambda_emulator::runtime::{Function, Outcome};
use lambda_emulator::secrets::LocalSecrets;
use maxcompute_emulator::testing::{self, ACCESS_ID, ACCESS_SECRET};
use sink::config::Config;

use crate::runtime_api::spec;
use crate::support::flow::{Flow, SinkFlow, event};
use test_support::lambda::{answer, failure};

const SECRET_ID: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:maxcompute-ak-AbCdEf";
const SESSION_TOKEN: &str = "local-session-token-9f3c";

async fn stand_in(value: &str) -> LocalSecrets {
    let secrets = LocalSecrets::start("127.0.0.1:0".parse().unwrap(), SESSION_TOKEN)
        .await
        .unwrap();
    secrets.put(SECRET_ID, value);
    secrets
}

fn access_key_json(secret: &str) -> String {
    serde_json::json!({ "AccessKeyId": ACCESS_ID, "AccessKeySecret": secret }).to_string()
}

/// The sink's environment with the AccessKey variables unset (empty) and the secret named.
fn secret_env(secrets: &LocalSecrets) -> Vec<(String, String)> {
    let mut env = vec![
        ("ALIBABA_CLOUD_ACCESS_KEY_ID".to_owned(), String::new()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET".to_owned(), String::new()),
        (
            "ALIBABA_CLOUD_CREDENTIALS_SECRET".to_owned(),
            SECRET_ID.to_owned(),
        ),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
    ];
    env.extend(secrets.function_env());
    env
}

/// The sink binary against `flow`'s seed table with `env` on top; started on first invoke.
async fn start(flow: &Flow, env: &[(String, String)]) -> Function {
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Function::new(spec(flow, &extra)).await.unwrap()
}

async fn seed(function: &mut Function) -> Outcome {
    function
        .invoke(event("seed-test-message.json").into())
        .await
        .unwrap()
}

fn rows_written(outcome: &Outcome) -> u64 {
    answer(outcome.clone())["summary"]["rowsWritten"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn the_binary_signs_with_the_secret_reads_it_again_when_refused_and_never_prints_it() {
    let flow = Flow::seeded().await;
    let secrets = stand_in(&access_key_json(ACCESS_SECRET)).await;
    let env = secret_env(&secrets);
    let mut function = start(&flow, &env).await;
    function.capture_logs();

    // Read once at cold start, then served from the container's memory.
    for _ in 0..2 {
        let outcome = seed(&mut function).await;
        assert_eq!(rows_written(&outcome), 1);
    }
    assert_eq!(secrets.reads(), 1);

    // MaxCompute refuses the pair once (as after a rotation): the sink reads the secret again
    // and the same invocation succeeds.
    flow.fault(serde_json::json!({
        "kind": "any", "count": 1, "action": "error",
        "status": 401, "code": "SignatureNotMatch"
    }))
    .await;
    let outcome = seed(&mut function).await;
    assert_eq!(rows_written(&outcome), 1);
    assert_eq!(secrets.reads(), 2);
    assert_eq!(
        flow.query("select count(*) from test_kafka").await.get(1),
        Some(&vec!["3".to_owned()])
    );

    function.stop().await;
    let logs = function.logs();
    assert!(
        logs.iter().any(|l| l.contains("TRACE")),
        "the function did not log at trace level: {logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("read the AccessKey from Secrets Manager")),
        "{logs:?}"
    );
    for value in [ACCESS_SECRET, SESSION_TOKEN] {
        let leaks: Vec<&String> = logs.iter().filter(|l| l.contains(value)).collect();
        assert!(leaks.is_empty(), "{value:?} was logged: {leaks:?}");
    }
}

/// What a failed cold start reported to the runtime API: a permanent credentials error (no
/// retry finds a secret that is not there), with its message.
fn cold_start_failure(outcome: Outcome) -> String {
    let (error_type, error_message) = failure(outcome);
    assert_eq!(error_type, "Permanent.Credentials", "{error_message}");
    error_message
}

#[tokio::test]
async fn a_missing_or_malformed_secret_stops_the_cold_start_without_echoing_it() {
    let flow = Flow::seeded().await;

    // Not there at all: Secrets Manager's error type is named.
    let secrets = stand_in("{}").await;
    let mut env = secret_env(&secrets);
    env.retain(|(k, _)| k != "ALIBABA_CLOUD_CREDENTIALS_SECRET");
    env.push((
        "ALIBABA_CLOUD_CREDENTIALS_SECRET".to_owned(),
        "no-such-secret".to_owned(),
    ));
    let mut function = start(&flow, &env).await;
    let outcome = seed(&mut function).await;
    let error_message = cold_start_failure(outcome);
    assert!(
        error_message.contains("no-such-secret")
            && error_message.contains("ResourceNotFoundException"),
        "{error_message}"
    );

    // Not the JSON the sink reads: the message says what is expected and quotes none of it.
    let secrets = stand_in("hunter2-not-json").await;
    let env = secret_env(&secrets);
    let mut function = start(&flow, &env).await;
    function.capture_logs();
    let outcome = seed(&mut function).await;
    let error_message = cold_start_failure(outcome);
    assert!(
        error_message.contains("AccessKeyId") && !error_message.contains("hunter2"),
        "{error_message}"
    );
    function.stop().await;
    assert!(!function.logs().iter().any(|l| l.contains("hunter2")));

    // A wrong session token is refused by the extension.
    let secrets = stand_in(&access_key_json(ACCESS_SECRET)).await;
    let mut env = secret_env(&secrets);
    env.push(("AWS_SESSION_TOKEN".to_owned(), "another-token".to_owned()));
    let mut function = start(&flow, &env).await;
    let outcome = seed(&mut function).await;
    let error_message = cold_start_failure(outcome);
    assert!(error_message.contains("HTTP 401"), "{error_message}");
    assert_eq!(secrets.reads(), 0);
}

fn config(flow: &Flow, extra: &[(&str, &str)]) -> Result<Config, sink::config::ConfigError> {
    let vars = flow.env_with(&[&[("MAXCOMPUTE_TABLE", "test_kafka")][..], extra].concat());
    Config::from_lookup(|name| testing::lookup(&vars, name))
}

#[tokio::test]
async fn the_secret_settings_are_checked_at_start() {
    let flow = Flow::seeded().await;
    // The secret and the AccessKey variables together: which one wins would be a guess.
    let err = config(
        &flow,
        &[
            ("ALIBABA_CLOUD_CREDENTIALS_SECRET", SECRET_ID),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("ALIBABA_CLOUD_ACCESS_KEY_ID=")
            && err.contains("ALIBABA_CLOUD_CREDENTIALS_SECRET")
            && !err.contains(ACCESS_SECRET),
        "{err}"
    );

    let without_keys = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
        ("ALIBABA_CLOUD_CREDENTIALS_SECRET", SECRET_ID),
    ];
    // The extension wants Lambda's session token.
    let err = config(&flow, &without_keys).unwrap_err().to_string();
    assert!(err.starts_with("AWS_SESSION_TOKEN is required"), "{err}");

    let err = config(
        &flow,
        &[
            &without_keys[..],
            &[
                ("AWS_SESSION_TOKEN", SESSION_TOKEN),
                ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "70000"),
            ],
        ]
        .concat(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=\"70000\""),
        "{err}"
    );

    // Neither: the message offers both.
    let err = config(
        &flow,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("ALIBABA_CLOUD_ACCESS_KEY_ID is required")
            && err.contains("ALIBABA_CLOUD_CREDENTIALS_SECRET"),
        "{err}"
    );

    // Debug shows the secret's id, never the session token.
    let c = config(
        &flow,
        &[&without_keys[..], &[("AWS_SESSION_TOKEN", SESSION_TOKEN)]].concat(),
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(
        debug.contains("maxcompute-ak-AbCdEf") && !debug.contains(SESSION_TOKEN),
        "{debug}"
    );
}

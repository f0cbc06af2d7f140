//! Wiring only: read the configuration, build the error handler once, run the Lambda runtime.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use error_handler::config::Config;
use error_handler::handler::{ErrorHandler, HandlerError, Response};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    tracing::info!(config = ?config, "configuration read");
    let handler =
        ErrorHandler::start_from_config(&config, Instant::now() + error_handler::START_TIMEOUT)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move { invoke(&handler, event).await }
    }))
    .await
}

async fn invoke(
    handler: &ErrorHandler,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, HandlerError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let left_ms = u64::try_from(i64::try_from(event.context.deadline).unwrap_or(i64::MAX) - now_ms)
        .unwrap_or(0);
    let deadline = Instant::now()
        + Duration::from_millis(left_ms).saturating_sub(error_handler::DEADLINE_MARGIN);
    handler.handle(event.payload.get(), now_ms, deadline).await
}

/// JSON logs when Lambda asks for them (`LoggingConfig: LogFormat: JSON`), text otherwise.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // CloudWatch stamps each line itself and shows escape codes verbatim.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

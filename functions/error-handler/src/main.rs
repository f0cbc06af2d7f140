//! Wiring only: read the configuration, build the error handler once, run the Lambda runtime.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use error_handler::config::Config;
use error_handler::handler::{ErrorHandler, HandlerError, Response};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::function::EventBody;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::function::init_tracing();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    tracing::info!(config = ?config, "configuration read");
    let handler =
        ErrorHandler::start_from_config(&config, Instant::now() + error_handler::START_TIMEOUT)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBody>| {
        let handler = Arc::clone(&handler);
        async move { invoke(&handler, event).await }
    }))
    .await
}

async fn invoke(
    handler: &ErrorHandler,
    event: LambdaEvent<EventBody>,
) -> Result<Response, HandlerError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let deadline = Instant::now() + shared::function::time_left(event.context.deadline, now_ms);
    // An empty or non-JSON body is answered here, as the handler's own malformed-event error.
    let event_json = event.payload.json()?;
    handler.handle(event_json, now_ms, deadline).await
}

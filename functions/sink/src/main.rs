//! Wiring only: read the configuration, build the sink once, run the Lambda runtime.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::function::EventBody;
use sink::config::Config;
use sink::handler::{Response, Sink, SinkError};
use sink::rejects::{ErrorTopicSink, NoErrorTopic, RejectSink};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::function::init_tracing();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    tracing::info!(config = ?config, "configuration read");
    let rejects: Box<dyn RejectSink> = match &config.error_topic {
        Some(topic) => Box::new(ErrorTopicSink::new(
            topic.clone(),
            config.error_bootstrap_servers.clone(),
            config.error_security.clone(),
            config.function_name.clone(),
        )),
        None => Box::new(NoErrorTopic),
    };
    let sink = Sink::start_from_config(&config, rejects, Instant::now() + sink::START_TIMEOUT)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let sink = Arc::new(sink);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBody>| {
        let sink = Arc::clone(&sink);
        async move { invoke(&sink, event).await }
    }))
    .await
}

async fn invoke(sink: &Sink, event: LambdaEvent<EventBody>) -> Result<Response, SinkError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let deadline = Instant::now() + shared::function::time_left(event.context.deadline, now_ms);
    // An empty or non-JSON body is answered here, as the handler's own malformed-event error.
    let event_json = event.payload.json()?;
    sink.handle(event_json, now_ms, deadline).await
}

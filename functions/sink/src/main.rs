//! Wiring only: read the configuration, build the sink once, run the Lambda runtime.

use sink::config::Config;
use sink::handler::Sink;
use sink::rejects::{ErrorTopicSink, NoErrorTopic, RejectSink};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::function::run(
        Config::from_env,
        |config: Config, deadline| async move {
            let rejects: Box<dyn RejectSink> = match &config.error_topic {
                Some(topic) => Box::new(ErrorTopicSink::new(
                    topic.clone(),
                    config.error_bootstrap_servers.clone(),
                    config.error_security.clone(),
                    config.function_name.clone(),
                )),
                None => Box::new(NoErrorTopic),
            };
            Sink::start_from_config(&config, rejects, deadline).await
        },
        sink::START_TIMEOUT,
    )
    .await
}

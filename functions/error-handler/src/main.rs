//! Wiring only: read the configuration, build the error handler once, run the Lambda runtime.

use error_handler::config::Config;
use error_handler::handler::ErrorHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::function::run(
        Config::from_env,
        |config: Config, deadline| async move {
            ErrorHandler::start_from_config(&config, deadline).await
        },
        error_handler::START_TIMEOUT,
    )
    .await
}

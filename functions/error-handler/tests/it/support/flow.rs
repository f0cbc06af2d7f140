//! The error handler against the emulator-backed [`Flow`] (from the project's test support).

use error_handler::config::Config;
use error_handler::handler::ErrorHandler;
pub(crate) use test_support::emulator::Flow;
pub(crate) use test_support::time::deadline;

/// Processing time: 2020-11-17 08:00:00 UTC, 16:00 in GMT+08:00.
pub(crate) const NOW_MS: i64 = 1_605_600_000_000;

/// The error handler's side of the [`Flow`]: its configuration and the handler against it.
pub(crate) trait HandlerFlow {
    /// The error handler's configuration, with `extra` variables on top.
    fn config(&self, extra: &[(&str, &str)]) -> Config;
    async fn handler(&self, extra: &[(&str, &str)]) -> ErrorHandler;
}

impl HandlerFlow for Flow {
    fn config(&self, extra: &[(&str, &str)]) -> Config {
        Config::from_lookup(self.lookup(extra)).unwrap()
    }

    async fn handler(&self, extra: &[(&str, &str)]) -> ErrorHandler {
        ErrorHandler::start_from_config(&self.config(extra), deadline())
            .await
            .unwrap()
    }
}

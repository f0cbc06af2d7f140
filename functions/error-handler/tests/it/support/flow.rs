//! The MaxCompute emulator in-process (the `maxcompute_emulator::testing` fixture), and the
//! error handler configured against it.

use std::ops::Deref;
use std::time::Duration;

use error_handler::config::Config;
use error_handler::handler::ErrorHandler;
use maxcompute_emulator::testing::{self, TestEmulator};
use tokio::time::Instant;

/// Processing time: 2020-11-17 08:00:00 UTC, 16:00 in GMT+08:00.
pub(crate) const NOW_MS: i64 = 1_605_600_000_000;

/// The emulator; derefs to the fixture for queries, downloads and faults.
pub(crate) struct Flow(TestEmulator);

impl Deref for Flow {
    type Target = TestEmulator;
    fn deref(&self) -> &TestEmulator {
        &self.0
    }
}

impl Flow {
    pub(crate) async fn start() -> Self {
        Self(TestEmulator::start().await)
    }

    /// The error handler's configuration, with `extra` variables on top.
    pub(crate) fn config(&self, extra: &[(&str, &str)]) -> Config {
        let vars = self.env_with(extra);
        Config::from_lookup(|name| testing::lookup(&vars, name)).unwrap()
    }

    pub(crate) async fn handler(&self, extra: &[(&str, &str)]) -> ErrorHandler {
        ErrorHandler::start_from_config(&self.config(extra), deadline())
            .await
            .unwrap()
    }
}

pub(crate) fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

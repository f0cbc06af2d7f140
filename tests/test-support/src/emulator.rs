//! The MaxCompute emulator in-process (the `maxcompute_emulator::testing` fixture) as the
//! functions' flow tests start it, and the variables a function's configuration reads from it.

use std::ops::Deref;

use maxcompute_emulator::testing::{self, TestEmulator};

/// The emulator; derefs to the fixture for SQL, queries, downloads and faults.
#[derive(Debug)]
pub struct Flow(TestEmulator);

impl Deref for Flow {
    type Target = TestEmulator;
    fn deref(&self) -> &TestEmulator {
        &self.0
    }
}

impl Flow {
    /// The emulator with no table.
    pub async fn start() -> Self {
        Self(TestEmulator::start().await)
    }

    /// The emulator after `statements` (DDL: the tables a test writes to).
    pub async fn start_with(statements: &[&str]) -> Self {
        let emulator = TestEmulator::start().await;
        for statement in statements {
            emulator.sql(statement).await;
        }
        Self(emulator)
    }

    /// A lookup of a function's variables: the emulator's endpoint and credentials, with `extra`
    /// on top; what a configuration's `from_lookup` takes.
    pub fn lookup(&self, extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars = self.env_with(extra);
        move |name| testing::lookup(&vars, name)
    }
}

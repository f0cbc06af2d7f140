//! The `emulator` binary: wiring only; see the library for what it does.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    emulator::cli::main(std::env::args().skip(1).collect()).await
}

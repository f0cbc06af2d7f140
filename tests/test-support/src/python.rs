//! The Python side of the tests that compare with pyodps, AWS's Python signer or Python itself:
//! where the workspace and the interpreter are, the seed of a differential run, and the
//! `--check` of a vector generator.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, where `.venv`, `events/`, `tests/vectors` and `tests/differential` are.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("this crate sits two folders below the workspace root")
        .to_path_buf()
}

/// `PYODPS_PYTHON`, or the project's venv (`bash scripts/venv.sh` makes it); a test fails with
/// how to create it when it is missing.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("PYODPS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join(".venv/bin/python"),
    };
    assert!(
        path.exists(),
        "no project Python at {}: run `bash scripts/venv.sh` (or set PYODPS_PYTHON)",
        path.display()
    );
    path
}

/// `DIFFERENTIAL_SEED` when set (to replay a run), else a fresh one; callers print it.
pub fn seed() -> u64 {
    match std::env::var("DIFFERENTIAL_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("DIFFERENTIAL_SEED={s:?} is not an unsigned integer")),
        // A fresh seed per run (RandomState is seeded from the OS), below 2^53 so that it reads
        // the same in Rust, JSON and Python.
        Err(_) => RandomState::new().hash_one(std::process::id()) >> 11,
    }
}

/// Runs the vector generator `script` (relative to the workspace root) with `--check`, which
/// regenerates its files in memory and fails with a diff when a committed one differs; fails the
/// test unless it succeeds and prints `up_to_date` (a check that compared nothing would exit 0
/// too).
pub fn check_vectors(script: &str, up_to_date: &str) {
    let script = workspace_root().join(script);
    let out = Command::new(python())
        .arg(&script)
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} --check failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    assert!(
        stdout.contains(up_to_date),
        "unexpected output of {} --check:\n{stdout}\n{stderr}",
        script.display()
    );
}

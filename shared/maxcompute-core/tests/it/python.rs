//! The Python side of the tests that compare with pyodps or Python: where the interpreter is,
//! and the seed of a differential run.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};

/// The workspace root, where `.venv`, `tests/vectors` and `tests/differential` are.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two folders below the workspace root")
        .to_path_buf()
}

/// `PYODPS_PYTHON`, or the project's venv; a test fails with how to create it when it is missing.
pub(crate) fn python() -> PathBuf {
    let path = match std::env::var_os("PYODPS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join(".venv/bin/python"),
    };
    assert!(
        path.exists(),
        "no Python with pyodps at {}: run `bash scripts/venv.sh` (or set PYODPS_PYTHON)",
        path.display()
    );
    path
}

/// `DIFFERENTIAL_SEED` when set (to replay a run), else a fresh one.
pub(crate) fn seed() -> u64 {
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

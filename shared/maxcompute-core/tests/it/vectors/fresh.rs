//! The committed pyodps vectors (`tests/vectors/*.json`) are what pyodps 0.13.2 produces today:
//! `tests/vectors/generate.py --check` regenerates them in memory and this test fails with its
//! unified diff when a committed file differs (edited by hand, or the generator changed).
//!
//! `PYODPS_PYTHON` names the Python with pyodps (default `<workspace>/.venv/bin/python`).

use crate::python::{python, workspace_root};
use std::process::Command;

#[test]
fn committed_vectors_are_what_pyodps_produces() {
    let script = workspace_root().join("tests/vectors/generate.py");
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
    // A check that silently compared nothing would also exit 0.
    assert!(
        stdout.contains("vectors up to date: records.json, signatures.json, upsert-hash.json"),
        "unexpected output of {} --check:\n{stdout}\n{stderr}",
        script.display()
    );
}

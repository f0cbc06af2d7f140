//! The committed pyodps vectors (`tests/vectors/*.json`) are what pyodps 0.13.2 produces today:
//! `tests/vectors/generate.py --check` regenerates them in memory and this test fails with its
//! unified diff when a committed file differs (edited by hand, or the generator changed).
//!
//! `PYODPS_PYTHON` names the Python with pyodps (default `<workspace>/.venv/bin/python`).

use test_support::python::check_vectors;

#[test]
fn committed_vectors_are_what_pyodps_produces() {
    check_vectors(
        "tests/vectors/generate.py",
        "vectors up to date: records.json, signatures.json, upsert-hash.json",
    );
}

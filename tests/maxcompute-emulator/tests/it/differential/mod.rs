//! Signature verification against pyodps on random requests (`tests/differential/signatures.py`);
//! the test prints its seed, and `DIFFERENTIAL_SEED` replays a run.

mod signatures;

//! Differential tests on random input against pyodps and Python (`tests/differential/*.py`); each
//! prints its seed, and `DIFFERENTIAL_SEED` replays a run.

mod codec;
mod compression;
mod json_numbers;

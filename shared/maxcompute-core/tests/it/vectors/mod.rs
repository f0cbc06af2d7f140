//! The vectors pyodps made (`tests/vectors/`): record blocks and upsert bucket hashes (the signing
//! vectors are checked in the emulator's tests, with its verifier),
//! and a check that `tests/vectors/generate.py` still makes the same files.

mod fresh;
mod records;
mod upsert_hash;

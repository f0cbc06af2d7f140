//! The vectors pyodps made (`tests/vectors/`): record blocks, signatures and upsert bucket hashes,
//! and a check that `tests/vectors/generate.py` still makes the same files.

mod fresh;
mod records;
mod signatures;
mod upsert_hash;

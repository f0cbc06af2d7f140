//! The vectors pyodps made (`tests/vectors/`): record blocks and signatures, and a check that
//! `tests/vectors/generate.py` still makes the same files.

mod fresh;
mod records;
mod signatures;

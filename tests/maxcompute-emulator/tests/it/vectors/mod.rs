//! The signing vectors pyodps made (`tests/vectors/signatures.json`), signed with the core's
//! signer and verified with the emulator's verifier.

mod signatures;

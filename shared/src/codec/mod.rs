//! The Tunnel record stream: encoder and schema-driven decoder (see `maxcompute-protocol.md` §7).

//! `shared::client` against `support`, a scripted MaxCompute stand-in on loopback that verifies
//! every signature: batch upload sessions, retries, the service API, streaming upload, upsert
//! sessions and STS credentials.

mod batch;
mod retry;
mod service;
mod stream;
mod sts;
mod support;
mod upsert;

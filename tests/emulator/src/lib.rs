//! A local MaxCompute for the sink's local flow and tests: the service API (metadata, SQL
//! instances for a small SQL subset), the Tunnel (batch and stream upload, download, instance
//! tunnel) and an STS `AssumeRole` stand-in on one port, request signatures verified like the
//! real service, data kept durably in SQLite, and fault injection for resilience tests. Stock
//! clients (pyodps) work unchanged.
//!
//! It is not a query engine (only the statements in `sql.rs`), not multi-tenant, and has no
//! quotas, RAM policies, bearer-token or app-account authentication. SQL instances live in
//! memory only.
//!
//! Codemap: `cli` (arguments) → `server` (routing, auth, faults, error rendering) → `api`
//! (service API) / `tunnel` (data plane) / `sts` (`AssumeRole`) / `admin` (health, faults) →
//! `exec` + `sql` (SQL) and `store` (SQLite). `auth` verifies signatures; `wire` wraps
//! `shared::codec`; `spec` handles partition specs; `xml` the XML bodies; `request` parses
//! requests; `sqlcmd` is the `emulator sql` client. `lambda` runs a function binary behind a
//! local Lambda runtime API, and `trigger` feeds it from Kafka like the Lambda Kafka trigger.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod error;
pub mod exec;
pub mod faults;
pub mod lambda;
pub mod request;
pub mod server;
pub mod spec;
pub mod sql;
pub mod sqlcmd;
pub mod store;
pub mod sts;
pub mod trigger;
pub mod tunnel;
pub mod wire;
pub mod xml;

//! A local MaxCompute for the sink's local flow and tests: the service API (metadata, SQL
//! instances for a small SQL subset), the Tunnel (batch and stream upload, Delta Table upsert
//! sessions, download, instance tunnel) and an STS `AssumeRole` stand-in on one port, request signatures verified like the
//! real service, data kept durably in SQLite, and fault injection for resilience tests. Stock
//! clients (pyodps) work unchanged.
//!
//! It is not a query engine (only the statements in `sql.rs`), not multi-tenant, and has no
//! quotas, RAM policies, bearer-token or app-account authentication. SQL instances live in
//! memory only.
//!
//! Codemap: `server` (binding, routing, auth, faults, error rendering) → `api` (service API) /
//! `tunnel` (data plane, with `upsert` for Delta Tables) / `assume_role` (STS) / `admin` (health, faults), all on `state` (the
//! shared state) → `exec` + `sql` (SQL) and `store` (SQLite). `auth` checks requests'
//! credentials, `signature` verifies signatures;
//! `incoming` parses requests and `operation` names what each asks for (faults and the tunnel
//! dispatch both go by it); `partition` parses partition specs as the service does;
//! `xml_body` reads and writes the XML bodies; `wire` wraps `maxcompute_core::codec`;
//! `service_error` is the service's error codes; `clock` is the one source of time (a manual
//! clock in tests). `sql_client` is a signed client of the service
//! API (the `emulator sql` command and the tests); `testing` starts an emulator for a test.

pub mod admin;
pub mod api;
pub mod assume_role;
pub mod auth;
pub mod clock;
pub mod exec;
pub mod faults;
pub mod incoming;
pub mod operation;
pub mod partition;
pub mod server;
pub mod service_error;
pub mod signature;
pub mod sql;
pub mod sql_client;
pub mod state;
pub mod store;
pub mod testing;
pub mod tunnel;
pub mod upsert;
pub mod wire;
pub mod xml_body;

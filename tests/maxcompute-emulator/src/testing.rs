//! The emulator as a test fixture: started in-process on a loopback port with a temporary data
//! directory and one access key, with the calls tests make around it (SQL, exact rows through a
//! Tunnel download, fault rules) and the environment a function needs to reach it. Used by the
//! functions' tests and the whole-flow tests alike.
//!
//! A fixture fails its test by panicking, as an assertion does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use maxcompute_core::types::{OdpsType, Value};

use crate::auth::KeyStore;
use crate::server::{self, RunningServer};
use crate::sql_client::{self, Client};

/// The project every fixture serves (the demo's, so examples read the same).
pub const PROJECT: &str = "connector_test";
pub const ACCESS_ID: &str = "test-access-id";
pub const ACCESS_SECRET: &str = "test-access-secret";

/// A running emulator; stopped and its data removed when dropped.
#[derive(Debug)]
pub struct TestEmulator {
    pub server: RunningServer,
    /// Signs with the fixture's key.
    pub client: Client,
    _dir: tempfile::TempDir,
}

impl TestEmulator {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let mut keys = KeyStore::default();
        keys.add_access_key(ACCESS_ID, ACCESS_SECRET);
        let server = server::start(server::Config {
            listen: "127.0.0.1:0".parse().expect("a loopback address"),
            data_dir: dir.path().to_path_buf(),
            keys,
            session_ttl: server::DEFAULT_SESSION_TTL,
            close_connections: false,
        })
        .await
        .expect("the emulator starts");
        let client = Client::new(&format!("http://{}", server.addr), ACCESS_ID, ACCESS_SECRET);
        Self {
            server,
            client,
            _dir: dir,
        }
    }

    /// The service endpoint, `http://127.0.0.1:PORT/api`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/api", self.server.addr)
    }

    /// What a function needs to reach this emulator: endpoint, project and access key.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("MAXCOMPUTE_ENDPOINT", self.endpoint()),
            ("MAXCOMPUTE_PROJECT", PROJECT.to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_ID.to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_SECRET.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// [`TestEmulator::env`] followed by `extra`; a later entry overrides an earlier one of the
    /// same name (see [`lookup`]).
    pub fn env_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut vars = self.env();
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        vars
    }

    /// Runs one statement in the project; panics when it fails.
    pub async fn sql(&self, statement: &str) -> String {
        let (_, text) = self
            .client
            .run_sql(PROJECT, statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        text
    }

    /// A query's rows as text, header first.
    pub async fn query(&self, statement: &str) -> Vec<Vec<String>> {
        sql_client::parse_csv(&self.sql(statement).await)
    }

    /// Every row of one partition (`""` for none), exactly as stored, through a Tunnel download.
    pub async fn download(
        &self,
        table: &str,
        partition: &str,
        types: &[OdpsType],
    ) -> Vec<Vec<Value>> {
        let path = format!("/projects/{PROJECT}/tables/{table}");
        let mut query = vec![("downloads", "")];
        if !partition.is_empty() {
            query.push(("partition", partition));
        }
        let resp = self
            .client
            .send(reqwest::Method::POST, &path, &query, &[], Vec::new())
            .await
            .unwrap();
        let session: serde_json::Value = resp.json().await.unwrap();
        let id = session["DownloadID"]
            .as_str()
            .unwrap_or_else(|| panic!("no download session: {session}"))
            .to_owned();
        let count = session["RecordCount"].as_i64().unwrap();
        let range = format!("(0,{count})");
        let mut query = vec![("data", ""), ("downloadid", &id), ("rowrange", &range)];
        if !partition.is_empty() {
            query.push(("partition", partition));
        }
        let resp = self
            .client
            .send(reqwest::Method::GET, &path, &query, &[], Vec::new())
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "download of {table}/{partition}"
        );
        let bytes = resp.bytes().await.unwrap();
        maxcompute_core::codec::decode_block(types, &bytes).unwrap()
    }

    /// Adds a fault rule through the admin API (see `faults.rs` for its fields).
    pub async fn fault(&self, rule: serde_json::Value) {
        let resp = maxcompute_client::http_client_builder()
            .build()
            .expect("an HTTP client")
            .post(format!("http://{}/_emulator/faults", self.server.addr))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }

    /// The rules still active, oldest first, as the admin API lists them.
    pub async fn faults(&self) -> Vec<serde_json::Value> {
        let resp = maxcompute_client::http_client_builder()
            .build()
            .expect("an HTTP client")
            .get(format!("http://{}/_emulator/faults", self.server.addr))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
        let listed: serde_json::Value = resp.json().await.unwrap();
        listed["faults"].as_array().cloned().unwrap_or_default()
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) {
        let resp = maxcompute_client::http_client_builder()
            .build()
            .expect("an HTTP client")
            .delete(format!("http://{}/_emulator/faults", self.server.addr))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }
}

/// The value of `name` in `vars`, the last one winning, as a process environment built from
/// them would hold it: the lookup a function's `Config::from_lookup` takes in tests.
pub fn lookup(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

//! The MaxCompute emulator in-process on a loopback port, the error handler configured against
//! it, and reading rows back: `select` through a SQL instance, or exact bytes through a Tunnel
//! download decoded with the shared codec.

use std::time::Duration;

use emulator::auth::KeyStore;
use emulator::server::{self, RunningServer};
use emulator::sqlcmd;
use error_handler::config::Config;
use error_handler::handler::ErrorHandler;
use shared::types::{OdpsType, Value};
use tokio::time::Instant;

pub const ID: &str = "errors-id";
pub const SECRET: &str = "errors-secret";
pub const PROJECT: &str = "connector_test";
/// Processing time: 2020-11-17 08:00:00 UTC, 16:00 in GMT+08:00.
pub const NOW_MS: i64 = 1_605_600_000_000;

pub struct Flow {
    _dir: tempfile::TempDir,
    pub server: RunningServer,
    pub sql: sqlcmd::Client,
}

impl Flow {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = KeyStore::default();
        keys.add_access_key(ID, SECRET);
        let server = server::start(server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            keys,
            session_ttl: server::DEFAULT_SESSION_TTL,
        })
        .await
        .unwrap();
        let sql = sqlcmd::Client::new(&format!("http://{}", server.addr), ID, SECRET);
        Self {
            _dir: dir,
            server,
            sql,
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "MAXCOMPUTE_ENDPOINT".into(),
                format!("http://{}/api", self.server.addr),
            ),
            ("MAXCOMPUTE_PROJECT".into(), PROJECT.into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID".into(), ID.into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(), SECRET.into()),
        ]
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut vars = self.env();
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Config::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    pub async fn handler(&self, extra: &[(&str, &str)]) -> ErrorHandler {
        ErrorHandler::start_from_config(&self.config(extra), deadline())
            .await
            .unwrap()
    }

    pub async fn query(&self, statement: &str) -> Vec<Vec<String>> {
        let (_, text) = self.sql.run_sql(PROJECT, statement).await.unwrap();
        sqlcmd::parse_csv(&text)
    }

    /// Every row of one partition, exactly as stored, through a Tunnel download.
    pub async fn download(
        &self,
        table: &str,
        partition: &str,
        types: &[OdpsType],
    ) -> Vec<Vec<Value>> {
        let path = format!("/projects/{PROJECT}/tables/{table}");
        let resp = self
            .sql
            .send(
                reqwest::Method::POST,
                &path,
                &[("partition", partition), ("downloads", "")],
                &[],
                Vec::new(),
            )
            .await
            .unwrap();
        let session: serde_json::Value = resp.json().await.unwrap();
        let id = session["DownloadID"].as_str().unwrap().to_owned();
        let count = session["RecordCount"].as_i64().unwrap();
        let range = format!("(0,{count})");
        let resp = self
            .sql
            .send(
                reqwest::Method::GET,
                &path,
                &[
                    ("partition", partition),
                    ("data", ""),
                    ("downloadid", &id),
                    ("rowrange", &range),
                ],
                &[],
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let bytes = resp.bytes().await.unwrap();
        shared::codec::decode_block(types, &bytes).unwrap()
    }

    /// Makes the next calls of a kind fail as the emulator's admin API is told to.
    pub async fn fault(&self, rule: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/_emulator/faults", self.server.addr))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }
}

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

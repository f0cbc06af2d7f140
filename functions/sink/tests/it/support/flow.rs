//! The MaxCompute emulator in-process on a loopback port, with the seed's table, and the sink
//! configured against it.

use std::time::Duration;

use emulator::auth::KeyStore;
use emulator::server::{self, RunningServer};
use emulator::sqlcmd;
use sink::config::Config;
use sink::handler::Sink;
use sink::rejects::{NoErrorTopic, RejectSink};
use tokio::time::Instant;

pub const ID: &str = "sink-id";
pub const SECRET: &str = "sink-secret";
pub const PROJECT: &str = "connector_test";
pub const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";
/// Processing time for the handler: only used for records without a timestamp.
pub const NOW_MS: i64 = 1_605_596_645_123;

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
        sql.run_sql(PROJECT, SEED_DDL).await.unwrap();
        Self {
            _dir: dir,
            server,
            sql,
        }
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let endpoint = format!("http://{}/api", self.server.addr);
        let mut vars: Vec<(String, String)> = vec![
            ("MAXCOMPUTE_ENDPOINT".into(), endpoint),
            ("MAXCOMPUTE_PROJECT".into(), PROJECT.into()),
            ("MAXCOMPUTE_TABLE".into(), "test_kafka".into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID".into(), ID.into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(), SECRET.into()),
        ];
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

    pub async fn sink(&self, extra: &[(&str, &str)]) -> Sink {
        self.sink_with(extra, Box::new(NoErrorTopic)).await
    }

    pub async fn sink_with(&self, extra: &[(&str, &str)], rejects: Box<dyn RejectSink>) -> Sink {
        Sink::start_from_config(&self.config(extra), rejects, deadline())
            .await
            .unwrap()
    }

    pub async fn query(&self, statement: &str) -> Vec<Vec<String>> {
        let (_, text) = self.sql.run_sql(PROJECT, statement).await.unwrap();
        sqlcmd::parse_csv(&text)
    }

    /// Makes the next `count` calls of `kind` fail as the emulator's admin API is told to.
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

pub fn event(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

//! The MaxCompute emulator in-process (the `maxcompute_emulator::testing` fixture) with the
//! seed's table, and the sink configured against it.

use std::ops::Deref;
use std::time::Duration;

use maxcompute_emulator::testing::{self, TestEmulator};
use sink::config::Config;
use sink::handler::Sink;
use sink::rejects::{NoErrorTopic, RejectSink};
use tokio::time::Instant;

pub(crate) const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";
/// Processing time for the handler: only used for records without a timestamp.
pub(crate) const NOW_MS: i64 = 1_605_596_645_123;

/// The emulator with the seed's table; derefs to the fixture for queries and faults.
pub(crate) struct Flow(TestEmulator);

impl Deref for Flow {
    type Target = TestEmulator;
    fn deref(&self) -> &TestEmulator {
        &self.0
    }
}

impl Flow {
    pub(crate) async fn start() -> Self {
        let emulator = TestEmulator::start().await;
        emulator.sql(SEED_DDL).await;
        Self(emulator)
    }

    /// The sink's configuration for the seed's table, with `extra` variables on top.
    pub(crate) fn config(&self, extra: &[(&str, &str)]) -> Config {
        let vars = self.env_with(&[&[("MAXCOMPUTE_TABLE", "test_kafka")][..], extra].concat());
        Config::from_lookup(|name| testing::lookup(&vars, name)).unwrap()
    }

    pub(crate) async fn sink(&self, extra: &[(&str, &str)]) -> Sink {
        self.sink_with(extra, Box::new(NoErrorTopic)).await
    }

    pub(crate) async fn sink_with(
        &self,
        extra: &[(&str, &str)],
        rejects: Box<dyn RejectSink>,
    ) -> Sink {
        Sink::start_from_config(&self.config(extra), rejects, deadline())
            .await
            .unwrap()
    }
}

pub(crate) fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

pub(crate) fn event(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A self-managed Kafka trigger event of one topic: records `(partition, offset, timestamp_ms)`,
/// each with the key `k<offset>` and the value `v<offset>`.
pub(crate) fn kafka_event(topic: &str, records: &[(i32, i64, i64)]) -> String {
    use base64::Engine;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut lists: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        std::collections::BTreeMap::new();
    for &(partition, offset, timestamp) in records {
        lists
            .entry(format!("{topic}-{partition}"))
            .or_default()
            .push(serde_json::json!({
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "timestamp": timestamp,
                "timestampType": "CREATE_TIME",
                "key": b64(format!("k{offset}")),
                "value": b64(format!("v{offset}")),
                "headers": [],
            }));
    }
    serde_json::json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": "127.0.0.1:9092",
        "records": lists,
    })
    .to_string()
}

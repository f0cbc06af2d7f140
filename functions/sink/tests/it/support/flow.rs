//! The sink against the emulator-backed [`Flow`] (from the project's test support), with the
//! seed's table.

use sink::config::Config;
use sink::handler::Sink;
use sink::rejects::{NoErrorTopic, RejectSink};
pub(crate) use test_support::emulator::Flow;
pub(crate) use test_support::events::{kafka_event, read_event as event};
pub(crate) use test_support::time::deadline;

pub(crate) const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";
/// Processing time for the handler: only used for records without a timestamp.
pub(crate) const NOW_MS: i64 = 1_605_596_645_123;

/// The sink's side of the [`Flow`]: the emulator with the seed's table, and the sink configured
/// against it.
pub(crate) trait SinkFlow {
    /// The emulator with the seed's table.
    async fn seeded() -> Flow;
    /// The sink's configuration for the seed's table, with `extra` variables on top.
    fn config(&self, extra: &[(&str, &str)]) -> Config;
    async fn sink(&self, extra: &[(&str, &str)]) -> Sink;
    async fn sink_with(&self, extra: &[(&str, &str)], rejects: Box<dyn RejectSink>) -> Sink;
}

impl SinkFlow for Flow {
    async fn seeded() -> Flow {
        Flow::start_with(&[SEED_DDL]).await
    }

    fn config(&self, extra: &[(&str, &str)]) -> Config {
        let extra = [&[("MAXCOMPUTE_TABLE", "test_kafka")][..], extra].concat();
        Config::from_lookup(self.lookup(&extra)).unwrap()
    }

    async fn sink(&self, extra: &[(&str, &str)]) -> Sink {
        self.sink_with(extra, Box::new(NoErrorTopic)).await
    }

    async fn sink_with(&self, extra: &[(&str, &str)], rejects: Box<dyn RejectSink>) -> Sink {
        Sink::start_from_config(&self.config(extra), rejects, deadline())
            .await
            .unwrap()
    }
}

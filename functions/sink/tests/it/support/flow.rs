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

/// The scenario of batch and upsert sessions opened ahead, run by `sink`: four invocations of ten
/// records of Kafka partition 0 (offsets 0, 10, 20 and 30 on, all at `at_ms`'s hour). The
/// session the first one opened ahead is refused when the second uses it (`refused_use`, a
/// fault rule, as an expired session would be) and replaced; then every session creation is
/// refused, so the third invocation is served only by the session opened beside the second's
/// commit, and the fourth, with none opened, writes nothing until the faults are cleared.
pub(crate) async fn sessions_opened_ahead(
    flow: &Flow,
    sink: &Sink,
    refused_use: serde_json::Value,
    at_ms: i64,
) {
    let handle = |from: i64| {
        let records: Vec<(i32, i64, i64)> = (from..from + 10).map(|o| (0, o, at_ms + o)).collect();
        let event = kafka_event("ahead", &records);
        async move { sink.handle(&event, NOW_MS, deadline()).await }
    };
    let written = |response: sink::answer::Response| response.summary.rows_written;
    assert_eq!(written(handle(0).await.unwrap()), 10);
    flow.fault(refused_use).await;
    assert_eq!(
        written(handle(10).await.unwrap()),
        10,
        "replaced when refused"
    );
    flow.fault(serde_json::json!({
        "kind": "session_create", "count": 100, "action": "error",
        "status": 400, "code": "InvalidArgument"
    }))
    .await;
    assert_eq!(written(handle(20).await.unwrap()), 10, "opened ahead");
    let refused = handle(30).await;
    assert!(
        refused
            .as_ref()
            .map_or(true, |r| r.summary.rows_written == 0),
        "{refused:?}"
    );
    flow.clear_faults().await;
    assert_eq!(written(handle(30).await.unwrap()), 10);
}

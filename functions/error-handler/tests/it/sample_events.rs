//! The error-topic sample events in `events/` are what the sink really produces: regenerated
//! here from the sink's rejects of other sample events and compared byte for byte. Run with
//! `UPDATE_EVENTS=1` to rewrite them after a deliberate change of the message format.

use crate::support::events::{ERROR_TOPIC, events_dir, generated, read_event};
use maxcompute_core::error_record::ErrorMessage;
use maxcompute_core::event::decode_event_str;

#[test]
fn error_topic_samples_match_what_the_sink_produces() {
    let update = std::env::var_os("UPDATE_EVENTS").is_some();
    for (name, content) in generated() {
        let path = events_dir().join(name);
        if update {
            std::fs::write(&path, &content).unwrap();
        }
        let stored =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            stored == content,
            "events/{name} differs from what the sink produces; rerun with UPDATE_EVENTS=1 if the change is deliberate"
        );
    }
}

#[test]
fn every_sample_record_is_an_error_topic_message_that_parses() {
    for (name, expected) in [
        ("error-topic-bad-records.json", 10),
        ("error-topic-headers-non-ascii.json", 1),
    ] {
        let batch = decode_event_str(&read_event(name)).unwrap();
        assert!(batch.rejects.is_empty(), "{name}");
        assert_eq!(batch.records.len(), expected, "{name}");
        for r in &batch.records {
            assert_eq!(&*r.topic, ERROR_TOPIC);
            let m = ErrorMessage {
                key: r.key.as_deref().map(<[u8]>::to_vec),
                value: r.value.as_deref().map(<[u8]>::to_vec),
                headers: r.headers.to_vec(),
                timestamp_ms: r.timestamp_ms,
            };
            let parsed = m.parse().unwrap();
            assert!(parsed.error.reject_class().is_some(), "{name}: {parsed:?}");
        }
    }
}

//! The local Kafka broker: its address, topic names no other run uses, and topic creation.
//! A test that needs the broker fails, saying how to start it, when none answers; it never
//! passes silently.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rskafka::client::ClientBuilder;
use tokio::net::TcpStream;

/// The broker's address: `KAFKA_BOOTSTRAP`, or the local broker's `127.0.0.1:19092`.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:19092".to_owned())
}

/// The broker's address; fails the test, saying how to start one, when none answers.
pub async fn require_broker() -> String {
    let address = bootstrap();
    match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&address)).await {
        Ok(Ok(_)) => address,
        Ok(Err(e)) => {
            panic!("no Kafka broker at {address} ({e}); run: bash scripts/broker.sh start")
        }
        Err(_) => panic!(
            "no Kafka broker at {address} (connect timed out); run: bash scripts/broker.sh start"
        ),
    }
}

/// A topic name no other test or run uses: `<prefix>-<name>-<pid>-<nanos>`.
pub fn unique_topic(prefix: &str, name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{name}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with `partitions` (the local broker does not create topics on first use).
pub async fn create_topic(address: &str, topic: &str, partitions: i32) {
    let client = ClientBuilder::new(vec![address.to_owned()])
        .build()
        .await
        .unwrap_or_else(|e| panic!("connecting to {address}: {e}"));
    client
        .controller_client()
        .unwrap()
        .create_topic(topic, partitions, 1, 5_000)
        .await
        .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
}

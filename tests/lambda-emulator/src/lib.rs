//! The Lambda side of the local flow: `runtime` serves the Lambda runtime API and runs a
//! function as its deployed binary, one invocation at a time; `secrets` stands in for the
//! Parameters and Secrets extension the functions read their secrets from; `trigger` (feature `kafka`) reads
//! a Kafka topic and invokes that function like the Lambda Kafka event source mapping.
//!
//! The trigger needs librdkafka, so it is behind a feature: a test that only invokes a function
//! (the functions' own tests) links no Kafka client.

pub mod runtime;
pub mod secrets;
#[cfg(feature = "kafka")]
pub mod trigger;

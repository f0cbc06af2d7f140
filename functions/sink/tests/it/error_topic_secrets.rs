//! Secrets never reach the logs: the error-topic writer runs a SCRAM and an `AWS_MSK_IAM`
//! (OAUTHBEARER) exchange against a tansu broker with `--authentication` behind the TLS proxy,
//! with every `TRACE` event of the writer and of rskafka recorded, and neither the SASL password
//! nor the AWS secret key or session token may appear in them or in the errors.
//!
//! Both exchanges are refused: tansu 0.6.0 has no SCRAM user here (users can only be added over a
//! connection that has already authenticated, and it offers no other mechanism that works), and
//! it refuses OAUTHBEARER. That is itself checked: the refusal is a permanent SASL error, not
//! retried until the deadline. A SASL exchange that succeeds cannot be run against tansu 0.6.0.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error_topic_tls::tls_to;
use crate::support::kafka::in_secs;
use crate::support::tls::{Pki, TlsBroker};

use rskafka::SaslError;
use rskafka::protocol::error::Error as ProtocolError;
use shared::client::{FixedJitter, RetryPolicy};
use sink::error_topic::{
    AwsCredentials, ErrorTopicError, ErrorTopicWriter, KafkaSecurity, MskIam, SaslMechanism,
};

const PASSWORD: &str = "sasl-password-7f3a";
const SECRET_KEY: &str = "aws-secret-key-9c1e";
const SESSION_TOKEN: &str = "aws-session-token-4b2d";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn sasl_secrets_never_reach_trace_logs_and_a_refusal_is_permanent() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread (tokio's current-thread runtime), so the default holds for it.
    let _guard = tracing::subscriber::set_default(subscriber);

    let pki = Pki::new("error-topic test CA");
    let broker = TlsBroker::start(&pki, &["127.0.0.1"], true).await;
    let KafkaSecurity::Tls(tls) = tls_to(&pki) else {
        unreachable!()
    };
    let scram = KafkaSecurity::SaslTls {
        mechanism: SaslMechanism::ScramSha512,
        username: "sink".to_owned(),
        password: PASSWORD.to_owned(),
        tls: tls.clone(),
    };
    let iam = KafkaSecurity::MskIam {
        iam: MskIam {
            region: "us-east-1".to_owned(),
            credentials: AwsCredentials {
                access_key_id: "ASIAIOSFODNN7EXAMPLE".to_owned(),
                secret_access_key: SECRET_KEY.to_owned(),
                session_token: Some(SESSION_TOKEN.to_owned()),
            },
        },
        tls,
    };
    let mut shown = String::new();
    for security in [scram, iam] {
        shown.push_str(&format!("{security:?}\n"));
        let err = ErrorTopicWriter::connect_with_retry(
            &[broker.bootstrap()],
            "errors",
            security,
            RetryPolicy {
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(200),
                max_attempts: 1_000,
            },
            Arc::new(FixedJitter(0.0)),
            in_secs(60),
        )
        .await
        .unwrap_err();
        // SCRAM: the broker's server-final message says `unknown-user`, and the client's SASL
        // session fails on it; OAUTHBEARER: the broker answers SaslAuthenticationFailed.
        assert!(
            matches!(
                &err,
                ErrorTopicError::Sasl {
                    source: SaslError::ApiError(ProtocolError::SaslAuthenticationFailed)
                        | SaslError::SaslSessionError(_),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_transient(), "{err:?}");
        shown.push_str(&format!("{err}\n{err:?}\n"));
    }
    assert!(broker.proxy.handshakes() >= 2);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture did see the exchange (rskafka's own SASL events and the writer's).
    assert!(logs.contains("SCRAM-SHA-512"), "{logs}");
    assert!(logs.contains("OAUTHBEARER"), "{logs}");
    for secret in [PASSWORD, SECRET_KEY, SESSION_TOKEN] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        assert!(
            !shown.contains(secret),
            "{secret} in Debug or errors:\n{shown}"
        );
    }
}

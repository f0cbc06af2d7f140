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

use maxcompute_client::{FixedJitter, RetryPolicy};
use rskafka::SaslError;
use rskafka::protocol::error::Error as ProtocolError;
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

/// Records every event at TRACE for the rest of the test. Tests run on one thread (tokio's
/// current-thread runtime), so the default holds for the whole test.
fn capture_trace() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn sasl_secrets_never_reach_trace_logs_and_a_refusal_is_permanent() {
    let (captured, _guard) = capture_trace();

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

#[tokio::test]
async fn the_sasl_user_and_password_come_from_their_secret_read_again_at_each_connection() {
    use lambda_emulator::secrets::LocalSecrets;
    use maxcompute_client::{SecretsError, SecretsExtension};
    use maxcompute_core::signing::Secret;

    let (captured, _guard) = capture_trace();

    let token = "extension-token-1d9e";
    let secrets = LocalSecrets::start("127.0.0.1:0".parse().unwrap(), token)
        .await
        .unwrap();
    let secret_id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_sink-Ab12Cd";
    secrets.put(
        secret_id,
        &serde_json::json!({"username": "sink", "password": PASSWORD}).to_string(),
    );
    let extension = SecretsExtension::new(secrets.addr().port(), Secret::new(token)).unwrap();
    let pki = Pki::new("error-topic test CA");
    let broker = TlsBroker::start(&pki, &["127.0.0.1"], true).await;
    let KafkaSecurity::Tls(tls) = tls_to(&pki) else {
        unreachable!()
    };
    let security = |secret_id: &str| KafkaSecurity::SaslTlsSecret {
        mechanism: SaslMechanism::ScramSha512,
        secret_id: secret_id.to_owned(),
        extension: extension.clone(),
        tls: tls.clone(),
    };
    let bootstrap = [broker.bootstrap()];
    let connect = |security: KafkaSecurity| {
        ErrorTopicWriter::connect_with_retry(
            &bootstrap,
            "errors",
            security,
            RetryPolicy::default(),
            Arc::new(FixedJitter(0.0)),
            in_secs(60),
        )
    };
    // The secret is read, and its user goes through the SCRAM exchange, which tansu refuses
    // (no user exists there): a permanent SASL error, not a secret error. The next connection
    // reads the secret again, so a rotated password is used as soon as it is stored.
    let mut shown = String::new();
    for reads in 1..=2 {
        let err = connect(security(secret_id)).await.unwrap_err();
        assert!(matches!(&err, ErrorTopicError::Sasl { .. }), "{err:?}");
        assert!(!err.is_transient());
        assert_eq!(secrets.reads(), reads);
        shown.push_str(&format!("{err}\n{err:?}\n{:?}\n", security(secret_id)));
    }

    // A secret that is not there, or holds no password: permanent, and named.
    let err = connect(security("no-such-secret")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ErrorTopicError::Secret(SecretsError::Status { status: 400, .. })
        ) && !err.is_transient(),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
    secrets.put("no-password", r#"{"username": "sink"}"#);
    let err = connect(security("no-password")).await.unwrap_err();
    assert!(
        matches!(&err, ErrorTopicError::Secret(SecretsError::Content { .. })),
        "{err:?}"
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("SCRAM-SHA-512"), "{logs}");
    for secret in [PASSWORD, token] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        assert!(
            !shown.contains(secret),
            "{secret} in Debug or errors:\n{shown}"
        );
    }
}

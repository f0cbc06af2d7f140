//! How to talk to the brokers: plaintext, TLS, or SASL (PLAIN, SCRAM, or OAUTHBEARER with an
//! MSK IAM token) over TLS, as the configuration names it. It holds settings only; the TLS set-up
//! is in `tls.rs`, the IAM token in `msk_iam.rs`, and the SASL exchange is rskafka's, run by
//! `connection.rs`.

use std::fmt;
use std::sync::Arc;

use rskafka::client::{Credentials, OauthBearerCredentials, SaslConfig};

use maxcompute_client::{SecretsError, SecretsExtension};

use super::error::ErrorTopicError;
use super::msk_iam::{MskIam, USER_AGENT};
use super::tls::TlsOptions;

/// How to talk to the brokers. `Debug` never prints a password.
#[derive(Clone)]
pub enum KafkaSecurity {
    /// No TLS, no authentication (the local broker).
    Plaintext,
    /// TLS, no SASL.
    Tls(TlsOptions),
    /// SASL over TLS.
    SaslTls {
        mechanism: SaslMechanism,
        username: String,
        password: String,
        tls: TlsOptions,
    },
    /// SASL/OAUTHBEARER over TLS with a token signed by AWS credentials (`AWS_MSK_IAM`), for
    /// Amazon MSK clusters with IAM access control.
    MskIam { iam: MskIam, tls: TlsOptions },
    /// SASL over TLS with the user and password of a Secrets Manager secret
    /// (`{"username": "…", "password": "…"}`, the shape MSK and the Lambda trigger use for
    /// SCRAM), read through the Lambda extension each time a writer connects: a rotated password
    /// is picked up by the next connection after a refused one.
    SaslTlsSecret {
        mechanism: SaslMechanism,
        secret_id: String,
        extension: SecretsExtension,
        tls: TlsOptions,
    },
}

impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plaintext => f.write_str("Plaintext"),
            Self::Tls(tls) => f.debug_tuple("Tls").field(tls).finish(),
            Self::SaslTls {
                mechanism,
                username,
                tls,
                ..
            } => f
                .debug_struct("SaslTls")
                .field("mechanism", mechanism)
                .field("username", username)
                .field("password", &"<redacted>")
                .field("tls", tls)
                .finish(),
            Self::MskIam { iam, tls } => f
                .debug_struct("MskIam")
                .field("iam", iam)
                .field("tls", tls)
                .finish(),
            Self::SaslTlsSecret {
                mechanism,
                secret_id,
                tls,
                ..
            } => f
                .debug_struct("SaslTlsSecret")
                .field("mechanism", mechanism)
                .field("secret_id", secret_id)
                .field("tls", tls)
                .finish(),
        }
    }
}

impl KafkaSecurity {
    pub(super) fn tls(&self) -> Option<&TlsOptions> {
        match self {
            Self::Plaintext => None,
            Self::Tls(tls)
            | Self::SaslTls { tls, .. }
            | Self::MskIam { tls, .. }
            | Self::SaslTlsSecret { tls, .. } => Some(tls),
        }
    }

    /// The settings with any secret read: [`KafkaSecurity::SaslTlsSecret`] becomes
    /// [`KafkaSecurity::SaslTls`] with the secret's user and password; the others are returned
    /// as they are.
    pub(super) async fn resolve(self) -> Result<Self, ErrorTopicError> {
        let Self::SaslTlsSecret {
            mechanism,
            secret_id,
            extension,
            tls,
        } = self
        else {
            return Ok(self);
        };
        let [username, password] = extension
            .secret_fields(&secret_id, ["username", "password"])
            .await
            .map_err(ErrorTopicError::Secret)?;
        let (Some(username), Some(password)) = (username, password) else {
            return Err(ErrorTopicError::Secret(SecretsError::Content {
                secret_id,
                reason: "expected a JSON object with the string fields username and password"
                    .to_owned(),
            }));
        };
        Ok(Self::SaslTls {
            mechanism,
            username: username.expose().to_owned(),
            password: password.expose().to_owned(),
            tls,
        })
    }

    pub(super) fn sasl(&self) -> Option<SaslConfig> {
        match self {
            Self::SaslTls {
                mechanism,
                username,
                password,
                ..
            } => {
                let credentials = Credentials::new(username.clone(), password.clone());
                Some(match mechanism {
                    SaslMechanism::Plain => SaslConfig::Plain(credentials),
                    SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                    SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
                })
            }
            Self::MskIam { iam, .. } => {
                // A fresh token for each connection: signing is cheap, and a token is valid for
                // 15 minutes from its signing only.
                let iam = iam.clone();
                Some(SaslConfig::Oauthbearer(OauthBearerCredentials {
                    callback: Arc::new(move || {
                        let token = iam.token(chrono::Utc::now(), USER_AGENT);
                        Box::pin(async move { Ok(token) })
                    }),
                    authz_id: None,
                    bearer_kvs: Vec::new(),
                }))
            }
            // Read by `resolve` before any connection; never connected unresolved.
            Self::Plaintext | Self::Tls(_) | Self::SaslTlsSecret { .. } => None,
        }
    }
}

/// SASL mechanisms the trigger's `SourceAccessConfigurations` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_password() {
        let security = KafkaSecurity::SaslTls {
            mechanism: SaslMechanism::ScramSha512,
            username: "sink".to_owned(),
            password: "hunter2".to_owned(),
            tls: TlsOptions::default(),
        };
        let shown = format!("{security:?}");
        assert!(
            shown.contains("sink") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}

//! How to talk to the brokers: plaintext, TLS, or SASL (PLAIN, SCRAM) over TLS, as the
//! configuration names it. It holds settings only; the TLS set-up is in `tls.rs` and the SASL
//! exchange is rskafka's, run by `connection.rs`.

use std::fmt;

use rskafka::client::{Credentials, SaslConfig};

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
        }
    }
}

impl KafkaSecurity {
    pub(super) fn tls(&self) -> Option<&TlsOptions> {
        match self {
            Self::Plaintext => None,
            Self::Tls(tls) | Self::SaslTls { tls, .. } => Some(tls),
        }
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
            _ => None,
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

//! Settings both functions read from their environment: the MaxCompute connection and
//! credentials, and the partition settings, with the helpers that validate values.
//!
//! Reading goes through a lookup function ([`Env`]), so this module reads no environment itself
//! and tests never touch the process's. A value that cannot be used is a [`SettingError`] that
//! names the variable, the value and what is accepted; secrets are kept in
//! [`maxcompute_core::signing::Secret`]s and are never echoed.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use maxcompute_client::{
    AssumeRoleConfig, ClientConfig, CredentialsProvider, DEFAULT_EXTENSION_PORT, SecretCredentials,
    SecretsExtension, StaticCredentials, StsAssumeRoleProvider,
};
use maxcompute_core::partition::{
    DEFAULT_PARTITION_COLUMN, Granularity, PartitionConfig, PartitionConfigError, PartitionRouter,
    TimeSource, ValueFormat, Zone,
};
use maxcompute_core::signing::{Credentials, Secret};

/// The variables read here; each function adds its own.
pub mod vars {
    pub const ENDPOINT: &str = "MAXCOMPUTE_ENDPOINT";
    pub const TUNNEL_ENDPOINT: &str = "MAXCOMPUTE_TUNNEL_ENDPOINT";
    pub const PROJECT: &str = "MAXCOMPUTE_PROJECT";
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    /// A Secrets Manager secret (ARN or name) holding the AccessKey pair, instead of the two
    /// variables above.
    pub const CREDENTIALS_SECRET: &str = "ALIBABA_CLOUD_CREDENTIALS_SECRET";
    /// Set by Lambda; the secrets extension wants it back.
    pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    /// The secrets extension's port (the extension's own variable).
    pub const EXTENSION_PORT: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    pub const STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    pub const PARTITION: &str = "SINK_PARTITION";
    pub const TIME_ZONE: &str = "SINK_TIME_ZONE";
    pub const PARTITION_FORMAT: &str = "SINK_PARTITION_FORMAT";
    pub const PARTITION_COLUMN: &str = "SINK_PARTITION_COLUMN";
    /// Set by Lambda.
    pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
}

/// The role session name when `ALIBABA_CLOUD_ROLE_SESSION_NAME` is not set.
pub const DEFAULT_ROLE_SESSION_NAME: &str = "kafka-maxcompute-sink";

/// A variable that is missing or holds a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{variable} is required: {accepted}")]
    Missing {
        variable: &'static str,
        accepted: &'static str,
    },
    #[error("{variable}={value:?} is not accepted: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

/// The error for `variable` holding `value`, saying why or what is accepted.
pub fn invalid(variable: &'static str, value: &str, reason: impl fmt::Display) -> SettingError {
    SettingError::Invalid {
        variable,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

/// The environment, seen through a lookup function; empty values count as unset.
pub struct Env<F>(pub F);

impl<F> fmt::Debug for Env<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env(..)")
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(
        &self,
        variable: &'static str,
        accepted: &'static str,
    ) -> Result<String, SettingError> {
        self.get(variable)
            .ok_or(SettingError::Missing { variable, accepted })
    }

    /// The variable parsed with `FromStr`, or the type's default when unset.
    pub fn parse_or_default<T>(&self, variable: &'static str) -> Result<T, SettingError>
    where
        T: FromStr + Default,
        T::Err: fmt::Display,
    {
        match self.get(variable) {
            None => Ok(T::default()),
            Some(v) => v.parse().map_err(|e| invalid(variable, &v, e)),
        }
    }

    /// `true`/`1` or `false`/`0`, any case.
    pub fn bool_or(&self, variable: &'static str, default: bool) -> Result<bool, SettingError> {
        match self.get(variable).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "0" => Ok(false),
            Some(v) => Err(invalid(variable, &v, "expected true or false")),
        }
    }
}

/// An `http://` or `https://` URL.
pub fn check_url(variable: &'static str, value: &str) -> Result<(), SettingError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(
            variable,
            value,
            "expected an http:// or https:// URL",
        ))
    }
}

/// A MaxCompute project or table name.
pub fn check_name(variable: &'static str, value: &str) -> Result<(), SettingError> {
    let ok = value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            variable,
            value,
            "expected a letter followed by letters, digits or underscores, at most 128 bytes",
        ))
    }
}

/// Where the AccessKey comes from.
#[derive(Clone, Debug)]
pub enum CredentialSource {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` and `_SECRET` (and `_SECURITY_TOKEN`): local runs.
    /// `Debug` shows the id only.
    Environment(Credentials),
    /// A Secrets Manager secret read through the Lambda extension at cold start.
    Secret {
        secret_id: String,
        extension: SecretsExtension,
    },
}

impl CredentialSource {
    /// The AccessKey given in the environment, if that is where it comes from.
    pub fn environment(&self) -> Option<&Credentials> {
        match self {
            Self::Environment(c) => Some(c),
            Self::Secret { .. } => None,
        }
    }
}

/// Where MaxCompute is and who is calling.
#[derive(Clone)]
pub struct Connection {
    pub endpoint: String,
    pub tunnel_endpoint: Option<String>,
    pub project: String,
    pub credentials: CredentialSource,
    /// The seed's account + RAM role path: the credentials above assume this role.
    pub assume_role: Option<AssumeRoleConfig>,
}

impl fmt::Debug for Connection {
    // Written out so that only the access key id of the credentials shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("tunnel_endpoint", &self.tunnel_endpoint)
            .field("project", &self.project)
            .field("credentials", &self.credentials)
            .field("assume_role", &self.assume_role)
            .finish()
    }
}

impl Connection {
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingError> {
        let endpoint = env.required(
            vars::ENDPOINT,
            "the MaxCompute service endpoint, e.g. http://service.cn-hangzhou.maxcompute.aliyun.com/api",
        )?;
        check_url(vars::ENDPOINT, &endpoint)?;
        let tunnel_endpoint = env.get(vars::TUNNEL_ENDPOINT);
        if let Some(t) = &tunnel_endpoint {
            check_url(vars::TUNNEL_ENDPOINT, t)?;
        }
        let project = env.required(vars::PROJECT, "the MaxCompute project name")?;
        check_name(vars::PROJECT, &project)?;
        let credentials = credential_source(env)?;
        Ok(Self {
            endpoint,
            tunnel_endpoint,
            project,
            credentials,
            assume_role: assume_role(env)?,
        })
    }

    /// The client settings for this endpoint and project, defaults elsewhere.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(&self.endpoint, &self.project);
        config.tunnel_endpoint = self.tunnel_endpoint.clone();
        config
    }

    /// The credentials to sign with: the AccessKey (or STS token) itself, or, with a role to
    /// assume, the temporary credentials that role gets from STS (renewed before they expire).
    pub fn credentials_provider(
        &self,
    ) -> Result<Arc<dyn CredentialsProvider>, maxcompute_client::Error> {
        let base: Arc<dyn CredentialsProvider> = match &self.credentials {
            CredentialSource::Environment(c) => Arc::new(StaticCredentials::new(c.clone())),
            CredentialSource::Secret {
                secret_id,
                extension,
            } => Arc::new(SecretCredentials::new(extension.clone(), secret_id.clone())),
        };
        Ok(match &self.assume_role {
            None => base,
            Some(role) => Arc::new(StsAssumeRoleProvider::new(base, role.clone())?),
        })
    }
}

/// The AccessKey from the environment, or the secret that holds it: exactly one of the two.
fn credential_source<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<CredentialSource, SettingError> {
    let Some(secret_id) = env.get(vars::CREDENTIALS_SECRET) else {
        let access_key_id = env.get(vars::ACCESS_KEY_ID).ok_or(SettingError::Missing {
            variable: vars::ACCESS_KEY_ID,
            accepted: "an AccessKey ID, or ALIBABA_CLOUD_CREDENTIALS_SECRET naming a Secrets Manager secret that holds the pair",
        })?;
        let secret = env.required(vars::ACCESS_KEY_SECRET, "the AccessKey secret")?;
        return Ok(CredentialSource::Environment(
            match env.get(vars::SECURITY_TOKEN) {
                Some(token) => {
                    Credentials::sts(access_key_id, Secret::new(secret), Secret::new(token))
                }
                None => Credentials::access_key(access_key_id, Secret::new(secret)),
            },
        ));
    };
    for variable in [
        vars::ACCESS_KEY_ID,
        vars::ACCESS_KEY_SECRET,
        vars::SECURITY_TOKEN,
    ] {
        if env.get(variable).is_some() {
            return Err(SettingError::Invalid {
                variable,
                value: "(set)".to_owned(),
                reason: format!(
                    "set either {} or the AccessKey variables, not both",
                    vars::CREDENTIALS_SECRET
                ),
            });
        }
    }
    Ok(CredentialSource::Secret {
        extension: secrets_extension(env, vars::CREDENTIALS_SECRET)?,
        secret_id,
    })
}

/// The secrets extension as this function's environment describes it; `for_variable` names
/// the variable that asked for a secret, for the error when Lambda's session token is missing.
pub fn secrets_extension<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    for_variable: &'static str,
) -> Result<SecretsExtension, SettingError> {
    let port = match env.get(vars::EXTENSION_PORT) {
        None => DEFAULT_EXTENSION_PORT,
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(vars::EXTENSION_PORT, &v, "expected a port, 1 to 65535"))?,
    };
    let token = env.get(vars::AWS_SESSION_TOKEN).ok_or(SettingError::Missing {
        variable: vars::AWS_SESSION_TOKEN,
        accepted: "the session token Lambda sets, which the secrets extension checks; needed because a secret is named",
    })?;
    SecretsExtension::new(port, Secret::new(token)).map_err(|e| invalid(for_variable, "(set)", e))
}

fn assume_role<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<AssumeRoleConfig>, SettingError> {
    let Some(role_arn) = env.get(vars::ROLE_ARN) else {
        return Ok(None);
    };
    let session_name = env
        .get(vars::ROLE_SESSION_NAME)
        .unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_owned());
    let mut role = AssumeRoleConfig::new(role_arn.clone(), session_name.clone());
    if let Some(endpoint) = env.get(vars::STS_ENDPOINT) {
        check_url(vars::STS_ENDPOINT, &endpoint)?;
        role.endpoint = endpoint;
    }
    if let Err(e) = role.validate() {
        // Name the variable that holds the field the error is about.
        let (variable, value) = match &e {
            maxcompute_client::Error::Config {
                what: "role_session_name",
                ..
            } => (vars::ROLE_SESSION_NAME, session_name),
            maxcompute_client::Error::Config {
                what: "sts endpoint",
                ..
            } => (vars::STS_ENDPOINT, role.endpoint.clone()),
            _ => (vars::ROLE_ARN, role_arn),
        };
        return Err(invalid(variable, &value, e));
    }
    Ok(Some(role))
}

/// The partition settings (granularity, time zone, value format, column) with the given time
/// source, validated together by building the router.
pub fn partition<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    time_source: TimeSource,
) -> Result<PartitionConfig, SettingError> {
    let granularity: Granularity = env.parse_or_default(vars::PARTITION)?;
    let zone: Zone = env.parse_or_default(vars::TIME_ZONE)?;
    let format: ValueFormat = env.parse_or_default(vars::PARTITION_FORMAT)?;
    let column = env
        .get(vars::PARTITION_COLUMN)
        .unwrap_or_else(|| DEFAULT_PARTITION_COLUMN.to_owned());
    let config = PartitionConfig {
        granularity,
        zone,
        format,
        column: column.clone(),
        time_source,
    };
    // Name the variable the error is about.
    PartitionRouter::new(&config).map_err(|e| match &e {
        PartitionConfigError::Column(_) => invalid(vars::PARTITION_COLUMN, &column, e),
        _ => invalid(
            vars::PARTITION_FORMAT,
            &env.get(vars::PARTITION_FORMAT).unwrap_or_default(),
            e,
        ),
    })?;
    Ok(config)
}

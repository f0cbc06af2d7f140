//! The [`Client`] handle: its configuration, the HTTP connection pool, the credentials provider,
//! the jitter source and the counters. The calls are `impl Client` blocks in the sibling modules
//! (`request` sends one signed request with retries; `service`, `batch` and `stream` are the
//! MaxCompute calls).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::OnceCell;

use super::credentials::CredentialsProvider;
use super::endpoint::Endpoint;
use super::error::Error;
use super::http::http_client_builder;
use super::retry::{Jitter, RandomJitter, RetryPolicy};

/// Settings of a [`Client`], read once at start-up.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The service API endpoint including its path prefix, e.g.
    /// `https://service.cn-hangzhou.maxcompute.aliyun.com/api`.
    pub endpoint: String,
    /// The tunnel endpoint (no path); discovered through the service API when `None`.
    pub tunnel_endpoint: Option<String>,
    pub project: String,
    /// The region (e.g. `cn-hangzhou`). When set, service API requests are signed with v4;
    /// tunnel requests always use v2, as both SDKs do.
    pub region: Option<String>,
    /// Sent as `User-Agent` and (signed) `x-odps-user-agent`.
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// The longest a single HTTP request may take; each request is also cut at the deadline.
    pub request_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub retry: RetryPolicy,
    /// How record data is compressed on upload (sent with the codec's `Content-Encoding`);
    /// `None` sends it as it is.
    pub compress: Option<maxcompute_core::codec::Compression>,
    /// How often a SQL instance's status is polled.
    pub instance_poll_interval: Duration,
}

impl ClientConfig {
    /// A configuration with the defaults for everything but the endpoint and project.
    pub fn new(endpoint: impl Into<String>, project: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            tunnel_endpoint: None,
            project: project.into(),
            region: None,
            user_agent: concat!("maxcompute-kafka-sink/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            pool_idle_timeout: Duration::from_secs(50),
            retry: RetryPolicy::default(),
            compress: None,
            instance_poll_interval: Duration::from_secs(1),
        }
    }
}

/// Counters over the client's lifetime, for the per-invocation log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retries after transient errors.
    pub retries: u64,
    /// Request body bytes sent (after compression, retries included).
    pub bytes_sent: u64,
    /// Stream session reloads.
    pub session_reloads: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) bytes_sent: AtomicU64,
    pub(super) session_reloads: AtomicU64,
}

/// A MaxCompute client; cheap to clone (clones share the connection pool and counters).
#[derive(Debug, Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

/// What the calls in the sibling modules (`request`, `service`, `batch`, `stream`) reach.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) config: ClientConfig,
    pub(super) service: Endpoint,
    pub(super) tunnel: OnceCell<Endpoint>,
    pub(super) credentials: Arc<dyn CredentialsProvider>,
    pub(super) jitter: Arc<dyn Jitter>,
    pub(super) counters: Counters,
}

impl Client {
    /// Builds a client with random jitter.
    pub fn new(
        config: ClientConfig,
        credentials: Arc<dyn CredentialsProvider>,
    ) -> Result<Self, Error> {
        Self::with_jitter(config, credentials, Arc::new(RandomJitter))
    }

    /// Builds a client with a given jitter source (tests use [`FixedJitter`](crate::FixedJitter)).
    pub fn with_jitter(
        config: ClientConfig,
        credentials: Arc<dyn CredentialsProvider>,
        jitter: Arc<dyn Jitter>,
    ) -> Result<Self, Error> {
        if config.project.is_empty()
            || !config
                .project
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Error::Config {
                what: "project",
                reason: format!(
                    "{:?} is not a project name (letters, digits, underscores)",
                    config.project
                ),
            });
        }
        let service = Endpoint::parse(&config.endpoint).map_err(|source| Error::Endpoint {
            what: "endpoint",
            source,
        })?;
        let tunnel = OnceCell::new();
        if let Some(t) = &config.tunnel_endpoint {
            let endpoint = Endpoint::parse(t).map_err(|source| Error::Endpoint {
                what: "tunnel_endpoint",
                source,
            })?;
            // A fresh cell cannot already be set, so this cannot fail.
            let _ = tunnel.set(endpoint);
        }
        let http = http_client_builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .tcp_nodelay(true)
            // 308 is the tunnel's "slot moved" signal, handled by the retry policy, not a
            // redirect to follow.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::Transport)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                service,
                tunnel,
                credentials,
                jitter,
                counters: Counters::default(),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub fn project(&self) -> &str {
        &self.inner.config.project
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            session_reloads: c.session_reloads.load(Ordering::Relaxed),
        }
    }
}

/// Checks a project or table name before it goes into a URL path or a SQL statement.
pub(crate) fn validate_name(kind: &'static str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            kind,
            name: name.to_owned(),
        })
    }
}

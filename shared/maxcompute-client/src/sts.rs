//! Temporary credentials from STS `AssumeRole`: the "account + RAM role" credentials path.
//!
//! [`StsAssumeRoleProvider`] is a [`CredentialsProvider`] that signs an RPC-style `AssumeRole`
//! request with base AccessKey credentials (from another provider), caches the temporary
//! credentials it gets back, and renews them before they expire (see [`renew_margin`]). Renewal is
//! single-flight: one caller talks to STS while the others keep using the still-valid credentials
//! or, when there are none, wait for that one answer and share it. A failed renewal is logged and
//! the cached credentials stay in use until they expire; only then does the error reach callers.
//!
//! It makes one HTTP attempt per refresh and does not retry itself: the MaxCompute client already
//! retries transient errors (a [`CredentialsError`] says whether it is transient) within the
//! caller's deadline, so retrying here too would multiply attempts and ignore that deadline. It
//! does not read the environment (configuration comes in through [`AssumeRoleConfig`]) and never
//! logs or prints secrets, tokens or signatures.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::{debug, info, warn};

use super::credentials::{
    CredentialsError, CredentialsFuture, CredentialsProvider, StsError, StsServiceError,
};
use super::error::Error;
use maxcompute_core::signing::{self, Credentials, Secret};

/// The public STS endpoint; it serves every region.
pub(crate) const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";

/// The STS API version `AssumeRole` is called with.
pub(crate) const STS_API_VERSION: &str = "2015-04-01";

/// The shortest and longest `DurationSeconds` accepted, and the default (the longest, so a
/// warm function renews as rarely as possible).
pub(crate) const MIN_DURATION: Duration = Duration::from_secs(900);
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);
pub(crate) const DEFAULT_DURATION: Duration = MAX_DURATION;

/// Renewal rule: credentials are renewed once less than `max(RENEW_MIN_REMAINING,
/// RENEW_LIFETIME_PERCENT % of their lifetime)` remains, capped at half the lifetime so that
/// very short-lived credentials (an emulator's) are still reused for a while. With the default
/// hour that is 12 minutes before expiry; with 15 minutes it is 5 minutes before.
pub(crate) const RENEW_MIN_REMAINING: Duration = Duration::from_secs(5 * 60);
pub(crate) const RENEW_LIFETIME_PERCENT: u32 = 20;

/// Cached credentials closer than this to their expiry are not handed out any more: a request
/// signed now must still be valid when the service checks it, after transfer and retries.
pub(crate) const EXPIRY_SAFETY_MARGIN: Duration = Duration::from_secs(60);

/// After a failed renewal, while the cached credentials are still usable, STS is not asked again
/// before this much time has passed, so an STS outage does not add a slow failing call to every
/// request.
pub(crate) const RENEW_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// The time source for expiry decisions and the request `Timestamp`; injectable for tests.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Settings of an [`StsAssumeRoleProvider`], read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleConfig {
    /// `acs:ram::<account id>:role/<role name>`.
    pub role_arn: String,
    /// Shows up in the assumed role's ARN and in audit logs; `[A-Za-z0-9._@-]{2,64}`.
    pub role_session_name: String,
    /// The STS endpoint (scheme and host, optionally a port); `https://sts.aliyuncs.com` by default.
    pub endpoint: String,
    /// The requested lifetime of the credentials, 15 minutes to an hour; whole
    /// seconds are sent.
    pub duration: Duration,
    pub connect_timeout: Duration,
    /// The longest one `AssumeRole` call may take. Providers do not see the caller's deadline,
    /// so keep this well below the time a Lambda invocation has left.
    pub request_timeout: Duration,
}

impl AssumeRoleConfig {
    /// A configuration with the defaults for everything but the role and session name.
    pub fn new(role_arn: impl Into<String>, role_session_name: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            role_session_name: role_session_name.into(),
            endpoint: DEFAULT_STS_ENDPOINT.to_owned(),
            duration: DEFAULT_DURATION,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Checks every field; the error names the field and the accepted values.
    pub fn validate(&self) -> Result<(), Error> {
        validate_role_arn(&self.role_arn)?;
        validate_session_name(&self.role_session_name)?;
        endpoint_base(&self.endpoint)?;
        if self.duration < MIN_DURATION || self.duration > MAX_DURATION {
            return Err(Error::Config {
                what: "sts duration",
                reason: format!(
                    "{} s is outside {}..={} s",
                    self.duration.as_secs(),
                    MIN_DURATION.as_secs(),
                    MAX_DURATION.as_secs()
                ),
            });
        }
        Ok(())
    }
}

fn validate_role_arn(arn: &str) -> Result<(), Error> {
    let ok = arn
        .strip_prefix("acs:ram::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, role)| {
            !account.is_empty() && !role.is_empty() && !arn.chars().any(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            what: "role_arn",
            reason: format!("{arn:?} is not a RAM role ARN (acs:ram::<account id>:role/<name>)"),
        })
    }
}

fn validate_session_name(name: &str) -> Result<(), Error> {
    let ok = (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            what: "role_session_name",
            reason: format!(
                "{name:?} must be 2 to 64 characters of letters, digits, '.', '_', '@' and '-'"
            ),
        })
    }
}

/// The endpoint as a URL prefix without a trailing slash.
fn endpoint_base(endpoint: &str) -> Result<String, Error> {
    let bad = |reason: String| Error::Config {
        what: "sts endpoint",
        reason,
    };
    let url = reqwest::Url::parse(endpoint).map_err(|e| bad(format!("{endpoint:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("{endpoint:?} is not an http(s) URL")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{endpoint:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
        return Err(bad(format!(
            "{endpoint:?} must be a scheme and host (and port) only, e.g. {DEFAULT_STS_ENDPOINT}"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// How long before expiry credentials with the given lifetime are renewed (see
/// [`RENEW_MIN_REMAINING`]).
pub(crate) fn renew_margin(lifetime: Duration) -> Duration {
    let share = lifetime * RENEW_LIFETIME_PERCENT / 100;
    share.max(RENEW_MIN_REMAINING).min(lifetime / 2)
}

/// Temporary credentials and what is known about their lifetime.
#[derive(Debug, Clone)]
struct Cached {
    credentials: Credentials,
    obtained_at: DateTime<Utc>,
    expiration: DateTime<Utc>,
}

impl Cached {
    fn lifetime(&self) -> Duration {
        (self.expiration - self.obtained_at)
            .to_std()
            .unwrap_or_default()
    }

    /// Whether they may still be handed out.
    fn usable(&self, now: DateTime<Utc>) -> bool {
        now + EXPIRY_SAFETY_MARGIN < self.expiration
    }

    /// Whether they are in their renewal window.
    fn due(&self, now: DateTime<Utc>) -> bool {
        now + renew_margin(self.lifetime()) >= self.expiration
    }
}

/// What the single-flight refresh remembers between attempts; guarded by the refresh lock.
#[derive(Debug, Default)]
struct RefreshState {
    /// When the last attempt failed, and how.
    last_failure: Option<(DateTime<Utc>, StsError)>,
}

/// A [`CredentialsProvider`] that assumes a RAM role through STS and keeps the temporary
/// credentials fresh. Cheap to share behind an `Arc`.
pub struct StsAssumeRoleProvider {
    base: Arc<dyn CredentialsProvider>,
    config: AssumeRoleConfig,
    endpoint: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Read on every call; held only for a copy, never across an await.
    cache: StdMutex<Option<Cached>>,
    /// Held across the STS call, so at most one refresh runs at a time.
    refresh: tokio::sync::Mutex<RefreshState>,
    /// Refresh attempts finished (successful or not), to tell a waiter whether the attempt it
    /// waited for has happened.
    attempts: AtomicU64,
}

impl fmt::Debug for StsAssumeRoleProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsAssumeRoleProvider")
            .field("role_arn", &self.config.role_arn)
            .field("role_session_name", &self.config.role_session_name)
            .field("endpoint", &self.endpoint)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl StsAssumeRoleProvider {
    /// A provider on the system clock. `base` signs the `AssumeRole` calls.
    pub fn new(
        base: Arc<dyn CredentialsProvider>,
        config: AssumeRoleConfig,
    ) -> Result<Self, Error> {
        Self::with_clock(base, config, Arc::new(SystemClock))
    }

    /// A provider on a given clock (tests advance it to reach the renewal window).
    pub fn with_clock(
        base: Arc<dyn CredentialsProvider>,
        config: AssumeRoleConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let endpoint = endpoint_base(&config.endpoint)?;
        let http = super::http::http_client_builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A signed query must not be replayed to wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::Transport)?;
        Ok(Self {
            base,
            config,
            endpoint,
            http,
            clock,
            cache: StdMutex::new(None),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
            attempts: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &AssumeRoleConfig {
        &self.config
    }

    /// When the cached credentials expire, if there are any.
    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        self.cached().map(|c| c.expiration)
    }

    fn cached(&self) -> Option<Cached> {
        // A poisoned lock only means another thread panicked while copying; the data is intact.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn store(&self, cached: Cached) {
        *self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cached);
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        let now = self.clock.now();
        let cached = self.cached();
        if let Some(c) = &cached {
            if c.usable(now) && !c.due(now) {
                return Ok(c.credentials.clone());
            }
            if c.usable(now) {
                // In the renewal window: one caller renews, the others carry on with what they
                // have instead of queueing behind the STS call.
                return match self.refresh.try_lock() {
                    Ok(mut state) => Ok(self.renew(&mut state, c).await),
                    Err(_) => Ok(c.credentials.clone()),
                };
            }
        }
        // Nothing usable: wait for the refresh in flight, if any, and share its outcome.
        let seen = self.attempts.load(Ordering::Acquire);
        let mut state = self.refresh.lock().await;
        let now = self.clock.now();
        if let Some(c) = self.cached().filter(|c| c.usable(now)) {
            return Ok(c.credentials.clone());
        }
        if self.attempts.load(Ordering::Acquire) != seen
            && let Some((_, e)) = &state.last_failure
        {
            return Err(e.clone().into_credentials_error(&self.config.role_arn));
        }
        match self.fetch_and_record(&mut state).await {
            Ok(c) => Ok(c.credentials),
            Err(e) => {
                if cached.is_some() {
                    warn!(
                        role_arn = %self.config.role_arn,
                        transient = e.is_transient(),
                        error = %e,
                        "STS credentials expired and could not be renewed"
                    );
                }
                Err(e.into_credentials_error(&self.config.role_arn))
            }
        }
    }

    /// Renews credentials that are due but still usable; on failure keeps `current`.
    async fn renew(&self, state: &mut RefreshState, current: &Cached) -> Credentials {
        let now = self.clock.now();
        // Another caller may have renewed between our look at the cache and the lock.
        if let Some(c) = self.cached().filter(|c| !c.due(now)) {
            return c.credentials;
        }
        if let Some((failed_at, _)) = &state.last_failure
            && now < *failed_at + RENEW_RETRY_INTERVAL
        {
            return current.credentials.clone();
        }
        match self.fetch_and_record(state).await {
            Ok(c) => c.credentials,
            Err(e) => {
                let remaining_s = (current.expiration - now).num_seconds();
                warn!(
                    role_arn = %self.config.role_arn,
                    remaining_s,
                    transient = e.is_transient(),
                    error = %e,
                    "renewing STS credentials failed; using the cached ones until they expire"
                );
                current.credentials.clone()
            }
        }
    }

    /// One `AssumeRole` call; stores the result or remembers the failure.
    async fn fetch_and_record(&self, state: &mut RefreshState) -> Result<Cached, StsError> {
        let result = self.assume_role().await;
        match &result {
            Ok(c) => {
                state.last_failure = None;
                self.store(c.clone());
                info!(
                    role_arn = %self.config.role_arn,
                    access_key_id = %c.credentials.access_key_id,
                    expiration = %c.expiration.format("%Y-%m-%dT%H:%M:%SZ"),
                    "assumed RAM role"
                );
            }
            Err(e) => state.last_failure = Some((self.clock.now(), e.clone())),
        }
        self.attempts.fetch_add(1, Ordering::AcqRel);
        result
    }

    async fn assume_role(&self) -> Result<Cached, StsError> {
        let base = self
            .base
            .credentials()
            .await
            .map_err(|e| StsError::BaseCredentials(Arc::new(e)))?;
        let now = self.clock.now();
        let timestamp = rpc_timestamp(now);
        let nonce = signature_nonce();
        let duration = self.config.duration.as_secs().to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("Action", "AssumeRole"),
            ("Format", "JSON"),
            ("Version", STS_API_VERSION),
            ("RoleArn", &self.config.role_arn),
            ("RoleSessionName", &self.config.role_session_name),
            ("DurationSeconds", &duration),
            ("AccessKeyId", &base.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ];
        if let Some(token) = &base.security_token {
            // Base credentials that are themselves temporary must present their token.
            params.push(("SecurityToken", token.expose()));
        }
        let signature =
            signing::sign_rpc(&base.secret, &signing::rpc_string_to_sign("GET", &params));
        let url = format!(
            "{}/?{}&{}={}",
            self.endpoint,
            signing::rpc_canonicalized_query(&params),
            signing::RPC_SIGNATURE_PARAM,
            signing::rpc_percent_encode(&signature)
        );

        debug!(role_arn = %self.config.role_arn, endpoint = %self.endpoint, "calling STS AssumeRole");
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| StsError::Transport(Arc::new(e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| StsError::Transport(Arc::new(e)))?;
        if !(200..300).contains(&status) {
            let error = StsServiceError::from_response(status, &body);
            if error.is_authentication_failure() {
                // The base AccessKey was refused: a provider that can read it again (a rotated
                // secret) does so on the next attempt.
                self.base.rejected();
            }
            return Err(StsError::Service(error));
        }
        let received_at = self.clock.now();
        parse_assume_role(&body, received_at)
    }
}

impl CredentialsProvider for StsAssumeRoleProvider {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(self.get())
    }

    /// MaxCompute refused the role's credentials: drop them, so the next request assumes the
    /// role again.
    fn rejected(&self) -> bool {
        *self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        true
    }
}

/// The `Timestamp` format of RPC requests: UTC, `yyyy-MM-ddTHH:mm:ssZ`.
pub(crate) fn rpc_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random version-4 UUID string; STS rejects a nonce it has seen before.
fn signature_nonce() -> String {
    let v = rand::random::<u128>();
    // Set the version (4) and variant (10xx) bits so the value is a well-formed UUID.
    let v = (v & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (v >> 96) as u32,
        ((v >> 80) & 0xffff) as u16,
        ((v >> 64) & 0xffff) as u16,
        ((v >> 48) & 0xffff) as u16,
        (v & 0xffff_ffff_ffff) as u64
    )
}

/// Parses a successful `AssumeRole` answer received at `received_at`.
fn parse_assume_role(body: &[u8], received_at: DateTime<Utc>) -> Result<Cached, StsError> {
    // No Debug on purpose: these hold the secret and token as plain strings until wrapped.
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        credentials: AnswerCredentials,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct AnswerCredentials {
        access_key_id: String,
        access_key_secret: String,
        security_token: String,
        expiration: String,
    }
    // serde's message names the missing field or the position, never the values.
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| StsError::Protocol(e.to_string()))?;
    let c = answer.credentials;
    if c.access_key_id.is_empty() || c.access_key_secret.is_empty() || c.security_token.is_empty() {
        return Err(StsError::Protocol(
            "empty AccessKeyId, AccessKeySecret or SecurityToken".to_owned(),
        ));
    }
    let expiration = DateTime::parse_from_rfc3339(&c.expiration)
        .map_err(|e| StsError::Protocol(format!("Expiration {:?}: {e}", c.expiration)))?
        .with_timezone(&Utc);
    if expiration <= received_at {
        return Err(StsError::Protocol(format!(
            "Expiration {} is not in the future (clock says {})",
            rpc_timestamp(expiration),
            rpc_timestamp(received_at)
        )));
    }
    Ok(Cached {
        credentials: Credentials {
            access_key_id: c.access_key_id,
            secret: Secret::new(c.access_key_secret),
            security_token: Some(Secret::new(c.security_token)),
        },
        obtained_at: received_at,
        expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::super::error_text::MAX_RAW_MESSAGE;
    use super::*;

    #[test]
    fn renewal_margin_rule() {
        let m = |s| renew_margin(Duration::from_secs(s)).as_secs();
        assert_eq!(m(3600), 720); // 20 % of an hour
        assert_eq!(m(900), 300); // the 5-minute floor
        assert_eq!(m(1500), 300); // 20 % is exactly 5 minutes
        assert_eq!(m(2000), 400);
        assert_eq!(m(120), 60); // never more than half the lifetime
        assert_eq!(m(0), 0);
    }

    #[test]
    fn session_names() {
        for ok in ["ab", "kafka-sink.fn_1@prod", &"a".repeat(64)] {
            assert!(validate_session_name(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "", "has space", "slash/no", "ünï", &"a".repeat(65)] {
            let e = validate_session_name(bad).unwrap_err();
            assert!(e.to_string().contains("role_session_name"), "{e}");
        }
    }

    #[test]
    fn role_arns() {
        assert!(validate_role_arn("acs:ram::1234567890123456:role/kafka-sink").is_ok());
        for bad in [
            "",
            "arn:aws:iam::1:role/x",
            "acs:ram:::role/x",
            "acs:ram::1:role/",
            "acs:ram::1:user/x",
            "acs:ram::1:role/x y",
        ] {
            assert!(validate_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_validation_names_the_field() {
        let base = AssumeRoleConfig::new("acs:ram::1:role/r", "sink");
        assert_eq!(base.validate().ok(), Some(()));
        assert_eq!(base.endpoint, DEFAULT_STS_ENDPOINT);
        assert_eq!(base.duration, Duration::from_secs(3600));

        let mut c = base.clone();
        c.duration = Duration::from_secs(899);
        assert!(c.validate().unwrap_err().to_string().contains("900..=3600"));
        c.duration = Duration::from_secs(3601);
        assert!(c.validate().is_err());
        c.duration = MIN_DURATION;
        assert!(c.validate().is_ok());

        for bad in [
            "sts.aliyuncs.com",
            "ftp://sts.aliyuncs.com",
            "https://sts.aliyuncs.com/x",
            "https://sts.aliyuncs.com/?a=b",
        ] {
            let mut c = base.clone();
            c.endpoint = bad.to_owned();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("sts endpoint"), "{bad}: {e}");
        }
        assert_eq!(
            endpoint_base("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            endpoint_base(DEFAULT_STS_ENDPOINT).unwrap(),
            DEFAULT_STS_ENDPOINT
        );
    }

    #[test]
    fn error_classification() {
        let e = |status, code: &str| StsServiceError {
            status,
            code: code.to_owned(),
            message: String::new(),
            request_id: None,
        };
        for (status, code) in [
            (503, "ServiceUnavailable"),
            (500, "InternalError"),
            (502, ""),
            (429, ""),
            (400, "Throttling.User"),
            (400, "Throttling"),
            (400, "SignatureNonceUsed"),
        ] {
            assert!(e(status, code).is_transient(), "{status} {code}");
        }
        for (status, code) in [
            (404, "InvalidAccessKeyId.NotFound"),
            (400, "SignatureDoesNotMatch"),
            (403, "NoPermission"),
            (404, "EntityNotExist.Role"),
            (400, "InvalidParameter.DurationSeconds"),
            (400, "InvalidTimeStamp.Expired"),
        ] {
            assert!(!e(status, code).is_transient(), "{status} {code}");
        }
    }

    #[test]
    fn error_bodies() {
        let body = br#"{"RequestId":"r1","HostId":"sts.aliyuncs.com","Code":"NoPermission","Message":"You are not authorized"}"#;
        let e = StsServiceError::from_response(403, body);
        assert_eq!(e.code, "NoPermission");
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        assert_eq!(
            e.to_string(),
            "HTTP 403 NoPermission: You are not authorized (request id r1)"
        );
        let e = StsServiceError::from_response(502, "<html>bad gateway</html>".as_bytes());
        assert_eq!(e.code, "");
        assert_eq!(e.message, "<html>bad gateway</html>");
        let long = StsServiceError::from_response(502, "é".repeat(600).as_bytes());
        assert!(long.message.len() <= MAX_RAW_MESSAGE + "…".len());
    }

    #[test]
    fn answers() {
        let at = DateTime::parse_from_rfc3339("2015-04-09T10:52:19Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = br#"{"RequestId":"6894B13B-6D71-4EF5-88FA-F32781734A7F",
            "AssumedRoleUser":{"Arn":"acs:ram::123456789012****:role/adminrole/alice","AssumedRoleId":"34458433936495****:alice"},
            "Credentials":{"SecurityToken":"CAIS-token","Expiration":"2015-04-09T11:52:19Z",
            "AccessKeySecret":"wyLTSmsyPGP1ohvvw8xYgB29dlGI8KMiH2pK****","AccessKeyId":"STS.L4aBSCSJVMuKg5U1****"}}"#;
        let c = parse_assume_role(body, at).unwrap();
        assert_eq!(c.credentials.access_key_id, "STS.L4aBSCSJVMuKg5U1****");
        assert_eq!(
            c.credentials.secret.expose(),
            "wyLTSmsyPGP1ohvvw8xYgB29dlGI8KMiH2pK****"
        );
        assert_eq!(
            c.credentials.security_token.as_ref().map(Secret::expose),
            Some("CAIS-token")
        );
        assert_eq!(c.lifetime(), Duration::from_secs(3600));
        assert!(c.usable(at) && !c.due(at));

        // Missing fields, a bad or past expiration: protocol errors, permanent, no secrets in
        // the message.
        let missing = parse_assume_role(br#"{"Credentials":{"AccessKeyId":"x"}}"#, at).unwrap_err();
        assert!(matches!(missing, StsError::Protocol(_)) && !missing.is_transient());
        let past =
            String::from_utf8_lossy(body).replace("2015-04-09T11:52:19Z", "2015-04-09T10:00:00Z");
        let e = parse_assume_role(past.as_bytes(), at).unwrap_err();
        assert!(e.to_string().contains("not in the future"), "{e}");
        assert!(!e.to_string().contains("wyLTSmsy"));
        let bad = String::from_utf8_lossy(body).replace("2015-04-09T11:52:19Z", "tomorrow");
        assert!(parse_assume_role(bad.as_bytes(), at).is_err());
    }

    #[test]
    fn nonces_are_uuid_shaped_and_differ() {
        let a = signature_nonce();
        let b = signature_nonce();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{a}"
        );
    }

    #[test]
    fn timestamps() {
        let at = DateTime::parse_from_rfc3339("2025-11-04T09:05:07.999+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rpc_timestamp(at), "2025-11-04T09:05:07Z");
    }
}

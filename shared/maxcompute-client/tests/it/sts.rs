//! `StsAssumeRoleProvider` against a real loopback STS stand-in, and a MaxCompute client that
//! signs with the credentials it obtains.
//!
//! The stand-in is an axum server on 127.0.0.1 that verifies the RPC signature of every request
//! with the emulator's verifier (`maxcompute_emulator::signature`, recomputed from the query it
//! actually received), checks the required
//! parameters, the timestamp window and nonce uniqueness the way STS does, and issues temporary
//! credentials with a configurable lifetime. It and the provider share one test clock, so a test
//! reaches the renewal window by advancing that clock instead of waiting.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::support::{self, Reply, TestServer, deadline, step, table_xml};
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maxcompute_client::{
    AssumeRoleConfig, Clock, CredentialsError, CredentialsFuture, CredentialsProvider, Error,
    FixedJitter, StaticCredentials, StsAssumeRoleProvider, StsError,
};
use maxcompute_core::signing::{Credentials, Secret};
use maxcompute_emulator::signature::RpcQuery;

const BASE_ID: &str = "LTAI-base-id";
const BASE_SECRET: &str = "base-secret-value";
const ROLE_ARN: &str = "acs:ram::1234567890123456:role/kafka-sink";
const SESSION: &str = "kafka-sink@test";

// ---------------------------------------------------------------------------------------------
// A clock both sides read.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now())))
    }

    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// The STS stand-in.
// ---------------------------------------------------------------------------------------------

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
struct StsRecorded {
    query: RpcQuery,
    /// What the stand-in found wrong with the request.
    problems: Vec<String>,
    /// The status it answered with.
    status: u16,
    code: Option<String>,
}

/// An identity allowed to call AssumeRole.
#[derive(Debug, Clone)]
struct Account {
    id: String,
    secret: Secret,
    /// Required (and checked) when the caller's credentials are themselves STS credentials.
    token: Option<String>,
}

#[derive(Debug)]
struct StsState {
    clock: Arc<TestClock>,
    accounts: Vec<Account>,
    roles: Vec<String>,
    lifetime: Mutex<Duration>,
    /// Answers (status, code) given instead of credentials to the next verified requests.
    failures: Mutex<VecDeque<(u16, &'static str)>>,
    /// Credentials to issue every time instead of numbered ones (for the end-to-end test).
    fixed: Mutex<Option<(String, String, String)>>,
    issued: Mutex<u64>,
    nonces: Mutex<HashSet<String>>,
    recorded: Mutex<Vec<StsRecorded>>,
}

#[derive(Debug, Clone)]
struct StsStandIn {
    addr: SocketAddr,
    state: Arc<StsState>,
}

impl StsStandIn {
    async fn start(clock: Arc<TestClock>) -> Self {
        Self::start_with(
            clock,
            vec![Account {
                id: BASE_ID.to_owned(),
                secret: Secret::new(BASE_SECRET),
                token: None,
            }],
        )
        .await
    }

    async fn start_with(clock: Arc<TestClock>, accounts: Vec<Account>) -> Self {
        let state = Arc::new(StsState {
            clock,
            accounts,
            roles: vec![ROLE_ARN.to_owned()],
            lifetime: Mutex::new(Duration::from_secs(3600)),
            failures: Mutex::new(VecDeque::new()),
            fixed: Mutex::new(None),
            issued: Mutex::new(0),
            nonces: Mutex::new(HashSet::new()),
            recorded: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the STS stand-in");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(sts_handle).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_lifetime(&self, lifetime: Duration) {
        *self.state.lifetime.lock().unwrap() = lifetime;
    }

    fn fail_next(&self, status: u16, code: &'static str) {
        self.state
            .failures
            .lock()
            .unwrap()
            .push_back((status, code));
    }

    fn issue_fixed(&self, id: &str, secret: &str, token: &str) {
        *self.state.fixed.lock().unwrap() =
            Some((id.to_owned(), secret.to_owned(), token.to_owned()));
    }

    fn requests(&self) -> Vec<StsRecorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// Asserts no request broke the protocol (failures the test asked for are not problems).
    fn assert_clean(&self) {
        for (i, r) in self.requests().iter().enumerate() {
            assert!(r.problems.is_empty(), "STS request #{i}: {:?}", r.problems);
        }
    }

    /// A provider for this stand-in signing with the base AccessKey.
    fn provider(&self, clock: &Arc<TestClock>) -> StsAssumeRoleProvider {
        self.provider_with(clock, Credentials::access_key(BASE_ID, BASE_SECRET), |_| {})
    }

    fn provider_with(
        &self,
        clock: &Arc<TestClock>,
        base: Credentials,
        tweak: impl FnOnce(&mut AssumeRoleConfig),
    ) -> StsAssumeRoleProvider {
        let mut config = AssumeRoleConfig::new(ROLE_ARN, SESSION);
        config.endpoint = self.endpoint();
        tweak(&mut config);
        StsAssumeRoleProvider::with_clock(
            Arc::new(StaticCredentials::new(base)),
            config,
            clock.clone(),
        )
        .unwrap()
    }
}

fn sts_error(status: u16, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "RequestId": "req-0000",
        "HostId": "sts.aliyuncs.com",
        "Code": code,
        "Message": message,
    })
    .to_string();
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Checks a request the way STS does and decides the answer: `Err((status, code, problem))`
/// for a rejected request (a `problem` is something a correct client never does).
fn check(
    state: &StsState,
    method: &Method,
    uri: &Uri,
    q: &RpcQuery,
) -> Result<(), (u16, &'static str, Option<String>)> {
    let reject = |status, code, problem: String| Err((status, code, Some(problem)));
    if method != Method::GET || uri.path() != "/" {
        return reject(
            404,
            "InvalidAction.NotFound",
            format!("{method} {}", uri.path()),
        );
    }
    for name in [
        "Action",
        "Format",
        "Version",
        "RoleArn",
        "RoleSessionName",
        "DurationSeconds",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
    ] {
        if q.get(name).is_none_or(str::is_empty) {
            return reject(400, "MissingParameter", format!("missing {name}"));
        }
        if q.params.iter().filter(|(n, _)| n == name).count() > 1 {
            return reject(400, "InvalidParameter", format!("repeated {name}"));
        }
    }
    if q.signature.is_none() {
        return reject(400, "MissingSignature", "no Signature".to_owned());
    }
    let id = q.get("AccessKeyId").unwrap_or_default();
    let Some(account) = state.accounts.iter().find(|a| a.id == id) else {
        return reject(
            404,
            "InvalidAccessKeyId.NotFound",
            format!("unknown id {id}"),
        );
    };
    if !q.verify("GET", &account.secret) {
        return reject(
            400,
            "SignatureDoesNotMatch",
            format!("signature mismatch over {:?}", q.string_to_sign("GET")),
        );
    }
    if q.get("SecurityToken") != account.token.as_deref() {
        return reject(
            400,
            "InvalidSecurityToken.Mismatch",
            format!("SecurityToken {:?}", q.get("SecurityToken")),
        );
    }
    for (name, want) in [
        ("Action", "AssumeRole"),
        ("Format", "JSON"),
        ("Version", "2015-04-01"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
    ] {
        if q.get(name) != Some(want) {
            return reject(400, "InvalidParameter", format!("{name} {:?}", q.get(name)));
        }
    }
    let timestamp = q.get("Timestamp").unwrap_or_default();
    let in_window = chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| (state.clock.now() - t.and_utc()).num_seconds().abs())
        .is_some_and(|skew| skew <= 15 * 60);
    if !in_window || timestamp.len() != 20 {
        return reject(
            400,
            "InvalidTimeStamp.Expired",
            format!("Timestamp {timestamp}"),
        );
    }
    let nonce = q.get("SignatureNonce").unwrap_or_default().to_owned();
    if !state.nonces.lock().unwrap().insert(nonce.clone()) {
        return reject(400, "SignatureNonceUsed", format!("nonce {nonce} reused"));
    }
    let session = q.get("RoleSessionName").unwrap_or_default();
    if !(2..=64).contains(&session.len())
        || !session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
    {
        return reject(400, "InvalidParameter.RoleSessionName", session.to_owned());
    }
    let duration: u64 = q
        .get("DurationSeconds")
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    if !(900..=3600).contains(&duration) {
        return reject(
            400,
            "InvalidParameter.DurationSeconds",
            duration.to_string(),
        );
    }
    if let Some((status, code)) = state.failures.lock().unwrap().pop_front() {
        return Err((status, code, None));
    }
    if !state
        .roles
        .iter()
        .any(|r| Some(r.as_str()) == q.get("RoleArn"))
    {
        return Err((404, "EntityNotExist.Role", None));
    }
    Ok(())
}

async fn sts_handle(State(state): State<Arc<StsState>>, method: Method, uri: Uri) -> Response {
    let q = RpcQuery::parse(uri.query().unwrap_or(""));
    let outcome = check(&state, &method, &uri, &q);
    let mut record = StsRecorded {
        query: q,
        problems: Vec::new(),
        status: 200,
        code: None,
    };
    let response = match outcome {
        Err((status, code, problem)) => {
            record.problems.extend(problem);
            record.status = status;
            record.code = Some(code.to_owned());
            sts_error(status, code, "rejected by the stand-in")
        }
        Ok(()) => {
            let n = {
                let mut issued = state.issued.lock().unwrap();
                *issued += 1;
                *issued
            };
            let (id, secret, token) = state.fixed.lock().unwrap().clone().unwrap_or_else(|| {
                (
                    format!("STS.tmp{n}"),
                    format!("tmpSecret{n}"),
                    format!("CAIS.token{n}"),
                )
            });
            let lifetime = *state.lifetime.lock().unwrap();
            let expiration = state.clock.now() + chrono::Duration::from_std(lifetime).unwrap();
            let body = serde_json::json!({
                "RequestId": format!("req-{n}"),
                "AssumedRoleUser": {
                    "Arn": format!("{ROLE_ARN}/{}", record.query.get("RoleSessionName").unwrap_or_default()),
                    "AssumedRoleId": format!("3445843393649500{n}:session"),
                },
                "Credentials": {
                    "AccessKeyId": id,
                    "AccessKeySecret": secret,
                    "SecurityToken": token,
                    "Expiration": ts(expiration),
                },
            })
            .to_string();
            ([("content-type", "application/json")], body).into_response()
        }
    };
    state.recorded.lock().unwrap().push(record);
    response
}

fn sts_error_of(e: &CredentialsError) -> &StsError {
    StsError::of(e).unwrap_or_else(|| panic!("no StsError behind {e:?}"))
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_first_call_fetches_and_the_second_is_served_from_the_cache() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider(&clock);

    let first = provider.credentials().await.unwrap();
    assert_eq!(first.access_key_id, "STS.tmp1");
    assert_eq!(first.secret.expose(), "tmpSecret1");
    assert_eq!(
        first.security_token.as_ref().map(Secret::expose),
        Some("CAIS.token1")
    );
    let second = provider.credentials().await.unwrap();
    assert_eq!(second, first);

    let requests = sts.requests();
    assert_eq!(requests.len(), 1);
    sts.assert_clean();
    let q = &requests[0].query;
    assert_eq!(q.get("RoleArn"), Some(ROLE_ARN));
    assert_eq!(q.get("RoleSessionName"), Some(SESSION));
    assert_eq!(q.get("DurationSeconds"), Some("3600"));
    assert_eq!(q.get("AccessKeyId"), Some(BASE_ID));
    assert_eq!(q.get("SecurityToken"), None);
    assert_eq!(q.get("Timestamp"), Some(ts(clock.now()).as_str()));
    assert_eq!(
        provider.expiration(),
        Some(
            chrono::NaiveDateTime::parse_from_str(
                &ts(clock.now() + chrono::Duration::hours(1)),
                "%Y-%m-%dT%H:%M:%SZ"
            )
            .unwrap()
            .and_utc()
        )
    );

    // Neither the provider nor its credentials print a secret.
    for text in [format!("{provider:?}"), format!("{first:?}")] {
        for secret in [BASE_SECRET, "tmpSecret1", "CAIS.token1"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn credentials_are_renewed_before_they_expire_and_the_new_ones_are_used() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider(&clock);
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp1"
    );

    // An hour's credentials are renewed 12 minutes (20 %) before expiry; at 47 minutes they are
    // still served from the cache.
    clock.advance(Duration::from_secs(47 * 60));
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp1"
    );
    assert_eq!(sts.requests().len(), 1);

    // At 48 minutes and a second, renewal happens, well before the expiry.
    clock.advance(Duration::from_secs(61));
    let renewed = provider.credentials().await.unwrap();
    assert_eq!(renewed.access_key_id, "STS.tmp2");
    assert_eq!(renewed.secret.expose(), "tmpSecret2");
    assert_eq!(sts.requests().len(), 2);
    assert_eq!(provider.credentials().await.unwrap(), renewed);
    assert_eq!(sts.requests().len(), 2);
    sts.assert_clean();

    // Short-lived credentials (15 minutes): renewed when 5 minutes are left.
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    sts.set_lifetime(Duration::from_secs(900));
    let provider = sts.provider_with(&clock, Credentials::access_key(BASE_ID, BASE_SECRET), |c| {
        c.duration = Duration::from_secs(900)
    });
    provider.credentials().await.unwrap();
    clock.advance(Duration::from_secs(599));
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp1"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp2"
    );
    assert_eq!(sts.requests()[0].query.get("DurationSeconds"), Some("900"));
    sts.assert_clean();
}

/// Captures what `tracing` writes, to check the warning and that it holds no secret.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// Single-threaded so the thread-local log subscriber sees every event of the provider.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_renewal_keeps_the_still_valid_credentials_and_logs_a_warning() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider(&clock);
    provider.credentials().await.unwrap();

    sts.fail_next(503, "ServiceUnavailable");
    clock.advance(Duration::from_secs(50 * 60));
    let kept = provider.credentials().await.unwrap();
    assert_eq!(kept.access_key_id, "STS.tmp1");
    assert_eq!(sts.requests().len(), 2);
    assert_eq!(
        sts.requests()[1].code.as_deref(),
        Some("ServiceUnavailable")
    );

    // Right after a failure STS is given a rest; the cached credentials keep serving.
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp1"
    );
    assert_eq!(sts.requests().len(), 2);

    // Later the renewal is tried again and succeeds.
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp2"
    );
    assert_eq!(sts.requests().len(), 3);
    sts.assert_clean();

    let text = logs.text();
    assert!(
        text.contains("renewing STS credentials failed") && text.contains("ServiceUnavailable"),
        "{text}"
    );
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("assumed RAM role"), "{text}");
    for secret in [
        BASE_SECRET,
        "tmpSecret1",
        "tmpSecret2",
        "CAIS.token1",
        "CAIS.token2",
        "Signature=",
    ] {
        assert!(!text.contains(secret), "log shows {secret}: {text}");
    }
}

#[tokio::test]
async fn expired_credentials_whose_renewal_fails_give_the_error() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider(&clock);
    provider.credentials().await.unwrap();

    sts.fail_next(503, "ServiceUnavailable");
    sts.fail_next(503, "ServiceUnavailable");
    clock.advance(Duration::from_secs(3600));
    let e = provider.credentials().await.unwrap_err();
    assert!(e.transient);
    assert_eq!(sts_error_of(&e).code(), Some("ServiceUnavailable"));
    assert!(e.message.contains(ROLE_ARN), "{}", e.message);
    // Expired credentials are never handed out, not even right after a failure.
    assert!(provider.credentials().await.is_err());
    // Once STS is back, the next call gets fresh credentials.
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp2"
    );
    assert_eq!(sts.requests().len(), 4);
}

#[tokio::test]
async fn a_failed_first_fetch_is_an_error_classified_once() {
    let cases: [(u16, &str, bool); 7] = [
        (503, "ServiceUnavailable", true),
        (500, "InternalError", true),
        (429, "Throttling", true),
        (400, "Throttling.User", true),
        (403, "NoPermission", false),
        (400, "InvalidParameter", false),
        (404, "InvalidAccessKeyId.NotFound", false),
    ];
    for (status, code, transient) in cases {
        let clock = TestClock::new();
        let sts = StsStandIn::start(clock.clone()).await;
        sts.fail_next(status, code);
        let provider = sts.provider(&clock);
        let e = provider.credentials().await.unwrap_err();
        assert_eq!(e.transient, transient, "{status} {code}");
        let inner = sts_error_of(&e);
        assert_eq!(inner.code(), Some(code));
        assert_eq!(inner.is_transient(), transient);
        assert!(e.to_string().contains(code), "{e}");
        assert_eq!(sts.requests().len(), 1);
    }

    // A role STS does not know.
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider_with(&clock, Credentials::access_key(BASE_ID, BASE_SECRET), |c| {
        c.role_arn = "acs:ram::1234567890123456:role/nobody".to_owned()
    });
    let e = provider.credentials().await.unwrap_err();
    assert!(!e.transient);
    assert_eq!(sts_error_of(&e).code(), Some("EntityNotExist.Role"));
    sts.assert_clean();

    // A base id STS does not know.
    let provider = sts.provider_with(
        &clock,
        Credentials::access_key("LTAI-unknown", BASE_SECRET),
        |_| {},
    );
    let e = provider.credentials().await.unwrap_err();
    assert!(!e.transient);
    assert_eq!(sts_error_of(&e).code(), Some("InvalidAccessKeyId.NotFound"));

    // Nobody listening: a transport error, transient.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut config = AssumeRoleConfig::new(ROLE_ARN, SESSION);
    config.endpoint = format!("http://{closed}");
    let provider = StsAssumeRoleProvider::with_clock(
        Arc::new(StaticCredentials::new(Credentials::access_key(
            BASE_ID,
            BASE_SECRET,
        ))),
        config,
        clock.clone(),
    )
    .unwrap();
    let e = provider.credentials().await.unwrap_err();
    assert!(e.transient, "{e:?}");
    assert!(matches!(sts_error_of(&e), StsError::Transport(_)), "{e:?}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

#[tokio::test]
async fn a_wrong_base_secret_is_signature_does_not_match_and_permanent() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider_with(
        &clock,
        Credentials::access_key(BASE_ID, "not-the-secret"),
        |_| {},
    );
    let e = provider.credentials().await.unwrap_err();
    assert!(!e.transient);
    assert_eq!(sts_error_of(&e).code(), Some("SignatureDoesNotMatch"));
    let requests = sts.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].problems[0].starts_with("signature mismatch"),
        "{:?}",
        requests[0].problems
    );
    assert!(!e.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn sts_base_credentials_send_their_security_token() {
    let clock = TestClock::new();
    let sts = StsStandIn::start_with(
        clock.clone(),
        vec![Account {
            id: "STS.base".to_owned(),
            secret: Secret::new("base-sts-secret"),
            token: Some("CAIS.base-token+/=".to_owned()),
        }],
    )
    .await;
    let provider = sts.provider_with(
        &clock,
        Credentials::sts("STS.base", "base-sts-secret", "CAIS.base-token+/="),
        |_| {},
    );
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp1"
    );
    sts.assert_clean();
    assert_eq!(
        sts.requests()[0].query.get("SecurityToken"),
        Some("CAIS.base-token+/=")
    );
}

/// Runs the calls in one task, polling every one of them once before any can finish: all are
/// under way (the first one asking STS, the others waiting on it) before the answer is even
/// read. Spawned tasks would leave that order to the scheduler, and a caller started after the
/// answer would ask again.
async fn together(
    mut calls: Vec<CredentialsFuture<'_>>,
) -> Vec<Result<Credentials, CredentialsError>> {
    let mut done: Vec<Option<Result<Credentials, CredentialsError>>> =
        calls.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (call, slot) in calls.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match call.as_mut().poll(cx) {
                    std::task::Poll::Ready(result) => *slot = Some(result),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn concurrent_callers_share_one_request() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    let provider = sts.provider(&clock);

    let calls = (0..16).map(|_| provider.credentials()).collect();
    for result in together(calls).await {
        assert_eq!(result.unwrap().access_key_id, "STS.tmp1");
    }
    assert_eq!(sts.requests().len(), 1);

    // In the renewal window one caller renews while the others keep the current credentials.
    clock.advance(Duration::from_secs(50 * 60));
    let calls = (0..16).map(|_| provider.credentials()).collect();
    let ids: Vec<String> = together(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().access_key_id)
        .collect();
    assert_eq!(
        ids.iter().filter(|id| *id == "STS.tmp2").count(),
        1,
        "only the renewing caller waits for STS: {ids:?}"
    );
    assert!(
        ids.iter().all(|id| id == "STS.tmp1" || id == "STS.tmp2"),
        "{ids:?}"
    );
    assert_eq!(sts.requests().len(), 2);
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id,
        "STS.tmp2"
    );
    sts.assert_clean();

    // Callers that waited for a failing attempt share its error instead of each asking again.
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    sts.fail_next(503, "ServiceUnavailable");
    let provider = sts.provider(&clock);
    let calls = (0..8).map(|_| provider.credentials()).collect();
    for result in together(calls).await {
        let e = result.unwrap_err();
        assert!(e.transient);
        assert_eq!(sts_error_of(&e).code(), Some("ServiceUnavailable"));
    }
    assert_eq!(sts.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// End to end: the MaxCompute client signs with what STS issued.
// ---------------------------------------------------------------------------------------------

const TABLE: &str = "/api/projects/my_proj/tables/test_kafka";
const TEMP_ID: &str = "STS.e2eAccessId";
const TEMP_TOKEN: &str = "CAIS-e2e-security-token";

#[tokio::test]
async fn the_client_signs_with_the_temporary_id_and_sends_the_token() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    // The MaxCompute stand-in verifies signatures with support::SECRET.
    sts.issue_fixed(TEMP_ID, support::SECRET, TEMP_TOKEN);
    let server = TestServer::start_with(
        vec![
            step("GET", TABLE, Reply::ok(table_xml())),
            step("GET", TABLE, Reply::ok(table_xml())),
        ],
        TEMP_ID,
        Some(TEMP_TOKEN),
    )
    .await;
    let client =
        server.client_with_provider(Arc::new(sts.provider(&clock)), FixedJitter(0.0), |_| {});
    for _ in 0..2 {
        client
            .table_schema("test_kafka", deadline(5.0))
            .await
            .unwrap();
    }
    server.assert_clean();
    sts.assert_clean();
    // Two MaxCompute requests, one AssumeRole.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(sts.requests().len(), 1);
    for r in server.requests() {
        assert!(
            r.h("authorization")
                .unwrap()
                .starts_with("ODPS STS.e2eAccessId:")
        );
        assert_eq!(r.h("authorization-sts-token"), Some(TEMP_TOKEN));
    }
    let debug = format!("{client:?}");
    assert!(!debug.contains(support::SECRET) && !debug.contains(TEMP_TOKEN));
}

#[tokio::test]
async fn a_transient_sts_failure_is_retried_by_the_client_and_a_permanent_one_is_not() {
    let clock = TestClock::new();
    let sts = StsStandIn::start(clock.clone()).await;
    sts.issue_fixed(TEMP_ID, support::SECRET, TEMP_TOKEN);
    sts.fail_next(503, "ServiceUnavailable");
    let server = TestServer::start_with(
        vec![step("GET", TABLE, Reply::ok(table_xml()))],
        TEMP_ID,
        Some(TEMP_TOKEN),
    )
    .await;
    let client =
        server.client_with_provider(Arc::new(sts.provider(&clock)), FixedJitter(0.0), |_| {});
    client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap();
    assert_eq!(sts.requests().len(), 2);
    assert_eq!(client.stats().retries, 1);
    server.assert_clean();

    // NoPermission: the client gives up at once and MaxCompute never sees a request.
    let sts = StsStandIn::start(clock.clone()).await;
    sts.fail_next(403, "NoPermission");
    let server = TestServer::start(vec![]).await;
    let client =
        server.client_with_provider(Arc::new(sts.provider(&clock)), FixedJitter(0.0), |_| {});
    let e = client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap_err();
    assert!(!e.is_transient());
    let Error::Credentials(inner) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(sts_error_of(inner).code(), Some("NoPermission"));
    assert_eq!(sts.requests().len(), 1);
    assert!(server.requests().is_empty());
}

#[test]
fn bad_configuration_is_refused_with_the_field_name() {
    let base: Arc<dyn CredentialsProvider> = Arc::new(StaticCredentials::new(
        Credentials::access_key(BASE_ID, BASE_SECRET),
    ));
    let attempt = |tweak: &dyn Fn(&mut AssumeRoleConfig)| {
        let mut config = AssumeRoleConfig::new(ROLE_ARN, SESSION);
        tweak(&mut config);
        StsAssumeRoleProvider::new(base.clone(), config)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(attempt(&|c| c.role_session_name = "x".to_owned()).contains("role_session_name"));
    assert!(attempt(&|c| c.role_arn = "role/x".to_owned()).contains("role_arn"));
    assert!(attempt(&|c| c.duration = Duration::from_secs(7200)).contains("sts duration"));
    assert!(attempt(&|c| c.endpoint = "sts.aliyuncs.com".to_owned()).contains("sts endpoint"));
    let mut ok = AssumeRoleConfig::new(ROLE_ARN, SESSION);
    ok.endpoint = "http://127.0.0.1:9".to_owned();
    assert!(StsAssumeRoleProvider::new(base, ok).is_ok());
}

//! A scripted MaxCompute stand-in for the client tests: a real axum HTTP server on loopback
//! that verifies every request's v2 (or service-API v4) signature with the emulator's verifier
//! (`maxcompute_emulator::signature`, recomputed from what it actually received), checks the common
//! headers, inflates deflated bodies, records each request and answers from a script of expected
//! (method, path) steps.
//!
//! The service API lives under `/api`, the tunnel at the root of the same server. Used by the
//! other modules of this test binary.

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maxcompute_client::{
    Client, ClientConfig, CredentialsProvider, FixedJitter, RetryPolicy, StaticCredentials,
};
use maxcompute_core::codec::{Codec, decompress};
use maxcompute_core::signing::{self, Credentials, Secret};
use maxcompute_emulator::signature;

pub(crate) const ACCESS_ID: &str = "testAccessId";
pub(crate) const SECRET: &str = "testAccessKeySecret";
pub(crate) const PROJECT: &str = "my_proj";
pub(crate) const USER_AGENT: &str = "sink-tests/1";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    /// The raw path, e.g. `/api/projects/my_proj/tables/t`.
    pub path: String,
    /// Decoded query parameters in wire order.
    pub query: Vec<(String, String)>,
    /// The raw query string as received.
    pub raw_query: String,
    pub headers: HeaderMap,
    /// The body, decompressed when it came with a `Content-Encoding`.
    pub body: Vec<u8>,
    pub wire_body_len: usize,
    /// The `Content-Encoding` it came with.
    pub encoding: Option<String>,
    /// The region of a v4 signature; `None` for v2.
    pub v4_region: Option<String>,
    /// Everything the server found wrong with the request.
    pub problems: Vec<String>,
}

impl Recorded {
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How long the server waits before answering.
    pub delay: Option<Duration>,
}

impl Reply {
    pub(crate) fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: None,
        }
    }

    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub(crate) fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, body)
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The service API's XML error shape.
    pub(crate) fn xml_error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        Self::new(
            status,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId><HostId>localhost</HostId></Error>"
            ),
        )
        .header("Content-Type", "application/xml")
    }

    /// The tunnel's JSON error shape.
    pub(crate) fn json_error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        Self::new(
            status,
            serde_json::json!({"Code": code, "Message": message, "RequestId": request_id})
                .to_string(),
        )
        .header("Content-Type", "application/json")
    }
}

/// An expected request and the answer to it.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub method: &'static str,
    pub path: String,
    pub reply: Reply,
}

pub(crate) fn step(method: &'static str, path: &str, reply: Reply) -> Step {
    Step {
        method,
        path: path.to_owned(),
        reply,
    }
}

#[derive(Debug)]
struct ServerState {
    steps: Mutex<VecDeque<Step>>,
    fallback: Mutex<Option<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
    access_id: String,
    secret: Secret,
    sts_token: Option<String>,
}

/// A running scripted server; it stops when the test's runtime ends.
#[derive(Debug, Clone)]
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

impl TestServer {
    /// Starts a server expecting AccessKey-signed requests.
    pub(crate) async fn start(steps: Vec<Step>) -> Self {
        Self::start_with(steps, ACCESS_ID, None).await
    }

    /// Starts a server expecting requests signed by `access_id` with [`SECRET`], carrying
    /// `sts_token` when given.
    pub(crate) async fn start_with(
        steps: Vec<Step>,
        access_id: &str,
        sts_token: Option<&str>,
    ) -> Self {
        let state = Arc::new(ServerState {
            steps: Mutex::new(steps.into()),
            fallback: Mutex::new(None),
            recorded: Mutex::new(Vec::new()),
            access_id: access_id.to_owned(),
            secret: Secret::new(SECRET),
            sts_token: sts_token.map(str::to_owned),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the test server");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state }
    }

    /// The answer to requests once the script is used up.
    pub(crate) fn set_fallback(&self, reply: Reply) {
        *self.state.fallback.lock().unwrap() = Some(reply);
    }

    pub(crate) fn service_endpoint(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub(crate) fn tunnel_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// Asserts the script was used up and no request had a problem.
    pub(crate) fn assert_clean(&self) {
        let requests = self.requests();
        for (i, r) in requests.iter().enumerate() {
            assert!(
                r.problems.is_empty(),
                "request #{i} {} {}?{}: {:?}",
                r.method,
                r.path,
                r.raw_query,
                r.problems
            );
        }
        let left = self.state.steps.lock().unwrap();
        assert!(left.is_empty(), "unused script steps: {left:?}");
    }

    /// A client for this server: configured tunnel endpoint, zero jitter (retries do not
    /// wait unless a test says so), short poll interval.
    pub(crate) fn client(&self) -> Client {
        self.client_with(|_| {})
    }

    pub(crate) fn client_with(&self, tweak: impl FnOnce(&mut ClientConfig)) -> Client {
        self.client_full(
            Credentials::access_key(ACCESS_ID, SECRET),
            FixedJitter(0.0),
            tweak,
        )
    }

    pub(crate) fn client_full(
        &self,
        credentials: Credentials,
        jitter: FixedJitter,
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> Client {
        self.client_with_provider(Arc::new(StaticCredentials::new(credentials)), jitter, tweak)
    }

    /// A client for this server whose credentials come from `provider` (e.g. STS AssumeRole).
    pub(crate) fn client_with_provider(
        &self,
        provider: Arc<dyn CredentialsProvider>,
        jitter: FixedJitter,
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> Client {
        let mut config = ClientConfig::new(self.service_endpoint(), PROJECT);
        config.tunnel_endpoint = Some(self.tunnel_endpoint());
        config.user_agent = USER_AGENT.to_owned();
        config.instance_poll_interval = Duration::from_millis(20);
        config.retry = RetryPolicy {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            max_attempts: 10,
        };
        tweak(&mut config);
        Client::with_jitter(config, provider, Arc::new(jitter)).unwrap()
    }
}

/// A deadline `secs` seconds from now.
pub(crate) fn deadline(secs: f64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs_f64(secs)
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let raw_query = uri.query().unwrap_or("").to_owned();
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let is_service = path.starts_with("/api/");
    let mut problems = Vec::new();

    // Signature: recomputed from exactly what arrived.
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let header_refs: Vec<(&str, &str)> = header_pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let prefix = if is_service { "/api" } else { "" };
    let string_to_sign = signing::canonical_string_for_request(
        method.as_str(),
        &header_refs,
        &path_and_query,
        prefix,
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut signature_ok = false;
    let mut v4_region = None;
    match header("authorization").map(signature::parse_authorization) {
        None => problems.push("no Authorization header".to_owned()),
        Some(Err(e)) => problems.push(format!("bad Authorization: {e}")),
        Some(Ok(auth)) => {
            if auth.access_key_id != state.access_id {
                problems.push(format!("access id {}", auth.access_key_id));
            } else if let Some(scope) = &auth.v4_scope {
                v4_region = Some(scope.region.clone());
                let today = signing::v4_date8(chrono::Utc::now());
                if !is_service {
                    problems.push("v4 signature on the tunnel".to_owned());
                } else if scope.date8 != today {
                    problems.push(format!("v4 scope date {} is not today", scope.date8));
                } else if !signature::verify_v4(
                    &state.secret,
                    &scope.date8,
                    &scope.region,
                    &string_to_sign,
                    &auth.signature,
                ) {
                    problems.push(format!("v4 signature mismatch over {string_to_sign:?}"));
                } else {
                    signature_ok = true;
                }
            } else if !signature::verify_v2(&state.secret, &string_to_sign, &auth.signature) {
                problems.push(format!("signature mismatch over {string_to_sign:?}"));
            } else {
                signature_ok = true;
            }
        }
    }
    match header("date").map(chrono::DateTime::parse_from_rfc2822) {
        Some(Ok(d)) => {
            let skew = (chrono::Utc::now() - d.with_timezone(&chrono::Utc))
                .num_seconds()
                .abs();
            if skew > 900 {
                problems.push(format!("Date skewed by {skew}s"));
            }
            if !header("date").unwrap_or("").ends_with(" GMT") {
                problems.push("Date is not in GMT".to_owned());
            }
        }
        _ => problems.push("missing or unparsable Date".to_owned()),
    }
    if header("x-odps-user-agent") != Some(USER_AGENT) || header("user-agent") != Some(USER_AGENT) {
        problems.push("user agent headers missing".to_owned());
    }
    let query = signing::decode_query(&raw_query);
    if !query
        .iter()
        .any(|(k, v)| k == "curr_project" && v == PROJECT)
    {
        problems.push("curr_project missing".to_owned());
    }
    if !is_service && header("x-odps-tunnel-version") != Some("6") {
        problems.push("tunnel request without x-odps-tunnel-version: 6".to_owned());
    }
    if is_service && header("x-odps-tunnel-version").is_some() {
        problems.push("service request with x-odps-tunnel-version".to_owned());
    }
    match (&state.sts_token, header(signing::STS_TOKEN_HEADER)) {
        (Some(want), Some(got)) if want == got => {}
        (None, None) => {}
        (want, got) => problems.push(format!("STS token: want {want:?}, got {got:?}")),
    }
    if method == Method::PUT && header("content-type") != Some("application/octet-stream") {
        problems.push("data PUT without Content-Type: application/octet-stream".to_owned());
    }

    let encoding = header("content-encoding").map(str::to_owned);
    let wire_body_len = body.len();
    let body = match encoding.as_deref() {
        None => body.to_vec(),
        // zlib through flate2's own reader, not the client's codec.
        Some("deflate") => {
            let mut out = Vec::new();
            if let Err(e) = flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out) {
                problems.push(format!("body does not inflate: {e}"));
            }
            out
        }
        Some(other) => match Codec::from_content_encoding(other) {
            Some(codec) => decompress(codec, &body, 1 << 30).unwrap_or_else(|e| {
                problems.push(format!("{other} body does not decompress: {e}"));
                Vec::new()
            }),
            None => {
                problems.push(format!("unknown Content-Encoding {other:?}"));
                body.to_vec()
            }
        },
    };

    let reply = if !signature_ok {
        Reply::xml_error(401, "SignatureNotMatch", "signature mismatch", "sig")
    } else {
        let next = state.steps.lock().unwrap().pop_front();
        match next {
            Some(s) if s.method == method.as_str() && s.path == path => s.reply,
            Some(s) => {
                problems.push(format!(
                    "expected {} {}, got {} {}",
                    s.method, s.path, method, path
                ));
                Reply::json_error(400, "UnexpectedRequest", "not in the script", "script")
            }
            None => match state.fallback.lock().unwrap().clone() {
                Some(r) => r,
                None => {
                    problems.push(format!("unscripted {method} {path}"));
                    Reply::json_error(400, "UnexpectedRequest", "script used up", "script")
                }
            },
        }
    };

    state.recorded.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path,
        query,
        raw_query,
        headers,
        body,
        wire_body_len,
        encoding,
        v4_region,
        problems,
    });

    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (k, v) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    response
}

/// The table metadata XML of the seed's table, schema JSON in CDATA.
pub(crate) fn table_xml() -> String {
    let schema = serde_json::json!({
        "comment": "",
        "columns": [
            {"name": "topic", "type": "string", "comment": "", "isNullable": true},
            {"name": "partition", "type": "bigint", "comment": "", "isNullable": true},
            {"name": "offset", "type": "bigint", "comment": "", "isNullable": true},
            {"name": "key", "type": "string", "comment": "k", "isNullable": true},
            {"name": "value", "type": "string", "comment": "", "isNullable": false},
            {"name": "price", "type": "decimal(10,2)", "comment": "", "isNullable": true}
        ],
        "partitionKeys": [
            {"name": "pt", "type": "string", "comment": "hour"}
        ],
        "lifecycle": -1
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Table><Name>test_kafka</Name><TableId>1</TableId><Owner>ALIYUN$me</Owner><Type>MANAGED_TABLE</Type><Schema><![CDATA[{schema}]]></Schema></Table>"
    )
}

/// A batch upload session JSON body.
pub(crate) fn upload_session_json(id: &str, status: &str, blocks: &[u32]) -> String {
    serde_json::json!({
        "UploadID": id,
        "Status": status,
        "UploadedBlockList": blocks.iter().map(|b| serde_json::json!({"BlockID": b, "Version": 0})).collect::<Vec<_>>(),
        "Schema": {
            "columns": [
                {"name": "topic", "type": "string", "comment": "", "nullable": true},
                {"name": "value", "type": "string", "comment": "", "nullable": true}
            ],
            "partitionKeys": [{"name": "pt", "type": "string", "comment": ""}]
        },
        "MaxFieldSize": 8388608,
        "QuotaName": ""
    })
    .to_string()
}

/// A stream session JSON body with the given slots.
pub(crate) fn stream_session_json(id: &str, slots: &[(&str, &str)]) -> String {
    serde_json::json!({
        "session_name": id,
        "status": "normal",
        "schema": {
            "columns": [{"name": "value", "type": "string", "comment": "", "nullable": true}],
            "partitionKeys": [{"name": "pt", "type": "string", "comment": ""}]
        },
        "schema_version": 0,
        "slots": slots.iter().map(|(a, b)| serde_json::json!([a, b])).collect::<Vec<_>>(),
        "quota_name": ""
    })
    .to_string()
}

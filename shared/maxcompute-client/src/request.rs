//! Building, signing and sending one HTTP request, and the retry loop around it.
//!
//! Every request gets `Date`, `User-Agent`, the signed `x-odps-user-agent`, `curr_project`, the
//! `Authorization` (v2; v4 for the service API when a region is configured; plus `authorization-sts-token` for STS credentials); tunnel requests also
//! get `x-odps-tunnel-version: 6` and the unsigned retry trace headers. Query values are
//! percent-encoded on the wire and signed decoded. Non-2xx answers become [`Error::Service`].
//! This module knows no MaxCompute resource; `service`, `batch` and `stream` build the calls.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use maxcompute_core::codec::{Codec, Compression};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::HeaderMap;
use tokio::sync::{OnceCell, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::endpoint::Endpoint;
use super::error::{Error, ServiceError};
use super::handle::Client;
use super::retry;
use maxcompute_core::signing::{self, Credentials};

/// The tunnel protocol version every tunnel request announces.
pub(crate) const TUNNEL_VERSION: &str = "6";

/// Characters left as they are in query names and values: RFC 3986 unreserved only, so `=`,
/// `'`, `,` and spaces are always escaped and the server decodes them unambiguously.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Characters left as they are in a path: unreserved plus the segment separator.
const PATH: &AsciiSet = &QUERY.remove(b'/');

/// The content type of Tunnel data (record streams), compressed or not.
const DATA_CONTENT_TYPE: &str = "application/octet-stream";

/// Which of the two MaxCompute services a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Service,
    Tunnel,
}

/// A request body and how to describe it.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Bytes sent as they are.
    Ready {
        bytes: Bytes,
        content_type: &'static str,
    },
    /// Records being compressed (see [`Compressing`]).
    Compressing(Arc<Compressing>),
}

/// Records compressed on a blocking thread while the first attempt sends the output as it is
/// made, so that compressing a body overlaps sending it; the attempts after it send the whole
/// compressed body. Should the compressor fail (it can only run out of memory), the first
/// attempt's body ends in an error and the later attempts send the records as they are.
#[derive(Debug)]
pub(crate) struct Compressing {
    codec: Codec,
    /// The records as they are, sent should the compressor's answer never come.
    records: Bytes,
    /// The output as it is made, until the first attempt takes it.
    first: std::sync::Mutex<Option<mpsc::UnboundedReceiver<std::io::Result<Bytes>>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<Compressed>>>,
    whole: OnceCell<Compressed>,
}

/// The whole body and its codec (none when the compressor failed), once the compressor is done.
type Compressed = (Bytes, Option<Codec>);

impl Compressing {
    fn start(compression: Compression, records: Bytes) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let kept = records.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut pieces = Vec::new();
            let done = compression.compress_in_pieces(&records, |piece| {
                let piece = Bytes::copy_from_slice(piece);
                pieces.push(piece.clone());
                // Refused once the first attempt has ended: the pieces are kept for the next.
                let _ = sender.send(Ok(piece));
            });
            match done {
                Ok(()) => (Bytes::from(pieces.concat()), Some(compression.codec())),
                Err(error) => {
                    warn!(
                        codec = %compression.codec(),
                        error = %error,
                        "compression failed; sending the records uncompressed"
                    );
                    let _ = sender.send(Err(std::io::Error::other(error)));
                    (records, None)
                }
            }
        });
        Self {
            codec: compression.codec(),
            records: kept,
            first: std::sync::Mutex::new(Some(receiver)),
            task: tokio::sync::Mutex::new(Some(task)),
            whole: OnceCell::new(),
        }
    }

    /// The output as it is made, the first time it is asked for.
    fn take_first(&self) -> Option<mpsc::UnboundedReceiver<std::io::Result<Bytes>>> {
        self.first.lock().ok()?.take()
    }

    /// The whole body and its codec, waiting for the compressor; the records as they are if
    /// its answer cannot come (its task was cancelled, or a caller waiting for it before was).
    async fn whole(&self) -> &Compressed {
        self.whole
            .get_or_init(|| async {
                let task = self.task.lock().await.take();
                let answer = match task {
                    Some(task) => task.await.ok(),
                    None => None,
                };
                answer.unwrap_or_else(|| (self.records.clone(), None))
            })
            .await
    }
}

/// A body as one attempt sends it.
struct Outgoing {
    body: reqwest::Body,
    /// Its length, when known before it is sent.
    len: Option<usize>,
    content_type: &'static str,
    encoding: Option<Codec>,
}

impl Body {
    /// What the next attempt sends: the first attempt of a body being compressed streams it.
    async fn outgoing(&self) -> Outgoing {
        match self {
            Body::Ready {
                bytes,
                content_type,
            } => Outgoing {
                body: reqwest::Body::from(bytes.clone()),
                len: Some(bytes.len()),
                content_type,
                encoding: None,
            },
            Body::Compressing(compressing) => {
                let (body, len, encoding) = match compressing.take_first() {
                    Some(pieces) => (
                        reqwest::Body::wrap(Streamed(pieces)),
                        None,
                        Some(compressing.codec),
                    ),
                    None => {
                        let (bytes, codec) = compressing.whole().await;
                        (
                            reqwest::Body::from(bytes.clone()),
                            Some(bytes.len()),
                            *codec,
                        )
                    }
                };
                Outgoing {
                    body,
                    len,
                    content_type: DATA_CONTENT_TYPE,
                    encoding,
                }
            }
        }
    }

    /// How many bytes the body sent (for a streamed one, once compressed).
    async fn sent_len(&self, outgoing_len: Option<usize>) -> usize {
        match (outgoing_len, self) {
            (Some(len), _) => len,
            (None, Body::Compressing(compressing)) => compressing.whole().await.0.len(),
            (None, Body::Ready { bytes, .. }) => bytes.len(),
        }
    }
}

/// A body sent as its pieces arrive (chunked), ending in an error if the compressor failed.
struct Streamed(mpsc::UnboundedReceiver<std::io::Result<Bytes>>);

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|piece| piece.map(|piece| piece.map(Frame::data)))
    }
}

/// One logical request, replayable across retries.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// A short name for logs, e.g. `create_upload_session`.
    pub what: &'static str,
    pub method: Method,
    pub api: Api,
    /// The resource path relative to the endpoint, not encoded.
    pub path: String,
    /// Query parameters, not encoded; an empty value is sent as a bare name.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Body>,
}

impl Call {
    pub(crate) fn new(what: &'static str, method: Method, api: Api, path: String) -> Self {
        Self {
            what,
            method,
            api,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = Some(body);
        self
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    /// The endpoint of `api`, discovering the tunnel endpoint on first use if none was
    /// configured.
    pub(crate) async fn endpoint_for(
        &self,
        api: Api,
        deadline: Instant,
    ) -> Result<&Endpoint, Error> {
        match api {
            Api::Service => Ok(&self.inner.service),
            Api::Tunnel => {
                self.inner
                    .tunnel
                    .get_or_try_init(|| self.discover_tunnel_endpoint(deadline))
                    .await
            }
        }
    }

    /// Sends `call`, retrying transient failures until the deadline.
    pub(crate) async fn send(&self, call: &Call, deadline: Instant) -> Result<Reply, Error> {
        let endpoint = self.endpoint_for(call.api, deadline).await?;
        self.send_to(endpoint, call, deadline).await
    }

    /// Like [`Client::send`] with the endpoint given; tunnel discovery uses it so that sending
    /// and discovering do not depend on each other.
    pub(crate) async fn send_to(
        &self,
        endpoint: &Endpoint,
        call: &Call,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let trace_id = format!("{:016x}", rand::random::<u64>());
        let inner = &self.inner;
        retry::run_with_retries(
            &inner.config.retry,
            inner.jitter.as_ref(),
            deadline,
            call.what,
            |_| self.count_retry(),
            |attempt| self.send_once(call, endpoint, attempt, &trace_id, deadline),
        )
        .await
    }

    /// Sends `call` once. `attempt` is 0-based and goes into the unsigned retry headers.
    pub(crate) async fn send_once(
        &self,
        call: &Call,
        endpoint: &Endpoint,
        attempt: u32,
        trace_id: &str,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let outgoing = match &call.body {
            Some(body) => Some(body.outgoing().await),
            None => None,
        };
        let outgoing_len = outgoing.as_ref().and_then(|o| o.len);
        let request = self
            .signed_request(call, outgoing, endpoint, attempt, trace_id, deadline)
            .await?;
        let counters = &self.inner.counters;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let sent = request.send().await;
        let body_len = match &call.body {
            Some(body) => body.sent_len(outgoing_len).await,
            None => 0,
        };
        counters
            .bytes_sent
            .fetch_add(body_len as u64, Ordering::Relaxed);
        let response = sent.map_err(|e| {
            debug!(
                what = call.what,
                method = %call.method,
                path = %call.path,
                attempt,
                elapsed_ms = started.elapsed().as_millis() as u64,
                error = %e,
                "request failed in transport"
            );
            Error::Transport(e)
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::Transport)?;
        let request_id = headers
            .get("x-odps-request-id")
            .and_then(|v| v.to_str().ok());
        debug!(
            what = call.what,
            method = %call.method,
            path = %call.path,
            attempt,
            status,
            request_id = request_id.unwrap_or(""),
            bytes_sent = body_len,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
        if (200..300).contains(&status) {
            return Ok(Reply { headers, body });
        }
        let error = ServiceError::from_response(status, request_id, &body);
        // Refused credentials are dropped by their provider; when it may get others (a rotated
        // secret, renewed temporary credentials) the next attempt signs with those.
        if error.is_authentication_failure() && self.inner.credentials.rejected() {
            debug!(
                what = call.what,
                code = error.code.as_ref().map_or("", |c| c.as_str()),
                "credentials refused; the next attempt asks for fresh ones"
            );
            return Err(Error::CredentialsRefused(error));
        }
        Err(Error::Service(error))
    }

    /// `call` as a signed request for `endpoint`, its time bounded by the deadline and the
    /// configured request timeout.
    async fn signed_request(
        &self,
        call: &Call,
        outgoing: Option<Outgoing>,
        endpoint: &Endpoint,
        attempt: u32,
        trace_id: &str,
        deadline: Instant,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let inner = &self.inner;
        let config = &inner.config;
        let credentials = inner.credentials.credentials().await?;

        let mut query = call.query.clone();
        query.push(("curr_project".to_owned(), config.project.clone()));
        let now = chrono::Utc::now();
        let headers = self.headers(call, outgoing.as_ref(), attempt, trace_id, now);
        let authorization = self.authorization(call, &credentials, &headers, &query, now);

        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .min(config.request_timeout)
            .max(Duration::from_millis(1));
        let mut request = inner
            .http
            .request(call.method.clone(), build_url(endpoint, &call.path, &query))
            .timeout(timeout)
            .header("Authorization", authorization);
        if let Some(token) = &credentials.security_token {
            request = request.header(signing::STS_TOKEN_HEADER, token.expose());
        }
        for (name, value) in &headers {
            request = request.header(*name, value.as_str());
        }
        Ok(if let Some(outgoing) = outgoing {
            request.body(outgoing.body)
        } else if call.method != Method::GET {
            // Bodiless POST/PUT carry Content-Length: 0, as the tunnel expects; hyper leaves
            // the header out for an empty body unless told.
            request
                .header(reqwest::header::CONTENT_LENGTH, "0")
                .body(Bytes::new())
        } else {
            request
        })
    }

    /// The headers every request of `call` carries and signs (plus the tunnel's unsigned retry
    /// trace), in the order they are sent.
    fn headers(
        &self,
        call: &Call,
        body: Option<&Outgoing>,
        attempt: u32,
        trace_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(&'static str, String)> {
        let user_agent = &self.inner.config.user_agent;
        let mut headers: Vec<(&'static str, String)> = vec![
            ("Date", signing::http_date(now)),
            ("User-Agent", user_agent.clone()),
            ("x-odps-user-agent", user_agent.clone()),
        ];
        if call.api == Api::Tunnel {
            headers.push(("x-odps-tunnel-version", TUNNEL_VERSION.to_owned()));
            // Unsigned on purpose (not x-odps-), like the SDKs: lets the service correlate
            // retries of one logical request.
            headers.push(("odps-tunnel-retry-trace-id", trace_id.to_owned()));
            headers.push(("odps-tunnel-retry-index", attempt.to_string()));
        }
        if let Some(body) = body {
            headers.push(("Content-Type", body.content_type.to_owned()));
            if let Some(codec) = body.encoding {
                headers.push(("Content-Encoding", codec.content_encoding().to_owned()));
            }
        }
        headers.extend(call.headers.iter().map(|(k, v)| (*k, v.clone())));
        headers
    }

    /// The `Authorization` value: v4 for the service API when a region is configured, v2
    /// otherwise.
    fn authorization(
        &self,
        call: &Call,
        credentials: &Credentials,
        headers: &[(&'static str, String)],
        query: &[(String, String)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let header_refs: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query_refs: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let string_to_sign =
            signing::canonical_string(call.method.as_str(), &header_refs, &call.path, &query_refs);
        match (&self.inner.config.region, call.api) {
            (Some(region), Api::Service) => {
                let date8 = signing::v4_date8(now);
                let signature =
                    signing::sign_v4(&credentials.secret, &date8, region, &string_to_sign);
                signing::authorization_v4(&credentials.access_key_id, &date8, region, &signature)
            }
            _ => {
                let signature = signing::sign_v2(&credentials.secret, &string_to_sign);
                signing::authorization_v2(&credentials.access_key_id, &signature)
            }
        }
    }

    /// Wraps record-stream bytes as a data body, compressed as it is sent when the client is
    /// configured to compress (see [`Compressing`]).
    pub(crate) fn data_body(&self, records: Bytes) -> Body {
        match self.inner.config.compress {
            Some(compression) => {
                Body::Compressing(Arc::new(Compressing::start(compression, records)))
            }
            None => Body::Ready {
                bytes: records,
                content_type: DATA_CONTENT_TYPE,
            },
        }
    }

    pub(crate) fn count_reload(&self) {
        self.inner
            .counters
            .session_reloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn count_retry(&self) {
        self.inner
            .counters
            .retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn build_url(endpoint: &Endpoint, path: &str, query: &[(String, String)]) -> String {
    let mut url = String::with_capacity(endpoint.base().len() + path.len() + 64);
    url.push_str(endpoint.base());
    url.extend(utf8_percent_encode(path, PATH));
    for (i, (name, value)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.extend(utf8_percent_encode(name, QUERY));
        if !value.is_empty() {
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::EndpointError;

    #[test]
    fn endpoints_keep_their_prefix_apart() {
        let e = Endpoint::parse("http://127.0.0.1:8080/api/").unwrap();
        assert_eq!(e.base(), "http://127.0.0.1:8080/api");
        assert_eq!(e.path_prefix(), "/api");
        assert_eq!(e.scheme(), "http");
        let t = Endpoint::parse("https://dt.cn-hangzhou.maxcompute.aliyun.com").unwrap();
        assert_eq!(t.base(), "https://dt.cn-hangzhou.maxcompute.aliyun.com");
        assert_eq!(t.path_prefix(), "");
        assert!(matches!(
            Endpoint::parse("ftp://x"),
            Err(EndpointError::Scheme { .. })
        ));
        let not_url = Endpoint::parse("not a url").unwrap_err();
        assert!(
            matches!(not_url, EndpointError::NotUrl { .. }),
            "{not_url:?}"
        );
        assert!(
            std::error::Error::source(&not_url).is_some(),
            "the parser's error is kept"
        );
        assert!(matches!(
            Endpoint::parse("http://h/api?x=1"),
            Err(EndpointError::QueryOrFragment { .. })
        ));
    }

    #[test]
    fn urls_encode_query_values_and_write_bare_names() {
        let e = Endpoint::parse("http://h/api").unwrap();
        let url = build_url(
            &e,
            "/projects/p/tables/t",
            &[
                ("partition".into(), "dt='11-17-2020 15'".into()),
                ("service".into(), String::new()),
            ],
        );
        assert_eq!(
            url,
            "http://h/api/projects/p/tables/t?partition=dt%3D%2711-17-2020%2015%27&service"
        );
        // And the signing side decodes it back to what was signed.
        let (path, q) = signing::split_target(url.trim_start_matches("http://h"));
        assert_eq!(
            signing::canonical_string_for_request("GET", &[], &format!("{path}?{q}"), "/api"),
            signing::canonical_string(
                "GET",
                &[],
                "/projects/p/tables/t",
                &[("partition", "dt='11-17-2020 15'"), ("service", "")]
            )
        );
    }
}

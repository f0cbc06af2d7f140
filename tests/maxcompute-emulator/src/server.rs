//! The HTTP server: one port serving the service API under `/api`, the Tunnel at the root and
//! the admin endpoints under `/_emulator`. Every request gets a request id, is authenticated
//! (except admin calls, which must come from loopback), passes fault injection, and is routed
//! to `api.rs` or `tunnel.rs`; errors are rendered here, XML on `/api` and JSON on the tunnel.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use maxcompute_core::protocol::ErrorCode;
use rand::RngExt;
use tokio::sync::oneshot;

use crate::api;
use crate::auth::KeyStore;
use crate::clock::Clock;
use crate::faults::{CallKind, FaultAction, Phase};
use crate::incoming::{Request, Surface};
use crate::operation::Operation;
use crate::service_error::{EmuError, EmuResult};
use crate::state::AppState;
use crate::store::Store;
use crate::{admin, tunnel, xml_body};

/// The largest request body accepted (a block may be large; the real limit is far higher).
pub const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// The largest body the STS stand-in reads: an unsigned form of parameters, a few hundred bytes
/// in practice. STS authenticates from the parameters, so this body is read before any check
/// and must stay small.
pub const MAX_STS_BODY_BYTES: usize = 64 * 1024;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub keys: KeyStore,
    /// How long a batch upload session stays usable (24 h on the service).
    pub session_ttl: std::time::Duration,
    /// Close the connection after every answer instead of keeping it alive as the service
    /// does. For clients that fork with idle pooled connections (pyodps's multi-process
    /// writers): against the service, over TLS, children writing one connection break its
    /// record stream, the service resets it and pyodps retries on a fresh one; over the
    /// emulator's plain HTTP the children's interleaved requests would be parsed as one garbled
    /// request, or leave a child waiting for an answer another child read.
    pub close_connections: bool,
}

/// The real service's upload-session lifetime.
pub const DEFAULT_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the data directory: {0}")]
    Store(#[from] EmuError),
}

/// A server running on a tokio task.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Serves until `signal` completes (then shuts down gracefully) or the server fails.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::select! {
            r = &mut self.task => match r {
                Ok(r) => r,
                Err(e) => Err(std::io::Error::other(e)),
            },
            () = signal => {
                tracing::info!("shutting down");
                self.stop().await;
                Ok(())
            }
        }
    }
}

/// Opens the store, binds the port and starts serving, on the wall clock.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    start_with_clock(config, Clock::system()).await
}

/// [`start`] with the time of `clock` (a manual clock in tests).
pub async fn start_with_clock(config: Config, clock: Clock) -> Result<RunningServer, StartError> {
    let store = Store::open(&config.data_dir)?.with_clock(clock.clone());
    let now = clock.now();
    for (id, secret, token, expires_ms) in store.live_issued_keys(now.timestamp_millis())? {
        let expires_at = chrono::DateTime::from_timestamp_millis(expires_ms).unwrap_or(now);
        config.keys.issue(&id, &secret, &token, expires_at);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let state = Arc::new(AppState::new(
        store,
        config.keys,
        advertised(addr),
        config.session_ttl,
        clock,
    ));
    let mut app = Router::new().fallback(dispatch).with_state(state);
    if config.close_connections {
        app = app.layer(axum::middleware::map_response(close_connection));
    }
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        })
        .await
    });
    tracing::info!(%addr, "MaxCompute emulator listening");
    Ok(RunningServer {
        addr,
        shutdown: Some(tx),
        task,
    })
}

/// The `host:port` clients are sent to (tunnel discovery, stream slots): the bound address, or
/// loopback when bound to all interfaces.
fn advertised(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()).to_string()
    } else {
        addr.to_string()
    }
}

fn new_request_id() -> String {
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let request_id = new_request_id();
    let (parts, body) = request.into_parts();
    let (method, uri) = (parts.method, parts.uri);
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    // The body is read only once the headers have been checked (see `handle`).
    let req = Request::new(
        method.clone(),
        uri.path(),
        uri.query(),
        parts.headers,
        Bytes::new(),
    );
    let surface = req.surface;
    let result = handle(&state, peer, &path_and_query, req, body).await;
    let mut response = match result {
        Ok(r) => r,
        Err(e) => render_error(&e, surface, &request_id, &state.endpoint),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-odps-request-id", v);
    }
    let status = response.status();
    if status.is_server_error() || status.is_client_error() {
        tracing::info!(%method, path = %uri.path(), status = status.as_u16(), request_id, "request failed");
    } else {
        tracing::debug!(%method, path = %uri.path(), status = status.as_u16(), request_id, "request served");
    }
    response
}

/// Marks an answer as the last on its connection (see [`Config::close_connections`]).
async fn close_connection(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}

/// Reads a request body, at most [`MAX_BODY_BYTES`].
async fn read_body(body: Body) -> EmuResult<Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            EmuError::InvalidArgument(format!(
                "cannot read the request body (at most {MAX_BODY_BYTES} bytes): {e}"
            ))
        })
}

/// Reads the form body of an STS call, at most [`MAX_STS_BODY_BYTES`]: a larger declared
/// `Content-Length` is refused before a byte is read, and a body that grows past the limit
/// while streaming is refused as soon as it does, so an unsigned caller can make the emulator
/// hold no more than the limit.
async fn read_sts_body(headers: &axum::http::HeaderMap, body: Body) -> EmuResult<Bytes> {
    let too_large = |what: String| {
        EmuError::Sts(crate::assume_role::StsError::BodyTooLarge {
            what,
            limit: MAX_STS_BODY_BYTES,
        })
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > MAX_STS_BODY_BYTES as u64
    {
        return Err(too_large(format!("the body declares {n} bytes")));
    }
    axum::body::to_bytes(body, MAX_STS_BODY_BYTES)
        .await
        .map_err(|e| too_large(format!("cannot read the body ({e})")))
}

/// Authenticates, injects faults and routes one request. As the service does, a MaxCompute
/// request is authenticated from its headers before its body is read: an unsigned upload is
/// refused without being buffered.
async fn handle(
    state: &Arc<AppState>,
    peer: SocketAddr,
    path_and_query: &str,
    mut req: Request,
    body: Body,
) -> EmuResult<Response> {
    if req.surface == Surface::Admin {
        if !peer.ip().is_loopback() {
            return Err(EmuError::Unauthorized(
                "the admin endpoints answer loopback clients only".into(),
            ));
        }
        req.body = read_body(body).await?;
        return admin::handle(state, &req);
    }
    if req.surface == Surface::Tunnel && crate::assume_role::is_sts_request(&req) {
        // STS signs its parameters, not the headers. When the query carries the signature the
        // body is never read; otherwise the parameters are a small form body, bounded.
        let raw_query = path_and_query.split_once('?').map(|(_, q)| q).unwrap_or("");
        if !crate::assume_role::query_is_signed(raw_query) {
            req.body = read_sts_body(&req.headers, body).await?;
        }
        return with_faults(state, CallKind::AssumeRole, async {
            crate::assume_role::handle(state, &req, raw_query, state.clock.now())
        })
        .await;
    }
    let prefix = if req.surface == Surface::Api {
        "/api"
    } else {
        ""
    };
    state.keys.verify(
        req.method.as_str(),
        &req.headers,
        path_and_query,
        prefix,
        state.clock.now(),
    )?;
    req.body = read_body(body).await?;

    let op = Operation::parse(&req);
    let kind = op.call_kind();
    let handler_state = Arc::clone(state);
    // Handlers do SQLite I/O and decode whole blocks: run them off the async workers.
    let apply = async move {
        tokio::task::spawn_blocking(move || match op {
            Operation::Api { .. } => api::handle(&handler_state, &req),
            Operation::Tunnel(op) => tunnel::handle(&handler_state, &req, &op),
        })
        .await?
    };
    // From the whole body received to the answer: the service's own time on the request.
    let started = std::time::Instant::now();
    let answer = with_faults(state, kind, apply).await;
    tracing::debug!(
        ?kind,
        apply_ms = started.elapsed().as_secs_f64() * 1e3,
        "request applied"
    );
    answer
}

/// Runs `apply` between the fault rules of `kind`: a `before` rule acts instead of it, an
/// `after` rule on the answer of a request that succeeded.
async fn with_faults(
    state: &AppState,
    kind: CallKind,
    apply: impl Future<Output = EmuResult<Response>>,
) -> EmuResult<Response> {
    if let Some(action) = state.faults.take(kind, Phase::Before) {
        tracing::info!(?kind, ?action, "injecting a fault before the request");
        match action {
            FaultAction::Error {
                status,
                code,
                message,
            } => return Err(injected(status, code, message)),
            FaultAction::Hang { millis } => {
                state
                    .clock
                    .sleep(std::time::Duration::from_millis(millis))
                    .await
            }
            FaultAction::Drop => return Ok(dropped_connection()),
        }
    }
    let response = apply.await?;
    if !response.status().is_success() {
        return Ok(response);
    }
    match state.faults.take(kind, Phase::After) {
        None => Ok(response),
        Some(action) => {
            tracing::info!(?kind, ?action, "losing the answer of an applied request");
            match action {
                FaultAction::Error {
                    status,
                    code,
                    message,
                } => Err(injected(status, code, message)),
                FaultAction::Hang { millis } => {
                    state
                        .clock
                        .sleep(std::time::Duration::from_millis(millis))
                        .await;
                    Ok(response)
                }
                FaultAction::Drop => Ok(dropped_connection()),
            }
        }
    }
}

fn injected(status: u16, code: String, message: Option<String>) -> EmuError {
    EmuError::Injected {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message: message.unwrap_or_else(|| format!("injected fault: {code}")),
        code: ErrorCode::parse(&code),
    }
}

/// Renders an error in the surface's format with the request id.
pub fn render_error(e: &EmuError, surface: Surface, request_id: &str, host: &str) -> Response {
    let status = e.status();
    let message = e.to_string();
    let code = e.code();
    let code = code.as_str();
    let (content_type, body) = match surface {
        Surface::Api => (
            "application/xml",
            xml_body::error(code, &message, request_id, host),
        ),
        _ if matches!(e, EmuError::Sts(_)) => (
            "application/json",
            serde_json::json!({"RequestId": request_id, "HostId": host, "Code": code, "Message": message})
                .to_string(),
        ),
        Surface::Tunnel | Surface::Admin => (
            "application/json",
            serde_json::json!({"Code": code, "Message": message, "RequestId": request_id})
                .to_string(),
        ),
    };
    let mut response = (status, [("content-type", content_type)], body).into_response();
    if let EmuError::SchemaModified { latest, .. } = e {
        response.headers_mut().insert(
            crate::service_error::LATEST_SCHEMA_VERSION_HEADER,
            axum::http::HeaderValue::from(*latest),
        );
    }
    response
}

/// A response whose body fails at once, so the connection is closed without a complete answer.
fn dropped_connection() -> Response {
    Response::new(Body::new(BrokenBody))
}

#[derive(Debug)]
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault injection: connection dropped",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `left` bytes that arrives in 4 KiB frames, with no declared length.
    struct Chunked {
        left: usize,
    }

    impl http_body::Body for Chunked {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let n = self.left.min(4096);
            self.left -= n;
            Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![b'a'; n])))))
        }
    }

    fn chunked(total: usize) -> Body {
        Body::new(Chunked { left: total })
    }

    #[tokio::test]
    async fn sts_bodies_are_bounded_by_declared_and_streamed_length() {
        let empty = axum::http::HeaderMap::new();
        let body = read_sts_body(&empty, chunked(MAX_STS_BODY_BYTES))
            .await
            .unwrap();
        assert_eq!(body.len(), MAX_STS_BODY_BYTES);
        let e = read_sts_body(&empty, chunked(MAX_STS_BODY_BYTES + 1))
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), e.code().as_str()),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "InvalidParameter.BodyTooLarge"
            )
        );
        let mut declared = axum::http::HeaderMap::new();
        declared.insert("content-length", HeaderValue::from_static("419430400"));
        let e = read_sts_body(&declared, Body::empty()).await.unwrap_err();
        assert!(e.to_string().contains("declares 419430400 bytes"), "{e}");
    }
}

//! The Lambda runtime API, served locally, so a function runs as the very binary that is
//! deployed: the process polls `GET /2018-06-01/runtime/invocation/next` like it does in AWS,
//! and answers through `.../response` or `.../error` (what `lambda_runtime` speaks).
//!
//! [`Function`] starts the binary with the environment Lambda gives it and hands it one event at
//! a time through [`Function::invoke`], with the function's timeout. A process that exits, or
//! an invocation that runs past its timeout, is reported as such; the process is then killed so
//! that the next invocation starts it cold, as Lambda does. This module knows nothing about
//! Kafka or MaxCompute.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};
use tracing::{info, warn};

/// How a function is run.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// The executable, e.g. `target/debug/sink` (what `bootstrap` is in the deployment).
    pub binary: PathBuf,
    /// The function's environment variables, on top of the ones Lambda sets.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
}

/// What one invocation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's JSON answer.
    Response(String),
    /// The handler (or the cold start) reported an error.
    Error {
        error_type: String,
        error_message: String,
    },
    /// No answer within the function's timeout; the process was killed.
    Timeout,
    /// The process exited without answering: its exit status and its last log lines.
    Exited(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("cannot serve the runtime API: {0}")]
    Serve(#[source] std::io::Error),
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
}

struct Pending {
    request_id: String,
    deadline_ms: u64,
    event: Bytes,
}

/// How many of the function's last log lines are kept for an [`Outcome::Exited`] report.
const LOG_TAIL_LINES: usize = 20;

#[derive(Default)]
struct Shared {
    log_tail: Mutex<VecDeque<String>>,
    /// Every log line, once [`Function::capture_logs`] asked for them.
    log_all: Mutex<Option<Vec<String>>>,
    queue: Mutex<VecDeque<Pending>>,
    ready: Notify,
    waiting: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    /// The process reported a failed cold start (`/runtime/init/error`); it is thrown away.
    init_failed: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn finish(&self, request_id: Option<&str>, outcome: Outcome) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let matches = match (&*waiting, request_id) {
            (Some((id, _)), Some(rid)) => id == rid,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if matches && let Some((_, tx)) = waiting.take() {
            let _ = tx.send(outcome);
        }
    }
}

fn request_id(n: u64) -> String {
    format!("local-{n:012}")
}

/// A function process and the runtime API it talks to.
pub struct Function {
    spec: FunctionSpec,
    addr: SocketAddr,
    shared: Arc<Shared>,
    child: Option<Child>,
    /// The tasks copying the process's stdout and stderr; they end when it exits.
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<()>,
    next_id: u64,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.spec.name)
            .field("addr", &self.addr)
            .finish()
    }
}

impl Function {
    /// Serves the runtime API on a free loopback port. The process starts on first invoke.
    pub async fn new(spec: FunctionSpec) -> Result<Self, LambdaError> {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(LambdaError::Serve)?;
        let addr = listener.local_addr().map_err(LambdaError::Serve)?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                warn!(error = %e, "runtime API server stopped");
            }
        });
        Ok(Self {
            spec,
            addr,
            shared,
            child: None,
            forwarders: Vec::new(),
            server,
            next_id: 0,
        })
    }

    /// The address `AWS_LAMBDA_RUNTIME_API` points at.
    /// The request id of the last invocation (`lambda-runtime-aws-request-id`), if any.
    pub fn last_request_id(&self) -> Option<String> {
        (self.next_id > 0).then(|| request_id(self.next_id))
    }

    pub fn runtime_api(&self) -> SocketAddr {
        self.addr
    }

    fn spawn(&mut self) -> Result<(), LambdaError> {
        let spec = &self.spec;
        let mut cmd = Command::new(&spec.binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| LambdaError::Spawn {
            binary: spec.binary.display().to_string(),
            source,
        })?;
        // The function's logs go where ours go (as CloudWatch would show them), and the last
        // lines are kept to explain an exit.
        if let Some(out) = child.stdout.take() {
            self.forwarders
                .push(tokio::spawn(forward_log(out, Arc::clone(&self.shared))));
        }
        if let Some(err) = child.stderr.take() {
            self.forwarders
                .push(tokio::spawn(forward_log(err, Arc::clone(&self.shared))));
        }
        info!(function = %spec.name, pid = child.id().unwrap_or_default(), "function started");
        self.child = Some(child);
        Ok(())
    }

    /// Runs one invocation with the function's timeout.
    pub async fn invoke(&mut self, event: Bytes) -> Result<Outcome, LambdaError> {
        if self.child.is_none() {
            self.spawn()?;
        }
        self.next_id += 1;
        let request_id = request_id(self.next_id);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let timeout_ms = u64::try_from(self.spec.timeout.as_millis()).unwrap_or(u64::MAX);
        let (tx, rx) = oneshot::channel();
        *self
            .shared
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((request_id.clone(), tx));
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Pending {
                request_id,
                deadline_ms: now_ms.saturating_add(timeout_ms),
                event,
            });
        self.shared.ready.notify_one();

        let Some(child) = self.child.as_mut() else {
            return Ok(Outcome::Exited("not running".to_owned()));
        };
        let mut rx = rx;
        let outcome = tokio::select! {
            biased;
            answer = &mut rx => answer.unwrap_or(Outcome::Exited("the runtime API went away".to_owned())),
            status = child.wait() => {
                // Everything the process wrote before it exited, for the report.
                drain(&mut self.forwarders).await;
                let status = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                let tail: Vec<String> = self
                    .shared
                    .log_tail
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .cloned()
                    .collect();
                // A process that reported its failed cold start exits right after: the report,
                // answered before the exit, is the outcome.
                match rx.try_recv() {
                    Ok(reported) => reported,
                    Err(_) => Outcome::Exited(format!("{status}; last log lines:\n{}", tail.join("\n"))),
                }
            }
            () = tokio::time::sleep(self.spec.timeout) => Outcome::Timeout,
        };
        let init_failed = self
            .shared
            .init_failed
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        if init_failed || matches!(outcome, Outcome::Timeout | Outcome::Exited(_)) {
            // Lambda throws the environment away after a timeout, a crash or a failed init.
            self.stop().await;
        }
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(outcome)
    }

    /// Keeps every log line the function writes from now on, for [`Function::logs`].
    pub fn capture_logs(&self) {
        let mut all = self
            .shared
            .log_all
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        all.get_or_insert_with(Vec::new);
    }

    /// The log lines kept since [`Function::capture_logs`].
    pub fn logs(&self) -> Vec<String> {
        self.shared
            .log_all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// Kills the process; the next invocation starts a new one.
    /// Every line the process wrote has been forwarded (and captured) when this returns.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        drain(&mut self.forwarders).await;
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Waits for the log forwarders of a process that has exited: they end at the end of its
/// output. Bounded, in case something else holds the pipes open.
async fn drain(forwarders: &mut Vec<tokio::task::JoinHandle<()>>) {
    for task in forwarders.drain(..) {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}

async fn forward_log(stream: impl tokio::io::AsyncRead + Unpin, shared: Arc<Shared>) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        if let Some(all) = shared
            .log_all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            all.push(line.clone());
        }
        let mut tail = shared.log_tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == LOG_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    loop {
        let notified = shared.ready.notified();
        let pending = shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        if let Some(p) = pending {
            let mut headers = HeaderMap::new();
            let pairs = [
                ("lambda-runtime-aws-request-id", p.request_id.clone()),
                ("lambda-runtime-deadline-ms", p.deadline_ms.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:local:000000000000:function:local".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    format!("Root=1-{}", p.request_id),
                ),
            ];
            for (name, value) in pairs {
                if let Ok(v) = value.parse() {
                    headers.insert(name, v);
                }
            }
            headers.insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            return (StatusCode::OK, headers, p.event).into_response();
        }
        notified.await;
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let text = String::from_utf8_lossy(&body).into_owned();
    shared.finish(Some(&id), Outcome::Response(text));
    StatusCode::ACCEPTED
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_type: String,
    #[serde(default)]
    error_message: String,
}

fn error_outcome(body: &[u8], default_type: &str) -> Outcome {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => Outcome::Error {
            error_type: if e.error_type.is_empty() {
                default_type.to_owned()
            } else {
                e.error_type
            },
            error_message: e.error_message,
        },
        Err(_) => Outcome::Error {
            error_type: default_type.to_owned(),
            error_message: String::from_utf8_lossy(body).into_owned(),
        },
    }
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    shared.finish(Some(&id), error_outcome(&body, "Unhandled"));
    StatusCode::ACCEPTED
}

/// A failed cold start: the invocation waiting for this environment ends with the error the
/// process reported (as AWS answers it: the reported `errorType`, else the
/// `Lambda-Runtime-Function-Error-Type` header, else `Runtime.InitError`), and the process is
/// thrown away.
async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("Runtime.InitError");
    let outcome = error_outcome(&body, header_type);
    if let Outcome::Error { error_type, .. } = &outcome {
        warn!(%error_type, "the function reported a failed cold start");
    }
    shared
        .init_failed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    shared.finish(None, outcome);
    StatusCode::ACCEPTED
}

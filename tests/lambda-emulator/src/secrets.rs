//! A local stand-in for the AWS Parameters and Secrets Lambda Extension: the HTTP endpoint a
//! function reads Secrets Manager values from, so the local flow runs the same secret path as a
//! deployment.
//!
//! It serves what the functions use of the extension: `GET /secretsmanager/get?secretId=ID`
//! with the function's session token in `X-Aws-Parameters-Secrets-Token`, answered with Secrets
//! Manager's `GetSecretValue` JSON (`ARN`, `Name`, `SecretString`, `VersionId`,
//! `VersionStages`, `CreatedDate`). A missing or wrong token is refused with 401, an unknown
//! secret is a 400 carrying `ResourceNotFoundException`, as Secrets Manager's error passes
//! through the extension. Secrets can be replaced while it runs (a rotation), and every read is
//! counted, so tests can see a function read a secret again. Values live in memory only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::warn;

/// The header the extension checks against the function's `AWS_SESSION_TOKEN`.
pub const TOKEN_HEADER: &str = "x-aws-parameters-secrets-token";

#[derive(Default)]
struct Store {
    secrets: Mutex<HashMap<String, String>>,
    reads: AtomicU64,
    token: String,
}

/// The running stand-in. Dropping it stops the server.
pub struct LocalSecrets {
    addr: SocketAddr,
    store: Arc<Store>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSecrets")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalSecrets {
    /// Serves on `listen` (`127.0.0.1:0` for a free port), accepting only `session_token`.
    pub async fn start(listen: SocketAddr, session_token: &str) -> std::io::Result<Self> {
        let store = Arc::new(Store {
            token: session_token.to_owned(),
            ..Store::default()
        });
        let app = Router::new()
            .route("/secretsmanager/get", get(get_secret))
            .with_state(Arc::clone(&store));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                warn!(error = %e, "secrets stand-in stopped");
            }
        });
        Ok(Self {
            addr,
            store,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stores (or replaces) the `SecretString` of `secret_id`.
    pub fn put(&self, secret_id: &str, value: &str) {
        self.store
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(secret_id.to_owned(), value.to_owned());
    }

    /// How many reads were answered with a value.
    pub fn reads(&self) -> u64 {
        self.store.reads.load(Ordering::SeqCst)
    }

    /// The variables a function needs to reach this stand-in, as Lambda and the extension's
    /// layer would set them.
    pub fn function_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT".to_owned(),
                self.addr.port().to_string(),
            ),
            ("AWS_SESSION_TOKEN".to_owned(), self.store.token.clone()),
        ]
    }
}

impl Drop for LocalSecrets {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(serde::Deserialize)]
struct GetQuery {
    #[serde(rename = "secretId")]
    secret_id: Option<String>,
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": error_type, "message": message });
    (status, axum::Json(body)).into_response()
}

async fn get_secret(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Query(query): Query<GetQuery>,
) -> Response {
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    if token != Some(store.token.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            "missing or wrong X-Aws-Parameters-Secrets-Token",
        );
    }
    let Some(secret_id) = query.secret_id.filter(|s| !s.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            "secretId is required",
        );
    };
    let value = store
        .secrets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&secret_id)
        .cloned();
    let Some(value) = value else {
        return error(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        );
    };
    store.reads.fetch_add(1, Ordering::SeqCst);
    let name = secret_id
        .rsplit(':')
        .next()
        .unwrap_or(&secret_id)
        .to_owned();
    let arn = if secret_id.starts_with("arn:") {
        secret_id.clone()
    } else {
        format!("arn:aws:secretsmanager:local:000000000000:secret:{secret_id}")
    };
    axum::Json(serde_json::json!({
        "ARN": arn,
        "Name": name,
        "SecretString": value,
        "VersionId": "local",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": "2026-01-01T00:00:00Z",
        "ResultMetadata": {},
    }))
    .into_response()
}

//! A local schema registry for the local trigger's `SchemaRegistryConfig`: the subset of
//! Confluent Schema Registry's REST API that the stock clients' serializers call
//! (confluent-kafka's `SchemaRegistryClient` with `AvroSerializer`, checked by
//! `tests/registry/`), and what the trigger reads.
//!
//! - `POST /subjects/{subject}/versions`: registers a schema under a subject; the same schema
//!   (text and type) keeps its id everywhere and its version in a subject. Answers `{"id": N}`.
//! - `POST /subjects/{subject}`: looks a schema up in a subject.
//! - `GET /schemas/ids/{id}`: the schema of an id (`schemaType` left out for Avro).
//! - `GET /subjects`, `GET /subjects/{subject}/versions`,
//!   `GET /subjects/{subject}/versions/{version|latest}`.
//!
//! Errors have the registry's shape, `{"error_code": 40403, "message": "..."}`. An Avro schema
//! that does not parse is refused (42201); Protobuf and JSON schemas are stored as given.
//! Schemas live in memory and, with a data file, are written to it after each registration and
//! read back at start, so a registry restarted on the same file keeps its ids.
//!
//! It does not do: compatibility checks, deletes, modes, contexts, schema references,
//! normalization, authentication or TLS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

/// A registered schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub schema: String,
    /// `AVRO`, `PROTOBUF` or `JSON`.
    pub schema_type: String,
}

/// Everything the registry holds: schemas by id, and each subject's versions (their ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub schemas: BTreeMap<u32, Stored>,
    pub subjects: BTreeMap<String, Vec<u32>>,
}

impl Store {
    /// The id of `schema` and its version in `subject`, registering it where it is new.
    pub fn register(&mut self, subject: &str, schema: Stored) -> (u32, usize) {
        let id = match self.schemas.iter().find(|(_, s)| **s == schema) {
            Some((id, _)) => *id,
            None => {
                let id = self.schemas.keys().next_back().map_or(1, |last| last + 1);
                self.schemas.insert(id, schema);
                id
            }
        };
        let versions = self.subjects.entry(subject.to_owned()).or_default();
        let version = match versions.iter().position(|v| *v == id) {
            Some(i) => i + 1,
            None => {
                versions.push(id);
                versions.len()
            }
        };
        (id, version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {reason}")]
    Load { path: PathBuf, reason: String },
}

#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    file: Option<PathBuf>,
}

/// A running registry; it stops when dropped.
#[derive(Debug)]
pub struct SchemaRegistry {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SchemaRegistry {
    /// Serves on `addr` (port 0 picks one), with the schemas of `file` when it exists.
    pub async fn start(addr: SocketAddr, file: Option<&Path>) -> Result<Self, RegistryError> {
        let store = match file {
            Some(path) if path.exists() => std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|reason| RegistryError::Load {
                    path: path.to_owned(),
                    reason,
                })?,
            _ => Store::default(),
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            file: file.map(Path::to_owned),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RegistryError::Listen { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| RegistryError::Listen { addr, source })?;
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the schema registry stopped");
            }
        });
        Ok(Self { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, what `SchemaRegistryURI` and the clients' `url` take.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers `schema` under `subject` as `POST /subjects/{subject}/versions` does, without
    /// checking it (for seeding a registry without a client): its id and version, or why the
    /// data file could not be written.
    pub fn register(&self, subject: &str, schema: Stored) -> Result<(u32, usize), String> {
        save(&self.shared, subject, schema)
    }

    /// A copy of what it holds.
    pub fn store(&self) -> Store {
        self.shared
            .store
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup))
        .route("/subjects/{subject}/versions", post(register).get(versions))
        .route("/subjects/{subject}/versions/{version}", get(version))
        .route("/schemas/ids/{id}", get(by_id))
        .with_state(shared)
}

/// The registry's content type.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    answer(
        status,
        serde_json::json!({"error_code": code, "message": message.into()}),
    )
}

fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        50001,
        "the store is unusable",
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

/// The request's schema, checked as the registry checks it; a refusal is an invalid schema
/// (422, error code 42201) with its message.
fn checked(request: SchemaRequest) -> Result<Stored, String> {
    if !request.references.is_empty() {
        return Err("schema references are not supported by the local registry".to_owned());
    }
    let schema_type = request.schema_type.unwrap_or_else(|| "AVRO".to_owned());
    match schema_type.as_str() {
        "AVRO" => {
            if let Err(e) = apache_avro::Schema::parse_str(&request.schema) {
                return Err(format!("Invalid schema: {e}"));
            }
        }
        "PROTOBUF" | "JSON" => {}
        other => return Err(format!("Invalid schema type {other}")),
    }
    Ok(Stored {
        schema: request.schema,
        schema_type,
    })
}

async fn register(
    State(shared): State<Arc<Shared>>,
    UrlPath(subject): UrlPath<String>,
    Json(request): Json<SchemaRequest>,
) -> Response {
    let stored = match checked(request) {
        Ok(s) => s,
        Err(m) => return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, m),
    };
    match save(&shared, &subject, stored) {
        Ok((id, _)) => answer(StatusCode::OK, serde_json::json!({ "id": id })),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, 50001, e),
    }
}

/// Registers a checked schema and writes the data file, if any.
fn save(shared: &Shared, subject: &str, stored: Stored) -> Result<(u32, usize), String> {
    let mut store = shared
        .store
        .lock()
        .map_err(|_| "the store is unusable".to_owned())?;
    let (id, version) = store.register(subject, stored);
    if let Some(path) = &shared.file {
        serde_json::to_vec(&*store)
            .map_err(|e| e.to_string())
            .and_then(|bytes| write_atomically(path, &bytes).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    tracing::info!(%subject, id, version, "schema registered");
    Ok((id, version))
}

/// Writes next to `path` and renames, so a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn subject_version(store: &Store, subject: &str, version: usize) -> Option<serde_json::Value> {
    let id = *store.subjects.get(subject)?.get(version.checked_sub(1)?)?;
    let stored = store.schemas.get(&id)?;
    let mut body = serde_json::json!({
        "subject": subject,
        "version": version,
        "id": id,
        "schema": stored.schema,
    });
    if stored.schema_type != "AVRO"
        && let Some(map) = body.as_object_mut()
    {
        map.insert("schemaType".to_owned(), stored.schema_type.clone().into());
    }
    Some(body)
}

async fn lookup(
    State(shared): State<Arc<Shared>>,
    UrlPath(subject): UrlPath<String>,
    Json(request): Json<SchemaRequest>,
) -> Response {
    let stored = match checked(request) {
        Ok(s) => s,
        Err(m) => return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, m),
    };
    let Ok(store) = shared.store.lock() else {
        return internal();
    };
    let Some(versions) = store.subjects.get(&subject) else {
        return error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        );
    };
    let found = versions
        .iter()
        .position(|id| store.schemas.get(id) == Some(&stored))
        .and_then(|i| subject_version(&store, &subject, i + 1));
    match found {
        Some(body) => answer(StatusCode::OK, body),
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn by_id(State(shared): State<Arc<Shared>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(store) = shared.store.lock() else {
        return internal();
    };
    let stored = id.parse::<u32>().ok().and_then(|id| store.schemas.get(&id));
    let Some(stored) = stored else {
        return error(StatusCode::NOT_FOUND, 40403, "Schema not found");
    };
    let mut body = serde_json::json!({ "schema": stored.schema });
    if stored.schema_type != "AVRO"
        && let Some(map) = body.as_object_mut()
    {
        map.insert("schemaType".to_owned(), stored.schema_type.clone().into());
    }
    answer(StatusCode::OK, body)
}

async fn subjects(State(shared): State<Arc<Shared>>) -> Response {
    let Ok(store) = shared.store.lock() else {
        return internal();
    };
    let names: Vec<&String> = store.subjects.keys().collect();
    answer(StatusCode::OK, serde_json::json!(names))
}

async fn versions(
    State(shared): State<Arc<Shared>>,
    UrlPath(subject): UrlPath<String>,
) -> Response {
    let Ok(store) = shared.store.lock() else {
        return internal();
    };
    match store.subjects.get(&subject) {
        Some(v) => answer(
            StatusCode::OK,
            serde_json::json!((1..=v.len()).collect::<Vec<_>>()),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        ),
    }
}

async fn version(
    State(shared): State<Arc<Shared>>,
    UrlPath((subject, version)): UrlPath<(String, String)>,
) -> Response {
    let Ok(store) = shared.store.lock() else {
        return internal();
    };
    let Some(versions) = store.subjects.get(&subject) else {
        return error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        );
    };
    let number = match version.as_str() {
        "latest" | "-1" => Some(versions.len()),
        v => v.parse::<usize>().ok(),
    };
    match number.and_then(|n| subject_version(&store, &subject, n)) {
        Some(body) => answer(StatusCode::OK, body),
        None => error(StatusCode::NOT_FOUND, 40402, "Version not found."),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn avro(s: &str) -> Stored {
        Stored {
            schema: s.to_owned(),
            schema_type: "AVRO".to_owned(),
        }
    }

    #[test]
    fn a_schema_keeps_its_id_across_subjects_and_its_version_in_one() {
        let mut store = Store::default();
        assert_eq!(store.register("a-value", avro("\"string\"")), (1, 1));
        assert_eq!(store.register("a-value", avro("\"string\"")), (1, 1));
        assert_eq!(store.register("a-value", avro("\"int\"")), (2, 2));
        assert_eq!(store.register("b-value", avro("\"string\"")), (1, 1));
        let proto = Stored {
            schema: "\"string\"".to_owned(),
            schema_type: "PROTOBUF".to_owned(),
        };
        assert_eq!(store.register("b-value", proto), (3, 2));
        assert_eq!(store.subjects["a-value"], vec![1, 2]);
    }

    #[test]
    fn bad_avro_and_references_are_refused_as_the_registry_does() {
        let bad = checked(SchemaRequest {
            schema: "{\"type\":\"record\"}".to_owned(),
            schema_type: None,
            references: vec![],
        })
        .unwrap_err();
        assert!(bad.starts_with("Invalid schema:"), "{bad}");
        let refs = checked(SchemaRequest {
            schema: "\"string\"".to_owned(),
            schema_type: Some("AVRO".to_owned()),
            references: vec![serde_json::json!({"name": "x"})],
        })
        .unwrap_err();
        assert!(refs.contains("references"), "{refs}");
        assert!(
            checked(SchemaRequest {
                schema: "syntax = \"proto3\";".to_owned(),
                schema_type: Some("PROTOBUF".to_owned()),
                references: vec![],
            })
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_restart_on_the_same_file_keeps_the_ids() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("schemas.json");
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = SchemaRegistry::start(addr, Some(&file)).await.unwrap();
        assert_eq!(first.register("t-value", avro("\"long\"")).unwrap(), (1, 1));
        drop(first);
        let second = SchemaRegistry::start(addr, Some(&file)).await.unwrap();
        assert_eq!(second.store().schemas[&1], avro("\"long\""));
        std::fs::write(&file, b"not json").unwrap();
        let e = SchemaRegistry::start(addr, Some(&file)).await.unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}

//! What a request asks for, parsed once from its method, path and query: the server injects
//! faults by it and the tunnel dispatches on it, so the two cannot disagree about which call a
//! request is.
//!
//! The service API (`/api`) is routed by `api.rs` on its paths; here it is only told apart as
//! SQL instances that add a partition (for fault injection) or any other call. This module does
//! no I/O.

use axum::http::Method;

use crate::faults::CallKind;
use crate::incoming::{Request, Surface};

/// A table addressed by a tunnel call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub project: String,
    pub table: String,
}

/// A tunnel call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelOp {
    CreateUpload(TableRef),
    CreateDownload(TableRef),
    CommitUpload(TableRef),
    PutBlock(TableRef),
    ReadTableData(TableRef),
    UploadStatus(TableRef),
    DownloadStatus(TableRef),
    CreateStream(TableRef),
    StreamWrite(TableRef),
    StreamReload(TableRef),
    /// A stream session's `POST` with its id: answered as a reload, with an empty body.
    StreamFlush(TableRef),
    CreateUpsert(TableRef),
    WriteUpsert(TableRef),
    CommitUpsert(TableRef),
    ReloadUpsert(TableRef),
    AbortUpsert(TableRef),
    /// A download session of an instance's result (`POST ?downloads`, or a `GET`).
    InstanceDownload {
        project: String,
        instance: String,
        create: bool,
    },
    InstanceData {
        project: String,
        instance: String,
    },
    /// A call the tunnel does not serve.
    Unknown,
}

/// A request's operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// A service API call; `adds_partition` for an SQL instance that adds a partition.
    Api {
        adds_partition: bool,
    },
    Tunnel(TunnelOp),
}

impl Operation {
    /// Parses the operation of `req` (its body is read for SQL instances only).
    pub fn parse(req: &Request) -> Self {
        match req.surface {
            Surface::Api => Self::Api {
                adds_partition: adds_partition(req),
            },
            Surface::Tunnel | Surface::Admin => Self::Tunnel(TunnelOp::parse(req)),
        }
    }

    /// The kind fault rules name this operation by.
    pub fn call_kind(&self) -> CallKind {
        match self {
            Self::Api {
                adds_partition: true,
            } => CallKind::PartitionCreate,
            Self::Api { .. } => CallKind::Metadata,
            Self::Tunnel(op) => op.call_kind(),
        }
    }
}

fn adds_partition(req: &Request) -> bool {
    if req.method != Method::POST || req.segments.last().is_none_or(|s| s != "instances") {
        return false;
    }
    let body = String::from_utf8_lossy(&req.body).to_ascii_lowercase();
    body.contains("alter table") && body.contains(" add ") && body.contains("partition")
}

impl TunnelOp {
    pub fn parse(req: &Request) -> Self {
        let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        // Three-tier paths (`/projects/p/schemas/s/tables/t`) address the same tables.
        let seg: Vec<&str> = match seg.as_slice() {
            ["projects", p, "schemas", _, rest @ ..] => ["projects", *p]
                .into_iter()
                .chain(rest.iter().copied())
                .collect(),
            _ => seg,
        };
        let q = &req.query;
        let table = |p: &str, t: &str| TableRef {
            project: p.to_owned(),
            table: t.to_owned(),
        };
        let method = &req.method;
        match seg.as_slice() {
            ["projects", p, "tables", t] => {
                let t = table(p, t);
                match *method {
                    Method::POST if q.has("uploads") => Self::CreateUpload(t),
                    Method::POST if q.has("downloads") => Self::CreateDownload(t),
                    Method::POST if q.has("uploadid") => Self::CommitUpload(t),
                    Method::PUT if q.has("uploadid") => Self::PutBlock(t),
                    Method::GET if q.has("data") => Self::ReadTableData(t),
                    Method::GET if q.has("uploadid") => Self::UploadStatus(t),
                    Method::GET if q.has("downloadid") => Self::DownloadStatus(t),
                    _ => Self::Unknown,
                }
            }
            ["projects", p, "tables", t, "streams"] => {
                let t = table(p, t);
                match *method {
                    Method::POST if !q.has("uploadid") => Self::CreateStream(t),
                    Method::POST => Self::StreamFlush(t),
                    Method::PUT => Self::StreamWrite(t),
                    Method::GET => Self::StreamReload(t),
                    _ => Self::Unknown,
                }
            }
            ["projects", p, "tables", t, "upserts"] => {
                let t = table(p, t);
                match *method {
                    Method::POST if q.has("upsertid") => Self::CommitUpsert(t),
                    Method::POST => Self::CreateUpsert(t),
                    Method::GET => Self::ReloadUpsert(t),
                    Method::PUT => Self::WriteUpsert(t),
                    Method::DELETE => Self::AbortUpsert(t),
                    _ => Self::Unknown,
                }
            }
            ["projects", p, "instances", id] => {
                let (project, instance) = ((*p).to_owned(), (*id).to_owned());
                match *method {
                    Method::POST if q.has("downloads") => Self::InstanceDownload {
                        project,
                        instance,
                        create: true,
                    },
                    Method::GET if q.has("data") => Self::InstanceData { project, instance },
                    Method::GET => Self::InstanceDownload {
                        project,
                        instance,
                        create: false,
                    },
                    _ => Self::Unknown,
                }
            }
            _ => Self::Unknown,
        }
    }

    /// The kind fault rules name this call by.
    pub fn call_kind(&self) -> CallKind {
        match self {
            Self::PutBlock(_) => CallKind::BlockUpload,
            // A stream session's flush is the commit point of what was written before it.
            Self::CommitUpload(_) | Self::StreamFlush(_) => CallKind::Commit,
            Self::UploadStatus(_) | Self::ReloadUpsert(_) | Self::StreamReload(_) => {
                CallKind::SessionStatus
            }
            Self::WriteUpsert(_) => CallKind::UpsertWrite,
            Self::CommitUpsert(_) => CallKind::UpsertCommit,
            Self::StreamWrite(_) => CallKind::StreamWrite,
            Self::CreateUpload(_)
            | Self::CreateDownload(_)
            | Self::CreateStream(_)
            | Self::CreateUpsert(_)
            | Self::InstanceDownload { create: true, .. } => CallKind::SessionCreate,
            Self::ReadTableData(_) | Self::InstanceData { .. } => CallKind::Download,
            Self::DownloadStatus(_)
            | Self::AbortUpsert(_)
            | Self::InstanceDownload { create: false, .. }
            | Self::Unknown => CallKind::Metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, target: &str) -> Operation {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let req = Request::new(method, path, query, Default::default(), Default::default());
        Operation::parse(&req)
    }

    #[test]
    fn requests_parse_to_one_operation_and_its_fault_kind() {
        let t = || TableRef {
            project: "p".to_owned(),
            table: "t".to_owned(),
        };
        let cases = [
            (
                Method::POST,
                "/projects/p/tables/t?uploads",
                TunnelOp::CreateUpload(t()),
                CallKind::SessionCreate,
            ),
            (
                Method::PUT,
                "/projects/p/tables/t?uploadid=u&blockid=0",
                TunnelOp::PutBlock(t()),
                CallKind::BlockUpload,
            ),
            (
                Method::POST,
                "/projects/p/tables/t?uploadid=u",
                TunnelOp::CommitUpload(t()),
                CallKind::Commit,
            ),
            (
                Method::GET,
                "/projects/p/tables/t?uploadid=u",
                TunnelOp::UploadStatus(t()),
                CallKind::SessionStatus,
            ),
            (
                Method::GET,
                "/projects/p/schemas/default/tables/t?data&downloadid=d",
                TunnelOp::ReadTableData(t()),
                CallKind::Download,
            ),
            (
                Method::PUT,
                "/projects/p/tables/t/upserts?upsertid=s",
                TunnelOp::WriteUpsert(t()),
                CallKind::UpsertWrite,
            ),
            (
                Method::POST,
                "/projects/p/tables/t/upserts?upsertid=s",
                TunnelOp::CommitUpsert(t()),
                CallKind::UpsertCommit,
            ),
            (
                Method::POST,
                "/projects/p/tables/t/upserts",
                TunnelOp::CreateUpsert(t()),
                CallKind::SessionCreate,
            ),
            (
                Method::DELETE,
                "/projects/p/tables/t/upserts?upsertid=s",
                TunnelOp::AbortUpsert(t()),
                CallKind::Metadata,
            ),
            (
                Method::PUT,
                "/projects/p/tables/t/streams?uploadid=s",
                TunnelOp::StreamWrite(t()),
                CallKind::StreamWrite,
            ),
            (
                Method::PUT,
                "/projects/p/nothing",
                TunnelOp::Unknown,
                CallKind::Metadata,
            ),
        ];
        for (method, path, want, kind) in cases {
            let got = op(method.clone(), path);
            assert_eq!(got, Operation::Tunnel(want), "{method} {path}");
            assert_eq!(got.call_kind(), kind, "{method} {path}");
        }
        let api = op(Method::GET, "/api/projects/p/tables/t");
        assert_eq!(
            api,
            Operation::Api {
                adds_partition: false
            }
        );
        assert_eq!(api.call_kind(), CallKind::Metadata);
    }
}

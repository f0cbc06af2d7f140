//! The Tunnel (root path): batch upload sessions (create, block PUT, status, commit), stream
//! upload sessions (create, pack PUT visible at once, reload, abort), table download sessions and
//! the instance tunnel that streams a query's result; upsert sessions of Delta Tables are routed
//! here and handled in `upsert.rs`. Bodies are validated with the shared codec before anything
//! is stored; a refused block changes nothing. Metadata calls are in `api.rs`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maxcompute_core::protocol::SessionState;
use maxcompute_core::types::{OdpsType, TableSchema, Value};
use serde_json::json;

use crate::incoming::Request;
use crate::operation::TunnelOp;
use crate::partition::{self, PartSpec};
use crate::service_error::{EmuError, EmuResult};
use crate::state::AppState;
use crate::store::{self, TableInfo, UploadInfo};
use crate::{upsert, wire};

/// Block ids a batch session accepts: `[0, MAX_BLOCK_ID)`.
pub const MAX_BLOCK_ID: i64 = 20_000;
/// The per-cell limit reported to clients.
pub const MAX_FIELD_SIZE: usize = 8 * 1024 * 1024;
/// Slots a stream session reports.
pub const STREAM_SLOTS: usize = 2;

pub(crate) fn json_response(v: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

pub(crate) fn new_id() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    let suffix: String = (0..16)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    format!("{}{}", chrono::Utc::now().format("%Y%m%d%H%M%S"), suffix)
}

pub fn handle(state: &AppState, req: &Request, op: &TunnelOp) -> EmuResult<Response> {
    refuse_arrow(req)?;
    match op {
        TunnelOp::CreateUpload(t) => create_upload(state, req, &t.project, &t.table),
        TunnelOp::CreateDownload(t) => create_download(state, req, &t.project, &t.table),
        TunnelOp::CommitUpload(t) => commit(state, req, &t.project, &t.table),
        TunnelOp::PutBlock(t) => put_block(state, req, &t.project, &t.table),
        TunnelOp::ReadTableData(t) => read_table_data(state, req, &t.project, &t.table),
        TunnelOp::UploadStatus(t) => upload_status(state, req, &t.project, &t.table),
        TunnelOp::DownloadStatus(t) => download_status(state, req, &t.project, &t.table),
        TunnelOp::CreateStream(t) => create_stream(state, req, &t.project, &t.table),
        TunnelOp::StreamWrite(t) => stream_write(state, req, &t.project, &t.table),
        TunnelOp::StreamReload(t) => stream_reload(state, req, &t.project, &t.table),
        TunnelOp::StreamFlush(t) => stream_flush(state, req, &t.project, &t.table),
        TunnelOp::CommitUpsert(t) => upsert::commit(state, req, &t.project, &t.table),
        TunnelOp::CreateUpsert(t) => upsert::create(state, req, &t.project, &t.table),
        TunnelOp::ReloadUpsert(t) => upsert::reload(state, req, &t.project, &t.table),
        TunnelOp::WriteUpsert(t) => upsert::write(state, req, &t.project, &t.table),
        TunnelOp::AbortUpsert(t) => upsert::abort(state, req, &t.project, &t.table),
        TunnelOp::InstanceDownload {
            project, instance, ..
        } => instance_download(state, project, instance),
        TunnelOp::InstanceData { project, instance } => {
            instance_data(state, req, project, instance)
        }
        TunnelOp::Unknown => Err(EmuError::NoSuchObject(format!(
            "the emulator's tunnel does not serve {} {}",
            req.method, req.resource
        ))),
    }
}

/// The Content-Encoding pyodps gives Arrow record batches compressed with LZ4.
const ARROW_LZ4_ENCODING: &str = "x-odps-lz4-frame";

/// Refuses the Arrow tunnel (`?arrow` on a download, a block or an instance result, the
/// `x-odps-lz4-frame` encoding Arrow bodies use, and table previews): the emulator speaks the record stream only,
/// and a clear refusal beats answering Arrow requests with protobuf records.
fn refuse_arrow(req: &Request) -> EmuResult<()> {
    let arrow_encoding = ["content-encoding", "accept-encoding"].iter().any(|h| {
        req.header(h)
            .is_some_and(|v| v.to_ascii_lowercase().contains(ARROW_LZ4_ENCODING))
    });
    // A table preview (`.../tables/t/preview`, what `head()` tries first) answers Arrow too.
    let preview = req.segments.last().is_some_and(|s| s == "preview");
    if req.query.has("arrow") || arrow_encoding || preview {
        return Err(EmuError::NotSupported(format!(
            "the emulator does not support the Arrow tunnel ({} {}): read and write with the record (protobuf) tunnel",
            req.method, req.resource
        )));
    }
    Ok(())
}

fn upload_json(
    state: &AppState,
    up: &UploadInfo,
    schema: &TableSchema,
    status: &SessionState,
) -> EmuResult<serde_json::Value> {
    let blocks = state.store().uploaded_blocks(&up.id)?;
    Ok(json!({
        "UploadID": up.id,
        "Status": status.as_str(),
        "UploadedBlockList": blocks.iter().map(|b| json!({"BlockID": b})).collect::<Vec<_>>(),
        "Schema": store::schema_json(schema),
        "MaxFieldSize": MAX_FIELD_SIZE,
        "QuotaName": "",
    }))
}

/// Looks the table up and resolves the request's `partition` against it.
pub(crate) fn table_and_spec(
    state: &AppState,
    req: &Request,
    p: &str,
    t: &str,
) -> EmuResult<(TableInfo, PartSpec)> {
    let info = state.store().table(p, t)?;
    let spec = partition::resolve(
        &info.schema,
        req.query.get("partition").filter(|s| !s.is_empty()),
    )?;
    Ok((info, spec))
}

/// Batch and stream uploads append rows; a Delta Table keeps one row per key and takes writes
/// through upsert sessions only.
fn refuse_delta(info: &TableInfo, what: &str) -> EmuResult<()> {
    match info.delta() {
        Some(_) => Err(EmuError::InvalidArgument(format!(
            "table {} is a Delta Table (transactional with a primary key): write it through an upsert session, not a {what}",
            info.name
        ))),
        None => Ok(()),
    }
}

/// Creates the partition when asked to, otherwise requires it to exist.
fn ensure_partition(
    state: &AppState,
    info: &TableInfo,
    spec: &PartSpec,
    create: bool,
) -> EmuResult<()> {
    let store = state.store();
    if create && !info.schema.partition_keys.is_empty() {
        store.add_partition(info.id, spec)?;
        Ok(())
    } else {
        store.require_partition(info, spec)
    }
}

fn create_upload(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let (info, spec) = table_and_spec(state, req, p, t)?;
    refuse_delta(&info, "batch upload session")?;
    ensure_partition(state, &info, &spec, req.query.flag("create_partition"))?;
    let id = new_id();
    let overwrite = req
        .query
        .get("overwrite")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    state
        .store()
        .create_upload(&id, info.id, &spec, overwrite)?;
    let up = state.store().upload(&id)?;
    tracing::info!(table = %info.name, partition = %spec.canonical(), upload_id = %id, "upload session created");
    Ok(json_response(upload_json(
        state,
        &up,
        &info.schema,
        &SessionState::Normal,
    )?))
}

/// The session, checked against the addressed table and against expiry.
fn live_upload(state: &AppState, req: &Request, info: &TableInfo) -> EmuResult<UploadInfo> {
    let id = req.query.get("uploadid").unwrap_or_default();
    let up = state.store().upload(id)?;
    if up.table_id != info.id {
        return Err(EmuError::NoSuchUpload(format!(
            "upload session `{id}` does not belong to table {}",
            info.name
        )));
    }
    let age = state.clock.now_ms() - up.created_ms;
    if up.status.is_open() && age > state.session_ttl_ms() {
        state
            .store()
            .set_upload_status(id, &SessionState::Expired)?;
        return Ok(UploadInfo {
            status: SessionState::Expired,
            ..up
        });
    }
    Ok(up)
}

fn upload_status(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let up = live_upload(state, req, &info)?;
    Ok(json_response(upload_json(
        state,
        &up,
        &info.schema,
        &up.status,
    )?))
}

/// Refuses a session opened on an older schema than the table's (`SchemaModified`). What the
/// service does with a batch or upsert session created before an `ADD COLUMNS` is not
/// documented; the emulator refuses its blocks and its commit rather than guess at the
/// column count of what it was sent.
pub(crate) fn require_current_schema(info: &TableInfo, what: &str, version: i64) -> EmuResult<()> {
    if version == info.schema_version {
        return Ok(());
    }
    Err(store::schema_modified(what, version, info.schema_version))
}

fn put_block(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let up = live_upload(state, req, &info)?;
    if !up.status.is_open() {
        return Err(EmuError::StatusConflict(format!(
            "upload session `{}` is {}",
            up.id, up.status
        )));
    }
    let what = format!("upload session `{}`", up.id);
    require_current_schema(&info, &what, up.schema_version)?;
    let raw = req.query.get("blockid").unwrap_or_default();
    let block_id: i64 = raw
        .parse()
        .ok()
        .filter(|b| (0..MAX_BLOCK_ID).contains(b))
        .ok_or_else(|| {
            EmuError::InvalidBlockId(format!("block id `{raw}` is not in [0, {MAX_BLOCK_ID})"))
        })?;
    let bytes = wire::decode_body(req.header("content-encoding"), &req.body)?;
    let rows = wire::decode_rows(&info.schema.column_types(), &bytes)?;
    check_rows(&info.schema, &rows)?;
    state
        .store()
        .put_upload_block(&up.id, block_id, rows.len() as i64, &bytes)?;
    tracing::debug!(upload_id = %up.id, block_id, n_rows = rows.len(), "block stored");
    Ok(StatusCode::OK.into_response())
}

/// What the codec does not check but the service does: NULL in a NOT NULL column, string or
/// binary cells over `MaxFieldSize`, VARCHAR/CHAR over their length, integers out of their type's
/// range.
pub(crate) fn check_rows(schema: &TableSchema, rows: &[Vec<Value>]) -> EmuResult<()> {
    for row in rows {
        for (cell, col) in row.iter().zip(&schema.columns) {
            let refuse = |what: String| {
                Err(EmuError::MalformedDataStream(format!(
                    "column `{}` ({}): {what}",
                    col.name, col.ty
                )))
            };
            match (cell, &col.ty) {
                (Value::Bytes(b), _) if b.len() > MAX_FIELD_SIZE => {
                    return refuse(format!(
                        "a cell has {} bytes, more than MaxFieldSize {MAX_FIELD_SIZE}",
                        b.len()
                    ));
                }
                (Value::Bytes(b), OdpsType::Varchar(n) | OdpsType::Char(n)) => {
                    let chars = String::from_utf8_lossy(b).chars().count();
                    if chars > *n as usize {
                        return refuse(format!("a value of {chars} characters is longer than {n}"));
                    }
                }
                (Value::Integer(v), ty) => {
                    if let Some((lo, hi)) = ty.integer_range()
                        && !(lo..=hi).contains(v)
                    {
                        return refuse(format!("{v} is out of range"));
                    }
                }
                _ => {}
            }
        }
    }
    for (i, col) in schema.columns.iter().enumerate() {
        if !col.nullable && rows.iter().any(|r| r.get(i).is_none_or(Value::is_null)) {
            return Err(EmuError::MalformedDataStream(format!(
                "column `{}` is NOT NULL but a record has NULL",
                col.name
            )));
        }
    }
    Ok(())
}

fn commit(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let up = live_upload(state, req, &info)?;
    if !up.status.is_open() {
        return Err(EmuError::StatusConflict(format!(
            "upload session `{}` is {}; it can be committed only once",
            up.id, up.status
        )));
    }
    let what = format!("upload session `{}`", up.id);
    require_current_schema(&info, &what, up.schema_version)?;
    state.store().commit_upload(&up.id)?;
    tracing::info!(table = %info.name, upload_id = %up.id, "upload session committed");
    Ok(json_response(upload_json(
        state,
        &up,
        &info.schema,
        &SessionState::Closed,
    )?))
}

/// A stream session as create and reload answer it: the table's current schema and its
/// version, which the session's writes then carry.
fn stream_json(state: &AppState, id: &str, info: &TableInfo) -> serde_json::Value {
    let slots: Vec<serde_json::Value> = (1..=STREAM_SLOTS)
        .map(|i| json!([i.to_string(), state.endpoint.clone()]))
        .collect();
    json!({
        "session_name": id,
        "status": "normal",
        "schema": store::schema_json(&info.schema),
        "schema_version": info.schema_version.to_string(),
        "slots": slots,
        "quota_name": "",
        "QuotaName": "",
    })
}

/// The request's `schema_version`, when it names one.
fn requested_schema_version(req: &Request) -> EmuResult<Option<i64>> {
    match req.query.get("schema_version").filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|_| {
            EmuError::InvalidArgument(format!("schema_version `{raw}` is not a version number"))
        }),
    }
}

fn create_stream(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let (info, spec) = table_and_spec(state, req, p, t)?;
    refuse_delta(&info, "stream upload session")?;
    // The emulator keeps a table's latest schema only: a session is opened on it.
    if let Some(version) = requested_schema_version(req)? {
        require_current_schema(&info, "the stream session asked for", version)?;
    }
    ensure_partition(state, &info, &spec, req.query.has("create_partition"))?;
    let id = new_id();
    state.store().create_stream(&id, info.id, &spec)?;
    tracing::info!(table = %info.name, partition = %spec.canonical(), stream_id = %id, "stream session created");
    Ok(json_response(stream_json(state, &id, &info)))
}

/// The stream session named by `uploadid`, checked against the addressed table.
fn stream_of(state: &AppState, req: &Request, info: &TableInfo) -> EmuResult<store::StreamInfo> {
    let id = req.query.get("uploadid").unwrap_or_default();
    let stream = state.store().stream(id)?;
    if stream.table_id != info.id {
        return Err(EmuError::NoSuchUpload(format!(
            "stream session `{id}` does not belong to table {}",
            info.name
        )));
    }
    Ok(stream)
}

/// A reload moves the session to the table's current schema and answers it.
fn stream_reload(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let stream = stream_of(state, req, &info)?;
    state.store().reload_stream(&stream.id)?;
    Ok(json_response(stream_json(state, &stream.id, &info)))
}

/// A `POST` on a session: its packs are visible already, so nothing is left to do. Unlike a
/// reload, it leaves the session on the schema it writes.
fn stream_flush(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    stream_of(state, req, &info)?;
    Ok(StatusCode::OK.into_response())
}

/// One record pack, visible once stored. A pack is read with the schema of the version it
/// names (`schema_version`, else the session's); once the table's columns have changed since,
/// it is refused with `412 SchemaModified` and the latest version, before a byte of it is read.
fn stream_write(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let stream = stream_of(state, req, &info)?;
    let version = requested_schema_version(req)?.unwrap_or(stream.schema_version);
    let what = format!("stream session `{}`", stream.id);
    require_current_schema(&info, &what, version)?;
    let bytes = wire::decode_body(req.header("content-encoding"), &req.body)?;
    let rows = wire::decode_rows(&info.schema.column_types(), &bytes)?;
    check_rows(&info.schema, &rows)?;
    if let Some(declared) = req.query.get("record_count").filter(|c| !c.is_empty())
        && declared.parse::<usize>().ok() != Some(rows.len())
    {
        return Err(EmuError::MalformedDataStream(format!(
            "record_count is {declared} but the pack holds {} records",
            rows.len()
        )));
    }
    if !rows.is_empty() {
        state
            .store()
            .append_block(info.id, &stream.spec, version, rows.len() as i64, &bytes)?;
    }
    tracing::debug!(stream_id = %stream.id, n_rows = rows.len(), "stream pack stored");
    let slots = STREAM_SLOTS.to_string();
    Ok((
        StatusCode::OK,
        [
            ("odps-tunnel-routed-server", state.endpoint.as_str()),
            ("odps-tunnel-slot-num", slots.as_str()),
        ],
        "",
    )
        .into_response())
}

fn create_download(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let (info, spec) = table_and_spec(state, req, p, t)?;
    state.store().require_partition(&info, &spec)?;
    let id = new_id();
    let dl = state.store().create_download(&id, &info, &spec)?;
    Ok(json_response(json!({
        "DownloadID": dl.id,
        "Status": "normal",
        "RecordCount": dl.record_count,
        "Schema": store::schema_json(&info.schema),
        "QuotaName": "",
        "SupportReadByRawSize": false,
    })))
}

fn download_status(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let dl = state
        .store()
        .download(req.query.get("downloadid").unwrap_or_default())?;
    Ok(json_response(json!({
        "DownloadID": dl.id,
        "Status": "normal",
        "RecordCount": dl.record_count,
        "Schema": store::schema_json(&info.schema),
        "QuotaName": "",
        "SupportReadByRawSize": false,
    })))
}

/// Parses `(start,count)`, which must lie within the session's records; the one exception is
/// an empty session, whose read from 0 is answered with no rows as the service answers it
/// (a reader asking for one row of an empty table gets an empty download, not an error).
fn row_range(raw: Option<&str>, total: i64) -> EmuResult<(usize, usize)> {
    let raw = raw.unwrap_or_default();
    let bad = || {
        EmuError::InvalidRowRange(format!(
            "row range `{raw}` is not `(start,count)` within {total} records"
        ))
    };
    let inner = raw
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    let (s, n) = inner.split_once(',').ok_or_else(bad)?;
    let start: i64 = s.trim().parse().map_err(|_| bad())?;
    let count: i64 = n.trim().parse().map_err(|_| bad())?;
    if total == 0 && start == 0 && count >= 0 {
        return Ok((0, 0));
    }
    if start < 0 || count < 0 || start.saturating_add(count) > total {
        return Err(bad());
    }
    Ok((start as usize, count as usize))
}

/// Resolves `columns=a,b` to indices into `names`; absent means all.
fn column_subset(raw: Option<&str>, names: &[String]) -> EmuResult<Vec<usize>> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok((0..names.len()).collect()),
        Some(raw) => raw
            .split(',')
            .map(|c| {
                let c = c.trim();
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(c))
                    .ok_or_else(|| {
                        EmuError::InvalidColumnSpec(format!("column `{c}` does not exist"))
                    })
            })
            .collect(),
    }
}

/// Encodes the chosen columns of `rows` (fields renumbered 1..k), compressed with the first
/// codec of `Accept-Encoding` the emulator speaks.
fn data_response(
    req: &Request,
    types: &[OdpsType],
    picked: &[usize],
    rows: Vec<Vec<Value>>,
) -> EmuResult<Response> {
    let sub_types: Vec<OdpsType> = picked
        .iter()
        .filter_map(|i| types.get(*i).cloned())
        .collect();
    let projected = wire::project(rows, picked);
    let body = wire::encode_rows(&sub_types, &projected)?;
    match wire::accepted_codec(req.header("accept-encoding")) {
        Some(codec) => Ok((
            StatusCode::OK,
            [
                ("content-type", "application/octet-stream"),
                ("content-encoding", codec.content_encoding()),
            ],
            wire::compress(codec, &body)?,
        )
            .into_response()),
        None => Ok((
            StatusCode::OK,
            [("content-type", "application/octet-stream")],
            body,
        )
            .into_response()),
    }
}

fn read_table_data(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let dl = state
        .store()
        .download(req.query.get("downloadid").unwrap_or_default())?;
    if dl.table_id != info.id {
        return Err(EmuError::NoSuchDownload(format!(
            "download session `{}` does not belong to table {}",
            dl.id, info.name
        )));
    }
    let (start, count) = row_range(req.query.get("rowrange"), dl.record_count)?;
    let names: Vec<String> = info.schema.columns.iter().map(|c| c.name.clone()).collect();
    let picked = column_subset(req.query.get("columns"), &names)?;
    let types = info.schema.column_types();
    let blocks = if info.delta().is_some() {
        // A Delta Table's rows change in place: the session reads them only while the
        // partition is at the version it saw.
        let store = state.store();
        if store.delta_version(info.id, &dl.spec)? != dl.max_block {
            return Err(EmuError::StatusConflict(format!(
                "table {} was modified after download session `{}` was created; create a new one",
                info.name, dl.id
            )));
        }
        store.blocks(info.id, &dl.spec, None)?
    } else {
        state
            .store()
            .blocks(info.id, &dl.spec, Some(dl.max_block))?
    };
    let mut rows = Vec::with_capacity(count);
    let mut skipped = 0usize;
    for (n, data) in blocks {
        if rows.len() >= count {
            break;
        }
        let n = n as usize;
        if skipped + n <= start {
            skipped += n;
            continue;
        }
        for row in wire::read_stored_rows(&types, &data)? {
            if skipped < start {
                skipped += 1;
                continue;
            }
            if rows.len() >= count {
                break;
            }
            rows.push(row);
        }
    }
    data_response(req, &types, &picked, rows)
}

fn instance_result(state: &AppState, p: &str, id: &str) -> EmuResult<crate::exec::ResultSet> {
    let instances = state.instances();
    let inst = instances
        .get(id)
        .filter(|i| i.project.eq_ignore_ascii_case(p))
        .ok_or_else(|| EmuError::NoSuchObject(format!("instance `{id}` does not exist")))?;
    inst.result_set().cloned().ok_or_else(|| {
        EmuError::InstanceTypeNotSupported(format!(
            "instance `{id}` has no query result to download"
        ))
    })
}

fn instance_download(state: &AppState, p: &str, id: &str) -> EmuResult<Response> {
    let result = instance_result(state, p, id)?;
    let schema = TableSchema {
        columns: result.columns.clone(),
        partition_keys: Vec::new(),
    };
    Ok(json_response(json!({
        "DownloadID": id,
        "Status": "normal",
        "RecordCount": result.rows.len(),
        "Schema": store::schema_json(&schema),
        "QuotaName": "",
        "SupportReadByRawSize": false,
    })))
}

fn instance_data(state: &AppState, req: &Request, p: &str, id: &str) -> EmuResult<Response> {
    let result = instance_result(state, p, id)?;
    let (start, count) = row_range(req.query.get("rowrange"), result.rows.len() as i64)?;
    let names: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let picked = column_subset(req.query.get("columns"), &names)?;
    let types = result.types();
    let rows = result.rows.into_iter().skip(start).take(count).collect();
    data_response(req, &types, &picked, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ranges_are_checked() {
        assert_eq!(row_range(Some("(1,2)"), 4).unwrap(), (1, 2));
        assert_eq!(row_range(Some("(0,0)"), 0).unwrap(), (0, 0));
        // An empty session answers a read from 0 with no rows.
        assert_eq!(row_range(Some("(0,1)"), 0).unwrap(), (0, 0));
        assert!(row_range(Some("(1,1)"), 0).is_err());
        assert!(row_range(Some("(3,2)"), 4).is_err());
        assert!(row_range(Some("(-1,1)"), 4).is_err());
        assert!(row_range(Some("1,2"), 4).is_err());
        assert!(row_range(None, 4).is_err());
    }

    #[test]
    fn column_subsets_keep_request_order() {
        let names = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(column_subset(Some("c,A"), &names).unwrap(), vec![2, 0]);
        assert_eq!(column_subset(None, &names).unwrap(), vec![0, 1, 2]);
        assert!(matches!(
            column_subset(Some("z"), &names),
            Err(EmuError::InvalidColumnSpec(_))
        ));
    }
}

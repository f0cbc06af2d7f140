//! Upsert sessions of Delta Tables on the Tunnel (`/projects/p/tables/t/upserts`): create,
//! reload, write one bucket's records (PUT), commit, abort. A PUT body is a record stream of the
//! table's data columns plus the five upsert columns; it is validated with the shared codec,
//! every record's key is hashed with `maxcompute_core::bucket_hash` and must belong to the PUT's
//! bucket, and the pack is staged. A commit applies the staged operations in arrival order
//! (upsert = insert or replace the key's row, delete = remove the key) in one transaction; a
//! commit of a committed session answers as the first one did. Reads of the data live in
//! `exec.rs` and `tunnel.rs`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maxcompute_core::bucket_hash::{self, Hasher};
use maxcompute_core::protocol::SessionState;
use maxcompute_core::types::{Column, OdpsType, TableSchema, Value};
use serde_json::json;

use crate::incoming::Request;
use crate::partition;
use crate::service_error::{EmuError, EmuResult};
use crate::state::AppState;
use crate::store::{self, DeltaOp, TableInfo, Transactional, UpsertInfo};
use crate::tunnel::{check_rows, json_response, new_id, require_current_schema, table_and_spec};
use crate::wire;

/// The hasher every session names (the Java SDK's fallback; which one the service names is not
/// documented).
pub const HASHER: Hasher = Hasher::Default;
/// `__operation` of an upsert (`'U'`).
pub const OP_UPSERT: i64 = 85;
/// `__operation` of a delete (`'D'`).
pub const OP_DELETE: i64 = 68;

/// The columns clients append to the session's data columns in every record.
fn upsert_columns() -> [Column; 5] {
    [
        Column::new("__version", OdpsType::BigInt),
        Column::new("__app_version", OdpsType::BigInt),
        Column::new("__operation", OdpsType::TinyInt),
        Column::new("__key_cols", OdpsType::Array(Box::new(OdpsType::BigInt))),
        Column::new("__value_cols", OdpsType::Array(Box::new(OdpsType::BigInt))),
    ]
}

/// The table's key and buckets, or a refusal naming why the table takes no upserts.
fn delta_of(info: &TableInfo) -> EmuResult<&Transactional> {
    info.delta().ok_or_else(|| {
        EmuError::InvalidArgument(format!(
            "table {} is not a Delta Table (transactional with a primary key); upsert sessions need one",
            info.name
        ))
    })
}

/// The bucket ids slot `slot` (1-based) owns when `buckets` are split over `slots` slots in
/// contiguous runs.
fn slot_buckets(buckets: u32, slots: u32, slot: u32) -> Vec<u32> {
    (0..buckets)
        .filter(|b| slot_of(*b, buckets, slots) == slot)
        .collect()
}

fn slot_of(bucket: u32, buckets: u32, slots: u32) -> u32 {
    let owner = u64::from(bucket) * u64::from(slots) / u64::from(buckets.max(1));
    u32::try_from(owner).unwrap_or(0) + 1
}

fn session_json(state: &AppState, up: &UpsertInfo, info: &TableInfo, key: &[String]) -> Response {
    let slots: Vec<serde_json::Value> = (1..=up.slot_num)
        .map(|s| {
            json!({
                "slot_id": s.to_string(),
                "worker_addr": state.endpoint,
                "buckets": slot_buckets(up.bucket_num, up.slot_num, s),
            })
        })
        .collect();
    // Java reads `nullable`, pyodps `isNullable`: both are sent.
    let mut schema = store::schema_json(&info.schema);
    for list in ["columns", "partitionKeys"] {
        for col in schema
            .get_mut(list)
            .and_then(|c| c.as_array_mut())
            .into_iter()
            .flatten()
        {
            let nullable = col.get("nullable").cloned().unwrap_or(true.into());
            if let Some(obj) = col.as_object_mut() {
                obj.insert("isNullable".to_owned(), nullable);
            }
        }
    }
    json_response(json!({
        "id": up.id,
        "status": up.status.as_str(),
        "slots": slots,
        "schema": schema,
        "hash_key": key,
        "hasher": HASHER.name(),
        "quota_name": "",
        "enable_partial_update": false,
    }))
}

pub fn create(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let (info, spec) = table_and_spec(state, req, p, t)?;
    let delta = delta_of(&info)?;
    state.store().require_partition(&info, &spec)?;
    let raw = req
        .query
        .get("slotnum")
        .filter(|s| !s.is_empty())
        .unwrap_or("1");
    let slot_num = raw
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            EmuError::InvalidArgument(format!("slotnum `{raw}` is not a positive number"))
        })?
        .min(delta.bucket_num);
    let id = new_id();
    let store = state.store();
    store.create_upsert(&id, info.id, &spec, delta.bucket_num, slot_num)?;
    let up = store.upsert(&id)?;
    tracing::info!(table = %info.name, partition = %spec.canonical(), upsert_id = %id, "upsert session created");
    Ok(session_json(state, &up, &info, &delta.primary_key))
}

/// The session named by `upsertid`, checked against the addressed table and partition, and
/// expired (its staged data dropped) once older than the session lifetime.
fn session(state: &AppState, req: &Request, info: &TableInfo) -> EmuResult<UpsertInfo> {
    let id = req.query.get("upsertid").unwrap_or_default();
    let mut store = state.store();
    let up = store.upsert(id)?;
    if up.table_id != info.id {
        return Err(EmuError::UpsertSessionNotFound(format!(
            "upsert session `{id}` does not belong to table {}",
            info.name
        )));
    }
    if let Some(raw) = req.query.get("partition").filter(|s| !s.is_empty()) {
        let spec = partition::resolve(&info.schema, Some(raw))?;
        if spec.canonical() != up.spec {
            return Err(EmuError::InvalidPartitionSpec(format!(
                "upsert session `{id}` writes partition `{}`, not `{}`",
                up.spec,
                spec.canonical()
            )));
        }
    }
    let age = state.clock.now_ms() - up.created_ms;
    if up.status.is_open() && age > state.session_ttl_ms() {
        store.end_upsert(id, &SessionState::Expired)?;
        return Ok(UpsertInfo {
            status: SessionState::Expired,
            ..up
        });
    }
    Ok(up)
}

pub fn reload(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let delta = delta_of(&info)?;
    let up = session(state, req, &info)?;
    Ok(session_json(state, &up, &info, &delta.primary_key))
}

/// One PUT: a complete record stream for one bucket, staged until commit.
pub fn write(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let delta = delta_of(&info)?;
    let up = session(state, req, &info)?;
    if !up.status.is_open() {
        return Err(EmuError::StatusConflict(format!(
            "upsert session `{}` is {}; only a normal session takes writes",
            up.id, up.status
        )));
    }
    let raw = req.query.get("bucketid").unwrap_or_default();
    let bucket = raw
        .parse::<u32>()
        .ok()
        .filter(|b| *b < up.bucket_num)
        .ok_or_else(|| {
            EmuError::InvalidArgument(format!(
                "bucketid `{raw}` is not a bucket of this session (0 to {})",
                up.bucket_num.saturating_sub(1)
            ))
        })?;
    let what = format!("upsert session `{}`", up.id);
    require_current_schema(&info, &what, up.schema_version)?;
    let owner = slot_of(bucket, up.bucket_num, up.slot_num);
    if let Some(slot) = req.query.get("slotid")
        && slot != owner.to_string()
    {
        return Err(EmuError::InvalidArgument(format!(
            "bucket {bucket} belongs to slot {owner}, not to slot `{slot}`"
        )));
    }
    let bytes = wire::decode_body(req.header("content-encoding"), &req.body)?;
    let records = Records::of(&info, delta)?;
    let rows = wire::decode_rows(&records.types, &bytes)?;
    if let Some(declared) = req.query.get("record_count").filter(|c| !c.is_empty())
        && declared.parse::<usize>().ok() != Some(rows.len())
    {
        return Err(EmuError::MalformedDataStream(format!(
            "record_count is {declared} but the body holds {} records",
            rows.len()
        )));
    }
    records.check(&info.schema, &rows, bucket, up.bucket_num)?;
    let store = state.store();
    // Checked again under the lock a commit takes, so no pack joins a session after its commit.
    let now = store.upsert(&up.id)?;
    if !now.status.is_open() {
        return Err(EmuError::StatusConflict(format!(
            "upsert session `{}` is {}; only a normal session takes writes",
            up.id, now.status
        )));
    }
    store.put_upsert_pack(&up.id, bucket, rows.len() as i64, &bytes)?;
    tracing::debug!(upsert_id = %up.id, bucket, n_rows = rows.len(), "upsert pack staged");
    Ok(StatusCode::OK.into_response())
}

pub fn commit(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let id = session(state, req, &info)?.id;
    // One lock from the status check to the commit, so two commits cannot both apply; the
    // table is read again under it, so its packs are read with the columns they are checked
    // against.
    let mut store = state.store();
    let info = store.table(p, t)?;
    let delta = delta_of(&info)?;
    let records = Records::of(&info, delta)?;
    let up = store.upsert(&id)?;
    match &up.status {
        // Clients repeat a commit routinely (after a lost answer, and while polling).
        SessionState::Committed => {
            return Ok(session_json(state, &up, &info, &delta.primary_key));
        }
        SessionState::Normal => {}
        other => {
            return Err(EmuError::StatusConflict(format!(
                "upsert session `{}` is {other}; it can no longer be committed",
                up.id
            )));
        }
    }
    // The packs hold the operation columns after the data columns of the session's schema:
    // read with more data columns they would be misread, so a session opened before an
    // `ADD COLUMNS` is refused.
    require_current_schema(
        &info,
        &format!("upsert session `{}`", up.id),
        up.schema_version,
    )?;
    let mut ops = Vec::new();
    for (_, pack) in store.upsert_packs(&up.id)? {
        for row in wire::decode_rows(&records.types, &pack)? {
            ops.push(records.op(&row)?);
        }
    }
    store.commit_upsert(&up.id, &ops)?;
    let up = store.upsert(&up.id)?;
    tracing::info!(table = %info.name, upsert_id = %up.id, n_ops = ops.len(), "upsert session committed");
    Ok(session_json(state, &up, &info, &delta.primary_key))
}

pub fn abort(state: &AppState, req: &Request, p: &str, t: &str) -> EmuResult<Response> {
    let info = state.store().table(p, t)?;
    let delta = delta_of(&info)?;
    let id = session(state, req, &info)?.id;
    let mut store = state.store();
    let up = store.upsert(&id)?;
    match up.status {
        SessionState::Normal => store.end_upsert(&up.id, &SessionState::Aborted)?,
        SessionState::Committed => {
            return Err(EmuError::StatusConflict(format!(
                "upsert session `{}` is committed; it can no longer be aborted",
                up.id
            )));
        }
        // Aborted or expired: the staged data is already gone.
        _ => {}
    }
    let up = store.upsert(&up.id)?;
    drop(store);
    tracing::info!(table = %info.name, upsert_id = %up.id, "upsert session aborted");
    Ok(session_json(state, &up, &info, &delta.primary_key))
}

/// How the records of one table's upsert packs are laid out.
struct Records {
    /// The data columns' types, then the five upsert columns'.
    types: Vec<OdpsType>,
    data_types: Vec<OdpsType>,
    /// Index and type of each key column, in key order.
    key: Vec<(usize, OdpsType, String)>,
}

impl Records {
    fn of(info: &TableInfo, delta: &Transactional) -> EmuResult<Self> {
        let data_types = info.schema.column_types();
        let types = data_types
            .iter()
            .cloned()
            .chain(upsert_columns().into_iter().map(|c| c.ty))
            .collect();
        let mut key = Vec::new();
        for name in &delta.primary_key {
            let (i, col) = info
                .schema
                .columns
                .iter()
                .enumerate()
                .find(|(_, c)| c.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    EmuError::Internal(format!("key column `{name}` is not in the schema"))
                })?;
            key.push((i, col.ty.clone(), col.name.clone()));
        }
        Ok(Self {
            types,
            data_types,
            key,
        })
    }

    fn cell<'a>(&self, row: &'a [Value], upsert_column: usize) -> &'a Value {
        row.get(self.data_types.len() + upsert_column)
            .unwrap_or(&Value::Null)
    }

    /// `__operation` of a record.
    fn operation(&self, row: &[Value]) -> EmuResult<i64> {
        match self.cell(row, 2) {
            Value::Integer(op) if *op == OP_UPSERT || *op == OP_DELETE => Ok(*op),
            other => Err(EmuError::MalformedDataStream(format!(
                "__operation is {}; 85 ('U', upsert) or 68 ('D', delete) expected",
                crate::exec::render(other)
            ))),
        }
    }

    /// What the codec does not check: the operation, partial updates, NULL keys, each key's
    /// bucket, and the service's per-column checks (NOT NULL applies to upserts; a delete needs
    /// only its key).
    fn check(
        &self,
        schema: &TableSchema,
        rows: &[Vec<Value>],
        bucket: u32,
        bucket_num: u32,
    ) -> EmuResult<()> {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let op = self.operation(row)?;
            match self.cell(row, 4) {
                Value::Null => {}
                Value::Array(cols) if cols.is_empty() => {}
                _ => {
                    return Err(EmuError::InvalidArgument(format!(
                        "record {i} names columns in __value_cols: partial-column upserts are not emulated"
                    )));
                }
            }
            let mut key = Vec::new();
            for (at, ty, name) in &self.key {
                let cell = row.get(*at).unwrap_or(&Value::Null);
                if cell.is_null() {
                    return Err(EmuError::MalformedDataStream(format!(
                        "record {i}: primary key column `{name}` is NULL"
                    )));
                }
                key.push((ty, cell));
            }
            let hash = bucket_hash::record_hash(HASHER, key.iter().copied()).map_err(|e| {
                EmuError::MalformedDataStream(format!("record {i}: the key cannot be hashed: {e}"))
            })?;
            let expected = bucket_hash::bucket(hash, bucket_num);
            if expected != bucket {
                let shown: Vec<String> = key.iter().map(|(_, v)| crate::exec::render(v)).collect();
                return Err(EmuError::BucketMismatch(format!(
                    "record {i} with key ({}) belongs to bucket {expected} of {bucket_num} ({} hasher), but was written to bucket {bucket}",
                    shown.join(", "),
                    HASHER.name()
                )));
            }
            if op == OP_UPSERT {
                upserts.push(row.clone());
            } else {
                deletes.push(row.clone());
            }
        }
        check_rows(schema, &upserts)?;
        let mut relaxed = schema.clone();
        for col in &mut relaxed.columns {
            col.nullable = true;
        }
        check_rows(&relaxed, &deletes)
    }

    /// The stored form of one validated record: its key and, for an upsert, its data columns,
    /// each encoded as a one-record stream.
    fn op(&self, row: &[Value]) -> EmuResult<DeltaOp> {
        let key_types: Vec<OdpsType> = self.key.iter().map(|(_, ty, _)| ty.clone()).collect();
        let key_cells: Vec<Value> = self
            .key
            .iter()
            .map(|(at, _, _)| row.get(*at).cloned().unwrap_or(Value::Null))
            .collect();
        let key = wire::encode_rows(&key_types, &[key_cells])?;
        if self.operation(row)? == OP_DELETE {
            return Ok(DeltaOp::Delete { key });
        }
        let data: Vec<Value> = row.iter().take(self.data_types.len()).cloned().collect();
        let row = wire::encode_rows(&self.data_types, &[data])?;
        Ok(DeltaOp::Upsert { key, row })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_into_contiguous_slots() {
        assert_eq!(slot_buckets(4, 2, 1), vec![0, 1]);
        assert_eq!(slot_buckets(4, 2, 2), vec![2, 3]);
        assert_eq!(slot_buckets(16, 1, 1), (0..16).collect::<Vec<_>>());
        let all: Vec<u32> = (1..=3).flat_map(|s| slot_buckets(16, 3, s)).collect();
        assert_eq!(all, (0..16).collect::<Vec<_>>());
    }
}

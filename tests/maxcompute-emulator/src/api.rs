//! The service API (`/api/...`): project and table metadata (plain and `?extended`), table
//! listings, `Table.head()` (`?data`, CSV), partition lookup and listing,
//! tunnel discovery, the logview host, and SQL instances (submit, status, task status, result,
//! source). Statements run synchronously at submission; the instance is `Terminated` when the
//! client first looks. Data-plane calls are in `tunnel.rs`.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::exec::{self, Outcome};
use crate::incoming::Request;
use crate::partition;
use crate::service_error::{EmuError, EmuResult};
use crate::state::{AppState, Instance};
use crate::store::{self, PartitionInfo, TableInfo};
use crate::xml_body::{self, DECL, cdata, escape};

/// Partitions per listing page when the client does not say (`maxitems`).
pub const PARTITION_PAGE: usize = 1000;

/// Tables per listing page when the client does not say (`maxitems`).
pub const TABLE_PAGE: usize = 1000;

/// The most rows `Table.head()` returns, as pyodps documents the call.
pub const MAX_HEAD_ROWS: u64 = 10_000;

/// Instances (with their query results) kept in memory; older ones are forgotten.
pub const MAX_INSTANCES: usize = 1000;

/// The owner every object reports.
pub const OWNER: &str = "ALIYUN$emulator@local";

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/xml")], body).into_response()
}

fn text_response(body: String) -> Response {
    (StatusCode::OK, [("content-type", "text/plain")], body).into_response()
}

/// The actions (query parameters without a value, such as `?extended`) each resource serves;
/// any other is refused, as the service refuses an action it does not know rather than
/// answering as if it were absent.
fn allowed_actions(method: &Method, seg: &[&str]) -> Option<&'static [&'static str]> {
    Some(match (method, seg) {
        (&Method::GET, ["projects", _, "tables"]) => &["expectmarker", "extended"],
        (&Method::GET, ["projects", _, "tables", _])
        | (&Method::GET, ["projects", _, "schemas", _, "tables", _]) => {
            &["expectmarker", "extended", "partitions", "reverse", "data"]
        }
        (&Method::GET, ["projects", _, "instances", _]) => &["result", "source", "taskstatus"],
        (&Method::GET, ["projects", _, "tunnel"]) => &["service"],
        (&Method::GET, ["projects", _])
        | (&Method::GET, ["logview", "host"])
        | (&Method::POST, ["projects", _, "instances"])
        | (&Method::PUT, ["projects", _, "instances", _]) => &[],
        // Not served at all: answered as a missing object, whatever the action.
        _ => return None,
    })
}

/// Refuses a query action the resource does not serve, with the service's code for an invalid
/// parameter (ODPS-0420061, HTTP 400, reported under `InvalidArgument`).
fn check_actions(req: &Request, seg: &[&str]) -> EmuResult<()> {
    let Some(allowed) = allowed_actions(&req.method, seg) else {
        return Ok(());
    };
    let unknown = req
        .query
        .pairs()
        .iter()
        .find(|(k, v)| v.is_empty() && !allowed.contains(&k.as_str()) && !is_known_param(k));
    match unknown {
        None => Ok(()),
        Some((k, _)) => Err(EmuError::InvalidArgument(format!(
            "ODPS-0420061: Invalid parameter in HTTP request - the action `{k}` is not supported on {} /api{}",
            req.method, req.resource
        ))),
    }
}

/// Parameters that carry a value and may legitimately arrive empty.
fn is_known_param(name: &str) -> bool {
    matches!(
        name,
        "partition"
            | "marker"
            | "maxitems"
            | "name"
            | "owner"
            | "type"
            | "curr_schema"
            | "schema_name"
            | "linenum"
            | "cols"
            | "taskname"
    )
}

pub fn handle(state: &AppState, req: &Request) -> EmuResult<Response> {
    let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    check_actions(req, &seg)?;
    match (&req.method, seg.as_slice()) {
        (&Method::GET, ["logview", "host"]) => {
            Ok(text_response("http://logview.emulator.invalid".to_owned()))
        }
        (_, ["tenants", ..]) => Err(EmuError::NoSuchObject(
            "tenants are not emulated".to_owned(),
        )),
        (&Method::GET, ["projects", p]) => Ok(project_xml(p)),
        (&Method::GET, ["projects", _p, "tunnel"]) => Ok(text_response(state.endpoint.clone())),
        (&Method::GET, ["projects", p, "tables"]) => list_tables(state, req, p),
        (&Method::GET, ["projects", p, "tables", t])
        | (&Method::GET, ["projects", p, "schemas", _, "tables", t]) => table_get(state, req, p, t),
        (&Method::POST, ["projects", p, "instances"]) => submit_instance(state, req, p),
        (&Method::GET, ["projects", p, "instances", id]) => instance_get(state, req, p, id),
        (&Method::PUT, ["projects", _p, "instances", _id]) => {
            Ok(xml_response(StatusCode::OK, String::new()))
        }
        _ => Err(EmuError::NoSuchObject(format!(
            "the emulator does not serve {} /api{}",
            req.method, req.resource
        ))),
    }
}

fn project_xml(p: &str) -> Response {
    let now = http_time(Utc::now());
    xml_response(
        StatusCode::OK,
        format!(
            "{DECL}<Project><Name>{}</Name><Type>managed</Type><Comment></Comment><Owner>{}</Owner><State>AVAILABLE</State><CreationTime>{now}</CreationTime><LastModifiedTime>{now}</LastModifiedTime><ProjectGroupName></ProjectGroupName><Properties></Properties></Project>",
            escape(p),
            escape(OWNER)
        ),
    )
}

fn http_time(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn ms_to_http(ms: i64) -> String {
    http_time(DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

/// What the table's `?extended` answer adds: the table's storage as the service reports it
/// (a table is never archived here; its physical size is its stored size; a file is a
/// committed block).
#[derive(Debug, Clone, Copy)]
struct Extended {
    physical_size: i64,
    file_num: i64,
}

fn table_schema_json(t: &TableInfo, size: i64, extended: Option<Extended>) -> String {
    let mut v = store::schema_json(&t.schema);
    if let Some(cols) = v.get_mut("columns").and_then(|c| c.as_array_mut()) {
        for c in cols {
            if let Some(obj) = c.as_object_mut() {
                let nullable = obj
                    .remove("nullable")
                    .unwrap_or(serde_json::Value::Bool(true));
                obj.insert("isNullable".to_owned(), nullable);
            }
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert("tableName".into(), t.name.clone().into());
        obj.insert("comment".into(), t.comment.clone().into());
        obj.insert("owner".into(), OWNER.into());
        obj.insert("createTime".into(), (t.created_ms / 1000).into());
        obj.insert("lastDDLTime".into(), (t.ddl_ms / 1000).into());
        obj.insert("lastModifiedTime".into(), (t.modified_ms / 1000).into());
        obj.insert("isVirtualView".into(), false.into());
        obj.insert("lifecycle".into(), t.lifecycle.into());
        obj.insert("size".into(), size.into());
        // No label. pyodps reads a `tableLabel` of "0" as none (""), the spelling its reader
        // expects from the service.
        obj.insert("tableLabel".into(), "0".into());
        // A table created `INTO n SHARDS` (a hub table) reports its shards.
        if let Some(shards) = t.shards {
            obj.insert("shardExist".into(), true.into());
            let mut info = serde_json::Map::new();
            info.insert("ShardNum".into(), shards.shard_num.into());
            if let Some(h) = shards.hub_lifecycle {
                info.insert("HubLifecycle".into(), h.into());
            }
            obj.insert("shardInfo".into(), serde_json::Value::Object(info));
        }
        if let Some(x) = extended {
            obj.insert("IsArchived".into(), false.into());
            obj.insert("PhysicalSize".into(), x.physical_size.into());
            obj.insert("FileNum".into(), x.file_num.into());
        }
        // `Reserved` is a string holding JSON; pyodps reads `Transactional` and `PrimaryKey`
        // from it to decide that a table is a Delta Table (writes by upsert, reads by SQL),
        // and `schema_version` (a string) as the version a stream session is opened on.
        let mut reserved = serde_json::Map::new();
        reserved.insert("schema_version".into(), t.schema_version.to_string().into());
        if let Some(x) = &t.transactional {
            reserved.insert("Transactional".into(), "true".into());
            if !x.primary_key.is_empty() {
                reserved.insert("PrimaryKey".into(), x.primary_key.clone().into());
            }
        }
        let reserved = serde_json::Value::Object(reserved);
        obj.insert("Reserved".into(), reserved.to_string().into());
    }
    v.to_string()
}

/// `GET .../tables/t`: the table's metadata, or with `?data` its first rows, with
/// `?partitions` a page of its partitions, with `?partition=..` one partition.
fn table_get(state: &AppState, req: &Request, project: &str, table: &str) -> EmuResult<Response> {
    let store = state.store();
    let info = store.table(project, table)?;
    let extended = req.query.has("extended");
    if req.query.has("data") {
        head(&store, req, project, &info)
    } else if req.query.has("partitions") {
        partitions_page(&store, req, &info)
    } else if let Some(raw) = req.query.get("partition") {
        partition_get(&store, &info, raw, extended)
    } else {
        table_meta(&store, &info, extended)
    }
}

fn table_meta(
    store: &crate::store::Store,
    info: &TableInfo,
    extended: bool,
) -> EmuResult<Response> {
    let size = table_size(store, info)?;
    let x = if extended {
        Some(Extended {
            physical_size: size,
            file_num: store.file_count(info.id, None)?,
        })
    } else {
        None
    };
    Ok(xml_response(
        StatusCode::OK,
        format!("{DECL}{}", table_xml(info, size, x)),
    ))
}

fn partition_get(
    store: &crate::store::Store,
    info: &TableInfo,
    raw: &str,
    extended: bool,
) -> EmuResult<Response> {
    let spec = partition::resolve(&info.schema, Some(raw))?;
    let p = store.partition(info.id, &spec)?.ok_or_else(|| {
        EmuError::NoSuchPartition(format!(
            "The specified partition does not exist: {}",
            spec.quoted()
        ))
    })?;
    let x = if extended {
        Some(Extended {
            physical_size: p.size,
            file_num: store.file_count(info.id, Some(&p.spec.canonical()))?,
        })
    } else {
        None
    };
    Ok(xml_response(
        StatusCode::OK,
        format!(
            "{DECL}{}",
            partition_xml(&p, x.map(|x| (x, info.lifecycle)))
        ),
    ))
}

/// `?partitions`: the partitions under the `partition` prefix, one page of `maxitems` after
/// `marker` (the canonical spec of the last partition of the previous page), from the last
/// one back with `?reverse`; `Marker` is empty on the last page.
fn partitions_page(
    store: &crate::store::Store,
    req: &Request,
    info: &TableInfo,
) -> EmuResult<Response> {
    let mut parts = store.list_partitions(info.id)?;
    let prefix = match req.query.get("partition") {
        Some(raw) if !raw.is_empty() => partition::parse_pairs(raw)?,
        _ => Vec::new(),
    };
    let max_items = req
        .query
        .get("maxitems")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(PARTITION_PAGE);
    let marker = req.query.get("marker").unwrap_or_default();
    let reverse = req.query.has("reverse");
    if reverse {
        parts.reverse();
    }
    let under_prefix = |p: &&PartitionInfo| {
        prefix.iter().all(|(k, v)| {
            p.spec
                .pairs
                .iter()
                .any(|(pk, pv)| pk.eq_ignore_ascii_case(k) && pv == v)
        })
    };
    let after_marker = |p: &&PartitionInfo| {
        let key = p.spec.canonical();
        marker.is_empty()
            || if reverse {
                key.as_str() < marker
            } else {
                key.as_str() > marker
            }
    };
    let matching: Vec<&PartitionInfo> = parts
        .iter()
        .filter(under_prefix)
        .filter(after_marker)
        .collect();
    let page: Vec<&PartitionInfo> = matching.iter().take(max_items).copied().collect();
    let next_marker = if matching.len() > page.len() {
        page.last().map(|p| p.spec.canonical()).unwrap_or_default()
    } else {
        String::new()
    };
    let mut body = format!("{DECL}<Partitions>");
    for p in page {
        body.push_str(&partition_xml(p, None));
    }
    body.push_str(&format!(
        "<Marker>{}</Marker><MaxItems>{max_items}</MaxItems></Partitions>",
        escape(&next_marker)
    ));
    Ok(xml_response(StatusCode::OK, body))
}

fn table_xml(info: &TableInfo, size: i64, extended: Option<Extended>) -> String {
    format!(
        "<Table><Name>{}</Name><TableId>{}</TableId><Owner>{}</Owner><Type>MANAGED_TABLE</Type><CreationTime>{}</CreationTime><LastModifiedTime>{}</LastModifiedTime><Schema>{}</Schema></Table>",
        escape(&info.name),
        info.id,
        escape(OWNER),
        ms_to_http(info.created_ms),
        ms_to_http(info.modified_ms),
        cdata(&table_schema_json(info, size, extended)),
    )
}

/// `Table.head()`: `GET .../tables/t?data&linenum=N[&partition=..][&cols=a,b]`, answered as
/// the service does, with CSV text: a header line of column names (the partition columns
/// after the data columns), then one line per row with `\N` for NULL. pyodps reads it with
/// its CSV record reader.
fn head(
    store: &crate::store::Store,
    req: &Request,
    project: &str,
    info: &TableInfo,
) -> EmuResult<Response> {
    let raw = req.query.get("linenum").unwrap_or_default();
    // At most MAX_HEAD_ROWS rows come back, however many are asked for.
    let limit = raw
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(|n| n.min(MAX_HEAD_ROWS))
        .ok_or_else(|| {
            EmuError::InvalidArgument(format!("linenum `{raw}` is not a positive number of rows"))
        })?;
    let partition = match req.query.get("partition").filter(|p| !p.is_empty()) {
        Some(raw) => {
            let spec = partition::resolve(&info.schema, Some(raw))?;
            store.require_partition(info, &spec)?;
            spec.pairs
        }
        None => Vec::new(),
    };
    let columns = req
        .query
        .get("cols")
        .filter(|c| !c.is_empty())
        .map(|c| c.split(',').map(|n| n.trim().to_owned()).collect());
    let result = exec::head(store, project, &info.name, &partition, columns, limit)?;
    Ok((
        StatusCode::OK,
        [("content-type", "text/plain; charset=utf-8")],
        result.to_csv(),
    )
        .into_response())
}

/// A partition element. With `extended` (and the table's lifecycle, which partitions share)
/// its schema JSON is what `?partition=..&extended` reports: the extended fields only, so a
/// client still loads the plain metadata (times, sizes) with a plain request.
/// The bytes a table holds: its committed data, over all partitions.
fn table_size(store: &crate::store::Store, info: &TableInfo) -> EmuResult<i64> {
    Ok(if info.schema.partition_keys.is_empty() {
        store
            .blocks(info.id, "", None)?
            .iter()
            .map(|(_, d)| d.len() as i64)
            .sum()
    } else {
        store.list_partitions(info.id)?.iter().map(|p| p.size).sum()
    })
}

fn partition_xml(p: &PartitionInfo, extended: Option<(Extended, i64)>) -> String {
    let mut out = String::from("<Partition>");
    for (k, v) in &p.spec.pairs {
        out.push_str(&format!(
            "<Column Name=\"{}\" Value=\"{}\"/>",
            escape(k),
            escape(v)
        ));
    }
    let mut meta = serde_json::json!({
        "createTime": p.created_ms / 1000,
        "lastDDLTime": p.created_ms / 1000,
        "lastModifiedTime": p.modified_ms / 1000,
        "partitionSize": p.size,
        "partitionRecordNum": p.record_count,
    });
    if let Some((x, lifecycle)) = extended {
        meta = serde_json::json!({
            "IsArchived": false,
            "IsExstore": false,
            "LifeCycle": lifecycle,
            "PhysicalSize": x.physical_size,
            "FileNum": x.file_num,
        });
    }
    out.push_str(&format!(
        "<Schema>{}</Schema></Partition>",
        cdata(&meta.to_string())
    ));
    out
}

/// `GET .../tables`: the tables whose name starts with `name` (case-insensitive, as names
/// are), owned by `owner` and of `type`, in name order, one page of `maxitems` after `marker`
/// (the last name of the previous page); `Marker` is empty on the last page. With `extended`
/// each table carries its whole metadata.
fn list_tables(state: &AppState, req: &Request, project: &str) -> EmuResult<Response> {
    let q = &req.query;
    let store = state.store();
    let tables = store.list_tables(project)?;
    let prefix = q.get("name").unwrap_or_default().to_ascii_lowercase();
    let owner = q.get("owner").filter(|o| !o.is_empty());
    let kind = q.get("type").filter(|t| !t.is_empty());
    let max_items = q
        .get("maxitems")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(TABLE_PAGE);
    let marker = q.get("marker").unwrap_or_default();
    let matching: Vec<&TableInfo> = tables
        .iter()
        .filter(|t| t.name.starts_with(&prefix))
        .filter(|_| owner.is_none_or(|o| o == OWNER))
        .filter(|_| kind.is_none_or(|k| k.eq_ignore_ascii_case("MANAGED_TABLE")))
        .filter(|t| marker.is_empty() || t.name.as_str() > marker)
        .collect();
    let page: Vec<&TableInfo> = matching.iter().take(max_items).copied().collect();
    let next_marker = if matching.len() > page.len() {
        page.last().map(|t| t.name.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    let mut body = format!("{DECL}<Tables>");
    for t in page {
        if q.has("extended") {
            let size = table_size(&store, t)?;
            let x = Extended {
                physical_size: size,
                file_num: store.file_count(t.id, None)?,
            };
            body.push_str(&table_xml(t, size, Some(x)));
        } else {
            body.push_str(&format!(
                "<Table><Name>{}</Name><TableId>{}</TableId><Owner>{}</Owner><Type>MANAGED_TABLE</Type></Table>",
                escape(&t.name),
                t.id,
                escape(OWNER)
            ));
        }
    }
    body.push_str(&format!(
        "<Marker>{}</Marker><MaxItems>{max_items}</MaxItems></Tables>",
        escape(&next_marker)
    ));
    Ok(xml_response(StatusCode::OK, body))
}

fn new_instance_id() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    let suffix: String = (0..12)
        .map(|_| format!("{:x}", rng.random::<u8>() & 0x0f))
        .collect();
    format!("{}{}", Utc::now().format("%Y%m%d%H%M%S%3f"), suffix)
}

fn submit_instance(state: &AppState, req: &Request, project: &str) -> EmuResult<Response> {
    let body = std::str::from_utf8(&req.body)
        .map_err(|_| EmuError::InvalidArgument("the instance body is not UTF-8".to_owned()))?;
    let (tasks, others) = xml_body::parse_instance_job(body)?;
    if let Some(other) = others.first() {
        return Err(EmuError::InvalidArgument(format!(
            "task type `{other}` is not supported by the emulator (only SQL tasks)"
        )));
    }
    if tasks.is_empty() {
        return Err(EmuError::InvalidArgument(
            "the instance has no SQL task".to_owned(),
        ));
    }
    let start = state.clock.now();
    let mut done = Vec::with_capacity(tasks.len());
    {
        let mut store = state.store();
        for task in tasks {
            let outcome = exec::run(&mut store, project, &task.query);
            match &outcome {
                Outcome::Success { .. } => tracing::info!(task = %task.name, "SQL task succeeded"),
                Outcome::Failed { message } => {
                    tracing::info!(task = %task.name, %message, "SQL task failed")
                }
            }
            done.push((task, outcome));
        }
    }
    let id = new_instance_id();
    let instance = Instance {
        id: id.clone(),
        project: project.to_owned(),
        start,
        end: state.clock.now(),
        tasks: done,
    };
    {
        // Instance ids start with their creation time, so the first key is the oldest.
        let mut instances = state.instances();
        instances.insert(id.clone(), instance);
        while instances.len() > MAX_INSTANCES {
            instances.pop_first();
        }
    }
    let location = format!(
        "http://{}/api/projects/{}/instances/{}",
        state.endpoint, project, id
    );
    Ok((
        StatusCode::CREATED,
        [
            ("location", location),
            ("content-type", "application/xml".to_owned()),
        ],
        String::new(),
    )
        .into_response())
}

/// `GET .../instances/id`: its status (plain or `?taskstatus`), `?result` or `?source`.
fn instance_get(state: &AppState, req: &Request, project: &str, id: &str) -> EmuResult<Response> {
    let inst = state
        .instances()
        .get(id)
        .cloned()
        .filter(|i| i.project.eq_ignore_ascii_case(project))
        .ok_or_else(|| EmuError::NoSuchObject(format!("instance `{id}` does not exist")))?;
    let q = &req.query;
    let body = if q.has("result") {
        instance_result_xml(&inst)
    } else if q.has("source") {
        instance_source_xml(&inst)
    } else {
        // Plain GET and `?taskstatus` both carry the task list.
        instance_status_xml(&inst)
    };
    let mut resp = xml_response(StatusCode::OK, body);
    for (name, value) in [
        ("x-odps-owner", OWNER.to_owned()),
        ("x-odps-start-time", http_time(inst.start)),
        ("x-odps-end-time", http_time(inst.end)),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    Ok(resp)
}

/// `?result`: each task's result text (CSV for a query, with the descriptor that types its
/// columns) or its failure.
fn instance_result_xml(inst: &Instance) -> String {
    let mut body = format!("{DECL}<Instance><Tasks>");
    for (task, outcome) in &inst.tasks {
        let (format, text) = match outcome {
            Outcome::Success {
                text,
                result: Some(_),
            } => ("csv", text.as_str()),
            Outcome::Success { text, result: None } => ("text", text.as_str()),
            Outcome::Failed { message } => ("text", message.as_str()),
        };
        // A query's descriptor lets clients type the CSV columns.
        let descriptor = match outcome {
            Outcome::Success {
                result: Some(r), ..
            } => {
                let columns: Vec<serde_json::Value> = r
                    .columns
                    .iter()
                    .map(|c| serde_json::json!({"Name": c.name, "Type": c.ty.to_string()}))
                    .collect();
                let json = serde_json::json!({
                    "IsSelect": true,
                    "SelectResultStatus": "FULL",
                    "Schema": {"Columns": columns},
                });
                format!(
                    "<ResultDescriptor>{}</ResultDescriptor>",
                    cdata(&json.to_string())
                )
            }
            _ => String::new(),
        };
        body.push_str(&format!(
            "<Task Type=\"SQL\"><Name>{}</Name><Result Transform=\"false\" Format=\"{format}\">{}</Result>{descriptor}</Task>",
            escape(&task.name),
            cdata(text)
        ));
    }
    body.push_str("</Tasks></Instance>");
    body
}

/// `?source`: the job as submitted.
fn instance_source_xml(inst: &Instance) -> String {
    let mut body = format!("{DECL}<Job><Priority>9</Priority><Tasks>");
    for (task, _) in &inst.tasks {
        body.push_str(&format!(
            "<SQL><Name>{}</Name><Config></Config><Query>{}</Query></SQL>",
            escape(&task.name),
            cdata(&task.query)
        ));
    }
    body.push_str("</Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job>");
    body
}

/// The instance's status and its tasks' (always `Terminated`: statements run at submission).
fn instance_status_xml(inst: &Instance) -> String {
    let mut body = format!(
        "{DECL}<Instance><Name>{}</Name><Owner>{}</Owner><StartTime>{}</StartTime><EndTime>{}</EndTime><Status>Terminated</Status><Tasks>",
        escape(&inst.id),
        escape(OWNER),
        http_time(inst.start),
        http_time(inst.end)
    );
    for (task, outcome) in &inst.tasks {
        let status = match outcome {
            Outcome::Success { .. } => "Success",
            Outcome::Failed { .. } => "Failed",
        };
        body.push_str(&format!(
            "<Task Type=\"SQL\"><Name>{}</Name><StartTime>{}</StartTime><EndTime>{}</EndTime><Status>{status}</Status><Histories></Histories></Task>",
            escape(&task.name),
            http_time(inst.start),
            http_time(inst.end)
        ));
    }
    body.push_str("</Tasks></Instance>");
    body
}

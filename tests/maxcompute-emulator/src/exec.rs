//! Runs parsed SQL statements against the store and produces what an instance reports: a task
//! status, a result text (CSV for queries, as the service's result API returns it) and, for
//! queries, a typed result set that the instance tunnel can stream. No HTTP here.

use maxcompute_core::types::{Column, OdpsType, TableSchema, Value};

use crate::partition::{self, PartSpec};
use crate::service_error::{EmuError, EmuResult};
use crate::sql::{CreateTable, Projection, Statement, TableRef};
use crate::store::{Store, TableInfo, Transactional};
use crate::wire;

/// Rows a query produced, with their column names and types.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl ResultSet {
    pub fn types(&self) -> Vec<OdpsType> {
        self.columns.iter().map(|c| c.ty.clone()).collect()
    }

    /// The CSV text the service's `?result` call returns for a query: a header line, then one
    /// line per row, `\N` for NULL.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(&c.name)).collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .map(|v| {
                    if v.is_null() {
                        "\\N".to_owned()
                    } else {
                        csv_field(&render(v))
                    }
                })
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A cell as text, the way the console prints it.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_owned(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Decimal(d) => d.clone(),
        Value::Date(days) => chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|d| d.checked_add_signed(chrono::Duration::days(*days)))
            .map(|d| d.to_string())
            .unwrap_or_else(|| days.to_string()),
        Value::DateTime(ms) => chrono::DateTime::from_timestamp_millis(*ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| ms.to_string()),
        Value::Timestamp { seconds, nanos } => chrono::DateTime::from_timestamp(*seconds, *nanos)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string())
            .unwrap_or_else(|| seconds.to_string()),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(render).collect::<Vec<_>>().join(",")
        ),
        Value::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", render(k), render(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Struct(fields) => format!(
            "{{{}}}",
            fields.iter().map(render).collect::<Vec<_>>().join(",")
        ),
    }
}

/// What one SQL task ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success {
        text: String,
        result: Option<ResultSet>,
    },
    Failed {
        message: String,
    },
}

/// Parses and runs one statement; every failure becomes a `Failed` outcome with a message that
/// names the problem, as MaxCompute reports failed tasks.
pub fn run(store: &mut Store, default_project: &str, sql: &str) -> Outcome {
    let stmt = match crate::sql::parse(sql) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Failed {
                message: format!("ODPS-0130161:[1,1] Parse exception - {e}"),
            };
        }
    };
    match execute(store, default_project, stmt) {
        Ok(o) => o,
        Err(e) => Outcome::Failed {
            message: format!("{}: {e}", e.code()),
        },
    }
}

fn project_of<'a>(t: &'a TableRef, default: &'a str) -> &'a str {
    t.project.as_deref().unwrap_or(default)
}

/// The outcome of a statement that answers `OK`.
fn ok() -> Outcome {
    Outcome::Success {
        text: "OK".to_owned(),
        result: None,
    }
}

/// Runs one statement: one function per statement kind.
fn execute(store: &mut Store, project: &str, stmt: Statement) -> EmuResult<Outcome> {
    match stmt {
        Statement::CreateTable(create) => create_table(store, project, create),
        Statement::SetLifecycle { table, days } => {
            let info = store.table(project_of(&table, project), &table.name)?;
            store.set_lifecycle(info.id, days)?;
            Ok(ok())
        }
        Statement::AddColumns {
            if_not_exists,
            table,
            columns,
        } => add_columns(
            store,
            project_of(&table, project),
            &table.name,
            &columns,
            if_not_exists,
        ),
        Statement::Truncate { table, specs } => {
            let info = store.table(project_of(&table, project), &table.name)?;
            truncate(store, &info, &specs)
        }
        Statement::DropTable { if_exists, table } => {
            store.drop_table(project_of(&table, project), &table.name, if_exists)?;
            Ok(ok())
        }
        Statement::AddPartitions {
            if_not_exists,
            table,
            specs,
        } => {
            let info = store.table(project_of(&table, project), &table.name)?;
            add_partitions(store, &info, &specs, if_not_exists)
        }
        Statement::DropPartitions {
            if_exists,
            table,
            specs,
        } => {
            let info = store.table(project_of(&table, project), &table.name)?;
            drop_partitions(store, &info, &specs, if_exists)
        }
        Statement::ShowPartitions { table } => {
            let info = store.table(project_of(&table, project), &table.name)?;
            show_partitions(store, &info)
        }
        Statement::Select {
            table,
            projection,
            filter,
            limit,
        } => {
            let query = Query {
                projection,
                filter,
                limit,
            };
            let result = select(store, project_of(&table, project), &table.name, &query)?;
            Ok(Outcome::Success {
                text: result.to_csv(),
                result: Some(result),
            })
        }
    }
}

fn create_table(store: &mut Store, project: &str, create: CreateTable) -> EmuResult<Outcome> {
    let schema = TableSchema {
        columns: create.columns,
        partition_keys: create.partition_keys,
    };
    let mut seen = std::collections::HashSet::new();
    for c in schema.columns.iter().chain(&schema.partition_keys) {
        if !seen.insert(c.name.to_ascii_lowercase()) {
            return Err(EmuError::InvalidArgument(format!(
                "column `{}` is defined twice",
                c.name
            )));
        }
    }
    for k in &schema.partition_keys {
        let allowed = k.ty.is_text() || k.ty.integer_range().is_some();
        if !allowed {
            return Err(EmuError::InvalidArgument(format!(
                "partition key `{}` has type {}; partition keys must be STRING, VARCHAR, CHAR or an integer type",
                k.name, k.ty
            )));
        }
    }
    let transactional = transactional(&schema.columns, &create.primary_key, &create.properties)?;
    store.create_table(
        project_of(&create.table, project),
        &create.table.name,
        &schema,
        &create.comment,
        create.lifecycle.unwrap_or(crate::store::NO_LIFECYCLE),
        create
            .shards
            .map(|(shard_num, hub_lifecycle)| crate::store::Shards {
                shard_num,
                hub_lifecycle,
            }),
        transactional.as_ref(),
        create.if_not_exists,
    )?;
    Ok(ok())
}

/// `ALTER TABLE .. ADD COLUMNS`: the new columns are nullable (the rows already stored read
/// NULL in them) and appended after the existing data columns, the partition columns staying
/// last. The store appends them, or finds them there with `IF NOT EXISTS`.
fn add_columns(
    store: &mut Store,
    project: &str,
    name: &str,
    columns: &[Column],
    if_not_exists: bool,
) -> EmuResult<Outcome> {
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        if !seen.insert(c.name.to_ascii_lowercase()) {
            return Err(EmuError::InvalidArgument(format!(
                "column `{}` is added twice",
                c.name
            )));
        }
        if !c.nullable {
            return Err(EmuError::InvalidArgument(format!(
                "column `{}` cannot be added NOT NULL: the rows already stored have no value for it",
                c.name
            )));
        }
    }
    let outcome = store.add_columns(project, name, columns, if_not_exists)?;
    tracing::info!(
        table = %name,
        added = ?outcome.added,
        schema_version = outcome.schema_version,
        "columns added"
    );
    Ok(ok())
}

/// `TRUNCATE TABLE`: a partitioned table names its partitions, which must exist; a table
/// without partitions names none.
fn truncate(
    store: &mut Store,
    info: &TableInfo,
    specs: &[Vec<(String, String)>],
) -> EmuResult<Outcome> {
    let partitioned = !info.schema.partition_keys.is_empty();
    if partitioned && specs.is_empty() {
        return Err(EmuError::InvalidArgument(format!(
            "table {} is partitioned: name the partitions to truncate (TRUNCATE TABLE {} PARTITION (..)[, PARTITION (..)])",
            info.name, info.name
        )));
    }
    if !partitioned && !specs.is_empty() {
        return Err(EmuError::InvalidArgument(format!(
            "table {} is not partitioned: TRUNCATE TABLE {} takes no PARTITION",
            info.name, info.name
        )));
    }
    let mut resolved = existing_partitions(store, info, specs, false)?;
    if resolved.is_empty() {
        resolved.push(PartSpec::none());
    }
    store.truncate(info.id, &resolved)?;
    Ok(ok())
}

/// Resolves partition specs against the table; unless `if_exists`, each must exist.
fn existing_partitions(
    store: &Store,
    info: &TableInfo,
    specs: &[Vec<(String, String)>],
    if_exists: bool,
) -> EmuResult<Vec<PartSpec>> {
    let resolved = resolve_specs(info, specs)?;
    for spec in &resolved {
        if store.partition(info.id, spec)?.is_none() && !if_exists {
            return Err(EmuError::NoSuchPartition(format!(
                "partition {} does not exist in table {}",
                spec.quoted(),
                info.name
            )));
        }
    }
    Ok(resolved)
}

fn resolve_specs(info: &TableInfo, specs: &[Vec<(String, String)>]) -> EmuResult<Vec<PartSpec>> {
    specs
        .iter()
        .map(|pairs| partition::validate(&info.schema, pairs))
        .collect()
}

fn add_partitions(
    store: &mut Store,
    info: &TableInfo,
    specs: &[Vec<(String, String)>],
    if_not_exists: bool,
) -> EmuResult<Outcome> {
    for spec in &resolve_specs(info, specs)? {
        let created = store.add_partition(info.id, spec)?;
        if !created && !if_not_exists {
            return Err(EmuError::InvalidArgument(format!(
                "partition {} already exists in table {}",
                spec.quoted(),
                info.name
            )));
        }
    }
    Ok(ok())
}

fn drop_partitions(
    store: &mut Store,
    info: &TableInfo,
    specs: &[Vec<(String, String)>],
    if_exists: bool,
) -> EmuResult<Outcome> {
    for spec in &existing_partitions(store, info, specs, if_exists)? {
        store.drop_partition(info.id, spec)?;
    }
    Ok(ok())
}

fn show_partitions(store: &Store, info: &TableInfo) -> EmuResult<Outcome> {
    if info.schema.partition_keys.is_empty() {
        return Err(EmuError::InvalidArgument(format!(
            "table {} is not partitioned",
            info.name
        )));
    }
    let mut text = String::new();
    for p in store.list_partitions(info.id)? {
        text.push_str(&p.spec.show());
        text.push('\n');
    }
    Ok(Outcome::Success { text, result: None })
}

/// Buckets of a Delta Table when `write.bucket.num` is not given.
pub const DEFAULT_BUCKET_NUM: u32 = 16;
/// The most buckets the emulator accepts (a guard, not a documented service limit).
pub const MAX_BUCKET_NUM: u32 = 4096;

/// What `TBLPROPERTIES` and a `PRIMARY KEY` make of a table: `None` for an ordinary table.
///
/// A primary key needs `"transactional"="true"`, and its columns must be data columns declared
/// `NOT NULL` and of a type the bucket hasher covers. What the service answers to a key on an
/// ordinary table, or to a key column without `NOT NULL`, is not documented: both are refused
/// rather than ignored or implied, so DDL that passes here also passes a stricter service.
fn transactional(
    columns: &[Column],
    primary_key: &[String],
    properties: &[(String, String)],
) -> EmuResult<Option<Transactional>> {
    let property = |name: &str| {
        properties
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let is_transactional =
        property("transactional").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !is_transactional {
        if !primary_key.is_empty() {
            return Err(EmuError::InvalidArgument(
                "a PRIMARY KEY is supported on transactional tables only: add TBLPROPERTIES (\"transactional\"=\"true\")".to_owned(),
            ));
        }
        return Ok(None);
    }
    let mut seen = std::collections::HashSet::new();
    for name in primary_key {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(EmuError::InvalidArgument(format!(
                "column `{name}` appears twice in the PRIMARY KEY"
            )));
        }
        let col = columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                EmuError::InvalidArgument(format!(
                    "PRIMARY KEY column `{name}` is not a data column of the table (partition columns cannot be keys)"
                ))
            })?;
        if col.nullable {
            return Err(EmuError::InvalidArgument(format!(
                "PRIMARY KEY column `{}` must be declared NOT NULL",
                col.name
            )));
        }
        if !maxcompute_core::bucket_hash::is_hashable(&col.ty) {
            return Err(EmuError::InvalidArgument(format!(
                "PRIMARY KEY column `{}` has type {}; the emulator's upsert sessions hash integer and string keys only",
                col.name, col.ty
            )));
        }
    }
    let bucket_num = match property("write.bucket.num") {
        None => DEFAULT_BUCKET_NUM,
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_BUCKET_NUM).contains(n))
            .ok_or_else(|| {
                EmuError::InvalidArgument(format!(
                    "write.bucket.num `{raw}` is not a number of buckets from 1 to {MAX_BUCKET_NUM}"
                ))
            })?,
    };
    // Key columns by their declared spelling, in key order.
    let primary_key = primary_key
        .iter()
        .filter_map(|k| columns.iter().find(|c| c.name.eq_ignore_ascii_case(k)))
        .map(|c| c.name.clone())
        .collect();
    Ok(Some(Transactional {
        primary_key,
        bucket_num,
    }))
}

/// The first `limit` rows of a table, or of the partitions matching `partition`, with the
/// partition columns after the data columns: what `Table.head()` reads. `columns` picks and
/// orders columns by name (data or partition columns); `None` means all.
pub fn head(
    store: &Store,
    project: &str,
    name: &str,
    partition: &[(String, String)],
    columns: Option<Vec<String>>,
    limit: u64,
) -> EmuResult<ResultSet> {
    let query = Query {
        projection: match columns {
            Some(cols) => Projection::Columns(cols),
            None => Projection::Star,
        },
        filter: partition.to_vec(),
        limit: Some(limit),
    };
    select(store, project, name, &query)
}

/// A `SELECT` as parsed: what to return, the `col = 'v'` conditions, at most how many rows.
struct Query {
    projection: Projection,
    filter: Vec<(String, String)>,
    limit: Option<u64>,
}

/// A query resolved against its table: columns by position in `all` (the data columns, then
/// the partition columns).
struct Plan {
    all: Vec<Column>,
    /// `(position, value)` of each condition.
    conditions: Vec<(usize, String)>,
    picked: Vec<usize>,
    n_data: usize,
    counting: bool,
    cap: usize,
}

/// Runs a query in three stages: resolve its names, scan the partitions that can match, and
/// shape the result (a count or the picked columns). Rows stored before an `ADD COLUMNS` read
/// NULL in the new columns: a record holds no field for a NULL cell, so an older record
/// decodes under the newer schema with those cells NULL.
fn select(store: &Store, project: &str, name: &str, query: &Query) -> EmuResult<ResultSet> {
    let info = store.table(project, name)?;
    let plan = plan(&info, query)?;
    let (rows, counted) = scan(store, &info, &plan)?;
    if plan.counting {
        let count = i64::try_from(counted).unwrap_or(i64::MAX);
        let rows = if plan.cap == 0 {
            Vec::new()
        } else {
            vec![vec![Value::Integer(count)]]
        };
        return Ok(ResultSet {
            columns: vec![Column::new("_c0", OdpsType::BigInt)],
            rows,
        });
    }
    let columns = plan
        .picked
        .iter()
        .filter_map(|i| plan.all.get(*i).cloned())
        .collect();
    let rows = crate::wire::project(rows, &plan.picked);
    Ok(ResultSet { columns, rows })
}

fn plan(info: &TableInfo, query: &Query) -> EmuResult<Plan> {
    let schema = &info.schema;
    let all: Vec<Column> = schema
        .columns
        .iter()
        .chain(&schema.partition_keys)
        .cloned()
        .collect();
    let index_of = |col: &str| {
        all.iter()
            .position(|c| c.name.eq_ignore_ascii_case(col))
            .ok_or_else(|| {
                EmuError::InvalidArgument(format!(
                    "column `{col}` cannot be resolved in table {}",
                    info.name
                ))
            })
    };
    let conditions = query
        .filter
        .iter()
        .map(|(col, value)| Ok((index_of(col)?, value.clone())))
        .collect::<EmuResult<Vec<_>>>()?;
    let picked: Vec<usize> = match &query.projection {
        Projection::Star | Projection::CountStar => (0..all.len()).collect(),
        Projection::Columns(cols) => cols.iter().map(|c| index_of(c)).collect::<EmuResult<_>>()?,
    };
    Ok(Plan {
        all,
        conditions,
        picked,
        n_data: schema.columns.len(),
        counting: matches!(query.projection, Projection::CountStar),
        cap: query.limit.map(|l| l as usize).unwrap_or(usize::MAX),
    })
}

/// A partition's key values as cells: integers for integer keys.
fn partition_values(schema: &TableSchema, part: &PartSpec) -> Vec<Value> {
    schema
        .partition_keys
        .iter()
        .map(|k| {
            let raw = part
                .pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&k.name))
                .map(|(_, v)| v.as_str());
            match (raw, k.ty.integer_range()) {
                (None, _) => Value::Null,
                (Some(v), Some(_)) => v
                    .parse::<i64>()
                    .map(Value::Integer)
                    .unwrap_or_else(|_| Value::text(v)),
                (Some(v), None) => Value::text(v),
            }
        })
        .collect()
}

/// Whether `cell` meets a `col = 'v'` condition.
fn matches(cell: Option<&Value>, value: &str) -> bool {
    cell.is_some_and(|c| !c.is_null() && render(c) == value)
}

/// The matching rows (with their partition values) up to the plan's cap, or with a count
/// their number only.
fn scan(store: &Store, info: &TableInfo, plan: &Plan) -> EmuResult<(Vec<Vec<Value>>, u64)> {
    let types = info.schema.column_types();
    let n_data = plan.n_data;
    let data_conditions = plan.conditions.iter().any(|(i, _)| *i < n_data);
    let mut specs = store.data_specs(info.id)?;
    specs.sort();
    let mut rows = Vec::new();
    let mut counted: u64 = 0;
    for canonical in specs {
        let part_values = partition_values(&info.schema, &PartSpec::from_canonical(&canonical));
        // Partition pruning: skip partitions whose key values cannot match.
        let prunable = plan
            .conditions
            .iter()
            .filter(|(i, _)| *i >= n_data)
            .all(|(i, v)| matches(part_values.get(i - n_data), v));
        if !prunable {
            continue;
        }
        for (n, data) in store.blocks(info.id, &canonical, None)? {
            if plan.counting && !data_conditions {
                // Only partition filters: the stored row counts answer COUNT(*) without decoding.
                counted += n.max(0) as u64;
                continue;
            }
            for mut row in wire::read_stored_rows(&types, &data)? {
                row.extend(part_values.iter().cloned());
                if !plan.conditions.iter().all(|(i, v)| matches(row.get(*i), v)) {
                    continue;
                }
                if plan.counting {
                    counted += 1;
                    continue;
                }
                rows.push(row);
                if rows.len() >= plan.cap {
                    return Ok((rows, counted));
                }
            }
        }
    }
    Ok((rows, counted))
}

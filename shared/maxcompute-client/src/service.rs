//! Service API calls (the `/api` control plane): table schema lookup, partition existence,
//! SQL instances, partition creation through one, and tunnel endpoint discovery.
//!
//! [`Client::run_sql`] submits one statement as a SQL instance, polls the instance until it
//! terminates (bounded by the deadline) and turns a failed task's result text into
//! [`Error::SqlFailed`]; partition creation is `ALTER TABLE ... ADD IF NOT EXISTS PARTITION (...)`
//! through the same flow. This module reads no data and does not fetch query results: it is for
//! statements whose effect, not whose output, the caller wants (DDL).

use std::collections::BTreeSet;

use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, info};

use super::endpoint::Endpoint;
use super::error::Error;
use super::handle::{Client, validate_name};
use super::poll::{Poll, PollSchedule};
use super::request::{Api, Body, Call};
use super::xml;
use maxcompute_core::protocol::ErrorCode;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::{Column, OdpsType, TableSchema};

/// The name pyodps gives the task of a partition-creating SQL instance.
const ADD_PARTITION_TASK: &str = "SQLAddPartitionTask";
/// The name pyodps gives the task of any other statement (`execute_sql`).
const ANONYMOUS_SQL_TASK: &str = "AnonymousSQLTask";

impl Client {
    /// The schema of a table, from `GET /projects/{p}/tables/{t}` (XML with a CDATA JSON schema).
    pub async fn table_schema(&self, table: &str, deadline: Instant) -> Result<TableSchema, Error> {
        Ok(self.table_info(table, deadline).await?.schema)
    }

    /// A table's schema and whether it is a Delta Table, from `GET /projects/{p}/tables/{t}`.
    pub async fn table_info(&self, table: &str, deadline: Instant) -> Result<TableInfo, Error> {
        validate_name("table", table)?;
        let call = Call::new(
            "table_schema",
            Method::GET,
            Api::Service,
            self.table_path(table),
        );
        let reply = self.send(&call, deadline).await?;
        let text = reply.text();
        let json = xml::text_at(&text, &["Table", "Schema"])
            .ok_or_else(|| Error::protocol("table_schema", "no <Schema> element in <Table>"))?;
        let value: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| Error::protocol("table_schema", format!("schema is not JSON: {e}")))?;
        let schema = schema_from_json("table_schema", &value)?;
        let reserved = reserved_from_json(&value)?;
        Ok(TableInfo {
            schema,
            primary_key: reserved.primary_key,
            transactional: reserved.transactional,
        })
    }

    /// Whether a partition exists: `GET ...?partition=k='v'`, 200 or 404 `NoSuchPartition`.
    pub async fn partition_exists(
        &self,
        table: &str,
        partition: &PartitionSpec,
        deadline: Instant,
    ) -> Result<bool, Error> {
        validate_name("table", table)?;
        let call = Call::new(
            "partition_exists",
            Method::GET,
            Api::Service,
            self.table_path(table),
        )
        .query("partition", partition.quoted_form());
        match self.send(&call, deadline).await {
            Ok(_) => Ok(true),
            Err(e) if e.has_code(&ErrorCode::NoSuchPartition) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs `create` (a session creation for `partition` of `table`); when the service answers
    /// that the partition does not exist, creates it and runs `create` once more. This is the
    /// one place that turns `NoSuchPartition` into a created partition, for every kind of
    /// session. An unpartitioned call (`partition` is `None`) is run once, as it is.
    pub(crate) async fn in_partition<T, F, Fut>(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        deadline: Instant,
        create: F,
    ) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        match create().await {
            Err(e) if e.has_code(&ErrorCode::NoSuchPartition) => {
                let Some(spec) = partition else {
                    return Err(e);
                };
                info!(table, partition = %spec, "partition missing, creating it");
                self.create_partition(table, spec, deadline).await?;
                create().await
            }
            other => other,
        }
    }

    /// Creates a partition (if it does not exist yet) through a SQL instance and waits for it.
    pub async fn create_partition(
        &self,
        table: &str,
        partition: &PartitionSpec,
        deadline: Instant,
    ) -> Result<(), Error> {
        validate_name("table", table)?;
        let project = self.project();
        // Names are validated identifiers and values cannot contain quotes, so nothing here
        // needs escaping.
        let sql = format!(
            "ALTER TABLE {project}.`{table}` ADD IF NOT EXISTS PARTITION ({});",
            partition.sql_form()
        );
        let instance_id = self
            .run_sql_task(&sql, ADD_PARTITION_TASK, deadline)
            .await?;
        info!(
            table,
            partition = %partition,
            instance_id = %instance_id,
            "created partition"
        );
        Ok(())
    }

    /// Creates `table` unless it exists (`CREATE TABLE IF NOT EXISTS`), then reads it back: two
    /// functions creating the same table at once both end with the table that exists, whichever
    /// statement made it.
    pub async fn create_table(
        &self,
        table: &NewTable,
        deadline: Instant,
    ) -> Result<TableInfo, Error> {
        let sql = table.ddl(self.project())?;
        let instance_id = self.run_sql(&sql, deadline).await?;
        info!(table = %table.name, instance_id = %instance_id, "created table (if not exists)");
        self.table_info(&table.name, deadline).await
    }

    /// Adds nullable `columns` to `table` (`ALTER TABLE ... ADD COLUMNS IF NOT EXISTS`), then reads it back.
    /// A statement that fails is checked against the table as it is: when every column is there
    /// (another function added them at the same time) the change has converged and the table is
    /// answered; else the failure is.
    pub async fn add_columns(
        &self,
        table: &str,
        columns: &[Column],
        deadline: Instant,
    ) -> Result<TableInfo, Error> {
        validate_name("table", table)?;
        let mut parts = Vec::with_capacity(columns.len());
        for c in columns {
            validate_name("column", &c.name)?;
            parts.push(format!("`{}` {}", c.name, c.ty));
        }
        let sql = format!(
            "ALTER TABLE {}.`{table}` ADD COLUMNS IF NOT EXISTS ({});",
            self.project(),
            parts.join(", ")
        );
        match self.run_sql(&sql, deadline).await {
            Ok(instance_id) => {
                info!(table, columns = columns.len(), instance_id = %instance_id, "added columns");
                self.table_info(table, deadline).await
            }
            Err(e) if !e.is_transient() => {
                let info = self.table_info(table, deadline).await?;
                let all_there = columns
                    .iter()
                    .all(|c| info.schema.column_index(&c.name).is_some());
                if all_there {
                    info!(table, "columns were added by someone else");
                    Ok(info)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Runs one SQL statement as a SQL instance and waits until it has ended successfully;
    /// returns the instance id. A task that ends in any other state is [`Error::SqlFailed`]
    /// with the task's result text; running past `deadline` is [`Error::DeadlineExceeded`].
    ///
    /// A transient failure of the submission itself is retried like any request, so a
    /// statement may run twice: pass statements that are idempotent (`CREATE TABLE IF NOT
    /// EXISTS`, `ALTER TABLE ... ADD IF NOT EXISTS PARTITION`). The statement travels in a CDATA
    /// section, so it must not contain `]]>`.
    pub async fn run_sql(&self, statement: &str, deadline: Instant) -> Result<String, Error> {
        self.run_sql_task(statement, ANONYMOUS_SQL_TASK, deadline)
            .await
    }

    async fn run_sql_task(
        &self,
        statement: &str,
        task: &str,
        deadline: Instant,
    ) -> Result<String, Error> {
        if statement.trim().is_empty() || statement.contains("]]>") {
            return Err(Error::Config {
                what: "sql statement",
                reason: "empty, or contains `]]>`, which cannot travel in the job's CDATA section"
                    .to_owned(),
            });
        }
        let instance_id = self.submit_sql(statement, task, deadline).await?;
        debug!(instance_id = %instance_id, task, "submitted SQL instance");
        self.wait_for_instance(&instance_id, deadline).await?;
        self.check_task_status(&instance_id, deadline).await?;
        Ok(instance_id)
    }

    /// The tunnel endpoint: the configured one, or the one discovered through
    /// `GET /projects/{p}/tunnel?service` (cached for the client's lifetime).
    pub async fn tunnel_endpoint(&self, deadline: Instant) -> Result<String, Error> {
        Ok(self
            .endpoint_for(Api::Tunnel, deadline)
            .await?
            .base()
            .to_owned())
    }

    pub(crate) async fn discover_tunnel_endpoint(
        &self,
        deadline: Instant,
    ) -> Result<Endpoint, Error> {
        let call = Call::new(
            "discover_tunnel",
            Method::GET,
            Api::Service,
            format!("/projects/{}/tunnel", self.project()),
        )
        .query("service", "");
        let reply = self.send_to(&self.inner.service, &call, deadline).await?;
        let host = reply.text().trim().to_owned();
        if host.is_empty() {
            return Err(Error::protocol("discover_tunnel", "empty tunnel host"));
        }
        let url = if host.starts_with("http://") || host.starts_with("https://") {
            host
        } else {
            format!("{}://{host}", self.inner.service.scheme())
        };
        let endpoint = Endpoint::parse(&url)
            .map_err(|e| Error::protocol("discover_tunnel", format!("not an endpoint: {e}")))?;
        debug!(tunnel = endpoint.base(), "discovered the tunnel endpoint");
        Ok(endpoint)
    }

    pub(crate) fn table_path(&self, table: &str) -> String {
        format!("/projects/{}/tables/{table}", self.project())
    }

    async fn submit_sql(&self, sql: &str, task: &str, deadline: Instant) -> Result<String, Error> {
        let uuid = format!("{:032x}", rand::random::<u128>());
        let job = format!(
            concat!(
                r#"<?xml version="1.0" encoding="utf-8"?>"#,
                "<Instance><Job><Priority>9</Priority><Tasks><SQL>",
                "<Name>{task}</Name>",
                "<Config><Property><Name>uuid</Name><Value>{uuid}</Value></Property></Config>",
                "<Query><![CDATA[{sql}]]></Query>",
                "</SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>"
            ),
            task = task,
            uuid = uuid,
            sql = sql,
        );
        let call = Call::new(
            "submit_sql",
            Method::POST,
            Api::Service,
            format!("/projects/{}/instances", self.project()),
        )
        .body(Body::Ready {
            bytes: job.into_bytes().into(),
            content_type: "application/xml",
        });
        // Retrying the submission is safe only for idempotent statements; `run_sql` says so.
        let reply = self.send(&call, deadline).await?;
        let location = reply
            .header("Location")
            .ok_or_else(|| Error::protocol("submit_sql", "201 without a Location header"))?;
        let path = location.split(['?', '#']).next().unwrap_or_default();
        let id = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::protocol(
                "submit_sql",
                format!("no instance id in Location {location:?}"),
            ));
        }
        Ok(id.to_owned())
    }

    async fn wait_for_instance(&self, instance_id: &str, deadline: Instant) -> Result<(), Error> {
        let path = self.instance_path(instance_id);
        let schedule = PollSchedule::every(self.inner.config.instance_poll_interval);
        let mut poll = Poll::new(schedule, deadline);
        let mut polls = 0u32;
        loop {
            let call = Call::new("instance_status", Method::GET, Api::Service, path.clone());
            let reply = self.send(&call, deadline).await?;
            polls += 1;
            let status = xml::text_at(&reply.text(), &["Instance", "Status"]).ok_or_else(|| {
                Error::protocol("instance_status", "no <Status> element in <Instance>")
            })?;
            debug!(instance_id, status = %status, polls, "polled SQL instance");
            if status == "Terminated" {
                return Ok(());
            }
            poll.wait().await?;
        }
    }

    async fn check_task_status(&self, instance_id: &str, deadline: Instant) -> Result<(), Error> {
        let path = self.instance_path(instance_id);
        let call = Call::new("task_status", Method::GET, Api::Service, path.clone())
            .query("taskstatus", "");
        let reply = self.send(&call, deadline).await?;
        let statuses: BTreeSet<String> =
            xml::texts_at(&reply.text(), &["Instance", "Tasks", "Task", "Status"])
                .into_iter()
                .map(|s| s.trim().to_owned())
                .collect();
        if statuses.is_empty() {
            return Err(Error::protocol(
                "task_status",
                "no task status in the answer",
            ));
        }
        if statuses.iter().all(|s| s == "Success") {
            return Ok(());
        }
        let status = statuses
            .into_iter()
            .find(|s| s != "Success")
            .unwrap_or_default();
        let call = Call::new("task_result", Method::GET, Api::Service, path).query("result", "");
        let reply = self.send(&call, deadline).await?;
        let message = xml::texts_at(&reply.text(), &["Instance", "Tasks", "Task", "Result"])
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::SqlFailed {
            instance_id: instance_id.to_owned(),
            status,
            message,
        })
    }

    fn instance_path(&self, instance_id: &str) -> String {
        format!("/projects/{}/instances/{instance_id}", self.project())
    }
}

#[derive(Deserialize)]
struct SchemaJson {
    #[serde(default)]
    columns: Vec<ColumnJson>,
    #[serde(default, rename = "partitionKeys")]
    partition_keys: Vec<ColumnJson>,
}

#[derive(Deserialize)]
struct ColumnJson {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    comment: Option<String>,
    /// `isNullable` in table metadata, `nullable` in tunnel sessions, both in upsert sessions
    /// (one for each SDK); sometimes a string.
    #[serde(default, rename = "isNullable")]
    is_nullable: Option<serde_json::Value>,
    #[serde(default)]
    nullable: Option<serde_json::Value>,
}

/// A table to create: its columns, partition columns, and, for a Delta Table, its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTable {
    pub name: String,
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
    /// Non-empty for a Delta Table (transactional, written by upsert); its columns are made
    /// NOT NULL.
    pub primary_key: Vec<String>,
    /// Days MaxCompute keeps a partition unchanged before dropping it; `None`: forever.
    pub lifecycle_days: Option<u32>,
}

impl NewTable {
    /// The `CREATE TABLE IF NOT EXISTS` statement, names quoted and checked.
    pub fn ddl(&self, project: &str) -> Result<String, Error> {
        validate_name("table", &self.name)?;
        let mut items = Vec::with_capacity(self.columns.len() + 1);
        for c in &self.columns {
            validate_name("column", &c.name)?;
            let in_key = self
                .primary_key
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&c.name));
            let not_null = if in_key || !c.nullable {
                " NOT NULL"
            } else {
                ""
            };
            items.push(format!("`{}` {}{not_null}", c.name, c.ty));
        }
        for k in &self.primary_key {
            validate_name("column", k)?;
            if !self.columns.iter().any(|c| c.name.eq_ignore_ascii_case(k)) {
                return Err(Error::Config {
                    what: "primary key",
                    reason: format!("`{k}` is not a column of the table"),
                });
            }
        }
        if !self.primary_key.is_empty() {
            let key: Vec<String> = self.primary_key.iter().map(|k| format!("`{k}`")).collect();
            items.push(format!("PRIMARY KEY ({})", key.join(", ")));
        }
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS {project}.`{}` ({})",
            self.name,
            items.join(", ")
        );
        if !self.partition_keys.is_empty() {
            let mut keys = Vec::with_capacity(self.partition_keys.len());
            for k in &self.partition_keys {
                validate_name("partition column", &k.name)?;
                keys.push(format!("`{}` {}", k.name, k.ty));
            }
            sql.push_str(&format!(" PARTITIONED BY ({})", keys.join(", ")));
        }
        if !self.primary_key.is_empty() {
            sql.push_str(" TBLPROPERTIES (\"transactional\"=\"true\")");
        }
        if let Some(days) = self.lifecycle_days {
            sql.push_str(&format!(" LIFECYCLE {days}"));
        }
        sql.push(';');
        Ok(sql)
    }
}

/// A table as its metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub schema: TableSchema,
    /// The primary key's columns in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// `"transactional"="true"`.
    pub transactional: bool,
}

impl TableInfo {
    /// A Delta Table: transactional with a primary key, written by upsert.
    pub fn is_delta(&self) -> bool {
        self.transactional && !self.primary_key.is_empty()
    }
}

/// What the schema's `Reserved` member (a string holding JSON) says.
#[derive(Default)]
struct Reserved {
    primary_key: Vec<String>,
    transactional: bool,
}

fn reserved_from_json(schema: &serde_json::Value) -> Result<Reserved, Error> {
    let Some(text) = schema.get("Reserved").and_then(serde_json::Value::as_str) else {
        return Ok(Reserved::default());
    };
    if text.trim().is_empty() {
        return Ok(Reserved::default());
    }
    let bad = |detail: String| Error::protocol("table_schema", detail);
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("the schema's Reserved member is not JSON: {e}")))?;
    // pyodps reads `Transactional` as a string ("true"); a JSON boolean is taken too.
    let transactional = match value.get("Transactional") {
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(serde_json::Value::Bool(b)) => *b,
        _ => false,
    };
    let primary_key = match value.get("PrimaryKey") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(names)) => names
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("a PrimaryKey column is not a name: {n}")))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad(format!("PrimaryKey is not a list of names: {other}"))),
    };
    Ok(Reserved {
        primary_key,
        transactional,
    })
}

/// Converts a schema JSON object (table metadata or tunnel session) into a [`TableSchema`].
pub(crate) fn schema_from_json(
    what: &'static str,
    value: &serde_json::Value,
) -> Result<TableSchema, Error> {
    let parsed = SchemaJson::deserialize(value)
        .map_err(|e| Error::protocol(what, format!("bad schema JSON: {e}")))?;
    let convert = |c: ColumnJson| -> Result<Column, Error> {
        let ty: OdpsType =
            c.ty.parse()
                .map_err(|e| Error::protocol(what, format!("column {}: {e}", c.name)))?;
        let nullable = match c.is_nullable.or(c.nullable) {
            Some(serde_json::Value::Bool(b)) => b,
            Some(serde_json::Value::String(s)) => !s.eq_ignore_ascii_case("false"),
            _ => true,
        };
        Ok(Column {
            name: c.name,
            ty,
            comment: c.comment.unwrap_or_default(),
            nullable,
        })
    };
    Ok(TableSchema {
        columns: parsed
            .columns
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()?,
        partition_keys: parsed
            .partition_keys
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn column(name: &str, ty: OdpsType) -> Column {
        Column::new(name, ty)
    }

    #[test]
    fn a_delta_table_is_keyed_transactional_and_its_key_not_null() {
        let table = NewTable {
            name: "ods_orders".into(),
            columns: vec![
                column("topic", OdpsType::String),
                column("partition", OdpsType::BigInt),
                column("offset", OdpsType::BigInt),
                column(
                    "price",
                    OdpsType::Decimal {
                        precision: 38,
                        scale: 18,
                    },
                ),
            ],
            partition_keys: vec![column("pt", OdpsType::String)],
            primary_key: vec!["topic".into(), "partition".into(), "offset".into()],
            lifecycle_days: Some(30),
        };
        assert_eq!(
            table.ddl("p").unwrap(),
            "CREATE TABLE IF NOT EXISTS p.`ods_orders` (`topic` string NOT NULL, `partition` bigint NOT NULL, `offset` bigint NOT NULL, `price` decimal(38,18), PRIMARY KEY (`topic`, `partition`, `offset`)) PARTITIONED BY (`pt` string) TBLPROPERTIES (\"transactional\"=\"true\") LIFECYCLE 30;"
        );
    }

    #[test]
    fn an_append_table_has_no_key_and_a_key_must_name_a_column() {
        let mut table = NewTable {
            name: "t".into(),
            columns: vec![column("v", OdpsType::Json)],
            partition_keys: vec![column("pt", OdpsType::String)],
            primary_key: vec![],
            lifecycle_days: None,
        };
        assert_eq!(
            table.ddl("p").unwrap(),
            "CREATE TABLE IF NOT EXISTS p.`t` (`v` json) PARTITIONED BY (`pt` string);"
        );
        table.primary_key = vec!["id".into()];
        assert!(table.ddl("p").is_err());
        table.primary_key = vec![];
        table.columns = vec![column("a`b", OdpsType::String)];
        assert!(table.ddl("p").is_err());
    }
}

//! Stream upload sessions (the Stream Tunnel): create a session, then PUT record packs that
//! become visible at once; no commit.
//!
//! The session hands out slots (`[id, host:port]`); packs go to the slots round-robin from a
//! random start, each PUT naming its slot and routed server in `odps-tunnel-slot-num` and
//! `odps-tunnel-routed-server`. A response's routed-server header moves that slot; a changed slot
//! count, a 308 or a 502/504 reloads the session before the next attempt. Other transient errors
//! are retried with the client's backoff until the deadline. A retried PUT whose first attempt
//! did land duplicates its rows (the stream tunnel is at-least-once). This module does not
//! buffer or encode records.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::endpoint::Endpoint;
use super::error::Error;
use super::handle::{Client, validate_name};
use super::request::{Api, Body, Call};
use super::retry::{GiveUp, Retryable, run_with_retries};
use super::service::schema_from_json;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::TableSchema;

const SLOT_NUM_HEADER: &str = "odps-tunnel-slot-num";
const ROUTED_SERVER_HEADER: &str = "odps-tunnel-routed-server";

/// One write slot of a stream session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: String,
    /// `host:port` of the tunnel server that serves the slot.
    pub server: String,
}

/// An open stream upload session.
#[derive(Debug)]
pub struct StreamSession {
    client: Client,
    table: String,
    partition: Option<PartitionSpec>,
    id: String,
    schema: TableSchema,
    schema_version: Option<String>,
    slots: Vec<Slot>,
    next_slot: usize,
    /// Set when a reload after a successful write failed; done before the next write.
    needs_reload: bool,
}

impl Client {
    /// Creates a stream session for `table` (and `partition`); the server creates a missing
    /// partition (`create_partition`).
    pub async fn create_stream_session(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        deadline: Instant,
    ) -> Result<StreamSession, Error> {
        validate_name("table", table)?;
        let mut call = Call::new(
            "create_stream_session",
            Method::POST,
            Api::Tunnel,
            stream_path(self, table),
        );
        if let Some(p) = partition {
            call = call
                .query("partition", p.tunnel_form())
                .query("create_partition", "");
        }
        call = call.query("check_latest_schema", "false");
        let reply = self.send(&call, deadline).await?;
        let parsed = parse_stream_session("create_stream_session", &reply.body)?;
        info!(
            table,
            partition = partition.map(|p| p.to_string()).unwrap_or_default(),
            session = %parsed.id,
            slots = parsed.slots.len(),
            "created stream session"
        );
        let mut session = StreamSession {
            client: self.clone(),
            table: table.to_owned(),
            partition: partition.cloned(),
            id: String::new(),
            schema: TableSchema::default(),
            schema_version: None,
            slots: Vec::new(),
            next_slot: 0,
            needs_reload: false,
        };
        session.apply(parsed);
        Ok(session)
    }
}

impl StreamSession {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn partition(&self) -> Option<&PartitionSpec> {
        self.partition.as_ref()
    }

    /// Writes one record pack (a complete record stream holding `record_count` records).
    pub async fn write(
        &mut self,
        records: Bytes,
        record_count: u64,
        deadline: Instant,
    ) -> Result<(), Error> {
        if self.needs_reload {
            self.reload(deadline).await?;
        }
        let client = self.client.clone();
        let body = client.data_body(records);
        let endpoint = client.endpoint_for(Api::Tunnel, deadline).await?.clone();
        let policy = client.inner.config.retry.clone();
        let jitter = client.inner.jitter.clone();
        let trace_id = format!("{:016x}", rand::random::<u64>());
        // The session and "reload before the next attempt", lent to one attempt at a time.
        let work = tokio::sync::Mutex::new((&mut *self, false));
        run_with_retries(
            &policy,
            jitter.as_ref(),
            deadline,
            "write_stream",
            |_| client.count_retry(),
            |attempt| {
                let (work, client, endpoint, body, trace_id) =
                    (&work, &client, &endpoint, &body, &trace_id);
                async move {
                    let mut guard = work.lock().await;
                    let (session, reload) = &mut *guard;
                    if std::mem::take(reload) {
                        session.reload(deadline).await.map_err(Attempt::Stop)?;
                    }
                    session
                        .write_once(
                            client,
                            endpoint,
                            body,
                            record_count,
                            attempt,
                            trace_id,
                            reload,
                            deadline,
                        )
                        .await
                }
            },
        )
        .await
        .map_err(Attempt::into_error)
    }

    /// One PUT of a record pack to the next slot. A transient failure that calls for a reload
    /// sets `reload`.
    #[allow(clippy::too_many_arguments)]
    async fn write_once(
        &mut self,
        client: &Client,
        endpoint: &Endpoint,
        body: &Body,
        record_count: u64,
        attempt: u32,
        trace_id: &str,
        reload: &mut bool,
        deadline: Instant,
    ) -> Result<(), Attempt> {
        let (index, slot) = self.next_slot().map_err(Attempt::Stop)?;
        let mut call = Call::new(
            "write_stream",
            Method::PUT,
            Api::Tunnel,
            stream_path(client, &self.table),
        )
        .query("uploadid", self.id.clone())
        .query("slotid", slot.id.clone());
        if let Some(p) = &self.partition {
            call = call.query("partition", p.tunnel_form());
        }
        if let Some(v) = &self.schema_version {
            call = call.query("schema_version", v.clone());
        }
        call = call
            .query("record_count", record_count.to_string())
            .query("check_latest_schema", "false")
            .header(SLOT_NUM_HEADER, self.slots.len().to_string())
            .header(ROUTED_SERVER_HEADER, slot.server.clone())
            .body(body.clone());
        match client
            .send_once(&call, endpoint, attempt, trace_id, deadline)
            .await
        {
            Ok(reply) => {
                self.follow_routing(index, &reply.headers, deadline).await;
                debug!(
                    session = %self.id,
                    slot = %slot.id,
                    record_count,
                    attempt,
                    "wrote record pack"
                );
                Ok(())
            }
            Err(error) => {
                if error.is_transient() {
                    *reload = needs_session_reload(&error);
                    debug!(
                        session = %self.id,
                        slot = %slot.id,
                        attempt,
                        reload = *reload,
                        error = %error,
                        "record pack failed"
                    );
                }
                Err(Attempt::Retry(error))
            }
        }
    }

    /// Re-reads the session (slots, schema) from the server.
    pub async fn reload(&mut self, deadline: Instant) -> Result<(), Error> {
        let mut call = Call::new(
            "reload_stream_session",
            Method::GET,
            Api::Tunnel,
            stream_path(&self.client, &self.table),
        )
        .query("uploadid", self.id.clone());
        if let Some(p) = &self.partition {
            call = call.query("partition", p.tunnel_form());
        }
        let reply = self.client.send(&call, deadline).await?;
        let parsed = parse_stream_session("reload_stream_session", &reply.body)?;
        self.client.count_reload();
        debug!(session = %self.id, slots = parsed.slots.len(), "reloaded stream session");
        self.apply(parsed);
        self.needs_reload = false;
        Ok(())
    }

    fn apply(&mut self, parsed: ParsedSession) {
        self.id = parsed.id;
        self.schema = parsed.schema;
        self.schema_version = parsed.schema_version;
        self.slots = parsed.slots;
        // Start at a random slot so concurrent writers spread over the servers.
        let len = self.slots.len().max(1);
        let pick = (self.client.inner.jitter.fraction() * len as f64) as usize;
        self.next_slot = pick.min(len - 1);
    }

    fn next_slot(&mut self) -> Result<(usize, Slot), Error> {
        if self.slots.is_empty() {
            return Err(Error::protocol("write_stream", "the session has no slots"));
        }
        let index = self.next_slot % self.slots.len();
        self.next_slot = index.wrapping_add(1);
        let slot = self
            .slots
            .get(index)
            .cloned()
            .ok_or_else(|| Error::protocol("write_stream", "slot index out of range"))?;
        Ok((index, slot))
    }

    /// Applies the routing headers of a successful write.
    async fn follow_routing(
        &mut self,
        index: usize,
        headers: &reqwest::header::HeaderMap,
        deadline: Instant,
    ) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(server) = header(ROUTED_SERVER_HEADER).map(str::trim)
            && !server.is_empty()
            && let Some(slot) = self.slots.get_mut(index)
            && slot.server != server
        {
            debug!(slot = %slot.id, from = %slot.server, to = server, "slot moved");
            slot.server = server.to_owned();
        }
        let slot_num = header(SLOT_NUM_HEADER).and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(n) = slot_num
            && n != self.slots.len()
        {
            debug!(session = %self.id, old = self.slots.len(), new = n, "slot count changed");
            // The write itself succeeded and is durable; a failed reload is retried before the
            // next write rather than failing this one.
            if let Err(e) = self.reload(deadline).await {
                warn!(session = %self.id, error = %e, "stream session reload failed; will retry");
                self.needs_reload = true;
            }
        }
    }
}

fn stream_path(client: &Client, table: &str) -> String {
    format!("{}/streams", client.table_path(table))
}

struct ParsedSession {
    id: String,
    schema: TableSchema,
    schema_version: Option<String>,
    slots: Vec<Slot>,
}

#[derive(Deserialize)]
struct StreamSessionJson {
    session_name: String,
    #[serde(default)]
    schema: serde_json::Value,
    #[serde(default)]
    schema_version: serde_json::Value,
    #[serde(default)]
    slots: Vec<Vec<serde_json::Value>>,
}

fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_stream_session(what: &'static str, body: &[u8]) -> Result<ParsedSession, Error> {
    let parsed: StreamSessionJson = serde_json::from_slice(body)
        .map_err(|e| Error::protocol(what, format!("bad stream session JSON: {e}")))?;
    let schema = if parsed.schema.is_null() {
        TableSchema::default()
    } else {
        schema_from_json(what, &parsed.schema)?
    };
    let slots = parsed
        .slots
        .iter()
        .map(|pair| match pair.as_slice() {
            [id, server] => match (scalar_text(id), scalar_text(server)) {
                (Some(id), Some(server)) => Ok(Slot { id, server }),
                _ => Err(Error::protocol(what, "a slot is not [id, host:port]")),
            },
            _ => Err(Error::protocol(what, "a slot is not [id, host:port]")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if slots.is_empty() {
        return Err(Error::protocol(what, "the session has no slots"));
    }
    Ok(ParsedSession {
        id: parsed.session_name,
        schema,
        schema_version: scalar_text(&parsed.schema_version),
        slots,
    })
}

/// What the stream writer must do before retrying an error, beyond waiting.
pub(crate) fn needs_session_reload(error: &Error) -> bool {
    // 308 means the slot moved; 502/504 mean the routed server is gone. Both SDKs reload the
    // stream session's slot table before trying again.
    error
        .service_error()
        .is_some_and(|e| matches!(e.status, 308 | 502 | 504))
}

/// How one stream-write attempt failed: `Retry` goes through the retry policy; `Stop` ends the
/// write at once (a session without slots, or a reload that already had its own retries).
#[derive(Debug)]
enum Attempt {
    Retry(Error),
    Stop(Error),
}

impl Attempt {
    fn into_error(self) -> Error {
        match self {
            Self::Retry(e) | Self::Stop(e) => e,
        }
    }
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retry(e) | Self::Stop(e) => e.fmt(f),
        }
    }
}

impl Retryable for Attempt {
    fn is_transient(&self) -> bool {
        match self {
            Self::Retry(e) => e.is_transient(),
            Self::Stop(_) => false,
        }
    }

    fn give_up(reason: GiveUp, attempts: u32, last: Self) -> Self {
        Self::Stop(Error::give_up(reason, attempts, last.into_error()))
    }

    fn deadline_passed() -> Self {
        Self::Stop(Error::deadline_passed())
    }
}

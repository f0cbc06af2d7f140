//! The plan of one invocation, pure: decoded records in, the rows of each (table, partition)
//! encoded and in write order out, plus every record that became a reject.
//!
//! Each record's table is decided before (by [`crate::route`]); its row is built by that
//! table's [`RowBuilder`] and routed by the one [`PartitionRouter`] (the one place a record's
//! partition is decided), then encoded once by the codec's [`Packer`]; the encoder is the last
//! word on what MaxCompute accepts, so a row it refuses is a reject too.
//!
//! # Write order
//!
//! What is written of each Kafka partition must be a prefix of its records (offset order), for
//! a partial batch response to name the first unwritten offset exactly while writes stop at the
//! first failure. One topic-partition's records may go to several tables and partitions, so
//! each topic-partition's records are cut into runs of consecutive records with the same
//! (table, partition); the batches are then taken run by run: each step picks, among the first
//! runs left of every topic-partition, the oldest (then by table and partition name), and joins
//! every first run with that same (table, partition) into one batch. Every batch is therefore
//! the next records of each topic-partition it holds: a write that stops anywhere leaves a
//! prefix of each. With one table and timestamps that only grow, this is one batch per
//! partition, oldest first; a topic-partition whose timestamps go back across a partition
//! boundary gets a second batch for the earlier partition rather than a write out of order.
//!
//! # Changes
//!
//! With `SINK_FORMAT=DEBEZIUM` (one fixed table, see the configuration) the rows are changes
//! ([`maxcompute_core::rows::debezium`]): each an upsert or a delete by the table's primary key,
//! one per key and partition (the last of the batch), and a table without partition columns is
//! written whole, as one batch, without a router. The partitions are written oldest first.
//!
//! No I/O, no clock (`now_ms` is passed in), no environment.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use maxcompute_client::{OPERATION_DELETE, OPERATION_UPSERT, upsert_column_types};
use maxcompute_core::codec::{BufferPool, CellError, EncodeError, EncodedRecords, Packer};
use maxcompute_core::event::{KafkaRecord, Reject, RejectClass};
use maxcompute_core::partition::{PartitionRouter, Specs};
use maxcompute_core::rows::debezium::{BuiltChanges, ChangeBuilder, ChangeOp, build_changes};
use maxcompute_core::rows::{Row, RowBuilder};
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::{OdpsType, TableSchema, Value};

use crate::route::NoTable;

/// What one invocation writes, and what it cannot.
#[derive(Debug)]
pub struct Plan<'r> {
    /// The batches to write, in write order (see the module's "Write order").
    pub partitions: Vec<PartitionBatch<'r>>,
    /// Records that can never be written, each with its original bytes.
    pub rejects: Vec<Reject>,
    /// Records in the event, whether they decoded or not.
    pub records: usize,
    /// The earliest event time among the records, for the record-age metric.
    pub oldest_record_ms: Option<i64>,
    /// The topics of the records, comma-separated.
    pub topics: String,
    /// Records without a value that write nothing (Debezium's tombstones).
    pub tombstones: usize,
    /// Changes replaced by a later change of the same key in the batch.
    pub superseded: usize,
}

/// One batch of rows for one partition of one table, encoded.
#[derive(Debug)]
pub struct PartitionBatch<'r> {
    /// The table (lower-case).
    pub table: String,
    /// `None`: a table without partition columns.
    pub spec: Option<PartitionSpec>,
    /// The record of each encoded row, by row index (offset order per topic-partition).
    pub records: Vec<&'r KafkaRecord>,
    /// The primary-key cells of each row, by row index, when the table is upserted (an upsert
    /// session buckets rows by them); empty otherwise.
    pub keys: Vec<Vec<Value>>,
    /// The table's data columns the rows were encoded for.
    pub data_columns: usize,
    pub encoded: EncodedRecords,
}

impl PartitionBatch<'_> {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.records.len()
    }

    /// The partition as `SHOW PARTITIONS` spells it, or `(table)` for a table without
    /// partition columns.
    pub fn name(&self) -> String {
        partition_name(self.spec.as_ref())
    }
}

/// A partition as `SHOW PARTITIONS` spells it, or `(table)` for a table without partition
/// columns.
pub fn partition_name(spec: Option<&PartitionSpec>) -> String {
    spec.map_or_else(|| "(table)".to_owned(), ToString::to_string)
}

/// How the records of one table become rows.
#[derive(Debug)]
enum Rows {
    /// One row per record, appended or upserted by the row's own key.
    Records(RowBuilder),
    /// Debezium changes, upserted or deleted by the table's primary key.
    Changes(ChangeBuilder),
}

/// How the rows of one table are built and encoded; made when its schema is read.
#[derive(Debug)]
pub struct TableRows {
    name: String,
    rows: Rows,
    /// Whether the table has partition columns (only a Delta Table of changes may have none).
    partitioned: bool,
    /// The types of the encoded columns: the table's data columns, then the upsert columns
    /// when rows are upserted.
    types: Vec<OdpsType>,
    /// The positions of the primary-key columns, when rows are upserted.
    key_columns: Option<Vec<usize>>,
    /// The table's data columns.
    data_columns: usize,
}

impl TableRows {
    /// Rows of table `name` with `schema`; `key_columns` are the positions of the primary-key
    /// columns when the table is upserted (its records then carry the upsert columns too).
    pub fn new(
        name: impl Into<String>,
        builder: RowBuilder,
        schema: &TableSchema,
        key_columns: Option<Vec<usize>>,
    ) -> Self {
        Self::with_rows(name, Rows::Records(builder), schema, key_columns)
    }

    /// Debezium changes into the Delta Table `name` with `schema`, whose primary-key columns
    /// are at `key_columns`.
    pub fn changes(
        name: impl Into<String>,
        builder: ChangeBuilder,
        schema: &TableSchema,
        key_columns: Vec<usize>,
    ) -> Self {
        Self::with_rows(name, Rows::Changes(builder), schema, Some(key_columns))
    }

    fn with_rows(
        name: impl Into<String>,
        rows: Rows,
        schema: &TableSchema,
        key_columns: Option<Vec<usize>>,
    ) -> Self {
        let mut types = schema.column_types();
        if key_columns.is_some() {
            types.extend(upsert_column_types());
        }
        Self {
            name: name.into(),
            rows,
            partitioned: !schema.partition_keys.is_empty(),
            types,
            key_columns,
            data_columns: schema.columns.len(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Turns decoded records into a [`Plan`]; built once per cold start.
#[derive(Debug)]
pub struct Planner {
    router: PartitionRouter,
    /// The buffers of packs sent by earlier invocations of the warm function, kept for the next.
    pool: BufferPool,
}

/// The cells an upsert record carries after the table's own (the upsert columns): the
/// operation (an upsert, or a change's delete), no version, every column given.
fn upsert_cells(op: ChangeOp) -> [Value; 5] {
    let operation = match op {
        ChangeOp::Upsert => OPERATION_UPSERT,
        ChangeOp::Delete => OPERATION_DELETE,
    };
    [
        Value::Null,
        Value::Null,
        Value::Integer(operation),
        Value::Null,
        Value::Array(Vec::new()),
    ]
}

/// A row to encode: its record, what it does, its cells.
struct Planned<'r> {
    record: &'r KafkaRecord,
    op: ChangeOp,
    values: Vec<Value>,
}

impl<'r> From<Row<'r>> for Planned<'r> {
    fn from(row: Row<'r>) -> Self {
        Self {
            record: row.record,
            op: ChangeOp::Upsert,
            values: row.values,
        }
    }
}

/// Each topic-partition's runs, in offset order.
type Runs<'r, 't> = BTreeMap<(&'r str, i32), VecDeque<Run<'r, 't>>>;

/// Consecutive records of one topic-partition bound for one (table, partition).
struct Run<'r, 't> {
    table: &'t TableRows,
    spec: PartitionSpec,
    /// The earliest partition time among its records.
    oldest: i64,
    rows: Vec<Row<'r>>,
}

impl Planner {
    pub fn new(router: PartitionRouter) -> Self {
        Self {
            router,
            pool: BufferPool::new(),
        }
    }

    pub fn router(&self) -> &PartitionRouter {
        &self.router
    }

    /// The plan for an event's decoded `records`, all bound for `table`, and the records that
    /// did not decode (`undecoded`, rejects already), with `now_ms` as the processing time.
    pub fn plan<'r>(
        &self,
        records: &'r [KafkaRecord],
        undecoded: Vec<Reject>,
        now_ms: i64,
        table: &TableRows,
    ) -> Plan<'r> {
        let tables: Vec<Result<&TableRows, NoTable>> = records.iter().map(|_| Ok(table)).collect();
        self.plan_routed(records, undecoded, now_ms, &tables)
    }

    /// The plan for decoded `records` whose tables are `tables` (one per record, in the same
    /// order: the table's rows, or why the record has none, which makes it a reject).
    pub fn plan_routed<'r>(
        &self,
        records: &'r [KafkaRecord],
        undecoded: Vec<Reject>,
        now_ms: i64,
        tables: &[Result<&TableRows, NoTable>],
    ) -> Plan<'r> {
        // Changes go to one fixed table (the configuration allows no other routing with them).
        if let Some(table) = tables.iter().find_map(|t| {
            t.as_ref()
                .ok()
                .filter(|t| matches!(t.rows, Rows::Changes(_)))
        }) {
            return self.plan_changes(records, undecoded, now_ms, table);
        }
        let record_count = records.len() + undecoded.len();
        let mut rejects = undecoded;
        let runs = self.runs(records, tables, now_ms, &mut rejects);
        let partitions = self.merge(runs, &mut rejects);
        let topics: BTreeSet<&str> = records.iter().map(|r| &*r.topic).collect();
        Plan {
            partitions,
            records: record_count,
            oldest_record_ms: records.iter().filter_map(KafkaRecord::event_time_ms).min(),
            topics: topics.into_iter().collect::<Vec<_>>().join(","),
            rejects,
            tombstones: 0,
            superseded: 0,
        }
    }

    /// Each record's row, in (topic, partition, offset) order, gathered per topic-partition
    /// into runs of consecutive records bound for one (table, partition); the records that
    /// have no row go to `rejects`.
    fn runs<'r, 't>(
        &self,
        records: &'r [KafkaRecord],
        tables: &[Result<&'t TableRows, NoTable>],
        now_ms: i64,
        rejects: &mut Vec<Reject>,
    ) -> Runs<'r, 't> {
        let mut order: Vec<(&'r KafkaRecord, Option<&Result<&'t TableRows, NoTable>>)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r, tables.get(i)))
            .collect();
        if !order.is_sorted_by(|a, b| a.0.order_key() <= b.0.order_key()) {
            order.sort_by(|a, b| a.0.order_key().cmp(&b.0.order_key()));
        }
        let mut specs = Specs::new(&self.router);
        let mut runs = Runs::new();
        for (record, table) in order {
            let table = match table {
                Some(Ok(table)) => *table,
                Some(Err(no)) => {
                    rejects.push(Reject::from_record(record, no.class, no.message.as_str()));
                    continue;
                }
                None => {
                    rejects.push(Reject::from_record(
                        record,
                        RejectClass::TableName,
                        "no table was decided for the record",
                    ));
                    continue;
                }
            };
            let spec = match specs.of(record.event_time_ms(), now_ms) {
                Ok(spec) => spec,
                Err(e) => {
                    rejects.push(Reject::from_record(
                        record,
                        RejectClass::PartitionValue,
                        e.to_string(),
                    ));
                    continue;
                }
            };
            let values = match &table.rows {
                Rows::Records(builder) => builder.row(record),
                Rows::Changes(_) => {
                    rejects.push(Reject::from_record(
                        record,
                        RejectClass::TableName,
                        "changes are written to one fixed table only",
                    ));
                    continue;
                }
            };
            let values = match values {
                Ok(values) => values,
                Err(e) => {
                    rejects.push(Reject::from_record(record, e.class, e.message));
                    continue;
                }
            };
            let time = self.router.time_of(record.event_time_ms(), now_ms);
            let row = Row { record, values };
            let queue = runs.entry((&*record.topic, record.partition)).or_default();
            match queue.back_mut() {
                Some(run) if std::ptr::eq(run.table, table) && run.spec == *spec => {
                    run.oldest = run.oldest.min(time);
                    run.rows.push(row);
                }
                _ => queue.push_back(Run {
                    table,
                    spec: spec.clone(),
                    oldest: time,
                    rows: vec![row],
                }),
            }
        }
        runs
    }

    /// The runs merged into partition batches, oldest first: each batch takes, from the front
    /// of every topic-partition's queue, the runs bound for the oldest run's (table,
    /// partition), so that no topic-partition's records are written out of order.
    fn merge<'r>(
        &self,
        mut runs: Runs<'r, '_>,
        rejects: &mut Vec<Reject>,
    ) -> Vec<PartitionBatch<'r>> {
        let mut batches = Vec::new();
        loop {
            let next = runs
                .values()
                .filter_map(VecDeque::front)
                .min_by(|a, b| {
                    (a.oldest, a.table.name(), &a.spec).cmp(&(b.oldest, b.table.name(), &b.spec))
                })
                .map(|run| (run.table, run.spec.clone()));
            let Some((table, spec)) = next else {
                return batches;
            };
            let mut rows = Vec::new();
            for queue in runs.values_mut() {
                if queue
                    .front()
                    .is_some_and(|run| std::ptr::eq(run.table, table) && run.spec == spec)
                    && let Some(run) = queue.pop_front()
                {
                    rows.extend(run.rows);
                }
            }
            // Each batch's row values are dropped once encoded, so a full event never has
            // every row both as values and as bytes.
            let rows = rows.into_iter().map(Planned::from).collect();
            let batch = self.encode(table, Some(spec), rows, rejects);
            if batch.rows() > 0 {
                batches.push(batch);
            }
        }
    }

    /// The plan for Debezium changes into `table`: one change per key and partition (the last),
    /// the partitions oldest first, a table without partition columns as one batch.
    fn plan_changes<'r>(
        &self,
        records: &'r [KafkaRecord],
        mut rejects: Vec<Reject>,
        now_ms: i64,
        table: &TableRows,
    ) -> Plan<'r> {
        let Rows::Changes(builder) = &table.rows else {
            return self.plan(records, rejects, now_ms, table);
        };
        let record_count = records.len() + rejects.len();
        let router = table.partitioned.then_some(&self.router);
        let BuiltChanges {
            partitions,
            rejects: change_rejects,
            tombstones,
            superseded,
        } = build_changes(records, builder, router, now_ms);
        rejects.extend(change_rejects);
        let time_of = |r: &KafkaRecord| match router {
            Some(router) => router.time_of(r.event_time_ms(), now_ms),
            None => now_ms,
        };
        let mut by_age: Vec<(i64, PartitionBatch<'r>)> = Vec::with_capacity(partitions.len());
        for (spec, changes) in partitions {
            let oldest = changes
                .iter()
                .map(|c| time_of(c.record))
                .min()
                .unwrap_or(now_ms);
            let rows = changes
                .into_iter()
                .map(|c| Planned {
                    record: c.record,
                    op: c.op,
                    values: c.values,
                })
                .collect();
            let batch = self.encode(table, spec, rows, &mut rejects);
            if batch.rows() > 0 {
                by_age.push((oldest, batch));
            }
        }
        by_age.sort_by(|a, b| (a.0, &a.1.spec).cmp(&(b.0, &b.1.spec)));
        let topics: BTreeSet<&str> = records.iter().map(|r| &*r.topic).collect();
        Plan {
            partitions: by_age.into_iter().map(|(_, batch)| batch).collect(),
            records: record_count,
            oldest_record_ms: records.iter().filter_map(KafkaRecord::event_time_ms).min(),
            topics: topics.into_iter().collect::<Vec<_>>().join(","),
            rejects,
            tombstones,
            superseded,
        }
    }

    /// Encodes one batch's rows; a row the encoder refuses becomes a reject of its own record.
    fn encode<'r>(
        &self,
        table: &TableRows,
        spec: Option<PartitionSpec>,
        rows: Vec<Planned<'r>>,
        rejects: &mut Vec<Reject>,
    ) -> PartitionBatch<'r> {
        let mut packer = Packer::new(table.types.clone(), rows.len(), &self.pool);
        let mut records = Vec::with_capacity(rows.len());
        let mut keys = Vec::new();
        for mut row in rows {
            if table.key_columns.is_some() {
                row.values.extend(upsert_cells(row.op));
            }
            match packer.push(&row.values) {
                Ok(()) => {
                    records.push(row.record);
                    if let Some(columns) = &table.key_columns {
                        keys.push(
                            columns
                                .iter()
                                .map(|&i| row.values.get(i).cloned().unwrap_or(Value::Null))
                                .collect(),
                        );
                    }
                }
                Err(e) => rejects.push(Reject::from_record(
                    row.record,
                    reject_class(&e),
                    e.to_string(),
                )),
            }
        }
        PartitionBatch {
            table: table.name.clone(),
            spec,
            records,
            keys,
            data_columns: table.data_columns,
            encoded: packer.finish(),
        }
    }
}

fn reject_class(error: &EncodeError) -> RejectClass {
    match error {
        EncodeError::Cell {
            error: CellError::TooLarge { .. },
            ..
        } => RejectClass::CellTooLarge,
        EncodeError::Cell {
            error: CellError::InvalidUtf8 { .. },
            ..
        } => RejectClass::InvalidUtf8,
        _ => RejectClass::TypeConversion,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::Bytes;
    use maxcompute_core::codec::MAX_CELL_BYTES;
    use maxcompute_core::event::{Headers, RecordId, TimestampType};
    use maxcompute_core::partition::{Granularity, PartitionConfig};
    use maxcompute_core::rows::{Format, Mode};
    use maxcompute_core::types::Column;

    use super::*;

    fn planner(granularity: Granularity) -> Planner {
        let router = PartitionRouter::new(&PartitionConfig {
            granularity,
            ..PartitionConfig::default()
        })
        .unwrap();
        Planner::new(router)
    }

    fn seed_rows(name: &str) -> TableRows {
        let schema = TableSchema {
            columns: ["topic", "partition", "offset", "key", "value"]
                .iter()
                .zip(["string", "bigint", "bigint", "string", "string"])
                .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
                .collect(),
            partition_keys: vec![Column::new("pt", OdpsType::String)],
        };
        let zone = PartitionConfig::default().zone;
        let builder = RowBuilder::new(Mode::Default, Format::Text, zone, &schema).unwrap();
        TableRows::new(name, builder, &schema, None)
    }

    fn record(offset: i64, timestamp_ms: i64, value: Vec<u8>) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp_ms,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(Bytes::from(value)),
            headers: Headers::default(),
        }
    }

    /// 2020-11-17 15:04:05 at GMT+08:00.
    const T15: i64 = 1_605_596_645_000;

    #[test]
    fn a_row_the_encoder_refuses_is_a_reject_of_its_own_record_even_among_duplicates() {
        // A redelivered duplicate has the same coordinates as the original: the reject must
        // carry the bytes of the record whose row was refused, not of another with its id.
        let big = vec![b'x'; MAX_CELL_BYTES + 1];
        let records = [
            record(5, T15, b"good".to_vec()),
            record(5, T15, big.clone()),
            record(6, T15, b"next".to_vec()),
        ];
        let plan = planner(Granularity::Hour).plan(&records, Vec::new(), T15, &seed_rows("t"));

        assert_eq!(plan.rejects.len(), 1);
        assert_eq!(plan.rejects[0].offset, Some(5));
        assert_eq!(plan.rejects[0].value.as_deref(), Some(&big[..]));
        assert_eq!(plan.rejects[0].class, RejectClass::CellTooLarge);
        assert_eq!(plan.partitions.len(), 1);
        let part = &plan.partitions[0];
        assert_eq!(part.name(), "pt=11-17-2020 15");
        assert!(std::ptr::eq(part.records[0], &records[0]));
        assert!(std::ptr::eq(part.records[1], &records[2]));
        assert_eq!(part.encoded.len(), 2);
        let rows: Vec<usize> = part
            .encoded
            .in_order()
            .iter()
            .flat_map(|p| p.rows.clone())
            .collect();
        assert_eq!(rows, vec![0, 1]);
        assert_eq!(plan.records, 3);
    }

    #[test]
    fn partitions_are_planned_oldest_first_whatever_their_names_sort_as() {
        // 2020-12-31 and 2021-01-01 at GMT+08:00: "01-01-2021" sorts before "12-31-2020".
        let dec31 = 1_609_381_845_000;
        let jan1 = dec31 + 86_400_000;
        let records = [
            record(1, jan1, b"b".to_vec()),
            record(0, dec31, b"a".to_vec()),
        ];
        let plan = planner(Granularity::Day).plan(&records, Vec::new(), jan1, &seed_rows("t"));
        let specs: Vec<String> = plan.partitions.iter().map(PartitionBatch::name).collect();
        assert_eq!(specs, vec!["pt=12-31-2020", "pt=01-01-2021"]);
        let ids: Vec<RecordId> = plan
            .partitions
            .iter()
            .flat_map(|p| p.records.iter().map(|r| r.id()))
            .collect();
        assert_eq!(ids, vec![records[1].id(), records[0].id()]);
        assert_eq!(plan.oldest_record_ms, Some(dec31));
        assert_eq!(plan.topics, "t");
    }

    fn on(topic: &str, partition: i32, offset: i64, timestamp_ms: i64) -> KafkaRecord {
        KafkaRecord {
            topic: topic.into(),
            partition,
            ..record(offset, timestamp_ms, b"v".to_vec())
        }
    }

    /// A batch as (table, partition value, [(topic, partition, offset)]).
    type Batch = (String, String, Vec<(String, i32, i64)>);

    fn batches(plan: &Plan<'_>) -> Vec<Batch> {
        plan.partitions
            .iter()
            .map(|p| {
                (
                    p.table.clone(),
                    p.name(),
                    p.records
                        .iter()
                        .map(|r| (r.topic.to_string(), r.partition, r.offset))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_topic_partition_split_across_tables_is_written_in_offset_order() {
        // Offsets 0 and 2 go to table a, 1 and 3 to table b: one batch per table would write
        // 0 and 2 before 1, and a failure of b's batch would leave 2 written after unwritten 1.
        let (a, b) = (seed_rows("a"), seed_rows("b"));
        let records: Vec<KafkaRecord> = (0..4).map(|o| on("t", 0, o, T15)).collect();
        let tables: Vec<Result<&TableRows, NoTable>> = records
            .iter()
            .map(|r| Ok(if r.offset % 2 == 0 { &a } else { &b }))
            .collect();
        let plan = planner(Granularity::Hour).plan_routed(&records, Vec::new(), T15, &tables);
        let t = |o| ("t".to_owned(), 0, o);
        let pt = "pt=11-17-2020 15".to_owned();
        assert_eq!(
            batches(&plan),
            vec![
                ("a".to_owned(), pt.clone(), vec![t(0)]),
                ("b".to_owned(), pt.clone(), vec![t(1)]),
                ("a".to_owned(), pt.clone(), vec![t(2)]),
                ("b".to_owned(), pt, vec![t(3)]),
            ]
        );
    }

    #[test]
    fn every_prefix_of_the_batches_is_a_prefix_of_each_topic_partition() {
        // Two topics, three partitions each, records routed to three tables and two hours by a
        // seeded generator: whichever batch a write stops at, what came before it is, for each
        // topic-partition, its first records in offset order.
        let seed: u64 = std::env::var("PLAN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7, |d| d.as_nanos() as u64)
            });
        println!("PLAN_SEED={seed}");
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let tables = [seed_rows("a"), seed_rows("b"), seed_rows("c")];
        for _ in 0..50 {
            let mut records = Vec::new();
            for topic in ["x", "y"] {
                for partition in 0..3 {
                    for offset in 0..(next() % 12) as i64 {
                        let hour = (next() % 2) as i64 * 3_600_000;
                        records.push(on(topic, partition, offset, T15 + hour));
                    }
                }
            }
            let routes: Vec<Result<&TableRows, NoTable>> = records
                .iter()
                .map(|_| Ok(&tables[(next() % 3) as usize]))
                .collect();
            let plan = planner(Granularity::Hour).plan_routed(&records, Vec::new(), T15, &routes);
            assert!(plan.rejects.is_empty(), "seed {seed}");
            let written: usize = plan.partitions.iter().map(PartitionBatch::rows).sum();
            assert_eq!(written, records.len(), "seed {seed}");
            let mut seen: BTreeMap<(String, i32), i64> = BTreeMap::new();
            for batch in &plan.partitions {
                for r in &batch.records {
                    let next_offset = seen.entry((r.topic.to_string(), r.partition)).or_insert(0);
                    assert_eq!(r.offset, *next_offset, "seed {seed}: {:?}", batches(&plan));
                    *next_offset += 1;
                }
            }
        }
    }

    #[test]
    fn a_record_without_a_table_is_a_reject_with_its_bytes() {
        let a = seed_rows("a");
        let records = [on("t", 0, 0, T15), on("t", 0, 1, T15)];
        let tables = [
            Ok(&a),
            Err(NoTable {
                class: RejectClass::TableNotAllowed,
                message: "not allowed".into(),
            }),
        ];
        let plan = planner(Granularity::Hour).plan_routed(&records, Vec::new(), T15, &tables);
        assert_eq!(plan.rejects.len(), 1);
        assert_eq!(plan.rejects[0].class, RejectClass::TableNotAllowed);
        assert_eq!(plan.rejects[0].offset, Some(1));
        assert_eq!(plan.rejects[0].value.as_deref(), Some(&b"v"[..]));
        assert_eq!(plan.partitions.len(), 1);
        assert_eq!(plan.partitions[0].rows(), 1);
    }
}

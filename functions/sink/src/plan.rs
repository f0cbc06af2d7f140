//! The plan of one invocation, pure: decoded records in, the rows of each partition encoded and
//! in write order out, plus every record that became a reject.
//!
//! Rows are built and routed by [`maxcompute_core::rows::build_rows`] (its router,
//! [`PartitionRouter`], is the one place a record's partition is decided) and encoded once by
//! the codec's [`Packer`]; the encoder is the last word on what MaxCompute accepts, so a row it
//! refuses is a reject too. Partitions are ordered oldest first: written in that order, each
//! Kafka partition's records land in offset order (as long as its timestamps do not go back
//! across a partition boundary), which is what makes a partial batch response exact.
//!
//! With `SINK_FORMAT=DEBEZIUM` the rows are changes ([`maxcompute_core::rows::debezium`]): each
//! an upsert or a delete by the table's primary key, one per key and partition (the last of the
//! batch), and a table without partition columns is written whole, without a router.
//!
//! No I/O, no clock (`now_ms` is passed in), no environment.

use std::collections::BTreeSet;

use maxcompute_client::{OPERATION_DELETE, OPERATION_UPSERT, upsert_column_types};
use maxcompute_core::codec::{BufferPool, CellError, EncodeError, EncodedRecords, Packer};
use maxcompute_core::event::{KafkaRecord, Reject, RejectClass};
use maxcompute_core::partition::PartitionRouter;
use maxcompute_core::rows::debezium::{BuiltChanges, ChangeBuilder, ChangeOp, build_changes};
use maxcompute_core::rows::{BuiltRows, RowBuilder, build_rows};
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::{OdpsType, TableSchema, Value};

/// What one invocation writes, and what it cannot.
#[derive(Debug)]
pub struct Plan<'r> {
    /// The partitions to write, oldest first.
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

/// One partition's rows, encoded.
#[derive(Debug)]
pub struct PartitionBatch<'r> {
    /// `None`: a table without partition columns.
    pub spec: Option<PartitionSpec>,
    /// The record of each encoded row, by row index (offset order).
    pub records: Vec<&'r KafkaRecord>,
    /// The primary-key cells of each row, by row index, when the table is upserted (an upsert
    /// session buckets rows by them); empty otherwise.
    pub keys: Vec<Vec<Value>>,
    pub encoded: EncodedRecords,
}

impl PartitionBatch<'_> {
    /// Rows in the partition.
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

/// How records become rows.
#[derive(Debug)]
pub enum Rows {
    /// One row per record, appended or upserted by the row's own key.
    Records(RowBuilder),
    /// Debezium changes, upserted or deleted by the table's primary key.
    Changes(ChangeBuilder),
}

/// Turns decoded records into a [`Plan`]; built once per cold start.
#[derive(Debug)]
pub struct Planner {
    rows: Rows,
    /// `None` only for a Delta Table without partition columns, written whole.
    router: Option<PartitionRouter>,
    /// The types of the encoded columns: the table's data columns, then the upsert columns
    /// when rows are upserted.
    types: Vec<OdpsType>,
    /// The positions of the primary-key columns, when rows are upserted.
    key_columns: Option<Vec<usize>>,
    /// The buffers of packs sent by earlier invocations of the warm function, kept for the next.
    pool: BufferPool,
}

/// The cells an upsert record carries after the table's own (the upsert columns): the
/// operation, no version, every column given.
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

impl Planner {
    /// A planner for rows of `schema`; `key_columns` are the positions of the primary-key
    /// columns when the table is upserted (its records then carry the upsert columns too).
    pub fn new(
        builder: RowBuilder,
        router: PartitionRouter,
        schema: &TableSchema,
        key_columns: Option<Vec<usize>>,
    ) -> Self {
        Self::with_rows(Rows::Records(builder), Some(router), schema, key_columns)
    }

    /// A planner of Debezium changes into a Delta Table whose primary-key columns are at
    /// `key_columns`; `router` is `None` when the table has no partition columns.
    pub fn changes(
        builder: ChangeBuilder,
        router: Option<PartitionRouter>,
        schema: &TableSchema,
        key_columns: Vec<usize>,
    ) -> Self {
        Self::with_rows(Rows::Changes(builder), router, schema, Some(key_columns))
    }

    fn with_rows(
        rows: Rows,
        router: Option<PartitionRouter>,
        schema: &TableSchema,
        key_columns: Option<Vec<usize>>,
    ) -> Self {
        let mut types = schema.column_types();
        if key_columns.is_some() {
            types.extend(upsert_column_types());
        }
        Self {
            rows,
            router,
            types,
            key_columns,
            pool: BufferPool::new(),
        }
    }

    /// The time a record is routed by: its own, or `now_ms` (processing time, or a table
    /// without partitions).
    fn time_of(&self, record: &KafkaRecord, now_ms: i64) -> i64 {
        match &self.router {
            Some(router) => router.time_of(record.event_time_ms(), now_ms),
            None => now_ms,
        }
    }

    /// The plan for an event's decoded `records` and the records that did not decode
    /// (`undecoded`, rejects already), with `now_ms` as the processing time.
    pub fn plan<'r>(
        &self,
        records: &'r [KafkaRecord],
        undecoded: Vec<Reject>,
        now_ms: i64,
    ) -> Plan<'r> {
        let mut tombstones = 0;
        let mut superseded = 0;
        let (partitions, row_rejects): (Vec<(Option<PartitionSpec>, Vec<Planned<'r>>)>, _) =
            match (&self.rows, &self.router) {
                (Rows::Records(builder), Some(router)) => {
                    let BuiltRows {
                        partitions,
                        rejects,
                    } = build_rows(records, builder, router, now_ms);
                    let partitions = partitions
                        .into_iter()
                        .map(|(spec, rows)| {
                            let rows = rows
                                .into_iter()
                                .map(|r| Planned {
                                    record: r.record,
                                    op: ChangeOp::Upsert,
                                    values: r.values,
                                })
                                .collect();
                            (Some(spec), rows)
                        })
                        .collect();
                    (partitions, rejects)
                }
                // `with_rows` is only given no router with changes; records are then rejected
                // rather than routed nowhere.
                (Rows::Records(_), None) => (
                    Vec::new(),
                    records
                        .iter()
                        .map(|r| {
                            Reject::from_record(
                                r,
                                RejectClass::PartitionValue,
                                "the table has no partition columns to route this record to",
                            )
                        })
                        .collect(),
                ),
                (Rows::Changes(builder), router) => {
                    let BuiltChanges {
                        partitions,
                        rejects,
                        tombstones: t,
                        superseded: s,
                    } = build_changes(records, builder, router.as_ref(), now_ms);
                    tombstones = t;
                    superseded = s;
                    let partitions = partitions
                        .into_iter()
                        .map(|(spec, changes)| {
                            let rows = changes
                                .into_iter()
                                .map(|c| Planned {
                                    record: c.record,
                                    op: c.op,
                                    values: c.values,
                                })
                                .collect();
                            (spec, rows)
                        })
                        .collect();
                    (partitions, rejects)
                }
            };
        let record_count = records.len() + undecoded.len();
        let mut rejects = undecoded;
        rejects.extend(row_rejects);
        let mut by_age: Vec<(i64, PartitionBatch<'r>)> = Vec::with_capacity(partitions.len());
        for (spec, rows) in partitions {
            let oldest = rows
                .iter()
                .map(|r| self.time_of(r.record, now_ms))
                .min()
                .unwrap_or(now_ms);
            // Each partition's row values are dropped once encoded, so a full event never has
            // every row both as values and as bytes.
            let part = self.encode(spec, rows, &mut rejects);
            if part.rows() > 0 {
                by_age.push((oldest, part));
            }
        }
        by_age.sort_by(|a, b| (a.0, &a.1.spec).cmp(&(b.0, &b.1.spec)));
        let topics: BTreeSet<&str> = records.iter().map(|r| r.topic.as_str()).collect();
        Plan {
            partitions: by_age.into_iter().map(|(_, part)| part).collect(),
            records: record_count,
            oldest_record_ms: records.iter().filter_map(KafkaRecord::event_time_ms).min(),
            topics: topics.into_iter().collect::<Vec<_>>().join(","),
            rejects,
            tombstones,
            superseded,
        }
    }

    /// Encodes one partition's rows; a row the encoder refuses becomes a reject of its own
    /// record.
    fn encode<'r>(
        &self,
        spec: Option<PartitionSpec>,
        rows: Vec<Planned<'r>>,
        rejects: &mut Vec<Reject>,
    ) -> PartitionBatch<'r> {
        let mut packer = Packer::new(self.types.clone(), rows.len(), &self.pool);
        let mut records = Vec::with_capacity(rows.len());
        let mut keys = Vec::new();
        for mut row in rows {
            if self.key_columns.is_some() {
                row.values.extend(upsert_cells(row.op));
            }
            match packer.push(&row.values) {
                Ok(()) => {
                    records.push(row.record);
                    if let Some(columns) = &self.key_columns {
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
            spec,
            records,
            keys,
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

    use maxcompute_core::codec::MAX_CELL_BYTES;
    use maxcompute_core::event::{RecordId, TimestampType};
    use maxcompute_core::partition::{Granularity, PartitionConfig};
    use maxcompute_core::rows::{Format, Mode};
    use maxcompute_core::types::Column;

    use super::*;

    fn planner(granularity: Granularity) -> Planner {
        let schema = TableSchema {
            columns: ["topic", "partition", "offset", "key", "value"]
                .iter()
                .zip(["string", "bigint", "bigint", "string", "string"])
                .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
                .collect(),
            partition_keys: vec![Column::new("pt", OdpsType::String)],
        };
        let router = PartitionRouter::new(&PartitionConfig {
            granularity,
            ..PartitionConfig::default()
        })
        .unwrap();
        let builder = RowBuilder::new(Mode::Default, Format::Text, router.zone(), &schema).unwrap();
        Planner::new(builder, router, &schema, None)
    }

    fn record(offset: i64, timestamp_ms: i64, value: Vec<u8>) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp_ms,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(value),
            headers: vec![],
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
        let plan = planner(Granularity::Hour).plan(&records, Vec::new(), T15);

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
        let plan = planner(Granularity::Day).plan(&records, Vec::new(), jan1);
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
}

//! Which table each record goes to, pure: `MAXCOMPUTE_TABLE` as a fixed name, a template
//! (`ods_${topic}`), or a list of `topic=table` pairs; or the record's own top-level JSON field
//! (`SINK_TABLE_FIELD`), checked against MaxCompute's naming rules and an allow-list
//! (`SINK_TABLE_ALLOW`), so that a producer cannot write into any table the role can reach.
//!
//! A record with no table under the configuration is a reject with its bytes, never a write:
//! `table_name` (its topic makes no name, is not listed, or its field is missing or not a
//! string), `table_not_allowed` (its field names a table outside the allow-list). Names are
//! lower-case (MaxCompute's names ignore case), so each table has one key in the sink's cache.
//!
//! No I/O.

use std::collections::BTreeMap;

use maxcompute_core::event::{KafkaRecord, RejectClass};
use maxcompute_core::rows::naming::{TableTemplate, is_maxcompute_name};
use maxcompute_core::rows::{Mode, json_text_field};

/// How records find their table.
#[derive(Debug, Clone)]
pub enum TableRouting {
    /// Every record goes to this table.
    Fixed(String),
    /// The table is the template with the record's topic in it, mapped by the naming rule.
    Template(TableTemplate),
    /// Each listed topic has its table; a topic not listed has none.
    Topics(BTreeMap<String, String>),
    /// The record's top-level JSON field names its table, which must be a MaxCompute name that
    /// the allow-list matches whole; without the field, `default` (when set).
    Field {
        field: String,
        allow: AllowList,
        default: Option<String>,
    },
}

/// The allow-list of routed table names: a regular expression that must match the whole name.
#[derive(Debug, Clone)]
pub struct AllowList {
    pattern: String,
    whole: regex::Regex,
}

impl AllowList {
    /// The pattern, anchored at both ends; an error says why the pattern does not compile.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            pattern: pattern.to_owned(),
            whole: regex::Regex::new(&format!("^(?:{pattern})$"))?,
        })
    }

    pub fn allows(&self, table: &str) -> bool {
        self.whole.is_match(table)
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Why a record has no table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoTable {
    pub class: RejectClass,
    pub message: String,
}

impl TableRouting {
    /// The one table of a fixed configuration, which the cold start reads.
    pub fn fixed(&self) -> Option<&str> {
        match self {
            Self::Fixed(table) => Some(table),
            _ => None,
        }
    }

    /// The table of `record` (lower-case), or why it has none. `mode` says which payload a
    /// routing field is read from (the key in KEY mode, else the value).
    pub fn table_for(&self, record: &KafkaRecord, mode: Mode) -> Result<String, NoTable> {
        let no_table = |class, message: String| NoTable { class, message };
        match self {
            Self::Fixed(table) => Ok(table.clone()),
            Self::Template(template) => template.table_for(&record.topic).map_err(|e| {
                no_table(
                    RejectClass::TableName,
                    format!("topic `{}` makes no table name: {e}", record.topic),
                )
            }),
            Self::Topics(tables) => tables.get(&*record.topic).cloned().ok_or_else(|| {
                no_table(
                    RejectClass::TableName,
                    format!("topic `{}` is not listed in MAXCOMPUTE_TABLE", record.topic),
                )
            }),
            Self::Field {
                field,
                allow,
                default,
            } => {
                let named = json_text_field(record, mode, field)
                    .map_err(|e| no_table(RejectClass::TableName, e))?;
                let Some(name) = named else {
                    return default.clone().ok_or_else(|| {
                        no_table(
                            RejectClass::TableName,
                            format!("the record has no field `{field}` to name its table"),
                        )
                    });
                };
                if !is_maxcompute_name(&name) {
                    return Err(no_table(
                        RejectClass::TableName,
                        format!(
                            "field `{field}` names `{}`, which is not a MaxCompute table name (a letter, then letters, digits or underscores, at most 128)",
                            name.chars().take(64).collect::<String>()
                        ),
                    ));
                }
                let name = name.to_ascii_lowercase();
                if !allow.allows(&name) {
                    return Err(no_table(
                        RejectClass::TableNotAllowed,
                        format!(
                            "field `{field}` names table `{name}`, which SINK_TABLE_ALLOW (`{}`) does not allow",
                            allow.pattern()
                        ),
                    ));
                }
                Ok(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::Bytes;
    use maxcompute_core::event::{Headers, TimestampType};

    use super::*;

    fn record(topic: &str, value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(Bytes::from(value.as_bytes().to_vec())),
            headers: Headers::default(),
        }
    }

    #[test]
    fn a_template_maps_the_topic_and_a_topic_with_no_name_is_a_reject() {
        let routing = TableRouting::Template(TableTemplate::parse("${topic}").unwrap().unwrap());
        assert_eq!(
            routing.table_for(&record("Orders.EU", "{}"), Mode::Value),
            Ok("orders_eu".to_owned())
        );
        let err = routing
            .table_for(&record("_private", "{}"), Mode::Value)
            .unwrap_err();
        assert_eq!(err.class, RejectClass::TableName);
    }

    #[test]
    fn a_list_routes_listed_topics_only() {
        let routing = TableRouting::Topics(BTreeMap::from([("a".into(), "table_a".into())]));
        assert_eq!(
            routing.table_for(&record("a", ""), Mode::Value),
            Ok("table_a".to_owned())
        );
        assert_eq!(
            routing
                .table_for(&record("b", ""), Mode::Value)
                .unwrap_err()
                .class,
            RejectClass::TableName
        );
    }

    #[test]
    fn a_routing_field_must_be_a_name_the_allow_list_matches_whole() {
        let routing = TableRouting::Field {
            field: "table".into(),
            allow: AllowList::new("ods_[a-z]+").unwrap(),
            default: None,
        };
        let route = |v: &str| routing.table_for(&record("t", v), Mode::Value);
        assert_eq!(
            route(r#"{"table": "ODS_Orders"}"#),
            Ok("ods_orders".to_owned())
        );
        // The pattern matches a part of each of these, never the whole.
        for name in ["ods_orders_2", "xods_orders", "secrets"] {
            let err = route(&format!(r#"{{"table": "{name}"}}"#)).unwrap_err();
            assert_eq!(err.class, RejectClass::TableNotAllowed, "{name}");
        }
        for bad in [
            r#"{"table": "ods-orders"}"#,
            r#"{"table": 7}"#,
            r#"{"other": "ods_x"}"#,
            "not json",
            r#"["ods_x"]"#,
        ] {
            assert_eq!(
                route(bad).unwrap_err().class,
                RejectClass::TableName,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_record_without_the_field_goes_to_the_default_table_when_there_is_one() {
        let routing = TableRouting::Field {
            field: "table".into(),
            allow: AllowList::new("ods_.*").unwrap(),
            default: Some("fallback".into()),
        };
        assert_eq!(
            routing.table_for(&record("t", r#"{"x": 1}"#), Mode::Value),
            Ok("fallback".to_owned())
        );
    }
}

//! The SQL subset the emulator understands, parsed into [`Statement`]s.
//!
//! Supported: `CREATE TABLE [IF NOT EXISTS]` (with `PRIMARY KEY` at column or table level,
//! `TBLPROPERTIES` and `LIFECYCLE`), `DROP TABLE [IF EXISTS]`,
//! `ALTER TABLE .. ADD [IF NOT EXISTS] | DROP [IF EXISTS] PARTITION (..) [PARTITION (..)]`,
//! `ALTER TABLE .. ADD COLUMNS [IF NOT EXISTS] (..)`, `ALTER TABLE .. SET LIFECYCLE n`, `TRUNCATE TABLE t [PARTITION (..)[, PARTITION (..)]]`,
//! `SHOW PARTITIONS`,
//! `SELECT * | cols | COUNT(*) FROM t [WHERE col = 'v' [AND ..]] [LIMIT n]`. Keywords are
//! case-insensitive, names may be backquoted and project-qualified, string literals may use single
//! or double quotes. Anything else is a [`SqlError`] that names what is unsupported. This module
//! only parses; execution lives in `exec.rs`.

use maxcompute_core::types::{Column, OdpsType};

/// A parse failure, phrased for the instance's task result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SqlError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SqlError> {
    Err(SqlError(msg.into()))
}

/// `[project.]table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub project: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    Star,
    Columns(Vec<String>),
    CountStar,
}

/// `CREATE TABLE`, as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable {
    pub if_not_exists: bool,
    pub table: TableRef,
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
    pub comment: String,
    /// Key column names in key order; empty when the table has no primary key.
    pub primary_key: Vec<String>,
    /// `TBLPROPERTIES` as written (keys as given, values unquoted).
    pub properties: Vec<(String, String)>,
    /// `LIFECYCLE n`: days, always positive.
    pub lifecycle: Option<i64>,
    /// `INTO n SHARDS [HUBLIFECYCLE h]`: `(n, h)`.
    pub shards: Option<(i64, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    CreateTable(CreateTable),
    SetLifecycle {
        table: TableRef,
        days: i64,
    },
    /// `TRUNCATE TABLE`; `specs` is empty for a table without partitions.
    Truncate {
        table: TableRef,
        specs: Vec<Vec<(String, String)>>,
    },
    DropTable {
        if_exists: bool,
        table: TableRef,
    },
    /// `ALTER TABLE t ADD COLUMNS [IF NOT EXISTS] (..)`: columns appended after the existing
    /// data columns.
    AddColumns {
        if_not_exists: bool,
        table: TableRef,
        columns: Vec<Column>,
    },
    AddPartitions {
        if_not_exists: bool,
        table: TableRef,
        specs: Vec<Vec<(String, String)>>,
    },
    DropPartitions {
        if_exists: bool,
        table: TableRef,
        specs: Vec<Vec<(String, String)>>,
    },
    ShowPartitions {
        table: TableRef,
    },
    Select {
        table: TableRef,
        projection: Projection,
        filter: Vec<(String, String)>,
        limit: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A bare word (keyword or name).
    Word(String),
    /// A backquoted name.
    Quoted(String),
    /// A string literal.
    Str(String),
    Sym(char),
}

fn tokenize(sql: &str) -> Result<Vec<Tok>, SqlError> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '-' && sql_comment_ahead(&mut chars.clone()) {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' {
                    w.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(w));
        } else if c == '`' {
            chars.next();
            let mut w = String::new();
            loop {
                match chars.next() {
                    Some('`') => break,
                    Some(c) => w.push(c),
                    None => return err("unterminated backquoted name"),
                }
            }
            out.push(Tok::Quoted(w));
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => return err("unterminated string literal"),
                    },
                    Some(q) if q == c => break,
                    Some(other) => s.push(other),
                    None => return err("unterminated string literal"),
                }
            }
            out.push(Tok::Str(s));
        } else {
            chars.next();
            out.push(Tok::Sym(c));
        }
    }
    Ok(out)
}

fn sql_comment_ahead(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    it.next();
    it.peek() == Some(&'-')
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            err(format!("expected {kw} {}", self.here()))
        }
    }

    fn eat_sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, c: char) -> Result<(), SqlError> {
        if self.eat_sym(c) {
            Ok(())
        } else {
            err(format!("expected `{c}` {}", self.here()))
        }
    }

    fn here(&self) -> String {
        match self.peek() {
            Some(Tok::Word(w)) => format!("near `{w}`"),
            Some(Tok::Quoted(w)) => format!("near `{w}`"),
            Some(Tok::Str(s)) => format!("near '{s}'"),
            Some(Tok::Sym(c)) => format!("near `{c}`"),
            None => "at the end of the statement".to_owned(),
        }
    }

    fn name(&mut self) -> Result<String, SqlError> {
        match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok(w),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                err(format!("expected a name {}", self.here()))
            }
        }
    }

    fn table_ref(&mut self) -> Result<TableRef, SqlError> {
        let first = self.name()?;
        if self.eat_sym('.') {
            let second = self.name()?;
            if self.eat_sym('.') {
                // project.schema.table: the schema level is accepted and ignored.
                let third = self.name()?;
                return Ok(TableRef {
                    project: Some(first),
                    name: third,
                });
            }
            Ok(TableRef {
                project: Some(first),
                name: second,
            })
        } else {
            Ok(TableRef {
                project: None,
                name: first,
            })
        }
    }

    fn string(&mut self) -> Result<String, SqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            // Numbers are accepted as partition values (`PARTITION (h=1)`).
            Some(Tok::Word(w)) if w.chars().all(|c| c.is_ascii_digit()) => Ok(w),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                err(format!("expected a string literal {}", self.here()))
            }
        }
    }

    /// The days of a `LIFECYCLE n` clause, after the keyword: a positive integer, as MaxCompute
    /// accepts.
    fn lifecycle_days(&mut self) -> Result<i64, SqlError> {
        match self.next() {
            Some(Tok::Word(w)) => match w.parse::<i64>() {
                Ok(days) if days > 0 => Ok(days),
                _ => err(format!(
                    "invalid LIFECYCLE `{w}`: the lifecycle is a positive number of days"
                )),
            },
            _ => {
                self.pos = self.pos.saturating_sub(1);
                err(format!("LIFECYCLE needs a number of days {}", self.here()))
            }
        }
    }

    /// `PARTITION (..)[, PARTITION (..)]...`, as many as follow.
    fn partition_specs(&mut self) -> Result<Vec<Vec<(String, String)>>, SqlError> {
        let mut specs = Vec::new();
        while self.eat_kw("partition") {
            specs.push(self.partition_spec()?);
            // DROP and TRUNCATE separate partitions with commas; ADD with spaces.
            self.eat_sym(',');
        }
        Ok(specs)
    }

    fn finish(&mut self) -> Result<(), SqlError> {
        while self.eat_sym(';') {}
        if self.peek().is_some() {
            return err(format!("unsupported trailing input {}", self.here()));
        }
        Ok(())
    }

    /// A column type: tokens up to a top-level `,` or `)` or the COMMENT keyword, re-joined and
    /// handed to the shared type parser.
    fn column_type(&mut self) -> Result<OdpsType, SqlError> {
        let mut text = String::new();
        let mut depth = 0i32;
        loop {
            match self.peek() {
                None => break,
                Some(Tok::Sym(c)) if (*c == ',' || *c == ')') && depth == 0 => break,
                Some(Tok::Word(w)) if depth == 0 && w.eq_ignore_ascii_case("comment") => break,
                Some(Tok::Word(w))
                    if depth == 0
                        && (w.eq_ignore_ascii_case("not") || w.eq_ignore_ascii_case("primary")) =>
                {
                    break;
                }
                Some(t) => {
                    match t {
                        Tok::Sym('(') | Tok::Sym('<') => depth += 1,
                        Tok::Sym(')') | Tok::Sym('>') => depth -= 1,
                        _ => {}
                    }
                    match t {
                        Tok::Word(w) | Tok::Quoted(w) => {
                            if text.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                                text.push(' ');
                            }
                            text.push_str(w);
                        }
                        Tok::Sym(c) => text.push(*c),
                        Tok::Str(_) => {
                            return err(format!(
                                "unexpected string in a column type {}",
                                self.here()
                            ));
                        }
                    }
                    self.pos += 1;
                }
            }
        }
        text.parse::<OdpsType>()
            .map_err(|e| SqlError(e.to_string()))
    }

    /// `PRIMARY KEY` ahead (a bare `primary` followed by `key`, so a backquoted column named
    /// `primary` is still a column).
    fn primary_key_ahead(&self) -> bool {
        self.is_kw("primary")
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("key"))
    }

    /// A parenthesised column list and its primary key: `PRIMARY KEY` after a column's type
    /// (in any order with `NOT NULL` and `COMMENT`), or `PRIMARY KEY (a, b)` as an item.
    fn column_defs(&mut self) -> Result<(Vec<Column>, Vec<String>), SqlError> {
        self.expect_sym('(')?;
        let mut cols = Vec::new();
        let mut key: Option<Vec<String>> = None;
        loop {
            if self.primary_key_ahead() {
                self.pos += 2;
                self.expect_sym('(')?;
                let mut names = vec![self.name()?];
                while self.eat_sym(',') {
                    names.push(self.name()?);
                }
                self.expect_sym(')')?;
                set_primary_key(&mut key, names)?;
            } else {
                let name = self.name()?;
                let ty = self.column_type()?;
                let mut col = Column::new(name, ty);
                loop {
                    if self.eat_kw("not") {
                        self.expect_kw("null")?;
                        col.nullable = false;
                    } else if self.eat_kw("comment") {
                        col.comment = self.string()?;
                    } else if self.primary_key_ahead() {
                        self.pos += 2;
                        set_primary_key(&mut key, vec![col.name.clone()])?;
                    } else {
                        break;
                    }
                }
                cols.push(col);
            }
            if self.eat_sym(')') {
                break;
            }
            self.expect_sym(',')?;
        }
        Ok((cols, key.unwrap_or_default()))
    }

    /// `TBLPROPERTIES ('k' = 'v', ...)`, after the keyword.
    fn properties(&mut self) -> Result<Vec<(String, String)>, SqlError> {
        self.expect_sym('(')?;
        let mut props = Vec::new();
        loop {
            let k = self.string()?;
            self.expect_sym('=')?;
            let v = self.string()?;
            props.push((k, v));
            if self.eat_sym(')') {
                break;
            }
            self.expect_sym(',')?;
        }
        Ok(props)
    }

    fn partition_spec(&mut self) -> Result<Vec<(String, String)>, SqlError> {
        self.expect_sym('(')?;
        let mut pairs = Vec::new();
        loop {
            let k = self.name()?;
            self.expect_sym('=')?;
            let v = self.string()?;
            pairs.push((k, v));
            if self.eat_sym(')') {
                break;
            }
            self.expect_sym(',')?;
        }
        Ok(pairs)
    }

    fn where_clause(&mut self) -> Result<Vec<(String, String)>, SqlError> {
        let mut filter = Vec::new();
        if !self.eat_kw("where") {
            return Ok(filter);
        }
        loop {
            let col = self.name()?;
            if !self.eat_sym('=') {
                return err(format!(
                    "unsupported WHERE condition on `{col}`: only `column = 'value'` joined by AND is supported"
                ));
            }
            let v = self.string()?;
            filter.push((col, v));
            if !self.eat_kw("and") {
                break;
            }
        }
        Ok(filter)
    }
}

/// Records a table's primary key; a second one is an error, as a table has one key.
fn set_primary_key(slot: &mut Option<Vec<String>>, names: Vec<String>) -> Result<(), SqlError> {
    if slot.is_some() {
        return err("a table has one PRIMARY KEY; it is declared twice");
    }
    *slot = Some(names);
    Ok(())
}

/// Parses one statement (a trailing `;` is allowed): one parser per statement kind, chosen by
/// the first keyword.
pub fn parse(sql: &str) -> Result<Statement, SqlError> {
    let toks = tokenize(sql)?;
    let mut p = Parser { toks, pos: 0 };
    let stmt = if p.eat_kw("create") {
        p.create_table()?
    } else if p.eat_kw("truncate") {
        p.truncate()?
    } else if p.eat_kw("drop") {
        p.drop_table()?
    } else if p.eat_kw("alter") {
        p.alter_table()?
    } else if p.eat_kw("show") {
        p.show_partitions()?
    } else if p.eat_kw("select") {
        p.select()?
    } else {
        return err(format!(
            "unsupported statement {}: the emulator supports CREATE TABLE, DROP TABLE, ALTER TABLE .. ADD|DROP PARTITION, ALTER TABLE .. ADD COLUMNS, ALTER TABLE .. SET LIFECYCLE, TRUNCATE TABLE, SHOW PARTITIONS and simple SELECT",
            p.here()
        ));
    };
    p.finish()?;
    Ok(stmt)
}

/// What an `ALTER TABLE` the emulator does not know is told.
const ALTER_SUPPORTED: &str =
    "only ADD PARTITION, DROP PARTITION, ADD COLUMNS and SET LIFECYCLE are supported";

/// The statements, each after its first keyword.
impl Parser {
    /// `[IF NOT EXISTS]`, after a keyword that takes it.
    fn if_not_exists(&mut self) -> Result<bool, SqlError> {
        if self.eat_kw("if") {
            self.expect_kw("not")?;
            self.expect_kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// `[IF EXISTS]`, after a keyword that takes it.
    fn if_exists(&mut self) -> Result<bool, SqlError> {
        if self.eat_kw("if") {
            self.expect_kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// `CREATE TABLE [IF NOT EXISTS] t (..) [COMMENT ..] [PARTITIONED BY (..)]
    /// [TBLPROPERTIES (..)] [LIFECYCLE n] [INTO n SHARDS [HUBLIFECYCLE h]]`, clauses in any order.
    fn create_table(&mut self) -> Result<Statement, SqlError> {
        self.expect_kw("table").map_err(|_| {
            SqlError("unsupported statement: only CREATE TABLE is supported".into())
        })?;
        let if_not_exists = self.if_not_exists()?;
        let table = self.table_ref()?;
        let (columns, primary_key) = self.column_defs()?;
        let mut comment = String::new();
        let mut partition_keys = Vec::new();
        let mut properties = Vec::new();
        let mut lifecycle = None;
        let mut shards = None;
        loop {
            if self.eat_kw("comment") {
                comment = self.string()?;
            } else if self.eat_kw("partitioned") {
                self.expect_kw("by")?;
                let (keys, key_of_partitions) = self.column_defs()?;
                if !key_of_partitions.is_empty() {
                    return err("a PRIMARY KEY cannot be declared among the partition columns");
                }
                partition_keys = keys;
            } else if self.eat_kw("tblproperties") {
                properties.extend(self.properties()?);
            } else if self.eat_kw("lifecycle") {
                lifecycle = Some(self.lifecycle_days()?);
            } else if self.eat_kw("into") {
                shards = Some(self.shards()?);
            } else {
                break;
            }
        }
        Ok(Statement::CreateTable(CreateTable {
            if_not_exists,
            table,
            columns,
            partition_keys,
            comment,
            primary_key,
            properties,
            lifecycle,
            shards,
        }))
    }

    /// `n SHARDS [HUBLIFECYCLE h]`, after `INTO`.
    fn shards(&mut self) -> Result<(i64, Option<i64>), SqlError> {
        let n = self.lifecycle_days().map_err(|_| {
            SqlError(format!(
                "INTO needs a positive number of SHARDS {}",
                self.here()
            ))
        })?;
        self.expect_kw("shards")?;
        let hub = if self.eat_kw("hublifecycle") {
            Some(self.lifecycle_days()?)
        } else {
            None
        };
        Ok((n, hub))
    }

    /// `TRUNCATE TABLE t [PARTITION (..)[, PARTITION (..)]]`.
    fn truncate(&mut self) -> Result<Statement, SqlError> {
        self.expect_kw("table")?;
        let table = self.table_ref()?;
        let specs = self.partition_specs()?;
        Ok(Statement::Truncate { table, specs })
    }

    /// `DROP TABLE [IF EXISTS] t`.
    fn drop_table(&mut self) -> Result<Statement, SqlError> {
        self.expect_kw("table")
            .map_err(|_| SqlError("unsupported statement: only DROP TABLE is supported".into()))?;
        let if_exists = self.if_exists()?;
        Ok(Statement::DropTable {
            if_exists,
            table: self.table_ref()?,
        })
    }

    /// `ALTER TABLE t` and then `SET LIFECYCLE n`, `ADD COLUMNS ..`, `ADD PARTITION ..` or
    /// `DROP PARTITION ..`.
    fn alter_table(&mut self) -> Result<Statement, SqlError> {
        self.expect_kw("table")?;
        let table = self.table_ref()?;
        if self.eat_kw("set") {
            self.expect_kw("lifecycle").map_err(|_| {
                SqlError(format!(
                    "unsupported ALTER TABLE .. SET: only SET LIFECYCLE is supported {}",
                    self.here()
                ))
            })?;
            let days = self.lifecycle_days()?;
            return Ok(Statement::SetLifecycle { table, days });
        }
        if self.eat_kw("add") {
            if self.eat_kw("columns") {
                return self.add_columns(table);
            }
            let if_not_exists = self.if_not_exists()?;
            let specs = self.alter_partition_specs()?;
            return Ok(Statement::AddPartitions {
                if_not_exists,
                table,
                specs,
            });
        }
        if self.eat_kw("drop") {
            let if_exists = self.if_exists()?;
            let specs = self.alter_partition_specs()?;
            return Ok(Statement::DropPartitions {
                if_exists,
                table,
                specs,
            });
        }
        err(format!(
            "unsupported ALTER TABLE: {ALTER_SUPPORTED} {}",
            self.here()
        ))
    }

    /// The partitions an `ALTER TABLE .. ADD|DROP` names: at least one.
    fn alter_partition_specs(&mut self) -> Result<Vec<Vec<(String, String)>>, SqlError> {
        let specs = self.partition_specs()?;
        if specs.is_empty() {
            return err(format!(
                "unsupported ALTER TABLE: {ALTER_SUPPORTED} {}",
                self.here()
            ));
        }
        Ok(specs)
    }

    /// `[IF NOT EXISTS] (name type [COMMENT '..'], ...)`, after `ADD COLUMNS`. A key cannot be
    /// added: a Delta Table's primary key is fixed when the table is created.
    fn add_columns(&mut self, table: TableRef) -> Result<Statement, SqlError> {
        let if_not_exists = self.if_not_exists()?;
        let (columns, primary_key) = self.column_defs()?;
        if !primary_key.is_empty() {
            return err(
                "ADD COLUMNS cannot declare a PRIMARY KEY: a table's key is set when it is created",
            );
        }
        Ok(Statement::AddColumns {
            if_not_exists,
            table,
            columns,
        })
    }

    /// `SHOW PARTITIONS t`.
    fn show_partitions(&mut self) -> Result<Statement, SqlError> {
        self.expect_kw("partitions").map_err(|_| {
            SqlError("unsupported statement: only SHOW PARTITIONS is supported".into())
        })?;
        Ok(Statement::ShowPartitions {
            table: self.table_ref()?,
        })
    }

    /// `SELECT * | cols | COUNT(*) FROM t [WHERE col = 'v' [AND ..]] [LIMIT n]`.
    fn select(&mut self) -> Result<Statement, SqlError> {
        let projection = self.projection()?;
        self.expect_kw("from")?;
        let table = self.table_ref()?;
        let filter = self.where_clause()?;
        let limit = if self.eat_kw("limit") {
            match self.next() {
                Some(Tok::Word(w)) => Some(
                    w.parse::<u64>()
                        .map_err(|_| SqlError(format!("invalid LIMIT `{w}`")))?,
                ),
                _ => return err("LIMIT needs a number"),
            }
        } else {
            None
        };
        Ok(Statement::Select {
            table,
            projection,
            filter,
            limit,
        })
    }

    fn projection(&mut self) -> Result<Projection, SqlError> {
        if self.eat_sym('*') {
            return Ok(Projection::Star);
        }
        if self.is_kw("count") {
            self.next();
            self.expect_sym('(')?;
            if !self.eat_sym('*') {
                return err("unsupported aggregate: only COUNT(*) is supported");
            }
            self.expect_sym(')')?;
            return Ok(Projection::CountStar);
        }
        let mut cols = vec![self.name()?];
        while self.eat_sym(',') {
            cols.push(self.name()?);
        }
        Ok(Projection::Columns(cols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_create_table_parses() {
        let s = parse("CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);").unwrap();
        let Statement::CreateTable(CreateTable {
            if_not_exists,
            table,
            columns,
            partition_keys,
            ..
        }) = s
        else {
            panic!("not a create: {s:?}")
        };
        assert!(if_not_exists);
        assert_eq!(table.name, "test_kafka");
        let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["topic", "partition", "offset", "key", "value"]);
        assert_eq!(columns[1].ty, OdpsType::BigInt);
        assert_eq!(partition_keys.len(), 1);
        assert_eq!(partition_keys[0].name, "pt");
    }

    #[test]
    fn complex_types_and_comments_parse() {
        let s = parse("create table p.`t`(a decimal(10,2) comment 'money', b array<struct<x:bigint,y:string>>, c varchar(20), d map<string,bigint>) comment 'tbl' partitioned by (ds string, h string) lifecycle 7").unwrap();
        let Statement::CreateTable(CreateTable {
            table,
            columns,
            partition_keys,
            comment,
            ..
        }) = s
        else {
            panic!()
        };
        assert_eq!(table.project.as_deref(), Some("p"));
        assert_eq!(columns[0].ty.to_string(), "decimal(10,2)");
        assert_eq!(columns[0].comment, "money");
        assert_eq!(
            columns[1].ty.to_string(),
            "array<struct<x:bigint,y:string>>"
        );
        assert_eq!(columns[2].ty, OdpsType::Varchar(20));
        assert_eq!(columns[3].ty.to_string(), "map<string,bigint>");
        assert_eq!(comment, "tbl");
        assert_eq!(partition_keys.len(), 2);
    }

    #[test]
    fn pyodps_add_partition_parses() {
        let s = parse("ALTER TABLE my_proj.`kafka_sink` ADD IF NOT EXISTS  PARTITION (dt='11-17-2020 15', h='1');").unwrap();
        assert_eq!(
            s,
            Statement::AddPartitions {
                if_not_exists: true,
                table: TableRef {
                    project: Some("my_proj".into()),
                    name: "kafka_sink".into()
                },
                specs: vec![vec![
                    ("dt".into(), "11-17-2020 15".into()),
                    ("h".into(), "1".into())
                ]],
            }
        );
    }

    #[test]
    fn add_columns_parses_with_comments_and_if_not_exists() {
        let s = parse("ALTER TABLE p.`t` ADD COLUMNS IF NOT EXISTS (`c` double COMMENT 'x', d decimal(10,2));").unwrap();
        let Statement::AddColumns {
            if_not_exists,
            table,
            columns,
        } = s
        else {
            panic!("not an ADD COLUMNS: {s:?}")
        };
        assert!(if_not_exists);
        assert_eq!(table.project.as_deref(), Some("p"));
        assert_eq!(table.name, "t");
        assert_eq!(columns.len(), 2);
        assert_eq!(
            (columns[0].name.as_str(), &columns[0].ty),
            ("c", &OdpsType::Double)
        );
        assert_eq!(columns[0].comment, "x");
        assert_eq!(columns[1].ty.to_string(), "decimal(10,2)");
        assert!(columns.iter().all(|c| c.nullable));
        let s = parse("alter table t add columns (e string)").unwrap();
        assert!(
            matches!(
                s,
                Statement::AddColumns {
                    if_not_exists: false,
                    ..
                }
            ),
            "{s:?}"
        );
        for (bad, expected) in [
            ("alter table t add columns e string", "expected `(`"),
            (
                "alter table t add columns (e string, primary key (e))",
                "PRIMARY KEY",
            ),
            (
                "alter table t add columns (e string) lifecycle 1",
                "trailing input",
            ),
            (
                "alter table t add columns if exists (e string)",
                "expected not",
            ),
        ] {
            let e = parse(bad).unwrap_err().0;
            assert!(e.contains(expected), "{bad}: {e}");
        }
    }

    #[test]
    fn drop_partition_parses_with_commas_between_specs() {
        let s = parse("ALTER TABLE p.`t` DROP IF EXISTS PARTITION (pt='a'), PARTITION (pt='b');")
            .unwrap();
        assert_eq!(
            s,
            Statement::DropPartitions {
                if_exists: true,
                table: TableRef {
                    project: Some("p".into()),
                    name: "t".into()
                },
                specs: vec![
                    vec![("pt".into(), "a".into())],
                    vec![("pt".into(), "b".into())]
                ],
            }
        );
    }

    #[test]
    fn seed_select_with_double_quotes_parses() {
        let s = parse("select * from test_kafka where pt =\"11-17-2020 14\";").unwrap();
        assert_eq!(
            s,
            Statement::Select {
                table: TableRef {
                    project: None,
                    name: "test_kafka".into()
                },
                projection: Projection::Star,
                filter: vec![("pt".into(), "11-17-2020 14".into())],
                limit: None,
            }
        );
        let s = parse("SELECT count(*) FROM t WHERE a='1' AND b = '2' LIMIT 5").unwrap();
        assert!(matches!(
            s,
            Statement::Select {
                projection: Projection::CountStar,
                limit: Some(5),
                ..
            }
        ));
    }

    #[test]
    fn pyodps_delta_table_ddl_parses() {
        // What `Table.gen_create_table_sql(..., transactional=True, primary_key=[...])` writes.
        let s = parse("CREATE TABLE IF NOT EXISTS p.`delta_kafka` (\n  `topic` string NOT NULL,\n  `partition` bigint NOT NULL,\n  `offset` bigint NOT NULL,\n  `key` string,\n  `value` string,\n  PRIMARY KEY (`topic`, `partition`, `offset`)\n)\nPARTITIONED BY (\n  `pt` string\n)\nTBLPROPERTIES (\n  'transactional' = 'true',\n  'write.bucket.num' = '4'\n)\nLIFECYCLE 7\n").unwrap();
        let Statement::CreateTable(CreateTable {
            columns,
            partition_keys,
            primary_key,
            properties,
            ..
        }) = s
        else {
            panic!("not a create: {s:?}")
        };
        assert_eq!(primary_key, ["topic", "partition", "offset"]);
        assert_eq!(
            columns.iter().map(|c| c.nullable).collect::<Vec<_>>(),
            [false, false, false, true, true]
        );
        assert_eq!(partition_keys.len(), 1);
        assert_eq!(
            properties,
            [
                ("transactional".to_owned(), "true".to_owned()),
                ("write.bucket.num".to_owned(), "4".to_owned())
            ]
        );
    }

    #[test]
    fn column_level_primary_key_parses_in_any_order() {
        let s = parse(r#"create table t(id bigint not null primary key comment 'k', v string) tblproperties ("transactional"="true")"#).unwrap();
        let Statement::CreateTable(CreateTable {
            columns,
            primary_key,
            ..
        }) = s
        else {
            panic!()
        };
        assert_eq!(primary_key, ["id"]);
        assert!(!columns[0].nullable);
        assert_eq!(columns[0].comment, "k");
        let s = parse("create table t(id bigint primary key not null)").unwrap();
        assert!(
            matches!(s, Statement::CreateTable(CreateTable { primary_key, .. }) if primary_key == ["id"])
        );
        // A backquoted column named `primary` is a column.
        let s = parse("create table t(`primary` string, `key` string)").unwrap();
        assert!(
            matches!(s, Statement::CreateTable(CreateTable { columns, .. }) if columns.len() == 2)
        );
    }

    #[test]
    fn misplaced_primary_keys_are_refused() {
        assert!(
            parse("create table t(a bigint not null primary key, b bigint, primary key (b))")
                .unwrap_err()
                .0
                .contains("declared twice")
        );
        assert!(
            parse("create table t(a bigint) partitioned by (pt string, primary key (pt))")
                .unwrap_err()
                .0
                .contains("partition columns")
        );
    }

    #[test]
    fn lifecycles_parse_and_must_be_positive() {
        let s = parse("create table t(a bigint) lifecycle 7").unwrap();
        assert!(
            matches!(
                s,
                Statement::CreateTable(CreateTable {
                    lifecycle: Some(7),
                    ..
                })
            ),
            "{s:?}"
        );
        let s = parse("create table t(a bigint)").unwrap();
        assert!(
            matches!(
                s,
                Statement::CreateTable(CreateTable {
                    lifecycle: None,
                    ..
                })
            ),
            "{s:?}"
        );
        assert_eq!(
            parse("ALTER TABLE p.`t` SET LIFECYCLE 30;").unwrap(),
            Statement::SetLifecycle {
                table: TableRef {
                    project: Some("p".into()),
                    name: "t".into()
                },
                days: 30
            }
        );
        for bad in [
            "create table t(a bigint) lifecycle 0",
            "create table t(a bigint) lifecycle x",
            "alter table t set lifecycle -1",
            "alter table t set lifecycle",
        ] {
            let e = parse(bad).unwrap_err().0;
            assert!(e.contains("LIFECYCLE"), "{bad}: {e}");
        }
        assert!(
            parse("alter table t set tblproperties ('a'='b')")
                .unwrap_err()
                .0
                .contains("only SET LIFECYCLE")
        );
    }

    #[test]
    fn hub_table_shards_parse() {
        // What pyodps writes for `create_table(.., shard_num=10, hub_lifecycle=5)`.
        let s =
            parse("CREATE TABLE t (\n  `a` BIGINT\n)\nINTO 10 SHARDS HUBLIFECYCLE 5\n").unwrap();
        assert!(
            matches!(
                s,
                Statement::CreateTable(CreateTable {
                    shards: Some((10, Some(5))),
                    lifecycle: None,
                    ..
                })
            ),
            "{s:?}"
        );
        let s = parse("create table t(a bigint) lifecycle 2 into 3 shards").unwrap();
        assert!(
            matches!(
                s,
                Statement::CreateTable(CreateTable {
                    shards: Some((3, None)),
                    lifecycle: Some(2),
                    ..
                })
            ),
            "{s:?}"
        );
        assert!(parse("create table t(a bigint) into shards").is_err());
    }

    #[test]
    fn truncate_parses_with_and_without_partitions() {
        assert_eq!(
            parse("TRUNCATE TABLE p.`t`").unwrap(),
            Statement::Truncate {
                table: TableRef {
                    project: Some("p".into()),
                    name: "t".into()
                },
                specs: vec![]
            }
        );
        // What pyodps's `Table.truncate(partition_spec=[..])` writes.
        assert_eq!(
            parse("TRUNCATE TABLE p.`t` PARTITION (pt='a',h='1'), PARTITION (pt='b',h='2') ")
                .unwrap(),
            Statement::Truncate {
                table: TableRef {
                    project: Some("p".into()),
                    name: "t".into()
                },
                specs: vec![
                    vec![("pt".into(), "a".into()), ("h".into(), "1".into())],
                    vec![("pt".into(), "b".into()), ("h".into(), "2".into())]
                ]
            }
        );
        assert!(parse("truncate t").is_err());
    }

    #[test]
    fn unsupported_statements_say_what() {
        assert!(
            parse("insert into t values (1)")
                .unwrap_err()
                .0
                .contains("unsupported statement")
        );
        assert!(
            parse("select a from t where a > 1")
                .unwrap_err()
                .0
                .contains("unsupported WHERE")
        );
        assert!(
            parse("alter table t rename to u")
                .unwrap_err()
                .0
                .contains("only ADD PARTITION, DROP PARTITION, ADD COLUMNS and SET LIFECYCLE")
        );
        assert!(
            parse("create table t(a notatype)")
                .unwrap_err()
                .0
                .contains("unknown type name")
        );
        assert!(
            parse("show partitions t extra")
                .unwrap_err()
                .0
                .contains("unsupported trailing input")
        );
    }
}

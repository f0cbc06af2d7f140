//! A table's columns added by `ALTER TABLE .. ADD COLUMNS`, over loopback HTTP: the statement
//! through the SQL instance API (sent by the project's client, as the sink sends it), the
//! metadata that reports the new schema and its version, rows written before the change read
//! with NULL in the new columns (query, download, head), and the sessions opened before the
//! change refused (`412 SchemaModified`) until they are reloaded or opened again. The server
//! runs on a manual clock, so a changed DDL time is seen without waiting.

use std::time::Duration;

use maxcompute_client::Client as ProjectClient;
use maxcompute_core::codec::encode_block;
use maxcompute_core::types::{OdpsType, Value};
use maxcompute_emulator::server::RunningServer;
use maxcompute_emulator::sql_client::{self, Client};
use reqwest::Method;
use tokio::time::Instant;

use crate::http::{ID, PROJECT, SECRET, start_manual};
use crate::sink_client::project_client;

const TABLE: &str = "/projects/p/tables/evolving";
const STREAMS: &str = "/projects/p/tables/evolving/streams";

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn raw_client(srv: &RunningServer) -> Client {
    Client::new(&format!("http://{}", srv.addr), ID, SECRET)
}

fn sink(srv: &RunningServer) -> ProjectClient {
    project_client(srv, PROJECT, (ID, SECRET), None)
}

/// `(a BIGINT, b STRING)` partitioned by `pt`, with partition `pt=x`.
async fn create_table(c: &ProjectClient) {
    c.run_sql(
        "CREATE TABLE evolving(a BIGINT, b STRING) PARTITIONED BY (pt STRING)",
        deadline(),
    )
    .await
    .unwrap();
    c.run_sql("ALTER TABLE evolving ADD PARTITION (pt='x')", deadline())
        .await
        .unwrap();
}

fn old_types() -> Vec<OdpsType> {
    vec![OdpsType::BigInt, OdpsType::String]
}

fn old_row(a: i64) -> Vec<Value> {
    vec![Value::Integer(a), Value::text(format!("b{a}"))]
}

/// The JSON inside the table document's `<Schema>`.
async fn table_meta(c: &Client, extended: bool) -> serde_json::Value {
    let query: &[(&str, &str)] = if extended { &[("extended", "")] } else { &[] };
    let r = c
        .send(Method::GET, &format!("/api{TABLE}"), query, &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let xml = r.text().await.unwrap();
    let start = xml.find("<![CDATA[").unwrap() + "<![CDATA[".len();
    let end = xml[start..].find("]]>").unwrap() + start;
    serde_json::from_str(&xml[start..end]).unwrap()
}

/// The `schema_version` the table's `Reserved` member reports.
fn reserved_version(meta: &serde_json::Value) -> String {
    let reserved: serde_json::Value =
        serde_json::from_str(meta["Reserved"].as_str().unwrap()).unwrap();
    reserved["schema_version"].as_str().unwrap().to_owned()
}

fn column_names(meta: &serde_json::Value, key: &str) -> Vec<String> {
    meta[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Writes `rows` through one committed batch upload session of `pt=x`.
async fn batch_write(c: &Client, types: &[OdpsType], rows: &[Vec<Value>]) {
    let id = create_upload(c).await;
    put_block(c, &id, types, rows, 200).await;
    let r = commit_upload(c, &id).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
}

async fn create_upload(c: &Client) -> String {
    let r = c
        .send(
            Method::POST,
            TABLE,
            &[("uploads", ""), ("partition", "pt=x")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    body["UploadID"].as_str().unwrap().to_owned()
}

async fn put_block(c: &Client, id: &str, types: &[OdpsType], rows: &[Vec<Value>], status: u16) {
    let block = encode_block(types, rows).unwrap();
    let r = c
        .send(
            Method::PUT,
            TABLE,
            &[("uploadid", id), ("blockid", "0"), ("partition", "pt=x")],
            &[],
            block,
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), status, "{}", r.text().await.unwrap());
}

async fn commit_upload(c: &Client, id: &str) -> reqwest::Response {
    c.send(
        Method::POST,
        TABLE,
        &[("uploadid", id), ("partition", "pt=x")],
        &[],
        vec![],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn add_columns_through_the_sql_api_appends_nullable_columns_before_the_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, clock) = start_manual(dir.path(), Duration::from_secs(3600)).await;
    let c = sink(&srv);
    let raw = raw_client(&srv);
    create_table(&c).await;
    batch_write(&raw, &old_types(), &[old_row(1), old_row(2)]).await;
    let before = table_meta(&raw, true).await;
    assert_eq!(reserved_version(&before), "0");

    clock.advance(Duration::from_secs(60));
    c.run_sql(
        "alter table p.`evolving` add columns (c DOUBLE COMMENT 'the new one', `d` string);",
        deadline(),
    )
    .await
    .unwrap();

    // The project's client reads the new schema: appended after the data columns, nullable,
    // the partition column still apart and last.
    let schema = c.table_schema("evolving", deadline()).await.unwrap();
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(schema.columns[2].ty, OdpsType::Double);
    assert_eq!(schema.columns[2].comment, "the new one");
    assert!(schema.columns[2].nullable && schema.columns[3].nullable);
    assert_eq!(schema.partition_keys.len(), 1);
    assert_eq!(schema.partition_keys[0].name, "pt");

    let after = table_meta(&raw, true).await;
    assert_eq!(reserved_version(&after), "1");
    assert_eq!(column_names(&after, "partitionKeys"), ["pt"]);
    assert_eq!(
        after["lastDDLTime"].as_i64().unwrap() - before["lastDDLTime"].as_i64().unwrap(),
        60,
        "the DDL time is the ALTER's"
    );
    assert_eq!(after["createTime"], before["createTime"]);

    // Rows written before the change read NULL in the new columns.
    let (_, csv) = raw
        .run_sql(PROJECT, "SELECT * FROM evolving WHERE pt = 'x'")
        .await
        .unwrap();
    assert_eq!(
        sql_client::parse_csv(&csv),
        [
            vec!["a", "b", "c", "d", "pt"],
            vec!["1", "b1", "NULL", "NULL", "x"],
            vec!["2", "b2", "NULL", "NULL", "x"],
        ]
    );
    srv.stop().await;
}

#[tokio::test]
async fn add_columns_refuses_duplicates_and_if_not_exists_adds_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, _clock) = start_manual(dir.path(), Duration::from_secs(3600)).await;
    let c = sink(&srv);
    let raw = raw_client(&srv);
    create_table(&c).await;
    c.run_sql("ALTER TABLE evolving ADD COLUMNS (c DOUBLE)", deadline())
        .await
        .unwrap();

    // Names are compared without case, with the data and the partition columns; a refused
    // statement adds nothing, not even its other columns.
    for (statement, expected) in [
        (
            "ALTER TABLE evolving ADD COLUMNS (C string, e string)",
            "already exists",
        ),
        (
            "ALTER TABLE evolving ADD COLUMNS (PT string)",
            "already exists",
        ),
        (
            "ALTER TABLE evolving ADD COLUMNS (e string, E bigint)",
            "added twice",
        ),
        (
            "ALTER TABLE evolving ADD COLUMNS (e string NOT NULL)",
            "NOT NULL",
        ),
        (
            "ALTER TABLE evolving ADD COLUMNS (e notatype)",
            "unknown type name",
        ),
        (
            "ALTER TABLE missing ADD COLUMNS (e string)",
            "does not exist",
        ),
    ] {
        let e = c.run_sql(statement, deadline()).await.unwrap_err();
        assert!(e.to_string().contains(expected), "{statement}: {e}");
    }
    let meta = table_meta(&raw, false).await;
    assert_eq!(column_names(&meta, "columns"), ["a", "b", "c"]);
    assert_eq!(reserved_version(&meta), "1");

    // IF NOT EXISTS skips what exists and adds the rest: one more version.
    c.run_sql(
        "ALTER TABLE evolving ADD COLUMNS IF NOT EXISTS (c double, E string)",
        deadline(),
    )
    .await
    .unwrap();
    let meta = table_meta(&raw, false).await;
    assert_eq!(column_names(&meta, "columns"), ["a", "b", "c", "E"]);
    assert_eq!(reserved_version(&meta), "2");

    // When everything exists it changes nothing, not even the version.
    c.run_sql(
        "ALTER TABLE evolving ADD COLUMNS IF NOT EXISTS (C double, e string)",
        deadline(),
    )
    .await
    .unwrap();
    let meta = table_meta(&raw, false).await;
    assert_eq!(column_names(&meta, "columns"), ["a", "b", "c", "E"]);
    assert_eq!(reserved_version(&meta), "2");
    srv.stop().await;
}

fn new_types() -> Vec<OdpsType> {
    vec![OdpsType::BigInt, OdpsType::String, OdpsType::Double]
}

fn new_row(a: i64, c: f64) -> Vec<Value> {
    vec![
        Value::Integer(a),
        Value::text(format!("b{a}")),
        Value::Double(c),
    ]
}

/// `(a, c)` of every row of `pt=x` by SQL, in `a` order.
async fn a_and_c(c: &Client) -> Vec<(String, String)> {
    let (_, csv) = c
        .run_sql(PROJECT, "SELECT a, c FROM evolving WHERE pt = 'x'")
        .await
        .unwrap();
    let mut rows: Vec<(String, String)> = sql_client::parse_csv(&csv)
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    rows.sort_by_key(|(a, _)| a.parse::<i64>().unwrap());
    rows
}

fn pairs(expected: &[(i64, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, c)| (a.to_string(), (*c).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_stream_session_on_the_old_schema_is_refused_until_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, _clock) = start_manual(dir.path(), Duration::from_secs(3600)).await;
    let c = sink(&srv);
    let raw = raw_client(&srv);
    create_table(&c).await;
    let pt = maxcompute_core::spec::PartitionSpec::single("pt", "x").unwrap();
    let mut stream = c
        .create_stream_session("evolving", Some(&pt), deadline())
        .await
        .unwrap();
    let old_pack = || bytes::Bytes::from(encode_block(&old_types(), &[old_row(1)]).unwrap());
    stream.write(old_pack(), 1, deadline()).await.unwrap();

    c.run_sql("ALTER TABLE evolving ADD COLUMNS (c DOUBLE)", deadline())
        .await
        .unwrap();

    // The session's next pack is refused, whatever it holds, and nothing is stored.
    let e = stream.write(old_pack(), 1, deadline()).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(&maxcompute_client::ErrorCode::SchemaModified),
        "{e}"
    );
    assert!(!e.is_transient(), "{e}");
    assert_eq!(a_and_c(&raw).await, pairs(&[(1, "NULL")]));

    // The refusal names the latest version in the header pyodps reads, 412 as the protocol
    // says; the session's version is taken from the request when it names one.
    let id = stream.id().to_owned();
    for query in [
        vec![
            ("uploadid", id.as_str()),
            ("slotid", "1"),
            ("partition", "pt=x"),
        ],
        vec![
            ("uploadid", id.as_str()),
            ("slotid", "1"),
            ("partition", "pt=x"),
            ("schema_version", "0"),
        ],
    ] {
        let r = raw
            .send(Method::PUT, STREAMS, &query, &[], old_pack().to_vec())
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 412);
        assert_eq!(
            r.headers()["odps-tunnel-latest-schema-version"]
                .to_str()
                .unwrap(),
            "1"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["Code"], "SchemaModified", "{body}");
    }

    // A flush (`POST` on the session) is answered but leaves the session on its schema.
    let r = raw
        .send(
            Method::POST,
            STREAMS,
            &[("uploadid", id.as_str())],
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(stream.write(old_pack(), 1, deadline()).await.is_err());

    // A reload answers the new schema and its version, and the session then takes packs of
    // the new schema.
    stream.reload(deadline()).await.unwrap();
    let names: Vec<&str> = stream
        .schema()
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let pack = encode_block(&new_types(), &[new_row(2, 1.5)]).unwrap();
    stream
        .write(bytes::Bytes::from(pack), 1, deadline())
        .await
        .unwrap();
    assert_eq!(a_and_c(&raw).await, pairs(&[(1, "NULL"), (2, "1.5")]));

    // A new session is opened on the new schema; asking for the old one is refused.
    for (version, status) in [("0", 412), ("1", 200)] {
        let r = raw
            .send(
                Method::POST,
                STREAMS,
                &[("partition", "pt=x"), ("schema_version", version)],
                &[],
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "schema_version={version}");
        if status == 200 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["schema_version"], "1");
            assert_eq!(body["schema"]["columns"].as_array().unwrap().len(), 3);
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_batch_session_from_before_the_change_is_refused_and_old_rows_read_null() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, _clock) = start_manual(dir.path(), Duration::from_secs(3600)).await;
    let c = sink(&srv);
    let raw = raw_client(&srv);
    create_table(&c).await;
    batch_write(&raw, &old_types(), &[old_row(1)]).await;
    let before = create_upload(&raw).await;
    put_block(&raw, &before, &old_types(), &[old_row(2)], 200).await;

    c.run_sql("ALTER TABLE evolving ADD COLUMNS (c DOUBLE)", deadline())
        .await
        .unwrap();

    // Neither another block nor the commit of the older session is taken; its staged block
    // never becomes visible.
    put_block(&raw, &before, &old_types(), &[old_row(3)], 412).await;
    let r = commit_upload(&raw, &before).await;
    assert_eq!(r.status().as_u16(), 412);
    assert_eq!(r.headers()["odps-tunnel-latest-schema-version"], "1");
    assert_eq!(a_and_c(&raw).await, pairs(&[(1, "NULL")]));

    // A session created now writes the new column.
    batch_write(&raw, &new_types(), &[new_row(4, 2.5)]).await;
    assert_eq!(a_and_c(&raw).await, pairs(&[(1, "NULL"), (4, "2.5")]));

    // Every reader sees the old row with NULL in the new column: a download...
    let r = raw
        .send(
            Method::POST,
            TABLE,
            &[("downloads", ""), ("partition", "pt=x")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let session: serde_json::Value = r.json().await.unwrap();
    assert_eq!(session["Schema"]["columns"].as_array().unwrap().len(), 3);
    let id = session["DownloadID"].as_str().unwrap().to_owned();
    let r = raw
        .send(
            Method::GET,
            TABLE,
            &[
                ("data", ""),
                ("downloadid", &id),
                ("rowrange", "(0,2)"),
                ("partition", "pt=x"),
            ],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let rows =
        maxcompute_core::codec::decode_block(&new_types(), &r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        rows,
        [
            vec![Value::Integer(1), Value::text("b1"), Value::Null],
            new_row(4, 2.5)
        ]
    );
    // ... and `Table.head()`.
    let r = raw
        .send(
            Method::GET,
            &format!("/api{TABLE}"),
            &[("data", ""), ("linenum", "10")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        sql_client::parse_csv(&r.text().await.unwrap()),
        [
            vec!["a", "b", "c", "pt"],
            vec!["1", "b1", "NULL", "x"],
            vec!["4", "b4", "2.5", "x"],
        ]
    );
    srv.stop().await;
}

#[test]
fn concurrent_add_columns_if_not_exists_of_one_column_converge() {
    use maxcompute_emulator::exec::{self, Outcome};
    use maxcompute_emulator::store::Store;

    // Two connections to one database, as two emulator processes would have: each round both
    // add the same column at once; one adds it, the other finds it.
    let dir = tempfile::tempdir().unwrap();
    let mut first = Store::open(dir.path()).unwrap();
    assert_eq!(
        exec::run(&mut first, "p", "CREATE TABLE t(a BIGINT)"),
        Outcome::Success {
            text: "OK".into(),
            result: None
        }
    );
    const ROUNDS: usize = 20;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let adder = |mut store: Store| {
        let barrier = std::sync::Arc::clone(&barrier);
        std::thread::spawn(move || {
            (0..ROUNDS)
                .map(|round| {
                    barrier.wait();
                    let sql = format!("ALTER TABLE t ADD COLUMNS IF NOT EXISTS (c{round} STRING)");
                    exec::run(&mut store, "p", &sql)
                })
                .collect::<Vec<_>>()
        })
    };
    let one = adder(first);
    let two = adder(Store::open(dir.path()).unwrap());
    let outcomes: Vec<Outcome> = [one, two]
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    for o in &outcomes {
        assert!(matches!(o, Outcome::Success { .. }), "{o:?}");
    }
    let info = Store::open(dir.path()).unwrap().table("p", "t").unwrap();
    let names: Vec<String> = info.schema.columns.iter().map(|c| c.name.clone()).collect();
    let expected: Vec<String> = std::iter::once("a".to_owned())
        .chain((0..ROUNDS).map(|r| format!("c{r}")))
        .collect();
    assert_eq!(names, expected);
    // Each column was added once: one version per round.
    assert_eq!(info.schema_version, ROUNDS as i64);
}

#[tokio::test]
async fn two_clients_adding_one_column_at_once_both_succeed_and_add_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, _clock) = start_manual(dir.path(), Duration::from_secs(3600)).await;
    let (one, two) = (sink(&srv), sink(&srv));
    create_table(&one).await;
    let statement = "ALTER TABLE evolving ADD COLUMNS IF NOT EXISTS (c DOUBLE)";
    let (a, b) = tokio::join!(
        one.run_sql(statement, deadline()),
        two.run_sql(statement, deadline())
    );
    a.unwrap();
    b.unwrap();
    let meta = table_meta(&raw_client(&srv), false).await;
    assert_eq!(column_names(&meta, "columns"), ["a", "b", "c"]);
    assert_eq!(reserved_version(&meta), "1");
    srv.stop().await;
}

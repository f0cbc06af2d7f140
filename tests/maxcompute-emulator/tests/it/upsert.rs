//! Delta Tables over loopback HTTP: the DDL forms and their refusals, the metadata pyodps reads
//! to detect them, upsert sessions (bucket checks, commit, abort, status transitions), reads of
//! the latest value per key through SQL and the download tunnel, durability across a restart,
//! columns added to a Delta Table (sessions opened before refused), and refused table names. The worked example's bytes are the protocol reference's (§4 of
//! maxcompute-upsert.md), not output of the codec; other bodies are encoded with the shared
//! codec, whose bytes pyodps checks in the conformance suite.

use maxcompute_core::bucket_hash::{self, Hasher};
use maxcompute_core::types::{OdpsType, Value};
use maxcompute_emulator::auth::KeyStore;
use maxcompute_emulator::server::{self, Config, RunningServer};
use maxcompute_emulator::sql_client::{self, Client};
use reqwest::Method;
use serde_json::Value as Json;

const ID: &str = "test-id";
const SECRET: &str = "test-secret";
const PROJECT: &str = "p";
const KAFKA: &str = "/projects/p/tables/delta_kafka/upserts";
const PT: (&str, &str) = ("partition", "pt=2026-11-30 20");

/// pyodps' own DDL for the seed's table as a Delta Table (backquoted names, single quotes).
const KAFKA_DDL: &str = "CREATE TABLE IF NOT EXISTS p.`delta_kafka` (\n  `topic` string NOT NULL,\n  `partition` bigint NOT NULL,\n  `offset` bigint NOT NULL,\n  `key` string,\n  `value` string,\n  PRIMARY KEY (`topic`, `partition`, `offset`)\n)\nPARTITIONED BY (\n  `pt` string\n)\nTBLPROPERTIES (\n  'transactional' = 'true',\n  'write.bucket.num' = '4'\n)\nLIFECYCLE 7\n";
const BUCKETS: u32 = 4;

async fn start(dir: &std::path::Path) -> RunningServer {
    let mut keys = KeyStore::default();
    keys.add_access_key(ID, SECRET);
    server::start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        keys,
        session_ttl: server::DEFAULT_SESSION_TTL,
    })
    .await
    .unwrap()
}

fn client(srv: &RunningServer) -> Client {
    Client::new(&format!("http://{}", srv.addr), ID, SECRET)
}

async fn sql(c: &Client, statement: &str) -> String {
    c.run_sql(PROJECT, statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"))
        .1
}

async fn sql_error(c: &Client, statement: &str) -> String {
    c.run_sql(PROJECT, statement)
        .await
        .map(|r| panic!("{statement} succeeded: {r:?}"))
        .unwrap_err()
        .to_string()
}

async fn setup_kafka(c: &Client) {
    sql(c, KAFKA_DDL).await;
    sql(
        c,
        "ALTER TABLE p.`delta_kafka` ADD IF NOT EXISTS PARTITION (pt='2026-11-30 20')",
    )
    .await;
}

async fn call(
    c: &Client,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Json) {
    let r = c.send(method, path, query, &[], body).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Json::String(text)),
    )
}

async fn create_session(c: &Client) -> Json {
    let (status, body) = call(c, Method::POST, KAFKA, &[PT, ("slotnum", "2")], vec![]).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn kafka_types() -> Vec<OdpsType> {
    let mut types = vec![
        OdpsType::String,
        OdpsType::BigInt,
        OdpsType::BigInt,
        OdpsType::String,
        OdpsType::String,
    ];
    types.extend(upsert_types());
    types
}

fn upsert_types() -> [OdpsType; 5] {
    [
        OdpsType::BigInt,
        OdpsType::BigInt,
        OdpsType::TinyInt,
        OdpsType::Array(Box::new(OdpsType::BigInt)),
        OdpsType::Array(Box::new(OdpsType::BigInt)),
    ]
}

/// One Kafka record as an upsert (`value` given) or a delete (`None`).
fn record(offset: i64, value: Option<&str>) -> Vec<Value> {
    let op = if value.is_some() { 85 } else { 68 };
    vec![
        Value::text("orders"),
        Value::Integer(0),
        Value::Integer(offset),
        Value::text("k"),
        value.map(Value::text).unwrap_or(Value::Null),
        Value::Null,
        Value::Null,
        Value::Integer(op),
        Value::Null,
        Value::Array(vec![]),
    ]
}

fn bucket_of(offset: i64) -> u32 {
    let key = [
        (OdpsType::String, Value::text("orders")),
        (OdpsType::BigInt, Value::Integer(0)),
        (OdpsType::BigInt, Value::Integer(offset)),
    ];
    let hash = bucket_hash::record_hash(Hasher::Default, key.iter().map(|(t, v)| (t, v))).unwrap();
    bucket_hash::bucket(hash, BUCKETS)
}

/// The slot that owns `bucket` in a session answer.
fn slot_of(session: &Json, bucket: u32) -> String {
    session["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b.as_u64() == Some(u64::from(bucket)))
        })
        .map(|s| s["slot_id"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no slot owns bucket {bucket}: {session}"))
}

/// PUTs records, one request per bucket in the order buckets first appear, as pyodps does.
async fn write(c: &Client, session: &Json, records: &[Vec<Value>]) {
    let mut buckets: Vec<u32> = Vec::new();
    for r in records {
        let b = bucket_of(integer(&r[2]));
        if !buckets.contains(&b) {
            buckets.push(b);
        }
    }
    for b in buckets {
        let rows: Vec<Vec<Value>> = records
            .iter()
            .filter(|r| bucket_of(integer(&r[2])) == b)
            .cloned()
            .collect();
        let (status, body) = put(c, session, b, &rows).await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn put(c: &Client, session: &Json, bucket: u32, rows: &[Vec<Value>]) -> (u16, Json) {
    put_typed(c, session, bucket, &kafka_types(), rows).await
}

/// A PUT of records of `types` (the data columns' types, then the upsert columns').
async fn put_typed(
    c: &Client,
    session: &Json,
    bucket: u32,
    types: &[OdpsType],
    rows: &[Vec<Value>],
) -> (u16, Json) {
    let body = maxcompute_core::codec::encode_block(types, rows).unwrap();
    let bucket_s = bucket.to_string();
    let count = rows.len().to_string();
    let slot = slot_of(session, bucket);
    call(
        c,
        Method::PUT,
        KAFKA,
        &[
            PT,
            ("upsertid", session["id"].as_str().unwrap()),
            ("bucketid", &bucket_s),
            ("slotid", &slot),
            ("record_count", &count),
        ],
        body,
    )
    .await
}

async fn commit(c: &Client, id: &str) -> (u16, Json) {
    call(c, Method::POST, KAFKA, &[PT, ("upsertid", id)], vec![]).await
}

fn integer(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// `(offset, value)` of every row of the partition, by SQL, in offset order.
async fn rows_by_sql(c: &Client) -> Vec<(String, String)> {
    let text = sql(
        c,
        "SELECT `offset`, `value` FROM p.`delta_kafka` WHERE pt='2026-11-30 20'",
    )
    .await;
    let mut rows: Vec<(String, String)> = sql_client::parse_csv(&text)
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    rows.sort_by_key(|(o, _)| o.parse::<i64>().unwrap());
    rows
}

fn expect(pairs: &[(i64, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(o, v)| (o.to_string(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn delta_ddl_forms_are_accepted_and_wrong_ones_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    sql(&c, KAFKA_DDL).await;
    sql(&c, r#"create table col_level(id bigint not null primary key, v string) tblproperties ("transactional"="true")"#).await;
    // Transactional without a key: an append table, written by batch uploads.
    sql(
        &c,
        r#"create table append_only(v string) tblproperties ("transactional"="true")"#,
    )
    .await;

    let cases = [
        (
            "create table k1(id bigint not null primary key, v string)",
            "transactional tables only",
        ),
        (
            r#"create table k2(id bigint primary key, v string) tblproperties ("transactional"="true")"#,
            "must be declared NOT NULL",
        ),
        (
            r#"create table k3(id bigint not null, primary key (pt)) partitioned by (pt string) tblproperties ("transactional"="true")"#,
            "not a data column",
        ),
        (
            r#"create table k4(id bigint not null primary key) tblproperties ("transactional"="true", "write.bucket.num"="0")"#,
            "write.bucket.num `0`",
        ),
        (
            r#"create table k5(id double not null primary key) tblproperties ("transactional"="true")"#,
            "integer and string keys only",
        ),
        (
            r#"create table k6(id bigint not null, primary key (id, id)) tblproperties ("transactional"="true")"#,
            "appears twice",
        ),
    ];
    for (ddl, reason) in cases {
        let e = sql_error(&c, ddl).await;
        assert!(e.contains(reason), "{ddl}: {e}");
    }
    let tables = sql_client::parse_csv(&sql(&c, "select count(*) from col_level").await);
    assert_eq!(tables[1], ["0"]);
    for refused in ["k1", "k2", "k3", "k4", "k5", "k6"] {
        let e = sql_error(&c, &format!("select * from {refused}")).await;
        assert!(e.contains("NoSuchTable"), "{refused}: {e}");
    }
    srv.stop().await;
}

/// The table's schema JSON as the metadata GET returns it (`extended` or plain).
async fn schema_of(c: &Client, table: &str, extended: bool) -> Json {
    let path = format!("/api/projects/p/tables/{table}");
    let query: &[(&str, &str)] = if extended { &[("extended", "")] } else { &[] };
    let r = c
        .send(Method::GET, &path, query, &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let xml = r.text().await.unwrap();
    let from = xml.find("<Schema><![CDATA[").unwrap() + "<Schema><![CDATA[".len();
    let to = xml[from..].find("]]></Schema>").unwrap();
    serde_json::from_str(&xml[from..from + to]).unwrap()
}

#[tokio::test]
async fn metadata_names_the_key_so_clients_detect_a_delta_table() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;
    sql(&c, "create table plain(v string)").await;
    for extended in [false, true] {
        let schema = schema_of(&c, "delta_kafka", extended).await;
        // `Reserved` is a string that holds JSON, with the flag as a string.
        let reserved: Json = serde_json::from_str(schema["Reserved"].as_str().unwrap()).unwrap();
        assert_eq!(reserved["Transactional"], "true");
        assert_eq!(
            reserved["PrimaryKey"],
            serde_json::json!(["topic", "partition", "offset"])
        );
        let nullable: Vec<bool> = schema["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["isNullable"].as_bool().unwrap())
            .collect();
        assert_eq!(nullable, [false, false, false, true, true]);
        // A plain table's `Reserved` holds its schema version only.
        let plain = schema_of(&c, "plain", extended).await;
        let reserved: Json = serde_json::from_str(plain["Reserved"].as_str().unwrap()).unwrap();
        assert_eq!(reserved, serde_json::json!({"schema_version": "0"}));
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_session_answers_with_its_buckets_key_and_hasher() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;
    let session = create_session(&c).await;
    assert_eq!(session["status"], "normal");
    assert_eq!(session["hasher"], "default");
    assert_eq!(
        session["hash_key"],
        serde_json::json!(["topic", "partition", "offset"])
    );
    let mut buckets: Vec<u64> = session["slots"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap())
        })
        .collect();
    buckets.sort();
    assert_eq!(buckets, [0, 1, 2, 3]);
    assert_eq!(session["slots"].as_array().unwrap().len(), 2);
    let addr = srv.addr.to_string();
    assert!(
        session["slots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["worker_addr"] == addr.as_str())
    );
    // Data columns only, both nullability spellings.
    let cols = session["schema"]["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 5);
    assert_eq!(cols[0]["nullable"], false);
    assert_eq!(cols[0]["isNullable"], false);
    assert_eq!(session["schema"]["partitionKeys"][0]["name"], "pt");
    // A session on an ordinary table, or a batch upload on a Delta Table, is refused.
    sql(&c, "create table plain(v string)").await;
    let (status, body) = call(
        &c,
        Method::POST,
        "/projects/p/tables/plain/upserts",
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidArgument")),
        "{body}"
    );
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("not a Delta Table")
    );
    let (status, body) = call(
        &c,
        Method::POST,
        "/projects/p/tables/delta_kafka",
        &[PT, ("uploads", "")],
        vec![],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("upsert session"),
        "{body}"
    );
    // A missing partition is refused as for batch sessions.
    let (status, body) = call(&c, Method::POST, KAFKA, &[("partition", "pt=nope")], vec![]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("NoSuchPartition")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_record_in_the_wrong_bucket_is_refused_and_nothing_is_staged() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;
    let session = create_session(&c).await;
    let right = bucket_of(7);
    let wrong = (right + 1) % BUCKETS;
    let good = record(5, Some("fine")); // bucket 2
    let reference: Vec<u32> = (0..6).map(bucket_of).collect();
    assert_eq!(
        reference,
        [3, 2, 1, 0, 1, 2],
        "the reference's Kafka example, 4 buckets"
    );
    let (status, body) = put(&c, &session, wrong, &[record(7, Some("v"))]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("BucketMismatch")),
        "{body}"
    );
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains(&format!("belongs to bucket {right} of 4"))
            && message.contains(&format!("written to bucket {wrong}")),
        "{message}"
    );
    assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()));
    // A wrong slot, a NULL key, an unknown operation and a wrong record count are refused too.
    let id = session["id"].as_str().unwrap();
    let body =
        maxcompute_core::codec::encode_block(&kafka_types(), std::slice::from_ref(&good)).unwrap();
    let (status, answer) = call(
        &c,
        Method::PUT,
        KAFKA,
        &[PT, ("upsertid", id), ("bucketid", "2"), ("slotid", "1")],
        body.clone(),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["Message"]
            .as_str()
            .unwrap()
            .contains("belongs to slot 2"),
        "{answer}"
    );
    let (status, answer) = call(
        &c,
        Method::PUT,
        KAFKA,
        &[
            PT,
            ("upsertid", id),
            ("bucketid", "2"),
            ("record_count", "2"),
        ],
        body,
    )
    .await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "{answer}"
    );
    let mut null_key = good.clone();
    null_key[0] = Value::Null;
    let (status, answer) = put(&c, &session, 2, &[null_key]).await;
    assert!(
        status == 400
            && answer["Message"]
                .as_str()
                .unwrap()
                .contains("`topic` is NULL"),
        "{answer}"
    );
    let mut bad_op = good.clone();
    bad_op[7] = Value::Integer(1);
    let (status, answer) = put(&c, &session, 2, &[bad_op]).await;
    assert!(
        status == 400 && answer["Message"].as_str().unwrap().contains("__operation"),
        "{answer}"
    );

    assert_eq!(commit(&c, id).await.0, 200);
    assert!(
        rows_by_sql(&c).await.is_empty(),
        "a refused PUT stages nothing"
    );
    srv.stop().await;
}

#[tokio::test]
async fn the_latest_value_per_key_wins_and_deletes_remove_keys() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;

    let first = create_session(&c).await;
    let records: Vec<Vec<Value>> = (0..6).map(|o| record(o, Some(&format!("v{o}")))).collect();
    write(&c, &first, &records).await;
    // Within one session, a later PUT of a key replaces the earlier one.
    write(&c, &first, &[record(2, Some("v2-again"))]).await;
    let id = first["id"].as_str().unwrap();
    assert!(
        rows_by_sql(&c).await.is_empty(),
        "nothing is visible before commit"
    );
    let (status, body) = commit(&c, id).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("committed")),
        "{body}"
    );
    assert_eq!(
        rows_by_sql(&c).await,
        expect(&[
            (0, "v0"),
            (1, "v1"),
            (2, "v2-again"),
            (3, "v3"),
            (4, "v4"),
            (5, "v5")
        ])
    );

    // A second session rewrites keys, deletes one, deletes an absent one, and re-adds a key
    // after deleting it in the same PUT (write order decides).
    let second = create_session(&c).await;
    write(
        &c,
        &second,
        &[
            record(0, Some("w0")),
            record(1, Some("w1")),
            record(5, None),
            record(99, None),
            record(3, None),
            record(3, Some("w3")),
        ],
    )
    .await;
    assert_eq!(commit(&c, second["id"].as_str().unwrap()).await.0, 200);
    let latest = expect(&[(0, "w0"), (1, "w1"), (2, "v2-again"), (3, "w3"), (4, "v4")]);
    assert_eq!(rows_by_sql(&c).await, latest);
    let count = sql(
        &c,
        "select count(*) from delta_kafka where pt='2026-11-30 20'",
    )
    .await;
    assert_eq!(sql_client::parse_csv(&count)[1], ["5"]);
    let count = sql(&c, "select count(*) from delta_kafka where `value`='w0'").await;
    assert_eq!(sql_client::parse_csv(&count)[1], ["1"]);

    // The download tunnel serves the same rows, and refuses to continue after a commit.
    let (status, dl) = call(
        &c,
        Method::POST,
        "/projects/p/tables/delta_kafka",
        &[PT, ("downloads", "")],
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{dl}");
    assert_eq!(dl["RecordCount"], 5);
    let dl_id = dl["DownloadID"].as_str().unwrap();
    let data_query = [
        PT,
        ("data", ""),
        ("downloadid", dl_id),
        ("rowrange", "(0,5)"),
    ];
    let r = c
        .send(
            Method::GET,
            "/projects/p/tables/delta_kafka",
            &data_query,
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let rows = maxcompute_core::codec::decode_block(&kafka_types()[..5], &r.bytes().await.unwrap())
        .unwrap();
    let mut got: Vec<(String, String)> = rows
        .into_iter()
        .map(|r| {
            let Value::Bytes(v) = &r[4] else {
                panic!("{r:?}")
            };
            (
                integer(&r[2]).to_string(),
                String::from_utf8(v.clone()).unwrap(),
            )
        })
        .collect();
    got.sort_by_key(|(o, _)| o.parse::<i64>().unwrap());
    assert_eq!(got, latest);
    let third = create_session(&c).await;
    write(&c, &third, &[record(4, Some("x4"))]).await;
    assert_eq!(commit(&c, third["id"].as_str().unwrap()).await.0, 200);
    let (status, body) = call(
        &c,
        Method::GET,
        "/projects/p/tables/delta_kafka",
        &data_query,
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn commit_is_idempotent_and_a_session_ends_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;
    let session = create_session(&c).await;
    let id = session["id"].as_str().unwrap();
    write(&c, &session, &[record(1, Some("a"))]).await;
    for _ in 0..2 {
        let (status, body) = commit(&c, id).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("committed")),
            "{body}"
        );
        assert_eq!(body["id"], id);
    }
    let (status, body) = call(&c, Method::GET, KAFKA, &[PT, ("upsertid", id)], vec![]).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("committed")),
        "{body}"
    );
    assert_eq!(rows_by_sql(&c).await, expect(&[(1, "a")]), "applied once");
    let (status, body) = put(&c, &session, bucket_of(1), &[record(1, Some("late"))]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict")),
        "{body}"
    );
    let (status, body) = call(&c, Method::DELETE, KAFKA, &[PT, ("upsertid", id)], vec![]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict")),
        "{body}"
    );

    // Abort drops staged data; the aborted session cannot be committed; abort repeats.
    let aborted = create_session(&c).await;
    let aborted_id = aborted["id"].as_str().unwrap();
    write(&c, &aborted, &[record(2, Some("b"))]).await;
    for _ in 0..2 {
        let (status, body) = call(
            &c,
            Method::DELETE,
            KAFKA,
            &[PT, ("upsertid", aborted_id)],
            vec![],
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("aborted")),
            "{body}"
        );
    }
    let (status, body) = commit(&c, aborted_id).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict")),
        "{body}"
    );
    assert_eq!(rows_by_sql(&c).await, expect(&[(1, "a")]));

    let (status, body) = call(
        &c,
        Method::GET,
        KAFKA,
        &[PT, ("upsertid", "no-such-session")],
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("UpsertSessionNotFound")),
        "{body}"
    );
    let (status, body) = call(
        &c,
        Method::GET,
        KAFKA,
        &[("partition", "pt=other"), ("upsertid", id)],
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidPartitionSpec")),
        "{body}"
    );
    srv.stop().await;
}

/// The bytes of a vector written as hex with spaces between its fields.
fn unhex(s: &str) -> Vec<u8> {
    test_support::hex::unhex(&s.replace(' ', ""))
}

#[tokio::test]
async fn the_reference_bytes_upsert_then_delete_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    sql(&c, r#"create table t(id bigint not null primary key, v string) tblproperties ("transactional"="true", "write.bucket.num"="1")"#).await;
    let path = "/projects/p/tables/t/upserts";
    // maxcompute-upsert.md §4: upsert (1,'a'), then delete (1,NULL), 5-byte CRC form.
    let upsert =
        unhex("08 02 12 01 61 28 aa 01 3a 00 80c0ff7f fac494a60b f0ffff7f 02 f8ffff7f e8f0edb701");
    let delete = unhex("08 02 28 88 01 3a 00 80c0ff7f 80cfee9f06 f0ffff7f 02 f8ffff7f 8f9eaddd09");
    for (body, expected) in [(upsert, "id,v\n1,a\n"), (delete, "id,v\n")] {
        let (status, session) = call(&c, Method::POST, path, &[], vec![]).await;
        assert_eq!(status, 200, "{session}");
        let id = session["id"].as_str().unwrap();
        let q = [
            ("upsertid", id),
            ("bucketid", "0"),
            ("slotid", "1"),
            ("record_count", "1"),
        ];
        let (status, answer) = call(&c, Method::PUT, path, &q, body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            call(&c, Method::POST, path, &[("upsertid", id)], vec![])
                .await
                .0,
            200
        );
        assert_eq!(sql(&c, "select * from t").await, expected);
    }
    srv.stop().await;
}

#[tokio::test]
async fn delta_rows_and_open_sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;
    let committed = create_session(&c).await;
    write(
        &c,
        &committed,
        &[record(0, Some("a")), record(1, Some("b"))],
    )
    .await;
    assert_eq!(commit(&c, committed["id"].as_str().unwrap()).await.0, 200);
    let pending = create_session(&c).await;
    write(&c, &pending, &[record(0, None), record(1, Some("b2"))]).await;
    srv.stop().await;

    let srv = start(dir.path()).await;
    let c = client(&srv);
    assert_eq!(rows_by_sql(&c).await, expect(&[(0, "a"), (1, "b")]));
    let id = pending["id"].as_str().unwrap();
    let (status, body) = call(&c, Method::GET, KAFKA, &[PT, ("upsertid", id)], vec![]).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("normal")),
        "{body}"
    );
    assert_eq!(commit(&c, id).await.0, 200);
    assert_eq!(rows_by_sql(&c).await, expect(&[(1, "b2")]));
    srv.stop().await;
}

#[tokio::test]
async fn table_names_maxcompute_refuses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    let long = "a".repeat(129);
    for name in [
        "`../evil`",
        "`a'b`",
        "`a\"b`",
        "`1abc`",
        "`with space`",
        "`表`",
        long.as_str(),
    ] {
        let e = sql_error(&c, &format!("create table {name}(v string)")).await;
        assert!(e.contains("invalid table name"), "{name}: {e}");
    }
    sql(&c, &format!("create table {}(v string)", "a".repeat(128))).await;
    // In a URL: the service API answers in XML, the tunnel in JSON.
    let r = c
        .send(Method::GET, "/api/projects/p/tables/a'b", &[], &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("invalid table name"));
    let (status, body) = call(
        &c,
        Method::POST,
        "/projects/p/tables/a%2E%2E/upserts",
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidArgument")),
        "{body}"
    );
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("invalid table name"),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_delta_table_takes_new_columns_and_refuses_sessions_opened_before() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = client(&srv);
    setup_kafka(&c).await;
    let committed = create_session(&c).await;
    write(&c, &committed, &[record(0, Some("v0"))]).await;
    assert_eq!(commit(&c, committed["id"].as_str().unwrap()).await.0, 200);
    // Staged before the change: its records hold the operation columns after five data
    // columns, so read with six they would be misread.
    let staged = create_session(&c).await;
    write(&c, &staged, &[record(1, Some("v1"))]).await;

    sql(
        &c,
        "ALTER TABLE p.`delta_kafka` ADD COLUMNS (`note` string COMMENT 'added')",
    )
    .await;
    let schema = schema_of(&c, "delta_kafka", false).await;
    let reserved: Json = serde_json::from_str(schema["Reserved"].as_str().unwrap()).unwrap();
    assert_eq!(reserved["schema_version"], "1");
    assert_eq!(
        reserved["PrimaryKey"],
        serde_json::json!(["topic", "partition", "offset"])
    );

    // Neither a write nor the commit of the older session is taken, and the refusal names the
    // latest version; what it staged never becomes visible.
    let b = bucket_of(2);
    let (status, body) = put(&c, &staged, b, &[record(2, Some("v2"))]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (412, Some("SchemaModified")),
        "{body}"
    );
    let (status, body) = commit(&c, staged["id"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (412, Some("SchemaModified")),
        "{body}"
    );
    assert_eq!(rows_by_sql(&c).await, expect(&[(0, "v0")]));

    // A new session answers the new schema and upserts rows with the new column.
    let session = create_session(&c).await;
    let columns = session["schema"]["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 6);
    assert_eq!(columns[5]["name"], "note");
    let mut types = kafka_types();
    types.insert(5, OdpsType::String);
    let mut with_note = record(2, Some("v2"));
    with_note.insert(5, Value::text("n2"));
    let (status, body) = put_typed(&c, &session, bucket_of(2), &types, &[with_note]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(commit(&c, session["id"].as_str().unwrap()).await.0, 200);

    // The row upserted before the change reads NULL in the new column.
    let text = sql(
        &c,
        "SELECT `offset`, `note` FROM p.`delta_kafka` WHERE pt='2026-11-30 20'",
    )
    .await;
    let mut rows = sql_client::parse_csv(&text);
    rows[1..].sort();
    assert_eq!(
        rows,
        [vec!["offset", "note"], vec!["0", "NULL"], vec!["2", "n2"]]
    );
    srv.stop().await;
}

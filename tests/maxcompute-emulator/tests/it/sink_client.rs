//! The sink's own MaxCompute client (`maxcompute_client`) against the emulator over loopback:
//! partition creation through SQL, batch and stream uploads with deflate, uploads with every
//! codec read back row for row, and a transient commit failure injected by the emulator that
//! the client retries through.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use maxcompute_client::{Client, ClientConfig, ErrorCode, StaticCredentials};
use maxcompute_core::codec::{Codec, Compression, encode_block};
use maxcompute_core::signing::Credentials;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::Value;
use maxcompute_emulator::auth::KeyStore;
use maxcompute_emulator::server::{self, Config, RunningServer};
use tokio::time::Instant;

const ID: &str = "sink-id";
const SECRET: &str = "sink-secret";

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

fn sink_client(srv: &RunningServer) -> Client {
    sink_client_with(srv, Compression::new(Codec::Deflate, Some(6)).ok())
}

fn sink_client_with(srv: &RunningServer, compress: Option<Compression>) -> Client {
    project_client(srv, "sink_proj", (ID, SECRET), compress)
}

/// The project's client of `project` on `srv`, signing with `key` (id, secret).
pub(crate) fn project_client(
    srv: &RunningServer,
    project: &str,
    key: (&str, &str),
    compress: Option<Compression>,
) -> Client {
    let mut config = ClientConfig::new(format!("http://{}/api", srv.addr), project);
    config.compress = compress;
    config.instance_poll_interval = Duration::from_millis(50);
    let creds = StaticCredentials::new(Credentials::access_key(key.0, key.1));
    Client::new(config, Arc::new(creds)).unwrap()
}

fn rows(offset: i64, n: i64) -> Vec<Vec<Value>> {
    (offset..offset + n)
        .map(|o| {
            vec![
                Value::text("maxcompute-test-input"),
                Value::Integer(0),
                Value::Integer(o),
                Value::text("1"),
                Value::text(format!("value-{o}")),
            ]
        })
        .collect()
}

#[tokio::test]
async fn the_sink_client_writes_through_batch_and_stream_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let helper =
        maxcompute_emulator::sql_client::Client::new(&format!("http://{}", srv.addr), ID, SECRET);
    helper
        .run_sql(
            "sink_proj",
            "CREATE TABLE test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING)",
        )
        .await
        .unwrap();
    let client = sink_client(&srv);
    let deadline = Instant::now() + Duration::from_secs(60);

    let schema = client.table_schema("test_kafka", deadline).await.unwrap();
    assert_eq!(schema.columns.len(), 5);
    let types = schema.column_types();

    // Batch: the partition does not exist; the client creates it through an SQL instance.
    let pt = PartitionSpec::single("pt", "11-17-2020 15").unwrap();
    let mut session = client
        .create_upload_session("test_kafka", Some(&pt), deadline)
        .await
        .unwrap();
    session
        .upload_block(
            0,
            Bytes::from(encode_block(&types, &rows(0, 3)).unwrap()),
            deadline,
        )
        .await
        .unwrap();
    session
        .upload_block(
            1,
            Bytes::from(encode_block(&types, &rows(3, 2)).unwrap()),
            deadline,
        )
        .await
        .unwrap();

    // The first commit attempt fails with a transient error; the client retries.
    let admin = maxcompute_client::http_client_builder()
        .build()
        .expect("an HTTP client");
    let r = admin
        .post(format!("http://{}/_emulator/faults", srv.addr))
        .body(r#"{"kind":"commit","action":"error","status":503,"code":"ServiceUnavailable"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    session.commit(&[0, 1], deadline).await.unwrap();
    assert!(client.stats().retries >= 1, "{:?}", client.stats());

    // Stream: the server creates the partition.
    let pt2 = PartitionSpec::single("pt", "11-17-2020 16").unwrap();
    let mut stream = client
        .create_stream_session("test_kafka", Some(&pt2), deadline)
        .await
        .unwrap();
    stream
        .write(
            Bytes::from(encode_block(&types, &rows(100, 4)).unwrap()),
            4,
            deadline,
        )
        .await
        .unwrap();

    let (_, text) = helper
        .run_sql("sink_proj", "show partitions test_kafka")
        .await
        .unwrap();
    assert_eq!(text, "pt=11-17-2020 15\npt=11-17-2020 16\n");
    let (_, text) = helper
        .run_sql(
            "sink_proj",
            "select count(*) from test_kafka where pt='11-17-2020 15'",
        )
        .await
        .unwrap();
    assert_eq!(text, "_c0\n5\n");
    let (_, text) = helper
        .run_sql(
            "sink_proj",
            "select `offset`, value from test_kafka where pt=\"11-17-2020 16\" limit 2",
        )
        .await
        .unwrap();
    assert_eq!(text, "offset,value\n100,value-100\n101,value-101\n");
    for (sql, expected) in [
        ("select count(*) from test_kafka", "_c0\n9\n"),
        (
            "select count(*) from test_kafka where value = 'value-101'",
            "_c0\n1\n",
        ),
        (
            "select count(*) from test_kafka where pt = '11-17-2020 15' and value = 'value-101'",
            "_c0\n0\n",
        ),
        (
            "select count(*) from test_kafka where pt = 'none'",
            "_c0\n0\n",
        ),
    ] {
        let (_, text) = helper.run_sql("sink_proj", sql).await.unwrap();
        assert_eq!(text, expected, "{sql}");
    }
    srv.stop().await;
}

/// Rows whose values repeat enough to compress and vary enough to be told apart.
fn varied_rows(offset: i64, n: i64) -> Vec<Vec<Value>> {
    (offset..offset + n)
        .map(|o| {
            vec![
                Value::text("maxcompute-test-input"),
                Value::Integer(o % 3),
                Value::Integer(o),
                Value::text(format!("key-{}", o * 7919 % 1000)),
                Value::text(format!(
                    "{{\"n\":{o};\"text\":\"{}\"}}",
                    "ab".repeat((o % 50) as usize)
                )),
            ]
        })
        .collect()
}

#[tokio::test]
async fn every_codec_uploads_rows_that_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let helper =
        maxcompute_emulator::sql_client::Client::new(&format!("http://{}", srv.addr), ID, SECRET);
    helper
        .run_sql(
            "sink_proj",
            "CREATE TABLE test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING)",
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut compressions: Vec<Compression> = Codec::ALL
        .into_iter()
        .map(Compression::default_for)
        .collect();
    compressions.push(Compression::new(Codec::Deflate, Some(9)).unwrap());
    compressions.push(Compression::new(Codec::Zstd, Some(19)).unwrap());
    for (i, compression) in compressions.into_iter().enumerate() {
        let client = sink_client_with(&srv, Some(compression));
        let types = client
            .table_schema("test_kafka", deadline)
            .await
            .unwrap()
            .column_types();
        let level = compression
            .level()
            .map_or("none".to_owned(), |l| l.to_string());
        let label = format!("{}-{level}", compression.codec());
        let base = i as i64 * 10_000;
        let (batch_rows, stream_rows) = (varied_rows(base, 700), varied_rows(base + 700, 500));
        let batch_body = encode_block(&types, &batch_rows).unwrap();
        let stream_body = encode_block(&types, &stream_rows).unwrap();
        let raw_len = (batch_body.len() + stream_body.len()) as u64;

        let pt = PartitionSpec::single("pt", &label).unwrap();
        let mut session = client
            .create_upload_session("test_kafka", Some(&pt), deadline)
            .await
            .unwrap();
        session
            .upload_block(0, Bytes::from(batch_body), deadline)
            .await
            .unwrap();
        session.commit(&[0], deadline).await.unwrap();
        let mut stream = client
            .create_stream_session("test_kafka", Some(&pt), deadline)
            .await
            .unwrap();
        stream
            .write(Bytes::from(stream_body), 500, deadline)
            .await
            .unwrap();
        let sent = client.stats().bytes_sent;
        assert!(
            sent < raw_len / 2,
            "{label}: {sent} of {raw_len} bytes sent"
        );

        let (_, text) = helper
            .run_sql(
                "sink_proj",
                &format!(
                    "select topic, partition, offset, key, value from test_kafka where pt='{label}'"
                ),
            )
            .await
            .unwrap();
        let got = maxcompute_emulator::sql_client::parse_csv(&text);
        let want: Vec<Vec<String>> = batch_rows
            .iter()
            .chain(&stream_rows)
            .map(|row| {
                row.iter()
                    .map(|v| match v {
                        Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                        Value::Integer(n) => n.to_string(),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(got.len(), want.len() + 1, "{label}: header and every row");
        assert_eq!(&got[1..], &want[..], "{label}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn assume_role_credentials_from_the_sts_stand_in_work_and_survive_a_restart() {
    use maxcompute_client::{
        AssumeRoleConfig, CredentialsProvider, StsAssumeRoleProvider, StsError,
    };

    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = Arc::new(StaticCredentials::new(Credentials::access_key(ID, SECRET)));
    let mut sts_config = AssumeRoleConfig::new(
        "acs:ram::1234567890:role/AliyunKafkaMaxComputeUser1",
        "kafka-sink",
    );
    sts_config.endpoint = format!("http://{}", srv.addr);
    let provider = StsAssumeRoleProvider::new(base, sts_config.clone()).unwrap();
    let temporary = provider.credentials().await.unwrap();
    assert!(temporary.access_key_id.starts_with("STS."), "{temporary:?}");
    assert!(temporary.security_token.is_some());
    assert!(provider.expiration().unwrap() > chrono::Utc::now() + chrono::Duration::minutes(50));

    // The temporary key signs MaxCompute calls (v2 + authorization-sts-token).
    let mut config = ClientConfig::new(format!("http://{}/api", srv.addr), "sink_proj");
    config.instance_poll_interval = Duration::from_millis(50);
    let client = Client::new(config.clone(), Arc::new(provider)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let e = client.table_schema("nope", deadline).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(&ErrorCode::NoSuchTable),
        "signed and accepted, then not found: {e}"
    );

    // A wrong base secret is refused by the stand-in with STS's own code.
    let wrong = Arc::new(StaticCredentials::new(Credentials::access_key(ID, "wrong")));
    let refused = StsAssumeRoleProvider::new(wrong, sts_config).unwrap();
    let err = refused.credentials().await.unwrap_err();
    let sts_err = StsError::of(&err).unwrap();
    assert_eq!(sts_err.code(), Some("SignatureDoesNotMatch"), "{err}");

    // Issued keys are stored: they still work after a restart.
    srv.stop().await;
    let srv = start(dir.path()).await;
    config.endpoint = format!("http://{}/api", srv.addr);
    let after = Client::new(config, Arc::new(StaticCredentials::new(temporary))).unwrap();
    let e = after
        .table_schema("nope", Instant::now() + Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::NoSuchTable), "{e}");
    srv.stop().await;
}

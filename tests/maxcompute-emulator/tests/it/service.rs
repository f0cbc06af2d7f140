//! What the service answers that pyodps's own suite pins, over loopback HTTP: lifecycle and
//! `?extended` metadata, table listings, `Table.head()`'s CSV, CHAR padding, TRUNCATE, an empty
//! download, refusals of unknown actions and of the Arrow tunnel, closed connections, and the
//! STS stand-in's bounded, unsigned body. Rows are written with the shared codec: these tests
//! check what is answered, not how blocks are encoded (`http.rs` pins that).

use std::io::{Read, Write};
use std::time::Duration;

use maxcompute_core::types::{OdpsType, Value};
use maxcompute_emulator::testing::{PROJECT, TestEmulator};
use reqwest::Method;

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

async fn get(emu: &TestEmulator, path: &str, query: &[(&str, &str)]) -> (u16, String) {
    let r = emu
        .client
        .send(Method::GET, path, query, &[], vec![])
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Writes `rows` as one committed upload session of `table` (partition `""` for none).
async fn write(
    emu: &TestEmulator,
    table: &str,
    partition: &str,
    types: &[OdpsType],
    rows: &[Vec<Value>],
) {
    let path = format!("/projects/{PROJECT}/tables/{table}");
    let mut q = vec![("uploads", "")];
    if !partition.is_empty() {
        q.push(("partition", partition));
    }
    let r = emu
        .client
        .send(Method::POST, &path, &q, &[], vec![])
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let id = body["UploadID"].as_str().unwrap().to_owned();
    let block = maxcompute_core::codec::encode_block(types, rows).unwrap();
    let mut q = vec![("uploadid", id.as_str()), ("blockid", "0")];
    if !partition.is_empty() {
        q.push(("partition", partition));
    }
    let r = emu
        .client
        .send(Method::PUT, &path, &q, &[], block)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    q.retain(|(k, _)| *k != "blockid");
    let r = emu
        .client
        .send(Method::POST, &path, &q, &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
}

/// The JSON inside the `<Schema>` of a table or partition document.
fn schema_json(xml: &str) -> serde_json::Value {
    let start = xml.find("<![CDATA[").unwrap() + "<![CDATA[".len();
    let end = xml[start..].find("]]>").unwrap() + start;
    serde_json::from_str(&xml[start..end]).unwrap()
}

#[tokio::test]
async fn lifecycle_is_kept_altered_and_reported() {
    let emu = TestEmulator::start().await;
    emu.sql("CREATE TABLE kept(a BIGINT) LIFECYCLE 7").await;
    emu.sql("CREATE TABLE plain(a BIGINT)").await;
    let path = |t: &str| format!("/api/projects/{PROJECT}/tables/{t}");
    let (_, xml) = get(&emu, &path("kept"), &[]).await;
    assert_eq!(schema_json(&xml)["lifecycle"], 7);
    let (_, xml) = get(&emu, &path("plain"), &[]).await;
    assert_eq!(schema_json(&xml)["lifecycle"], -1);
    emu.sql(&format!("ALTER TABLE {PROJECT}.`plain` SET LIFECYCLE 30"))
        .await;
    let (_, xml) = get(&emu, &path("plain"), &[]).await;
    assert_eq!(schema_json(&xml)["lifecycle"], 30);
    assert!(schema_json(&xml).get("shardInfo").is_none(), "{xml}");
    // A hub table's shards are reported as declared.
    emu.sql("CREATE TABLE hub(a BIGINT) INTO 4 SHARDS HUBLIFECYCLE 2")
        .await;
    let (_, xml) = get(&emu, &path("hub"), &[]).await;
    let v = schema_json(&xml);
    assert_eq!(
        (&v["shardExist"], &v["lifecycle"]),
        (&true.into(), &(-1).into())
    );
    assert_eq!(
        v["shardInfo"],
        serde_json::json!({"ShardNum": 4, "HubLifecycle": 2})
    );
}

#[tokio::test]
async fn extended_metadata_reports_storage_of_tables_and_partitions() {
    let emu = TestEmulator::start().await;
    emu.sql("CREATE TABLE t(s STRING) PARTITIONED BY (pt STRING) LIFECYCLE 3")
        .await;
    emu.sql("ALTER TABLE t ADD PARTITION (pt='a') PARTITION (pt='b')")
        .await;
    let types = [OdpsType::String];
    write(
        &emu,
        "t",
        "pt=a",
        &types,
        &[vec![text("x")], vec![text("y")]],
    )
    .await;
    write(&emu, "t", "pt=a", &types, &[vec![text("z")]]).await;
    let path = format!("/api/projects/{PROJECT}/tables/t");

    // The plain answer has none of the extended fields; `?extended` has them all.
    let (_, plain) = get(&emu, &path, &[]).await;
    assert!(schema_json(&plain).get("PhysicalSize").is_none(), "{plain}");
    let (status, xml) = get(&emu, &path, &[("extended", "")]).await;
    assert_eq!(status, 200, "{xml}");
    let v = schema_json(&xml);
    assert_eq!(v["IsArchived"], false);
    assert_eq!(v["FileNum"], 2);
    assert!(v["PhysicalSize"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(v["PhysicalSize"], v["size"]);

    let (status, xml) = get(&emu, &path, &[("partition", "pt=a"), ("extended", "")]).await;
    assert_eq!(status, 200, "{xml}");
    let v = schema_json(&xml);
    assert_eq!(
        (
            &v["IsArchived"],
            &v["IsExstore"],
            &v["LifeCycle"],
            &v["FileNum"]
        ),
        (&false.into(), &false.into(), &3.into(), &2.into())
    );
    // Only the extended fields: the plain ones come with the plain request.
    assert!(v.get("partitionSize").is_none(), "{v}");
    let (_, xml) = get(&emu, &path, &[("partition", "pt=a")]).await;
    let plain = schema_json(&xml);
    assert_eq!(plain["partitionSize"], v["PhysicalSize"]);
    assert_eq!(plain["partitionRecordNum"], 3);
    assert!(plain.get("FileNum").is_none(), "{plain}");
    let (_, xml) = get(&emu, &path, &[("partition", "pt=b"), ("extended", "")]).await;
    let v = schema_json(&xml);
    assert_eq!((&v["PhysicalSize"], &v["FileNum"]), (&0.into(), &0.into()));
}

#[tokio::test]
async fn table_listings_filter_and_page() {
    let emu = TestEmulator::start().await;
    for t in ["a1", "a2", "a3", "b1"] {
        emu.sql(&format!("CREATE TABLE {t}(x BIGINT)")).await;
    }
    let path = format!("/api/projects/{PROJECT}/tables");
    let names = |xml: &str| -> Vec<String> {
        xml.split("<Name>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_owned())
            .collect()
    };
    let marker = |xml: &str| -> String {
        xml.split("<Marker>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    let (_, xml) = get(&emu, &path, &[("name", "A")]).await;
    assert_eq!(names(&xml), ["a1", "a2", "a3"]);
    let (_, xml) = get(&emu, &path, &[("name", "a"), ("maxitems", "2")]).await;
    assert_eq!(
        (names(&xml), marker(&xml)),
        (vec!["a1".into(), "a2".into()], "a2".into())
    );
    let (_, xml) = get(
        &emu,
        &path,
        &[("name", "a"), ("maxitems", "2"), ("marker", "a2")],
    )
    .await;
    assert_eq!(
        (names(&xml), marker(&xml)),
        (vec!["a3".to_owned()], String::new())
    );
    let (_, xml) = get(&emu, &path, &[("owner", "someone-else")]).await;
    assert!(names(&xml).is_empty(), "{xml}");
    let (_, xml) = get(&emu, &path, &[("type", "VIRTUAL_VIEW")]).await;
    assert!(names(&xml).is_empty(), "{xml}");
}

#[tokio::test]
async fn partitions_list_in_reverse_with_paging() {
    let emu = TestEmulator::start().await;
    emu.sql("CREATE TABLE r(x BIGINT) PARTITIONED BY (pt STRING)")
        .await;
    emu.sql("ALTER TABLE r ADD PARTITION (pt='a') PARTITION (pt='b') PARTITION (pt='c')")
        .await;
    let path = format!("/api/projects/{PROJECT}/tables/r");
    let values = |xml: &str| -> Vec<String> {
        xml.split("Value=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
            .collect()
    };
    let q = [("partitions", ""), ("reverse", ""), ("maxitems", "2")];
    let (status, xml) = get(&emu, &path, &q).await;
    assert_eq!(status, 200, "{xml}");
    assert_eq!(values(&xml), ["c", "b"]);
    assert!(xml.contains("<Marker>pt=b</Marker>"), "{xml}");
    let q = [
        ("partitions", ""),
        ("reverse", ""),
        ("maxitems", "2"),
        ("marker", "pt=b"),
    ];
    let (_, xml) = get(&emu, &path, &q).await;
    assert_eq!(values(&xml), ["a"]);
    assert!(xml.contains("<Marker></Marker>"), "{xml}");
}

#[tokio::test]
async fn head_answers_csv_with_partition_columns_and_char_padding() {
    let emu = TestEmulator::start().await;
    emu.sql("CREATE TABLE h(id BIGINT, s STRING, c CHAR(4)) PARTITIONED BY (pt STRING)")
        .await;
    emu.sql("ALTER TABLE h ADD PARTITION (pt='p1') PARTITION (pt='p2')")
        .await;
    let types = [OdpsType::BigInt, OdpsType::String, OdpsType::Char(4)];
    let rows = vec![
        vec![Value::Integer(1), text("a,b"), text("x")],
        vec![Value::Integer(2), Value::Null, text("wxyz")],
        vec![Value::Integer(3), text("q\"t"), Value::Null],
    ];
    write(&emu, "h", "pt=p1", &types, &rows).await;
    let path = format!("/api/projects/{PROJECT}/tables/h");
    let (status, csv) = get(
        &emu,
        &path,
        &[("data", ""), ("linenum", "2"), ("partition", "pt=p1")],
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv, "id,s,c,pt\n1,\"a,b\",x   ,p1\n2,\\N,wxyz,p1\n");
    let (_, csv) = get(
        &emu,
        &path,
        &[("data", ""), ("linenum", "10"), ("cols", "c,id")],
    )
    .await;
    assert_eq!(csv, "c,id\nx   ,1\nwxyz,2\n\\N,3\n");
    let (_, csv) = get(
        &emu,
        &path,
        &[("data", ""), ("linenum", "5"), ("partition", "pt=p2")],
    )
    .await;
    assert_eq!(csv, "id,s,c,pt\n");
    let (status, _) = get(
        &emu,
        &path,
        &[("data", ""), ("linenum", "5"), ("partition", "pt=p9")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(&emu, &path, &[("data", ""), ("linenum", "0")]).await;
    assert_eq!(status, 400, "{body}");
    // More than the most head() returns is not an error: the rows there are come back.
    let (status, csv) = get(&emu, &path, &[("data", ""), ("linenum", "20000")]).await;
    assert_eq!((status, csv.lines().count()), (200, 4), "{csv}");

    // A download pads CHAR too.
    let got = emu.download("h", "pt=p1", &types).await;
    assert_eq!(got[0][2], text("x   "));
    assert_eq!(got[1][2], text("wxyz"));
}

#[tokio::test]
async fn truncate_empties_tables_and_named_partitions() {
    let emu = TestEmulator::start().await;
    let types = [OdpsType::BigInt];
    emu.sql("CREATE TABLE flat(a BIGINT)").await;
    write(&emu, "flat", "", &types, &[vec![Value::Integer(1)]]).await;
    emu.sql("TRUNCATE TABLE flat").await;
    assert!(emu.download("flat", "", &types).await.is_empty());

    emu.sql("CREATE TABLE parts(a BIGINT) PARTITIONED BY (pt STRING)")
        .await;
    emu.sql("ALTER TABLE parts ADD PARTITION (pt='a') PARTITION (pt='b')")
        .await;
    for pt in ["pt=a", "pt=b"] {
        write(&emu, "parts", pt, &types, &[vec![Value::Integer(7)]]).await;
    }
    emu.sql(&format!(
        "TRUNCATE TABLE {PROJECT}.`parts` PARTITION (pt='a')"
    ))
    .await;
    assert!(emu.download("parts", "pt=a", &types).await.is_empty());
    assert_eq!(
        emu.download("parts", "pt=b", &types).await,
        [vec![Value::Integer(7)]]
    );
    assert_eq!(emu.sql("SHOW PARTITIONS parts").await, "pt=a\npt=b\n");
    for (bad, says) in [
        ("TRUNCATE TABLE parts", "is partitioned"),
        (
            "TRUNCATE TABLE flat PARTITION (pt='a')",
            "is not partitioned",
        ),
        ("TRUNCATE TABLE parts PARTITION (pt='zz')", "does not exist"),
    ] {
        let e = emu
            .client
            .run_sql(PROJECT, bad)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[tokio::test]
async fn an_empty_table_downloads_no_rows_from_zero() {
    let emu = TestEmulator::start().await;
    emu.sql("CREATE TABLE e(a BIGINT)").await;
    let path = format!("/projects/{PROJECT}/tables/e");
    let r = emu
        .client
        .send(Method::POST, &path, &[("downloads", "")], &[], vec![])
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let id = v["DownloadID"].as_str().unwrap().to_owned();
    let read = |range: &'static str| {
        let id = id.clone();
        let path = path.clone();
        let emu = &emu;
        async move {
            let q = [
                ("data", ""),
                ("downloadid", id.as_str()),
                ("rowrange", range),
            ];
            let r = emu
                .client
                .send(Method::GET, &path, &q, &[], vec![])
                .await
                .unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, body) = read("(0,1)").await;
    assert_eq!(status, 200);
    assert!(
        maxcompute_core::codec::decode_block(&[OdpsType::BigInt], &body)
            .unwrap()
            .is_empty()
    );
    assert_eq!(read("(1,1)").await.0, 400);
}

#[tokio::test]
async fn unknown_actions_and_arrow_are_refused() {
    let emu = TestEmulator::start().await;
    emu.sql("CREATE TABLE t(a BIGINT)").await;
    // A resource the emulator does not serve stays a missing object, whatever the action.
    let (status, _) = get(
        &emu,
        &format!("/api/projects/{PROJECT}/resources/r"),
        &[("meta", "")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, xml) = get(
        &emu,
        &format!("/api/projects/{PROJECT}/tables/t"),
        &[("nosuchaction", "")],
    )
    .await;
    assert_eq!(status, 400, "{xml}");
    assert!(
        xml.contains("<Code>InvalidArgument</Code>")
            && xml.contains("ODPS-0420061")
            && xml.contains("nosuchaction"),
        "{xml}"
    );
    // Parameters with values are not actions; known actions are served.
    assert_eq!(
        get(
            &emu,
            &format!("/api/projects/{PROJECT}/tables/t"),
            &[("curr_schema", "default")]
        )
        .await
        .0,
        200
    );

    let path = format!("/projects/{PROJECT}/tables/t");
    let r = emu
        .client
        .send(Method::POST, &path, &[("downloads", "")], &[], vec![])
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let id = v["DownloadID"].as_str().unwrap().to_owned();
    for (query, headers) in [
        (
            vec![
                ("data", ""),
                ("downloadid", id.as_str()),
                ("rowrange", "(0,0)"),
                ("arrow", ""),
            ],
            vec![],
        ),
        (
            vec![
                ("data", ""),
                ("downloadid", id.as_str()),
                ("rowrange", "(0,0)"),
            ],
            vec![("Accept-Encoding", "x-odps-lz4-frame")],
        ),
    ] {
        let r = emu
            .client
            .send(Method::GET, &path, &query, &headers, vec![])
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (status, v["Code"].as_str()),
            (400, Some("NotSupported")),
            "{v}"
        );
        assert!(v["Message"].as_str().unwrap().contains("Arrow"), "{v}");
    }
    let preview = format!("/projects/{PROJECT}/schemas/default/tables/t/preview");
    let r = emu
        .client
        .send(Method::GET, &preview, &[("limit", "3")], &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["Code"], "NotSupported", "{v}");
}

/// Sends raw bytes and reads the answer until the server closes the connection.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    // The server may close before reading all that was sent; what it answered is what counts.
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn sts_refuses_a_large_unsigned_body_unread() {
    let emu = TestEmulator::start().await;
    let addr = emu.server.addr;
    // 400 MiB declared, a few bytes sent: refused by its declared length, nothing buffered.
    let declared = 400u64 * 1024 * 1024;
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            format!("POST /?Action=AssumeRole HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {declared}\r\n\r\nRoleArn=").as_bytes(),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("InvalidParameter.BodyTooLarge"), "{answer}");

    // A body that grows past the limit while streaming is refused too: server.rs's unit tests
    // (a raw socket could lose that answer to a reset, as the rest of the body goes unread).
}

#[tokio::test]
async fn sts_without_a_signature_says_so() {
    let emu = TestEmulator::start().await;
    let query = "Action=AssumeRole&AccessKeyId=test-access-id&SignatureMethod=HMAC-SHA1&SignatureNonce=n1&Timestamp=2026-01-01T00%3A00%3A00Z&RoleArn=acs%3Aram%3A%3A1%3Arole%2Fr&RoleSessionName=s1";
    let url = format!("http://{}/?{query}", emu.server.addr);
    let r = reqwest::get(&url).await.unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (status, v["Code"].as_str()),
        (400, Some("IncompleteSignature")),
        "{v}"
    );
    // The same parameters as a form body, with Action only in the query, are read together.
    let r = reqwest::Client::new()
        .post(format!("http://{}/?Action=AssumeRole", emu.server.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.replace("Action=AssumeRole&", ""))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (status, v["Code"].as_str()),
        (400, Some("IncompleteSignature")),
        "{v}"
    );
}

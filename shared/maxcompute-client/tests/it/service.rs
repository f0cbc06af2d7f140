//! The service API calls of `maxcompute_client` against a real loopback HTTP server that verifies
//! every signature: schema lookup, partition existence, partition creation through a SQL
//! instance, tunnel discovery, XML error bodies and STS credentials.

use super::support::{self, PROJECT, Reply, TestServer, deadline, step, table_xml};
use maxcompute_client::{Error, ErrorCode};
use maxcompute_core::signing::Credentials;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::OdpsType;

const TABLE: &str = "/api/projects/my_proj/tables/test_kafka";
const INSTANCES: &str = "/api/projects/my_proj/instances";
const INSTANCE: &str = "/api/projects/my_proj/instances/20261125abc";

fn pt() -> PartitionSpec {
    PartitionSpec::single("pt", "11-17-2020 15").unwrap()
}

#[tokio::test]
async fn reads_the_table_schema_from_xml_with_cdata_json() {
    let server = TestServer::start(vec![step("GET", TABLE, Reply::ok(table_xml()))]).await;
    let schema = server
        .client()
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap();
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["topic", "partition", "offset", "key", "value", "price"]
    );
    assert_eq!(schema.columns[1].ty, OdpsType::BigInt);
    assert_eq!(
        schema.columns[5].ty,
        OdpsType::Decimal {
            precision: 10,
            scale: 2
        }
    );
    assert_eq!(schema.columns[3].comment, "k");
    assert!(!schema.columns[4].nullable);
    assert_eq!(schema.partition_keys.len(), 1);
    assert_eq!(schema.partition_keys[0].name, "pt");
    server.assert_clean();
    let r = &server.requests()[0];
    assert_eq!(r.query, vec![("curr_project".into(), PROJECT.into())]);
}

#[tokio::test]
async fn partition_exists_is_true_on_200_and_false_on_no_such_partition() {
    let server = TestServer::start(vec![
        step(
            "GET",
            TABLE,
            Reply::ok(
                "<Partition><Column Name=\"pt\" Value=\"11-17-2020 15\"/><Schema><![CDATA[{}]]></Schema></Partition>",
            ),
        ),
        step(
            "GET",
            TABLE,
            Reply::xml_error(
                404,
                "NoSuchPartition",
                "The specified partition does not exist",
                "r404",
            ),
        ),
    ])
    .await;
    let client = server.client();
    assert!(
        client
            .partition_exists("test_kafka", &pt(), deadline(5.0))
            .await
            .unwrap()
    );
    assert!(
        !client
            .partition_exists("test_kafka", &pt(), deadline(5.0))
            .await
            .unwrap()
    );
    server.assert_clean();
    for r in server.requests() {
        assert_eq!(r.q("partition"), Some("pt='11-17-2020 15'"));
        // Encoded on the wire: '=' and quotes and the space escaped.
        assert!(
            r.raw_query.contains("partition=pt%3D%2711-17-2020%2015%27"),
            "{}",
            r.raw_query
        );
    }
    // Exactly one request each: a 404 is not retried.
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn other_404s_are_errors_with_code_message_and_request_id() {
    let server = TestServer::start(vec![step(
        "GET",
        TABLE,
        Reply::xml_error(404, "NoSuchTable", "table test_kafka not found", "req-42"),
    )])
    .await;
    let err = server
        .client()
        .partition_exists("test_kafka", &pt(), deadline(5.0))
        .await
        .unwrap_err();
    let svc = err.service_error().expect("a service error");
    assert_eq!(svc.status, 404);
    assert_eq!(svc.code, Some(ErrorCode::NoSuchTable));
    assert_eq!(svc.message, "table test_kafka not found");
    assert_eq!(svc.request_id.as_deref(), Some("req-42"));
    assert!(!err.is_transient());
    server.assert_clean();
}

fn instance_status(status: &str) -> Reply {
    Reply::ok(format!(
        "<?xml version=\"1.0\"?><Instance><Status>{status}</Status></Instance>"
    ))
}

fn task_status(status: &str) -> Reply {
    Reply::ok(format!(
        "<?xml version=\"1.0\"?><Instance><Tasks><Task Type=\"SQL\"><Name>SQLAddPartitionTask</Name><Status>{status}</Status></Task></Tasks></Instance>"
    ))
}

fn created() -> Reply {
    Reply::new(201, "").header(
        "Location",
        "http://127.0.0.1/api/projects/my_proj/instances/20261125abc",
    )
}

#[tokio::test]
async fn creates_a_partition_through_a_sql_instance() {
    let server = TestServer::start(vec![
        step("POST", INSTANCES, created()),
        step("GET", INSTANCE, instance_status("Running")),
        step("GET", INSTANCE, instance_status("Running")),
        step("GET", INSTANCE, instance_status("Terminated")),
        step("GET", INSTANCE, task_status("Success")),
    ])
    .await;
    server
        .client()
        .create_partition("test_kafka", &pt(), deadline(5.0))
        .await
        .unwrap();
    server.assert_clean();
    let requests = server.requests();
    let submit = &requests[0];
    assert_eq!(submit.h("content-type"), Some("application/xml"));
    let body = String::from_utf8(submit.body.clone()).unwrap();
    assert!(
        body.contains(
            "<![CDATA[ALTER TABLE my_proj.`test_kafka` ADD IF NOT EXISTS PARTITION (pt='11-17-2020 15');]]>"
        ),
        "{body}"
    );
    assert!(body.starts_with("<?xml"), "{body}");
    assert!(body.contains("<Name>SQLAddPartitionTask</Name>"), "{body}");
    let last = requests.last().unwrap();
    assert_eq!(last.q("taskstatus"), Some(""));
    assert!(
        last.raw_query.starts_with("taskstatus&"),
        "{}",
        last.raw_query
    );
}

#[tokio::test]
async fn runs_any_statement_as_an_anonymous_sql_task_and_returns_the_instance_id() {
    let server = TestServer::start(vec![
        step("POST", INSTANCES, created()),
        step("GET", INSTANCE, instance_status("Running")),
        step("GET", INSTANCE, instance_status("Terminated")),
        step("GET", INSTANCE, task_status("Success")),
    ])
    .await;
    let ddl = "CREATE TABLE IF NOT EXISTS kafka_sink_errors(error_class STRING) PARTITIONED BY (pt STRING);";
    let instance_id = server.client().run_sql(ddl, deadline(5.0)).await.unwrap();
    assert_eq!(instance_id, "20261125abc");
    server.assert_clean();
    let requests = server.requests();
    let body = String::from_utf8(requests[0].body.clone()).unwrap();
    assert!(body.contains(&format!("<![CDATA[{ddl}]]>")), "{body}");
    assert!(body.contains("<Name>AnonymousSQLTask</Name>"), "{body}");
    assert_eq!(requests.last().unwrap().q("taskstatus"), Some(""));
}

#[tokio::test]
async fn a_statement_that_cannot_travel_in_cdata_is_refused_before_any_request() {
    let server = TestServer::start(vec![]).await;
    let client = server.client();
    for bad in ["", "  ", "SELECT ']]>' FROM t;"] {
        let err = client.run_sql(bad, deadline(5.0)).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    what: "sql statement",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_transient());
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_failed_sql_task_returns_its_result_text() {
    let server = TestServer::start(vec![
        step("POST", INSTANCES, created()),
        step("GET", INSTANCE, instance_status("Terminated")),
        step("GET", INSTANCE, task_status("Failed")),
        step(
            "GET",
            INSTANCE,
            Reply::ok(
                "<Instance><Tasks><Task Type=\"SQL\"><Name>SQLAddPartitionTask</Name><Result><![CDATA[ODPS-0130071:[1,1] Semantic analysis exception - no permission]]></Result></Task></Tasks></Instance>",
            ),
        ),
    ])
    .await;
    let err = server
        .client()
        .create_partition("test_kafka", &pt(), deadline(5.0))
        .await
        .unwrap_err();
    match &err {
        Error::SqlFailed {
            instance_id,
            status,
            message,
        } => {
            assert_eq!(instance_id, "20261125abc");
            assert_eq!(status, "Failed");
            assert_eq!(
                message,
                "ODPS-0130071:[1,1] Semantic analysis exception - no permission"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(err.to_string().contains("no permission"));
    server.assert_clean();
    assert_eq!(server.requests().last().unwrap().q("result"), Some(""));
}

#[tokio::test]
async fn instance_polling_stops_at_the_deadline() {
    let server = TestServer::start(vec![step("POST", INSTANCES, created())]).await;
    server.set_fallback(instance_status("Running"));
    let client = server.client();
    let deadline = deadline(0.3);
    let err = client
        .create_partition("test_kafka", &pt(), deadline)
        .await
        .unwrap_err();
    // A poll in flight at the deadline is cut at it; how late the call then returns is the
    // scheduler's business, so the bound only separates "stopped" from "polled forever".
    assert!(tokio::time::Instant::now() < deadline + std::time::Duration::from_secs(10));
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(err.is_transient());
    server.assert_clean();
}

#[tokio::test]
async fn discovers_the_tunnel_endpoint_and_uses_it() {
    let server = TestServer::start(vec![]).await;
    let host = server.addr.to_string();
    let server = TestServer::start(vec![step(
        "GET",
        "/api/projects/my_proj/tunnel",
        Reply::ok(host.clone()),
    )])
    .await;
    let client = server.client_with(|c| c.tunnel_endpoint = None);
    let tunnel = client.tunnel_endpoint(deadline(5.0)).await.unwrap();
    assert_eq!(tunnel, format!("http://{host}"));
    // Cached: no second discovery request.
    assert_eq!(client.tunnel_endpoint(deadline(5.0)).await.unwrap(), tunnel);
    server.assert_clean();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].q("service"), Some(""));
    assert!(
        requests[0].raw_query.starts_with("service&"),
        "{}",
        requests[0].raw_query
    );
}

#[tokio::test]
async fn sts_credentials_sign_with_the_temporary_id_and_send_the_token() {
    let server = TestServer::start_with(
        vec![step("GET", TABLE, Reply::ok(table_xml()))],
        "STS.tmpAccessId",
        Some("CAIS-example-security-token"),
    )
    .await;
    let client = server.client_full(
        Credentials::sts(
            "STS.tmpAccessId",
            support::SECRET,
            "CAIS-example-security-token",
        ),
        maxcompute_client::FixedJitter(0.0),
        |_| {},
    );
    client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap();
    server.assert_clean();
    // And the Debug output of the client shows neither secret nor token.
    let debug = format!("{client:?}");
    assert!(!debug.contains(support::SECRET));
    assert!(!debug.contains("CAIS-example-security-token"));
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_by_the_verifying_server() {
    let server = TestServer::start(vec![step("GET", TABLE, Reply::ok(table_xml()))]).await;
    let client = server.client_full(
        Credentials::access_key(support::ACCESS_ID, "wrong-secret"),
        maxcompute_client::FixedJitter(0.0),
        |_| {},
    );
    let err = client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::SignatureNotMatch));
    assert!(!err.is_transient());
    // The server noticed too; it is the only request.
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].problems[0].starts_with("signature mismatch"));
}

#[tokio::test]
async fn names_are_validated_before_any_request() {
    let server = TestServer::start(vec![]).await;
    let err = server
        .client()
        .table_schema("t; drop", deadline(5.0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidName { kind: "table", .. }),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
}

/// A provider that cannot deliver, as an STS renewal that failed would.
#[derive(Debug)]
struct FailingProvider {
    transient: bool,
}

impl maxcompute_client::CredentialsProvider for FailingProvider {
    fn credentials(&self) -> maxcompute_client::CredentialsFuture<'_> {
        let transient = self.transient;
        Box::pin(async move {
            Err(maxcompute_client::CredentialsError {
                message: "AssumeRole denied".to_owned(),
                transient,
                source: None,
            })
        })
    }
}

#[tokio::test]
async fn credential_failures_are_classified_by_the_provider_and_send_nothing() {
    let server = TestServer::start(vec![]).await;
    for transient in [false, true] {
        let mut config = maxcompute_client::ClientConfig::new(server.service_endpoint(), PROJECT);
        config.retry.max_attempts = 2;
        config.retry.initial_backoff = std::time::Duration::from_millis(1);
        let client = maxcompute_client::Client::with_jitter(
            config,
            std::sync::Arc::new(FailingProvider { transient }),
            std::sync::Arc::new(maxcompute_client::FixedJitter(0.0)),
        )
        .unwrap();
        let err = client
            .table_schema("test_kafka", deadline(5.0))
            .await
            .unwrap_err();
        assert_eq!(err.is_transient(), transient, "{err:?}");
        assert!(err.to_string().contains("AssumeRole denied"), "{err}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_setting_named() {
    let provider = std::sync::Arc::new(maxcompute_client::StaticCredentials::new(
        Credentials::access_key("id", "s"),
    ));
    for (endpoint, project, what) in [
        ("http://host/api", "bad-name", "project"),
        ("http://host/api", "", "project"),
    ] {
        let config = maxcompute_client::ClientConfig::new(endpoint, project);
        match maxcompute_client::Client::new(config, provider.clone()) {
            Err(Error::Config { what: got, .. }) => assert_eq!(got, what),
            other => panic!("{endpoint} {project}: {other:?}"),
        }
    }
    let config = maxcompute_client::ClientConfig::new("ftp://host/api", "p");
    match maxcompute_client::Client::new(config, provider.clone()) {
        Err(
            e @ Error::Endpoint {
                what: "endpoint",
                source: maxcompute_client::EndpointError::Scheme { .. },
            },
        ) => {
            assert_eq!(e.kind(), "config");
            assert!(!e.is_transient());
        }
        other => panic!("ftp endpoint: {other:?}"),
    }
}

#[tokio::test]
async fn with_a_region_the_service_api_signs_v4_and_the_tunnel_stays_v2() {
    let server = TestServer::start(vec![
        step("GET", TABLE, Reply::ok(table_xml())),
        step(
            "POST",
            "/projects/my_proj/tables/test_kafka",
            Reply::ok(support::upload_session_json("U1", "normal", &[])),
        ),
    ])
    .await;
    let client = server.client_with(|c| c.region = Some("cn-hangzhou".to_owned()));
    client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap();
    client
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    server.assert_clean();
    let regions: Vec<_> = server.requests().into_iter().map(|r| r.v4_region).collect();
    assert_eq!(regions, vec![Some("cn-hangzhou".to_owned()), None]);
}

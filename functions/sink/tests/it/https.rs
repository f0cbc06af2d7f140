//! The HTTP client's TLS: reqwest over rustls with ring, the one crypto provider of the functions
//! (`maxcompute_client::http_client_builder`), against the MaxCompute emulator behind a
//! TLS-terminating proxy with a certificate of a test CA.

use crate::support::flow::{Flow, SinkFlow};
use crate::support::tls::{Pki, TlsProxy};

#[tokio::test]
async fn the_http_client_speaks_tls_with_ring_and_verifies_the_server() {
    let flow = Flow::seeded().await;
    let pki = Pki::new("https test CA");
    let proxy = TlsProxy::serve(
        TlsProxy::bind().await,
        pki.acceptor(&["localhost"]),
        flow.server.addr,
    );
    let url = format!(
        "https://localhost:{}/_emulator/health",
        proxy.address.port()
    );

    // Trusting the test CA: the handshake completes and the emulator answers through it.
    let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
    let trusting = maxcompute_client::http_client_builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let response = trusting.get(&url).send().await.unwrap();
    assert!(response.status().is_success(), "{response:?}");
    assert_eq!(proxy.handshakes(), 1);

    // The system's roots alone do not know the test CA: refused, before any request is sent.
    let plain = maxcompute_client::http_client_builder().build().unwrap();
    let err = plain.get(&url).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let chain = format!("{err:?}");
    assert!(
        chain.contains("certificate") || chain.contains("Certificate"),
        "{chain}"
    );
    assert_eq!(proxy.handshakes(), 1);
}

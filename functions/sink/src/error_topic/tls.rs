//! TLS for broker connections: the system's roots plus an optional CA, through ring. It does
//! not open connections (`connection.rs` does) and does not decide whether TLS is used.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;
use tracing::debug;

use super::error::ErrorTopicError;

/// TLS settings. The system's root certificates are always trusted.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted CA certificates, PEM (a private CA, or the local broker's own certificate).
    pub ca_pem: Option<Vec<u8>>,
}

/// The host part of `host:port` (brackets of an IPv6 literal removed), for TLS server names.
pub(super) fn host_of(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// TLS with the system's roots plus the configured CA, through ring (the crypto provider is
/// named explicitly because the workspace also links aws-lc-rs through reqwest, and rustls
/// refuses to guess between two).
pub(super) fn tls_connector(options: &TlsOptions) -> Result<TlsConnector, ErrorTopicError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (_added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 || !native.errors.is_empty() {
        debug!(
            ignored,
            errors = native.errors.len(),
            "some system certificates are unusable"
        );
    }
    if let Some(pem) = &options.ca_pem {
        let mut n = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                ErrorTopicError::TlsConfig(format!("the CA PEM does not parse: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                ErrorTopicError::TlsConfig(format!("a CA certificate is unusable: {e}"))
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(ErrorTopicError::TlsConfig(
                "the CA PEM holds no certificate".to_owned(),
            ));
        }
    }
    if roots.is_empty() {
        return Err(ErrorTopicError::TlsConfig(
            "no trusted root certificate: the system has none and no CA was given".to_owned(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ErrorTopicError::TlsConfig(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
/// A self-signed CA certificate, made once with `openssl req -x509` for these tests.
pub(super) const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBlDCCATmgAwIBAgIUHZ94FcsCDH+wx2VuC2ss0xCoDXowCgYIKoZIzj0EAwIw\n\
HjEcMBoGA1UEAwwTZXJyb3ItdG9waWMtdGVzdC1jYTAgFw0yNjExMjUyMTQ3MDBa\n\
GA8yMTI2MTEwMTIxNDcwMFowHjEcMBoGA1UEAwwTZXJyb3ItdG9waWMtdGVzdC1j\n\
YTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEy+Nil74y01hddS4Oe8EERl+dO0\n\
gSc8aJB1DHloy8+XhvMmprE8IuPlwUJfvd2La5/sv2I30J76gcKPeadLNi2jUzBR\n\
MB0GA1UdDgQWBBSqR9MzQd1MN03rnIGA9oVRr1JEpDAfBgNVHSMEGDAWgBSqR9Mz\n\
Qd1MN03rnIGA9oVRr1JEpDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA\n\
MEYCIQCR7IxRo/OCsEhFLQWv1XM894uQqEV+sw62qp7wwcj4fAIhANNhMptauoPO\n\
5lJJ03xAEVPU4hjVFruAdqP5+Z8WmW83\n\
-----END CERTIFICATE-----";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_for_tls() {
        assert_eq!(
            host_of("b-1.kafka.example.com:9094"),
            "b-1.kafka.example.com"
        );
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn tls_ca_options_are_checked_up_front() {
        let with_ca = |pem: &str| {
            tls_connector(&TlsOptions {
                ca_pem: Some(pem.as_bytes().to_vec()),
            })
        };
        assert!(with_ca(TEST_CA_PEM).is_ok());
        let err = with_ca("not a certificate").err().unwrap();
        assert!(matches!(&err, ErrorTopicError::TlsConfig(m) if m.contains("no certificate")));
        assert!(!err.is_transient(), "{err:?}");
        let broken = TEST_CA_PEM.replace("M", "!");
        assert!(!with_ca(&broken).err().unwrap().is_transient());
    }
}

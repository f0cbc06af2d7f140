//! The one way the project builds HTTP clients, so that every TLS connection uses the same
//! crypto provider. Imports nothing of the client.

/// A `reqwest` client builder for every HTTP client of the project (the MaxCompute client, STS,
/// the secrets extension, and the emulators' own clients). reqwest is built without a crypto
/// provider of its own (`rustls-no-provider`), so that the functions link one, ring, which the
/// error topic's rustls uses as well; this installs ring as the process's rustls default once,
/// and leaves a default installed earlier in place.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

//! The TLS client configuration of every connection the host or the CLI makes: the Web
//! PKI roots (webpki-roots) and ring's cryptography, no platform store and no second
//! crypto provider (aws-lc) to build.

use std::sync::Arc;

/// A client configuration verifying servers against the Web PKI roots; `None` only if ring
/// lacked the default protocol versions (then nothing is sent over TLS).
pub(crate) fn client_config() -> Option<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => Some(builder.with_root_certificates(roots).with_no_client_auth()),
        Err(e) => {
            tracing::error!("TLS is unavailable: {e}");
            None
        }
    }
}

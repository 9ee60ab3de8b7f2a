//! The TLS client configuration of every connection the host or the CLI makes: the Web
//! PKI roots (webpki-roots) and ring's cryptography, no platform store and no second
//! crypto provider (aws-lc) to build.

use std::sync::Arc;

/// Make ring the process's TLS crypto provider, for clients built without a configuration
/// of ours (the OTLP exporter's, reqwest's defaults): reqwest is built without one of its
/// own (no aws-lc). Once is enough; later calls change nothing.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client configuration verifying servers against the Web PKI roots; `None` only if ring
/// lacked the default protocol versions (then nothing is sent over TLS).
pub fn client_config() -> Option<rustls::ClientConfig> {
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

//! The TLS client configuration every outgoing connection shares (`serve`'s pulls and pushes,
//! `analyse https://`).
//!
//! TLS roots: the system store (read once; it honours `SSL_CERT_FILE` and `SSL_CERT_DIR`,
//! as OpenSSL does, which is also how tests trust a certificate they made) plus the Mozilla
//! roots compiled in (`webpki-roots`), so a machine without a CA bundle still verifies
//! public servers. Certificates are always verified; there is no "insecure" switch.

use std::sync::{Arc, OnceLock};

/// The one TLS client configuration (building the root store reads files, so it is done once).
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::debug!("TLS roots: {e}");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "TLS roots from the system store");
            // ring rather than aws-lc-rs: no cmake or C toolchain beyond `cc` to build it.
            // Its default provider lacks the post-quantum key exchange, which rustls marks by
            // deprecating it; classic X25519/P-256 is what RTMPS and HTTPS servers offer.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

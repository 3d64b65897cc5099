//! Outgoing connections for pulls and pushes: TCP with a deadline, and TLS (rustls) for
//! `https://`, `rtmps://` and the like.
//!
//! TLS roots: the system store (read once; it honours `SSL_CERT_FILE` and `SSL_CERT_DIR`,
//! as OpenSSL does, which is also how tests trust a certificate they made) plus the Mozilla
//! roots compiled in (`webpki-roots`), so a machine without a CA bundle still verifies
//! public servers. Certificates are always verified; there is no "insecure" switch.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A connected byte stream: plain TCP or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed [`Stream`].
pub type BoxStream = Box<dyn Stream>;

/// Connects to `host:port` within `timeout`, with TLS when `tls` (the server name is `host`).
pub async fn dial(host: &str, port: u16, tls: bool, timeout: Duration) -> io::Result<BoxStream> {
    let work = async {
        let sock = TcpStream::connect((host, port)).await?;
        let _ = sock.set_nodelay(true);
        if !tls {
            return Ok(Box::new(sock) as BoxStream);
        }
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(client_config());
        let s = connector
            .connect(name, sock)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("TLS with {host}:{port}: {e}")))?;
        Ok(Box::new(s) as BoxStream)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r.map_err(|e: io::Error| io::Error::new(e.kind(), format!("{host}:{port}: {e}"))),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{host}:{port}: no connection within {} s",
                timeout.as_secs()
            ),
        )),
    }
}

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

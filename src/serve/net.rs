//! Outgoing connections for pulls and pushes: TCP with a deadline, and TLS (rustls) for
//! `https://`, `rtmps://` and the like.
//!
//! TLS roots: the system store (read once; it honours `SSL_CERT_FILE` and `SSL_CERT_DIR`,
//! as OpenSSL does, which is also how tests trust a certificate they made) plus the Mozilla
//! roots compiled in (`webpki-roots`), so a machine without a CA bundle still verifies
//! public servers. Certificates are always verified; there is no "insecure" switch.

use std::io;
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

pub use crate::io::tls::client_config;

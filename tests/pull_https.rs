//! An `https://` progressive pull: TLS through rustls, with the certificate verified against
//! the system roots (here a self-signed certificate made for this run and named by
//! `SSL_CERT_FILE`, which rustls-native-certs honours). Its own test binary: the TLS roots are
//! read once per process, and this test must set them first.

mod util;

use std::sync::Arc;
use std::time::Duration;

use mist::dtsc::TrackKind;
use mist::serve::config::StreamConfig;
use mist::serve::hub::{Client, ViewOptions, ViewerEvent};
use mist::serve::{Config, Server, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{fixture, TestDir};

#[test]
fn https_pull_verifies_the_certificate_and_reads_the_file() {
    let dir = TestDir::new("pull-https");
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, cert.pem()).unwrap();
    std::env::set_var("SSL_CERT_FILE", &pem);
    // The provider mist's client uses (ring: classic key exchange, which rustls flags).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let body = std::fs::read(fixture("h264_aac.flv")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..20 {
                let Ok((s, _)) = l.accept().await else { return };
                let acceptor = acceptor.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(s).await else { return };
                    let mut req = vec![0u8; 4096];
                    let _ = tls.read(&mut req).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let mut config = Config::default();
        for (name, host) in [("ok", "localhost"), ("wrong", "127.0.0.1")] {
            config.streams.insert(
                name.into(),
                StreamConfig {
                    name: name.into(),
                    source: format!("https://{host}:{port}/a.flv"),
                    ..StreamConfig::default()
                },
            );
        }
        let server = Server::bind(Settings {
            config,
            ..Settings::default()
        })
        .await
        .unwrap();
        let hub = server.hub().clone();
        let task = tokio::spawn(server.run(std::future::pending()));
        let client = Client {
            peer: "127.0.0.1:1".parse().unwrap(),
            protocol: "TEST",
        };
        // The name the certificate is for: media arrives.
        let mut v = hub.view("ok", client, ViewOptions::default()).unwrap();
        let mut video = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut kinds = std::collections::HashMap::new();
        while video < 10 {
            match tokio::time::timeout_at(deadline, v.next()).await.expect("media within 10 s") {
                ViewerEvent::Tracks(m) => {
                    kinds = m.tracks.iter().map(|t| (t.id, t.kind)).collect();
                }
                ViewerEvent::Packets(es) => {
                    video += es
                        .iter()
                        .filter(|e| kinds.get(&e.packet.track) == Some(&TrackKind::Video))
                        .count()
                }
                ViewerEvent::End => panic!("ended"),
            }
        }
        // An address the certificate does not name: refused, and the API says why.
        let _w = hub.view("wrong", client, ViewOptions::default()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let err = loop {
            if let Some(e) = hub.pull("wrong").and_then(|h| h.status().last_error) {
                break e;
            }
            assert!(tokio::time::Instant::now() < deadline, "no error within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        task.abort();
    });
}

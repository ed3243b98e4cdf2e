//! The listener's TLS acceptor (certificate swapped on reload without dropping connections)
//! and the file checks behind `check-config` for `[upstream.tls]` and `[server.tls]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/tls.rs"]
mod tls_support;

use bk_job_shim::tls::{ServerTls, TlsAcceptor, UpstreamTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tls_support::{Pem, Pki};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

fn server_tls(p: &Pem) -> ServerTls {
    ServerTls {
        cert_file: Some(p.cert.clone()),
        key_file: Some(p.key.clone()),
    }
}

/// Accept TLS connections and echo lines back.
async fn echo_server(acceptor: TlsAcceptor) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (r, mut w) = tokio::io::split(tls);
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn connect(pki: &Pki, addr: std::net::SocketAddr) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.ca_file()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

async fn echo(s: &mut TlsStream<TcpStream>, line: &str) -> String {
    s.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    use tokio::io::AsyncReadExt;
    while s.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
        buf.push(byte[0]);
    }
    String::from_utf8(buf).unwrap()
}

fn served(s: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn reload_swaps_the_certificate_without_dropping_connections() {
    let pki = Pki::new("listener");
    let (first, second) = (pki.server(&["localhost"]), pki.server(&["localhost"]));
    let acceptor = TlsAcceptor::from_config(&server_tls(&first))
        .unwrap()
        .unwrap();
    let addr = echo_server(acceptor.clone()).await;

    let mut old = connect(&pki, addr).await;
    assert_eq!(served(&old), first.chain()[0]);
    // The listener speaks HTTP/1.1 only: ALPN never picks h2.
    assert_eq!(old.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(echo(&mut old, "before").await, "before");

    acceptor.reload(&server_tls(&second)).unwrap();
    assert_eq!(acceptor.current_chain()[0], second.chain()[0]);
    // The established connection carries on; new handshakes get the new certificate.
    assert_eq!(echo(&mut old, "after").await, "after");
    let new = connect(&pki, addr).await;
    assert_eq!(served(&new), second.chain()[0]);

    // A bad reload (key of another certificate) changes nothing.
    let mismatched = ServerTls {
        cert_file: Some(first.cert.clone()),
        key_file: Some(second.key.clone()),
    };
    let err = acceptor.reload(&mismatched).unwrap_err();
    assert!(err.contains("does not belong"), "{err}");
    assert_eq!(served(&connect(&pki, addr).await), second.chain()[0]);
    assert_eq!(echo(&mut old, "still").await, "still");
}

#[test]
fn listener_tls_is_off_unless_both_files_are_set() {
    assert!(
        TlsAcceptor::from_config(&ServerTls::default())
            .unwrap()
            .is_none()
    );
    let half = ServerTls {
        cert_file: Some("x.pem".into()),
        key_file: None,
    };
    assert!(TlsAcceptor::from_config(&half).is_err());
}

#[test]
fn check_config_reads_and_checks_every_file() {
    let pki = Pki::new("check");
    let good_client = pki.client("shim");
    let other = pki.client("other");
    let ok = UpstreamTls {
        ca_file: Some(pki.ca_file()),
        client_cert_file: Some(good_client.cert.clone()),
        client_key_file: Some(good_client.key.clone()),
        server_name: Some("bkapi.example.com".into()),
    };
    assert_eq!(ok.validate(), Vec::<String>::new());

    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let bad = UpstreamTls {
        ca_file: Some(garbage.clone()),
        client_cert_file: Some(good_client.cert.clone()),
        client_key_file: Some(other.key.clone()),
        server_name: None,
    };
    let p = bad.validate().join("\n");
    assert!(
        p.contains("upstream.tls.ca_file") && p.contains("no PEM certificate"),
        "{p}"
    );
    assert!(p.contains("does not belong to the certificate"), "{p}");
    // Key material is never echoed.
    let key_text = std::fs::read_to_string(&other.key).unwrap();
    let key_line = key_text.lines().nth(1).unwrap();
    assert!(!p.contains(key_line), "{p}");

    let missing = UpstreamTls {
        ca_file: Some(pki.dir.join("nope.pem")),
        ..UpstreamTls::default()
    };
    assert!(missing.validate()[0].contains("cannot read"));

    let expired = pki.expired_server(&["localhost"]);
    let p = ServerTls {
        cert_file: Some(expired.cert.clone()),
        key_file: Some(expired.key.clone()),
    }
    .validate();
    assert!(p.len() == 1 && p[0].contains("expired on"), "{p:?}");
    let key_as_cert = ServerTls {
        cert_file: Some(expired.key.clone()),
        key_file: Some(expired.key.clone()),
    }
    .validate();
    assert!(
        key_as_cert[0].contains("server.tls.cert_file"),
        "{key_as_cert:?}"
    );
    assert!(
        server_tls(&pki.server(&["localhost"]))
            .validate()
            .is_empty()
    );
}

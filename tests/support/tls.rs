//! Test helpers for real TLS: certificates made at test time with `rcgen`, a rustls HTTPS
//! "gateway" that records what each connection negotiated (SNI, ALPN, client certificate,
//! resumption), and an HTTP CONNECT egress proxy (optionally demanding credentials).
//! Everything binds 127.0.0.1:0. Include with `#[path = "support/tls.rs"] mod tls_support;`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate + key written as PEM files.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pem {
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_file(&self.key).unwrap()
    }
}

struct Authority {
    cert: Certificate,
    key: KeyPair,
    file: PathBuf,
}

/// A throwaway PKI in a temporary directory: the trusted CA and a rogue one.
pub struct Pki {
    pub dir: PathBuf,
    ca: Authority,
    rogue: Authority,
    serial: AtomicU64,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bk-job-shim-tls-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = authority(&dir, "ca", "bk-job-shim test CA");
        let rogue = authority(&dir, "rogue", "Rogue Test CA");
        Pki {
            dir,
            ca,
            rogue,
            serial: AtomicU64::new(0),
        }
    }

    /// The trusted CA bundle (`upstream.tls.ca_file`).
    pub fn ca_file(&self) -> PathBuf {
        self.ca.file.clone()
    }

    /// The rogue CA's bundle.
    pub fn rogue_ca_file(&self) -> PathBuf {
        self.rogue.file.clone()
    }

    /// A server certificate for `names` signed by the trusted CA.
    pub fn server(&self, names: &[&str]) -> Pem {
        self.leaf(names, Leaf::Server, false, false)
    }

    /// A server certificate for `names` that expired in 2020.
    pub fn expired_server(&self, names: &[&str]) -> Pem {
        self.leaf(names, Leaf::Server, true, false)
    }

    /// A server certificate for `names` signed by the rogue CA.
    pub fn untrusted_server(&self, names: &[&str]) -> Pem {
        self.leaf(names, Leaf::Server, false, true)
    }

    /// A client certificate signed by the trusted CA.
    pub fn client(&self, cn: &str) -> Pem {
        self.leaf(&[cn], Leaf::Client, false, false)
    }

    /// A client certificate signed by the rogue CA.
    pub fn untrusted_client(&self, cn: &str) -> Pem {
        self.leaf(&[cn], Leaf::Client, false, true)
    }

    fn leaf(&self, names: &[&str], kind: Leaf, expired: bool, rogue: bool) -> Pem {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut p = CertificateParams::new(names.clone()).unwrap();
        p.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        p.extended_key_usages = vec![match kind {
            Leaf::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Leaf::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2019, 1, 1);
            p.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let by = if rogue { &self.rogue } else { &self.ca };
        let cert = p.signed_by(&key, &by.cert, &by.key).unwrap();
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let pem = Pem {
            cert: self.dir.join(format!("leaf{n}.crt")),
            key: self.dir.join(format!("leaf{n}.key")),
        };
        std::fs::write(&pem.cert, cert.pem()).unwrap();
        std::fs::write(&pem.key, key.serialize_pem()).unwrap();
        pem
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Leaf {
    Server,
    Client,
}

fn authority(dir: &Path, file: &str, cn: &str) -> Authority {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "bk-job-shim tests");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    let path = dir.join(format!("{file}.pem"));
    std::fs::write(&path, cert.pem()).unwrap();
    Authority {
        cert,
        key,
        file: path,
    }
}

/// What one TLS connection to the [`TlsGateway`] negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub sni: Option<String>,
    pub alpn: Option<String>,
    pub client_cert: bool,
    pub resumed: bool,
}

/// How the [`TlsGateway`] is set up.
pub struct GatewayOptions {
    pub cert: Pem,
    /// Demand a client certificate issued by this CA.
    pub client_ca: Option<PathBuf>,
    /// Offer h2 by ALPN (else http/1.1 only).
    pub h2: bool,
}

/// A rustls HTTPS server answering every request with a JOB-style success envelope (an
/// `execute_job`-shaped `data` that also echoes the path and HTTP version).
pub struct TlsGateway {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    requests: Arc<AtomicU64>,
    failed_handshakes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// Closes a connection whose handshake failed as servers do (nginx's lingering close):
/// the alert already written, FIN, then what the client still sends is read and dropped
/// (for at most 2 s), so no reset destroys the alert before the client reads it.
async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
}

impl TlsGateway {
    pub async fn start(opts: GatewayOptions) -> TlsGateway {
        let config = Arc::new(server_config(&opts));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, r, f) = (seen.clone(), requests.clone(), failed.clone());
        let task = tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, s, r, f) = (acceptor.clone(), s.clone(), r.clone(), f.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).into_fallible().await {
                        Ok(tls) => tls,
                        Err((_, tcp)) => {
                            f.fetch_add(1, Ordering::Relaxed);
                            return linger(tcp).await;
                        }
                    };
                    s.lock().unwrap().push(seen_of(tls.get_ref().1));
                    serve_envelope(tls, r).await;
                });
            }
        });
        TlsGateway {
            addr,
            seen,
            requests,
            failed_handshakes: failed,
            task,
        }
    }

    /// The same server over plain HTTP (a baseline for benchmarks).
    pub async fn start_plain() -> TlsGateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let r = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve_envelope(tcp, r.clone()));
            }
        });
        TlsGateway {
            addr,
            seen: Arc::default(),
            requests,
            failed_handshakes: Arc::default(),
            task,
        }
    }

    /// Every completed handshake, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Handshakes that failed on the server side.
    pub fn failed_handshakes(&self) -> u64 {
        self.failed_handshakes.load(Ordering::Relaxed)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TlsGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_config(opts: &GatewayOptions) -> rustls::ServerConfig {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match &opts.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(opts.cert.chain(), opts.cert.key_der())
        .unwrap();
    config.alpn_protocols = if opts.h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    config
}

fn seen_of(conn: &rustls::ServerConnection) -> Seen {
    Seen {
        sni: conn.server_name().map(str::to_owned),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        client_cert: conn.peer_certificates().is_some_and(|c| !c.is_empty()),
        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
    }
}

async fn serve_envelope<IO>(io: IO, requests: Arc<AtomicU64>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let requests = requests.clone();
        async move {
            requests.fetch_add(1, Ordering::Relaxed);
            let body = format!(
                r#"{{"result":true,"code":0,"message":"","data":{{"job_instance_id":10000,"job_instance_name":"tls","path":"{}","version":"{:?}"}}}}"#,
                req.uri().path(),
                req.version()
            );
            let resp = Response::builder()
                .header("content-type", "application/json")
                .header("x-bkapi-request-id", "tls-gateway")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// What the [`ConnectProxy`] was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSeen {
    /// `host:port` of the CONNECT line.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub auth: Option<String>,
}

/// An HTTP CONNECT egress proxy. Every tunnel goes to 127.0.0.1 at the requested port
/// (so the upstream may be named `bkapi.test`: only the proxy "resolves" it, like a real
/// egress proxy).
pub struct ConnectProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<ConnectSeen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectProxy {
    /// `user_pass`: demand `Proxy-Authorization: Basic base64(user:pass)`, else answer 407.
    pub async fn start(user_pass: Option<&str>) -> ConnectProxy {
        use base64::Engine as _;
        let expected = user_pass.map(|up| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(up)
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (s, expected) = (s.clone(), expected.clone());
                tokio::spawn(async move {
                    let _ = tunnel(tcp, s, expected).await;
                });
            }
        });
        ConnectProxy { addr, seen, task }
    }

    pub fn seen(&self) -> Vec<ConnectSeen> {
        self.seen.lock().unwrap().clone()
    }

    /// `http://[user:pass@]127.0.0.1:port`.
    pub fn url(&self, user_pass: Option<&str>) -> String {
        match user_pass {
            Some(up) => format!("http://{up}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(
    mut client: TcpStream,
    seen: Arc<Mutex<Vec<ConnectSeen>>>,
    expected: Option<String>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let target = match first.split(' ').collect::<Vec<_>>().as_slice() {
        ["CONNECT", target, _] => (*target).to_owned(),
        _ => {
            client
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    let auth = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("proxy-authorization")
            .then(|| v.trim().to_owned())
    });
    seen.lock().unwrap().push(ConnectSeen {
        target: target.clone(),
        auth: auth.clone(),
    });
    if expected.is_some() && auth != expected {
        client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
            )
            .await?;
        return Ok(());
    }
    let port = target.rsplit_once(':').map(|(_, p)| p).unwrap_or("443");
    let Ok(mut upstream) = TcpStream::connect(format!("127.0.0.1:{port}")).await else {
        client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            .await?;
        return Ok(());
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

//! A raw-TCP upstream that misbehaves on purpose, and counts: `arrivals` (complete
//! requests read: head and whole body) and `receipts` (requests it accepted as job
//! starts: answered with a complete, well-formed success reply). hyper cannot be told to
//! reset a connection mid-exchange or to stall a reply body, hence plain sockets.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the upstream does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer success; keep the connection alive.
    None,
    /// Answer success, then close a connection idle for this long (keep-alive timeout).
    CloseIdleAfter(Duration),
    /// Reset (RST) once the head is read, before the body.
    ResetBeforeBody,
    /// Reset once the whole request is read, without a reply byte.
    ResetAfterBody,
    /// Send a reply head and part of its body, then stall (connection held open).
    StallBody,
    /// A 200 reply whose body is not JSON.
    Malformed,
    /// A reply declaring a body far over the shim's reply cap, then stall.
    Oversized,
    /// A 502 with an HTML body.
    ServerError,
    /// Read the request, never answer (connection held open).
    NoReply,
    /// Reset the first request after reading it, answer success afterwards.
    ResetFirst,
}

/// The running fault upstream.
#[derive(Clone)]
pub struct FaultUpstream {
    pub addr: SocketAddr,
    arrivals: Arc<AtomicUsize>,
    receipts: Arc<AtomicUsize>,
}

/// A success reply of bk-job's envelope.
const OK_BODY: &str = r#"{"result":true,"code":0,"message":"","data":{"job_instance_id":1,"job_instance_name":"n","finished":false},"job_request_id":"jr"}"#;

impl FaultUpstream {
    pub async fn start(fault: Fault) -> FaultUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = FaultUpstream {
            addr: listener.local_addr().unwrap(),
            arrivals: Arc::default(),
            receipts: Arc::default(),
        };
        let u = up.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let u = u.clone();
                tokio::spawn(async move { u.connection(stream, fault).await });
            }
        });
        up
    }

    /// Base URL for `upstream.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn arrivals(&self) -> usize {
        self.arrivals.load(Ordering::SeqCst)
    }

    pub fn receipts(&self) -> usize {
        self.receipts.load(Ordering::SeqCst)
    }

    async fn connection(&self, mut s: TcpStream, fault: Fault) {
        let mut buf = Vec::new();
        loop {
            let idle = match fault {
                Fault::CloseIdleAfter(d) => d,
                _ => Duration::from_secs(3600),
            };
            let Some(head_end) = read_head(&mut s, &mut buf, idle).await else {
                return;
            };
            if fault == Fault::ResetBeforeBody {
                return reset(s);
            }
            let len = content_length(&buf[..head_end]);
            if !read_body(&mut s, &mut buf, head_end + len).await {
                return;
            }
            buf.drain(..head_end + len);
            let n = self.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
            match fault {
                Fault::None | Fault::CloseIdleAfter(_) => self.succeed(&mut s).await,
                Fault::ResetFirst if n > 1 => self.succeed(&mut s).await,
                Fault::ResetAfterBody | Fault::ResetFirst => return reset(s),
                Fault::StallBody => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"result\":true,";
                    let _ = s.write_all(head.as_bytes()).await;
                    return hold(s).await;
                }
                Fault::Oversized => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n[1,2,3,";
                    let _ = s.write_all(head.as_bytes()).await;
                    return hold(s).await;
                }
                Fault::Malformed => {
                    reply(&mut s, "200 OK", "text/plain", "not json at all").await;
                }
                Fault::ServerError => {
                    reply(
                        &mut s,
                        "502 Bad Gateway",
                        "text/html",
                        "<html>bad gateway</html>",
                    )
                    .await;
                }
                Fault::NoReply => return hold(s).await,
                Fault::ResetBeforeBody => unreachable!(),
            }
        }
    }

    async fn succeed(&self, s: &mut TcpStream) {
        if reply(s, "200 OK", "application/json", OK_BODY).await {
            self.receipts.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Read until the end of a request head; its length, or `None` on EOF or `idle`.
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>, idle: Duration) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        let mut chunk = [0u8; 8192];
        let wait = if buf.is_empty() {
            idle
        } else {
            Duration::from_secs(30)
        };
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Read until `buf` holds `total` bytes; false on EOF.
async fn read_body(s: &mut TcpStream, buf: &mut Vec<u8>, total: usize) -> bool {
    while buf.len() < total {
        let mut chunk = [0u8; 65536];
        match s.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
    true
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A complete reply; true when written.
async fn reply(s: &mut TcpStream, status: &str, ctype: &str, body: &str) -> bool {
    let r = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nx-bkapi-request-id: 11111111-2222-3333-4444-555555555555\r\n\r\n{body}",
        body.len()
    );
    s.write_all(r.as_bytes()).await.is_ok()
}

/// Close with RST instead of FIN.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

/// Keep the connection open (the peer gives up first).
async fn hold(mut s: TcpStream) {
    let mut sink = [0u8; 1024];
    while let Ok(n) = s.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

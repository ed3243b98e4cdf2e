//! Test harness, the one home of test helpers: a recording mock upstream gateway (a
//! panic in its behaviour fails the test), an in-process shim on 127.0.0.1:0 (stopped
//! when dropped), a shim process for signal tests, and a small request builder
//! (`shim.post(PATH).json(&body).header(k, v).send().await`).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::type_complexity
)]

use bk_job_shim::app::{self, ConfigSource, Running};
use bk_job_shim::config::Config;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// One request the mock upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
}

/// How the mock answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Status, JSON body, extra headers.
    Reply(u16, String, Vec<(String, String)>),
    /// Wait, then behave.
    Delay(Duration, Box<Behavior>),
    /// Drop the connection without answering.
    Reset,
}

impl Behavior {
    pub fn ok(data: Value) -> Behavior {
        let body =
            serde_json::json!({"result": true, "code": 0, "data": data, "job_request_id": "jr"});
        Behavior::Reply(
            200,
            body.to_string(),
            vec![(
                "X-Bkapi-Request-ID".into(),
                "11111111-2222-3333-4444-555555555555".into(),
            )],
        )
    }
    pub fn status(status: u16, body: &str) -> Behavior {
        Behavior::Reply(status, body.to_owned(), vec![])
    }
}

/// A recording mock upstream on 127.0.0.1:0. A panic inside its behaviour (an
/// assertion on the request it received) is re-raised when the mock is dropped, or by
/// [`requests`](Self::requests), so that it fails the test instead of showing up as an
/// upstream error (`1306201`) at the client.
#[derive(Clone)]
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub recorded: Arc<Mutex<Vec<Recorded>>>,
    behavior: Arc<Mutex<Box<dyn Fn(&Recorded) -> Behavior + Send + Sync>>>,
    panicked: Arc<Mutex<Option<String>>>,
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.reraise();
        }
    }
}

impl MockUpstream {
    pub async fn start(behavior: Behavior) -> MockUpstream {
        Self::start_with(move |_| behavior.clone()).await
    }

    pub async fn start_with(
        f: impl Fn(&Recorded) -> Behavior + Send + Sync + 'static,
    ) -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mock = MockUpstream {
            addr,
            recorded: Arc::new(Mutex::new(Vec::new())),
            behavior: Arc::new(Mutex::new(Box::new(f))),
            panicked: Arc::new(Mutex::new(None)),
        };
        // The accept task holds the parts, not a `MockUpstream` (whose drop checks panics).
        let m = Answerer {
            recorded: mock.recorded.clone(),
            behavior: mock.behavior.clone(),
            panicked: mock.panicked.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let m = m.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let m = m.clone();
                        async move { m.answer(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        mock
    }

    pub fn set_behavior(&self, f: impl Fn(&Recorded) -> Behavior + Send + Sync + 'static) {
        *self.behavior.lock().unwrap() = Box::new(f);
    }

    /// Panic with the mock's own panic message, if its behaviour panicked.
    pub fn reraise(&self) {
        let p = self.panicked.lock().map(|mut p| p.take()).unwrap_or(None);
        if let Some(msg) = p {
            panic!("the mock upstream panicked: {msg}");
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.reraise();
        self.recorded.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/bk-job/prod", self.addr)
    }
}

/// The serving side of a [`MockUpstream`].
#[derive(Clone)]
struct Answerer {
    recorded: Arc<Mutex<Vec<Recorded>>>,
    behavior: Arc<Mutex<Box<dyn Fn(&Recorded) -> Behavior + Send + Sync>>>,
    panicked: Arc<Mutex<Option<String>>>,
}

impl Answerer {
    async fn answer(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let rec = Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
        };
        let behavior = {
            let f = self.behavior.lock().unwrap_or_else(|p| p.into_inner());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&rec)))
        };
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rec);
        let behavior = match behavior {
            Ok(b) => b,
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                *self.panicked.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
                Behavior::Reset
            }
        };
        let mut b = behavior;
        loop {
            match b {
                Behavior::Delay(d, next) => {
                    tokio::time::sleep(d).await;
                    b = *next;
                }
                Behavior::Reset => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "reset",
                    ));
                }
                Behavior::Reply(status, body, headers) => {
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    *r.status_mut() = StatusCode::from_u16(status).unwrap();
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    for (k, v) in headers {
                        r.headers_mut().insert(
                            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                            v.parse().unwrap(),
                        );
                    }
                    return Ok(r);
                }
            }
        }
    }
}

/// A config listening on ephemeral loopback ports, pointed at `upstream`.
pub fn test_config(upstream: &str) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.admin_listen = "127.0.0.1:0".parse().unwrap();
    c.upstream.url = upstream.to_owned();
    c.upstream.timeout = Duration::from_secs(5);
    c.server.shutdown_grace = Duration::from_secs(5);
    c
}

/// Start an in-process shim. Dropping the returned [`Running`] closes its listeners
/// (its stop channels close), so a failing test never leaves a shim behind; call
/// `shutdown().await` to drain explicitly.
pub async fn start_shim(config: Config) -> Running {
    app::start_with(config, ConfigSource::default())
        .await
        .unwrap()
}

/// A reply as the client sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Bytes,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
}

/// A request being built: `shim.post(PATH).json(&body).header(k, v).send().await`.
#[must_use = "a request does nothing until `send` is awaited"]
pub struct RequestBuilder {
    addr: SocketAddr,
    method: http::Method,
    path: String,
    body: Bytes,
    headers: Vec<(String, String)>,
}

impl RequestBuilder {
    pub fn new(addr: SocketAddr, method: &str, path: &str) -> RequestBuilder {
        RequestBuilder {
            addr,
            method: method.parse().unwrap(),
            path: path.to_owned(),
            body: Bytes::new(),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }

    /// A JSON body.
    pub fn json(self, body: &Value) -> RequestBuilder {
        self.body(body.to_string())
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> RequestBuilder {
        self.body = body.into();
        self
    }

    /// Set header `k` (replacing an earlier value).
    pub fn header(mut self, k: &str, v: &str) -> RequestBuilder {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub async fn send(self) -> Answer {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut req = Request::new(Full::new(self.body));
        *req.method_mut() = self.method;
        *req.uri_mut() = format!("http://{}{}", self.addr, self.path)
            .parse()
            .unwrap();
        for (k, v) in &self.headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let resp = client.request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let raw = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            raw,
        }
    }
}

/// Request builders on a running shim's API listener.
pub trait ShimClient {
    fn api_addr(&self) -> SocketAddr;
    fn post(&self, path: &str) -> RequestBuilder {
        RequestBuilder::new(self.api_addr(), "POST", path)
    }
    fn get(&self, path: &str) -> RequestBuilder {
        RequestBuilder::new(self.api_addr(), "GET", path)
    }
    fn request(&self, method: &str, path: &str) -> RequestBuilder {
        RequestBuilder::new(self.api_addr(), method, path)
    }
}

impl ShimClient for Running {
    fn api_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Send one request to `addr`.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut b = RequestBuilder::new(addr, method, path).body(body.to_owned());
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.send().await
}

/// POST a JSON body.
pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> Answer {
    send(addr, "POST", path, &body.to_string(), &[]).await
}

/// GET a path (admin endpoints).
pub async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let a = send(addr, "GET", path, "", &[]).await;
    (a.status, String::from_utf8_lossy(&a.raw).into_owned())
}

/// A loopback port with nothing listening.
pub fn refused_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// A shim process (`bk-job-shim serve`) with JSON logs captured.
pub struct ShimProcess {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub logs: Arc<Mutex<String>>,
}

impl ShimProcess {
    /// Start the binary with `config_path`, wait until it logs its addresses.
    pub async fn start(config_path: &std::path::Path, extra_env: &[(&str, &str)]) -> ShimProcess {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bk-job-shim"));
        cmd.args(["serve", "--log-format", "json", "--config"])
            .arg(config_path)
            .env(
                "RUST_LOG",
                std::env::var("SHIM_TEST_LOG").unwrap_or_else(|_| "trace".to_owned()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let l = logs.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["message"] == "bk-job-shim listening" {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send((
                                v["addr"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .parse::<SocketAddr>()
                                    .unwrap(),
                                v["admin_addr"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .parse::<SocketAddr>()
                                    .unwrap(),
                            ));
                        }
                    }
                }
                let mut l = l.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let (addr, admin_addr) = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("shim did not start in time")
            .expect("shim exited before listening");
        ShimProcess {
            child,
            addr,
            admin_addr,
            logs,
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().unwrap();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }
}

/// Write `text` to a fresh temporary file and return its path.
pub fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bk-job-shim-test-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

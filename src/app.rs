//! Starting, reloading and stopping the shim: binds the listeners, builds the runtime,
//! serves the admin endpoints.
//!
//! Admin listener routes:
//! * `GET /metrics`: Prometheus text exposition.
//! * `GET /healthz`, `GET /livez`: `ok` while the process runs.
//! * `GET /readyz`: `ok`, or 503 `draining` once shutdown began.
//! * `POST /-/reload`: re-read the configuration (loopback callers only), like SIGHUP.

use crate::config::{Config, ConfigErrors};
use crate::metrics::Metrics;
use crate::proxy::{Runtime, Shim};
use crate::server;
use crate::stub::{StubGateway, StubOptions};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

/// CLI flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--admin-listen`.
    pub admin_listen: Option<SocketAddr>,
    /// `--upstream`.
    pub upstream: Option<String>,
}

/// Where the configuration comes from; re-read on every reload.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// `--config FILE` (built-in defaults when `None`).
    pub path: Option<PathBuf>,
    /// CLI overrides.
    pub overrides: Overrides,
}

impl ConfigSource {
    /// File → `BK_JOB_SHIM_*` environment → CLI flags, validated.
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        let mut c = Config::load(self.path.as_deref(), std::env::vars())?;
        if let Some(l) = self.overrides.listen {
            c.server.listen = l;
        }
        if let Some(l) = self.overrides.admin_listen {
            c.server.admin_listen = l;
        }
        if let Some(u) = &self.overrides.upstream {
            c.upstream.url = u.clone();
        }
        let problems = c.problems();
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(ConfigErrors(problems))
        }
    }
}

/// A running shim.
pub struct Running {
    /// Bound API address.
    pub addr: SocketAddr,
    /// Bound admin address.
    pub admin_addr: SocketAddr,
    /// The shared shim.
    pub shim: Arc<Shim>,
    reloader: Arc<Reloader>,
    api_stop: watch::Sender<bool>,
    admin_stop: watch::Sender<bool>,
    api_task: JoinHandle<bool>,
    admin_task: JoinHandle<bool>,
}

/// Re-reads the configuration and swaps the runtime.
struct Reloader {
    shim: Arc<Shim>,
    source: ConfigSource,
    bound: (SocketAddr, SocketAddr),
    lock: Mutex<()>,
}

impl Reloader {
    async fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.lock.lock().await;
        let result = async {
            let config = self.source.load().map_err(|e| e.to_string())?;
            let old = self.shim.runtime();
            if config.server != old.config.server
                || config.log != old.config.log
                || config.legacy.job_cache_capacity != old.config.legacy.job_cache_capacity
                || config.legacy.job_cache_ttl != old.config.legacy.job_cache_ttl
            {
                tracing::warn!(
                    "[server], [log] and legacy.job_cache_* changed in the configuration; they take effect only after a restart (serving on {} and {})",
                    self.bound.0,
                    self.bound.1
                );
            }
            let rt = Runtime::build(
                config,
                self.shim.stub(),
                |k| std::env::var(k).ok(),
                Some(&old),
            )
            .await?;
            self.shim.swap_runtime(rt);
            Ok::<(), String>(())
        }
        .await;
        match &result {
            Ok(()) => tracing::info!("configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "configuration reload failed; keeping the previous configuration")
            }
        }
        self.shim.metrics.config_reload(result.is_ok());
        result
    }
}

/// Load the configuration from `source`, bind, and start serving.
pub async fn start(source: ConfigSource) -> Result<Running, String> {
    let config = source.load().map_err(|e| e.to_string())?;
    start_with(config, source).await
}

/// Start serving `config`; `source` is what reloads re-read.
pub async fn start_with(config: Config, source: ConfigSource) -> Result<Running, String> {
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    let stub = Arc::new(StubGateway::new(StubOptions::default()));
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let admin = TcpListener::bind(config.server.admin_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.admin_listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let admin_addr = admin.local_addr().map_err(|e| e.to_string())?;
    let limits = server::Limits {
        grace: config.server.shutdown_grace,
        header_read_timeout: config.server.header_read_timeout,
        max_connections: config.server.max_connections,
    };
    let runtime = Runtime::build(config, stub.clone(), |k| std::env::var(k).ok(), None).await?;
    if runtime.config.auth.mode == crate::config::AuthMode::App && !runtime.config.auth.jwt.required
    {
        tracing::warn!(
            "auth.mode = \"app\" without auth.jwt.required: callers' app codes and user names \
             are not verified and every call is signed with the shim's own credentials; \
             expose this shim only to trusted clients"
        );
    }
    tracing::info!(%addr, %admin_addr, upstream = %runtime.upstream.describe(), "bk-job-shim listening");
    let shim = Arc::new(Shim::new(runtime, metrics, stub));
    let reloader = Arc::new(Reloader {
        shim: shim.clone(),
        source,
        bound: (addr, admin_addr),
        lock: Mutex::new(()),
    });

    let (api_stop, api_rx) = watch::channel(false);
    let (admin_stop, admin_rx) = watch::channel(false);
    let s = shim.clone();
    let api_task = tokio::spawn(server::serve(
        listener,
        move |_peer, req: Request<Incoming>| s.clone().handle(req),
        api_rx,
        limits,
    ));
    let r = reloader.clone();
    let admin_task = tokio::spawn(server::serve(
        admin,
        move |peer, req| admin_handler(r.clone(), peer, req),
        admin_rx,
        limits,
    ));
    Ok(Running {
        addr,
        admin_addr,
        shim,
        reloader,
        api_stop,
        admin_stop,
        api_task,
        admin_task,
    })
}

impl Running {
    /// Re-read the configuration and swap it in (SIGHUP, `POST /-/reload`).
    pub async fn reload(&self) -> Result<(), String> {
        self.reloader.reload().await
    }

    /// Begin a graceful shutdown: readiness fails, the API listener closes, in-flight
    /// requests finish (within `server.shutdown_grace`), then the admin listener stops.
    /// Returns whether everything drained in time.
    pub async fn shutdown(self) -> bool {
        self.shim.set_draining();
        let _ = self.api_stop.send(true);
        let drained = self.api_task.await.unwrap_or(false);
        let _ = self.admin_stop.send(true);
        let admin = self.admin_task.await.unwrap_or(false);
        tracing::info!(drained, "bk-job-shim stopped");
        drained && admin
    }
}

fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

async fn admin_handler(
    reloader: Arc<Reloader>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    let shim = &reloader.shim;
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/metrics") => text(
            StatusCode::OK,
            shim.metrics.render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        ("GET", "/healthz" | "/livez") => text(StatusCode::OK, "ok\n", PLAIN),
        ("GET", "/readyz") if shim.is_draining() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n", PLAIN)
        }
        ("GET", "/readyz") => text(StatusCode::OK, "ok\n", PLAIN),
        ("POST", "/-/reload") if !peer.ip().to_canonical().is_loopback() => text(
            StatusCode::FORBIDDEN,
            "reload is allowed from loopback only\n",
            PLAIN,
        ),
        ("POST", "/-/reload") => match reloader.reload().await {
            Ok(()) => text(StatusCode::OK, "reloaded\n", PLAIN),
            Err(e) => text(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n"), PLAIN),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n", PLAIN),
    }
}

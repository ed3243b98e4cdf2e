//! Starting, reloading and stopping the shim: [`Settings`] → stack → listeners.
//!
//! The API is served on `server.worker_threads` cores (`crate::cores`), each with its own
//! listener, runtime and upstream pool; the admin listener, signals and reloads run on the
//! runtime that started the shim. Each core serves whatever stack is current for it: a
//! reload builds new stacks from the new settings (keeping the rate limiter and the
//! upstream clients when their sections did not change) and swaps them in atomically; a
//! request keeps the stack it started on, so in-flight requests finish on the old
//! configuration.

use crate::admin::{self, Admin};
use crate::config::{Config, ConfigErrors, Settings};
use crate::cores::{Cores, PerCore};
use crate::metrics::Metrics;
use crate::server::{self, Limits};
use crate::stack::{self, ApiService, Base, Runtime};
use crate::tls::TlsAcceptor;
use arc_swap::ArcSwap;
use hyper::body::Incoming;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tower::Service;

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

/// The stack serving now, with what built it.
struct Live {
    runtime: Runtime,
    stacks: PerCore<ApiService<Incoming>>,
}

/// The shim shared by the listeners and the reloader.
pub struct Shim {
    live: ArcSwap<Live>,
    base: Base,
    draining: AtomicBool,
    source: ConfigSource,
    bound: (SocketAddr, SocketAddr),
    reload_lock: Mutex<()>,
    /// The API listener's TLS acceptor (`[server.tls]`), its certificate reloadable.
    tls: Option<TlsAcceptor>,
}

/// A running shim.
pub struct Running {
    /// Bound API address.
    pub addr: SocketAddr,
    /// Bound admin address.
    pub admin_addr: SocketAddr,
    /// The shared shim.
    pub shim: Arc<Shim>,
    api_stop: watch::Sender<bool>,
    admin_stop: watch::Sender<bool>,
    api_task: JoinHandle<bool>,
    admin_task: JoinHandle<bool>,
}

impl Shim {
    /// The runtime new requests use.
    pub fn runtime(&self) -> Runtime {
        self.live.load().runtime.clone()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.base.metrics
    }

    /// Mark the shim as draining (readiness fails).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.base.metrics.set_draining(true);
    }

    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Re-read the configuration and swap in a new stack (SIGHUP, `POST /-/reload`).
    pub async fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let result = self.rebuild().await;
        match &result {
            Ok(()) => tracing::info!("configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "configuration reload failed; keeping the previous configuration")
            }
        }
        self.base.metrics.config_reload(result.is_ok());
        result
    }

    async fn rebuild(&self) -> Result<(), String> {
        let config = self.source.load().map_err(|e| e.to_string())?;
        let old = self.live.load_full();
        let was = &old.runtime.settings.config;
        let server_sans_tls = crate::config::ServerConfig {
            tls: was.server.tls.clone(),
            ..config.server.clone()
        };
        if server_sans_tls != was.server
            || config.log != was.log
            || config.legacy.job_cache_capacity != was.legacy.job_cache_capacity
            || config.legacy.job_cache_ttl != was.legacy.job_cache_ttl
            || (config.rate_limit.redis_url != was.rate_limit.redis_url
                || config.rate_limit.backend != was.rate_limit.backend)
        {
            tracing::warn!(
                "[server], [log], legacy.job_cache_* and the job memory's Redis (rate_limit.backend, redis_url) changed in the configuration; they take effect only after a restart (serving on {} and {})",
                self.bound.0,
                self.bound.1
            );
        }
        let settings = Settings::new(config).map_err(|e| e.to_string())?;
        let runtime = Runtime::new(
            settings,
            &self.base,
            |k| std::env::var(k).ok(),
            Some(&old.runtime),
        )
        .await?;
        match (&self.tls, config_tls(&runtime)) {
            // New handshakes get the new certificate; open connections keep theirs.
            (Some(acceptor), Some(tls)) => acceptor.reload(tls)?,
            (None, None) => {}
            _ => tracing::warn!(
                "server.tls was switched on or off: that takes effect only after a restart"
            ),
        }
        let stacks = stack::assemble_cores(&runtime, &self.base);
        self.live.store(Arc::new(Live { runtime, stacks }));
        Ok(())
    }
}

/// `[server.tls]` of `runtime` when TLS is on.
fn config_tls(runtime: &Runtime) -> Option<&crate::tls::ServerTls> {
    let tls = &runtime.settings.config.server.tls;
    tls.files().map(|_| tls)
}

impl Admin for Shim {
    fn metrics(&self) -> &Metrics {
        &self.base.metrics
    }
    fn draining(&self) -> &AtomicBool {
        &self.draining
    }
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(Shim::reload(self))
    }
}

/// The service of a core's API listener: the current stack of that core.
#[derive(Clone)]
struct Current {
    shim: Arc<Shim>,
    core: usize,
}

impl Service<http::Request<Incoming>> for Current {
    type Response = http::Response<stack::ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = tower::util::Oneshot<ApiService<Incoming>, http::Request<Incoming>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let stack = self.shim.live.load().stacks.get(self.core).clone();
        tower::ServiceExt::oneshot(stack, req)
    }
}

/// Load the configuration from `source`, bind, and start serving.
pub async fn start(source: ConfigSource) -> Result<Running, String> {
    let config = source.load().map_err(|e| e.to_string())?;
    start_with(config, source).await
}

/// Start serving `config`; `source` is what reloads re-read.
pub async fn start_with(config: Config, source: ConfigSource) -> Result<Running, String> {
    let settings = Settings::new(config).map_err(|e| e.to_string())?;
    let server = settings.config.server.clone();
    let base = Base::new(&settings);
    let listeners = crate::cores::bind(server.listen, base.cores)
        .map_err(|e| format!("cannot listen on {}: {e}", server.listen))?;
    let admin = TcpListener::bind(server.admin_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", server.admin_listen))?;
    let addr = listeners
        .first()
        .ok_or("no serving core")?
        .local_addr()
        .map_err(|e| e.to_string())?;
    let admin_addr = admin.local_addr().map_err(|e| e.to_string())?;
    let tls = TlsAcceptor::from_config(&server.tls)?;
    let runtime = Runtime::new(settings, &base, |k| std::env::var(k).ok(), None).await?;
    warn_unverified(&runtime);
    let upstream = crate::upstream::describe(&runtime.settings.target);
    let https = tls.is_some();
    let cores = base.cores;
    tracing::info!(%addr, %admin_addr, %upstream, https, cores, "bk-job-shim listening");
    let stacks = stack::assemble_cores(&runtime, &base);
    let shim = Arc::new(Shim {
        live: ArcSwap::from_pointee(Live { runtime, stacks }),
        base,
        draining: AtomicBool::new(false),
        source,
        bound: (addr, admin_addr),
        reload_lock: Mutex::new(()),
        tls: tls.clone(),
    });
    let limits = Limits::of(&server);
    let (api_stop, api_rx) = watch::channel(false);
    let (admin_stop, admin_rx) = watch::channel(false);
    let options = server::Options {
        tls,
        cutoff: Some(shim.base.cutoff.clone()),
        slots: Some(server::connection_slots(&limits)),
    };
    let api_shim = shim.clone();
    let api = Cores::spawn(listeners, move |core, listener| {
        let service = Current {
            shim: api_shim.clone(),
            core,
        };
        server::serve_with(
            listener,
            service,
            limits,
            stopped(api_rx.clone()),
            options.clone(),
        )
    })?;
    let api_task = tokio::spawn(api.join());
    let admin_task = tokio::spawn(server::serve(
        admin,
        admin::service(shim.clone()),
        limits,
        stopped(admin_rx),
    ));
    Ok(Running {
        addr,
        admin_addr,
        shim,
        api_stop,
        admin_stop,
        api_task,
        admin_task,
    })
}

fn warn_unverified(rt: &Runtime) {
    let auth = &rt.settings.config.auth;
    if auth.mode == crate::config::AuthMode::App && !auth.jwt.required {
        tracing::warn!(
            "auth.mode = \"app\" without auth.jwt.required: callers' app codes and user names \
             are not verified and every call is signed with the shim's own credentials; \
             expose this shim only to trusted clients"
        );
    }
}

/// Resolves once `rx` turns `true` (or its sender is gone).
pub async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Running {
    /// Re-read the configuration and swap it in (SIGHUP, `POST /-/reload`).
    pub async fn reload(&self) -> Result<(), String> {
        self.shim.reload().await
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

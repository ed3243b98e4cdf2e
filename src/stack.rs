//! The serving path as one tower stack, built here and only here.
//!
//! Outermost first (DESIGN §1, §8); each line says why it sits where it does:
//!
//! ```text
//! CatchPanic            a panic anywhere below becomes the legacy envelope (1306000)
//! LegacyEnvelope        every Failure / error below becomes the legacy reply, in `esb` or
//!                       `gateway` status mode: the one status mapping (crate::error)
//! SetRequestId          the incoming X-Request-Id when usable, else a minted one
//! SetSensitiveHeaders   inbound Authorization, X-Bkapi-Authorization, Cookie,
//!                       X-Bkapi-JWT are never printed by the layers below
//! Trace                 the request span and the one access-log line
//! PropagateRequestId    X-Request-Id on every reply (the envelope reads it)
//! Metrics               in-flight gauge, requests and durations — shed and late
//!                       requests included
//! (rescue)              tower's errors below (Overloaded, Elapsed) → Failure responses
//! Cutoff                the shutdown grace is over: in-flight requests are answered
//!                       1306201 "outcome unknown" instead of an empty reply
//! LoadShed              over server.max_in_flight: answered at once 1306429 "busy"
//! GlobalConcurrencyLimit (HTTP 503 + Retry-After in gateway mode), never queued; its
//!                       places shared by the stacks of all cores
//! Timeout               server.request_timeout over everything below, every upstream
//!                       call of the request included → 1306201
//! Jwt                   auth.jwt.required: no valid token, no body read
//! LegacyBody            route, method, body size and time limits, JSON/query parse
//! Identify              credentials, verified identity, app-code shape, allow-list
//! RateLimit             per-app quota, X-Bkapi-RateLimit-* on every reply
//! Translate             legacy → first v3 request (pure), callback allow-list
//! InjectAuth            what X-Bkapi-Authorization will carry
//! Routes                drive the upstream calls, answer the legacy reply
//!   → Upstream          a tower::Service: hyper-util client + timeout + connect retry
//! ```
//!
//! Each serving core has its own stack (`crate::cores`), differing only in the upstream
//! pool it uses; limits of the process (`server.max_in_flight`, `max_large_bodies`) are
//! places shared by all of them ([`Places`]).
//!
//! [`build`] makes the whole stack from [`Settings`] alone, for in-process tests
//! (`stack::build(&settings).await?.oneshot(request)`); the server assembles it from
//! longer-lived parts ([`Base`], [`Runtime`]) so that a reload keeps warm connections,
//! rate-limit state and the job memory.

use crate::auth::AppIdentity;
use crate::config::Settings;
use crate::cores::PerCore;
use crate::jobcache::JobCache;
use crate::jwt::JwtVerifier;
use crate::layer::cutoff::CutoffLayer;
use crate::layer::envelope::{self, EnvelopeLayer, PanicReply};
use crate::layer::identify::IdentifyLayer;
use crate::layer::inject_auth::InjectAuthLayer;
use crate::layer::jwt::JwtLayer;
use crate::layer::legacy_body::LegacyBodyLayer;
use crate::layer::metrics::MetricsLayer;
use crate::layer::ratelimit::RateLimitLayer;
use crate::layer::request_id::{self, MintRequestId, X_REQUEST_ID};
use crate::layer::translate::TranslateLayer;
use crate::layer::{BoxError, trace};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::route::{Routes, Shared};
use crate::translate::Options;
use crate::upstream::{self, UpstreamService};
use bytes::Bytes;
use http::{HeaderName, Request, Response, header};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::BoxCloneSyncService;
use tower_http::body::UnsyncBoxBody;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

/// The body of every reply.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The whole stack: any request body in, a legacy reply out, never an error.
pub type ApiService<B> = BoxCloneSyncService<Request<B>, Response<ResponseBody>, Infallible>;

/// What lives as long as the process: metrics, the job memory, the emulator, the number
/// of cores serving the API.
#[derive(Clone)]
pub struct Base {
    /// Threads serving the API, each on its own runtime with its own listener and its own
    /// upstream pool (`server.worker_threads`, fixed at start; `crate::cores`).
    pub cores: usize,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Jobs started through the shim.
    pub jobs: Arc<JobCache>,
    /// Turned `true` when the shutdown grace ends: requests still in flight are answered
    /// at once (`crate::layer::cutoff`).
    pub cutoff: Arc<tokio::sync::watch::Sender<bool>>,
    /// The emulator behind `upstream.url = "stub"`.
    #[cfg(feature = "stub")]
    pub stub: upstream::stub::Stub,
}

impl Base {
    /// Fresh process-wide parts for `settings`.
    pub fn new(settings: &Settings) -> Base {
        let c = &settings.config;
        Base {
            cores: crate::cores::count(c.server.worker_threads),
            metrics: Arc::new(Metrics::new(env!("CARGO_PKG_VERSION"))),
            // Shared through Redis once a runtime hands it the limiter's connection.
            cutoff: Arc::new(tokio::sync::watch::Sender::new(false)),
            jobs: Arc::new(JobCache::new(
                c.legacy.job_cache_capacity,
                c.legacy.job_cache_ttl,
                None,
            )),
            #[cfg(feature = "stub")]
            stub: upstream::stub::Stub(Arc::new(crate::stub::StubGateway::new(
                crate::stub::StubOptions::default(),
            ))),
        }
    }
}

/// What one configuration needs beyond its settings; rebuilt on reload.
#[derive(Clone)]
pub struct Runtime {
    /// The validated settings.
    pub settings: Arc<Settings>,
    /// Per-app limiter.
    pub limiter: RateLimiter,
    /// Where requests go: one upstream per core ([`Base::cores`]), so a request uses
    /// pooled connections driven by its own core's runtime.
    pub upstreams: Arc<PerCore<UpstreamService>>,
    /// Digest of the `[upstream.tls]` files the upstream client was built from: a reload
    /// rebuilds the client when a CA bundle or client certificate changed on disk.
    pub upstream_files: u64,
    /// The shim's own app identity (`auth.mode = "app"`).
    pub app: AppIdentity,
    /// Inbound JWT verification (`auth.jwt.required`).
    pub jwt: Option<JwtVerifier>,
    /// The places of `server.max_in_flight` and of `server.max_large_bodies`, shared by
    /// the stacks of all cores (limits of the process, not of a core).
    pub places: Places,
}

/// Limits of the whole process that the stacks of the cores share.
#[derive(Clone)]
pub struct Places {
    /// Requests processed at once (`server.max_in_flight`).
    pub in_flight: Arc<Semaphore>,
    /// Large bodies buffered at once (`server.max_large_bodies`, at least one).
    pub large_bodies: Arc<Semaphore>,
}

impl Places {
    /// Fresh places for `server`.
    pub fn of(server: &crate::config::ServerConfig) -> Places {
        Places {
            in_flight: Arc::new(Semaphore::new(server.max_in_flight)),
            large_bodies: Arc::new(Semaphore::new(server.max_large_bodies.max(1))),
        }
    }
}

impl Runtime {
    /// Build the runtime of `settings`. `env` reads environment variables (the app
    /// secret). `previous` is the runtime being replaced on reload: its limiter is kept
    /// when `[rate_limit]` did not change (a reload must not hand every app a fresh
    /// burst), and its upstream clients when `[upstream]` did not.
    pub async fn new(
        settings: Settings,
        base: &Base,
        env: impl Fn(&str) -> Option<String>,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, String> {
        let c = &settings.config;
        let app = AppIdentity::load(&c.auth, env)?;
        let jwt = JwtVerifier::from_config(&c.auth.jwt)?;
        let limiter = match previous {
            Some(p) if p.settings.config.rate_limit == c.rate_limit => p.limiter.clone(),
            _ => limiter(&c.rate_limit, previous.map(|p| &p.limiter)).await?,
        };
        // One Redis connection for the limiter and the job cache: a reload that changes
        // the Redis settings moves both.
        base.jobs.set_redis(limiter.redis_conn().cloned());
        // Keep the pooled clients (and their warm connections) unless `[upstream]` or one
        // of its TLS files changed; new clients are swapped in whole with the runtime.
        let upstream_files = c.upstream.tls.files_digest();
        let upstreams = match previous {
            Some(p)
                if p.settings.config.upstream == c.upstream
                    && p.upstream_files == upstream_files =>
            {
                p.upstreams.clone()
            }
            _ => Arc::new(PerCore::build(base.cores, |_| {
                upstream::build(
                    &settings,
                    #[cfg(feature = "stub")]
                    &base.stub,
                )
            })?),
        };
        Ok(Runtime {
            places: Places::of(&settings.config.server),
            settings: Arc::new(settings),
            limiter,
            upstreams,
            upstream_files,
            app,
            jwt,
        })
    }
}

/// The limiter of `[rate_limit]`; on Redis, over the connection of `previous` when the
/// Redis settings did not change (its counters and circuit breaker carry over).
async fn limiter(
    rl: &crate::ratelimit::RateLimitConfig,
    previous: Option<&RateLimiter>,
) -> Result<RateLimiter, String> {
    let built = match rl.backend {
        crate::ratelimit::Backend::Redis => {
            let conn = crate::redis_conn::RedisConn::reuse_or_connect(
                &rl.redis_settings(),
                &crate::redis_conn::RedisOptions::default(),
                previous.and_then(|p| p.redis_conn()),
            )
            .map_err(|e| format!("rate limiter: {e}"))?;
            RateLimiter::with_redis(rl, Default::default(), conn).await
        }
        crate::ratelimit::Backend::Local => RateLimiter::new(rl).await,
    };
    built.map_err(|e| format!("rate limiter: {e}"))
}

/// The whole stack for `settings` with fresh parts (the process environment supplies
/// the app secret): for in-process tests, without binding any port.
pub async fn build<B>(settings: &Settings) -> Result<ApiService<B>, String>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let base = Base::new(settings);
    let rt = Runtime::new(settings.clone(), &base, |k| std::env::var(k).ok(), None).await?;
    Ok(assemble(&rt, &base, 0))
}

/// The stacks over `rt` and `base`, one per core ([`Base::cores`]).
pub fn assemble_cores<B>(rt: &Runtime, base: &Base) -> PerCore<ApiService<B>>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    PerCore::from_fn(rt.upstreams.len(), |core| assemble(rt, base, core))
}

/// The stack over `rt` and `base` for `core` (whose upstream pool it uses), in the order
/// of the module doc.
pub fn assemble<B>(rt: &Runtime, base: &Base, core: usize) -> ApiService<B>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let c = &rt.settings.config;
    let upstream = rt.upstreams.get(core).clone();
    let mode = c.legacy.error_status;
    let deadline = c.server.request_timeout;
    let x_request_id = HeaderName::from_static(X_REQUEST_ID);
    let routes = Routes::new(Shared {
        upstream,
        fixed_headers: rt.settings.upstream_headers.clone().into(),
        metrics: base.metrics.clone(),
        jobs: base.jobs.clone(),
        tz: rt.settings.tz,
    });
    let identify = IdentifyLayer::new(&c.auth.allowed_apps, rt.settings.app_labels.clone())
        .with_no_user(c.auth.jwt.no_user);
    let svc = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(PanicReply(mode)))
        .layer(EnvelopeLayer::new(mode, deadline))
        .map_request(request_id::drop_unusable)
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MintRequestId))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static(crate::auth::AUTHORIZATION_HEADER),
            header::COOKIE,
            HeaderName::from_static(crate::jwt::JWT_HEADER),
        ]))
        .layer(trace::layer(mode))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(MetricsLayer::new(base.metrics.clone(), mode))
        .map_result(envelope::rescue(deadline))
        .layer(CutoffLayer::new(base.cutoff.subscribe()))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(
            rt.places.in_flight.clone(),
        ))
        .timeout(deadline)
        .layer(JwtLayer::new(rt.jwt.clone()))
        .layer(legacy_body(rt, &base.metrics).with_gate(identify.clone()))
        .layer(identify)
        .layer(RateLimitLayer::new(
            rt.limiter.clone(),
            base.metrics.clone(),
        ))
        .layer(translate(rt, &base.metrics))
        .layer(InjectAuthLayer::new(c.auth.clone(), rt.app.clone()))
        .service(routes);
    BoxCloneSyncService::new(svc)
}

/// The legacy-body layer of `rt`: size and time limits, the JSON budget.
fn legacy_body(rt: &Runtime, metrics: &Arc<Metrics>) -> LegacyBodyLayer {
    let c = &rt.settings.config;
    LegacyBodyLayer::new(
        c.server.max_body_bytes,
        c.server.body_read_timeout,
        metrics.clone(),
    )
    .with_budget(
        crate::budget::Budget {
            max_array_len: c.server.max_hosts,
            ..crate::budget::Budget::default()
        },
        c.server.max_large_bodies,
        rt.places.large_bodies.clone(),
    )
}

/// The translate layer of `rt`'s settings.
fn translate(rt: &Runtime, metrics: &Arc<Metrics>) -> TranslateLayer {
    let c = &rt.settings.config;
    TranslateLayer::new(
        Options {
            steps: c.legacy.steps,
            calls: crate::translate::calls::CallOptions {
                tz: rt.settings.tz,
                max_rows: c.paging.max_rows,
                page_len: c.paging.page_length,
            },
            routes: c.routes,
        },
        &c.auth.callback_hosts,
        metrics.clone(),
    )
    .with_callback_ports(&c.auth.callback_ports)
}

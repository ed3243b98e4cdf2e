//! Per-app rate limiting (DESIGN §5): local GCRA (`governor`) or cluster-wide on Redis.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(cfg: &bk_job_shim::ratelimit::RateLimitConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use bk_job_shim::ratelimit::RateLimiter;
//!
//! let limiter = RateLimiter::new(cfg).await?; // cheap to clone (an `Arc` inside)
//! let decision = limiter.check("some_app").await;
//! let mut headers = http::HeaderMap::new();
//! decision.insert_headers(&mut headers); // on allowed *and* rejected responses
//! if !decision.allowed {
//!     // answer 1306429; `decision.retry_after_secs` feeds `Retry-After` in gateway mode
//! }
//! if decision.degraded {
//!     // the backend failed and `fail_open` decided: count it in a metric
//! }
//! # Ok(()) }
//! ```
//!
//! The caller checks the app allow-list *before* calling [`RateLimiter::check`]; the
//! limiter keys on whatever app code it is given.
//!
//! # Semantics
//!
//! `rates.__default` applies to every app without its own entry; an app entry replaces
//! `__default` for that app (it is not added to it). An app may have several windows
//! (`{period, tokens}`): a request is admitted only if **every** window admits it, and a
//! window that would admit is not charged when another one rejects (unlike the gateway's
//! `bk-rate-limit`, which charges earlier windows before a later one rejects). The
//! headers describe the most restrictive window: the lowest `remaining` (ties: the
//! longest `reset`); on a rejection, a window that rejected.
//!
//! * **`local`** — GCRA per window (`governor`), per process: a burst of up to `tokens`,
//!   refilled smoothly at `tokens / period`. `Reset` is the number of seconds until the
//!   window is full again (ceil); `Retry-After` the seconds until one more request fits.
//!   Windows are checked under a per-app lock: every window is *probed* (no token taken),
//!   and only when all admit is each one charged.
//! * **`redis`** — a fixed window per `{period, tokens}`, shared by every replica, as the
//!   gateway's `bk-rate-limit`: the first request of a window does
//!   `SET key tokens-1 EX period`, later ones `DECR`; one Lua script checks every window
//!   of the app and decrements only if all admit, atomically. `Reset` is the key's TTL
//!   (ceil, seconds); `Retry-After` the TTL of the rejecting window. Keys are
//!   `bk-job-shim:rl:{<app_code>}:<period>:<tokens>` (the braces are a Redis Cluster hash
//!   tag, so every window of an app lives in one slot), with no config version in them:
//!   after a reload a window whose `{period, tokens}` did not change keeps counting, and a
//!   changed window starts a fresh counter. Each call has a timeout
//!   ([`Options::redis_timeout`], 200 ms). On any Redis error or timeout the decision is
//!   `degraded`: admitted when `fail_open = true`, rejected otherwise
//!   (see [`Decision::degraded`]). Redis need not be up at start: the connection is made
//!   lazily and re-made after failures (`redis::aio::ConnectionManager`).
//!
//! # Reload
//!
//! Build a new [`RateLimiter`] from the new config and swap it in atomically (e.g. an
//! `ArcSwap<RateLimiter>`). Local counters start afresh with the new limiter; Redis
//! counters of unchanged windows carry over (see above). The old limiter's housekeeping
//! task stops when its last clone is dropped.
//!
//! # Eviction (local backend)
//!
//! Apps with their own `rates` entry have fixed state: one counter per window, made at
//! start. Apps that fall under `__default` get an entry per window in a concurrent map
//! (`dashmap`) the first time they are admitted, so a flood of distinct app codes could
//! grow it. Two mechanisms bound it. **Housekeeping**: a tokio task owned by the limiter
//! runs every [`Options::housekeeping_interval`] (10 s) and calls governor's
//! `retain_recent()` and `shrink_to_fit()`, which drop every app whose bucket has fully
//! refilled (an app idle for one `period` is indistinguishable from a new one, so
//! nothing is lost by forgetting it); the task ends when the limiter is dropped, e.g.
//! after a reload. **Hard cap**: a map never holds more than
//! [`Options::max_tracked_apps`] (10,000) apps; while it is full, further new app codes
//! share one overflow bucket with the `__default` quota (they are limited together, so
//! a flood of random codes cannot escape the limit either) until housekeeping frees
//! room. So memory stays bounded by the cap (about 100 bytes per app and window), and
//! falls back once the codes stop coming. [`RateLimiter::tracked_apps`] and
//! [`RateLimiter::overflowed`] expose both for metrics. With `auth.allowed_apps` set,
//! unknown codes are refused before the limiter and never create state.

mod local;
mod redis;

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One window: at most `tokens` requests per `period` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Window length in seconds (≥ 1).
    pub period: u64,
    /// Requests admitted per window (≥ 1).
    pub tokens: u64,
}

/// Which store holds the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In-process GCRA, per replica.
    #[default]
    Local,
    /// Redis, shared by every replica.
    Redis,
}

/// `[rate_limit]` section. Its `Debug` hides Redis passwords (see `redis_conn::settings`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `local` or `redis`.
    pub backend: Backend,
    /// Redis URL for the `redis` backend (standalone; with Sentinel: the master's
    /// credentials, database and TLS).
    pub redis_url: String,
    /// `[rate_limit.redis_tls]`: CA bundle and client certificate for `rediss://`.
    pub redis_tls: crate::redis_conn::RedisTlsConfig,
    /// Sentinel URLs; with them, the master is found through Sentinel.
    pub redis_sentinels: Vec<String>,
    /// The Sentinel service (master) name.
    pub redis_master_name: String,
    /// Seed nodes of a Redis Cluster; with them, the backend uses Redis Cluster.
    pub redis_cluster_nodes: Vec<String>,
    /// First part of every Redis key (shims with different prefixes share one Redis
    /// without sharing counters).
    pub redis_prefix: String,
    /// Admit requests when Redis fails.
    pub fail_open: bool,
    /// `__default` and per-app windows.
    pub rates: BTreeMap<String, Vec<Rate>>,
}

impl RateLimitConfig {
    /// The Redis connection settings of this section.
    pub fn redis_settings(&self) -> crate::redis_conn::RedisSettings {
        crate::redis_conn::RedisSettings {
            url: self.redis_url.clone(),
            tls: self.redis_tls.clone(),
            sentinels: self.redis_sentinels.clone(),
            master_name: self.redis_master_name.clone(),
            cluster_nodes: self.redis_cluster_nodes.clone(),
            prefix: self.redis_prefix.clone(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_tls: crate::redis_conn::RedisTlsConfig::default(),
            redis_sentinels: Vec::new(),
            redis_master_name: String::new(),
            redis_cluster_nodes: Vec::new(),
            redis_prefix: crate::redis_conn::settings::DEFAULT_PREFIX.to_owned(),
            fail_open: true,
            rates: BTreeMap::from([(
                DEFAULT_APP.to_owned(),
                vec![Rate {
                    period: 1,
                    tokens: 100,
                }],
            )]),
        }
    }
}

/// Key of `rates` that applies to apps without their own entry.
pub const DEFAULT_APP: &str = "__default";

/// Header: `tokens` of the reported window.
pub const HEADER_LIMIT: &str = "x-bkapi-ratelimit-limit";
/// Header: requests left in the reported window.
pub const HEADER_REMAINING: &str = "x-bkapi-ratelimit-remaining";
/// Header: seconds until the reported window is full again.
pub const HEADER_RESET: &str = "x-bkapi-ratelimit-reset";
/// Header: which limiter decided ([`PLUGIN_LOCAL`] or [`PLUGIN_REDIS`]).
pub const HEADER_PLUGIN: &str = "x-bkapi-ratelimit-plugin";

/// `X-Bkapi-RateLimit-Plugin` value of the local backend. Distinct from the gateway's
/// own `bk-stage-rate-limit` / `bk-resource-rate-limit`, so a client (or an operator
/// reading a trace) can tell the shim's limit from the gateway's.
pub const PLUGIN_LOCAL: &str = "bk-job-shim-local";
/// `X-Bkapi-RateLimit-Plugin` value of the Redis backend.
pub const PLUGIN_REDIS: &str = "bk-job-shim-redis";

/// Tunables that are not part of the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Longest wait for one Redis call (connection included) before the request is
    /// decided by `fail_open`. Default 200 ms.
    pub redis_timeout: Duration,
    /// How often the local backend forgets apps whose buckets are full again.
    /// Default 10 s.
    pub housekeeping_interval: Duration,
    /// Most apps tracked per `__default` window by the local backend; beyond it new apps
    /// share one overflow bucket. Default 10,000.
    pub max_tracked_apps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            redis_timeout: Duration::from_millis(200),
            housekeeping_interval: Duration::from_secs(10),
            max_tracked_apps: 10_000,
        }
    }
}

/// Why a [`RateLimiter`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// `rates.__default` is missing.
    #[error("rate_limit.rates.__default is required")]
    MissingDefault,
    /// An app has an empty list of windows.
    #[error("rate_limit.rates.{app}: at least one {{period, tokens}} is required")]
    NoWindows {
        /// App code (or `__default`).
        app: String,
    },
    /// A window is out of range.
    #[error(
        "rate_limit.rates.{app}: invalid window period={period} tokens={tokens} \
         (need period ≥ 1, 1 ≤ tokens ≤ 4294967295 and tokens ≤ period × 10⁹)"
    )]
    InvalidRate {
        /// App code (or `__default`).
        app: String,
        /// Configured period.
        period: u64,
        /// Configured tokens.
        tokens: u64,
    },
    /// The Redis settings can never work (the message names the key, never a password).
    #[error("{0}")]
    Redis(#[from] crate::redis_conn::SettingsError),
}

/// The outcome of one [`RateLimiter::check`], with what the response headers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Forward the request (`false`: answer 1306429).
    pub allowed: bool,
    /// `tokens` of the reported window.
    pub limit: u64,
    /// Requests left in the reported window after this one.
    pub remaining: u64,
    /// Seconds until the reported window is full again (local) or ends (Redis).
    pub reset_secs: u64,
    /// On a rejection, seconds until a request may be admitted (≥ 1), for `Retry-After`.
    pub retry_after_secs: Option<u64>,
    /// The backend failed (Redis error or timeout) and `fail_open` decided `allowed`.
    /// Then `limit` is the smallest window's `tokens`, `remaining` is `limit` when
    /// failing open and 0 when failing closed, `reset_secs` is that window's period, and
    /// a fail-closed rejection suggests `Retry-After: 1`.
    pub degraded: bool,
    /// `X-Bkapi-RateLimit-Plugin` value ([`PLUGIN_LOCAL`] or [`PLUGIN_REDIS`]).
    pub plugin: &'static str,
}

impl Decision {
    /// The four `X-Bkapi-RateLimit-*` headers, names in lower case (as hyper sends them,
    /// and as `http::HeaderName::from_static` requires).
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_LIMIT, self.limit.to_string()),
            (HEADER_REMAINING, self.remaining.to_string()),
            (HEADER_RESET, self.reset_secs.to_string()),
            (HEADER_PLUGIN, self.plugin.to_owned()),
        ]
    }

    /// Sets the four `X-Bkapi-RateLimit-*` headers on `headers`, replacing any the
    /// upstream sent. `Retry-After` is left to the caller (gateway mode only).
    pub fn insert_headers(&self, headers: &mut http::HeaderMap) {
        use http::header::{HeaderName, HeaderValue};
        headers.insert(
            HeaderName::from_static(HEADER_LIMIT),
            HeaderValue::from(self.limit),
        );
        headers.insert(
            HeaderName::from_static(HEADER_REMAINING),
            HeaderValue::from(self.remaining),
        );
        headers.insert(
            HeaderName::from_static(HEADER_RESET),
            HeaderValue::from(self.reset_secs),
        );
        headers.insert(
            HeaderName::from_static(HEADER_PLUGIN),
            HeaderValue::from_static(self.plugin),
        );
    }

    /// The decision when the backend failed.
    fn on_backend_error(plugin: &'static str, fail_open: bool, windows: &[Rate]) -> Self {
        let w = windows
            .iter()
            .min_by_key(|r| r.tokens)
            .copied()
            .unwrap_or(Rate {
                period: 1,
                tokens: 1,
            });
        Self {
            allowed: fail_open,
            limit: w.tokens,
            remaining: if fail_open { w.tokens } else { 0 },
            reset_secs: w.period,
            retry_after_secs: if fail_open { None } else { Some(1) },
            degraded: true,
            plugin,
        }
    }
}

/// What one window says about one request.
#[derive(Debug, Clone, Copy)]
struct WindowOutcome {
    allowed: bool,
    limit: u64,
    remaining: u64,
    reset_secs: u64,
    /// Seconds until this window admits again (only meaningful when rejected).
    retry_after_secs: u64,
}

impl Decision {
    /// Folds the windows of one check into one decision (see the module docs).
    fn combine(plugin: &'static str, outcomes: &[WindowOutcome]) -> Self {
        let allowed = outcomes.iter().all(|o| o.allowed);
        let mut best: Option<WindowOutcome> = None;
        let mut retry_after = 0;
        for o in outcomes.iter().filter(|o| allowed || !o.allowed) {
            retry_after = retry_after.max(o.retry_after_secs);
            let better = match best {
                None => true,
                Some(b) => {
                    (o.remaining, std::cmp::Reverse(o.reset_secs))
                        < (b.remaining, std::cmp::Reverse(b.reset_secs))
                }
            };
            if better {
                best = Some(*o);
            }
        }
        let best = best.unwrap_or(WindowOutcome {
            allowed,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: 0,
        });
        Self {
            allowed,
            limit: best.limit,
            remaining: if allowed { best.remaining } else { 0 },
            reset_secs: best.reset_secs,
            retry_after_secs: (!allowed).then_some(retry_after.max(1)),
            degraded: false,
            plugin,
        }
    }
}

/// Seconds in `d`, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A window the limiters can represent: `period ≥ 1`, `1 ≤ tokens ≤ u32::MAX` and at most
/// one token per nanosecond.
fn window_ok(r: &Rate) -> bool {
    r.period >= 1
        && r.tokens >= 1
        && r.tokens <= u64::from(u32::MAX)
        && u128::from(r.tokens) <= u128::from(r.period) * 1_000_000_000
}

/// Every problem of a `rates` table (for `check-config`), in the words of
/// [`RateLimitError`]: the same rules [`RateLimiter::new`] enforces.
pub fn rates_problems(rates: &BTreeMap<String, Vec<Rate>>) -> Vec<String> {
    let mut out = Vec::new();
    if !rates.contains_key(DEFAULT_APP) {
        out.push(RateLimitError::MissingDefault.to_string());
    }
    for (app, windows) in rates {
        if windows.is_empty() {
            out.push(RateLimitError::NoWindows { app: app.clone() }.to_string());
        }
        for r in windows.iter().filter(|r| !window_ok(r)) {
            out.push(
                RateLimitError::InvalidRate {
                    app: app.clone(),
                    period: r.period,
                    tokens: r.tokens,
                }
                .to_string(),
            );
        }
    }
    out
}

/// Validated `rates`: the `__default` windows and the per-app ones.
#[derive(Debug, Clone)]
struct Plan {
    default: Vec<Rate>,
    apps: HashMap<String, Vec<Rate>>,
}

impl Plan {
    fn new(rates: &BTreeMap<String, Vec<Rate>>) -> Result<Self, RateLimitError> {
        for (app, windows) in rates {
            if windows.is_empty() {
                return Err(RateLimitError::NoWindows { app: app.clone() });
            }
            for r in windows {
                if !window_ok(r) {
                    return Err(RateLimitError::InvalidRate {
                        app: app.clone(),
                        period: r.period,
                        tokens: r.tokens,
                    });
                }
            }
        }
        let default = rates
            .get(DEFAULT_APP)
            .cloned()
            .ok_or(RateLimitError::MissingDefault)?;
        let apps = rates
            .iter()
            .filter(|(app, _)| app.as_str() != DEFAULT_APP)
            .map(|(app, w)| (app.clone(), w.clone()))
            .collect();
        Ok(Self { default, apps })
    }
}

/// Per-app rate limiter over the configured backend. Cheap to clone (an `Arc` inside);
/// rebuild it on config reload and swap it in (see the module docs).
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    /// The local backend's housekeeping task, stopped when the limiter is dropped.
    housekeeper: Option<tokio::task::AbortHandle>,
}

enum Kind {
    Local(Arc<local::LocalLimiter>),
    Redis(redis::RedisLimiter),
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = &self.housekeeper {
            h.abort();
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("backend", &self.backend_name())
            .field("tracked_apps", &self.tracked_apps())
            .field("redis_failures", &self.redis_failures())
            .finish()
    }
}

impl RateLimiter {
    /// Builds the limiter for `cfg` with default [`Options`]. For Redis, no connection
    /// is required: if Redis is down, requests are decided by `fail_open` until it is
    /// back. Fails only on an invalid `rates` table or `redis_url`.
    ///
    /// Must run inside a tokio runtime (it spawns the housekeeping task, or the Redis
    /// connection task).
    pub async fn new(cfg: &RateLimitConfig) -> Result<Self, RateLimitError> {
        Self::with_options(cfg, Options::default()).await
    }

    /// [`RateLimiter::new`] with explicit [`Options`].
    pub async fn with_options(
        cfg: &RateLimitConfig,
        opts: Options,
    ) -> Result<Self, RateLimitError> {
        Self::build(cfg, opts, None).await
    }

    /// The limiter for `cfg` over the shim's shared Redis connection `conn` (the one the
    /// job cache uses too); `conn` replaces the connection settings of `cfg`. For the
    /// local backend `conn` is not used.
    pub async fn with_redis(
        cfg: &RateLimitConfig,
        opts: Options,
        conn: crate::redis_conn::RedisConn,
    ) -> Result<Self, RateLimitError> {
        Self::build(cfg, opts, Some(conn)).await
    }

    async fn build(
        cfg: &RateLimitConfig,
        opts: Options,
        shared: Option<crate::redis_conn::RedisConn>,
    ) -> Result<Self, RateLimitError> {
        let plan = Plan::new(&cfg.rates)?;
        let inner = match cfg.backend {
            Backend::Local => {
                let local = Arc::new(local::LocalLimiter::new(&plan, opts.max_tracked_apps));
                let housekeeper = tokio::runtime::Handle::try_current().ok().map(|rt| {
                    let weak = Arc::downgrade(&local);
                    let every = opts.housekeeping_interval.max(Duration::from_millis(1));
                    // Counted from now, not from the task's first poll.
                    let first = tokio::time::Instant::now() + every;
                    rt.spawn(async move {
                        let mut tick = tokio::time::interval_at(first, every);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            tick.tick().await;
                            match weak.upgrade() {
                                Some(limiter) => limiter.housekeep(),
                                None => break,
                            }
                        }
                    })
                    .abort_handle()
                });
                Inner {
                    kind: Kind::Local(local),
                    housekeeper,
                }
            }
            Backend::Redis => Inner {
                kind: Kind::Redis({
                    let conn = match shared {
                        Some(conn) => conn,
                        None => crate::redis_conn::RedisConn::connect(
                            &cfg.redis_settings(),
                            &crate::redis_conn::RedisOptions {
                                timeout: opts.redis_timeout,
                                ..Default::default()
                            },
                        )?,
                    };
                    redis::RedisLimiter::new(conn, cfg.fail_open, plan).await
                }),
                housekeeper: None,
            },
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Decides one request of `app_code` and charges it if admitted. Never fails: a
    /// backend error gives a [`Decision`] with `degraded = true`.
    pub async fn check(&self, app_code: &str) -> Decision {
        match &self.inner.kind {
            Kind::Local(l) => l.check(app_code),
            Kind::Redis(r) => r.check(app_code).await,
        }
    }

    /// `"local"` or `"redis"` (for logs and metric labels).
    pub fn backend_name(&self) -> &'static str {
        match &self.inner.kind {
            Kind::Local(_) => "local",
            Kind::Redis(_) => "redis",
        }
    }

    /// The `X-Bkapi-RateLimit-Plugin` value this limiter reports.
    pub fn plugin_name(&self) -> &'static str {
        match &self.inner.kind {
            Kind::Local(_) => PLUGIN_LOCAL,
            Kind::Redis(_) => PLUGIN_REDIS,
        }
    }

    /// Redis calls that failed or timed out since this limiter was built (each one gave
    /// a `degraded` decision). Always 0 for the local backend.
    pub fn redis_failures(&self) -> u64 {
        match &self.inner.kind {
            Kind::Local(_) => 0,
            Kind::Redis(r) => r.failures(),
        }
    }

    /// The Redis connection of the Redis backend (`None` for local).
    pub fn redis_conn(&self) -> Option<&crate::redis_conn::RedisConn> {
        match &self.inner.kind {
            Kind::Local(_) => None,
            Kind::Redis(r) => Some(r.conn()),
        }
    }

    /// Apps currently holding state in the local backend's `__default` windows (the
    /// largest window's count; a gauge for memory). Always 0 for Redis.
    pub fn tracked_apps(&self) -> usize {
        match &self.inner.kind {
            Kind::Local(l) => l.tracked_apps(),
            Kind::Redis(_) => 0,
        }
    }

    /// Requests of new apps that went to the shared overflow bucket because
    /// [`Options::max_tracked_apps`] was reached. Always 0 for Redis.
    pub fn overflowed(&self) -> u64 {
        match &self.inner.kind {
            Kind::Local(l) => l.overflowed(),
            Kind::Redis(_) => 0,
        }
    }

    /// Runs the local backend's eviction now (the housekeeping task does it every
    /// [`Options::housekeeping_interval`]). No-op for Redis.
    pub fn housekeep(&self) {
        if let Kind::Local(l) = &self.inner.kind {
            l.housekeep();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn rates(list: &[(&str, &[(u64, u64)])]) -> BTreeMap<String, Vec<Rate>> {
        list.iter()
            .map(|(app, w)| {
                (
                    (*app).to_owned(),
                    w.iter()
                        .map(|&(period, tokens)| Rate { period, tokens })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn plan_requires_default_and_valid_windows() {
        assert!(matches!(
            Plan::new(&rates(&[("a", &[(1, 1)])])),
            Err(RateLimitError::MissingDefault)
        ));
        assert!(matches!(
            Plan::new(&rates(&[("__default", &[])])),
            Err(RateLimitError::NoWindows { .. })
        ));
        for bad in [(0, 1), (1, 0), (1, 1 << 33), (1, 2_000_000_000)] {
            assert!(
                matches!(
                    Plan::new(&rates(&[("__default", &[bad])])),
                    Err(RateLimitError::InvalidRate { .. })
                ),
                "{bad:?}"
            );
        }
        let p = Plan::new(&rates(&[
            ("__default", &[(1, 5)]),
            ("a", &[(60, 10), (1, 2)]),
        ]))
        .unwrap();
        assert_eq!(
            p.default,
            vec![Rate {
                period: 1,
                tokens: 5
            }]
        );
        assert_eq!(p.apps["a"].len(), 2);
        assert!(!p.apps.contains_key("__default"));
    }

    fn w(allowed: bool, limit: u64, remaining: u64, reset: u64, retry: u64) -> WindowOutcome {
        WindowOutcome {
            allowed,
            limit,
            remaining,
            reset_secs: reset,
            retry_after_secs: retry,
        }
    }

    #[test]
    fn combine_reports_the_most_restrictive_window() {
        let d = Decision::combine(
            PLUGIN_LOCAL,
            &[w(true, 600, 500, 60, 0), w(true, 20, 3, 1, 0)],
        );
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining, d.reset_secs), (20, 3, 1));
        assert_eq!(d.retry_after_secs, None);
        // Ties on remaining: the longest reset wins.
        let d = Decision::combine(
            PLUGIN_LOCAL,
            &[w(true, 20, 0, 1, 0), w(true, 600, 0, 60, 0)],
        );
        assert_eq!((d.limit, d.reset_secs), (600, 60));
        // Rejected: only rejecting windows are reported; retry is the longest wait.
        let d = Decision::combine(
            PLUGIN_REDIS,
            &[w(true, 20, 0, 1, 0), w(false, 600, 0, 42, 42)],
        );
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining, d.reset_secs), (600, 0, 42));
        assert_eq!(d.retry_after_secs, Some(42));
        assert_eq!(d.plugin, PLUGIN_REDIS);
    }

    #[test]
    fn degraded_decisions() {
        let ws = [
            Rate {
                period: 60,
                tokens: 600,
            },
            Rate {
                period: 1,
                tokens: 20,
            },
        ];
        let open = Decision::on_backend_error(PLUGIN_REDIS, true, &ws);
        assert!(open.allowed && open.degraded);
        assert_eq!((open.limit, open.remaining, open.reset_secs), (20, 20, 1));
        let closed = Decision::on_backend_error(PLUGIN_REDIS, false, &ws);
        assert!(!closed.allowed && closed.degraded);
        assert_eq!((closed.remaining, closed.retry_after_secs), (0, Some(1)));
    }

    #[test]
    fn headers_are_lowercase_and_insertable() {
        let d = Decision {
            allowed: true,
            limit: 10,
            remaining: 9,
            reset_secs: 1,
            retry_after_secs: None,
            degraded: false,
            plugin: PLUGIN_LOCAL,
        };
        let h = d.headers();
        assert_eq!(h[0], ("x-bkapi-ratelimit-limit", "10".to_owned()));
        assert_eq!(
            h[3],
            ("x-bkapi-ratelimit-plugin", "bk-job-shim-local".to_owned())
        );
        let mut map = http::HeaderMap::new();
        d.insert_headers(&mut map);
        assert_eq!(map["X-Bkapi-RateLimit-Remaining"], "9");
        assert_eq!(map["X-Bkapi-RateLimit-Reset"], "1");
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn ceil_secs_rounds_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}

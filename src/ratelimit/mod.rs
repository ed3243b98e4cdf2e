//! Per-app rate limiting (DESIGN §5): fixed windows, in process or cluster-wide on Redis.
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
//! limiter keys on whatever app code it is given. [`RateLimiter::check_bucket`] picks the
//! windows by app code but charges a separate bucket, so that callers presenting a wrong
//! secret do not use up the quota of callers presenting the right one:
//! [`RateLimiter::bucket`] derives it with the limiter's [`LimitKeyer`]
//! (`rate_limit.bucket_key`, else random per process for `local` and derived from
//! `redis_prefix` for `redis`, so that every replica derives the same buckets).
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
//! ## The window contract (both backends)
//!
//! A window `{period, tokens}` is a **fixed window opened by the first admitted request**
//! while none is running, as the gateway's `bk-rate-limit`: it lasts exactly `period`
//! seconds (the instant `start + period` already belongs to the next window) and admits
//! exactly `tokens` requests; request `tokens + 1` is refused until it ends. So no
//! `period`-long interval aligned to a window start ever admits more than `tokens` (an
//! unaligned interval straddling two windows can see up to `2 × tokens`, the price of a
//! counter per window). `X-Bkapi-RateLimit-Remaining` is `tokens` minus the requests
//! admitted in the running window, `Reset` the seconds (ceil) until it ends (`period` for a
//! window not yet opened), and `Retry-After` the same for the refusing window (≥ 1). A
//! refused request charges no window and opens none.
//!
//! The local backend used GCRA before (`governor`): a burst of `tokens` plus a smooth
//! refill let `{60, 600}` admit 1,199 requests in its first minute. GCRA cannot keep both
//! the full burst and "at most `tokens` per period", so it was replaced by this counter.
//!
//! * **`local`** — the contract above per process, in memory: one counter and end
//!   instant per window and bucket; all windows of a bucket are checked and charged
//!   together under the bucket's lock.
//! * **`redis`** — the same contract shared by every replica: each window is a hash
//!   `{e = end, left}` on Redis's clock; one Lua script checks every window of the app
//!   and charges them only if all admit, atomically. Keys are
//!   `bk-job-shim:rl:{<bucket>}:<period>:<tokens>` (the bucket is the app code or
//!   `<app_code>#<tag>`; the braces are a Redis Cluster hash tag, so every window of a
//!   bucket lives in one slot), with no config version in them:
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
//! runs every [`Options::housekeeping_interval`] (10 s) and drops every bucket whose
//! windows have all ended (such a bucket is indistinguishable from a new one, so
//! nothing is lost by forgetting it); the task ends when the limiter is dropped, e.g.
//! after a reload. **Hard cap**: a map never holds more than
//! [`Options::max_tracked_apps`] (10,000) apps; while it is full, further new app codes
//! share one overflow bucket with the `__default` quota (they are limited together, so
//! a flood of random codes cannot escape the limit either) until housekeeping frees
//! room. So memory stays bounded by the cap (about 100 bytes per app and window), and
//! falls back once the codes stop coming. [`RateLimiter::tracked_apps`] and
//! [`RateLimiter::overflowed`] expose both for metrics. With `auth.allowed_apps` set,
//! unknown codes are refused before the limiter and never create state.

mod config;
mod decision;
mod key;
mod local;
mod redis;

pub use config::{
    Backend, BucketKey, DEFAULT_APP, MIN_BUCKET_KEY_LEN, Rate, RateLimitConfig, RateLimitError,
    rates_problems,
};
pub use decision::{
    Decision, HEADER_LIMIT, HEADER_PLUGIN, HEADER_REMAINING, HEADER_RESET, PLUGIN_LOCAL,
    PLUGIN_REDIS,
};
pub use key::LimitKeyer;

use config::Plan;
use decision::{WindowOutcome, ceil_secs};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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

/// Per-app rate limiter over the configured backend. Cheap to clone (an `Arc` inside);
/// rebuild it on config reload and swap it in (see the module docs).
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    /// Derives the bucket a request is charged to (see [`LimitKeyer`]).
    keyer: LimitKeyer,
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
        let configured = config::bucket_key(cfg)?.map(|k| LimitKeyer::new(k.bytes()));
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
                    keyer: configured.unwrap_or_else(|| LimitKeyer::process().clone()),
                    housekeeper,
                }
            }
            Backend::Redis => {
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
                // Without `bucket_key`: deterministic, so replicas agree (`check-config`
                // and `serve` warn about it, see `Config::warnings`).
                let keyer = configured.unwrap_or_else(|| LimitKeyer::from_prefix(conn.prefix()));
                Inner {
                    kind: Kind::Redis(redis::RedisLimiter::new(conn, cfg.fail_open, plan).await),
                    keyer,
                    housekeeper: None,
                }
            }
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Decides one request of `app_code` and charges it if admitted. Never fails: a
    /// backend error gives a [`Decision`] with `degraded = true`.
    pub async fn check(&self, app_code: &str) -> Decision {
        self.check_bucket(app_code, app_code).await
    }

    /// Decides one request of `app_code` (whose `rates` entry applies) charged to
    /// `bucket` (see [`RateLimiter::bucket`]); `bucket = app_code` is
    /// [`RateLimiter::check`].
    pub async fn check_bucket(&self, app_code: &str, bucket: &str) -> Decision {
        match &self.inner.kind {
            Kind::Local(l) => l.check(app_code, bucket),
            // Boxed: inline, the Redis call's state (kilobytes) would be part of every
            // request's future, with the local backend too.
            Kind::Redis(r) => Box::pin(r.check(app_code, bucket)).await,
        }
    }

    /// The bucket a request of `app_code` is charged to: the app code itself when the
    /// identity is `verified` (a JWT), else `<app_code>#<tag>` keyed by the secret
    /// material presented, with this limiter's [`LimitKeyer`] (the same on every replica
    /// of a Redis backend).
    pub fn bucket(&self, app_code: &str, verified: bool, presented_secret: Option<&str>) -> String {
        self.inner
            .keyer
            .bucket(app_code, verified, presented_secret)
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
    use std::collections::BTreeMap;

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

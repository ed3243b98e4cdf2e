//! Redis backend of the per-app rate limiter, against a real `redis-server` started on a
//! free loopback port (see `tests/support/redis.rs`). Fails, not skips, without
//! `redis-server` installed. Topologies (TLS, ACL, Sentinel, Cluster) are in
//! `tests/redis_topologies.rs`, the breaker's logging in `tests/redis_breaker.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis.rs"]
mod redis_server;

#[path = "support/rates.rs"]
mod rates;

use bk_job_shim::ratelimit::{Backend, Options, PLUGIN_REDIS, RateLimitConfig, RateLimiter};
use bk_job_shim::redis_conn::{BreakerConfig, RedisConn, RedisOptions};
use redis_server::{RedisServer, at_window_start, free_port};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An hour: long enough that a test never crosses a window boundary (see [`settle`]).
const HOUR: u64 = 3600;

fn config(url: &str, fail_open: bool, rates: &[(&str, &[(u64, u64)])]) -> RateLimitConfig {
    RateLimitConfig {
        backend: Backend::Redis,
        redis_url: url.to_owned(),
        fail_open,
        rates: rates::rates(rates),
        ..RateLimitConfig::default()
    }
}

async fn limiter(url: &str, fail_open: bool, rates: &[(&str, &[(u64, u64)])]) -> RateLimiter {
    RateLimiter::new(&config(url, fail_open, rates))
        .await
        .unwrap()
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Waits until the next boundary of an aligned `period` is more than 5 s away, so that a
/// short test stays inside one window.
async fn settle(period: u64) {
    let left = period - unix_now().as_secs() % period;
    if left <= 5 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

/// Checks `app` until a decision is not degraded (Redis answers again), or panics.
async fn until_healthy(l: &RateLimiter, app: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if !l.check(app).await.degraded {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the limiter did not reconnect to redis within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_replicas_share_one_budget() {
    let redis = RedisServer::start();
    // Two limiters = two shim processes; 40 quick checks fall in one aligned 2 s window.
    let a = limiter(&redis.url(), true, &[("__default", &[(2, 10)])]).await;
    let b = limiter(&redis.url(), true, &[("__default", &[(2, 10)])]).await;
    assert_eq!(a.backend_name(), "redis");
    at_window_start(Duration::from_secs(2)).await;
    let mut admitted = [0, 0];
    for i in 0..40 {
        let (l, n) = if i % 2 == 0 { (&a, 0) } else { (&b, 1) };
        let d = l.check("app").await;
        assert!(!d.degraded, "{d:?}");
        if d.allowed {
            admitted[n] += 1;
        } else {
            assert_eq!((d.limit, d.remaining), (10, 0));
            let retry = d.retry_after_secs.unwrap();
            assert!((1..=2).contains(&retry), "{retry}");
        }
    }
    assert_eq!(admitted, [5, 5]);
    // Another app has its own budget.
    assert!(a.check("other").await.allowed);
    assert_eq!(a.redis_failures() + b.redis_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_never_over_admit() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), true, &[("__default", &[(HOUR, 25)])]).await;
    settle(HOUR).await;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let l = l.clone();
            tokio::spawn(async move { l.check("app").await })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        let d = t.await.unwrap();
        assert!(!d.degraded, "{d:?}");
        admitted += usize::from(d.allowed);
    }
    assert_eq!(admitted, 25);
    assert_eq!(redis.left("bk-job-shim:rl:{app}:3600:25"), Some(0));
}

#[tokio::test]
async fn header_values_follow_the_aligned_window() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), true, &[("__default", &[(HOUR, 3)])]).await;
    settle(HOUR).await;
    let to_boundary = HOUR - unix_now().as_secs() % HOUR;
    let d = l.check("app").await;
    assert!(d.allowed && !d.degraded);
    assert_eq!((d.limit, d.remaining), (3, 2));
    // `Reset` is the time to the end of the aligned hour, not a full hour.
    assert!(
        d.reset_secs.abs_diff(to_boundary) <= 1,
        "{} vs {to_boundary}",
        d.reset_secs
    );
    assert_eq!(d.plugin, PLUGIN_REDIS);
    assert_eq!(
        d.headers()[3],
        ("x-bkapi-ratelimit-plugin", "bk-job-shim-redis".to_owned())
    );
    assert_eq!(redis.left("bk-job-shim:rl:{app}:3600:3"), Some(2));
    l.check("app").await;
    l.check("app").await;
    let d = l.check("app").await;
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining), (3, 0));
    assert!(d.reset_secs.abs_diff(to_boundary) <= 1, "{d:?}");
    assert_eq!(d.retry_after_secs, Some(d.reset_secs));
    // Rejections do not drive the counter below zero.
    assert_eq!(redis.left("bk-job-shim:rl:{app}:3600:3"), Some(0));
    // The key goes away with its window.
    let ttl: i64 = redis
        .raw(&["PTTL", "bk-job-shim:rl:{app}:3600:3"])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= to_boundary as i64 * 1000, "{ttl}");
}

/// A client sending exactly `tokens` per `period`, evenly spaced, is never refused (the
/// old script, whose windows started at the first request, refused one per period).
#[tokio::test]
async fn exactly_the_limit_rate_is_always_admitted() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), false, &[("__default", &[(1, 5)])]).await;
    // Arrivals at 100 ms, 300 ms, … into each second: 5 per aligned second.
    at_window_start(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(95)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    for i in 0..15 {
        tick.tick().await;
        let d = l.check("steady").await;
        assert!(d.allowed && !d.degraded, "request {i}: {d:?}");
    }
}

/// Hammering for 2.5 s: no aligned second admits more than `tokens`, and every second
/// touched admits exactly `tokens`.
#[tokio::test]
async fn never_more_than_tokens_in_an_aligned_period() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), true, &[("__default", &[(1, 20)])]).await;
    at_window_start(Duration::from_secs(1)).await;
    let first_second = unix_now().as_secs();
    let stop = Instant::now() + Duration::from_millis(2500);
    let mut per_second = std::collections::BTreeMap::<u64, u64>::new();
    let mut admitted = 0;
    while Instant::now() < stop {
        let before = unix_now().as_secs();
        let d = l.check("hammer").await;
        let after = unix_now().as_secs();
        assert!(!d.degraded, "{d:?}");
        if d.allowed {
            admitted += 1;
            if before == after {
                *per_second.entry(before).or_default() += 1;
            }
        }
    }
    let last_second = unix_now().as_secs();
    assert!(per_second.values().all(|&n| n <= 20), "{per_second:?}");
    assert_eq!(
        admitted,
        20 * (last_second - first_second + 1),
        "{per_second:?}"
    );
}

#[tokio::test]
async fn a_rejecting_window_charges_no_other_window() {
    let redis = RedisServer::start();
    let l = limiter(
        &redis.url(),
        true,
        &[
            ("__default", &[(HOUR, 1)]),
            ("later", &[(HOUR, 5), (HOUR, 2)]),
            ("earlier", &[(HOUR, 1), (HOUR, 5)]),
        ],
    )
    .await;
    settle(HOUR).await;
    for app in ["later", "earlier"] {
        let mut decisions = Vec::new();
        for _ in 0..10 {
            decisions.push(l.check(app).await);
        }
        let admitted = decisions.iter().filter(|d| d.allowed).count();
        let rejected = decisions.iter().find(|d| !d.allowed).unwrap();
        if app == "later" {
            assert_eq!(admitted, 2);
            assert_eq!((rejected.limit, rejected.remaining), (2, 0));
            // 2 of the 5-token window were taken, by the admitted requests only.
            assert_eq!(redis.left("bk-job-shim:rl:{later}:3600:5"), Some(3));
            assert_eq!(redis.left("bk-job-shim:rl:{later}:3600:2"), Some(0));
        } else {
            assert_eq!(admitted, 1);
            assert_eq!((rejected.limit, rejected.remaining), (1, 0));
            assert_eq!(redis.left("bk-job-shim:rl:{earlier}:3600:1"), Some(0));
            assert_eq!(redis.left("bk-job-shim:rl:{earlier}:3600:5"), Some(4));
        }
        // The most restrictive window is reported while admitted too.
        assert_eq!(decisions[0].remaining, decisions[0].limit - 1);
    }
}

#[tokio::test]
async fn reload_keeps_counters_of_unchanged_windows() {
    let redis = RedisServer::start();
    let before = limiter(
        &redis.url(),
        true,
        &[("__default", &[(HOUR, 5), (HOUR, 50)])],
    )
    .await;
    settle(HOUR).await;
    for _ in 0..3 {
        assert!(before.check("app").await.allowed);
    }
    // The config changes the second window; the first is unchanged.
    let after = limiter(
        &redis.url(),
        true,
        &[("__default", &[(HOUR, 5), (HOUR, 60)])],
    )
    .await;
    drop(before);
    let d = after.check("app").await;
    assert!(d.allowed);
    assert_eq!((d.limit, d.remaining), (5, 1)); // 5 − 3 − 1: the count carried over
    assert_eq!(redis.left("bk-job-shim:rl:{app}:3600:60"), Some(59)); // fresh
    assert_eq!(redis.left("bk-job-shim:rl:{app}:3600:50"), Some(47)); // left to expire
    assert!(after.check("app").await.allowed);
    assert!(!after.check("app").await.allowed);
}

#[tokio::test]
async fn prefixes_isolate_shims_sharing_one_redis() {
    let redis = RedisServer::start();
    let with_prefix = |prefix: &str| RateLimitConfig {
        redis_prefix: prefix.to_owned(),
        ..config(&redis.url(), true, &[("__default", &[(HOUR, 2)])])
    };
    let test = RateLimiter::new(&with_prefix("shim-test")).await.unwrap();
    let prod = RateLimiter::new(&with_prefix("shim-prod")).await.unwrap();
    let prod2 = RateLimiter::new(&with_prefix("shim-prod")).await.unwrap();
    settle(HOUR).await;
    assert!(test.check("app").await.allowed);
    assert!(test.check("app").await.allowed);
    assert!(!test.check("app").await.allowed);
    // The same app under another prefix has its whole budget …
    assert!(prod.check("app").await.allowed);
    // … shared by the shims of that prefix.
    assert!(prod2.check("app").await.allowed);
    assert!(!prod.check("app").await.allowed);
    assert_eq!(redis.left("shim-test:rl:{app}:3600:2"), Some(0));
    assert_eq!(redis.left("shim-prod:rl:{app}:3600:2"), Some(0));
    assert_eq!(redis.left("bk-job-shim:rl:{app}:3600:2"), None);
}

#[tokio::test]
async fn fail_open_and_fail_closed_when_redis_dies_then_recovers() {
    let mut redis = RedisServer::start();
    let rates: &[(&str, &[(u64, u64)])] = &[("__default", &[(1, 1000)])];
    let open = limiter(&redis.url(), true, rates).await;
    let closed = limiter(&redis.url(), false, rates).await;
    assert!(!open.check("a").await.degraded);
    assert!(!closed.check("b").await.degraded);

    redis.kill();
    for _ in 0..5 {
        let d = open.check("a").await;
        assert!(d.allowed && d.degraded, "{d:?}");
        assert_eq!((d.limit, d.remaining), (1000, 1000));
        let d = closed.check("b").await;
        assert!(!d.allowed && d.degraded, "{d:?}");
        assert_eq!(d.retry_after_secs, Some(1));
    }
    assert!(open.redis_failures() >= 5);
    assert!(closed.redis_failures() >= 5);

    redis.restart();
    until_healthy(&open, "a").await;
    until_healthy(&closed, "b").await;
    let d = closed.check("b").await;
    assert!(d.allowed && !d.degraded, "{d:?}");
}

#[tokio::test]
async fn redis_down_at_start_is_not_fatal() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let opts = Options::default();
    let l = RateLimiter::with_options(&config(&url, false, &[("__default", &[(1, 10)])]), opts)
        .await
        .unwrap();
    let d = l.check("app").await;
    assert!(!d.allowed && d.degraded, "{d:?}");
    assert!(l.redis_failures() >= 1);

    let _redis = RedisServer::start_on(port);
    until_healthy(&l, "app").await;
    assert!(l.check("app").await.allowed);
}

#[tokio::test]
async fn invalid_settings_are_errors_that_never_echo_a_password() {
    for (url, key) in [
        ("not a url", "rate_limit.redis_url"),
        ("http://alice:hunter2@h:1/0", "rate_limit.redis_url"),
        ("redis://alice:hunter2@:x/0", "rate_limit.redis_url"),
    ] {
        let err = RateLimiter::new(&config(url, true, &[("__default", &[(1, 1)])]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(key), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let bad_prefix = RateLimitConfig {
        redis_prefix: "a{b}".into(),
        ..config("redis://127.0.0.1:1/0", true, &[("__default", &[(1, 1)])])
    };
    let err = RateLimiter::new(&bad_prefix).await.unwrap_err().to_string();
    assert!(err.contains("rate_limit.redis_prefix"), "{err}");
}

/// A stalled Redis (SIGSTOP) answers nothing: the first calls wait the timeout, the
/// circuit opens, later calls fail at once; after SIGCONT a probe closes it.
#[tokio::test]
async fn a_stalled_redis_trips_the_breaker() {
    let redis = RedisServer::start();
    let cfg = config(&redis.url(), false, &[("__default", &[(1, 1000)])]);
    let opts = RedisOptions {
        breaker: BreakerConfig {
            failures: 3,
            open_for: Duration::from_millis(500),
        },
        ..RedisOptions::default()
    };
    let conn = RedisConn::connect(&cfg.redis_settings(), &opts).unwrap();
    let limiter = RateLimiter::with_redis(&cfg, Options::default(), conn.clone())
        .await
        .unwrap();
    assert!(!limiter.check("app").await.degraded);

    redis.signal("STOP");
    for _ in 0..20 {
        let d = limiter.check("app").await;
        assert!(!d.allowed && d.degraded, "{d:?}");
    }
    redis.signal("CONT");
    // 3 calls timed out; the other 17 (made within 3 × 200 ms + a few ms, well inside
    // the 500 ms open period) never reached Redis.
    assert!(conn.short_circuited() >= 10, "{}", conn.short_circuited());
    assert_eq!(conn.times_opened(), 1);

    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.check("app").await.degraded {
        assert!(Instant::now() < deadline, "the breaker did not close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!conn.circuit_open());
}

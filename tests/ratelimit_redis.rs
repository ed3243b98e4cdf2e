//! Redis backend of the per-app rate limiter, against a real `redis-server` started on a
//! free loopback port (see `tests/support/redis.rs`). Fails, not skips, without
//! `redis-server` installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis.rs"]
mod redis_server;

#[path = "support/rates.rs"]
mod rates;

use bk_job_shim::ratelimit::{Backend, Options, PLUGIN_REDIS, RateLimitConfig, RateLimiter};
use redis_server::{RedisServer, free_port};
use std::time::{Duration, Instant};

fn config(url: &str, fail_open: bool, rates: &[(&str, &[(u64, u64)])]) -> RateLimitConfig {
    RateLimitConfig {
        backend: Backend::Redis,
        redis_url: url.to_owned(),
        fail_open,
        rates: rates::rates(rates),
    }
}

async fn limiter(url: &str, fail_open: bool, rates: &[(&str, &[(u64, u64)])]) -> RateLimiter {
    RateLimiter::new(&config(url, fail_open, rates))
        .await
        .unwrap()
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
    // Two limiters = two shim processes. A fixed window starts at the first request, so
    // 40 quick checks (milliseconds) all fall in one 2 s window.
    let a = limiter(&redis.url(), true, &[("__default", &[(2, 10)])]).await;
    let b = limiter(&redis.url(), true, &[("__default", &[(2, 10)])]).await;
    assert_eq!(a.backend_name(), "redis");
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
    let l = limiter(&redis.url(), true, &[("__default", &[(30, 25)])]).await;
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
    assert_eq!(redis.get_int("bk-job-shim:rl:{app}:30:25"), Some(0));
}

#[tokio::test]
async fn header_values_follow_the_fixed_window() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), true, &[("__default", &[(60, 3)])]).await;
    let d = l.check("app").await;
    assert!(d.allowed && !d.degraded);
    assert_eq!((d.limit, d.remaining, d.reset_secs), (3, 2, 60));
    assert_eq!(d.plugin, PLUGIN_REDIS);
    assert_eq!(
        d.headers()[3],
        ("x-bkapi-ratelimit-plugin", "bk-job-shim-redis".to_owned())
    );
    assert_eq!(redis.get_int("bk-job-shim:rl:{app}:60:3"), Some(2));
    l.check("app").await;
    l.check("app").await;
    let d = l.check("app").await;
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining), (3, 0));
    assert!((59..=60).contains(&d.reset_secs), "{d:?}");
    assert_eq!(d.retry_after_secs, Some(d.reset_secs));
    // Rejections do not drive the counter below zero.
    assert_eq!(redis.get_int("bk-job-shim:rl:{app}:60:3"), Some(0));
}

#[tokio::test]
async fn a_rejecting_window_charges_no_other_window() {
    let redis = RedisServer::start();
    let l = limiter(
        &redis.url(),
        true,
        &[
            ("__default", &[(100, 1)]),
            ("later", &[(100, 5), (100, 2)]),
            ("earlier", &[(100, 1), (100, 5)]),
        ],
    )
    .await;
    for app in ["later", "earlier"] {
        let decisions: Vec<_> = {
            let mut v = Vec::new();
            for _ in 0..10 {
                v.push(l.check(app).await);
            }
            v
        };
        let admitted = decisions.iter().filter(|d| d.allowed).count();
        let rejected = decisions.iter().find(|d| !d.allowed).unwrap();
        if app == "later" {
            assert_eq!(admitted, 2);
            assert_eq!((rejected.limit, rejected.remaining), (2, 0));
            // 2 of the 100/5 window's tokens were taken, by the admitted requests only.
            assert_eq!(redis.get_int("bk-job-shim:rl:{later}:100:5"), Some(3));
            assert_eq!(redis.get_int("bk-job-shim:rl:{later}:100:2"), Some(0));
        } else {
            assert_eq!(admitted, 1);
            assert_eq!((rejected.limit, rejected.remaining), (1, 0));
            assert_eq!(redis.get_int("bk-job-shim:rl:{earlier}:100:1"), Some(0));
            assert_eq!(redis.get_int("bk-job-shim:rl:{earlier}:100:5"), Some(4));
        }
        // The most restrictive window is reported while admitted too.
        assert_eq!(decisions[0].remaining, decisions[0].limit - 1);
    }
}

#[tokio::test]
async fn reload_keeps_counters_of_unchanged_windows() {
    let redis = RedisServer::start();
    let before = limiter(&redis.url(), true, &[("__default", &[(100, 5), (100, 50)])]).await;
    for _ in 0..3 {
        assert!(before.check("app").await.allowed);
    }
    // The config changes the second window; the first is unchanged.
    let after = limiter(&redis.url(), true, &[("__default", &[(100, 5), (100, 60)])]).await;
    drop(before);
    let d = after.check("app").await;
    assert!(d.allowed);
    assert_eq!((d.limit, d.remaining), (5, 1)); // 5 − 3 − 1: the count carried over
    assert_eq!(redis.get_int("bk-job-shim:rl:{app}:100:60"), Some(59)); // fresh
    assert_eq!(redis.get_int("bk-job-shim:rl:{app}:100:50"), Some(47)); // left to expire
    assert!(after.check("app").await.allowed);
    assert!(!after.check("app").await.allowed);
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
    for _ in 0..3 {
        let started = Instant::now();
        let d = open.check("a").await;
        assert!(d.allowed && d.degraded, "{d:?}");
        assert_eq!((d.limit, d.remaining), (1000, 1000));
        let d = closed.check("b").await;
        assert!(!d.allowed && d.degraded, "{d:?}");
        assert_eq!(d.retry_after_secs, Some(1));
        // Bounded by the 200 ms call timeout (twice, plus slack for a loaded machine).
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(open.redis_failures() >= 3);
    assert!(closed.redis_failures() >= 3);

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
    let started = Instant::now();
    let l = RateLimiter::with_options(&config(&url, false, &[("__default", &[(1, 10)])]), opts)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let d = l.check("app").await;
    assert!(!d.allowed && d.degraded, "{d:?}");
    assert!(l.redis_failures() >= 1);

    let _redis = RedisServer::start_on(port);
    until_healthy(&l, "app").await;
    assert!(l.check("app").await.allowed);
}

#[tokio::test]
async fn invalid_url_is_an_error() {
    let err = RateLimiter::new(&config("not a url", true, &[("__default", &[(1, 1)])]))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("rate_limit.redis_url"), "{err}");
}

//! Redis backend of the per-app rate limiter, against a real `redis-server` started on a
//! free loopback port (see `tests/support/redis.rs`). Fails, not skips, without
//! `redis-server` installed. Topologies (TLS, ACL, Sentinel, Cluster) are in
//! `tests/redis_topologies.rs`, the breaker's logging in `tests/redis_breaker.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

#[path = "support/redis.rs"]
mod redis_server;

#[path = "support/rates.rs"]
mod rates;

use bk_job_shim::ratelimit::{Backend, Options, PLUGIN_REDIS, RateLimitConfig, RateLimiter};
use bk_job_shim::redis_conn::{BreakerConfig, RedisConn, RedisOptions};
use redis_server::{RedisServer, free_port};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An hour: a window no test outlives.
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

/// A limiter whose Redis call timeout leaves room for a loaded CI machine (200 concurrent
/// checks queue on one connection): these tests are about decisions, not latency.
async fn limiter(url: &str, fail_open: bool, rates: &[(&str, &[(u64, u64)])]) -> RateLimiter {
    let opts = Options {
        redis_timeout: Duration::from_secs(2),
        ..Options::default()
    };
    RateLimiter::with_options(&config(url, fail_open, rates), opts)
        .await
        .unwrap()
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
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
    // Two limiters = two shim processes. A window starts at its first request, so 40
    // quick checks (milliseconds) all fall in one 2 s window.
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
    let l = limiter(&redis.url(), true, &[("__default", &[(HOUR, 25)])]).await;
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
async fn header_values_follow_the_fixed_window() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), true, &[("__default", &[(HOUR, 3)])]).await;
    let d = l.check("app").await;
    assert!(d.allowed && !d.degraded);
    assert_eq!((d.limit, d.remaining, d.reset_secs), (3, 2, HOUR));
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
    assert!((HOUR - 1..=HOUR).contains(&d.reset_secs), "{d:?}");
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
    assert!(ttl > 3_598_000 && ttl <= 3_601_000, "{ttl}");
}

/// The end of a window, read from Redis (µs since the epoch, Redis's clock = ours here).
fn window_end(redis: &RedisServer, key: &str) -> Duration {
    Duration::from_micros(redis.hget_int(key, "e").unwrap() as u64)
}

async fn sleep_until_unix(t: Duration) {
    let now = unix_now();
    if t > now {
        tokio::time::sleep(t - now).await;
    }
}

/// The boundary agrees with the local backend: a full window refuses until its end, and
/// the first request at (or after) the end opens the next window with a full budget.
#[tokio::test]
async fn the_end_of_a_window_opens_the_next_one() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), false, &[("__default", &[(1, 3)])]).await;
    for _ in 0..3 {
        assert!(l.check("edge").await.allowed);
    }
    let key = "bk-job-shim:rl:{edge}:1:3";
    let end = window_end(&redis, key);
    sleep_until_unix(end - Duration::from_millis(200)).await;
    let d = l.check("edge").await;
    assert!(!d.allowed && !d.degraded, "{d:?}");
    assert_eq!((d.remaining, d.retry_after_secs), (0, Some(1)));
    sleep_until_unix(end).await;
    let d = l.check("edge").await;
    assert!(d.allowed, "{d:?}");
    assert_eq!((d.remaining, d.reset_secs), (2, 1));
    let next = window_end(&redis, key);
    assert!(next >= end + Duration::from_secs(1), "{next:?} vs {end:?}");
}

/// Hammering for 2.5 s: every window lasts its full period and admits exactly `tokens`;
/// a refused request opens no window.
#[tokio::test]
async fn never_more_than_tokens_per_window() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), true, &[("__default", &[(1, 20)])]).await;
    let key = "bk-job-shim:rl:{hammer}:1:20";
    let stop = Instant::now() + Duration::from_millis(2500);
    // Admitted requests per window, by the window's end.
    let mut windows = std::collections::BTreeMap::<Duration, u64>::new();
    while Instant::now() < stop {
        let d = l.check("hammer").await;
        assert!(!d.degraded, "{d:?}");
        if d.allowed {
            *windows.entry(window_end(&redis, key)).or_default() += 1;
        }
    }
    let ends: Vec<Duration> = windows.keys().copied().collect();
    assert!(ends.len() >= 3, "{windows:?}");
    assert!(windows.values().all(|&n| n <= 20), "{windows:?}");
    // Every window but the last ran to its end while requests kept coming: all used up.
    assert!(
        windows.values().rev().skip(1).all(|&n| n == 20),
        "{windows:?}"
    );
    for pair in ends.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(1), "{ends:?}");
    }
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

/// Issue 14, identity: two replicas on one Redis compute the same bucket for the same
/// presented secret (without `bucket_key`, from the prefix), so they share its budget;
/// a caller with a wrong secret uses up only its own bucket, never the right one's.
#[tokio::test]
async fn replicas_agree_on_buckets_and_a_wrong_secret_spares_the_right_one() {
    let redis = RedisServer::start();
    let rates: &[(&str, &[(u64, u64)])] = &[("__default", &[(HOUR, 100)]), ("real", &[(HOUR, 4)])];
    let a = limiter(&redis.url(), false, rates).await;
    let b = limiter(&redis.url(), false, rates).await;
    let right = a.bucket("real", false, Some("right-secret"));
    let wrong = a.bucket("real", false, Some("wrong-secret"));
    assert_eq!(right, b.bucket("real", false, Some("right-secret")));
    assert_ne!(right, wrong);
    assert!(right.starts_with("real#"), "{right}");
    // A verified (JWT) identity is charged to the plain app code.
    assert_eq!(a.bucket("real", true, Some("right-secret")), "real");

    // The wrong secret, through both replicas: 4 admitted (the app's rates), then refused.
    let mut wrong_admitted = 0;
    for i in 0..12 {
        let l = if i % 2 == 0 { &a } else { &b };
        let d = l.check_bucket("real", &wrong).await;
        assert!(!d.degraded, "{d:?}");
        wrong_admitted += usize::from(d.allowed);
    }
    assert_eq!(wrong_admitted, 4);
    // The right secret still has its whole budget, shared by the two replicas.
    for i in 0..4 {
        let l = if i % 2 == 0 { &b } else { &a };
        let d = l.check_bucket("real", &right).await;
        assert!(d.allowed, "request {i}: {d:?}");
        assert_eq!(d.remaining, 3 - i);
    }
    assert!(!a.check_bucket("real", &right).await.allowed);
    assert!(!b.check_bucket("real", &right).await.allowed);
    assert_eq!(
        redis.left(&format!("bk-job-shim:rl:{{{right}}}:3600:4")),
        Some(0)
    );
    assert_eq!(
        redis.left(&format!("bk-job-shim:rl:{{{wrong}}}:3600:4")),
        Some(0)
    );
    // The verified app's own bucket was never touched; no secret is stored.
    assert_eq!(redis.left("bk-job-shim:rl:{real}:3600:4"), None);
    let keys = redis.raw(&["KEYS", "*"]);
    assert!(!keys.contains("secret"), "{keys}");
}

/// The same through two shim processes with a shared `bucket_key` from the environment:
/// a caller with a wrong secret through replica A is refused after its own quota, the
/// right secret through B still gets its whole quota, and the key shows up in no log line
/// (trace level) and no Redis key.
#[tokio::test]
async fn two_shims_charge_a_wrong_secret_to_its_own_bucket() {
    use harness::{Behavior, MockUpstream, ShimProcess, post, temp_file};
    let redis = RedisServer::start();
    let mock = MockUpstream::start(Behavior::ok(
        serde_json::json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let cfg = temp_file(
        "shim.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{}\"\n\
             [rate_limit]\nbackend = \"redis\"\nredis_url = \"{}\"\nfail_open = false\n\
             [rate_limit.rates]\n__default = [{{ period = 3600, tokens = 3 }}]\n",
            mock.url(),
            redis.url()
        ),
    );
    let key = [(
        "BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY",
        "bucket-key-never-logged-42",
    )];
    let a = ShimProcess::start(&cfg, &key).await;
    let b = ShimProcess::start(&cfg, &key).await;
    let body = |secret: &str| {
        serde_json::json!({"bk_app_code": "real", "bk_app_secret": secret, "bk_token": "t",
            "bk_username": "carol", "bk_biz_id": 1, "bk_job_id": 12})
    };
    let path = "/api/c/compapi/v2/job/execute_job/";
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(post(a.addr, path, &body("wrong")).await.code());
    }
    assert_eq!(codes, [0, 0, 0, 1306429, 1306429]);
    let mut codes = Vec::new();
    for i in 0..4 {
        let addr = if i % 2 == 0 { b.addr } else { a.addr };
        codes.push(post(addr, path, &body("right")).await.code());
    }
    assert_eq!(codes, [0, 0, 0, 1306429], "the right secret kept its quota");
    assert_eq!(
        mock.requests().len(),
        6,
        "refused requests are not forwarded"
    );
    let keys = redis.raw(&["KEYS", "*"]);
    assert_eq!(keys.matches(":rl:{real#").count(), 2, "{keys}");
    for s in ["bucket-key-never-logged", "wrong", "right"] {
        assert!(!keys.contains(s), "{keys}");
    }
    for shim in [&a, &b] {
        assert!(!shim.logs().contains("bucket-key-never-logged"));
        shim.signal("TERM");
    }
}

/// With `rate_limit.bucket_key` the buckets follow that shared secret: replicas with the
/// same key agree, another key (or the prefix fallback) gives other buckets; a short key
/// is refused without being echoed, and `Debug` hides it.
#[tokio::test]
async fn a_configured_bucket_key_keys_the_buckets() {
    use bk_job_shim::ratelimit::BucketKey;
    let redis = RedisServer::start();
    let with_key = |k: &str| RateLimitConfig {
        bucket_key: Some(BucketKey::new(k)),
        ..config(&redis.url(), false, &[("__default", &[(HOUR, 2)])])
    };
    let k1 = "k1-0123456789abcdef-shared";
    let a = RateLimiter::new(&with_key(k1)).await.unwrap();
    let b = RateLimiter::new(&with_key(k1)).await.unwrap();
    let other = RateLimiter::new(&with_key("k2-0123456789abcdef-other"))
        .await
        .unwrap();
    let fallback = RateLimiter::new(&with_key("")).await.unwrap();
    let bucket = |l: &RateLimiter| l.bucket("app", false, Some("s"));
    assert_eq!(bucket(&a), bucket(&b));
    assert_ne!(bucket(&a), bucket(&other));
    assert_ne!(bucket(&a), bucket(&fallback));
    assert!(a.check_bucket("app", &bucket(&a)).await.allowed);
    assert!(b.check_bucket("app", &bucket(&b)).await.allowed);
    assert!(!a.check_bucket("app", &bucket(&a)).await.allowed);

    let short = with_key("hunter2");
    let err = RateLimiter::new(&short).await.unwrap_err().to_string();
    assert!(err.contains("rate_limit.bucket_key"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let shown = format!("{short:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("bucket_key"),
        "{shown}"
    );
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

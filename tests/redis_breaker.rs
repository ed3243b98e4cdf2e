//! The circuit breaker of the shared Redis connection, against real `redis-server`s: an
//! outage opens it once (one log line, no password in any line), the limiter and the job
//! cache stop waiting for Redis, and it closes by itself once Redis is back.
//!
//! The only test of this binary: it installs a thread-local log subscriber, and tracing
//! caches per-callsite interest process-wide, so a test without one running beside it
//! could hide events from it. The stalled-server breaker test is in `ratelimit_redis.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis.rs"]
mod redis_server;

use bk_job_shim::jobcache::JobCache;
use bk_job_shim::ratelimit::{Backend, Options, RateLimitConfig, RateLimiter};
use bk_job_shim::redis_conn::{BreakerConfig, RedisConn, RedisOptions};
use bk_job_shim::translate::status::JobExtras;
use redis_server::{RedisServer, free_port};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Log lines written while a test runs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let me = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || me.clone())
            .finish();
        tracing::subscriber::set_default(sub)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

fn config(url: &str, fail_open: bool) -> RateLimitConfig {
    RateLimitConfig {
        backend: Backend::Redis,
        redis_url: url.to_owned(),
        fail_open,
        rates: [(
            "__default".to_owned(),
            vec![bk_job_shim::ratelimit::Rate {
                period: 1,
                tokens: 1000,
            }],
        )]
        .into(),
        ..RateLimitConfig::default()
    }
}

fn conn(cfg: &RateLimitConfig, open_for: Duration) -> RedisConn {
    let opts = RedisOptions {
        breaker: BreakerConfig {
            failures: 3,
            open_for,
        },
        ..RedisOptions::default()
    };
    RedisConn::connect(&cfg.redis_settings(), &opts).unwrap()
}

fn extras(id: i64) -> JobExtras {
    JobExtras {
        bk_job_id: Some(id),
        ..JobExtras::default()
    }
}

/// An ACL-protected Redis on `port` that is down, then comes up: one "opened" line, one
/// "closed" line, the password in none, and the limiter and job cache back on Redis.
#[tokio::test]
async fn an_outage_is_logged_once_and_heals_by_itself() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let port = free_port();
    let cfg = config(&format!("redis://alice:hunter2@127.0.0.1:{port}/0"), true);
    let conn = conn(&cfg, Duration::from_millis(300));
    let limiter = RateLimiter::with_redis(&cfg, Options::default(), conn.clone())
        .await
        .unwrap();
    let jobs = JobCache::new(10, Duration::from_secs(60), Some(conn.clone()));

    for i in 0..30 {
        let d = limiter.check("app").await;
        assert!(d.allowed && d.degraded, "{d:?}");
        jobs.put(i, extras(i));
        jobs.get(1000 + i).await; // a miss in process: asks Redis (or the breaker)
    }
    assert!(conn.circuit_open());
    assert_eq!(conn.times_opened(), 1);
    assert!(conn.short_circuited() >= 50, "{}", conn.short_circuited());
    assert_eq!(logs.count("circuit opened"), 1, "{}", logs.text());
    assert_eq!(
        logs.count("WARN") - logs.count("not reachable at start"),
        1,
        "{}",
        logs.text()
    );

    let _redis = RedisServer::start_on_with(
        port,
        &["--user", "alice", "on", ">hunter2", "~*", "&*", "+@all"].map(String::from),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.check("app").await.degraded {
        assert!(Instant::now() < deadline, "no recovery: {}", logs.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!conn.circuit_open());
    assert_eq!(logs.count("circuit closed"), 1, "{}", logs.text());
    // The job cache is on Redis again (the in-process map does not hold 777).
    let other = JobCache::new(10, Duration::from_secs(60), Some(conn.clone()));
    other.put(777, extras(777));
    let deadline = Instant::now() + Duration::from_secs(5);
    while jobs.get(777).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the job cache did not reach Redis"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!logs.text().contains("hunter2"), "{}", logs.text());
}

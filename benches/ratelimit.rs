//! Per-check cost of the rate limiter: local (one app, 10,000 apps, an app with two
//! windows, rejections) and Redis (a real `redis-server` on loopback; skipped with a
//! note when it is not installed).
//!
//! `cargo bench --bench ratelimit`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/redis.rs"]
mod redis_server;

#[path = "../tests/support/rates.rs"]
mod rates;

use bk_job_shim::ratelimit::{Backend, Options, RateLimitConfig, RateLimiter};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::task::Poll;
use std::time::{Duration, Instant};

fn config(backend: Backend, url: &str, rates: &[(&str, &[(u64, u64)])]) -> RateLimitConfig {
    RateLimitConfig {
        backend,
        redis_url: url.to_owned(),
        fail_open: true,
        rates: rates::rates(rates),
        ..RateLimitConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Times `iters` sequential checks inside one `block_on` (so the runtime's entry cost is
/// not part of each check), cycling through `apps`.
fn run(rt: &tokio::runtime::Runtime, l: &RateLimiter, apps: &[String], iters: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let mut i = 0;
        for _ in 0..iters {
            black_box(l.check(&apps[i]).await);
            i += 1;
            if i == apps.len() {
                i = 0;
            }
        }
        start.elapsed()
    })
}

fn local(c: &mut Criterion) {
    let rt = runtime();
    // Effectively unlimited windows (admitted checks), plus a tiny one (rejections).
    let cfg = config(
        Backend::Local,
        "",
        &[
            ("__default", &[(1, 1_000_000_000)]),
            ("configured", &[(1, 1_000_000_000)]),
            ("two_windows", &[(60, 1_000_000_000), (1, 1_000_000_000)]),
            ("tiny", &[(3600, 1)]),
        ],
    );
    let opts = Options {
        max_tracked_apps: 100_000,
        ..Options::default()
    };
    let l = rt.block_on(RateLimiter::with_options(&cfg, opts)).unwrap();
    let one = vec!["app".to_owned()];
    let many: Vec<String> = (0..10_000).map(|i| format!("app-{i}")).collect();
    let configured = vec!["configured".to_owned()];
    let two = vec!["two_windows".to_owned()];
    let tiny = vec!["tiny".to_owned()];

    let mut g = c.benchmark_group("ratelimit/local");
    g.bench_function("default_one_app", |b| {
        b.iter_custom(|n| run(&rt, &l, &one, n))
    });
    g.bench_function("default_10k_apps", |b| {
        b.iter_custom(|n| run(&rt, &l, &many, n))
    });
    g.bench_function("configured_app", |b| {
        b.iter_custom(|n| run(&rt, &l, &configured, n))
    });
    g.bench_function("configured_two_windows", |b| {
        b.iter_custom(|n| run(&rt, &l, &two, n))
    });
    g.bench_function("rejected", |b| b.iter_custom(|n| run(&rt, &l, &tiny, n)));
    g.finish();
}

fn redis(c: &mut Criterion) {
    let server = match redis_server::RedisServer::try_start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("note: skipping the Redis rate-limit benches: {e}");
            return;
        }
    };
    let rt = runtime();
    let cfg = config(
        Backend::Redis,
        &server.url(),
        &[
            ("__default", &[(1, 1_000_000_000)]),
            ("two_windows", &[(60, 1_000_000_000), (1, 1_000_000_000)]),
        ],
    );
    let l = rt.block_on(RateLimiter::new(&cfg)).unwrap();
    let one = vec!["app".to_owned()];
    let two = vec!["two_windows".to_owned()];
    assert!(!rt.block_on(l.check("app")).degraded, "redis not reachable");

    let mut g = c.benchmark_group("ratelimit/redis");
    g.bench_function("one_window_sequential", |b| {
        b.iter_custom(|n| run(&rt, &l, &one, n))
    });
    g.bench_function("two_windows_sequential", |b| {
        b.iter_custom(|n| run(&rt, &l, &two, n))
    });
    // 64 checks in flight on the multiplexed connection: throughput per check.
    g.bench_function("one_window_64_concurrent", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                let mut left = n;
                while left > 0 {
                    let batch = left.min(64);
                    let checks = (0..batch).map(|_| l.check("app"));
                    for d in futures_join(checks).await {
                        black_box(d);
                    }
                    left -= batch;
                }
                start.elapsed()
            })
        })
    });
    g.finish();
    assert_eq!(l.redis_failures(), 0, "redis calls failed during the bench");
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join<F: Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futs.map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, slot) in pending.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => all = false,
                }
            }
        }
        if all { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    done.into_iter().flatten().collect()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = local, redis
}
criterion_main!(benches);

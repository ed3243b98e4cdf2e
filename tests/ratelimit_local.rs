//! Local (fixed window) backend of the per-app rate limiter, on tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/rates.rs"]
mod rates;

use bk_job_shim::ratelimit::{
    Backend, Decision, Options, PLUGIN_LOCAL, RateLimitConfig, RateLimiter,
};
use std::time::Duration;
use tokio::time::advance;

fn config(rates: &[(&str, &[(u64, u64)])]) -> RateLimitConfig {
    RateLimitConfig {
        backend: Backend::Local,
        rates: rates::rates(rates),
        ..RateLimitConfig::default()
    }
}

async fn limiter(rates: &[(&str, &[(u64, u64)])]) -> RateLimiter {
    RateLimiter::new(&config(rates)).await.unwrap()
}

async fn admitted(l: &RateLimiter, app: &str, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if l.check(app).await.allowed {
            ok += 1;
        }
    }
    ok
}

#[test]
fn limiter_and_check_future_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let l = rt.block_on(limiter(&[("__default", &[(1, 1)])]));
    send_sync(&l);
    let fut = l.check("a");
    send(&fut);
    assert_eq!(l.backend_name(), "local");
    assert_eq!(l.plugin_name(), PLUGIN_LOCAL);
}

#[tokio::test(start_paused = true)]
async fn admits_a_burst_of_tokens_then_rejects() {
    let l = limiter(&[("__default", &[(1, 5)])]).await;
    for i in 0..5 {
        let d = l.check("app").await;
        assert!(d.allowed, "request {i}");
        assert_eq!((d.limit, d.remaining), (5, 4 - i));
        assert_eq!(d.retry_after_secs, None);
        assert!(!d.degraded);
    }
    let d = l.check("app").await;
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining, d.reset_secs), (5, 0, 1));
    assert_eq!(d.retry_after_secs, Some(1));
    assert!(!d.degraded);
}

#[tokio::test(start_paused = true)]
async fn refills_only_when_the_window_ends() {
    let l = limiter(&[("__default", &[(1, 5)])]).await;
    assert_eq!(admitted(&l, "app", 10).await, 5);
    // No smooth refill: nothing until the window opened at t=0 ends at t=1 s.
    advance(Duration::from_millis(200)).await;
    assert_eq!(admitted(&l, "app", 10).await, 0);
    advance(Duration::from_millis(800)).await;
    assert_eq!(admitted(&l, "app", 10).await, 5);
    advance(Duration::from_secs(60)).await;
    assert_eq!(admitted(&l, "app", 10).await, 5);
}

#[tokio::test(start_paused = true)]
async fn a_minute_window_never_admits_more_than_its_tokens() {
    // The old GCRA admitted 1,199 here (a burst of 600 plus 599 refilled).
    let l = limiter(&[("__default", &[(60, 600)])]).await;
    let mut first_minute = 0;
    for _ in 0..600 {
        first_minute += admitted(&l, "app", 2).await; // 1,200 asked at 10 per second
        advance(Duration::from_millis(100)).await;
    }
    assert_eq!(first_minute, 600);
    // t = 60 s: the next window.
    assert_eq!(admitted(&l, "app", 1_000).await, 600);
}

#[tokio::test(start_paused = true)]
async fn the_boundary_belongs_to_the_next_window() {
    let l = limiter(&[("__default", &[(60, 2)])]).await;
    advance(Duration::from_secs(7)).await; // windows open at the first request, not at 0
    assert_eq!(admitted(&l, "app", 3).await, 2);
    advance(Duration::from_millis(59_999)).await;
    let d = l.check("app").await;
    assert!(!d.allowed);
    assert_eq!(
        (d.remaining, d.reset_secs, d.retry_after_secs),
        (0, 1, Some(1))
    );
    advance(Duration::from_millis(1)).await; // exactly 60 s after the window opened
    let d = l.check("app").await;
    assert!(d.allowed, "{d:?}");
    assert_eq!((d.remaining, d.reset_secs), (1, 60));
    assert_eq!(admitted(&l, "app", 3).await, 1);
}

#[tokio::test(start_paused = true)]
async fn buckets_split_an_app_by_presented_secret() {
    use bk_job_shim::ratelimit::LimitKeyer;
    let l = limiter(&[("__default", &[(60, 100)]), ("real", &[(60, 5)])]).await;
    let k = LimitKeyer::new(b"test key");
    let right = k.bucket("real", false, Some("right-secret"));
    let wrong = |i: u32| k.bucket("real", false, Some(&format!("wrong-{i}")));
    // Wrong secrets use up their own buckets (with the app's own rates: 5 per minute)...
    let mut wrong_admitted = 0;
    for i in 0..50 {
        for _ in 0..10 {
            wrong_admitted += usize::from(l.check_bucket("real", &wrong(i % 3)).await.allowed);
        }
    }
    assert_eq!(wrong_admitted, 15);
    // ... and never the quota of the caller with the right one.
    for i in 0..5 {
        let d = l.check_bucket("real", &right).await;
        assert!(d.allowed, "request {i}");
        assert_eq!((d.limit, d.remaining), (5, 4 - i));
    }
    assert!(!l.check_bucket("real", &right).await.allowed);
    // A verified identity is charged to the app code itself.
    assert_eq!(k.bucket("real", true, Some("x")), "real");
}

#[tokio::test(start_paused = true)]
async fn apps_are_isolated() {
    let l = limiter(&[("__default", &[(1, 3)])]).await;
    assert_eq!(admitted(&l, "a", 10).await, 3);
    let d = l.check("b").await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 2);
    assert_eq!(admitted(&l, "b", 10).await, 2);
    assert_eq!(admitted(&l, "c", 10).await, 3);
    assert!(!l.check("a").await.allowed);
}

#[tokio::test(start_paused = true)]
async fn an_app_entry_replaces_the_default() {
    let l = limiter(&[
        ("__default", &[(1, 100)]),
        ("small", &[(1, 2)]),
        ("big", &[(1, 500)]),
    ])
    .await;
    let d = l.check("small").await;
    assert_eq!((d.limit, d.remaining), (2, 1));
    assert_eq!(admitted(&l, "small", 10).await, 1);
    assert_eq!(admitted(&l, "big", 1000).await, 500);
    assert_eq!(admitted(&l, "other", 1000).await, 100);
    // Configured apps do not count as tracked `__default` apps.
    assert_eq!(l.tracked_apps(), 1);
}

#[tokio::test(start_paused = true)]
async fn every_window_must_admit_and_a_rejection_charges_no_window() {
    // A later window rejects: the earlier one is not charged.
    let l = limiter(&[("__default", &[(60, 3), (1, 2)])]).await;
    let d = l.check("app").await;
    assert!(d.allowed);
    // Most restrictive = lowest remaining: the 1 s window (2 → 1) over the 60 s (3 → 2).
    assert_eq!((d.limit, d.remaining), (2, 1));
    let d = l.check("app").await;
    assert_eq!((d.allowed, d.limit, d.remaining), (true, 2, 0));
    let d = l.check("app").await; // the 1 s window rejects
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining), (2, 0));
    assert_eq!(d.retry_after_secs, Some(1));
    advance(Duration::from_secs(1)).await;
    let d = l.check("app").await; // admitted only if the rejection took no 60 s token
    assert!(d.allowed, "{d:?}");
    assert_eq!((d.limit, d.remaining), (3, 0));
    let d = l.check("app").await; // now the 60 s window rejects
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining), (3, 0));
    // The 60 s window opened at t=0 and ends at t=60.
    assert_eq!(d.retry_after_secs, Some(59));
    assert_eq!(d.reset_secs, 59);

    // An earlier window rejects: the later one is not charged.
    let l = limiter(&[("__default", &[(1, 1), (60, 3)])]).await;
    assert!(l.check("app").await.allowed); // t=0: r1
    assert!(!l.check("app").await.allowed); // t=0: the 1 s window rejects
    advance(Duration::from_secs(1)).await;
    assert!(l.check("app").await.allowed); // t=1: r2
    assert!(!l.check("app").await.allowed); // t=1: the 1 s window rejects
    advance(Duration::from_secs(1)).await;
    assert!(l.check("app").await.allowed); // t=2: r3, only if no rejection was charged
    advance(Duration::from_secs(1)).await;
    let d = l.check("app").await; // t=3: the 60 s window is spent
    assert!(!d.allowed);
    assert_eq!(d.limit, 3);
    assert_eq!(d.retry_after_secs, Some(57));
}

#[tokio::test(start_paused = true)]
async fn app_entries_with_several_windows() {
    let l = limiter(&[("__default", &[(1, 100)]), ("app", &[(10, 4), (1, 2)])]).await;
    assert_eq!(admitted(&l, "app", 10).await, 2);
    advance(Duration::from_secs(1)).await;
    assert_eq!(admitted(&l, "app", 10).await, 2);
    advance(Duration::from_secs(1)).await;
    // The 10 s window has admitted its 4 (t=0..1); nothing until it ends at t=10.
    assert_eq!(admitted(&l, "app", 10).await, 0);
    advance(Duration::from_millis(7_999)).await;
    assert_eq!(admitted(&l, "app", 10).await, 0);
    advance(Duration::from_millis(1)).await;
    assert_eq!(admitted(&l, "app", 10).await, 2);
}

#[tokio::test(start_paused = true)]
async fn header_values() {
    let l = limiter(&[("__default", &[(60, 6)])]).await;
    let d = l.check("app").await;
    assert_eq!(
        d,
        Decision {
            allowed: true,
            limit: 6,
            remaining: 5,
            // The window this request opened ends in 60 s.
            reset_secs: 60,
            retry_after_secs: None,
            degraded: false,
            plugin: PLUGIN_LOCAL,
        }
    );
    assert_eq!(
        d.headers(),
        [
            ("x-bkapi-ratelimit-limit", "6".to_owned()),
            ("x-bkapi-ratelimit-remaining", "5".to_owned()),
            ("x-bkapi-ratelimit-reset", "60".to_owned()),
            ("x-bkapi-ratelimit-plugin", "bk-job-shim-local".to_owned()),
        ]
    );
    admitted(&l, "app", 2).await;
    advance(Duration::from_millis(1500)).await;
    let d = l.check("app").await;
    assert_eq!((d.remaining, d.reset_secs), (2, 59)); // 60 s − 1.5 s, rounded up
    let mut h = http::HeaderMap::new();
    d.insert_headers(&mut h);
    assert_eq!(h["X-Bkapi-RateLimit-Limit"], "6");
    assert_eq!(h["X-Bkapi-RateLimit-Remaining"], "2");
    assert_eq!(h["X-Bkapi-RateLimit-Reset"], "59");
    assert_eq!(h["X-Bkapi-RateLimit-Plugin"], "bk-job-shim-local");
}

#[tokio::test(start_paused = true)]
async fn housekeeping_forgets_idle_apps() {
    let opts = Options {
        housekeeping_interval: Duration::from_secs(10),
        max_tracked_apps: 1_000_000,
        ..Options::default()
    };
    let l = RateLimiter::with_options(&config(&[("__default", &[(1, 5)])]), opts)
        .await
        .unwrap();
    for i in 0..100_000 {
        assert!(l.check(&format!("random-{i:x}")).await.allowed);
    }
    assert_eq!(l.tracked_apps(), 100_000);
    // A window later every bucket is full again, but the task has not run yet.
    advance(Duration::from_secs(5)).await;
    assert!(l.check("hot").await.allowed);
    assert_eq!(l.tracked_apps(), 100_001);
    // The task sweeps at t=10 s. Whether it runs just before or just after this check,
    // "hot" (used at t=10 s) is the only app whose bucket is not full.
    advance(Duration::from_secs(5)).await;
    assert!(l.check("hot").await.allowed);
    tokio::time::sleep(Duration::from_millis(1)).await; // let the task run
    assert_eq!(l.tracked_apps(), 1);
    advance(Duration::from_secs(11)).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(l.tracked_apps(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_app_codes_is_capped_and_shares_one_bucket() {
    let opts = Options {
        max_tracked_apps: 1_000,
        ..Options::default()
    };
    let l = RateLimiter::with_options(&config(&[("__default", &[(1, 5)])]), opts)
        .await
        .unwrap();
    let mut allowed = 0;
    for i in 0..100_000 {
        if l.check(&format!("random-{i:x}")).await.allowed {
            allowed += 1;
        }
        assert!(l.tracked_apps() <= 1_000);
    }
    // 1,000 tracked apps admitted once each, then the overflow bucket's burst of 5.
    assert_eq!(allowed, 1_005);
    assert_eq!(l.tracked_apps(), 1_000);
    assert_eq!(l.overflowed(), 99_000);
    // An app already tracked keeps its own bucket.
    assert_eq!(admitted(&l, "random-0", 10).await, 4);
    // After the window and a housekeeping pass the map is empty and new apps get room.
    advance(Duration::from_secs(11)).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(l.tracked_apps(), 0);
    assert_eq!(admitted(&l, "newcomer", 10).await, 5);
    assert_eq!(l.tracked_apps(), 1);
}

#[tokio::test(start_paused = true)]
async fn explicit_housekeeping_and_drop() {
    let l = limiter(&[("__default", &[(2, 2)])]).await;
    admitted(&l, "a", 1).await;
    admitted(&l, "b", 1).await;
    l.housekeep();
    assert_eq!(l.tracked_apps(), 2);
    advance(Duration::from_secs(2)).await;
    l.housekeep();
    assert_eq!(l.tracked_apps(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_housekeeping_task_ends_with_the_limiter() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let l = limiter(&[("__default", &[(1, 1)])]).await;
    assert_eq!(metrics.num_alive_tasks(), before + 1);
    let clone = l.clone();
    drop(l);
    assert!(clone.check("a").await.allowed);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(metrics.num_alive_tasks(), before + 1); // a clone is alive
    drop(clone);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(metrics.num_alive_tasks(), before);
}

#[tokio::test]
async fn rejects_invalid_rates() {
    let err = RateLimiter::new(&config(&[("app", &[(1, 1)])]))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "rate_limit.rates.__default is required");
    assert!(
        RateLimiter::new(&config(&[("__default", &[(0, 1)])]))
            .await
            .is_err()
    );
}

//! The Redis backend (limiter and job cache) on every topology, each a real deployment
//! started by the test on free loopback ports: TLS with a private CA and with client
//! certificates (generated at test time), an ACL user, a Sentinel-watched master that
//! fails over in the middle of traffic, and a 3-node Redis Cluster. Fail-open and
//! fail-closed decide the same way on each. Fails, never skips, when a binary is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/redis_topo.rs"]
mod redis_topo;

use bk_job_shim::jobcache::JobCache;
use bk_job_shim::ratelimit::{Backend, Decision, Options, Rate, RateLimitConfig, RateLimiter};
use bk_job_shim::redis_conn::{RedisConn, RedisOptions, RedisTlsConfig, Topology};
use bk_job_shim::translate::status::JobExtras;
use redis_server::RedisServer;
use redis_topo::{MASTER_NAME, RedisCluster, SentinelSet, TestPki};
use std::time::{Duration, Instant};

const HOUR: u64 = 3600;

fn base(fail_open: bool, windows: &[(u64, u64)]) -> RateLimitConfig {
    RateLimitConfig {
        backend: Backend::Redis,
        fail_open,
        rates: [(
            "__default".to_owned(),
            windows
                .iter()
                .map(|&(period, tokens)| Rate { period, tokens })
                .collect(),
        )]
        .into(),
        ..RateLimitConfig::default()
    }
}

/// A limiter whose Redis call timeout (connecting and the TLS handshake included) leaves
/// room for a loaded CI machine: the cases here are about topology, not latency.
async fn limiter(cfg: &RateLimitConfig) -> RateLimiter {
    let opts = Options {
        redis_timeout: Duration::from_secs(2),
        ..Options::default()
    };
    RateLimiter::with_options(cfg, opts).await.unwrap()
}

/// What every topology must answer when Redis cannot decide.
fn assert_degraded(d: &Decision, fail_open: bool) {
    assert!(d.degraded, "{d:?}");
    assert_eq!(d.allowed, fail_open, "{d:?}");
    assert_eq!(d.retry_after_secs, (!fail_open).then_some(1), "{d:?}");
}

fn tls(ca: &std::path::Path, client: Option<&TestPki>) -> RedisTlsConfig {
    RedisTlsConfig {
        ca_file: Some(ca.to_owned()),
        client_cert_file: client.map(|p| p.client_cert.clone()),
        client_key_file: client.map(|p| p.client_key.clone()),
    }
}

#[tokio::test]
async fn tls_with_a_private_ca_and_client_certificates() {
    let pki = TestPki::generate();
    let server = pki.server(false);
    let url = format!("rediss://127.0.0.1:{}/0", server.port());
    let cfg = RateLimitConfig {
        redis_url: url.clone(),
        redis_tls: tls(&pki.ca, None),
        ..base(false, &[(HOUR, 2)])
    };
    let l = limiter(&cfg).await;
    let d = l.check("tls-app").await;
    assert!(d.allowed && !d.degraded, "{d:?}");

    // A server whose certificate the configured CA did not sign is refused (fail closed).
    let untrusted = RateLimitConfig {
        redis_tls: tls(&pki.other_ca, None),
        ..cfg.clone()
    };
    let d = limiter(&untrusted).await.check("tls-app").await;
    assert_degraded(&d, false);

    // A server that requires a client certificate: refused without, served with one.
    let mtls_server = pki.server(true);
    let mtls_url = format!("rediss://127.0.0.1:{}/0", mtls_server.port());
    let no_cert = RateLimitConfig {
        redis_url: mtls_url.clone(),
        ..cfg.clone()
    };
    assert_degraded(&limiter(&no_cert).await.check("m").await, false);
    let with_cert = RateLimitConfig {
        redis_url: mtls_url,
        redis_tls: tls(&pki.ca, Some(&pki)),
        ..cfg.clone()
    };
    let l = limiter(&with_cert).await;
    assert!(l.check("m").await.allowed);
    assert!(l.check("m").await.allowed);
    let d = l.check("m").await;
    assert!(!d.allowed && !d.degraded, "{d:?}");
}

#[tokio::test]
async fn acl_user_and_password() {
    let server = RedisServer::start_with(
        &[
            "--user", "alice", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off",
        ]
        .map(String::from),
    );
    let url = |pw: &str| format!("redis://alice:{pw}@127.0.0.1:{}/0", server.port());
    let good = RateLimitConfig {
        redis_url: url("s3cret"),
        ..base(true, &[(HOUR, 5)])
    };
    let d = limiter(&good).await.check("acl").await;
    assert!(d.allowed && !d.degraded, "{d:?}");
    for fail_open in [true, false] {
        let wrong = RateLimitConfig {
            redis_url: url("wrong"),
            fail_open,
            ..good.clone()
        };
        assert_degraded(&limiter(&wrong).await.check("acl").await, fail_open);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_keeps_each_apps_windows_in_one_slot() {
    let mut cluster = RedisCluster::start();
    let cfg = RateLimitConfig {
        redis_cluster_nodes: cluster.urls(),
        ..base(false, &[(HOUR, 5), (HOUR, 3)])
    };
    let conn = RedisConn::connect(&cfg.redis_settings(), &RedisOptions::default()).unwrap();
    assert_eq!(conn.topology(), Topology::Cluster);
    let l = RateLimiter::with_redis(&cfg, Options::default(), conn.clone())
        .await
        .unwrap();
    let apps = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let mut ports = std::collections::BTreeSet::new();
    for app in apps {
        let admitted = {
            let mut n = 0;
            for _ in 0..6 {
                let d = l.check(app).await;
                assert!(!d.degraded, "{app}: {d:?}");
                n += usize::from(d.allowed);
            }
            n
        };
        assert_eq!(admitted, 3, "{app}");
        let key = format!("bk-job-shim:rl:{{{app}}}:3600:5");
        assert_eq!(cluster.left(&key), Some(2), "{key}");
        ports.insert(cluster.port_for(&key));
    }
    assert!(
        ports.len() >= 2,
        "the apps should spread over nodes: {ports:?}"
    );

    // The job cache shares the connection.
    let jobs = JobCache::new(10, Duration::from_secs(60), Some(conn.clone()));
    let elsewhere = JobCache::new(10, Duration::from_secs(60), Some(conn));
    jobs.put(
        42,
        JobExtras {
            bk_job_id: Some(7),
            ..JobExtras::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while elsewhere.get(42).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "job not shared through the cluster"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The whole cluster down: the same fail-open / fail-closed answers as standalone.
    let open = limiter(&RateLimitConfig {
        fail_open: true,
        ..cfg.clone()
    })
    .await;
    for node in &mut cluster.nodes {
        node.kill();
    }
    for _ in 0..3 {
        assert_degraded(&l.check("a").await, false);
        assert_degraded(&open.check("a").await, true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_in_the_middle_of_traffic() {
    let mut set = SentinelSet::start();
    let first_master = set.master.port();
    assert_eq!(set.master_port(), first_master);
    let cfg = RateLimitConfig {
        redis_sentinels: set.urls(),
        redis_master_name: MASTER_NAME.to_owned(),
        // Only the scheme, credentials and database are used with Sentinel.
        redis_url: format!("redis://{MASTER_NAME}/0"),
        ..base(false, &[(HOUR, 100_000)])
    };
    let l = limiter(&cfg).await;
    assert_eq!(l.redis_conn().unwrap().topology(), Topology::Sentinel);
    for _ in 0..20 {
        let d = l.check("ha").await;
        assert!(d.allowed && !d.degraded, "{d:?}");
    }

    // The master dies while requests keep coming; every answer meanwhile is either a
    // real decision or a fail-closed one, and real decisions come back on the new master.
    set.master.kill();
    let killed = Instant::now();
    let mut degraded = 0;
    let recovered = loop {
        let d = l.check("ha").await;
        if d.degraded {
            assert_degraded(&d, false);
            degraded += 1;
        } else {
            assert!(d.allowed, "{d:?}");
            if set.master_port() == set.replica.port() {
                break killed.elapsed();
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no failover within 30 s ({degraded} degraded answers)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(degraded > 0, "the outage should have been seen");
    for _ in 0..20 {
        let d = l.check("ha").await;
        assert!(
            d.allowed && !d.degraded,
            "after failover ({recovered:?}): {d:?}"
        );
    }
    // The counter lives on the promoted replica now.
    let left = set.replica.left("bk-job-shim:rl:{ha}:3600:100000").unwrap();
    assert!(left <= 100_000 - 20, "{left}");
}

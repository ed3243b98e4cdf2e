//! A shim process on Redis: a reload (SIGHUP) that points `rate_limit.redis_url` at
//! another Redis moves the limiter and the job cache together, and the Redis password
//! shows up in no log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
#[path = "support/redis.rs"]
mod redis_server;

use harness::*;
use redis_server::RedisServer;
use serde_json::json;
use std::time::{Duration, Instant};

const PATH: &str = "/api/c/compapi/v2/job/execute_job/";

fn config(upstream: &str, redis: &str, prefix: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
         [upstream]\nurl = \"{upstream}\"\n\
         [rate_limit]\nbackend = \"redis\"\nredis_url = \"{redis}\"\nredis_prefix = \"{prefix}\"\n\
         fail_open = false\n\
         [rate_limit.rates]\n__default = [{{ period = 3600, tokens = 1000 }}]\n"
    )
}

fn exists(r: &RedisServer, key: &str) -> bool {
    r.raw(&["EXISTS", key]) == ":1\r\n"
}

/// Whether a key matches the glob `pattern` (limiter buckets are `<app>#<tag>`).
fn exists_like(r: &RedisServer, pattern: &str) -> bool {
    r.raw(&["KEYS", pattern]) != "*0\r\n"
}

/// Polls `f` without blocking the runtime (the shim's log reader runs on it).
async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reload_moves_the_limiter_and_the_job_cache_to_the_new_redis() {
    let first = RedisServer::start();
    let second = RedisServer::start_with(
        &[
            "--user",
            "shim",
            "on",
            ">pw-not-in-logs",
            "~*",
            "&*",
            "+@all",
        ]
        .map(String::from),
    );
    let second_url = format!("redis://shim:pw-not-in-logs@127.0.0.1:{}/0", second.port());
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 501, "job_instance_name": "n"}),
    ))
    .await;
    let cfg = temp_file("shim.toml", &config(&mock.url(), &first.url(), "before"));
    let shim = ShimProcess::start(&cfg, &[]).await;
    let body = json!({"bk_app_code": "app", "bk_app_secret": "s", "bk_token": "t",
        "bk_username": "carol", "bk_biz_id": 1, "bk_job_id": 12});
    assert_eq!(post(shim.addr, PATH, &body).await.code(), 0);
    wait_for("job 501 in the first Redis", || {
        exists(&first, "before:job:501")
    })
    .await;
    assert!(exists_like(&first, "before:rl:{app#*}:3600:1000"));

    std::fs::write(&cfg, config(&mock.url(), &second_url, "after")).unwrap();
    shim.signal("HUP");
    wait_for("the reload", || {
        shim.logs().contains("configuration reloaded")
    })
    .await;
    mock.set_behavior(|_| Behavior::ok(json!({"job_instance_id": 502, "job_instance_name": "n"})));
    assert_eq!(post(shim.addr, PATH, &body).await.code(), 0);
    wait_for("job 502 in the second Redis", || {
        exists(&second, "after:job:502")
    })
    .await;
    // The limiter moved too (the default user is left on, so the test reads without AUTH).
    assert!(exists_like(&second, "after:rl:{app#*}:3600:1000"));
    assert!(!exists(&first, "before:job:502") && !exists(&first, "after:job:502"));
    let logs = shim.logs();
    assert!(!logs.contains("pw-not-in-logs"), "{logs}");
    shim.signal("TERM");
}

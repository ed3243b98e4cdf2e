//! `check-config` on the Redis keys of `[rate_limit]`: `rediss://` with its TLS files,
//! Sentinel and Cluster forms are accepted; every problem is listed by key, and no Redis
//! password appears in the output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::Command;

fn check_config(toml: &str) -> (i32, String) {
    let p = harness::temp_file("redis.toml", toml);
    let out = Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .args(["check-config"])
        .arg(&p)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), text)
}

#[test]
fn valid_redis_topologies_pass() {
    let ca = harness::temp_file("ca.pem", include_str!("fixtures/redis/ca.pem"));
    for section in [
        format!(
            "redis_url = \"rediss://user:pw@redis.example.com:6380/0\"\n\
             [rate_limit.redis_tls]\nca_file = \"{}\"\n",
            ca.display()
        ),
        "redis_url = \"redis://:pw@mymaster/0\"\n\
         redis_sentinels = [\"redis://127.0.0.1:26379\", \"redis://127.0.0.1:26380\"]\n\
         redis_master_name = \"mymaster\"\nredis_prefix = \"shim-test\"\n"
            .to_owned(),
        "redis_cluster_nodes = [\"redis://10.0.0.1:6379\", \"redis://10.0.0.2:6379\"]\n".to_owned(),
    ] {
        let (code, out) = check_config(&format!("[rate_limit]\nbackend = \"redis\"\n{section}"));
        assert_eq!(code, 0, "{section}\n{out}");
    }
}

#[test]
fn every_redis_problem_is_named_and_no_password_is_echoed() {
    let (code, out) = check_config(
        "[rate_limit]\nbackend = \"redis\"\n\
         redis_url = \"rediss://alice:hunter2@redis.example.com:6380/0\"\n\
         redis_sentinels = [\"redis://:s3cret@:26379\"]\n\
         redis_prefix = \"a{b}\"\n\
         [rate_limit.redis_tls]\nca_file = \"/nonexistent/ca.pem\"\nclient_cert_file = \"/x.pem\"\n",
    );
    assert_eq!(code, 64, "{out}");
    for needle in [
        "rate_limit.redis_sentinels[0]",
        "rate_limit.redis_master_name is required",
        "rate_limit.redis_prefix",
        "rate_limit.redis_tls.ca_file: cannot read",
    ] {
        assert!(out.contains(needle), "missing {needle} in:\n{out}");
    }
    assert!(!out.contains("hunter2") && !out.contains("s3cret"), "{out}");
}

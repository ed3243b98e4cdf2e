//! The binary's offline commands: `check-config` and `translate`, and the example config.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::config::Config;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
}

fn run_translate(path: &str, body: &str, extra: &[&str]) -> (i32, Value) {
    let mut child = bin()
        .args(["translate", "--path", path])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn example_config_parses_and_sets_every_key() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/bk-job-shim.toml");
    let c = Config::load(Some(std::path::Path::new(path)), Vec::new()).unwrap();
    // The example states the defaults: parsing it gives the built-in configuration.
    assert_eq!(c, Config::default());
    // And it names every key of every section (commented or not).
    let text = std::fs::read_to_string(path).unwrap();
    for key in [
        "listen",
        "admin_listen",
        "max_body_bytes",
        "shutdown_grace",
        "header_read_timeout",
        "body_read_timeout",
        "max_connections",
        "worker_threads",
        "url",
        "timeout",
        "connect_timeout",
        "pool_idle_timeout",
        "pool_max_idle_per_host",
        "max_in_flight",
        "[upstream.headers]",
        "proxy",
        "http2",
        "[upstream.tls]",
        "ca_file",
        "client_cert_file",
        "client_key_file",
        "server_name",
        "[server.tls]",
        "cert_file",
        "key_file",
        "steps",
        "error_status",
        "timezone",
        "job_cache_capacity",
        "job_cache_ttl",
        "mode",
        "allowed_apps",
        "app_code",
        "app_secret_env",
        "app_secret_file",
        "system_api",
        "callback_hosts",
        "[auth.jwt]",
        "required",
        "public_key_file",
        "issuer",
        "audience",
        "no_user",
        "algorithms",
        "leeway",
        "backend",
        "redis_url",
        "redis_sentinels",
        "redis_master_name",
        "redis_cluster_nodes",
        "redis_prefix",
        "[rate_limit.redis_tls]",
        "ca_file",
        "client_cert_file",
        "client_key_file",
        "fail_open",
        "[rate_limit.rates]",
        "__default",
        "format",
        "filter",
        "[routes]",
        "fast_execute_script",
        "[paging]",
        "max_rows",
        "page_length",
    ] {
        assert!(
            text.contains(key),
            "config/bk-job-shim.toml does not mention {key}"
        );
    }
    let status = bin().args(["check-config", path]).status().unwrap();
    assert!(status.success());
}

#[test]
fn check_config_lists_every_problem_and_exits_64() {
    let p = harness::temp_file(
        "bad.toml",
        "[server]\nlisten = \"nope\"\n[upstream]\nurl = \"ftp://x\"\nextra = 1\n[legacy]\nsteps = \"maybe\"\n",
    );
    let out = bin().args(["check-config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["listen", "extra", "steps"] {
        assert!(err.contains(needle), "missing {needle} in:\n{err}");
    }
    assert!(err.lines().count() >= 3, "{err}");
}

#[test]
fn check_config_checks_the_app_secret_of_app_mode() {
    let p = harness::temp_file(
        "app.toml",
        "[auth]\nmode = \"app\"\napp_code = \"shim\"\napp_secret_file = \"/nonexistent/secret\"\n",
    );
    let out = bin().args(["check-config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("app_secret_file"));
}

#[test]
fn translate_prints_the_upstream_request_with_secrets_hidden() {
    let body = r#"{"bk_app_code":"esb_test","bk_app_secret":"xxx","bk_token":"yyy","bk_biz_id":1,"bk_job_id":100,
                   "global_vars":[{"id":437,"value":"new String value"}]}"#;
    let (code, out) = run_translate("/api/c/compapi/v2/job/execute_job/", body, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["method"], "POST");
    assert_eq!(out["path"], "/api/v3/execute_job_plan");
    assert_eq!(out["body"]["job_plan_id"], 100);
    assert_eq!(out["authorization"]["bk_app_secret"], "***");
    assert_eq!(out["authorization"]["bk_token"], "***");
    assert_eq!(out["authorization"]["bk_app_code"], "esb_test");
    assert!(!out.to_string().contains("yyy"));
}

#[test]
fn translate_reports_errors_as_legacy_envelope_exit_1() {
    let (code, out) = run_translate(
        "/api/c/compapi/v2/job/execute_job/",
        r#"{"bk_biz_id":1,"bk_job_id":"abc"}"#,
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(out["result"], false);
    assert_eq!(out["code"], 1306406);
    assert!(out["message"].as_str().unwrap().contains("bk_job_id"));
}

#[test]
fn translate_steps_policy_flag() {
    let body = r#"{"bk_biz_id":1,"bk_job_id":100,"steps":[{"step_id":1}]}"#;
    let (code, out) = run_translate("/api/c/compapi/v2/job/execute_job/", body, &[]);
    assert_eq!(code, 1);
    assert!(out["message"].as_str().unwrap().contains("steps"));
    let (code, out) = run_translate(
        "/api/c/compapi/v2/job/execute_job/",
        body,
        &["--steps", "ignore"],
    );
    assert_eq!(code, 0);
    assert!(out["body"].get("steps").is_none());
    assert!(!out["warnings"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn standalone_stub_gateway_serves_a_shim() {
    use tokio::io::AsyncBufReadExt;
    // Port 0 and the bound address from its log: a port picked beforehand can be taken by
    // a parallel test before the stub binds it.
    let mut stub = tokio::process::Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .args([
            "--log-format",
            "json",
            "stub-gateway",
            "--listen",
            "127.0.0.1:0",
            "--run-time",
            "0s",
        ])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(stub.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let logged: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(logged["message"], "stub bk-job gateway listening", "{line}");
    let port = logged["addr"]
        .as_str()
        .unwrap()
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .port();
    assert_ne!(port, 0, "{line}");
    let shim = harness::start_shim(harness::test_config(&format!(
        "http://127.0.0.1:{port}/api/bk-job/prod"
    )))
    .await;
    let a = harness::post(
        shim.addr,
        "/api/c/compapi/v2/job/fast_execute_script/",
        &serde_json::json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1,
                            "script_content": "ZWNobyAx", "script_type": 1, "account": "root",
                            "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}),
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    shim.shutdown().await;
    let pid = stub.id().unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), stub.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// Runs `bk-job-shim healthcheck --admin URL`: (exit code, stderr).
async fn healthcheck(admin: &str) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .args(["healthcheck", "--admin", admin, "--timeout", "5s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn healthcheck_exits_0_for_a_ready_shim_and_1_once_it_is_gone() {
    let shim = harness::start_shim(harness::test_config("stub")).await;
    let admin = format!("http://{}", shim.admin_addr);
    assert_eq!(healthcheck(&admin).await, (0, String::new()));
    assert_eq!(healthcheck(&format!("{admin}/")).await.0, 0);
    shim.shutdown().await;
    let (code, err) = healthcheck(&admin).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not ready"), "{err}");
}

#[tokio::test]
async fn healthcheck_exits_1_on_a_refused_port_a_503_or_a_bad_url() {
    let (code, err) = healthcheck(&format!("http://{}", harness::refused_port())).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/readyz"), "{err}");
    // A draining shim answers 503 on /readyz.
    let draining = harness::MockUpstream::start(harness::Behavior::status(503, "draining\n")).await;
    let (code, err) = healthcheck(&format!("http://{}", draining.addr)).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("503"), "{err}");
    assert_eq!(draining.requests()[0].path, "/readyz");
    let (code, err) = healthcheck("https://127.0.0.1:9090").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("http://HOST:PORT"), "{err}");
}

#[tokio::test]
async fn plain_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    use tokio::io::AsyncBufReadExt;
    let mut stub = tokio::process::Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .args(["stub-gateway", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(stub.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(line.contains("INFO"), "{line}");
    assert!(
        !line.contains('\u{1b}'),
        "escape sequence in a piped log: {line:?}"
    );
    stub.kill().await.unwrap();
}

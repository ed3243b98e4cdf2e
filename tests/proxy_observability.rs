//! Metrics scraped from a running shim (checked by promtool), request ids, and reload
//! through the admin endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::app::{self, ConfigSource};
use harness::*;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

const PATH: &str = "/api/c/compapi/v2/job/execute_job/";

fn body(app: &str) -> serde_json::Value {
    json!({"bk_app_code": app, "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "bk_job_id": 1})
}

fn promtool_check(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is needed (apt-get install -y prometheus); .ci/run installs it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_after_traffic_are_valid_and_bounded() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let mut cfg = test_config(&mock.url());
    cfg.rate_limit.rates.insert(
        "vip".into(),
        vec![bk_job_shim::ratelimit::Rate {
            period: 60,
            tokens: 100,
        }],
    );
    let shim = start_shim(cfg).await;
    post(shim.addr, PATH, &body("vip")).await;
    post(shim.addr, PATH, &body("random-app-1")).await;
    post(shim.addr, PATH, &body("random-app-2")).await;
    post(
        shim.addr,
        PATH,
        &json!({"bk_app_code": "vip", "bk_biz_id": 1, "bk_job_id": "x"}),
    )
    .await;
    post(shim.addr, "/api/c/compapi/v2/job/unknown/", &body("vip")).await;
    mock.set_behavior(|_| Behavior::status(503, "down"));
    post(shim.addr, PATH, &body("vip")).await;

    let (status, text) = get_text(shim.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    promtool_check(&text);
    for series in [
        r#"bk_job_shim_requests_total{app_code="vip",code="0",outcome="ok",route="job/execute_job"} 1"#,
        r#"bk_job_shim_requests_total{app_code="other",code="0",outcome="ok",route="job/execute_job"} 2"#,
        r#"bk_job_shim_requests_total{app_code="vip",code="1306406",outcome="rejected",route="job/execute_job"} 1"#,
        r#"bk_job_shim_requests_total{app_code="none",code="1306404",outcome="rejected",route="unknown"} 1"#,
        r#"bk_job_shim_requests_total{app_code="vip",code="1306201",outcome="upstream_error",route="job/execute_job"} 1"#,
        r#"bk_job_shim_translation_rejects_total{reason="type",route="job/execute_job"} 1"#,
        r#"bk_job_shim_upstream_errors_total{kind="status_5xx"} 1"#,
        r#"bk_job_shim_upstream_duration_seconds_count{route="job/execute_job"} 4"#,
        r#"bk_job_shim_request_duration_seconds_count{route="job/execute_job"} 5"#,
        "bk_job_shim_in_flight_requests 0",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    assert!(text.contains("bk_job_shim_build_info{version=\""));
    assert!(
        !text.contains("random-app"),
        "raw app codes must not become labels"
    );
    shim.shutdown().await;
}

#[tokio::test]
async fn request_ids_are_kept_minted_and_returned() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let shim = start_shim(test_config(&mock.url())).await;
    // Kept and forwarded.
    let a = send(
        shim.addr,
        "POST",
        PATH,
        &body("a").to_string(),
        &[("X-Request-Id", "client-id-1")],
    )
    .await;
    assert_eq!(a.header("x-request-id").as_deref(), Some("client-id-1"));
    assert_eq!(
        mock.requests()[0].header("x-request-id").as_deref(),
        Some("client-id-1")
    );
    // The legacy request_id is the gateway's X-Bkapi-Request-ID, also returned as a header.
    assert_eq!(a.body["request_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(
        a.header("x-bkapi-request-id").as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    // Minted when absent (32 hex), and used as request_id when nothing came from upstream.
    let e = post(shim.addr, "/api/c/compapi/v2/job/nope/", &body("a")).await;
    let minted = e.header("x-request-id").unwrap();
    assert_eq!(minted.len(), 32);
    assert!(minted.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(e.body["request_id"], minted.as_str());
    assert_eq!(
        e.header("x-bkapi-request-id").as_deref(),
        Some(minted.as_str())
    );
    shim.shutdown().await;
}

fn config_text(upstream: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[upstream]\nurl = \"{upstream}\"\n{extra}"
    )
}

#[tokio::test]
async fn admin_reload_swaps_upstream_rates_and_apps_while_in_flight_requests_finish_on_the_old_config()
 {
    let slow_a = MockUpstream::start(Behavior::Delay(
        Duration::from_millis(800),
        Box::new(Behavior::ok(
            json!({"job_instance_id": 1, "job_instance_name": "from-a"}),
        )),
    ))
    .await;
    let b = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 2, "job_instance_name": "from-b"}),
    ))
    .await;
    let path = temp_file("shim.toml", &config_text(&slow_a.url(), ""));
    let source = ConfigSource {
        path: Some(path.clone()),
        ..ConfigSource::default()
    };
    let running = app::start(source).await.unwrap();
    let addr = running.addr;
    let in_flight = tokio::spawn(async move { post(addr, PATH, &body("a")).await });
    // Reload only once the request is in flight at the old upstream.
    for _ in 0..200 {
        if !slow_a.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(slow_a.requests().len(), 1);

    std::fs::write(
        &path,
        config_text(
            &b.url(),
            "[auth]\nallowed_apps = [\"a\"]\n[rate_limit.rates]\n__default = [{ period = 60, tokens = 1 }]\n",
        ),
    )
    .unwrap();
    let r = send(running.admin_addr, "POST", "/-/reload", "", &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));

    let old = in_flight.await.unwrap();
    assert_eq!(
        old.body["data"]["job_instance_name"], "from-a",
        "in-flight request finished on the old config"
    );
    let new = post(addr, PATH, &body("a")).await;
    assert_eq!(
        new.body["data"]["job_instance_name"], "from-b",
        "upstream URL reloaded"
    );
    assert_eq!(
        post(addr, PATH, &body("a")).await.code(),
        1306429,
        "rates reloaded"
    );
    assert_eq!(
        post(addr, PATH, &body("z")).await.code(),
        1306403,
        "allowed apps reloaded"
    );

    // Invalid file: 422, old config kept, counted.
    std::fs::write(&path, "[upstream]\nurl = 5\n").unwrap();
    let r = send(running.admin_addr, "POST", "/-/reload", "", &[]).await;
    assert_eq!(r.status, 422);
    assert!(String::from_utf8_lossy(&r.raw).contains("upstream.url"));
    assert_eq!(
        post(addr, PATH, &body("z")).await.code(),
        1306403,
        "old config kept"
    );
    let (_, m) = get_text(running.admin_addr, "/metrics").await;
    assert!(
        m.contains("bk_job_shim_config_reloads_total{result=\"error\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("bk_job_shim_config_reloads_total{result=\"ok\"} 1"),
        "{m}"
    );
    assert_eq!(slow_a.requests().len(), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn reload_picks_up_app_mode_credentials() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let secret_file = temp_file("secret", "first-secret\n");
    let text = |secret: &std::path::Path| {
        config_text(
            &mock.url(),
            &format!(
                "[auth]\nmode = \"app\"\napp_code = \"shim-app\"\napp_secret_file = \"{}\"\n",
                secret.display()
            ),
        )
    };
    let path = temp_file("shim.toml", &text(&secret_file));
    let running = app::start(ConfigSource {
        path: Some(path.clone()),
        ..ConfigSource::default()
    })
    .await
    .unwrap();
    post(running.addr, PATH, &json!({"bk_app_code": "client", "bk_app_secret": "client-secret", "bk_username": "alice", "bk_biz_id": 1, "bk_job_id": 1})).await;
    std::fs::write(&secret_file, "second-secret").unwrap();
    running.reload().await.unwrap();
    post(
        running.addr,
        PATH,
        &json!({"bk_app_code": "client", "bk_token": "tk", "bk_biz_id": 1, "bk_job_id": 1}),
    )
    .await;
    let auths: Vec<serde_json::Value> = mock
        .requests()
        .iter()
        .map(|r| serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap())
        .collect();
    assert_eq!(
        auths[0],
        json!({"bk_app_code": "shim-app", "bk_app_secret": "first-secret", "bk_username": "alice"})
    );
    assert_eq!(
        auths[1],
        json!({"bk_app_code": "shim-app", "bk_app_secret": "second-secret", "bk_token": "tk"})
    );
    running.shutdown().await;
}

//! The real binary under real signals: SIGTERM drains in-flight requests and exits 0,
//! or, when the grace ends first, answers them "outcome unknown" and exits 75;
//! SIGHUP reloads the configuration; signals sent as soon as the shim listens are
//! handled; logs never contain secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::*;
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "app-secret-value-9f8e7d";
const TOKEN: &str = "bk-token-value-1a2b3c";
const ACCESS: &str = "access-token-value-4d5e6f";
const HDR_SECRET: &str = "header-secret-value-7a8b9c";
const JWT: &str = "eyJhbGciOiJSUzUxMiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

fn config_text(upstream: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace = \"10s\"\n\
         [upstream]\nurl = \"{upstream}\"\ntimeout = \"10s\"\n{extra}"
    )
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    const IN_FLIGHT: usize = 20;
    let mock = MockUpstream::start(Behavior::Delay(
        Duration::from_millis(1500),
        Box::new(Behavior::ok(
            json!({"job_instance_id": 1, "job_instance_name": "n"}),
        )),
    ))
    .await;
    let cfg = temp_file("shim.toml", &config_text(&mock.url(), ""));
    let mut p = ShimProcess::start(&cfg, &[]).await;
    let addr = p.addr;
    let mut in_flight = Vec::new();
    for i in 0..IN_FLIGHT {
        in_flight.push(tokio::spawn(async move {
            send(
                addr,
                "POST",
                "/api/c/compapi/v2/job/execute_job/",
                &json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "bk_job_id": 1})
                    .to_string(),
                &[("X-Request-Id", &format!("drain-{i}"))],
            )
            .await
        }));
    }
    // Wait until every request reached the upstream, then ask the shim to stop.
    for _ in 0..200 {
        if mock.requests().len() == IN_FLIGHT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.requests().len(), IN_FLIGHT);
    p.signal("TERM");
    // While draining, readiness fails and new connections are refused.
    let mut status = 0;
    for _ in 0..50 {
        status = get_text(p.admin_addr, "/readyz").await.0;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503);
    // Each serving thread closes its own listener as it sees the signal, which may be a
    // moment after readiness failed on the main thread.
    let mut refused = false;
    for _ in 0..50 {
        refused = tokio::net::TcpStream::connect(addr).await.is_err();
        if refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener must be closed");
    for (i, t) in in_flight.into_iter().enumerate() {
        let a = t.await.unwrap();
        assert_eq!(a.body["result"], true, "request {i}: {:?}", a.body);
        assert_eq!(a.header("x-request-id"), Some(format!("drain-{i}")));
    }
    let exit = tokio::time::timeout(Duration::from_secs(15), p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    // Nothing lost, nothing retried or duplicated: each request reached JOB exactly once.
    let mut ids: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.header("x-request-id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), IN_FLIGHT);
    assert_eq!(mock.requests().len(), IN_FLIGHT);
}

#[tokio::test]
async fn sigterm_past_the_grace_answers_outcome_unknown_and_exits_75() {
    const IN_FLIGHT: usize = 3;
    let mock = MockUpstream::start(Behavior::Delay(
        Duration::from_secs(60),
        Box::new(Behavior::ok(json!({"job_instance_id": 1}))),
    ))
    .await;
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n\
         [upstream]\nurl = \"{}\"\ntimeout = \"30s\"\n",
        mock.url()
    );
    let cfg = temp_file("shim-cut.toml", &text);
    let mut p = ShimProcess::start(&cfg, &[]).await;
    let addr = p.addr;
    let mut in_flight = Vec::new();
    for _ in 0..IN_FLIGHT {
        in_flight.push(tokio::spawn(async move {
            send(
                addr,
                "POST",
                "/api/c/compapi/v2/job/execute_job/",
                &json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "bk_job_id": 1})
                    .to_string(),
                &[],
            )
            .await
        }));
    }
    for _ in 0..200 {
        if mock.requests().len() == IN_FLIGHT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.requests().len(), IN_FLIGHT);
    p.signal("TERM");
    for t in in_flight {
        let a = t.await.unwrap();
        assert_eq!(a.body["result"], false, "{:?}", a.raw);
        assert_eq!(a.code(), 1306201, "{:?}", a.body);
        let msg = a.body["message"].as_str().unwrap();
        assert!(msg.contains("outcome is unknown"), "{msg}");
    }
    let exit = tokio::time::timeout(Duration::from_secs(15), p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(75), "an incomplete drain: {exit:?}");
    assert_eq!(mock.requests().len(), IN_FLIGHT, "nothing retried");
}

#[tokio::test]
async fn sighup_reloads_and_bad_config_keeps_the_old_one() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let cfg = temp_file(
        "shim.toml",
        &config_text(&mock.url(), "[auth]\nallowed_apps = [\"a\"]\n"),
    );
    let mut p = ShimProcess::start(&cfg, &[]).await;
    let body = |app: &str| json!({"bk_app_code": app, "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "bk_job_id": 1});
    let path = "/api/c/compapi/v2/job/execute_job/";
    assert_eq!(post(p.addr, path, &body("b")).await.code(), 1306403);

    // Allow "b" and reload with a real SIGHUP.
    std::fs::write(
        &cfg,
        config_text(&mock.url(), "[auth]\nallowed_apps = [\"a\", \"b\"]\n"),
    )
    .unwrap();
    p.signal("HUP");
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if post(p.addr, path, &body("b")).await.code() == 0 {
            ok = true;
            break;
        }
    }
    assert!(ok, "reload did not take effect");

    // An invalid file keeps the previous configuration and is counted.
    std::fs::write(&cfg, "[server]\nbogus_key = 1\n").unwrap();
    p.signal("HUP");
    let mut counted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, metrics) = get_text(p.admin_addr, "/metrics").await;
        if metrics.contains("bk_job_shim_config_reloads_total{result=\"error\"} 1") {
            counted = true;
            break;
        }
    }
    assert!(counted, "failed reload not counted");
    assert_eq!(
        post(p.addr, path, &body("b")).await.code(),
        0,
        "old config kept"
    );
    assert!(
        p.logs().contains("bogus_key"),
        "the log says why the reload failed"
    );
    p.signal("TERM");
    assert!(p.child.wait().await.unwrap().success());
}

#[tokio::test]
async fn signals_sent_as_soon_as_the_shim_listens_are_handled() {
    let mock = MockUpstream::start(Behavior::ok(json!({}))).await;
    let cfg = temp_file("shim.toml", &config_text(&mock.url(), ""));
    let mut p = ShimProcess::start(&cfg, &[]).await;
    // At once after the "listening" line: the handlers were installed before it.
    p.signal("HUP");
    let mut reloaded = false;
    for _ in 0..200 {
        if p.logs().contains("configuration reloaded") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reloaded, "SIGHUP not handled:\n{}", p.logs());
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the shim is still running"
    );
    p.signal("TERM");
    let exit = tokio::time::timeout(Duration::from_secs(15), p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "a graceful exit: {exit:?}");
}

#[tokio::test]
async fn logs_never_contain_secrets() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let cfg = temp_file("shim.toml", &config_text(&mock.url(), ""));
    let mut p = ShimProcess::start(&cfg, &[]).await;
    let path = "/api/c/compapi/v2/job/execute_job/";
    post(p.addr, path, &json!({"bk_app_code": "a", "bk_app_secret": SECRET, "bk_token": TOKEN, "bk_biz_id": 1, "bk_job_id": 1})).await;
    post(
        p.addr,
        path,
        &json!({"bk_app_code": "a", "access_token": ACCESS, "bk_biz_id": 1, "bk_job_id": "bad"}),
    )
    .await;
    send(
        p.addr,
        "POST",
        path,
        &json!({"bk_biz_id": 1, "bk_job_id": 1}).to_string(),
        &[
            (
                "X-Bkapi-Authorization",
                &format!(r#"{{"bk_app_code":"a","bk_app_secret":"{HDR_SECRET}","jwt":"{JWT}"}}"#),
            ),
            ("Authorization", &format!("Bearer {JWT}")),
            ("Cookie", &format!("bk_token={TOKEN}")),
        ],
    )
    .await;
    // Upstream rejects with an auth error: its message is logged, the secret is not.
    mock.set_behavior(|_| Behavior::status(400, r#"{"code":1640001,"message":"bk_app_code or bk_app_secret is incorrect","result":false,"data":null}"#));
    post(p.addr, path, &json!({"bk_app_code": "a", "bk_app_secret": SECRET, "bk_token": TOKEN, "bk_biz_id": 1, "bk_job_id": 1})).await;
    p.signal("TERM");
    assert!(p.child.wait().await.unwrap().success());
    let logs = p.logs();
    assert!(
        logs.contains("request completed"),
        "requests were logged:\n{logs}"
    );
    for s in [SECRET, TOKEN, ACCESS, HDR_SECRET, JWT] {
        assert!(!logs.contains(s), "secret {s} leaked into logs:\n{logs}");
    }
    // The request span carries the id that the client got back.
    assert!(logs.contains("\"request_id\""), "{logs}");
}

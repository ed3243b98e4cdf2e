//! End to end over real TCP: legacy client → shim → recording mock gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::*;
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "s3cr3t-app-secret";
const TOKEN: &str = "t0k3n-user-ticket";

fn creds() -> Value {
    json!({"bk_app_code": "esb_test", "bk_app_secret": SECRET, "bk_token": TOKEN})
}

fn with_creds(mut body: Value) -> Value {
    for (k, v) in creds().as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn job_started() -> Behavior {
    Behavior::ok(
        json!({"job_instance_id": 10000, "job_instance_name": "Test", "step_instance_id": null}),
    )
}

fn assert_no_secret(r: &Recorded) {
    let body = String::from_utf8_lossy(&r.body);
    for s in [SECRET, TOKEN, "bk_app_secret", "bk_token", "bk_app_code"] {
        assert!(!body.contains(s), "forwarded body contains {s}: {body}");
    }
    assert!(!r.query.clone().unwrap_or_default().contains(SECRET));
    let auth: Value = serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": "esb_test", "bk_app_secret": SECRET, "bk_token": TOKEN})
    );
}

#[tokio::test]
async fn execute_job_is_translated_and_forwarded() {
    let mock = MockUpstream::start(job_started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let body = with_creds(json!({
        "bk_biz_id": 1, "bk_job_id": 100,
        "global_vars": [{"id": 437, "value": "v"}],
        "bk_callback_url": "http://cb.example.com/done"
    }));
    let a = send(
        shim.addr,
        "POST",
        "/api/c/compapi/v2/job/execute_job/",
        &body.to_string(),
        &[
            ("Blueking-Language", "en"),
            ("X-Request-Id", "req-abc"),
            ("Connection", "keep-alive"),
            ("Proxy-Authorization", "Basic eA=="),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    assert_eq!(a.body["message"], "");
    assert_eq!(
        a.body["data"],
        json!({"job_instance_name": "Test", "job_instance_id": 10000})
    );
    assert_eq!(a.body["request_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(a.header("x-request-id").as_deref(), Some("req-abc"));
    assert_eq!(
        a.header("x-bkapi-request-id").as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    for h in [
        "x-bkapi-ratelimit-limit",
        "x-bkapi-ratelimit-remaining",
        "x-bkapi-ratelimit-reset",
        "x-bkapi-ratelimit-plugin",
    ] {
        assert!(a.header(h).is_some(), "missing {h}");
    }

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/bk-job/prod/api/v3/execute_job_plan");
    assert_no_secret(r);
    assert_eq!(r.header("blueking-language").as_deref(), Some("en"));
    assert_eq!(r.header("x-request-id").as_deref(), Some("req-abc"));
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    assert!(r.header("proxy-authorization").is_none());
    assert!(
        r.header("connection").is_none(),
        "hop-by-hop headers are not forwarded"
    );
    let fwd = r.json();
    assert_eq!(fwd["job_plan_id"], 100);
    assert_eq!(fwd["bk_scope_type"], "biz");
    assert_eq!(fwd["bk_scope_id"], "1");
    assert_eq!(fwd["callback_url"], "http://cb.example.com/done");
    assert!(fwd.get("bk_biz_id").is_none() && fwd.get("bk_job_id").is_none());
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn every_execute_route_with_and_without_v2_and_slash() {
    let mock = MockUpstream::start(job_started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let script = json!({"bk_biz_id": 2, "script_content": "ZWNobyAx", "script_type": 1, "account": "root",
                        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]});
    let push = json!({"bk_biz_id": 2, "file_target_path": "/tmp/", "account": "root",
                      "file_source": [{"files": ["/etc/hosts"], "account": "root", "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}]}],
                      "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]});
    let plan = json!({"bk_biz_id": 9000001, "job_plan_id": 5});
    let v3script = json!({"bk_biz_id": 2, "script_version_id": 1, "account_id": 1,
                          "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}});
    let cases = [
        (
            "/api/c/compapi/v2/job/fast_execute_script/",
            script.clone(),
            "/api/bk-job/prod/api/v3/fast_execute_script",
        ),
        (
            "/api/c/compapi/job/fast_execute_script",
            script,
            "/api/bk-job/prod/api/v3/fast_execute_script",
        ),
        (
            "/api/c/compapi/v2/job/fast_push_file",
            push,
            "/api/bk-job/prod/api/v3/fast_transfer_file",
        ),
        (
            "/api/c/compapi/jobv3/execute_job_plan/",
            plan,
            "/api/bk-job/prod/api/v3/execute_job_plan",
        ),
        (
            "/api/c/compapi/v2/jobv3/fast_execute_script/",
            v3script,
            "/api/bk-job/prod/api/v3/fast_execute_script",
        ),
    ];
    for (i, (path, body, upstream_path)) in cases.into_iter().enumerate() {
        let a = post(shim.addr, path, &with_creds(body)).await;
        assert_eq!(a.body["result"], true, "{path}: {:?}", a.body);
        let reqs = mock.requests();
        assert_eq!(reqs.len(), i + 1, "{path}");
        let r = reqs.last().unwrap();
        assert_eq!(r.method, "POST", "{path}");
        assert_eq!(r.path, upstream_path, "{path}");
        assert_no_secret(r);
    }
    let last = mock.requests();
    assert_eq!(last[3].json()["bk_scope_type"], "biz_set");
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn jobv3_query_resources_become_get() {
    let mock = MockUpstream::start(Behavior::ok(json!({"data": [], "total": 0}))).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/jobv3/get_job_plan_list/",
        &with_creds(json!({"bk_biz_id": 3, "start": 0, "length": 10})),
    )
    .await;
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    let r = &mock.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/api/bk-job/prod/api/v3/get_job_plan_list");
    let q = r.query.clone().unwrap();
    assert!(
        q.contains("bk_scope_id=3") && q.contains("length=10"),
        "{q}"
    );
    assert!(r.body.is_empty());
    assert_no_secret(r);
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn credentials_from_header_query_and_cookie() {
    let mock = MockUpstream::start(job_started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let body = json!({"bk_biz_id": 1, "bk_job_id": 1, "bk_app_code": "body-app", "bk_app_secret": "body-secret"});
    // The header wins entirely.
    send(
        shim.addr,
        "POST",
        "/api/c/compapi/v2/job/execute_job/",
        &body.to_string(),
        &[(
            "X-Bkapi-Authorization",
            r#"{"bk_app_code":"hdr","access_token":"tok"}"#,
        )],
    )
    .await;
    // Query + cookie.
    send(
        shim.addr,
        "POST",
        "/api/c/compapi/v2/job/execute_job/?bk_app_code=q&bk_app_secret=qs",
        &json!({"bk_biz_id": 1, "bk_job_id": 1}).to_string(),
        &[("Cookie", "x=1; bk_token=cookie-ticket")],
    )
    .await;
    let reqs = mock.requests();
    let auth = |i: usize| -> Value {
        serde_json::from_str(&reqs[i].header("x-bkapi-authorization").unwrap()).unwrap()
    };
    assert_eq!(
        auth(0),
        json!({"bk_app_code": "hdr", "access_token": "tok"})
    );
    assert!(!String::from_utf8_lossy(&reqs[0].body).contains("body-secret"));
    assert_eq!(
        auth(1),
        json!({"bk_app_code": "q", "bk_app_secret": "qs", "bk_token": "cookie-ticket"})
    );
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn bad_input_is_refused_and_never_forwarded() {
    let mock = MockUpstream::start(job_started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let cases: Vec<(&str, String, i64, &str)> = vec![
        (
            "/api/c/compapi/v2/job/execute_job/",
            with_creds(json!({"bk_biz_id": 1, "bk_job_id": "abc"})).to_string(),
            1306406,
            "bk_job_id",
        ),
        (
            "/api/c/compapi/v2/job/execute_job/",
            "{not json".into(),
            1306406,
            "body",
        ),
        (
            "/api/c/compapi/v2/job/execute_job/",
            json!({"bk_biz_id": 1, "bk_job_id": 1}).to_string(),
            1306000,
            "APP Code",
        ),
        (
            "/api/c/compapi/v2/job/nope/",
            with_creds(json!({})).to_string(),
            1306404,
            "not found",
        ),
        (
            "/api/c/compapi/v2/job/execute_job/",
            with_creds(json!({"bk_biz_id": 1, "bk_job_id": 1, "steps": [{"step_id": 1}]}))
                .to_string(),
            1306406,
            "steps",
        ),
    ];
    for (path, body, code, needle) in cases {
        let a = send(shim.addr, "POST", path, &body, &[]).await;
        assert_eq!(a.status, 200, "{path} {body}");
        assert_eq!(a.body["result"], false);
        assert_eq!(a.code(), code, "{body}: {:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap().contains(needle),
            "{:?}",
            a.body
        );
        assert!(a.body["request_id"].as_str().is_some_and(|s| s.len() == 32));
        assert!(a.body["data"].is_null());
    }
    assert!(mock.requests().is_empty(), "nothing may be forwarded");
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn oversized_body_gets_a_legacy_error() {
    let mock = MockUpstream::start(job_started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.server.max_body_bytes = 1024;
    let shim = start_shim(cfg).await;
    let big = with_creds(json!({"bk_biz_id": 1, "bk_job_id": 1, "pad": "x".repeat(4096)}));
    let a = tokio::time::timeout(
        Duration::from_secs(10),
        post(shim.addr, "/api/c/compapi/v2/job/execute_job/", &big),
    )
    .await
    .expect("no hang");
    assert_eq!(a.code(), 1306406);
    assert!(a.body["message"].as_str().unwrap().contains("1024"));
    assert!(mock.requests().is_empty());
    assert!(shim.shutdown().await);
}

/// Each upstream fault → the right legacy code, and exactly the expected number of
/// upstream attempts (a POST that reached the upstream is never retried).
#[tokio::test]
async fn upstream_faults_map_to_legacy_codes_without_retry() {
    let cases: Vec<(&str, Behavior, i64, u16)> = vec![
        ("reset", Behavior::Reset, 1306201, 502),
        ("slow", Behavior::Delay(Duration::from_secs(3), Box::new(job_started())), 1306201, 504),
        ("5xx", Behavior::status(502, r#"{"code":1650201,"code_name":"ERROR_REQUESTING_RESOURCE","message":"upstream down","result":false,"data":null}"#), 1306201, 502),
        ("plain 503", Behavior::status(503, "Service Unavailable"), 1306201, 502),
        ("gateway 503 json", Behavior::status(503, r#"{"code":1650300,"code_name":"SERVICE_UNAVAILABLE","message":"down","result":false,"data":null}"#), 1306201, 502),
        ("job 401", Behavior::status(401, r#"{"code":1247002,"result":false,"message":"Missing user info","data":null}"#), 1306201, 502),
        ("429", Behavior::status(429, r#"{"code":1642903,"code_name":"RATE_LIMIT_RESTRICTION","message":"API rate limit exceeded by resource strategy","result":false,"data":null}"#), 1306429, 429),
        ("auth", Behavior::status(400, r#"{"code":1640001,"code_name":"INVALID_ARGS","message":"Parameters error [reason=\"app code cannot be empty\"]","result":false,"data":null}"#), 1306000, 400),
        ("403", Behavior::status(403, r#"{"code":1640301,"code_name":"APP_NO_PERMISSION","message":"no","result":false,"data":null}"#), 1306403, 403),
        ("non-json", Behavior::status(200, "<html>oops</html>"), 1306201, 502),
        ("business", Behavior::Reply(200, r#"{"result":false,"code":1244012,"message":"Job plan does not exist","data":null}"#.into(), vec![]), 1244012, 200),
    ];
    for gateway_mode in [false, true] {
        for (name, behavior, code, real_status) in cases.clone() {
            let mock = MockUpstream::start(behavior).await;
            let mut cfg = test_config(&mock.url());
            cfg.upstream.timeout = Duration::from_millis(800);
            if gateway_mode {
                cfg.legacy.error_status = bk_job_shim::config::ErrorStatus::Gateway;
            }
            let shim = start_shim(cfg).await;
            let a = post(
                shim.addr,
                "/api/c/compapi/v2/job/execute_job/",
                &with_creds(json!({"bk_biz_id": 1, "bk_job_id": 1})),
            )
            .await;
            assert_eq!(a.code(), code, "{name}: {:?}", a.body);
            assert_eq!(a.body["result"], false, "{name}");
            assert!(a.body["request_id"].is_string(), "{name}");
            let expected_status = if gateway_mode { real_status } else { 200 };
            assert_eq!(
                a.status, expected_status,
                "{name} gateway_mode={gateway_mode}"
            );
            if gateway_mode && code == 1306429 {
                assert_eq!(a.header("retry-after").as_deref(), Some("1"), "{name}");
            }
            assert_eq!(mock.requests().len(), 1, "{name}: exactly one attempt");
            shim.shutdown().await;
        }
    }
    // Connection refused: nothing was sent, no upstream saw anything.
    let cfg = test_config(&format!("http://{}/api/bk-job/prod", refused_port()));
    let shim = start_shim(cfg).await;
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/job/execute_job/",
        &with_creds(json!({"bk_biz_id": 1, "bk_job_id": 1})),
    )
    .await;
    assert_eq!(a.code(), 1306201);
    assert!(
        a.body["message"].as_str().unwrap().contains("connect"),
        "{:?}",
        a.body
    );
    shim.shutdown().await;
}

#[tokio::test]
async fn default_stub_answers_seed_examples() {
    let shim = start_shim(test_config("stub")).await;
    let doc_b = with_creds(json!({
        "bk_biz_id": 1, "bk_job_id": 100,
        "global_vars": [{"id": 436, "target_server": {"dynamic_group_id_list": ["blo8gojho0skft7pr5q0"],
            "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}], "topo_node_list": [{"id": 1000, "node_type": "module"}]}},
            {"id": 437, "value": "new String value"}]
    }));
    let a = post(shim.addr, "/api/c/compapi/v2/job/execute_job/", &doc_b).await;
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    assert!(a.body["data"]["job_instance_id"].as_i64().unwrap() > 0);
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn admin_health_and_readiness() {
    let shim = start_shim(test_config("stub")).await;
    assert_eq!(get_text(shim.admin_addr, "/healthz").await.0, 200);
    assert_eq!(get_text(shim.admin_addr, "/livez").await.0, 200);
    assert_eq!(get_text(shim.admin_addr, "/readyz").await.0, 200);
    shim.shim.set_draining();
    assert_eq!(get_text(shim.admin_addr, "/readyz").await.0, 503);
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn oversized_chunked_body_without_length_is_refused_not_hung() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = MockUpstream::start(job_started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.server.max_body_bytes = 1024;
    let shim = start_shim(cfg).await;
    let mut s = tokio::net::TcpStream::connect(shim.addr).await.unwrap();
    let head = "POST /api/c/compapi/v2/job/execute_job/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 512, "x".repeat(512));
    for _ in 0..4 {
        // The shim may answer and stop reading before all chunks are sent.
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut tmp = [0u8; 4096];
        loop {
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&tmp[..n]);
                    if String::from_utf8_lossy(&buf).contains("\"request_id\"") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the shim hung on a chunked oversized body");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("1306406") && text.contains("1024"), "{text}");
    assert!(mock.requests().is_empty());
    shim.shutdown().await;
}

/// A body refused by its `Content-Length` is still read and discarded for a while after
/// the refusal (lingering close), so a client that keeps sending is not reset: it sends
/// the whole body, then reads the refusal.
#[tokio::test]
async fn a_refused_body_is_drained_so_the_client_reads_the_refusal() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = MockUpstream::start(job_started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.server.max_body_bytes = 64 * 1024;
    let shim = start_shim(cfg).await;
    let mut s = tokio::net::TcpStream::connect(shim.addr).await.unwrap();
    let len = 4 * 64 * 1024;
    let head = format!(
        "POST /api/c/compapi/v2/job/execute_job/ HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        len + 2
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The refusal is written at once; the client only reads it after sending everything
    // (as a simple client does). Without draining, the shim closes the connection with
    // unread data and these writes fail (reset / broken pipe).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let chunk = vec![b' '; 64 * 1024];
    for i in 0..4 {
        if let Err(e) = s.write_all(&chunk).await {
            panic!("write {i} of 4 failed: {e}");
        }
    }
    s.write_all(b"{}").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(_))), "{read:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("1306406") && text.contains("65536"), "{text}");
    assert!(mock.requests().is_empty());
    shim.shutdown().await;
}

#[tokio::test]
async fn ignored_steps_give_one_warning_header_and_a_metric() {
    let mock = MockUpstream::start(job_started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.legacy.steps = bk_job_shim::translate::StepsPolicy::Ignore;
    let shim = start_shim(cfg).await;
    // Steps plus 50 host variables that also carry a value: many warnings.
    let vars: Vec<Value> = (1..=50)
        .map(|i| json!({"id": i, "value": "v", "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}))
        .collect();
    let body = with_creds(
        json!({"bk_biz_id": 1, "bk_job_id": 1, "steps": [{"step_id": 1}], "global_vars": vars}),
    );
    let a = post(shim.addr, "/api/c/compapi/v2/job/execute_job/", &body).await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let warnings: Vec<_> = a.headers.get_all("x-bk-job-shim-warning").iter().collect();
    assert_eq!(warnings.len(), 1, "one header, however many warnings");
    let w = warnings[0].to_str().unwrap();
    assert!(w.contains("steps") && w.contains("more"), "{w}");
    assert!(a.headers.len() < 20);
    let fwd = mock.requests()[0].json();
    assert!(fwd.get("steps").is_none());
    let (_, m) = get_text(shim.admin_addr, "/metrics").await;
    assert!(m.contains("bk_job_shim_steps_ignored_total 1"), "{m}");
    shim.shutdown().await;
}

#[tokio::test]
async fn callback_hosts_fixed_headers_and_unknown_jobv3_resources() {
    let mock = MockUpstream::start(job_started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.auth.callback_hosts = vec!["cb.example.com".into()];
    cfg.upstream
        .headers
        .insert("X-Bk-Tenant-Id".into(), "tenant-a".into());
    let shim = start_shim(cfg).await;
    let path = "/api/c/compapi/v2/job/execute_job/";
    let bad = post(
        shim.addr,
        path,
        &with_creds(
            json!({"bk_biz_id": 1, "bk_job_id": 1, "bk_callback_url": "http://evil.example.net/x"}),
        ),
    )
    .await;
    assert_eq!(bad.code(), 1306406);
    assert!(
        bad.body["message"]
            .as_str()
            .unwrap()
            .contains("callback_url")
    );
    assert!(mock.requests().is_empty());
    let good = post(
        shim.addr,
        path,
        &with_creds(
            json!({"bk_biz_id": 1, "bk_job_id": 1, "bk_callback_url": "http://cb.example.com/x"}),
        ),
    )
    .await;
    assert_eq!(good.code(), 0);
    assert_eq!(
        mock.requests()[0].header("x-bk-tenant-id").as_deref(),
        Some("tenant-a")
    );
    // A jobv3 resource newer than the shim is passed through by name.
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/jobv3/get_brand_new_thing/",
        &with_creds(json!({"bk_biz_id": 1, "x": 2})),
    )
    .await;
    assert_eq!(a.code(), 0);
    let r = mock.requests().pop().unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/api/bk-job/prod/api/v3/get_brand_new_thing")
    );
    assert!(r.query.unwrap().contains("x=2"));
    let (_, m) = get_text(shim.admin_addr, "/metrics").await;
    assert!(m.contains("route=\"jobv3/other\""), "{m}");
    shim.shutdown().await;
}

#[tokio::test]
async fn silent_connections_are_closed_and_the_connection_cap_holds() {
    use tokio::io::AsyncReadExt;
    let mut cfg = test_config("stub");
    cfg.server.header_read_timeout = Duration::from_millis(1500);
    cfg.server.max_connections = 2;
    let shim = start_shim(cfg).await;
    // Two silent connections take both slots…
    let mut a = tokio::net::TcpStream::connect(shim.addr).await.unwrap();
    let mut b = tokio::net::TcpStream::connect(shim.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // …so a third is closed at once.
    let mut c = tokio::net::TcpStream::connect(shim.addr).await.unwrap();
    let mut buf = [0u8; 64];
    // Well before the header-read timeout could have closed it.
    let n = tokio::time::timeout(Duration::from_millis(1000), c.read(&mut buf))
        .await
        .expect("over the cap: closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "over the cap: closed");
    // The silent ones are dropped after the header-read timeout, freeing their slots.
    for s in [&mut a, &mut b] {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        assert!(
            matches!(n, Ok(Ok(0)) | Ok(Err(_))),
            "silent connection closed: {n:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ok = post(
        shim.addr,
        "/api/c/compapi/v2/job/nope/",
        &with_creds(json!({})),
    )
    .await;
    assert_eq!(ok.code(), 1306404, "slots are free again");
    shim.shutdown().await;
}

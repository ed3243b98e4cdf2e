//! The stack's rescue behaviours, called in process (`stack::assemble(..).oneshot(..)`,
//! no port bound) with a mock upstream service: a panic becomes the legacy envelope, the
//! request deadline covers every upstream call of a request, and a request over
//! `server.max_in_flight` is answered at once with "busy".
// These tests drive the built-in emulator (cargo feature `stub`, on by default).
#![cfg(feature = "stub")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::config::{Config, ErrorStatus, Settings};
use bk_job_shim::cores::PerCore;
use bk_job_shim::error::UpstreamError;
use bk_job_shim::stack::{self, ApiService, Base, Runtime};
use bk_job_shim::upstream::{Reply, UpstreamService};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

const SCRIPT: &str = "/api/c/compapi/v2/job/fast_execute_script/";
const LOG: &str = "/api/c/compapi/v2/job/get_job_instance_log/";

/// A valid `fast_execute_script` body (without credentials).
fn script() -> Value {
    json!({"bk_biz_id": 1, "script_id": 1, "account": "root", "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]})
}

fn creds(mut body: Value) -> Value {
    body["bk_app_code"] = json!("app");
    body["bk_app_secret"] = json!("secret");
    body["bk_token"] = json!("token");
    body
}

/// The stack over `config` with `upstream` in place of the configured one.
async fn stack_with(config: Config, upstream: Option<UpstreamService>) -> ApiService<Full<Bytes>> {
    let settings = Settings::new(config).unwrap();
    let base = Base::new(&settings);
    let mut rt = Runtime::new(settings, &base, |_| None, None).await.unwrap();
    if let Some(u) = upstream {
        rt.upstreams = std::sync::Arc::new(PerCore::build(1, |_| Ok::<_, ()>(u.clone())).unwrap());
    }
    stack::assemble(&rt, &base, 0)
}

fn post(path: &str, body: &Value) -> Request<Full<Bytes>> {
    let mut r = Request::new(Full::new(Bytes::from(body.to_string())));
    *r.method_mut() = http::Method::POST;
    *r.uri_mut() = path.parse().unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r.headers_mut().insert("host", "shim".parse().unwrap());
    r
}

async fn call(
    svc: &ApiService<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (u16, http::HeaderMap, Value) {
    let resp = svc
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn panicking_upstream() -> UpstreamService {
    BoxCloneSyncService::new(tower::service_fn(|_req: Request<Bytes>| async {
        if true {
            panic!("upstream mock exploded");
        }
        Err::<Reply, UpstreamError>(UpstreamError::Status(500))
    }))
}

#[tokio::test]
async fn a_panic_becomes_the_legacy_envelope() {
    let svc = stack_with(harness::test_config("stub"), Some(panicking_upstream())).await;
    let (status, _, v) = call(&svc, post(SCRIPT, &creds(script()))).await;
    assert_eq!(status, 200);
    assert_eq!(v["result"], false);
    assert_eq!(v["code"], 1306000);
    assert_eq!(v["message"], "internal error of the shim");
    assert!(v["request_id"].as_str().is_some_and(|s| s.len() == 32));
    assert!(
        !v.to_string().contains("exploded"),
        "the panic text is logged only: {v}"
    );

    let mut cfg = harness::test_config("stub");
    cfg.legacy.error_status = ErrorStatus::Gateway;
    let svc = stack_with(cfg, Some(panicking_upstream())).await;
    let (status, _, v) = call(&svc, post(SCRIPT, &creds(script()))).await;
    assert_eq!((status, v["code"].as_i64()), (500, Some(1306000)));
    // The stack keeps serving after a panic.
    let (status, _, v) = call(&svc, post("/nope", &json!({}))).await;
    assert_eq!((status, v["code"].as_i64()), (404, Some(1306404)));
}

/// The stub, each call delayed by `delay`.
fn slow_stub(delay: Duration) -> UpstreamService {
    let stub = bk_job_shim::upstream::stub::Stub(std::sync::Arc::new(
        bk_job_shim::stub::StubGateway::new(bk_job_shim::stub::StubOptions {
            run_time: Duration::ZERO,
            ..Default::default()
        }),
    ));
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<Bytes>| {
        let stub = stub.clone();
        async move {
            tokio::time::sleep(delay).await;
            stub.oneshot(req).await
        }
    }))
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_covers_every_upstream_call() {
    let mut cfg = harness::test_config("stub");
    cfg.upstream.timeout = Duration::from_secs(60);
    cfg.server.request_timeout = Duration::from_millis(1500);
    let svc = stack_with(cfg, Some(slow_stub(Duration::from_secs(1)))).await;
    // One call (1 s) fits in the deadline.
    let (_, _, v) = call(&svc, post(SCRIPT, &creds(script()))).await;
    assert_eq!(v["code"], 0, "{v}");
    let id = v["data"]["job_instance_id"].as_i64().unwrap();
    // The log needs the status call and a log batch (2 s): each within upstream.timeout,
    // together over the request deadline.
    let started = tokio::time::Instant::now();
    let (status, _, v) = call(
        &svc,
        post(LOG, &creds(json!({"bk_biz_id": 1, "job_instance_id": id}))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["code"], 1306201, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("did not complete within 1.5s"),
        "{v}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_request_over_max_in_flight_is_answered_busy_at_once() {
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let r = release.clone();
    let blocking: UpstreamService =
        BoxCloneSyncService::new(tower::service_fn(move |_req: Request<Bytes>| {
            let (tx, r) = (entered_tx.clone(), r.clone());
            async move {
                let _ = tx.send(());
                r.notified().await;
                Ok::<_, UpstreamError>(Reply {
                    status: 200,
                    headers: http::HeaderMap::new(),
                    body: Bytes::from_static(
                        br#"{"result":true,"code":0,"data":{"job_instance_id":7}}"#,
                    ),
                })
            }
        }));
    for mode in [ErrorStatus::Esb, ErrorStatus::Gateway] {
        let mut cfg = harness::test_config("stub");
        cfg.server.max_in_flight = 1;
        cfg.legacy.error_status = mode;
        let svc = stack_with(cfg, Some(blocking.clone())).await;
        let body = creds(script());
        let first = tokio::spawn({
            let (svc, req) = (svc.clone(), post(SCRIPT, &body));
            async move { call(&svc, req).await }
        });
        entered_rx.recv().await;
        let (status, headers, v) =
            tokio::time::timeout(Duration::from_secs(5), call(&svc, post(SCRIPT, &body)))
                .await
                .expect("a shed request is answered at once, not queued");
        assert_eq!(v["code"], 1306429, "{v}");
        assert!(v["message"].as_str().unwrap().contains("busy"), "{v}");
        match mode {
            ErrorStatus::Esb => assert_eq!(status, 200),
            ErrorStatus::Gateway => {
                assert_eq!(status, 503);
                assert_eq!(headers["retry-after"], "1");
            }
        }
        release.notify_one();
        let (_, _, v) = first.await.unwrap();
        assert_eq!(v["code"], 0, "the request in flight completes: {v}");
    }
}

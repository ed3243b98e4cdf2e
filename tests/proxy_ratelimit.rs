//! Rate limiting through the server: headers on every reply, 1306429 never forwarded,
//! unknown apps rejected before the limiter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::config::ErrorStatus;
use bk_job_shim::ratelimit::Rate;
use harness::*;
use serde_json::json;

fn body(app: &str) -> serde_json::Value {
    json!({"bk_app_code": app, "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "bk_job_id": 1})
}

const PATH: &str = "/api/c/compapi/v2/job/execute_job/";

#[tokio::test]
async fn quota_per_app_with_headers_and_no_forwarding_when_limited() {
    for mode in [ErrorStatus::Esb, ErrorStatus::Gateway] {
        let mock = MockUpstream::start(Behavior::ok(
            json!({"job_instance_id": 1, "job_instance_name": "n"}),
        ))
        .await;
        let mut cfg = test_config(&mock.url());
        cfg.legacy.error_status = mode;
        cfg.rate_limit.rates.insert(
            "__default".into(),
            vec![Rate {
                period: 60,
                tokens: 3,
            }],
        );
        cfg.rate_limit.rates.insert(
            "big".into(),
            vec![Rate {
                period: 60,
                tokens: 5,
            }],
        );
        let shim = start_shim(cfg).await;

        let mut remaining = Vec::new();
        for _ in 0..3 {
            let a = post(shim.addr, PATH, &body("small")).await;
            assert_eq!(a.code(), 0);
            assert_eq!(a.header("x-bkapi-ratelimit-limit").as_deref(), Some("3"));
            remaining.push(a.header("x-bkapi-ratelimit-remaining").unwrap());
            assert!(a.header("x-bkapi-ratelimit-reset").is_some());
            assert!(a.header("x-bkapi-ratelimit-plugin").is_some());
        }
        assert_eq!(remaining, ["2", "1", "0"]);
        let a = post(shim.addr, PATH, &body("small")).await;
        assert_eq!(a.code(), 1306429, "{:?}", a.body);
        assert_eq!(a.body["result"], false);
        assert_eq!(
            a.header("x-bkapi-ratelimit-remaining").as_deref(),
            Some("0")
        );
        match mode {
            ErrorStatus::Esb => {
                assert_eq!(a.status, 200);
                assert!(a.header("retry-after").is_none());
            }
            ErrorStatus::Gateway => {
                assert_eq!(a.status, 429);
                let ra: u64 = a.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=60).contains(&ra), "{ra}");
            }
        }
        assert_eq!(
            mock.requests().len(),
            3,
            "the rejected request was not forwarded"
        );
        // Another app has its own (overridden) quota.
        for _ in 0..5 {
            assert_eq!(post(shim.addr, PATH, &body("big")).await.code(), 0);
        }
        assert_eq!(post(shim.addr, PATH, &body("big")).await.code(), 1306429);
        let (_, metrics) = get_text(shim.admin_addr, "/metrics").await;
        assert!(
            metrics.contains("bk_job_shim_rate_limited_total{app_code=\"big\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("bk_job_shim_rate_limited_total{app_code=\"other\"} 1"),
            "{metrics}"
        );
        shim.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_apps_are_denied_before_the_limiter() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 1, "job_instance_name": "n"}),
    ))
    .await;
    let mut cfg = test_config(&mock.url());
    cfg.auth.allowed_apps = vec!["known".into()];
    let shim = start_shim(cfg).await;
    for i in 0..200 {
        let a = post(shim.addr, PATH, &body(&format!("intruder-{i}"))).await;
        assert_eq!(a.code(), 1306403);
    }
    assert_eq!(
        shim.shim.runtime().limiter.tracked_apps(),
        0,
        "no limiter state for unknown apps"
    );
    let a = post(shim.addr, PATH, &json!({"bk_biz_id": 1, "bk_job_id": 1})).await;
    assert_eq!(a.code(), 1306000, "no app code");
    assert_eq!(post(shim.addr, PATH, &body("known")).await.code(), 0);
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(
        shim.shim.runtime().limiter.tracked_apps(),
        1,
        "the known app has state"
    );
    let (_, metrics) = get_text(shim.admin_addr, "/metrics").await;
    assert!(!metrics.contains("intruder"), "unbounded label values");
    shim.shutdown().await;
}

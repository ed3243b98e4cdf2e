//! The harness itself: the request builder, a panicking mock upstream failing the test
//! (not showing up as `1306201`), and shims stopping when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::{Behavior, MockUpstream, ShimClient, start_shim, test_config};
use serde_json::json;
use std::time::Duration;

const PATH: &str = "/api/c/compapi/v2/job/fast_execute_script/";

fn body() -> serde_json::Value {
    json!({"bk_app_code": "app", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1,
           "script_id": 1, "account": "root", "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]})
}

#[tokio::test]
async fn the_builder_sends_body_and_headers() {
    let mock = MockUpstream::start(Behavior::ok(json!({"job_instance_id": 1}))).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = shim
        .post(PATH)
        .json(&body())
        .header("Blueking-Language", "en")
        .send()
        .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let seen = mock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("blueking-language").as_deref(), Some("en"));
}

#[tokio::test]
#[should_panic(expected = "the mock upstream panicked: no request was expected")]
async fn a_panicking_mock_upstream_fails_the_test() {
    let mock = MockUpstream::start_with(|_| panic!("no request was expected")).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = shim.post(PATH).json(&body()).send().await;
    // The shim only saw a broken connection…
    assert_eq!(a.code(), 1306201);
    // …but the test fails with the mock's own message when the mock is dropped.
    drop(mock);
}

#[tokio::test]
async fn a_dropped_shim_stops_listening() {
    let shim = start_shim(test_config("stub")).await;
    let addr = shim.addr;
    assert_eq!(shim.post(PATH).json(&body()).send().await.code(), 0);
    drop(shim);
    let refused = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the listener closes once the shim is dropped");
}

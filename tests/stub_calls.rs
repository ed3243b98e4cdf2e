//! The emulator's gateway table agrees with the shim's `jobv3` table on every method, refuses
//! the other method as the gateway does, and its catalog lists and details agree.
// These tests drive the built-in emulator (cargo feature `stub`, on by default).
#![cfg(feature = "stub")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bk_job_shim::stub::{StubGateway, StubOptions};
use bk_job_shim::translate::Method;
use bk_job_shim::translate::routes::V3_RESOURCES;
use bytes::Bytes;
use serde_json::Value;

const AUTH: &str =
    r#"{"bk_app_code":"a","bk_app_secret":"s","bk_token":"t","bk_username":"alice"}"#;

fn call(stub: &StubGateway, method: &str, uri: &str, body: &str) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-bkapi-authorization", AUTH)
        .body(Bytes::from(body.to_owned()))
        .unwrap();
    let resp = stub.handle(req);
    (
        resp.status().as_u16(),
        serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
    )
}

#[test]
fn methods_agree_with_the_shim_and_the_other_method_is_refused() {
    let stub = StubGateway::new(StubOptions::default());
    for r in V3_RESOURCES {
        let (right, wrong) = match r.method {
            Method::Get => ("GET", "POST"),
            Method::Post => ("POST", "GET"),
        };
        let uri = format!("/api/v3/{}?bk_biz_id=2", r.name);
        let (status, body) = call(&stub, wrong, &uri, "{}");
        assert_eq!(
            (status, body["code"].clone()),
            (404, Value::from(1_640_401)),
            "{wrong} {}",
            r.name
        );
        let (status, _) = call(&stub, right, &uri, "{\"bk_biz_id\": 2}");
        assert_ne!(status, 404, "{right} {}", r.name);
    }
    // System-only resources exist only under /system/.
    let (status, _) = call(
        &stub,
        "POST",
        "/api/v3/bkci_plugin_fast_execute_script",
        "{}",
    );
    assert_eq!(status, 404);
    let (status, _) = call(
        &stub,
        "POST",
        "/api/v3/system/bkci_plugin_fast_execute_script",
        "{}",
    );
    assert_eq!(status, 200);
}

#[test]
fn lists_page_and_agree_with_details() {
    let stub = StubGateway::new(StubOptions::default());
    let (_, page) = call(
        &stub,
        "GET",
        "/api/v3/get_job_plan_list?bk_biz_id=2&start=0&length=1000",
        "",
    );
    let total = page["data"]["total"].as_u64().unwrap();
    assert!(total > 1000, "{total}: paging must be exercised");
    assert_eq!(page["data"]["data"].as_array().unwrap().len(), 1000);
    let last = &page["data"]["data"][999];
    let id = last["id"].as_i64().unwrap();
    let (_, detail) = call(
        &stub,
        "GET",
        &format!("/api/v3/get_job_plan_detail?bk_biz_id=2&job_plan_id={id}"),
        "",
    );
    assert_eq!(detail["data"]["name"], last["name"]);
    let (_, scripts) = call(
        &stub,
        "GET",
        "/api/v3/get_script_list?bk_biz_id=2&length=100",
        "",
    );
    for s in scripts["data"]["data"].as_array().unwrap() {
        let Some(v) = s["online_script_version_id"].as_i64() else {
            continue;
        };
        let (_, d) = call(
            &stub,
            "GET",
            &format!("/api/v3/get_script_version_detail?bk_biz_id=2&id={v}"),
            "",
        );
        assert_eq!(d["data"]["name"], s["name"]);
        assert_eq!(d["data"]["status"], 1);
    }
    let (_, saved) = call(
        &stub,
        "POST",
        "/api/v3/save_cron",
        r#"{"bk_biz_id": 2, "job_plan_id": 3, "name": "n", "expression": "0 * * * *"}"#,
    );
    let cron = saved["data"]["id"].as_i64().unwrap();
    let (_, listed) = call(
        &stub,
        "GET",
        &format!("/api/v3/get_cron_list?bk_biz_id=2&id={cron}"),
        "",
    );
    assert_eq!(listed["data"]["data"][0]["name"], "n");
    assert_eq!(listed["data"]["data"][0]["creator"], "alice");
}

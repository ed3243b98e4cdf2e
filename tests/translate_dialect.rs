#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden test of the BK-CI plugin dialect (`[routes] fast_execute_script =
//! "bkci-plugin"`) against doc E's own request example (`tests/fixtures/dialect/`).

use bk_job_shim::translate::dialect::{FastExecuteScriptTarget, RoutesConfig};
use bk_job_shim::translate::{Options, Route, parse_body, translate_request};
use serde_json::{Value, json};
use std::path::PathBuf;

fn doc_e_example() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dialect/doc_e_request_example.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bkci() -> RoutesConfig {
    RoutesConfig {
        fast_execute_script: FastExecuteScriptTarget::BkciPlugin,
    }
}

fn translate(path: &str, body: Value) -> bk_job_shim::translate::UpstreamRequest {
    let route = Route::from_path(path).unwrap();
    let body = parse_body(body.to_string().as_bytes()).unwrap();
    let t = translate_request(&route, body, &Options::default()).unwrap();
    bkci().apply(t.request).unwrap()
}

#[test]
fn jobv3_request_becomes_doc_e_example() {
    let req = translate(
        "/api/c/compapi/v2/jobv3/fast_execute_script/",
        json!({
            "bk_app_code": "a", "bk_app_secret": "s",
            "bk_scope_type": "biz", "bk_scope_id": "2",
            "script_version_id": 1, "script_content": "ZWNobyAkMQ==",
            "script_param": "aGVsbG8=", "timeout": 1000, "account_id": 1000,
            "is_param_sensitive": 0, "script_language": 1,
            "target_server": {
                "host_id_list": [101],
                "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}],
                "dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}],
                "topo_node_list": [{"id": 1000, "node_type": "module"}]
            }
        }),
    );
    assert_eq!(req.resource, "bkci_plugin_fast_execute_script");
    assert_eq!(req.method.as_str(), "POST");
    let mut expected = doc_e_example();
    let e = expected.as_object_mut().unwrap();
    e["execute_target"]
        .as_object_mut()
        .unwrap()
        .remove("kube_container_filters");
    e.insert("is_param_sensitive".into(), json!(false));
    assert_eq!(req.body.unwrap().to_value(), expected);
}

#[test]
fn legacy_request_takes_the_same_shape() {
    let req = translate(
        "/api/c/compapi/v2/job/fast_execute_script/",
        json!({
            "bk_biz_id": 2, "script_content": "ZWNobyAkMQ==", "script_type": 1,
            "account": "root", "is_param_sensitive": 1, "script_param": "aGVsbG8=",
            "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}],
            "custom_query_id": ["blo8gojho0skft7pr5q0"],
            "bk_callback_url": "http://callback.example/job"
        }),
    );
    assert_eq!(req.resource, "bkci_plugin_fast_execute_script");
    let body = req.body.unwrap().to_value();
    assert_eq!(
        body["execute_target"],
        json!({
            "host_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}],
            "host_dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}]
        })
    );
    assert_eq!(body["is_param_sensitive"], true);
    assert_eq!(
        body["callback"],
        json!({"url": "http://callback.example/job"})
    );
    assert!(body.get("target_server").is_none() && body.get("callback_url").is_none());
    assert_eq!(body["account_alias"], "root");
}

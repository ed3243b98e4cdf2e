//! `[routes]` and `[paging]` through the server: with `fast_execute_script = "bkci-plugin"`
//! (app + system mode) the gateway receives doc E's `execute_target` body at
//! `/api/v3/system/bkci_plugin_fast_execute_script`; a legacy list that needs more rows
//! than `paging.max_rows` gets a clear legacy error (nothing cut silently), and every v3
//! page asks for `paging.page_length` rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::config::{AuthMode, FastExecuteScriptTarget};
use harness::*;
use serde_json::{Value, json};

fn started() -> Behavior {
    Behavior::ok(json!({"job_instance_id": 7, "job_instance_name": "n", "step_instance_id": 8}))
}

#[tokio::test]
async fn bkci_plugin_route_sends_the_doc_e_body() {
    let mock = MockUpstream::start(started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.auth.mode = AuthMode::App;
    cfg.auth.app_code = "shim-app".into();
    cfg.auth.app_secret_file = Some(temp_file("secret", "shim-secret"));
    cfg.auth.system_api = true;
    cfg.routes.fast_execute_script = FastExecuteScriptTarget::BkciPlugin;
    let shim = start_shim(cfg).await;

    let legacy = json!({
        "bk_app_code": "caller", "bk_username": "alice", "bk_biz_id": 2,
        "script_content": "ZWNobyAkMQ==", "script_param": "aGVsbG8=", "script_type": 1,
        "account": "root", "is_param_sensitive": 1,
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}],
        "custom_query_id": ["blo8gojho0skft7pr5q0"],
        "bk_callback_url": "http://callback.example/job"
    });
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/job/fast_execute_script/",
        &legacy,
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    assert_eq!(a.body["data"]["job_instance_id"], 7);

    let v3 = json!({
        "bk_app_code": "caller", "bk_username": "alice",
        "bk_scope_type": "biz", "bk_scope_id": "2", "script_language": 1,
        "script_content": "ZWNobyAkMQ==", "account_alias": "root",
        "is_param_sensitive": 0,
        "target_server": {"host_id_list": [101], "topo_node_list": [{"id": 1000, "node_type": "module"}]}
    });
    let b = post(
        shim.addr,
        "/api/c/compapi/v2/jobv3/fast_execute_script/",
        &v3,
    )
    .await;
    assert_eq!(b.code(), 0, "{:?}", b.body);

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.path,
            "/api/bk-job/prod/api/v3/system/bkci_plugin_fast_execute_script"
        );
        assert_eq!(r.header("x-bk-username").as_deref(), Some("alice"));
    }
    let body = reqs[0].json();
    assert!(body.get("target_server").is_none(), "{body}");
    assert!(body.get("callback_url").is_none(), "{body}");
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
    assert_eq!(body["script_param"], "aGVsbG8=");
    let body = reqs[1].json();
    assert_eq!(
        body["execute_target"],
        json!({
            "host_list": [{"bk_host_id": 101}],
            "host_topo_node_list": [{"id": 1000, "node_type": "module"}]
        })
    );
    assert_eq!(body["is_param_sensitive"], false);
    shim.shutdown().await;
}

#[tokio::test]
async fn default_route_stays_v3() {
    let mock = MockUpstream::start(started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let legacy = json!({
        "bk_app_code": "a", "bk_app_secret": "s", "bk_username": "u", "bk_biz_id": 2,
        "script_content": "ZWNobyAkMQ==", "script_type": 1, "account": "root",
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}]
    });
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/job/fast_execute_script/",
        &legacy,
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/api/bk-job/prod/api/v3/fast_execute_script");
    assert!(r.json()["target_server"]["ip_list"].is_array());
    shim.shutdown().await;
}

/// A v3 plan page of `total` plans for a `start`/`length` query.
fn plan_page(r: &Recorded, total: usize) -> Behavior {
    let q: Vec<(String, String)> = r
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let get = |k: &str| -> usize {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.parse().unwrap())
            .unwrap()
    };
    let (start, length) = (get("start"), get("length"));
    let rows: Vec<Value> = (start..total.min(start + length))
        .map(|i| {
            json!({"id": i + 1, "name": format!("plan {i}"), "creator": "admin",
            "bk_scope_type": "biz", "bk_scope_id": "2",
            "create_time": 1_700_000_000, "last_modify_time": 1_700_000_000})
        })
        .collect();
    Behavior::ok(json!({"start": start, "length": length, "total": total, "data": rows}))
}

fn list_body(extra: Value) -> Value {
    let mut b =
        json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_username": "u", "bk_biz_id": 2});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    b
}

#[tokio::test]
async fn paging_follows_page_length_and_refuses_past_the_ceiling() {
    let mock = MockUpstream::start_with(|r| plan_page(r, 7)).await;
    let mut cfg = test_config(&mock.url());
    cfg.paging.max_rows = 10;
    cfg.paging.page_length = 3;
    let shim = start_shim(cfg).await;
    let list = "/api/c/compapi/v2/job/get_job_list/";

    // Every row: 7 plans in pages of 3.
    let a = post(shim.addr, list, &list_body(json!({}))).await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let ids: Vec<i64> = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bk_job_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=7).collect::<Vec<_>>());
    let queries: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert!(queries[0].ends_with("start=0&length=3"), "{queries:?}");
    assert!(queries[2].ends_with("start=6&length=3"), "{queries:?}");

    // 12 plans are more than the ceiling of 10: a clear error, not 10 of them.
    mock.set_behavior(|r| plan_page(r, 12));
    let before = mock.requests().len();
    let b = post(shim.addr, list, &list_body(json!({}))).await;
    assert_eq!(b.code(), 1306406, "{:?}", b.body);
    assert_eq!(b.body["result"], false);
    assert!(b.body["data"].is_null(), "{:?}", b.body);
    let msg = b.body["message"].as_str().unwrap();
    assert!(
        msg.contains("12 rows") && msg.contains("paging.max_rows"),
        "{msg}"
    );
    assert_eq!(mock.requests().len() - before, 1, "stops at the first page");

    // A window within the ceiling is served; a window past it is refused before any call.
    let c = post(
        shim.addr,
        list,
        &list_body(json!({"start": 2, "length": 5})),
    )
    .await;
    assert_eq!(c.code(), 0, "{:?}", c.body);
    assert_eq!(c.body["data"].as_array().unwrap().len(), 5);
    let before = mock.requests().len();
    let d = post(shim.addr, list, &list_body(json!({"length": 11}))).await;
    assert_eq!(d.code(), 1306406, "{:?}", d.body);
    assert_eq!(mock.requests().len(), before);
    shim.shutdown().await;
}

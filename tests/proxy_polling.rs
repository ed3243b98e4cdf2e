//! Legacy polling through the server: get_job_instance_status / get_job_instance_log
//! against the stub gateway over HTTP and against a scripted mock.
// These tests drive the built-in emulator (cargo feature `stub`, on by default).
#![cfg(feature = "stub")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::stub::{self, StubGateway, StubOptions};
use harness::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn creds(mut v: Value) -> Value {
    v["bk_app_code"] = json!("esb_test");
    v["bk_app_secret"] = json!("sec");
    v["bk_token"] = json!("tok");
    v["bk_username"] = json!("alice");
    v
}

async fn stub_server(run_time: Duration) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gw = Arc::new(StubGateway::new(StubOptions {
        run_time,
        base_path: "/api/bk-job/prod".into(),
    }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(stub::serve(listener, gw, async move {
        let _ = rx.await;
    }));
    (format!("http://{addr}/api/bk-job/prod"), tx)
}

#[tokio::test]
async fn start_then_poll_status_and_log_through_the_stub() {
    let (url, _stop) = stub_server(Duration::ZERO).await;
    let shim = start_shim(test_config(&url)).await;
    let started = post(
        shim.addr,
        "/api/c/compapi/v2/job/execute_job/",
        &creds(
            json!({"bk_biz_id": 2, "bk_job_id": 77, "global_vars": [{"id": 1, "ip_list": [
            {"bk_cloud_id": 0, "ip": "10.1.0.1"}, {"bk_cloud_id": 0, "ip": "10.1.0.2"}]}]}),
        ),
    )
    .await;
    assert_eq!(started.code(), 0, "{:?}", started.body);
    let id = started.body["data"]["job_instance_id"].as_i64().unwrap();

    // GET with the query string, as legacy clients poll.
    let q = format!(
        "/api/c/compapi/v2/job/get_job_instance_status/?bk_app_code=esb_test&bk_app_secret=sec&bk_token=tok&bk_biz_id=2&job_instance_id={id}"
    );
    let st = send(shim.addr, "GET", &q, "", &[]).await;
    assert_eq!(st.code(), 0, "{:?}", st.body);
    let d = &st.body["data"];
    assert_eq!(d["is_finished"], true);
    let job = &d["job_instance"];
    assert_eq!(job["bk_job_id"], 77, "remembered at submit time");
    assert_eq!(job["operator"], "alice");
    assert_eq!(job["start_way"], 2);
    assert_eq!(job["status"], 3);
    let time = job["create_time"].as_str().unwrap();
    assert_eq!(time.len(), 19, "yyyy-MM-dd HH:mm:ss: {time}");
    assert!(job["total_time"].is_number());
    let blocks = d["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "one block per step");
    for b in blocks {
        assert_eq!(b["step_instances"].as_array().unwrap().len(), 1);
    }
    let ips: Vec<&str> = blocks[0]["step_instances"][0]["step_ip_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.1.0.1", "10.1.0.2"]);

    let log = post(
        shim.addr,
        "/api/c/compapi/v2/job/get_job_instance_log/",
        &creds(json!({"bk_biz_id": 2, "job_instance_id": id})),
    )
    .await;
    assert_eq!(log.code(), 0, "{:?}", log.body);
    let steps = log.body["data"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let script_log = steps[0]["step_results"][0]["ip_logs"][0]["log_content"]
        .as_str()
        .unwrap();
    assert!(
        script_log.contains("&lt;b&gt;done&lt;/b&gt; &amp; ok"),
        "{script_log}"
    );
    assert!(script_log.contains("蓝鲸"), "{script_log}");
    let file_log = steps[1]["step_results"][0]["ip_logs"][0]["log_content"]
        .as_str()
        .unwrap();
    assert!(!file_log.is_empty());
    shim.shutdown().await;
}

#[tokio::test]
async fn jobv3_status_becomes_get_with_boolean_query() {
    let mock = MockUpstream::start(Behavior::ok(json!({"finished": false}))).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/jobv3/get_job_instance_status/",
        &creds(json!({"bk_biz_id": 3, "job_instance_id": 9, "return_ip_result": true})),
    )
    .await;
    assert_eq!(a.code(), 0);
    assert_eq!(
        a.body["data"],
        json!({"finished": false}),
        "jobv3 data passes unchanged"
    );
    let r = &mock.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/api/bk-job/prod/api/v3/get_job_instance_status");
    let q = r.query.clone().unwrap();
    assert!(
        q.contains("return_ip_result=true") && q.contains("job_instance_id=9"),
        "{q}"
    );
    assert!(!q.contains("sec") && !q.contains("tok"), "{q}");
    shim.shutdown().await;
}

fn big_status(job_id: i64, hosts: i64) -> Value {
    let list: Vec<Value> = (0..hosts)
        .map(|i| json!({"bk_host_id": 1000 + i, "ip": format!("10.2.{}.{}", i / 250, i % 250), "bk_cloud_id": 0,
                        "status": 9, "tag": "", "exit_code": 0, "error_code": 0,
                        "start_time": 1700000000000_i64, "end_time": 1700000001000_i64, "total_time": 1000}))
        .collect();
    json!({
        "finished": true,
        "job_instance": {"job_instance_id": job_id, "bk_scope_type": "biz", "bk_scope_id": "5", "name": "big",
                         "status": 3, "create_time": 1700000000000_i64, "start_time": 1700000000000_i64,
                         "end_time": 1700000002000_i64, "total_time": 2000},
        "step_instance_list": [{"step_instance_id": 50, "name": "s", "status": 3, "type": 1, "execute_count": 0,
            "create_time": 1700000000000_i64, "start_time": 1700000000000_i64, "end_time": 1700000002000_i64,
            "total_time": 2000, "step_ip_result_list": list}]
    })
}

#[tokio::test]
async fn a_status_read_fast_for_the_legacy_poll_passes_whole_through_jobv3() {
    // A plain status reply: the legacy poll reads it into the typed status, the jobv3
    // pass-through must still answer its `data` unchanged.
    let status = big_status(4242, 3);
    let mock = MockUpstream::start(Behavior::ok(status.clone())).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let body = creds(json!({"bk_biz_id": 5, "job_instance_id": 4242}));
    let v3 = post(
        shim.addr,
        "/api/c/compapi/v2/jobv3/get_job_instance_status/",
        &body,
    )
    .await;
    assert_eq!(v3.code(), 0, "{:?}", v3.body);
    assert_eq!(v3.body["data"], status, "jobv3 data passes unchanged");
    let legacy = post(
        shim.addr,
        "/api/c/compapi/v2/job/get_job_instance_status/",
        &body,
    )
    .await;
    assert_eq!(legacy.code(), 0, "{:?}", legacy.body);
    let ips = &legacy.body["data"]["blocks"][0]["step_instances"][0]["step_ip_status"];
    assert_eq!(ips.as_array().map(Vec::len), Some(3), "{:?}", legacy.body);
    assert_eq!(legacy.body["data"]["job_instance"]["name"], "big");
    shim.shutdown().await;
}

fn scripted_job_gateway(req: &Recorded, hosts: i64, list_ok: bool) -> Behavior {
    match req.path.rsplit('/').next().unwrap() {
        "get_job_instance_status" => Behavior::ok(big_status(4242, hosts)),
        "get_job_instance_list" if list_ok => {
            Behavior::ok(json!({"start": 0, "length": 10, "total": 1, "data": [
            {"job_instance_id": 4242, "job_plan_id": 31, "operator": "bob", "launch_mode": 3}]}))
        }
        "get_job_instance_list" => Behavior::Reply(
            200,
            r#"{"result":false,"code":1241002,"message":"bad","data":null}"#.into(),
            vec![],
        ),
        "batch_get_job_instance_ip_log" => {
            let b = req.json();
            let logs: Vec<Value> = b["host_id_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| json!({"bk_host_id": h, "log_content": format!("<log {h}>")}))
                .collect();
            Behavior::ok(
                json!({"job_instance_id": 4242, "step_instance_id": b["step_instance_id"], "log_type": 1, "script_task_logs": logs}),
            )
        }
        _ => Behavior::status(
            404,
            r#"{"code":1640401,"result":false,"message":"API not found","data":null}"#,
        ),
    }
}

#[tokio::test]
async fn logs_of_more_than_500_hosts_are_fetched_in_chunks() {
    let mock = MockUpstream::start_with(|r| scripted_job_gateway(r, 1203, true)).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/job/get_job_instance_log/",
        &creds(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let batches: Vec<usize> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("batch_get_job_instance_ip_log"))
        .map(|r| {
            assert_eq!(r.method, "POST");
            r.json()["host_id_list"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(batches, [500, 500, 203]);
    let results = a.body["data"][0]["step_results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "all hosts share (status, tag)");
    let logs = results[0]["ip_logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1203);
    assert_eq!(logs[0]["log_content"], "&lt;log 1000&gt;");
    assert_eq!(logs[1202]["log_content"], "&lt;log 2202&gt;");
    shim.shutdown().await;
}

#[tokio::test]
async fn status_extras_are_looked_up_else_fall_back() {
    let mock = MockUpstream::start_with(|r| scripted_job_gateway(r, 2, true)).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let path = "/api/c/compapi/v2/job/get_job_instance_status/";
    let a = post(
        shim.addr,
        path,
        &creds(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let job = &a.body["data"]["job_instance"];
    assert_eq!(
        (
            job["bk_job_id"].as_i64(),
            job["operator"].as_str(),
            job["start_way"].as_i64()
        ),
        (Some(31), Some("bob"), Some(3))
    );
    let lookup = mock
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("get_job_instance_list"))
        .unwrap();
    assert_eq!(lookup.method, "GET");
    let q = lookup.query.unwrap();
    assert!(
        q.contains("job_instance_id=4242")
            && q.contains("create_time_start=")
            && q.contains("create_time_end="),
        "{q}"
    );
    // A second poll is answered from the cache: no second lookup.
    post(
        shim.addr,
        path,
        &creds(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
    )
    .await;
    let lookups = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("get_job_instance_list"))
        .count();
    assert_eq!(lookups, 1);
    shim.shutdown().await;

    // When the lookup fails: the documented fallbacks.
    let mock = MockUpstream::start_with(|r| scripted_job_gateway(r, 2, false)).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = post(
        shim.addr,
        path,
        &creds(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let job = &a.body["data"]["job_instance"];
    assert_eq!(
        (
            job["bk_job_id"].as_i64(),
            job["operator"].as_str(),
            job["start_way"].as_i64()
        ),
        (Some(-1), Some(""), Some(2))
    );
    // JOB's refusal is remembered: polling again makes no second lookup.
    let again = post(
        shim.addr,
        path,
        &creds(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
    )
    .await;
    assert_eq!(again.body["data"]["job_instance"]["bk_job_id"], -1);
    let lookups = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("get_job_instance_list"))
        .count();
    assert_eq!(lookups, 1);
    shim.shutdown().await;
}

#[tokio::test]
async fn business_errors_of_the_status_call_pass_through() {
    let mock = MockUpstream::start(Behavior::Reply(
        200,
        r#"{"result":false,"code":1244006,"message":"Task instance does not exist","data":null}"#
            .into(),
        vec![],
    ))
    .await;
    let shim = start_shim(test_config(&mock.url())).await;
    for path in [
        "/api/c/compapi/v2/job/get_job_instance_status/",
        "/api/c/compapi/v2/job/get_job_instance_log/",
    ] {
        let a = post(
            shim.addr,
            path,
            &creds(json!({"bk_biz_id": 5, "job_instance_id": 1})),
        )
        .await;
        assert_eq!(a.code(), 1244006);
        assert_eq!(a.body["message"], "Task instance does not exist");
    }
    shim.shutdown().await;
}

#[tokio::test]
async fn ticket_only_callers_need_one_lookup_then_the_cache() {
    let mock = MockUpstream::start_with(|r| {
        if r.path.ends_with("fast_execute_script") {
            Behavior::ok(
                json!({"job_instance_id": 4242, "job_instance_name": "n", "step_instance_id": 1}),
            )
        } else {
            scripted_job_gateway(r, 2, true)
        }
    })
    .await;
    let shim = start_shim(test_config(&mock.url())).await;
    // Started with a bk_token only: the shim does not know the operator's name.
    let ticket = |mut v: Value| {
        v["bk_app_code"] = json!("esb_test");
        v["bk_token"] = json!("tok");
        v
    };
    let started = post(
        shim.addr,
        "/api/c/compapi/v2/job/fast_execute_script/",
        &ticket(json!({"bk_biz_id": 5, "script_id": 1, "account": "root", "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]})),
    )
    .await;
    assert_eq!(started.code(), 0, "{:?}", started.body);
    for _ in 0..3 {
        let a = post(
            shim.addr,
            "/api/c/compapi/v2/job/get_job_instance_status/",
            &ticket(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
        )
        .await;
        let job = &a.body["data"]["job_instance"];
        // bk_job_id from the submit (-1: fast task), operator from the lookup.
        assert_eq!(
            (job["bk_job_id"].as_i64(), job["operator"].as_str()),
            (Some(-1), Some("bob"))
        );
    }
    let lookups = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("get_job_instance_list"))
        .count();
    assert_eq!(lookups, 1, "the merged result is remembered");
    shim.shutdown().await;
}

#[tokio::test]
async fn a_refused_log_batch_is_passed_through() {
    let mock = MockUpstream::start_with(|r| {
        if r.path.ends_with("batch_get_job_instance_ip_log") {
            Behavior::Reply(
                200,
                r#"{"result":false,"code":1244007,"message":"Step instance does not exist","data":null}"#.into(),
                vec![],
            )
        } else {
            scripted_job_gateway(r, 3, true)
        }
    })
    .await;
    let shim = start_shim(test_config(&mock.url())).await;
    let a = post(
        shim.addr,
        "/api/c/compapi/v2/job/get_job_instance_log/",
        &creds(json!({"bk_biz_id": 5, "job_instance_id": 4242})),
    )
    .await;
    assert_eq!(a.code(), 1244007, "{:?}", a.body);
    assert_eq!(a.body["result"], false);
    assert_eq!(a.body["message"], "Step instance does not exist");
    shim.shutdown().await;
}

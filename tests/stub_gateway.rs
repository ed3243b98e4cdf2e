// These tests drive the built-in emulator (cargo feature `stub`, on by default).
#![cfg(feature = "stub")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The built-in bk-job v3 gateway emulator (`bk_job_shim::stub`).

use bk_job_shim::stub::{MAX_BODY_BYTES, StubGateway, StubOptions, serve};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const AUTH: &str =
    r#"{"bk_app_code":"demo","bk_app_secret":"anything","bk_token":"t0k","bk_username":"alice"}"#;
const T0: u64 = 1_700_000_000_000;

fn stub(run_time: Duration) -> StubGateway {
    StubGateway::with_start_time(
        StubOptions {
            run_time,
            base_path: "/api/bk-job/prod".into(),
        },
        T0,
    )
}

fn call(
    stub: &StubGateway,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Bytes,
) -> Response<Bytes> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        b = b.header("X-Bkapi-Authorization", a);
    }
    let resp = stub.handle(b.body(body).unwrap());
    let rid = resp.headers()["x-bkapi-request-id"].to_str().unwrap();
    assert_eq!(rid.len(), 36, "UUID request id");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    resp
}

fn post(stub: &StubGateway, resource: &str, body: Value) -> Value {
    let resp = call(
        stub,
        "POST",
        &format!("/api/v3/{resource}"),
        Some(AUTH),
        Bytes::from(body.to_string()),
    );
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(resp.body()).unwrap()
}

fn get(stub: &StubGateway, resource: &str, query: &str) -> Value {
    let resp = call(
        stub,
        "GET",
        &format!("/api/v3/{resource}?{query}"),
        Some(AUTH),
        Bytes::new(),
    );
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(resp.body()).unwrap()
}

/// A bk-job error envelope: `result:false`, the code, `message`, no `data`.
fn assert_job_error(v: &Value, code: i64, message: &str) {
    assert_eq!(v["result"], false, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["message"], message, "{v}");
    assert!(v.get("data").is_none(), "no data on error: {v}");
    assert!(v["job_request_id"].is_string());
}

fn data(v: &Value) -> &Value {
    assert_eq!(v["result"], true, "{v}");
    assert_eq!(v["code"], 0, "{v}");
    assert!(v.get("message").is_none(), "no message on success: {v}");
    &v["data"]
}

fn apigw_error(resp: &Response<Bytes>, status: StatusCode, code: i64, message: &str) {
    assert_eq!(resp.status(), status);
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(
        v,
        json!({"code": code, "code_name": v["code_name"], "message": message, "result": false, "data": null})
    );
    assert_eq!(
        resp.headers()["x-bkapi-error-code"],
        code.to_string().as_str()
    );
    assert_eq!(resp.headers()["x-bkapi-error-message"], message);
}

fn script_body() -> Value {
    json!({
        "bk_scope_type": "biz", "bk_scope_id": "2",
        "script_content": "ZWNobyBoZWxsbw==", "script_language": 1,
        "account_alias": "root",
        "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": 0, "ip": "10.0.0.2"}]}
    })
}

#[test]
fn authentication_like_apigw() {
    let s = stub(Duration::from_secs(2));
    let path = "/api/v3/fast_execute_script";
    let body = || Bytes::from(script_body().to_string());
    let reason = |r: &str| format!("Parameters error [reason=\"{r}\"]");

    let resp = call(&s, "POST", path, None, body());
    apigw_error(
        &resp,
        StatusCode::BAD_REQUEST,
        1_640_001,
        &reason("app code cannot be empty"),
    );

    let resp = call(&s, "POST", path, Some("not json"), body());
    apigw_error(
        &resp,
        StatusCode::BAD_REQUEST,
        1_640_001,
        &reason("request header X-Bkapi-Authorization is not a valid JSON"),
    );

    let resp = call(&s, "POST", path, Some(r#"{"bk_app_code":"demo"}"#), body());
    apigw_error(
        &resp,
        StatusCode::BAD_REQUEST,
        1_640_001,
        &reason("please provide bk_app_secret or bk_signature to verify app"),
    );

    let app_only = r#"{"bk_app_code":"demo","bk_app_secret":"x"}"#;
    let resp = call(&s, "POST", path, Some(app_only), body());
    apigw_error(
        &resp,
        StatusCode::BAD_REQUEST,
        1_640_001,
        &reason(
            "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token",
        ),
    );

    let bare_user = r#"{"bk_app_code":"demo","bk_app_secret":"x","bk_username":"alice"}"#;
    let resp = call(&s, "POST", path, Some(bare_user), body());
    apigw_error(
        &resp,
        StatusCode::BAD_REQUEST,
        1_640_001,
        &reason("user authentication failed, the user indicated by bk_username is not verified"),
    );

    // Credentials in the body are ignored (allow_auth_from_params: false).
    let mut with_creds = script_body();
    with_creds["bk_app_code"] = json!("demo");
    with_creds["bk_app_secret"] = json!("x");
    with_creds["bk_token"] = json!("t");
    let resp = call(&s, "POST", path, None, Bytes::from(with_creds.to_string()));
    apigw_error(
        &resp,
        StatusCode::BAD_REQUEST,
        1_640_001,
        &reason("app code cannot be empty"),
    );

    // /system/ needs only the app; the user comes from X-Bk-Username.
    let req = Request::post("/api/bk-job/prod/api/v3/system/fast_execute_script")
        .header("X-Bkapi-Authorization", bare_user)
        .header("X-Bk-Username", "bob")
        .body(body())
        .unwrap();
    let resp = s.handle(req);
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    let id = data(&v)["job_instance_id"].as_i64().unwrap();
    let list = get(
        &s,
        "get_job_instance_list",
        &format!(
            "bk_biz_id=2&create_time_start={}&create_time_end={}",
            T0 - 1,
            T0 + 1
        ),
    );
    let jobs = data(&list)["data"].as_array().unwrap();
    assert!(
        jobs.iter()
            .any(|j| j["job_instance_id"] == id && j["operator"] == "bob")
    );
}

#[test]
fn routing_and_body_limit() {
    let s = stub(Duration::from_secs(2));
    // POST to a GET resource, unknown resource, legacy path: API_NOT_FOUND.
    for (m, p) in [
        ("POST", "/api/v3/get_job_instance_status"),
        ("GET", "/api/v3/fast_execute_script"),
        ("POST", "/api/v3/no_such_thing"),
        ("POST", "/api/c/compapi/v2/job/fast_execute_script/"),
    ] {
        let resp = call(&s, m, p, Some(AUTH), Bytes::new());
        apigw_error(
            &resp,
            StatusCode::NOT_FOUND,
            1_640_401,
            &format!("API not found [method=\"{m}\" path=\"{p}\"]"),
        );
    }
    // With and without the stage base, with a trailing slash.
    for p in [
        "/api/bk-job/prod/api/v3/fast_execute_script/",
        "/api/v3/fast_execute_script",
    ] {
        let resp = call(
            &s,
            "POST",
            p,
            Some(AUTH),
            Bytes::from(script_body().to_string()),
        );
        assert_eq!(resp.status(), StatusCode::OK, "{p}");
    }
    let big = Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]);
    let resp = call(&s, "POST", "/api/v3/fast_execute_script", Some(AUTH), big);
    apigw_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        1_641_301,
        "Request body size too large.",
    );
}

#[test]
fn bk_job_validation() {
    let s = stub(Duration::from_secs(2));
    let with = |patch: Value| {
        let mut b = script_body();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(Value, i64, &str)> = vec![
        (
            json!({"script_content": null}),
            1_241_004,
            "Missing request parameter [script_version_id|script_id|script_content]",
        ),
        (
            json!({"script_language": 9}),
            1_241_005,
            "Invalid request parameter [script_language]",
        ),
        (
            json!({"script_content": "%%%"}),
            1_241_005,
            "Invalid request parameter [script_content]",
        ),
        (
            json!({"timeout": 0}),
            1_240_003,
            "Job timeout must be between 1 and 259200",
        ),
        (
            json!({"timeout": 259_201}),
            1_240_003,
            "Job timeout must be between 1 and 259200",
        ),
        (
            json!({"account_alias": null}),
            1_241_004,
            "Missing request parameter [account_id|account_alias]",
        ),
        (
            json!({"target_server": null}),
            1_241_004,
            "Missing request parameter [target_server]",
        ),
        (
            json!({"target_server": {"ip_list": []}}),
            1_244_001,
            "Host is empty",
        ),
        (
            json!({"target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "300.1.1.1"}]}}),
            1_240_003,
            "Invalid Ip",
        ),
        (
            json!({"target_server": {"ip_list": [{"bk_cloud_id": -1, "ip": "1.1.1.1"}]}}),
            1_240_003,
            "Invalid bk_cloud_id",
        ),
        (json!({"timeout": {"x": 1}}), 1_240_003, "Bad Request"),
        (json!({"account_id": "abc"}), 1_240_003, "Bad Request"),
        (
            json!({"bk_scope_type": "cluster"}),
            1_240_003,
            "Invalid bk_scope_type",
        ),
        (
            json!({"bk_scope_type": null, "bk_scope_id": null}),
            1_240_003,
            "Invalid bk_scope_type",
        ),
        (
            json!({"callback_url": "http://u:p@evil/"}),
            1_240_003,
            "Callback url is invalid or not in the allowed list",
        ),
    ];
    for (patch, code, msg) in cases {
        let v = post(&s, "fast_execute_script", with(patch.clone()));
        assert_job_error(&v, code, msg);
    }
    // Malformed JSON and non-object bodies.
    for body in ["{", "[1]", ""] {
        let resp = call(
            &s,
            "POST",
            "/api/v3/fast_execute_script",
            Some(AUTH),
            Bytes::from(body),
        );
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_job_error(&v, 1_240_003, "Bad Request");
    }
    // bk_biz_id is accepted instead of the scope; script_id alone is enough.
    let mut b = with(json!({"bk_scope_type": null, "bk_scope_id": null, "script_content": null}));
    b["bk_biz_id"] = json!(2);
    b["script_id"] = json!("abc");
    assert!(data(&post(&s, "fast_execute_script", b))["job_instance_id"].is_i64());

    let plan = |patch: Value| {
        let mut b = json!({"bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": 7});
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        post(&s, "execute_job_plan", b)
    };
    assert_job_error(
        &plan(json!({"job_plan_id": 0})),
        1_241_005,
        "Invalid request parameter [job_plan_id]",
    );
    assert_job_error(
        &plan(json!({"global_var_list": [{"value": "x"}]})),
        1_241_005,
        "Invalid request parameter [global_var.id|global_var.name]",
    );
    assert_job_error(
        &plan(json!({"global_var_list": [{"id": 0, "name": "x"}]})),
        1_240_003,
        "Invalid id of globalVar",
    );

    let file = |patch: Value| {
        let mut b = json!({
            "bk_scope_type": "biz", "bk_scope_id": "2", "account_alias": "root",
            "file_target_path": "/tmp/",
            "file_source_list": [{"file_list": ["/etc/hosts"], "account": {"alias": "root"},
                                  "server": {"host_id_list": [101]}}],
            "target_server": {"host_id_list": [102]}
        });
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        post(&s, "fast_transfer_file", b)
    };
    assert!(data(&file(json!({})))["step_instance_id"].is_i64());
    assert_job_error(
        &file(json!({"file_target_path": ""})),
        1_241_007,
        "Missing or invalid request parameter [file_target_path]",
    );
    assert_job_error(
        &file(json!({"file_source_list": []})),
        1_241_004,
        "Missing request parameter [file_source_list]",
    );
    assert_job_error(
        &file(json!({"target_server": {}})),
        1_244_001,
        "Host is empty",
    );
}

#[test]
fn script_job_lifecycle() {
    let s = stub(Duration::from_secs(10));
    let v = post(&s, "fast_execute_script", script_body());
    let d = data(&v);
    assert_eq!(d["job_instance_id"], 10_000);
    let step_id = d["step_instance_id"].as_i64().unwrap();
    assert!(
        d["job_instance_name"]
            .as_str()
            .unwrap()
            .starts_with("API Quick execution script")
    );
    let q = "bk_scope_type=biz&bk_scope_id=2&job_instance_id=10000&return_ip_result=true";

    let running = get(&s, "get_job_instance_status", q);
    let d = data(&running);
    assert_eq!(d["finished"], false);
    let ji = &d["job_instance"];
    assert_eq!(ji["status"], 2);
    assert_eq!(ji["bk_scope_type"], "biz");
    assert_eq!(ji["bk_scope_id"], "2");
    assert_eq!(ji["create_time"], T0);
    assert_eq!(ji["start_time"], T0);
    assert!(ji["end_time"].is_null());
    let step = &d["step_instance_list"][0];
    assert_eq!(step["step_instance_id"], step_id);
    assert_eq!(step["type"], 1);
    assert_eq!(step["status"], 2);
    let ips = step["step_ip_result_list"].as_array().unwrap();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0]["ip"], "10.0.0.1");
    assert_eq!(ips[0]["bk_cloud_id"], 0);
    assert_eq!(ips[0]["status"], 7);
    assert!(ips[0]["bk_host_id"].as_i64().unwrap() > 0);
    assert_ne!(ips[0]["bk_host_id"], ips[1]["bk_host_id"]);

    // No ip results unless asked for.
    let plain = get(
        &s,
        "get_job_instance_status",
        "bk_biz_id=2&job_instance_id=10000",
    );
    assert!(
        data(&plain)["step_instance_list"][0]
            .get("step_ip_result_list")
            .is_none()
    );

    s.advance_clock(Duration::from_secs(10));
    let done = get(&s, "get_job_instance_status", q);
    let d = data(&done);
    assert_eq!(d["finished"], true);
    assert_eq!(d["job_instance"]["status"], 3);
    assert_eq!(d["job_instance"]["end_time"], T0 + 10_000);
    assert_eq!(d["job_instance"]["total_time"], 10_000);
    let ip = &d["step_instance_list"][0]["step_ip_result_list"][0];
    assert_eq!(ip["status"], 9);
    assert_eq!(ip["exit_code"], 0);
    assert_eq!(ip["tag"], "");

    // Unknown job, and a job looked up in another scope.
    for q in [
        "bk_biz_id=2&job_instance_id=99",
        "bk_scope_type=biz&bk_scope_id=3&job_instance_id=10000",
    ] {
        assert_job_error(
            &get(&s, "get_job_instance_status", q),
            1_244_006,
            "Task instance does not exist",
        );
    }
    assert_job_error(
        &get(&s, "get_job_instance_status", "bk_biz_id=2"),
        1_241_007,
        "Missing or invalid request parameter [job_instance_id]",
    );
    assert_job_error(
        &get(
            &s,
            "get_job_instance_status",
            "bk_biz_id=2&job_instance_id=x",
        ),
        1_240_003,
        "Bad Request",
    );
}

#[test]
fn zero_run_time_finishes_immediately_and_plan_shape() {
    let s = stub(Duration::ZERO);
    let v = post(
        &s,
        "execute_job_plan",
        json!({
            "bk_scope_type": "biz_set", "bk_scope_id": "9000000", "job_plan_id": 42,
            "global_var_list": [
                {"name": "hosts", "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.1.1.1"}]}},
                {"id": 3, "value": "x"}
            ]
        }),
    );
    let d = data(&v);
    assert!(d["step_instance_id"].is_null());
    assert_eq!(d["job_instance_name"], "job_plan_42");
    let id = d["job_instance_id"].as_i64().unwrap();
    let st = get(
        &s,
        "get_job_instance_status",
        &format!("bk_biz_id=9000000&job_instance_id={id}&return_ip_result=true"),
    );
    let d = data(&st);
    assert_eq!(d["finished"], true);
    assert_eq!(d["job_instance"]["status"], 3);
    assert_eq!(d["job_instance"]["bk_scope_type"], "biz_set");
    let steps = d["step_instance_list"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["type"], 1);
    assert_eq!(steps[1]["type"], 2);
    assert_eq!(steps[1]["step_ip_result_list"][0]["ip"], "10.1.1.1");

    // A plan without host variables runs on the two default hosts.
    let v = post(
        &s,
        "execute_job_plan",
        json!({"bk_biz_id": 2, "job_plan_id": 1}),
    );
    let id = data(&v)["job_instance_id"].as_i64().unwrap();
    let st = get(
        &s,
        "get_job_instance_status",
        &format!("bk_biz_id=2&job_instance_id={id}&return_ip_result=true"),
    );
    let ips: Vec<_> = data(&st)["step_instance_list"][0]["step_ip_result_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["bk_host_id"].as_i64().unwrap(),
                h["ip"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ips,
        vec![(101, "127.0.0.1".to_owned()), (102, "127.0.0.2".to_owned())]
    );
}

#[test]
fn logs_shape_and_limits() {
    let s = stub(Duration::from_secs(4));
    let v = post(&s, "fast_execute_script", script_body());
    let job = data(&v)["job_instance_id"].as_i64().unwrap();
    let step = data(&v)["step_instance_id"].as_i64().unwrap();
    let st = get(
        &s,
        "get_job_instance_status",
        &format!("bk_biz_id=2&job_instance_id={job}&return_ip_result=true"),
    );
    let host_ids: Vec<i64> = data(&st)["step_instance_list"][0]["step_ip_result_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["bk_host_id"].as_i64().unwrap())
        .collect();

    let batch = |body: Value| {
        let mut b = json!({"bk_biz_id": 2, "job_instance_id": job, "step_instance_id": step});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        post(&s, "batch_get_job_instance_ip_log", b)
    };
    s.advance_clock(Duration::from_secs(4));
    let v = batch(json!({"host_id_list": host_ids}));
    let d = data(&v);
    assert_eq!(d["job_instance_id"], job);
    assert_eq!(d["step_instance_id"], step);
    assert_eq!(d["log_type"], 1);
    let logs = d["script_task_logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["bk_host_id"], host_ids[0]);
    assert_eq!(logs[0]["ip"], "10.0.0.1");
    assert_eq!(logs[0]["bk_cloud_id"], 0);
    let text = logs[0]["log_content"].as_str().unwrap();
    assert!(text.contains("<b>done</b> & ok"), "{text}");
    assert!(text.contains("蓝鲸"), "{text}");
    assert!(d.get("file_task_logs").is_none());

    // ip_list works too; unknown hosts are simply absent.
    let v = batch(
        json!({"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}, {"bk_cloud_id": 0, "ip": "10.9.9.9"}]}),
    );
    let logs = data(&v)["script_task_logs"].as_array().unwrap().clone();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["ip"], "10.0.0.2");

    let too_many: Vec<i64> = (1..=501).collect();
    assert_job_error(
        &batch(json!({"host_id_list": too_many})),
        1_241_007,
        "Missing or invalid request parameter [host_id_list/ip_list]",
    );
    assert_job_error(
        &batch(json!({})),
        1_241_007,
        "Missing or invalid request parameter [host_id_list/ip_list]",
    );
    let five_hundred: Vec<i64> = (1..=500).collect();
    assert!(data(&batch(json!({"host_id_list": five_hundred}))).is_object());

    // Single host, GET.
    let v = get(
        &s,
        "get_job_instance_ip_log",
        &format!(
            "bk_biz_id=2&job_instance_id={job}&step_instance_id={step}&bk_cloud_id=0&ip=10.0.0.1"
        ),
    );
    let d = data(&v);
    assert_eq!(d["log_type"], 1);
    assert_eq!(d["bk_host_id"], host_ids[0]);
    assert!(d["log_content"].as_str().unwrap().contains("<b>done</b>"));
    assert_job_error(
        &get(
            &s,
            "get_job_instance_ip_log",
            &format!("bk_biz_id=2&job_instance_id={job}&step_instance_id={step}"),
        ),
        1_241_007,
        "Missing or invalid request parameter [host_id/(bk_cloud_id+ip)]",
    );

    // File step: target gets download logs, source gets upload logs.
    let v = post(
        &s,
        "fast_transfer_file",
        json!({
            "bk_biz_id": 2, "account_id": 1, "file_target_path": "/tmp/dst",
            "file_source_list": [{"file_list": ["/data/a.txt"], "account": {"id": 1},
                                  "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.5"}]}}],
            "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.6"}]}
        }),
    );
    let fjob = data(&v)["job_instance_id"].as_i64().unwrap();
    let fstep = data(&v)["step_instance_id"].as_i64().unwrap();
    let logs_before = post(
        &s,
        "batch_get_job_instance_ip_log",
        json!({"bk_biz_id": 2, "job_instance_id": fjob, "step_instance_id": fstep,
               "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.6"}]}),
    );
    let d = data(&logs_before);
    assert_eq!(d["log_type"], 2);
    assert_eq!(d["file_task_logs"][0]["file_logs"][0]["status"], 3);
    s.advance_clock(Duration::from_secs(4));
    let v = post(
        &s,
        "batch_get_job_instance_ip_log",
        json!({"bk_biz_id": 2, "job_instance_id": fjob, "step_instance_id": fstep,
               "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.6"}, {"bk_cloud_id": 0, "ip": "10.0.0.5"}]}),
    );
    let d = data(&v);
    let ftl = d["file_task_logs"].as_array().unwrap();
    assert_eq!(ftl.len(), 2);
    let dl = &ftl[0]["file_logs"][0];
    assert_eq!(ftl[0]["ip"], "10.0.0.6");
    assert_eq!(dl["mode"], 1);
    assert_eq!(dl["status"], 4);
    assert_eq!(dl["src_ip"]["ip"], "10.0.0.5");
    assert_eq!(dl["dest_ip"]["ip"], "10.0.0.6");
    assert_eq!(dl["src_path"], "/data/a.txt");
    assert_eq!(dl["dest_path"], "/tmp/dst/a.txt");
    assert!(
        dl["log_content"]
            .as_str()
            .unwrap()
            .contains("<b>done</b> & ok")
    );
    let ul = &ftl[1]["file_logs"][0];
    assert_eq!(ul["mode"], 0);
    assert!(ul.get("dest_ip").is_none());
    assert!(d.get("script_task_logs").is_none());
}

#[test]
fn job_instance_list_and_terminate() {
    let s = stub(Duration::from_secs(60));
    let a = data(&post(&s, "fast_execute_script", script_body()))["job_instance_id"].clone();
    let b = data(&post(
        &s,
        "execute_job_plan",
        json!({"bk_biz_id": 2, "job_plan_id": 5}),
    ))["job_instance_id"]
        .clone();
    let window = format!(
        "create_time_start={}&create_time_end={}",
        T0 - 1000,
        T0 + 1000
    );
    let v = get(
        &s,
        "get_job_instance_list",
        &format!("bk_biz_id=2&{window}"),
    );
    let d = data(&v);
    assert_eq!(d["start"], 0);
    assert_eq!(d["length"], 20);
    assert_eq!(d["total"], 2);
    let rows = d["data"].as_array().unwrap();
    assert_eq!(rows[0]["job_instance_id"], b, "newest first");
    assert_eq!(rows[0]["job_plan_id"], 5);
    assert_eq!(rows[0]["type"], 0);
    assert_eq!(rows[1]["job_instance_id"], a);
    assert_eq!(rows[1]["job_plan_id"], -1);
    assert_eq!(rows[1]["type"], 1);
    for r in rows {
        assert_eq!(r["operator"], "alice");
        assert_eq!(r["launch_mode"], 2);
        assert_eq!(r["status"], 2);
        assert_eq!(r["create_time"], T0);
        assert_eq!(r["bk_scope_type"], "biz");
    }
    let v = get(
        &s,
        "get_job_instance_list",
        &format!("bk_biz_id=2&{window}&job_instance_id={a}"),
    );
    assert_eq!(data(&v)["total"], 1);
    // No match: EsbPageDataV3 leaves `data` out.
    let v = get(
        &s,
        "get_job_instance_list",
        &format!("bk_biz_id=3&{window}"),
    );
    assert_eq!(data(&v)["total"], 0);
    assert!(data(&v).get("data").is_none());
    assert_job_error(
        &get(&s, "get_job_instance_list", "bk_biz_id=2"),
        1_241_007,
        "Missing or invalid request parameter [create_time_start]",
    );

    // Terminate the plan.
    s.advance_clock(Duration::from_secs(10));
    let v = post(
        &s,
        "operate_job_instance",
        json!({"bk_biz_id": 2, "job_instance_id": b, "operation_code": 1}),
    );
    assert_eq!(data(&v)["job_instance_id"], b);
    let st = get(
        &s,
        "get_job_instance_status",
        &format!("bk_biz_id=2&job_instance_id={b}&return_ip_result=true"),
    );
    let d = data(&st);
    assert_eq!(d["finished"], true);
    assert_eq!(d["job_instance"]["status"], 11);
    assert_eq!(d["job_instance"]["end_time"], T0 + 10_000);
    assert_eq!(
        d["step_instance_list"][0]["step_ip_result_list"][0]["status"],
        403
    );
    assert_eq!(d["step_instance_list"][1]["status"], 1);
}

#[tokio::test]
async fn serves_over_http() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stub = Arc::new(StubGateway::new(StubOptions {
        run_time: Duration::ZERO,
        base_path: "/api/bk-job/prod".into(),
    }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, stub, async {
        let _ = rx.await;
    }));

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(format!(
        "http://{addr}/api/bk-job/prod/api/v3/fast_execute_script"
    ))
    .header("X-Bkapi-Authorization", AUTH)
    .header("Content-Type", "application/json")
    .body(Full::new(Bytes::from(script_body().to_string())))
    .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-bkapi-request-id"].len(), 36);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let id = data(&v)["job_instance_id"].as_i64().unwrap();

    let req = Request::get(format!(
        "http://{addr}/api/v3/get_job_instance_status?bk_biz_id=2&job_instance_id={id}"
    ))
    .header("X-Bkapi-Authorization", AUTH)
    .body(Full::new(Bytes::new()))
    .unwrap();
    let resp = client.request(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(data(&v)["finished"], true);

    let req = Request::get(format!("http://{addr}/nope"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["x-bkapi-error-code"], "1640401");

    drop(client);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "bk_scope_type",
        "bk_scope_id",
        "bk_biz_id",
        "job_plan_id",
        "global_var_list",
        "id",
        "name",
        "value",
        "server",
        "host_id_list",
        "ip_list",
        "bk_cloud_id",
        "ip",
        "dynamic_group_list",
        "topo_node_list",
        "node_type",
        "script_version_id",
        "script_id",
        "script_content",
        "script_language",
        "script_param",
        "is_param_sensitive",
        "timeout",
        "account_id",
        "account_alias",
        "target_server",
        "callback_url",
        "start_task",
        "file_target_path",
        "file_target_name",
        "file_source_list",
        "file_list",
        "account",
        "alias",
        "file_type",
        "file_source_id",
        "file_source_code",
        "transfer_mode",
        "job_instance_id",
        "step_instance_id",
        "bk_host_id",
        "return_ip_result",
        "create_time_start",
        "create_time_end",
        "start",
        "length",
        "type",
        "status",
        "operator",
        "launch_mode",
        "operation_code",
    ];
    const RESOURCES: &[(&str, &str)] = &[
        ("POST", "execute_job_plan"),
        ("POST", "fast_execute_script"),
        ("POST", "fast_transfer_file"),
        ("POST", "batch_get_job_instance_ip_log"),
        ("POST", "operate_job_instance"),
        ("POST", "save_cron"),
        ("GET", "get_job_instance_status"),
        ("GET", "get_job_instance_ip_log"),
        ("GET", "get_job_instance_list"),
        ("GET", "get_cron_list"),
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-3i64..20_010).prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-z0-9./:@ <>&]{0,12}".prop_map(Value::from),
            Just(Value::from("127.0.0.1")),
            Just(Value::from("biz")),
            Just(Value::from("ZWNobw==")),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    fn query_of(v: &Value) -> String {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.to_string().replace(['&', '#', ' '], "%20")))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .unwrap_or_default()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_request_gets_an_answer(
            which in 0..RESOURCES.len(),
            body in prop::collection::vec((prop::sample::select(KEYS), json_value()), 0..10),
            raw in prop::collection::vec(any::<u8>(), 0..64),
            use_raw in any::<bool>(),
            auth in prop_oneof![Just(AUTH.to_owned()), "[ -~]{0,40}"],
        ) {
            let s = stub(Duration::from_millis(5));
            // Seed a job so that id-based lookups can hit something.
            let _ = post(&s, "fast_execute_script", script_body());
            let (method, resource) = RESOURCES[which];
            let mut obj: serde_json::Map<String, Value> =
                body.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            obj.insert("bk_biz_id".into(), json!(2));
            let obj = Value::Object(obj);
            let (uri, payload) = if method == "GET" {
                (format!("/api/v3/{resource}?{}", query_of(&obj)), Bytes::new())
            } else if use_raw {
                (format!("/api/v3/{resource}"), Bytes::from(raw))
            } else {
                (format!("/api/v3/{resource}"), Bytes::from(obj.to_string()))
            };
            let Ok(req) = Request::builder()
                .method(method)
                .uri(uri.as_str())
                .header("X-Bkapi-Authorization", auth.as_str())
                .body(payload)
            else {
                return Ok(());
            };
            let resp = s.handle(req);
            prop_assert!(resp.headers().contains_key("x-bkapi-request-id"));
            let v: Value = serde_json::from_slice(resp.body()).expect("JSON body");
            prop_assert!(v["result"].is_boolean());
            s.advance_clock(Duration::from_millis(10));
        }
    }
}

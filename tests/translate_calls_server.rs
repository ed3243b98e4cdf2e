//! The legacy calls through the server against the default emulator (`upstream = "stub"`):
//! all 21 translated calls answer; ESB's transports (form bodies, GET with a query string)
//! work for every call; an identity taken only from the `bk_token` cookie never changes
//! anything through a GET or a form POST; the calls JOB v3 has no equivalent for say so.
// These tests drive the built-in emulator (cargo feature `stub`, on by default).
#![cfg(feature = "stub")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::translate::calls::unavailable::UNAVAILABLE;
use harness::*;
use serde_json::{Value, json};

const CREDS: &str = "bk_app_code=demo&bk_app_secret=secret&bk_token=ticket";

fn with_creds(mut body: Value) -> Value {
    let o = body.as_object_mut().unwrap();
    o.insert("bk_app_code".into(), json!("demo"));
    o.insert("bk_app_secret".into(), json!("secret"));
    o.insert("bk_token".into(), json!("ticket"));
    body
}

fn path(call: &str) -> String {
    format!("/api/c/compapi/v2/job/{call}/")
}

async fn call(shim: &bk_job_shim::app::Running, name: &str, body: Value) -> Answer {
    post(shim.addr, &path(name), &with_creds(body)).await
}

#[tokio::test]
async fn all_21_calls_answer_against_the_default_emulator() {
    let shim = start_shim(test_config("stub")).await;
    let ip = json!([{"bk_cloud_id": 0, "ip": "127.0.0.1"}]);
    let started = call(
        &shim,
        "fast_execute_script",
        json!({"bk_biz_id": 2, "script_content": "ZWNobyBoaQ==",
        "script_type": 1, "account": "root", "ip_list": ip}),
    )
    .await;
    assert_eq!(started.body["result"], true, "{:?}", started.body);
    let job = started.body["data"]["job_instance_id"].as_i64().unwrap();
    let step = started.body["data"]["step_instance_id"].as_i64().unwrap();
    let cases = vec![
        ("execute_job", json!({"bk_biz_id": 2, "bk_job_id": 1})),
        (
            "fast_push_file",
            json!({"bk_biz_id": 2, "account": "root", "file_target_path": "/tmp/",
            "file_source": [{"files": ["/tmp/a"], "account": "root", "ip_list": ip}], "ip_list": ip}),
        ),
        (
            "fast_execute_sql",
            json!({"bk_biz_id": 2, "script_content": "U0VMRUNUIDE7", "db_account_id": 4, "ip_list": ip}),
        ),
        (
            "push_config_file",
            json!({"bk_biz_id": 2, "account": "root", "file_target_path": "/tmp/", "ip_list": ip,
            "file_list": [{"file_name": "a.conf", "content": "YQ=="}]}),
        ),
        (
            "get_job_instance_status",
            json!({"bk_biz_id": 2, "job_instance_id": job}),
        ),
        (
            "get_job_instance_log",
            json!({"bk_biz_id": 2, "job_instance_id": job}),
        ),
        (
            "get_step_instance_status",
            json!({"bk_biz_id": 2, "job_instance_id": job, "step_instance_id": step}),
        ),
        (
            "get_job_instance_global_var_value",
            json!({"bk_biz_id": 2, "job_instance_id": job}),
        ),
        (
            "operate_step_instance",
            json!({"bk_biz_id": 2, "job_instance_id": job, "step_instance_id": step, "operation_code": 2}),
        ),
        ("get_job_list", json!({"bk_biz_id": 2})),
        ("get_job_detail", json!({"bk_biz_id": 2, "bk_job_id": 1})),
        (
            "get_script_list",
            json!({"bk_biz_id": 2, "return_script_content": true}),
        ),
        ("get_public_script_list", json!({})),
        ("get_script_detail", json!({"bk_biz_id": 2, "id": 1012})),
        ("get_os_account", json!({"bk_biz_id": 2})),
        ("get_own_db_account_list", json!({"bk_biz_id": 2})),
        ("get_cron_list", json!({"bk_biz_id": 2})),
        (
            "save_cron",
            json!({"bk_biz_id": 2, "bk_job_id": 1, "cron_name": "c", "cron_expression": "0 * * * *"}),
        ),
        (
            "update_cron_status",
            json!({"bk_biz_id": 2, "cron_id": 1, "cron_status": 2}),
        ),
        (
            "operate_job_instance",
            json!({"bk_biz_id": 2, "job_instance_id": job, "operation_code": 1}),
        ),
    ];
    for (name, body) in cases {
        let a = call(&shim, name, body).await;
        // operate_job_instance on a finished job is bk-job's own refusal, passed on.
        if name == "operate_job_instance" && a.body["code"] == 1_241_003 {
            continue;
        }
        assert_eq!(a.body["result"], true, "{name}: {:?}", a.body);
        assert_eq!(a.body["message"], "", "{name}");
        assert!(
            a.body["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{name}"
        );
    }
    let list = call(&shim, "get_job_list", json!({"bk_biz_id": 2})).await;
    assert!(
        list.body["data"].as_array().unwrap().len() > 1000,
        "every row, paged"
    );
    let db = call(&shim, "get_own_db_account_list", json!({"bk_biz_id": 2})).await;
    assert!(
        db.header("x-bk-job-shim-warning")
            .is_some_and(|w| w.contains("grantee"))
    );
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn form_bodies_and_get_work_for_every_kind_of_call() {
    let shim = start_shim(test_config("stub")).await;
    // A form POST, with a list as JSON text.
    let form = format!(
        "{CREDS}&bk_biz_id=2&account=root&file_target_path=/tmp/&ip_list=%5B%7B%22bk_cloud_id%22%3A0%2C%22ip%22%3A%22127.0.0.1%22%7D%5D&file_list=%5B%7B%22file_name%22%3A%22a%22%2C%22content%22%3A%22YQ%3D%3D%22%7D%5D"
    );
    let a = RequestBuilder::new(shim.addr, "POST", &path("push_config_file"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await;
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    // A form value of the wrong type names the field, as JSON would.
    let a = RequestBuilder::new(shim.addr, "POST", &path("update_cron_status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{CREDS}&bk_biz_id=2&cron_id=abc&cron_status=1"))
        .send()
        .await;
    assert_eq!(a.body["code"], 1_306_406);
    assert!(
        a.body["message"].as_str().unwrap().contains("[cron_id]"),
        "{:?}",
        a.body
    );
    // GET with a query string: a list call and a mutating call.
    let a = RequestBuilder::new(
        shim.addr,
        "GET",
        &format!(
            "{}?{CREDS}&bk_biz_id=2&start=0&length=3",
            path("get_job_list")
        ),
    )
    .send()
    .await;
    assert_eq!(
        a.body["data"].as_array().map(Vec::len),
        Some(3),
        "{:?}",
        a.body
    );
    let a = RequestBuilder::new(
        shim.addr,
        "GET",
        &format!(
            "{}?{CREDS}&bk_biz_id=2&cron_id=1&cron_status=1",
            path("update_cron_status")
        ),
    )
    .send()
    .await;
    assert_eq!(a.body["data"], json!({"cron_id": 1}), "{:?}", a.body);
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn a_cookie_alone_never_changes_anything_through_get_or_form() {
    let mock = MockUpstream::start(Behavior::ok(json!({"id": 1}))).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let cookie = ("cookie", "bk_token=ticket");
    let get = |p: String| RequestBuilder::new(shim.addr, "GET", &p).header(cookie.0, cookie.1);
    let a = get(format!(
        "{}?bk_app_code=demo&bk_biz_id=2&cron_id=1&cron_status=1",
        path("update_cron_status")
    ))
    .send()
    .await;
    assert_eq!(a.body["result"], false, "{:?}", a.body);
    let a = RequestBuilder::new(shim.addr, "POST", &path("save_cron"))
        .header(cookie.0, cookie.1)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("bk_app_code=demo&bk_biz_id=2&bk_job_id=1&cron_name=c&cron_expression=0%20*%20*%20*%20*")
        .send()
        .await;
    assert_eq!(a.body["result"], false, "{:?}", a.body);
    assert!(mock.requests().is_empty(), "nothing may reach the gateway");
    // The same cookie may read through GET, and change through a JSON POST.
    mock.set_behavior(|_| {
        Behavior::ok(json!({"start": 0, "length": 1000, "total": 0, "data": []}))
    });
    let a = get(format!(
        "{}?bk_app_code=demo&bk_biz_id=2",
        path("get_cron_list")
    ))
    .send()
    .await;
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    mock.set_behavior(|_| Behavior::ok(json!({"id": 1})));
    let a = RequestBuilder::new(shim.addr, "POST", &path("update_cron_status"))
        .header(cookie.0, cookie.1)
        .json(&json!({"bk_app_code": "demo", "bk_biz_id": 2, "cron_id": 1, "cron_status": 1}))
        .send()
        .await;
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    assert_eq!(mock.requests().len(), 2);
    assert!(shim.shutdown().await);
}

#[tokio::test]
async fn calls_without_an_equivalent_say_so() {
    let shim = start_shim(test_config("stub")).await;
    for u in UNAVAILABLE {
        let a = call(&shim, u.name, json!({"bk_biz_id": 2})).await;
        assert_eq!(a.body["code"], 1_306_406, "{}", u.name);
        let m = a.body["message"].as_str().unwrap();
        assert!(m.contains("has no equivalent in JOB v3"), "{m}");
    }
    let a = call(&shim, "no_such_call", json!({})).await;
    assert_eq!(a.body["code"], 1_306_404);
    assert!(shim.shutdown().await);
}

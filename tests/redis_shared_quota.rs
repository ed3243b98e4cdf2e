//! Two shim processes pointed at one real Redis share each app's quota, and share the
//! memory of started jobs (a job started through one replica is polled through the other).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
#[path = "support/redis.rs"]
mod redis_server;

use harness::*;
use serde_json::json;

fn config(upstream: &str, redis: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
         [upstream]\nurl = \"{upstream}\"\n\
         [rate_limit]\nbackend = \"redis\"\nredis_url = \"{redis}\"\nfail_open = false\n\
         [rate_limit.rates]\n__default = [{{ period = 1, tokens = 10 }}]\n"
    )
}

#[tokio::test]
async fn two_processes_share_one_quota_and_the_job_cache() {
    let redis = redis_server::RedisServer::start();
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 777, "job_instance_name": "n"}),
    ))
    .await;
    let cfg = temp_file("shim.toml", &config(&mock.url(), &redis.url()));
    let mut a = ShimProcess::start(&cfg, &[]).await;
    let mut b = ShimProcess::start(&cfg, &[]).await;
    let body = json!({"bk_app_code": "shared", "bk_app_secret": "s", "bk_token": "t", "bk_username": "carol", "bk_biz_id": 1, "bk_job_id": 12});
    let path = "/api/c/compapi/v2/job/execute_job/";
    let started = std::time::Instant::now();
    let mut admitted = 0;
    for i in 0..40 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let r = post(addr, path, &body).await;
        match r.code() {
            0 => admitted += 1,
            1306429 => {}
            other => panic!("unexpected code {other}: {:?}", r.body),
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(1),
        "40 requests took {elapsed:?}; the window test needs < 1 s"
    );
    assert_eq!(
        admitted, 10,
        "admitted {admitted} of 40 across two replicas (quota 10 per window)"
    );
    assert_eq!(
        mock.requests().len(),
        admitted,
        "rejected requests are not forwarded"
    );

    // A job started through replica A is remembered in Redis: a status poll through
    // replica B knows bk_job_id and operator without calling get_job_instance_list.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    mock.set_behavior(|r| {
        if r.path.ends_with("execute_job_plan") {
            Behavior::ok(json!({"job_instance_id": 888, "job_instance_name": "n"}))
        } else if r.path.ends_with("get_job_instance_status") {
            Behavior::ok(json!({"finished": true, "job_instance": {"job_instance_id": 888, "bk_scope_type": "biz", "bk_scope_id": "1",
                "name": "n", "status": 3, "create_time": 1700000000000_i64, "start_time": 1700000000000_i64,
                "end_time": 1700000001000_i64, "total_time": 1000}, "step_instance_list": []}))
        } else {
            Behavior::status(404, r#"{"code":1640401,"result":false,"message":"not found","data":null}"#)
        }
    });
    let mut start = body.clone();
    start["bk_job_id"] = json!(34);
    assert_eq!(post(a.addr, path, &start).await.code(), 0);
    let poll = json!({"bk_app_code": "shared", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "job_instance_id": 888});
    let r = post(
        b.addr,
        "/api/c/compapi/v2/job/get_job_instance_status/",
        &poll,
    )
    .await;
    assert_eq!(r.code(), 0, "{:?}", r.body);
    assert_eq!(r.body["data"]["job_instance"]["bk_job_id"], 34);
    assert_eq!(r.body["data"]["job_instance"]["operator"], "carol");
    assert!(
        !mock
            .requests()
            .iter()
            .any(|r| r.path.ends_with("get_job_instance_list"))
    );
    a.signal("TERM");
    b.signal("TERM");
    assert!(a.child.wait().await.unwrap().success());
    assert!(b.child.wait().await.unwrap().success());
}

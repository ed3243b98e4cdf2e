//! The API served per core (`server.worker_threads`, `bk_job_shim::cores`): one thread per
//! core, all answering on the one address, all stopped by a shutdown, under limits of the
//! whole process; the per-core limit of exchanges with the gateway; and a request carried
//! to its end when its client half-closes the connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::*;
use serde_json::json;

/// Names of this process's threads that serve a core (Linux: `/proc/self/task/*/comm`).
fn core_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| n.starts_with("shim-core-"))
        .collect();
    names.sort();
    names
}

/// `n` execute_job calls at once, each on a connection of its own (so the kernel spreads
/// them over the cores); their answers in the order they came.
async fn execute_jobs(addr: std::net::SocketAddr, n: usize) -> Vec<Answer> {
    let body = json!({"bk_app_code": "app", "bk_app_secret": "s", "bk_token": "t",
                      "bk_biz_id": 1, "bk_job_id": 100});
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..n {
        let body = body.clone();
        calls.spawn(async move { post(addr, "/api/c/compapi/v2/job/execute_job/", &body).await });
    }
    let mut answers = Vec::new();
    while let Some(a) = calls.join_next().await {
        answers.push(a.unwrap());
    }
    answers
}

/// The gateway's answer to a job start, after `ms` milliseconds.
fn job_started_after(ms: u64) -> Behavior {
    Behavior::Delay(
        std::time::Duration::from_millis(ms),
        Box::new(Behavior::ok(
            json!({"job_instance_id": 10000, "job_instance_name": "Test"}),
        )),
    )
}

#[tokio::test]
async fn three_cores_serve_one_address_and_stop_together() {
    let mock = MockUpstream::start(Behavior::ok(
        json!({"job_instance_id": 10000, "job_instance_name": "Test"}),
    ))
    .await;
    let mut config = test_config(&mock.url());
    config.server.worker_threads = 3;
    let shim = start_shim(config).await;
    // A thread names itself as it starts, in whatever order the threads start. (The other
    // tests of this file, which `cargo test` runs in the same process, start shims of one
    // and two cores: only this one has a `shim-core-2`.)
    let ours = |names: &[String]| names.iter().any(|n| n == "shim-core-2");
    let all = |names: &[String]| {
        ["shim-core-0", "shim-core-1", "shim-core-2"]
            .iter()
            .all(|core| names.iter().any(|n| n == core))
    };
    for _ in 0..100 {
        if all(&core_threads()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let names = core_threads();
    assert!(all(&names), "{names:?}");

    for a in execute_jobs(shim.addr, 48).await {
        assert_eq!(a.body["code"], 0, "{:?}", a.body);
        assert_eq!(a.body["data"]["job_instance_id"], 10000);
    }
    assert_eq!(mock.requests().len(), 48);

    let addr = shim.addr;
    assert!(shim.shutdown().await, "every core drains");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no core listens after the shutdown"
    );
    // The threads end once their runtime is dropped, right after the drain.
    for _ in 0..100 {
        if !ours(&core_threads()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("serving threads left: {:?}", core_threads());
}

#[tokio::test]
async fn one_core_holds_its_port_alone() {
    let mock = MockUpstream::start(Behavior::status(500, "{}")).await;
    let mut config = test_config(&mock.url());
    config.server.worker_threads = 1;
    let shim = start_shim(config.clone()).await;
    config.server.listen = shim.addr;
    config.server.worker_threads = 2;
    let second = bk_job_shim::app::start_with(config, Default::default()).await;
    let Err(e) = second else {
        panic!("a second shim joined the port of a one-core shim");
    };
    assert!(e.contains("cannot listen on"), "{e}");
}

#[tokio::test]
async fn max_in_flight_counts_the_requests_of_every_core() {
    let mock = MockUpstream::start(job_started_after(1000)).await;
    let mut config = test_config(&mock.url());
    config.server.worker_threads = 2;
    config.server.max_in_flight = 1;
    let shim = start_shim(config).await;
    // Twelve connections, spread over both cores (all on one: 1 in 2,048): one place in
    // all.
    let mut codes: Vec<i64> = execute_jobs(shim.addr, 12)
        .await
        .iter()
        .map(Answer::code)
        .collect();
    codes.sort();
    assert_eq!(codes[0], 0, "{codes:?}");
    assert!(codes[1..].iter().all(|c| *c == 1306429), "{codes:?}");
}

#[tokio::test]
async fn upstream_max_in_flight_makes_the_others_wait_their_turn() {
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let mock = MockUpstream::start_with(move |_| {
        seen.lock().unwrap().push(std::time::Instant::now());
        job_started_after(300)
    })
    .await;
    let mut config = test_config(&mock.url());
    config.server.worker_threads = 1;
    config.upstream.max_in_flight = 2;
    let shim = start_shim(config).await;
    for a in execute_jobs(shim.addr, 6).await {
        assert_eq!(a.code(), 0, "{:?}", a.body);
    }
    let mut t = arrivals.lock().unwrap().clone();
    t.sort();
    assert_eq!(t.len(), 6);
    // Two at a time: the third and the fifth are sent only once an exchange has ended.
    let gap = |a: usize, b: usize| t[b].duration_since(t[a]);
    let wave = std::time::Duration::from_millis(250);
    assert!(gap(0, 2) >= wave && gap(2, 4) >= wave, "{t:?}");
}

#[tokio::test]
async fn the_wait_for_an_upstream_turn_counts_against_the_upstream_timeout() {
    let mock = MockUpstream::start(job_started_after(700)).await;
    let mut config = test_config(&mock.url());
    config.server.worker_threads = 1;
    config.upstream.max_in_flight = 1;
    config.upstream.timeout = std::time::Duration::from_secs(1);
    let shim = start_shim(config).await;
    // One is answered after 0.7 s; the other waits 0.7 s for its turn and would need
    // 0.7 s more: its 1 s are up first.
    let mut answers = execute_jobs(shim.addr, 2).await;
    answers.sort_by_key(Answer::code);
    assert_eq!(answers[0].code(), 0, "{:?}", answers[0].body);
    let late = &answers[1].body;
    assert_eq!(late["code"], 1306201, "{late:?}");
    assert!(
        late["message"].as_str().unwrap().contains("timed out"),
        "{late:?}"
    );
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_still_gets_the_reply() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = MockUpstream::start(job_started_after(300)).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let body = json!({"bk_app_code": "app", "bk_app_secret": "s", "bk_token": "t",
                      "bk_biz_id": 1, "bk_job_id": 100})
    .to_string();
    let mut conn = tokio::net::TcpStream::connect(shim.addr).await.unwrap();
    let request = format!(
        "POST /api/c/compapi/v2/job/execute_job/ HTTP/1.1\r\nhost: shim\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // Nothing more will be sent (FIN) while the gateway takes 300 ms to answer.
    conn.shutdown().await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        conn.read_to_string(&mut reply),
    )
    .await
    .expect("the reply, then the close")
    .unwrap();
    let (head, json) = reply.split_once("\r\n\r\n").expect("a whole reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{reply}");
    let legacy: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(legacy["code"], 0, "{legacy}");
    assert_eq!(legacy["data"]["job_instance_id"], 10000, "{legacy}");
    assert_eq!(mock.requests().len(), 1);
}

//! Receipt counting under upstream faults: a raw-TCP upstream counts the requests it
//! read completely (arrivals) and the job starts it answered with a success (receipts).
//! Under every fault, receipts equal the client's successful answers (no phantom
//! failure, no start reported lost that went through), a POST never arrives twice (no
//! retry of what may have been written), and every failure is a complete legacy reply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/faults.rs"]
mod faults;
mod harness;

use faults::{Fault, FaultUpstream};
use harness::*;
use serde_json::{Value, json};
use std::time::Duration;

const EXEC: &str = "/api/c/compapi/v2/job/execute_job/";
const STATUS: &str = "/api/c/compapi/v2/jobv3/get_job_instance_status/";

fn start_body() -> Value {
    json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "bk_job_id": 1})
}

fn status_body() -> Value {
    json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_token": "t", "bk_biz_id": 1, "job_instance_id": 9})
}

async fn shim_for(
    url: &str,
    tweak: impl FnOnce(&mut bk_job_shim::config::Config),
) -> bk_job_shim::app::Running {
    let mut c = test_config(url);
    c.upstream.timeout = Duration::from_secs(1);
    tweak(&mut c);
    start_shim(c).await
}

/// A failure answer: complete, legacy, third-party error.
fn assert_upstream_error(a: &Answer, what: &str) {
    assert_eq!(a.status, 200, "{what}: esb mode answers 200: {:?}", a.raw);
    assert_eq!(a.body["result"], false, "{what}: {:?}", a.body);
    assert_eq!(a.code(), 1306201, "{what}: {:?}", a.body);
    assert!(
        a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}"
    );
}

fn successes(answers: &[Answer]) -> usize {
    answers.iter().filter(|a| a.body["result"] == true).count()
}

#[tokio::test]
async fn a_refused_upstream_is_a_complete_error_and_nothing_is_received() {
    let url = format!("http://{}", refused_port());
    let shim = shim_for(&url, |_| {}).await;
    let a = post(shim.addr, EXEC, &start_body()).await;
    assert_upstream_error(&a, "refused");
    shim.shutdown().await;
}

#[tokio::test]
async fn a_start_that_may_have_been_written_is_never_retried() {
    const N: usize = 3;
    for fault in [
        Fault::ResetBeforeBody,
        Fault::ResetAfterBody,
        Fault::StallBody,
        Fault::Malformed,
        Fault::Oversized,
        Fault::ServerError,
        Fault::NoReply,
    ] {
        let up = FaultUpstream::start(fault).await;
        let shim = shim_for(&up.url(), |_| {}).await;
        let mut answers = Vec::new();
        for _ in 0..N {
            answers.push(post(shim.addr, EXEC, &start_body()).await);
        }
        for a in &answers {
            assert_upstream_error(a, &format!("{fault:?}"));
        }
        assert_eq!(up.receipts(), successes(&answers), "{fault:?}");
        let expected = if fault == Fault::ResetBeforeBody {
            0
        } else {
            N
        };
        assert_eq!(
            up.arrivals(),
            expected,
            "{fault:?}: one arrival per start, never two"
        );
        shim.shutdown().await;
    }
}

#[tokio::test]
async fn a_read_reset_before_any_reply_byte_is_retried_once() {
    let up = FaultUpstream::start(Fault::ResetFirst).await;
    let shim = shim_for(&up.url(), |_| {}).await;
    let a = post(shim.addr, STATUS, &status_body()).await;
    assert_eq!(a.body["result"], true, "{:?}", a.body);
    assert_eq!(up.arrivals(), 2, "the GET went out twice");
    assert_eq!(up.receipts(), 1);
    shim.shutdown().await;
}

#[tokio::test]
async fn a_start_reset_is_answered_as_an_error_and_not_resent() {
    let up = FaultUpstream::start(Fault::ResetFirst).await;
    let shim = shim_for(&up.url(), |_| {}).await;
    let first = post(shim.addr, EXEC, &start_body()).await;
    assert_upstream_error(&first, "reset start");
    assert_eq!(up.arrivals(), 1);
    let second = post(shim.addr, EXEC, &start_body()).await;
    assert_eq!(second.body["result"], true, "{:?}", second.body);
    assert_eq!(up.receipts(), successes(&[first, second]));
    assert_eq!(up.arrivals(), 2);
    shim.shutdown().await;
}

#[tokio::test]
async fn an_upstream_closing_idle_connections_causes_no_failure() {
    // The upstream closes connections idle for 300 ms; the shim's pool lets them go
    // after 100 ms (as its default 30 s sits below gateways' 60 s), so no request is
    // ever written to a connection being closed.
    const N: usize = 12;
    let up = FaultUpstream::start(Fault::CloseIdleAfter(Duration::from_millis(300))).await;
    let shim = shim_for(&up.url(), |c| {
        c.upstream.pool_idle_timeout = Duration::from_millis(100);
    })
    .await;
    let mut answers = Vec::new();
    for i in 0..N {
        tokio::time::sleep(Duration::from_millis(50 + 40 * (i as u64 % 10))).await;
        let (path, body) = if i % 2 == 0 {
            (EXEC, start_body())
        } else {
            (STATUS, status_body())
        };
        answers.push(post(shim.addr, path, &body).await);
    }
    assert_eq!(successes(&answers), N, "{answers:?}");
    assert_eq!(up.receipts(), N);
    assert_eq!(up.arrivals(), N);
    shim.shutdown().await;
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The fast reading of a v3 status reply (`translate::status::read_status_reply`) against
//! the general one (the budgeted tree, then `EsbResp::parse`):
//! * whenever the fast reading applies, the status and log polls go on exactly as from the
//!   tree: the same legacy answer, the same job-list lookup, the same log batches;
//! * it applies to the plain replies JOB sends, and gives up on the forms it does not
//!   model (which the general reading then accepts or refuses);
//! * it never reads a reply that passes a limit of the reply budget.

#[path = "support/json_gen.rs"]
mod json_gen;
#[path = "support/status_polls.rs"]
mod status_polls;

use bk_job_shim::budget::{self, Budget};
use bk_job_shim::translate::envelope::EsbResp;
use bk_job_shim::translate::status::{STATUS_FAST_MAX_BYTES, read_status_reply};
use bk_job_shim::upstream::reply::REPLY_BUDGET;
use json_gen::{just_below, maybe, shape};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Value, json};
use status_polls::status_polls;

fn general(body: &[u8], budget: &Budget) -> Option<EsbResp> {
    EsbResp::parse(budget::parse(body, budget).ok()?)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn reply(data: Value) -> Value {
    json!({"result": true, "code": 0, "message": "success", "data": data,
           "job_request_id": "a1b2c3"})
}

/// The fast reading of `v`, checked against the general one; whether it applied.
fn same_as_general(v: &Value) -> Result<bool, TestCaseError> {
    let b = bytes(v);
    let Some(fast) = read_status_reply(&b, &REPLY_BUDGET) else {
        return Ok(false);
    };
    let general = general(&b, &REPLY_BUDGET).expect("read fast, so an envelope");
    prop_assert_eq!(&fast.job_request_id, &general.job_request_id);
    prop_assert_eq!(&fast.message, &general.message);
    prop_assert_eq!(fast.code, general.code);
    let polls = status_polls(&fast);
    prop_assert!(polls.is_some());
    prop_assert_eq!(polls, status_polls(&general), "{}", v);
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// Generated replies: the plain form, and near it
// ---------------------------------------------------------------------------------------

/// An integer time, or null.
fn time() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (0i64..2_000_000_000_000).prop_map(Value::from),
        2 => Just(Value::Null),
    ]
}

/// A string (some escaped), or null.
fn name() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => "[a-z_ ]{0,8}".prop_map(Value::from),
        1 => Just(json!("q\"\\\t\u{e9}")),
        1 => Just(Value::Null),
    ]
}

fn members(parts: Vec<Map<String, Value>>) -> Value {
    Value::Object(parts.into_iter().flatten().collect())
}

fn plain_host() -> impl Strategy<Value = Value> {
    let ip = (0u8..4, 1u8..250).prop_map(|(a, b)| json!(format!("10.0.{a}.{b}")));
    let scalar = prop_oneof![Just(json!("agent-1")), Just(json!(12)), Just(Value::Null)];
    let tag = prop_oneof![
        Just(json!("")),
        Just(json!("ok")),
        Just(json!("q\"\u{e9}")),
        Just(Value::Null)
    ];
    (
        (
            maybe("bk_host_id", num(1i64..50)),
            maybe("bk_cloud_id", num(0i64..3)),
        ),
        (
            maybe("status", num(1i64..12)),
            maybe("tag", tag),
            maybe("exit_code", num(0i64..3)),
        ),
        (
            maybe("error_code", num(0i64..3)),
            maybe("start_time", time()),
            maybe("end_time", time()),
        ),
        (
            maybe("total_time", time()),
            maybe("host_id", scalar.clone()),
            maybe("ipv6", scalar.clone()),
        ),
        maybe("bk_agent_id", scalar),
        ip,
    )
        .prop_map(|((a, b), (c, d, e), (f, g, h), (i, j, k), l, ip)| {
            let mut m = members(vec![a, b, c, d, e, f, g, h, i, j, k, l]);
            m["ip"] = ip;
            m
        })
}

fn num(v: impl Strategy<Value = i64>) -> impl Strategy<Value = Value> {
    v.prop_map(Value::from)
}

fn plain_step() -> impl Strategy<Value = Value> {
    let hosts = prop_oneof![
        6 => prop::collection::vec(plain_host(), 0..6).prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    (
        (
            1i64..1_000,
            maybe("name", "[a-z]{0,6}".prop_map(Value::from)),
            maybe("type", num(1i64..4)),
        ),
        (
            maybe("status", num(1i64..12)),
            maybe("execute_count", num(0i64..3)),
            maybe("create_time", time()),
        ),
        (
            maybe("start_time", time()),
            maybe("end_time", time()),
            maybe("total_time", time()),
        ),
        maybe("step_ip_result_list", hosts),
    )
        .prop_map(|((id, a, b), (c, d, e), (f, g, h), i)| {
            let mut m = members(vec![a, b, c, d, e, f, g, h, i]);
            m["step_instance_id"] = json!(id);
            m
        })
}

fn plain_job() -> impl Strategy<Value = Value> {
    let scope_type = prop_oneof![Just(json!("biz")), Just(json!("biz_set"))];
    (
        (
            1i64..100_000,
            maybe("bk_biz_id", num(1i64..10)),
            maybe("bk_scope_type", scope_type),
        ),
        (
            maybe("bk_scope_id", Just(json!("2"))),
            maybe("name", name()),
            maybe("status", num(1i64..12)),
        ),
        (
            maybe("create_time", time()),
            maybe("start_time", time()),
            maybe("end_time", time()),
        ),
        maybe("total_time", time()),
    )
        .prop_map(|((id, a, b), (c, d, e), (f, g, h), i)| {
            let mut m = members(vec![a, b, c, d, e, f, g, h, i]);
            m["job_instance_id"] = json!(id);
            m
        })
}

fn plain_status() -> impl Strategy<Value = Value> {
    let finished = prop_oneof![Just(json!(true)), Just(json!(false)), Just(Value::Null)];
    (
        maybe("finished", finished),
        plain_job(),
        prop::collection::vec(plain_step(), 0..4),
    )
        .prop_map(|(f, job, steps)| {
            let mut m = members(vec![f]);
            m["job_instance"] = job;
            m["step_instance_list"] = Value::from(steps);
            m
        })
}

/// A plain status with one change the fast reading may not model.
fn wild_status() -> impl Strategy<Value = Value> {
    (plain_status(), 0usize..10).prop_map(|(mut v, change)| {
        let first_host = |v: &mut Value| {
            v["step_instance_list"]
                .as_array_mut()
                .and_then(|s| s.first_mut())
                .and_then(|s| s.get_mut("step_ip_result_list"))
                .and_then(Value::as_array_mut)
                .and_then(|h| h.first_mut())
                .map(std::mem::take)
        };
        match change {
            0 => v["job_instance"]["unknown"] = json!(1),
            1 => v["job_instance"]["job_instance_id"] = json!("12"),
            2 => v["job_instance"]["status"] = json!(3.0),
            7 => v["job_instance"]["start_time"] = json!("12"),
            8 => v["job_instance"]["name"] = json!(7),
            3 => {
                if let Some(mut h) = first_host(&mut v) {
                    h.as_object_mut().map(|h| h.remove("ip"));
                    v["step_instance_list"][0]["step_ip_result_list"][0] = h;
                }
            }
            4 => {
                if let Some(mut h) = first_host(&mut v) {
                    h["host_id"] = json!({"id": 1});
                    v["step_instance_list"][0]["step_ip_result_list"][0] = h;
                }
            }
            5 => v["step_instance_list"] = Value::Null,
            6 => v = json!([v]),
            _ => v["finished"] = json!("yes"),
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_plain_status_is_read_fast_and_polls_the_same(v in plain_status()) {
        prop_assert!(same_as_general(&reply(v.clone()))?, "not read fast: {}", v);
    }

    #[test]
    fn any_status_read_fast_polls_as_from_its_tree(v in wild_status()) {
        same_as_general(&reply(v))?;
    }

    #[test]
    fn the_fast_reading_keeps_the_budget(v in plain_status(), limit in 0usize..4) {
        // Each limit set just below what the reply needs: the general reading refuses it,
        // so the fast one must give up.
        let r = reply(v);
        let budget = just_below(&r, REPLY_BUDGET, limit);
        let b = bytes(&r);
        prop_assert!(budget::parse(&b, &budget).is_err(), "{} under {:?}", r, budget);
        prop_assert!(read_status_reply(&b, &budget).is_none(), "{} under {:?}", r, budget);
    }
}

#[test]
fn a_full_reply_one_value_over_the_budget_is_not_read_fast() {
    // Every member present, so the reading's count is exact.
    let host = json!({"bk_host_id": 1, "ip": "10.0.0.1", "bk_cloud_id": 0, "status": 9,
        "tag": "", "exit_code": 0, "error_code": 0, "start_time": 1, "end_time": 2,
        "total_time": 1, "host_id": 1, "ipv6": "", "bk_agent_id": ""});
    let step = json!({"step_instance_id": 2, "name": "s", "type": 1, "status": 3,
        "execute_count": 0, "create_time": 1, "start_time": 1, "end_time": 2, "total_time": 1,
        "step_ip_result_list": [host.clone(), host]});
    let job = json!({"job_instance_id": 1, "bk_biz_id": 2, "bk_scope_type": "biz",
        "bk_scope_id": "2", "name": "j", "status": 3, "create_time": 1, "start_time": 1,
        "end_time": 2, "total_time": 1});
    let r = reply(json!({"finished": true, "job_instance": job,
        "step_instance_list": [step.clone(), step]}));
    let b = bytes(&r);
    let mut budget = REPLY_BUDGET;
    budget.max_values = shape(&r, 0).values - 1;
    assert!(read_status_reply(&b, &REPLY_BUDGET).is_some());
    assert!(read_status_reply(&b, &budget).is_none());
}

#[test]
fn the_wild_replies_exercise_both_readings() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut fast, n) = (0, 500);
    for _ in 0..n {
        let v = wild_status().new_tree(&mut runner).unwrap().current();
        fast += usize::from(read_status_reply(&bytes(&reply(v)), &REPLY_BUDGET).is_some());
    }
    assert!(
        fast > n / 20 && fast < n - n / 20,
        "{fast} of {n} read fast"
    );
}

#[test]
fn only_a_successful_plain_reply_of_a_bounded_size_is_read_fast() {
    let host = |i: usize| {
        json!({"bk_host_id": i, "ip": format!("10.0.{}.{}", i / 250, i % 250 + 1),
        "bk_cloud_id": 0, "status": 9, "tag": "", "exit_code": 0, "error_code": 0,
        "start_time": 1_700_000_000_000_i64, "end_time": 1_700_000_001_000_i64, "total_time": 1000})
    };
    let status = |hosts: usize| {
        json!({"finished": true,
        "job_instance": {"job_instance_id": 1, "bk_scope_type": "biz", "bk_scope_id": "2"},
        "step_instance_list": [{"step_instance_id": 2,
            "step_ip_result_list": (0..hosts).map(host).collect::<Vec<_>>()}]})
    };
    let small = reply(status(3));
    assert!(read_status_reply(&bytes(&small), &REPLY_BUDGET).is_some());

    // Over the size bound: the general reading.
    let mut n = 3;
    while bytes(&reply(status(n))).len() <= STATUS_FAST_MAX_BYTES {
        n += 50;
    }
    assert!(read_status_reply(&bytes(&reply(status(n))), &REPLY_BUDGET).is_none());
    assert!(general(&bytes(&reply(status(n))), &REPLY_BUDGET).is_some());

    // Refusals, `data` absent or given twice, text that is not UTF-8: the general reading.
    let mut refused = small.clone();
    refused["code"] = json!(1_241_002);
    let mut absent = small.clone();
    absent.as_object_mut().map(|m| m.remove("data"));
    let twice = String::from_utf8(bytes(&small))
        .unwrap()
        .replacen('{', "{\"data\":{},", 1);
    let mut bad = bytes(&small);
    bad.extend_from_slice(b" \xff");
    for b in [bytes(&refused), bytes(&absent), twice.into_bytes(), bad] {
        assert!(
            read_status_reply(&b, &REPLY_BUDGET).is_none(),
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
}

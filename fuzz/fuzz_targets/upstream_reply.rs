//! Interpretation of upstream (JOB v3 / gateway) replies.
//!
//! Input: any bytes, read as JSON. The whole value is read as an `EsbResp` and turned
//! into the legacy envelope; when it is an object with `status` (a v3
//! `get_job_instance_status` reply), `logs` (v3 `batch_get_job_instance_ip_log`
//! replies) and `list` (a v3 `get_job_instance_list` reply), the polling translations
//! run on them. Checked: no panic, and a status reply read the fast way
//! (`status::read_status_reply`, tried on the input itself and on its `status`) makes the
//! status and log polls go on exactly as its tree does.
#![no_main]

#[path = "../../tests/support/status_polls.rs"]
mod status_polls;

use bk_job_shim::translate::envelope::EsbResp;
use bk_job_shim::translate::log;
use bk_job_shim::translate::status::{self, JobExtras};
use bk_job_shim::upstream::reply::REPLY_BUDGET;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use status_polls::status_polls;

/// When `reply` is read the fast way, the polls go on as from its tree.
fn fast_reading_polls_as_the_tree(reply: &[u8]) {
    let Some(fast) = status::read_status_reply(reply, &REPLY_BUDGET) else {
        return;
    };
    let general = bk_job_shim::budget::parse(reply, &REPLY_BUDGET)
        .ok()
        .and_then(EsbResp::parse);
    assert!(general.is_some(), "read fast but not an envelope");
    let polls = general.as_ref().and_then(status_polls);
    assert_eq!(
        status_polls(&fast),
        polls,
        "the fast reading polls differently"
    );
}

fn data(v: &Value) -> Value {
    EsbResp::parse(v.clone())
        .map(|r| r.data)
        .unwrap_or(Value::Null)
}

fuzz_target!(|bytes: &[u8]| {
    fast_reading_polls_as_the_tree(bytes);
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    if let Some(r) = EsbResp::parse(v.clone()) {
        let _ = r.is_ok();
        let _ = r.into_legacy("fuzz");
    }
    let Some(status_reply) = v.get("status") else {
        return;
    };
    if let Ok(text) = serde_json::to_vec(status_reply) {
        fast_reading_polls_as_the_tree(&text);
    }
    let tz = chrono_tz::Asia::Shanghai;
    let st = data(status_reply);
    let extras = v
        .get("list")
        .map(data)
        .and_then(|list| {
            let id = st.pointer("/job_instance/job_instance_id")?.as_i64()?;
            status::extras_from_job_list(&list, id)
        })
        .unwrap_or_else(JobExtras::default);
    let _ = status::to_legacy_status(&st, &extras, tz);
    let _ = status::job_list_query_from_status(&st);
    let _ = log::log_batches(&st);
    if let Some(Value::Array(logs)) = v.get("logs") {
        let logs: Vec<Value> = logs.iter().map(data).collect();
        let _ = log::to_legacy_log(&st, &logs, tz);
    }
});

//! Interpretation of upstream (JOB v3 / gateway) replies.
//!
//! Input: any bytes, read as JSON. The whole value is read as an `EsbResp` and turned
//! into the legacy envelope; when it is an object with `status` (a v3
//! `get_job_instance_status` reply), `logs` (v3 `batch_get_job_instance_ip_log`
//! replies) and `list` (a v3 `get_job_instance_list` reply), the polling translations
//! run on them. Checked: no panic.
#![no_main]

use bk_job_shim::translate::envelope::EsbResp;
use bk_job_shim::translate::log;
use bk_job_shim::translate::status::{self, JobExtras};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn data(v: &Value) -> Value {
    EsbResp::parse(v.clone())
        .map(|r| r.data)
        .unwrap_or(Value::Null)
}

fuzz_target!(|bytes: &[u8]| {
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

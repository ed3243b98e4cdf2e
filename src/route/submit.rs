//! Calls answered by one upstream call: the legacy submit calls (`execute_job`,
//! `fast_execute_script`, `fast_push_file`) and the `jobv3/*` pass-through. A job
//! started through the shim is remembered (plan id, operator, start way) for later
//! `get_job_instance_status` calls, which v3 does not answer those fields in.

use super::call::Calls;
use super::{Answer, Shared};
use crate::auth::Caller;
use crate::translate::status::JobExtras;
use crate::translate::{Credentials, Route, UpstreamRequest};
use serde_json::Value;

/// One call; bk-job's answer (success or its own error) is the legacy reply.
pub async fn submit(
    shared: &Shared,
    calls: &mut Calls,
    route: &Route,
    request: &UpstreamRequest,
    caller: Option<&Caller>,
) -> Answer {
    let mut resp = calls.call(request).await?;
    if resp.is_ok() {
        if let Some(c) = caller {
            remember_job(shared, route, request, &c.credentials, &resp.data);
        }
    }
    let data = match route {
        // DESIGN §4.11: execute_job answers {job_instance_name, job_instance_id}.
        Route::ExecuteJob => pick(&resp.data, &["job_instance_name", "job_instance_id"]),
        _ => std::mem::take(&mut resp.data),
    };
    let code = resp.code;
    Ok((resp.into_legacy_with(data, calls.legacy_id()), code))
}

/// Remember a started job for later status calls.
fn remember_job(
    shared: &Shared,
    route: &Route,
    req: &UpstreamRequest,
    caller: &Credentials,
    data: &Value,
) {
    let resource = match route {
        Route::ExecuteJob | Route::FastExecuteScript | Route::FastPushFile => req.resource.as_str(),
        Route::V3(r) => r.name,
        Route::V3Other(_) | Route::Call(_) | Route::Unavailable(_) => return,
        Route::GetJobInstanceStatus | Route::GetJobInstanceLog => return,
    };
    let plan = match resource {
        "execute_job_plan" => req
            .body
            .as_ref()
            .and_then(|b| b.get("job_plan_id"))
            .and_then(Value::as_i64),
        "fast_execute_script"
        | "fast_transfer_file"
        | "fast_execute_sql"
        | crate::translate::dialect::BKCI_PLUGIN_RESOURCE => Some(-1),
        _ => return,
    };
    let Some(id) = data.get("job_instance_id").and_then(Value::as_i64) else {
        return;
    };
    let extras = JobExtras {
        bk_job_id: plan,
        operator: caller.username.clone(),
        // start_way 2 = API (spec §3.5).
        start_way: Some(2),
    };
    shared.jobs.put(id, extras);
}

/// Keep only `keys` of an object (others → dropped); non-objects pass unchanged.
fn pick(data: &Value, keys: &[&str]) -> Value {
    match data {
        Value::Object(m) => Value::Object(
            keys.iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect(),
        ),
        other => other.clone(),
    }
}

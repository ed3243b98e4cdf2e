//! Calls answered by one upstream call: the legacy submit calls (`execute_job`,
//! `fast_execute_script`, `fast_push_file`) and the `jobv3/*` pass-through, as a
//! [`Single`] exchange that the driver runs like every other. A job started through the
//! shim is remembered (plan id, operator, start way) for later `get_job_instance_status`
//! calls, which v3 does not answer those fields in.

use crate::auth::Caller;
use crate::translate::exchange::{Exchange, Finished, Single};
use crate::translate::status::JobExtras;
use crate::translate::{Route, UpstreamRequest};
use serde_json::Value;

/// The exchange of one call; bk-job's answer (success or its own error) is the legacy
/// reply, and a started job is handed back to be remembered.
pub fn exchange(
    route: &Route,
    request: UpstreamRequest,
    caller: Option<&Caller>,
) -> Box<dyn Exchange> {
    let plan = started_plan(route, &request);
    let operator = caller.and_then(|c| c.credentials.username.clone());
    let remember_job = caller.is_some();
    let execute_job = matches!(route, Route::ExecuteJob);
    Box::new(Single::new(
        request,
        Box::new(move |data: Value| {
            let remember = plan.filter(|_| remember_job).and_then(|plan| {
                let id = data.get("job_instance_id").and_then(Value::as_i64)?;
                let extras = JobExtras {
                    bk_job_id: plan,
                    operator,
                    // start_way 2 = API (spec §3.5).
                    start_way: Some(2),
                };
                Some((id, extras))
            });
            let data = if execute_job {
                // DESIGN §4.11: execute_job answers {job_instance_name, job_instance_id}.
                pick(&data, &["job_instance_name", "job_instance_id"])
            } else {
                data
            };
            Ok(Finished {
                data: data.into(),
                warnings: Vec::new(),
                remember,
            })
        }),
    ))
}

/// For a call that starts a job: the plan id to remember (`Some(None)` when the plan is
/// not in the request, `Some(Some(-1))` for ad-hoc jobs); `None` for other calls.
fn started_plan(route: &Route, req: &UpstreamRequest) -> Option<Option<i64>> {
    let resource = match route {
        Route::ExecuteJob | Route::FastExecuteScript | Route::FastPushFile => req.resource.as_str(),
        Route::V3(r) => r.name,
        Route::V3Other(_) | Route::Call(_) | Route::Unavailable(_) => return None,
        Route::GetJobInstanceStatus | Route::GetJobInstanceLog => return None,
    };
    match resource {
        "execute_job_plan" => Some(
            req.body
                .as_ref()
                .and_then(|b| b.field::<i64>("job_plan_id")),
        ),
        "fast_execute_script"
        | "fast_transfer_file"
        | "fast_execute_sql"
        | crate::translate::dialect::BKCI_PLUGIN_RESOURCE => Some(Some(-1)),
        _ => None,
    }
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

//! Test and fuzz helper: what the polling exchanges make of one v3 status reply. Include
//! it with `#[path = "support/status_polls.rs"] mod status_polls;` (from a test) or
//! `#[path = "../../tests/support/status_polls.rs"] mod status_polls;` (from a fuzz target).
#![allow(dead_code)]

use bk_job_shim::translate::envelope::EsbResp;
use bk_job_shim::translate::exchange::{Exchange, Outcome, Step};
use bk_job_shim::translate::polling::{LogExchange, StatusExchange};
use bk_job_shim::translate::status::JobExtras;
use serde_json::{Map, Value, json};

/// The steps of the status poll with the job's facts known (its answer) and unknown (its
/// lookup, or its answer), and every step of the log poll (its batch calls, each answered
/// with no log, then its answer), each given `resp` as the status reply.
pub(crate) fn status_polls(resp: &EsbResp) -> Option<[Vec<Step>; 3]> {
    let tz = chrono_tz::Asia::Shanghai;
    let Value::Object(legacy) = json!({"bk_biz_id": 2, "job_instance_id": 20001}) else {
        return None;
    };
    let known = JobExtras {
        bk_job_id: Some(1),
        operator: Some("admin".into()),
        start_way: Some(2),
    };
    let no_log = EsbResp::parse(json!({"code": 0, "data": null}))?;
    let run = |mut ex: Box<dyn Exchange>| {
        let _ = ex.start();
        let mut steps = vec![ex.resume(Outcome::Reply(resp.clone()))];
        while let Some(Step::Call(_)) = steps.last() {
            steps.push(ex.resume(Outcome::Reply(no_log.clone())));
        }
        steps
    };
    let status = |legacy: &Map<String, Value>, cached| -> Option<Box<dyn Exchange>> {
        Some(Box::new(
            StatusExchange::new(legacy, tz).ok()?.with_cached(cached),
        ))
    };
    Some([
        run(status(&legacy, Some(known))?),
        run(status(&legacy, None)?),
        run(Box::new(LogExchange::new(&legacy, tz).ok()?)),
    ])
}

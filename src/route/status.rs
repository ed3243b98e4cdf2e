//! `get_job_instance_status`: the v3 status call, with the fields v3 lacks
//! (`bk_job_id`, `operator`, `start_way`) taken from the job memory, else looked up with
//! `get_job_instance_list`, else the documented fallbacks. A definitive answer of JOB
//! (found, refused) is remembered, so a client polling a job causes no further lookups.

use super::call::Calls;
use super::{Answer, Shared};
use crate::error::{ShimError, UpstreamError};
use crate::translate::status::{self, JobExtras};
use crate::translate::{self, Method, UpstreamRequest};
use serde_json::Value;

/// The legacy status reply.
pub async fn status(shared: &Shared, calls: &mut Calls, request: &UpstreamRequest) -> Answer {
    let resp = calls.call(request).await?;
    if !resp.is_ok() {
        // bk-job's own errors (unknown job, no permission, …) pass through.
        let code = resp.code;
        return Ok((resp.into_legacy(calls.legacy_id()), code));
    }
    let extras = extras_for(shared, calls, &resp.data).await;
    let data =
        status::to_legacy_status(&resp.data, &extras, shared.tz).map_err(|e| bad_reply(&e))?;
    Ok((resp.into_legacy_with(data, calls.legacy_id()), 0))
}

/// A reply that could not be turned into the legacy shape.
pub fn bad_reply(e: &translate::TranslateError) -> ShimError {
    ShimError::Upstream(UpstreamError::BadBody(e.to_string()))
}

/// Extras for a status reply: the job memory, else `get_job_instance_list`, else defaults.
async fn extras_for(shared: &Shared, calls: &mut Calls, data: &Value) -> JobExtras {
    let job = &data["job_instance"];
    let Some(id) = job["job_instance_id"].as_i64() else {
        return JobExtras::default();
    };
    let cached = shared.jobs.get(id).await;
    if let Some(c) = &cached {
        if c.bk_job_id.is_some() && c.operator.is_some() && c.start_way.is_some() {
            return c.clone();
        }
    }
    let Some(query) = status::job_list_query_from_status(data) else {
        return cached.unwrap_or_default();
    };
    let lookup = UpstreamRequest {
        method: Method::Get,
        resource: "get_job_instance_list".into(),
        query,
        body: None,
        warnings: Vec::new(),
    };
    let (found, definitive) = lookup_extras(calls, &lookup, id).await;
    let mut merged = cached.unwrap_or_default();
    if let Some(f) = found {
        merged.bk_job_id = merged.bk_job_id.or(f.bk_job_id);
        merged.operator = merged.operator.or(f.operator);
        merged.start_way = merged.start_way.or(f.start_way);
    }
    if definitive {
        // Remember the answer, with the documented fallbacks for what JOB did not
        // tell, so that a client polling this job causes no further lookups. After a
        // transport error the next poll tries again.
        merged.bk_job_id.get_or_insert(status::FALLBACK_BK_JOB_ID);
        merged
            .operator
            .get_or_insert_with(|| status::FALLBACK_OPERATOR.to_owned());
        merged.start_way.get_or_insert(status::FALLBACK_START_WAY);
        shared.jobs.put(id, merged.clone());
    }
    merged
}

/// The lookup's extras, and whether JOB's answer is definitive (asking again would give
/// the same answer).
async fn lookup_extras(
    calls: &mut Calls,
    lookup: &UpstreamRequest,
    id: i64,
) -> (Option<JobExtras>, bool) {
    match calls.call(lookup).await {
        Ok(r) if r.is_ok() => (status::extras_from_job_list(&r.data, id), true),
        Ok(r) => {
            tracing::info!(code = r.code, "get_job_instance_list lookup refused");
            (None, true)
        }
        // The gateway refused (permission, not found, …): asking again won't help.
        Err(e @ ShimError::Gateway { code, .. }) if code != translate::codes::THIRD_PARTY_ERROR => {
            tracing::info!(error = %e, "get_job_instance_list lookup refused by the gateway");
            (None, true)
        }
        Err(e) => {
            tracing::info!(error = %e, "get_job_instance_list lookup failed");
            (None, false)
        }
    }
}

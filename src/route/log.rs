//! `get_job_instance_log`: the v3 status call, then the logs of every host in batches of
//! at most 500 (bk-job's limit), one call per batch, in order. A batch bk-job refuses
//! ends the request with bk-job's answer. All of it runs under the request deadline.

use super::call::Calls;
use super::status::bad_reply;
use super::{Answer, Shared};
use crate::translate::{Method, UpstreamRequest, log};

/// The legacy log reply.
pub async fn log(shared: &Shared, calls: &mut Calls, request: &UpstreamRequest) -> Answer {
    let resp = calls.call(request).await?;
    if !resp.is_ok() {
        let code = resp.code;
        return Ok((resp.into_legacy(calls.legacy_id()), code));
    }
    let batches = log::log_batches(&resp.data);
    let mut logs = Vec::with_capacity(batches.len());
    for batch in batches {
        let r = UpstreamRequest {
            method: Method::Post,
            resource: "batch_get_job_instance_ip_log".into(),
            query: Vec::new(),
            body: Some(batch.body),
            warnings: Vec::new(),
        };
        let part = calls.call(&r).await?;
        if !part.is_ok() {
            let code = part.code;
            return Ok((part.into_legacy(calls.legacy_id()), code));
        }
        logs.push(part.data);
    }
    let data = log::to_legacy_log(&resp.data, &logs, shared.tz).map_err(|e| bad_reply(&e))?;
    Ok((resp.into_legacy_with(data, calls.legacy_id()), 0))
}

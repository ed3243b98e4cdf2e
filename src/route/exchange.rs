//! Drives a translate exchange (`crate::translate::exchange`) against the upstream service:
//! every legacy call that needs one or more v3 calls is a pure state machine, and this
//! handler only sends what it asks for and feeds the outcome back. Adding a call never
//! touches this file.
//!
//! * a bk-job answer (success or its own refusal) is fed back as it came;
//! * a failure without a bk-job answer is fed back as "failed" (definitive for a gateway
//!   refusal); if the exchange then aborts, that failure is the client's answer;
//! * the exchange's own errors become `1306406` (a request that cannot be answered as
//!   asked, naming the field) or `1306201` (a reply of the wrong shape);
//! * job facts the exchange hands back are remembered for later status calls.

use super::call::Calls;
use super::{Answer, Shared};
use crate::error::{ShimError, UpstreamError};
use crate::translate::codes;
use crate::translate::envelope::Success;
use crate::translate::exchange::{CallError, Exchange, MAX_CALLS, Outcome, Step};

/// Drive `ex` from its start; returns the answer and the warnings to send back.
pub async fn run(
    shared: &Shared,
    calls: &mut Calls,
    mut ex: Box<dyn Exchange>,
) -> (Answer, Vec<String>) {
    let first = ex.start();
    drive(shared, calls, first, ex).await
}

/// Drive `ex` from `step`: for a translated call, its first request was already taken
/// from it (it is the request the translate layer checked). Returns the answer and the
/// warnings to send back.
pub async fn drive(
    shared: &Shared,
    calls: &mut Calls,
    mut step: Step,
    mut ex: Box<dyn Exchange>,
) -> (Answer, Vec<String>) {
    let mut last_failure = None;
    let mut job_request_id = None;
    let mut sent = 0;
    loop {
        step = match step {
            Step::Call(req) => {
                sent += 1;
                if sent > MAX_CALLS {
                    return (Err(ShimError::Internal), Vec::new());
                }
                let outcome = match calls.call(&req, ex.reads_typed_status()).await {
                    Ok(resp) => {
                        if job_request_id.is_none() {
                            job_request_id.clone_from(&resp.job_request_id);
                        }
                        Outcome::Reply(resp)
                    }
                    Err(e) => {
                        let definitive = matches!(&e, ShimError::Gateway { code, .. } if *code != codes::THIRD_PARTY_ERROR);
                        last_failure = Some(e);
                        Outcome::Failed { definitive }
                    }
                };
                ex.resume(outcome)
            }
            Step::Done(f) => {
                if let Some((id, extras)) = f.remember {
                    shared.jobs.put(id, extras);
                }
                // Written straight to text: `data` is not copied into a tree.
                let mut body = Vec::with_capacity(REPLY_CAPACITY);
                Success::new(&f.data, calls.legacy_id(), job_request_id.as_deref())
                    .write(&mut body);
                return (Ok((body, 0)), f.warnings);
            }
            Step::PassOn(resp) => {
                let code = resp.code;
                let body = resp.into_legacy(calls.legacy_id());
                return (written(&body).map(|b| (b, code)), Vec::new());
            }
            Step::Abort => return (Err(last_failure.unwrap_or(ShimError::Internal)), Vec::new()),
            Step::Fail(e) => return (Err(to_shim(e)), Vec::new()),
        };
    }
}

/// The buffer a legacy reply is written into, at first: a status reply with a few hosts
/// fits without growing it (`serde_json::to_vec` starts at 128 bytes and doubled it
/// four times for such a reply).
const REPLY_CAPACITY: usize = 1024;

/// A legacy reply as the JSON text to send.
fn written(reply: &impl serde::Serialize) -> Result<Vec<u8>, ShimError> {
    let mut buf = Vec::with_capacity(REPLY_CAPACITY);
    match serde_json::to_writer(&mut buf, reply) {
        Ok(()) => Ok(buf),
        Err(e) => {
            tracing::error!(error = %e, "a legacy reply could not be written");
            Err(ShimError::Internal)
        }
    }
}

/// An exchange's own error as the shim's error.
fn to_shim(e: CallError) -> ShimError {
    match e {
        CallError::Rejected(t) => ShimError::Translate(t),
        CallError::BadReply(t) => ShimError::Upstream(UpstreamError::BadBody(t.to_string())),
        CallError::Internal(what) => {
            tracing::error!(what, "exchange misused");
            ShimError::Internal
        }
    }
}

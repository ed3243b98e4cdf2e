//! Interpreting an upstream reply: bk-job's `EsbResp` (its own errors pass through to
//! the client), or the gateway's error mapped to the legacy code (`spec/bk-job-api.md`
//! §5.4).

use super::Reply;
use crate::budget::{Budget, BudgetError, ParseError};
use crate::error::{ShimError, UpstreamError};
use crate::translate::{self, envelope::EsbResp};

/// The JSON budget of an upstream reply, counted while it is parsed so that no tree grows
/// past it (the byte cap alone let a 50 MB reply of numbers grow to 1.6 GB). Room for the
/// largest legitimate replies: a page of 1,000 jobs is ~20,000 values, the status of
/// 5,000 hosts ~75,000.
pub const REPLY_BUDGET: Budget = Budget {
    max_depth: 64,
    max_array_len: 50_000,
    max_string_bytes: 32 * 1024 * 1024,
    max_values: 500_000,
};

/// [`interpret`] for a reply to the v3 `resource`, for an exchange that reads the typed
/// status: a successful status reply has its `data` read straight into it when it can be
/// ([`translate::status::read_status_reply`]; the same answer, no tree).
pub fn interpret_for(resource: &str, reply: &Reply) -> Result<EsbResp, ShimError> {
    if resource == STATUS_RESOURCE && (200..300).contains(&reply.status) {
        if let Some(r) = translate::status::read_status_reply(&reply.body, &REPLY_BUDGET) {
            return Ok(r);
        }
    }
    interpret(reply)
}

/// The v3 status resource, whose replies are read fast.
const STATUS_RESOURCE: &str = "get_job_instance_status";

/// Read a reply as a bk-job `EsbResp`, or map the gateway's error (spec §5.4).
pub fn interpret(reply: &Reply) -> Result<EsbResp, ShimError> {
    let esb = match crate::budget::parse(&reply.body, &REPLY_BUDGET) {
        Ok(v) => EsbResp::parse(v),
        // Not JSON: answered below like any reply that is not an envelope.
        Err(ParseError::Json(_)) => None,
        Err(ParseError::Budget(e)) => {
            let limit = match e {
                BudgetError::ArrayLen(n) => format!("an array of more than {n} elements"),
                e => e.to_string(),
            };
            return Err(ShimError::Upstream(UpstreamError::BadBody(format!(
                "a reply of {} bytes over the reply budget: {limit}",
                reply.body.len()
            ))));
        }
    };
    let status = reply.status;
    match esb {
        // APIGW's own errors carry 16xxxxx codes.
        Some(r) if (1_600_000..1_700_000).contains(&r.code) => Err(ShimError::from_gateway(
            status,
            Some(r.code),
            r.message.as_deref().unwrap_or(""),
        )),
        Some(r) if (200..300).contains(&status) => Ok(r),
        // bk-job's MissingParameterException answers HTTP 400 with an EsbResp.
        Some(r) if status == 400 && r.code != 0 => Ok(r),
        // bk-job's job-gateway answers 401 when it cannot establish the user (issue #2889).
        Some(r) if status == 401 => Err(ShimError::Gateway {
            code: translate::codes::THIRD_PARTY_ERROR,
            message: format!(
                "JOB rejected the caller's identity (HTTP 401, code {}: {}); check bk_token / bk_username",
                r.code,
                r.message.unwrap_or_default()
            ),
            status,
        }),
        Some(r) => Err(ShimError::from_gateway(
            status,
            None,
            r.message.as_deref().unwrap_or(""),
        )),
        None if (200..300).contains(&status) => Err(ShimError::Upstream(UpstreamError::BadBody(
            format!("{} bytes that are not a JOB envelope", reply.body.len()),
        ))),
        None if status >= 500 || status == 401 => {
            Err(ShimError::Upstream(UpstreamError::Status(status)))
        }
        None => Err(ShimError::from_gateway(status, None, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ErrorStatus;
    use bytes::Bytes;
    use http::HeaderMap;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn a_reply_over_the_budget_is_refused_before_it_becomes_a_tree() {
        let numbers = |n: usize| {
            format!(
                "{{\"code\":0,\"result\":true,\"data\":[{}1]}}",
                "1,".repeat(n)
            )
        };
        match interpret(&reply(200, &numbers(60_000))) {
            Err(ShimError::Upstream(UpstreamError::BadBody(m))) => {
                assert!(m.contains("50000"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(interpret(&reply(200, &numbers(40_000))).is_ok());
    }

    #[test]
    fn interpret_maps_gateway_and_job_errors() {
        let code = |r: Result<EsbResp, ShimError>| match r {
            Ok(r) => r.code,
            Err(e) => e.reply(ErrorStatus::Esb).code,
        };
        assert_eq!(
            code(interpret(&reply(
                200,
                r#"{"code":0,"result":true,"data":{}}"#
            ))),
            0
        );
        assert_eq!(
            code(interpret(&reply(200, r#"{"code":1244012,"result":false}"#))),
            1244012
        );
        assert_eq!(
            code(interpret(&reply(400, r#"{"code":1241004,"result":false}"#))),
            1241004
        );
        assert_eq!(
            code(interpret(&reply(
                400,
                r#"{"code":1640001,"result":false,"message":"x"}"#
            ))),
            1306000
        );
        assert_eq!(
            code(interpret(&reply(403, r#"{"code":1640301,"result":false}"#))),
            1306403
        );
        assert_eq!(
            code(interpret(&reply(429, r#"{"code":1642903,"result":false}"#))),
            1306429
        );
        assert_eq!(
            code(interpret(&reply(404, r#"{"code":1640401,"result":false}"#))),
            1306404
        );
        assert_eq!(code(interpret(&reply(502, "bad gateway"))), 1306201);
        assert_eq!(code(interpret(&reply(200, "<html>"))), 1306201);
        assert_eq!(
            code(interpret(&reply(401, r#"{"code":1247002,"result":false}"#))),
            1306201
        );
    }
}

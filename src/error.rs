//! The one place where every failure becomes a legacy response.
//!
//! [`ShimError`] covers everything the shim can refuse or fail at; [`ShimError::reply`]
//! maps each variant (exhaustively, no wildcard) to the legacy code, message and the HTTP
//! status used in `legacy.error_status = "gateway"` mode. In the default `esb` mode every
//! reply is HTTP 200 with `result: false`, as ESB did.
//!
//! Messages never contain credentials: credentials are lifted out of the request before
//! anything can fail on them, and the variants carry field names, app codes, short excerpts
//! of rejected (non-credential) values and upstream error descriptions.

use crate::config::ErrorStatus;
use crate::translate::{TranslateError, codes};
use http::StatusCode;
use std::time::Duration;

/// Why an upstream exchange failed before a usable reply arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect failed (refused, unreachable, connect timeout).
    #[error("cannot connect to the upstream gateway: {0}")]
    Connect(String),
    /// No complete reply within `upstream.timeout`.
    #[error("upstream gateway timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke after the request was sent.
    #[error("upstream connection failed: {0}")]
    Reset(String),
    /// The reply body could not be used (not JSON, not an envelope, too large).
    #[error("upstream reply is not a valid JOB response: {0}")]
    BadBody(String),
    /// A non-success HTTP status without a recognisable error body.
    #[error("upstream gateway answered HTTP {0}")]
    Status(u16),
    /// TLS to the gateway or the egress proxy failed; `cause` names it (untrusted issuer,
    /// wrong name, expired, client certificate refused, proxy refused CONNECT, …).
    #[error("{cause}")]
    Transport {
        /// `tls` or `proxy` (metric label).
        kind: &'static str,
        /// What went wrong, without secrets.
        cause: String,
    },
}

impl UpstreamError {
    /// Metric label (`bk_job_shim_upstream_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Reset(_) => "reset",
            UpstreamError::BadBody(_) => "bad_body",
            UpstreamError::Status(s) if *s >= 500 => "status_5xx",
            UpstreamError::Status(_) => "status_4xx",
            UpstreamError::Transport { kind, .. } => kind,
        }
    }

    /// HTTP status of the legacy reply: 504 for a timeout, 502 otherwise.
    fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Connect(_)
            | UpstreamError::Reset(_)
            | UpstreamError::BadBody(_)
            | UpstreamError::Status(_)
            | UpstreamError::Transport { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Status and outcome label of a gateway error mapped to legacy `code`. The status
/// follows the legacy code (a 5xx of the gateway, a bk-job 401 or a redirect are all
/// "third-party error" = 502), except a gateway timeout.
fn gateway_parts(code: i64, status: u16) -> (i64, StatusCode, &'static str) {
    use StatusCode as S;
    let s = match code {
        codes::COMMON_ERROR | codes::ARGUMENT_ERROR => S::BAD_REQUEST,
        codes::APP_PERMISSION_DENIED => S::FORBIDDEN,
        codes::COMPONENT_NOT_FOUND => S::NOT_FOUND,
        codes::RATE_LIMITED => S::TOO_MANY_REQUESTS,
        _ if status == 504 => S::GATEWAY_TIMEOUT,
        _ => S::BAD_GATEWAY,
    };
    let outcome = if code == codes::THIRD_PARTY_ERROR {
        "upstream_error"
    } else {
        "denied"
    };
    (code, s, outcome)
}

/// Everything that ends a request with a shim-made error reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShimError {
    /// No such legacy API.
    #[error("component not found: {0}")]
    NotFound(String),
    /// A method other than GET/POST.
    #[error("method {0} is not allowed, use POST (or GET for query APIs)")]
    MethodNotAllowed(String),
    /// A GET or form POST that would change something, whose only user identity is the
    /// `bk_token` cookie (a page on another site could send it): refused, never forwarded.
    #[error(
        "a {0} cannot start, stop or change anything with the bk_token cookie as the only \
         identity (cross-site request guard): send the credentials as parameters or in \
         X-Bkapi-Authorization, or POST the call as JSON"
    )]
    CookieOnly(&'static str),
    /// Body over `server.max_body_bytes`.
    #[error("request body exceeds the limit of {0} bytes")]
    BodyTooLarge(usize),
    /// The body passes a JSON budget limit (`crate::budget`); the message names it.
    #[error("request body refused: {0}")]
    Budget(crate::budget::BudgetError),
    /// Too many large bodies are being buffered at once; the message names the limit.
    #[error("too many large request bodies at once (limit {0}), retry later")]
    BodiesBusy(usize),
    /// The request head breaks the protocol rules (`crate::protocol`).
    #[error("{0}")]
    Protocol(crate::protocol::ProtocolError),
    /// The body could not be read from the client.
    #[error("cannot read request body: {0}")]
    BodyRead(String),
    /// The legacy request is invalid (names the field).
    #[error("{0}")]
    Translate(TranslateError),
    /// `X-Bkapi-Authorization` is present but not a JSON object.
    #[error("request header X-Bkapi-Authorization is not a valid JSON object")]
    BadAuthHeader,
    /// Presented credentials break the limits or `X-Bkapi-Authorization` is not strict.
    #[error("{0}")]
    Credential(crate::translate::credentials::CredentialError),
    /// `auth.system_api` needs a valid user name for `X-Bk-Username`.
    #[error(
        "user authentication failed: a valid bk_username is required (1 to 64 printable characters)"
    )]
    UserRequired,
    /// `auth.jwt.required` and the JWT is missing or invalid.
    #[error("{0}")]
    Jwt(crate::jwt::JwtError),
    /// An app code that cannot be one (too long, odd characters).
    #[error(
        "APP Code [bk_app_code] must be 1 to 32 characters of letters, digits, `_`, `-` or `.`"
    )]
    InvalidAppCode,
    /// No app code anywhere.
    #[error("APP Code [bk_app_code] cannot be empty")]
    MissingAppCode,
    /// App code not in `auth.allowed_apps`.
    #[error("APP [{0}] is not allowed to call this shim")]
    AppNotAllowed(String),
    /// `callback_url` names a port not allowed by `auth.callback_ports` (default 80/443), or
    /// is not an absolute http(s) URL (port 0).
    #[error(
        "Parameters error: [callback_url] must be an http(s) URL on an allowed port (80, 443 or auth.callback_ports), got port {0}"
    )]
    CallbackPortNotAllowed(u16),
    /// `callback_url` host not in `auth.callback_hosts`.
    #[error("Parameters error: [callback_url] host {0:?} is not in the allowed callback hosts")]
    CallbackNotAllowed(String),
    /// Over the app's quota (or the limiter backend is down with `fail_open = false`).
    #[error("Access frequency limit: {}", if *backend_down {
        format!("the rate-limit backend is unavailable and APP [{app}] cannot be admitted")
    } else {
        format!("APP [{app}] exceeded its rate limit")
    })]
    RateLimited {
        /// App code.
        app: String,
        /// Seconds until a request may be admitted.
        retry_after: u64,
        /// The limiter's backend failed (`rate_limit.fail_open = false`).
        backend_down: bool,
    },
    /// `auth.mode = "app"` but the shim's secret is not available.
    #[error("the shim's app secret is not configured")]
    AppSecretMissing,
    /// The upstream gateway refused the request with one of its own errors (APIGW 16xxxxx).
    #[error("{message}")]
    Gateway {
        /// Legacy code (1306000, 1306403, 1306404, 1306429, 1306201).
        code: i64,
        /// Message including the gateway's reason.
        message: String,
        /// The gateway's HTTP status.
        status: u16,
    },
    /// The upstream exchange failed.
    #[error("request third-party system JOB error: {0}")]
    Upstream(UpstreamError),
    /// `server.request_timeout` elapsed before the request was answered.
    #[error("request third-party system JOB error: the request did not complete within {0:?}")]
    Deadline(Duration),
    /// `server.max_in_flight` requests are already being processed (load shed).
    #[error("Access frequency limit: the shim is busy, try again shortly")]
    Busy,
    /// The shim stopped (SIGTERM) while the call was in flight, after the grace period:
    /// it may or may not have reached JOB.
    #[error(
        "request third-party system JOB error: the shim shut down before this call completed; \
         its outcome is unknown (it may have reached JOB): check before retrying"
    )]
    OutcomeUnknown,
    /// A bug in the shim (a panic or an unexpected error); details are logged only.
    #[error("internal error of the shim")]
    Internal,
}

/// What a [`ShimError`] becomes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// HTTP status to use.
    pub status: StatusCode,
    /// Legacy `code`.
    pub code: i64,
    /// Legacy `message`.
    pub message: String,
    /// `Retry-After` seconds (rate limiting, gateway mode).
    pub retry_after: Option<u64>,
    /// Metric `outcome` label.
    pub outcome: &'static str,
}

impl ShimError {
    /// Legacy code, real HTTP status and metric outcome of this error.
    fn parts(&self) -> (i64, StatusCode, &'static str) {
        use ShimError as E;
        use StatusCode as S;
        match self {
            E::NotFound(_) => (codes::COMPONENT_NOT_FOUND, S::NOT_FOUND, "rejected"),
            E::MethodNotAllowed(_) => (
                codes::COMPONENT_NOT_FOUND,
                S::METHOD_NOT_ALLOWED,
                "rejected",
            ),
            E::CookieOnly(_) => (codes::COMPONENT_NOT_FOUND, S::METHOD_NOT_ALLOWED, "denied"),
            E::BodyTooLarge(_) | E::Budget(_) => {
                (codes::ARGUMENT_ERROR, S::PAYLOAD_TOO_LARGE, "rejected")
            }
            E::Protocol(e) => (codes::ARGUMENT_ERROR, e.status(), "rejected"),
            E::BodiesBusy(_) => (codes::ARGUMENT_ERROR, S::SERVICE_UNAVAILABLE, "rejected"),
            E::BodyRead(_)
            | E::Translate(_)
            | E::CallbackNotAllowed(_)
            | E::CallbackPortNotAllowed(_) => (codes::ARGUMENT_ERROR, S::BAD_REQUEST, "rejected"),
            E::BadAuthHeader | E::Credential(_) | E::MissingAppCode | E::InvalidAppCode => {
                (codes::COMMON_ERROR, S::BAD_REQUEST, "denied")
            }
            E::UserRequired | E::Jwt(_) => (codes::COMMON_ERROR, S::UNAUTHORIZED, "denied"),
            E::AppNotAllowed(_) => (codes::APP_PERMISSION_DENIED, S::FORBIDDEN, "denied"),
            E::RateLimited { .. } => (codes::RATE_LIMITED, S::TOO_MANY_REQUESTS, "rate_limited"),
            E::Busy => (codes::RATE_LIMITED, S::SERVICE_UNAVAILABLE, "rate_limited"),
            E::Gateway { code, status, .. } => gateway_parts(*code, *status),
            E::Upstream(e) => (codes::THIRD_PARTY_ERROR, e.status(), "upstream_error"),
            E::Deadline(_) => (
                codes::THIRD_PARTY_ERROR,
                S::GATEWAY_TIMEOUT,
                "upstream_error",
            ),
            E::OutcomeUnknown => (
                codes::THIRD_PARTY_ERROR,
                S::SERVICE_UNAVAILABLE,
                "upstream_error",
            ),
            E::AppSecretMissing | E::Internal => (
                codes::COMMON_ERROR,
                S::INTERNAL_SERVER_ERROR,
                "upstream_error",
            ),
        }
    }

    /// The error behind a boxed error of the stack: a [`ShimError`] itself, tower's
    /// elapsed deadline (`server.request_timeout`) or load-shed refusal; anything else is
    /// [`ShimError::Internal`] (logged with its cause).
    pub fn from_box(e: &tower::BoxError, deadline: Duration) -> ShimError {
        if let Some(s) = e.downcast_ref::<ShimError>() {
            s.clone()
        } else if e.is::<tower::timeout::error::Elapsed>() {
            ShimError::Deadline(deadline)
        } else if e.is::<tower::load_shed::error::Overloaded>() {
            ShimError::Busy
        } else {
            tracing::error!(error = %e, "unexpected error in the request stack");
            ShimError::Internal
        }
    }

    /// The reply for this error under `mode`.
    pub fn reply(&self, mode: ErrorStatus) -> ErrorReply {
        let (code, real_status, outcome) = self.parts();
        let status = match (mode, self) {
            // A broken request gets a broken-request status in every mode.
            (_, ShimError::Protocol(_)) | (ErrorStatus::Gateway, _) => real_status,
            (ErrorStatus::Esb, _) => StatusCode::OK,
        };
        let retry_after = match (self, mode) {
            (ShimError::RateLimited { retry_after, .. }, ErrorStatus::Gateway) => {
                Some((*retry_after).max(1))
            }
            (ShimError::Gateway { code, .. }, ErrorStatus::Gateway)
                if *code == codes::RATE_LIMITED =>
            {
                Some(1)
            }
            (ShimError::Busy, ErrorStatus::Gateway) => Some(1),
            _ => None,
        };
        ErrorReply {
            status,
            code,
            message: self.to_string(),
            retry_after,
            outcome,
        }
    }

    /// Map an API gateway (apisix) error code to the legacy code (spec §5.4).
    pub fn from_gateway(status: u16, apigw_code: Option<i64>, message: &str) -> ShimError {
        let code = match (apigw_code, status) {
            (Some(c), _) if (1_640_000..1_640_100).contains(&c) => codes::COMMON_ERROR,
            (Some(c), _) if (1_640_100..1_640_300).contains(&c) => codes::COMMON_ERROR,
            (Some(c), _) if (1_640_300..1_640_400).contains(&c) => codes::APP_PERMISSION_DENIED,
            (Some(c), _) if (1_640_400..1_640_500).contains(&c) => codes::COMPONENT_NOT_FOUND,
            (Some(c), _) if (1_641_000..1_642_000).contains(&c) => codes::ARGUMENT_ERROR,
            (Some(c), _) if (1_642_900..1_643_000).contains(&c) => codes::RATE_LIMITED,
            (_, 400 | 401) => codes::COMMON_ERROR,
            (_, 403) => codes::APP_PERMISSION_DENIED,
            (_, 404) => codes::COMPONENT_NOT_FOUND,
            (_, 413 | 414) => codes::ARGUMENT_ERROR,
            (_, 429) => codes::RATE_LIMITED,
            _ => codes::THIRD_PARTY_ERROR,
        };
        let message = if message.is_empty() {
            format!("API gateway answered HTTP {status}")
        } else {
            format!("API gateway error: {message}")
        };
        ShimError::Gateway {
            code,
            message,
            status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::RejectReason;

    #[test]
    fn esb_mode_is_always_200() {
        let all = [
            ShimError::NotFound("x".into()),
            ShimError::MethodNotAllowed("PUT".into()),
            ShimError::CookieOnly("GET"),
            ShimError::BodyTooLarge(10),
            ShimError::Translate(TranslateError::new(RejectReason::Type, "bk_job_id", "x")),
            ShimError::MissingAppCode,
            ShimError::AppNotAllowed("a".into()),
            ShimError::RateLimited {
                app: "a".into(),
                retry_after: 0,
                backend_down: false,
            },
            ShimError::Upstream(UpstreamError::Timeout(Duration::from_secs(1))),
            ShimError::from_gateway(429, Some(1_642_903), "limited"),
        ];
        for e in &all {
            assert_eq!(e.reply(ErrorStatus::Esb).status, StatusCode::OK, "{e:?}");
            assert!(e.reply(ErrorStatus::Esb).retry_after.is_none());
        }
    }

    #[test]
    fn gateway_mode_uses_real_statuses() {
        let r = ShimError::RateLimited {
            app: "a".into(),
            retry_after: 0,
            backend_down: true,
        }
        .reply(ErrorStatus::Gateway);
        assert_eq!(
            (r.status.as_u16(), r.code, r.retry_after),
            (429, 1306429, Some(1))
        );
        let r = ShimError::Upstream(UpstreamError::Timeout(Duration::from_secs(1)))
            .reply(ErrorStatus::Gateway);
        assert_eq!((r.status.as_u16(), r.code), (504, 1306201));
        let r = ShimError::BodyTooLarge(1).reply(ErrorStatus::Gateway);
        assert_eq!((r.status.as_u16(), r.code), (413, 1306406));
        let r = ShimError::Busy.reply(ErrorStatus::Gateway);
        assert_eq!(
            (r.status.as_u16(), r.code, r.retry_after),
            (503, 1306429, Some(1))
        );
        let r = ShimError::Deadline(Duration::from_secs(1)).reply(ErrorStatus::Gateway);
        assert_eq!((r.status.as_u16(), r.code), (504, 1306201));
    }

    #[test]
    fn boxed_errors_are_classified() {
        let d = Duration::from_secs(9);
        let shed: tower::BoxError = Box::new(tower::load_shed::error::Overloaded::new());
        assert_eq!(ShimError::from_box(&shed, d), ShimError::Busy);
        let late: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(ShimError::from_box(&late, d), ShimError::Deadline(d));
        let own: tower::BoxError = Box::new(ShimError::MissingAppCode);
        assert_eq!(ShimError::from_box(&own, d), ShimError::MissingAppCode);
        let other: tower::BoxError = "boom".into();
        assert_eq!(ShimError::from_box(&other, d), ShimError::Internal);
    }

    #[test]
    fn gateway_codes_map_per_spec() {
        let code = |s, c| {
            ShimError::from_gateway(s, c, "m")
                .reply(ErrorStatus::Esb)
                .code
        };
        assert_eq!(code(400, Some(1_640_001)), 1306000);
        assert_eq!(code(403, Some(1_640_301)), 1306403);
        assert_eq!(code(404, Some(1_640_401)), 1306404);
        assert_eq!(code(429, Some(1_642_902)), 1306429);
        assert_eq!(code(502, Some(1_650_201)), 1306201);
        assert_eq!(code(504, None), 1306201);
        assert_eq!(code(400, None), 1306000);
    }
}

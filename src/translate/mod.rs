//! Pure translation between the legacy ESB JOB API shapes and JOB v3 on the API gateway.
//!
//! Nothing in this module does I/O or knows about hyper or tokio: it takes JSON values
//! and returns typed requests and JSON values (or a [`TranslateError`]). The serving
//! stack (`crate::layer::translate`, `crate::route`) and the offline `translate` command
//! are thin shells around it.
//!
//! * [`routes`]: legacy path → [`Route`].
//! * [`body`]: [`JsonBody`], a v3 request body written once as JSON text.
//! * `write`: hand-written JSON for the hot v3 bodies (the same bytes as `serde_json`).
//! * [`credentials`]: lifting `bk_app_code`, `bk_app_secret`, … out of a legacy body.
//! * [`scope`]: `bk_biz_id` → `bk_scope_type` + `bk_scope_id`.
//! * [`request`]: legacy request bodies → [`UpstreamRequest`] (validation included).
//! * [`envelope`]: v3 `EsbResp` → legacy envelope.
//! * [`status`], [`log`]: the polling responses (`get_job_instance_status` / `_log`).

pub mod body;
pub mod calls;
pub mod codes;
pub mod credentials;
pub mod data;
pub mod dialect;
pub mod envelope;
pub mod error;
pub mod exchange;
pub mod fast;
pub mod fast_ip;
mod fast_scan;
pub mod log;
pub mod model;
pub mod polling;
pub mod query;
pub mod request;
pub mod routes;
pub mod scope;
pub mod status;
pub mod transport;
pub mod validate;
mod write;

pub use body::JsonBody;
pub use credentials::Credentials;
pub use error::{RejectReason, TranslateError};
pub use request::{translate_request, translate_typed};
pub use routes::Route;

use serde::Serialize;
use serde_json::Value;

/// HTTP method of an upstream (v3) call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET` with a query string (the v3 query resources).
    Get,
    /// `POST` with a JSON body.
    Post,
}

impl Method {
    /// The method as an HTTP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What to do with non-empty `steps` in a legacy `execute_job` body (DESIGN §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepsPolicy {
    /// Reject the request: nothing is sent upstream.
    #[default]
    Reject,
    /// Drop the steps and report a warning.
    Ignore,
}

/// Knobs of the translation that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Policy for legacy `steps`.
    pub steps: StepsPolicy,
    /// Settings of the exchange calls (zone, paging).
    pub calls: calls::CallOptions,
    /// `[routes]`: where `fast_execute_script` goes.
    pub routes: dialect::RoutesConfig,
}

/// A v3 request the shim would send: resource, method, query and body. Credentials are
/// carried apart (see [`Translated`]) and never appear in `body` or `query`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamRequest {
    /// `GET` or `POST`.
    pub method: Method,
    /// v3 resource name, e.g. `execute_job_plan`; the path is `/api/v3/{resource}`.
    pub resource: String,
    /// Query parameters (for `GET`), in order.
    pub query: Vec<(String, String)>,
    /// JSON body (for `POST`), serialized once from the typed v3 model.
    pub body: Option<JsonBody>,
    /// Non-fatal remarks for the caller (sent as `X-Bk-Job-Shim-Warning`).
    pub warnings: Vec<String>,
}

impl UpstreamRequest {
    /// Path under the gateway stage base: `/api/v3/{resource}`.
    pub fn path(&self) -> String {
        const BASE: &str = "/api/v3/";
        let mut path = String::with_capacity(BASE.len() + self.resource.len());
        path.push_str(BASE);
        path.push_str(&self.resource);
        path
    }

    /// The query string, percent-encoded, without the leading `?` (empty when none).
    pub fn query_string(&self) -> String {
        // Room for every pair unescaped, with its `=` and `&`: most queries (ids, scope
        // names) need no escape and are written without growing the string.
        let unescaped = self.query.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut out = String::with_capacity(unescaped);
        for (i, (k, v)) in self.query.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            percent_encode_into(&mut out, k);
            out.push('=');
            percent_encode_into(&mut out, v);
        }
        out
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
}

/// The result of translating one legacy request.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The request to send upstream.
    pub request: UpstreamRequest,
    /// Credentials lifted out of the legacy body (may be empty).
    pub credentials: Credentials,
    /// Legacy `steps` overrides dropped under `legacy.steps = "ignore"` (0 otherwise).
    pub steps_dropped: usize,
    /// For [`Route::Call`]: the exchange, whose first request is `request`.
    pub exchange: Option<exchange::PendingExchange>,
}

/// Parse a request body into a JSON object. An empty body is an empty object.
pub fn parse_body(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, TranslateError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    object_of(serde_json::from_slice::<Value>(bytes))
}

/// A parsed legacy body as the JSON object it must be (the refusals of [`parse_body`]).
pub fn object_of(
    parsed: Result<Value, serde_json::Error>,
) -> Result<serde_json::Map<String, Value>, TranslateError> {
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TranslateError::new(
            RejectReason::InvalidJson,
            "body",
            "request body must be a JSON object",
        )),
        Err(e) => Err(TranslateError::new(
            RejectReason::InvalidJson,
            "body",
            format!("request body is not valid JSON: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_is_percent_encoded() {
        let r = UpstreamRequest {
            method: Method::Get,
            resource: "get_job_instance_status".into(),
            query: vec![("a b".into(), "x&y=é".into()), ("n".into(), "1".into())],
            body: None,
            warnings: vec![],
        };
        assert_eq!(r.query_string(), "a%20b=x%26y%3D%C3%A9&n=1");
        assert_eq!(r.path(), "/api/v3/get_job_instance_status");
    }

    #[test]
    fn parse_body_rejects_non_objects() {
        assert!(parse_body(b"").is_ok_and(|m| m.is_empty()));
        assert_eq!(
            parse_body(b"[1]").map_err(|e| e.reason),
            Err(RejectReason::InvalidJson)
        );
        assert_eq!(
            parse_body(b"{").map_err(|e| e.reason),
            Err(RejectReason::InvalidJson)
        );
    }
}

//! The transports ESB accepted for every legacy call (`spec/legacy-api-surface.md` §4):
//! POST with a JSON or `application/x-www-form-urlencoded` body, GET with a query string.
//!
//! Query and form values arrive as strings. Scalars stay strings: the readers of every call
//! already take `"1"` for an integer and `"true"` for a boolean, with the same errors as
//! for JSON. Values of the keys that hold lists or objects ([`STRUCTURED_KEYS`], e.g.
//! `ip_list`, `global_vars`) must be JSON text and are parsed here; anything else is a
//! `Type` error naming the field, as a JSON body with a wrong type would get.

use super::query::parse_query;
use super::validate::{self, Path};
use super::{RejectReason, TranslateError};
use serde_json::{Map, Value};

/// Legacy keys whose value is a list or an object.
pub const STRUCTURED_KEYS: &[&str] = &[
    "ip_list",
    "custom_query_id",
    "target_server",
    "global_vars",
    "steps",
    "file_source",
    "file_list",
    "files",
    "params",
    "dynamic_group_id_list",
    "topo_node_list",
    "host_list",
    "host_id_list",
    "execute_target",
    "callback",
    "global_var_list",
    "step_list",
    "file_source_list",
    "dynamic_group_list",
    "rolling_config",
];

/// How a legacy body was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (or no content type: ESB read JSON by default).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl BodyKind {
    /// The kind named by a `Content-Type` value.
    pub fn from_content_type(ct: Option<&str>) -> BodyKind {
        let essence = ct
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/x-www-form-urlencoded") => BodyKind::Form,
            _ => BodyKind::Json,
        }
    }
}

/// The parameters of a legacy call: the body read as `kind` (an empty body is an empty
/// object). Form values are typed like query values ([`typed`]). A form-typed body that
/// opens with `{` is JSON sent with the wrong type (what `curl -d '{…}'` and many
/// scripts send): it is read as JSON. (What the cookie may do still follows the declared
/// type.)
pub fn body_params(bytes: &[u8], kind: BodyKind) -> Result<Map<String, Value>, TranslateError> {
    if is_json(bytes, kind) {
        return super::parse_body(bytes);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        TranslateError::new(
            RejectReason::InvalidJson,
            "body",
            "form body is not UTF-8 text",
        )
    })?;
    typed(parse_query(text))
}

/// Whether a body of `kind` is read as JSON: declared so, or a form-labelled body that
/// starts with `{` (what `curl -d '{…}'` sends).
pub fn is_json(bytes: &[u8], kind: BodyKind) -> bool {
    kind == BodyKind::Json
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
}

/// The parameters of a legacy GET: the query string, typed ([`typed`]).
pub fn query_params(query: &str) -> Result<Map<String, Value>, TranslateError> {
    typed(parse_query(query))
}

/// Parse the JSON text of [`STRUCTURED_KEYS`]; other values stay strings. An empty value
/// is absent.
pub fn typed(mut params: Map<String, Value>) -> Result<Map<String, Value>, TranslateError> {
    // Most queries (the polls) hold none of them: a look at each member, not a search of
    // the map per structured key.
    if !params.keys().any(|k| STRUCTURED_KEYS.contains(&k.as_str())) {
        return Ok(params);
    }
    for key in STRUCTURED_KEYS {
        let Some(Value::String(text)) = params.get(*key) else {
            continue;
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            params.remove(*key);
            continue;
        }
        let parsed = match serde_json::from_str::<Value>(trimmed) {
            Ok(v @ (Value::Array(_) | Value::Object(_))) => v,
            _ => {
                return Err(validate::type_error(
                    &Path::ROOT.key(key),
                    "JSON text of a list or an object (query and form values are text)",
                    &Value::String(text.clone()),
                ));
            }
        };
        params.insert((*key).to_owned(), parsed);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_values_are_typed_like_json() {
        let m = body_params(
            b"bk_biz_id=2&job_instance_id=10&ip_list=%5B%7B%22bk_cloud_id%22%3A0%2C%22ip%22%3A%2210.0.0.1%22%7D%5D&task_name=%5Bx%5D",
            BodyKind::Form,
        )
        .unwrap_or_default();
        assert_eq!(m["bk_biz_id"], "2");
        assert_eq!(m["ip_list"], json!([{"bk_cloud_id": 0, "ip": "10.0.0.1"}]));
        assert_eq!(m["task_name"], "[x]");
        let e = query_params("ip_list=10.0.0.1").err().map(|e| e.message());
        assert!(e.is_some_and(|e| e.contains("[ip_list]") && e.contains("JSON text")));
        assert!(query_params("ip_list=").is_ok_and(|m| !m.contains_key("ip_list")));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            BodyKind::from_content_type(Some("application/x-www-form-urlencoded; charset=UTF-8")),
            BodyKind::Form
        );
        assert_eq!(
            BodyKind::from_content_type(Some("application/json")),
            BodyKind::Json
        );
        assert_eq!(BodyKind::from_content_type(None), BodyKind::Json);
        assert!(body_params(b"{\"a\":1}", BodyKind::Json).is_ok());
        assert!(body_params(&[0xff], BodyKind::Form).is_err());
        // JSON sent as a form (curl -d '{…}') is read as JSON, errors included.
        let m = body_params(b" {\"bk_biz_id\": 2}", BodyKind::Form).unwrap_or_default();
        assert_eq!(m["bk_biz_id"], 2);
        assert!(body_params(b"{\"a\":", BodyKind::Form).is_err());
    }

    #[test]
    fn typed_values_pass_the_call_readers() {
        use crate::translate::calls::{CallOptions, LegacyCall, exchange};
        let m = query_params("bk_biz_id=2&cron_id=9&cron_status=1").unwrap_or_default();
        assert!(exchange(LegacyCall::UpdateCronStatus, m, &CallOptions::default()).is_ok());
        let m = query_params("bk_biz_id=2&cron_id=abc&cron_status=1").unwrap_or_default();
        let e = exchange(LegacyCall::UpdateCronStatus, m, &CallOptions::default())
            .err()
            .map(|e| e.message());
        assert!(e.is_some_and(|e| e.contains("[cron_id]")));
    }
}

//! Target dialects and the `[routes]` configuration section.
//!
//! `[routes] fast_execute_script = "bkci-plugin"` (default `"v3"`) sends legacy
//! `job/fast_execute_script` and `jobv3/fast_execute_script` to the gateway's BK-CI plugin
//! resource `POST /api/v3/system/bkci_plugin_fast_execute_script` (doc E), whose body names
//! its targets as `execute_target` instead of `target_server`:
//!
//! | v3 `fast_execute_script` | `bkci_plugin_fast_execute_script` |
//! |---|---|
//! | `target_server.host_id_list[]` | `execute_target.host_list[] {bk_host_id}` |
//! | `target_server.ip_list[] {bk_cloud_id, ip}` | `execute_target.host_list[] {bk_cloud_id, ip}` |
//! | `target_server.dynamic_group_list` | `execute_target.host_dynamic_group_list` |
//! | `target_server.topo_node_list` | `execute_target.host_topo_node_list` |
//! | `is_param_sensitive` 0/1 | boolean |
//! | `callback_url` | `callback {url}` |
//!
//! The resource exists only under `/api/v3/system/`, so the setting needs `auth.mode =
//! "app"` with `auth.system_api = true` ([`RoutesConfig::validate`]).

use super::{JsonBody, RejectReason, TranslateError, UpstreamRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The gateway resource of doc E (under `/api/v3/system/`).
pub const BKCI_PLUGIN_RESOURCE: &str = "bkci_plugin_fast_execute_script";

/// Where `fast_execute_script` goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FastExecuteScriptTarget {
    /// `POST /api/v3/fast_execute_script` (the default).
    #[default]
    V3,
    /// `POST /api/v3/system/bkci_plugin_fast_execute_script` (doc E).
    BkciPlugin,
}

/// `[routes]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutesConfig {
    /// Target of legacy and `jobv3` `fast_execute_script`.
    pub fast_execute_script: FastExecuteScriptTarget,
}

impl RoutesConfig {
    /// Check the section against the auth settings: the BK-CI plugin resource is system-only.
    pub fn validate(&self, app_mode: bool, system_api: bool) -> Result<(), String> {
        if self.fast_execute_script == FastExecuteScriptTarget::BkciPlugin
            && !(app_mode && system_api)
        {
            return Err(
                "routes.fast_execute_script = \"bkci-plugin\" needs auth.mode = \"app\" and \
                 auth.system_api = true: the gateway publishes bkci_plugin_fast_execute_script \
                 only under /api/v3/system/"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// Apply the configured dialect to a translated request (only `fast_execute_script`
    /// requests change).
    pub fn apply(&self, req: UpstreamRequest) -> Result<UpstreamRequest, TranslateError> {
        match (self.fast_execute_script, req.resource.as_str()) {
            (FastExecuteScriptTarget::BkciPlugin, "fast_execute_script") => to_bkci_plugin(req),
            _ => Ok(req),
        }
    }
}

/// A v3 `fast_execute_script` request → the BK-CI plugin request of doc E.
pub fn to_bkci_plugin(mut req: UpstreamRequest) -> Result<UpstreamRequest, TranslateError> {
    let Some(Value::Object(mut body)) = req.body.take().map(|b| b.to_value()) else {
        return Err(TranslateError::new(
            RejectReason::InvalidJson,
            "body",
            "fast_execute_script needs a JSON object body",
        ));
    };
    let target = body.remove("target_server").unwrap_or(Value::Null);
    body.insert("execute_target".into(), execute_target(&target)?);
    if let Some(v) = body.remove("is_param_sensitive") {
        let sensitive = match v {
            Value::Bool(b) => b,
            Value::Number(n) => n.as_i64().is_some_and(|i| i != 0),
            Value::String(s) => s == "1" || s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        body.insert("is_param_sensitive".into(), Value::Bool(sensitive));
    }
    if let Some(url) = body.remove("callback_url").filter(|u| !u.is_null()) {
        body.insert("callback".into(), json!({ "url": url }));
    }
    req.resource = BKCI_PLUGIN_RESOURCE.to_owned();
    req.body = Some(JsonBody::of_value(&Value::Object(body)));
    Ok(req)
}

/// v3 `target_server` → doc E `execute_target`.
fn execute_target(server: &Value) -> Result<Value, TranslateError> {
    let list = |key: &str| -> Result<Vec<Value>, TranslateError> {
        match server.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(TranslateError::new(
                RejectReason::Type,
                format!("target_server.{key}"),
                "must be a list",
            )),
        }
    };
    let mut hosts: Vec<Value> = list("host_id_list")?
        .into_iter()
        .map(|id| json!({ "bk_host_id": id }))
        .collect();
    hosts.extend(
        list("ip_list")?
            .into_iter()
            .map(|ip| json!({"bk_cloud_id": ip.get("bk_cloud_id"), "ip": ip.get("ip")})),
    );
    let mut out = Map::new();
    for (key, items) in [
        ("host_list", hosts),
        ("host_dynamic_group_list", list("dynamic_group_list")?),
        ("host_topo_node_list", list("topo_node_list")?),
    ] {
        if !items.is_empty() {
            out.insert(key.into(), Value::Array(items));
        }
    }
    if out.is_empty() {
        return Err(TranslateError::new(
            RejectReason::Missing,
            "target_server",
            "names no host, group or topology node",
        ));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::Method;

    #[test]
    fn config_parses_and_validates() {
        let c: RoutesConfig =
            toml::from_str("fast_execute_script = \"bkci-plugin\"").unwrap_or_default();
        assert_eq!(c.fast_execute_script, FastExecuteScriptTarget::BkciPlugin);
        assert!(c.validate(true, true).is_ok());
        assert!(c.validate(true, false).is_err());
        assert!(c.validate(false, true).is_err());
        assert!(RoutesConfig::default().validate(false, false).is_ok());
        assert!(toml::from_str::<RoutesConfig>("other = 1").is_err());
        assert!(toml::from_str::<RoutesConfig>("fast_execute_script = \"x\"").is_err());
    }

    #[test]
    fn other_requests_are_unchanged() {
        let c = RoutesConfig {
            fast_execute_script: FastExecuteScriptTarget::BkciPlugin,
        };
        let r = UpstreamRequest {
            method: Method::Post,
            resource: "execute_job_plan".into(),
            query: vec![],
            body: Some(JsonBody::of_value(&json!({}))),
            warnings: vec![],
        };
        assert_eq!(c.apply(r.clone()).ok(), Some(r));
        let empty = UpstreamRequest {
            resource: "fast_execute_script".into(),
            body: Some(JsonBody::of_value(&json!({"target_server": {}}))),
            ..UpstreamRequest {
                method: Method::Post,
                resource: String::new(),
                query: vec![],
                body: None,
                warnings: vec![],
            }
        };
        assert!(c.apply(empty).is_err());
    }
}

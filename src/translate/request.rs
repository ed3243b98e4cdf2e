//! Legacy request → v3 request (spec §3, DESIGN §3–4).
//!
//! | route | upstream | body |
//! |---|---|---|
//! | `job/execute_job` | `POST execute_job_plan` | rebuilt (§3.2) |
//! | `job/fast_execute_script` | `POST fast_execute_script` | rebuilt (§3.3) |
//! | `job/fast_push_file` | `POST fast_transfer_file` | rebuilt (§3.4) |
//! | `job/get_job_instance_status`, `_log` | `GET get_job_instance_status` | query (§3.5) |
//! | `jobv3/<resource>` | same resource | kept (§3.7), as a query for GET resources |
//!
//! Everything is validated before anything is built: a request that fails here is never
//! forwarded. Credentials are lifted out first and never appear in the output.

use super::credentials::CREDENTIAL_KEYS;
use super::fast::Typed;
use super::model::{
    FILE_TYPE_SERVER, LegacyGlobalVar, LegacyHostTarget, LegacyIp, TRANSFER_MODE_FORCE, V3Account,
    V3DynamicGroup, V3ExecuteJobPlan, V3FastExecuteScript, V3FastTransferFile, V3FileSource,
    V3GlobalVar, V3Ip, V3Server,
};
use super::routes::V3Resource;
use super::validate::{self, Path};
use super::{
    Credentials, JsonBody, Method, Options, RejectReason, Route, StepsPolicy, TranslateError,
    Translated, UpstreamRequest,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;

type Result<T> = std::result::Result<T, TranslateError>;

/// Keys that only exist in the legacy v2 API. They never appear in a translated request:
/// the legacy translators do not produce them, and the `jobv3` pass-through drops them
/// (bk-job's v3 classes do not read them either).
pub const LEGACY_ONLY_KEYS: [&str; 8] = [
    "custom_query_id",
    "bk_job_id",
    "script_type",
    "script_timeout",
    "steps",
    "bk_callback_url",
    "dynamic_group_id_list",
    "bk_biz_id",
];

/// Translate a legacy request body (already parsed; query parameters merged in as
/// strings for GET) for `route`. Credentials are removed from the body and returned apart.
pub fn translate_request(
    route: &Route,
    body: Map<String, Value>,
    opts: &Options,
) -> Result<Translated> {
    translate_typed(route, body, Typed::default(), opts)
}

/// [`translate_request`] of a body whose parts `typed` were already read into their
/// models (`translate::fast`; they are absent from `body`).
pub fn translate_typed(
    route: &Route,
    mut body: Map<String, Value>,
    typed: Typed,
    opts: &Options,
) -> Result<Translated> {
    let credentials = Credentials::take_from(&mut body);
    match route {
        Route::Call(call) => {
            let mut ex = super::calls::exchange(*call, body, &opts.calls)?;
            let request = match ex.start() {
                super::exchange::Step::Call(r) => r,
                _ => {
                    return Err(TranslateError::new(
                        RejectReason::Invalid,
                        "body",
                        "the call needs no upstream request",
                    ));
                }
            };
            return Ok(Translated {
                request,
                credentials,
                steps_dropped: 0,
                exchange: Some(super::exchange::PendingExchange::new(ex)),
            });
        }
        Route::Unavailable(u) => return Err(u.to_error()),
        _ => {}
    }
    let steps_dropped = match route {
        Route::ExecuteJob => steps_given(body.get("steps")).unwrap_or(0),
        _ => 0,
    };
    let request = match route {
        Route::ExecuteJob => execute_job(&body, typed.global_vars, opts),
        Route::FastExecuteScript => fast_execute_script(&body, typed.ip_list),
        Route::FastPushFile => fast_push_file(&body),
        Route::GetJobInstanceStatus | Route::GetJobInstanceLog => job_instance_status(&body),
        Route::V3(resource) => v3_passthrough(resource.name, resource.method, body),
        Route::V3Other(name) => v3_passthrough(name, V3Resource::method_for_unknown(name), body),
        Route::Call(_) | Route::Unavailable(_) => Err(TranslateError::new(
            RejectReason::Invalid,
            "path",
            "handled above",
        )),
    }?;
    let request = opts.routes.apply(request)?;
    Ok(Translated {
        request,
        credentials,
        steps_dropped,
        exchange: None,
    })
}

// ---------------------------------------------------------------------------------------
// job/execute_job → execute_job_plan
// ---------------------------------------------------------------------------------------

fn execute_job(
    body: &Map<String, Value>,
    global_vars: Option<Vec<LegacyGlobalVar>>,
    opts: &Options,
) -> Result<UpstreamRequest> {
    let mut warnings = Vec::new();
    if let Some(n) = steps_given(body.get("steps")) {
        match opts.steps {
            StepsPolicy::Reject => {
                return Err(TranslateError::new(
                    RejectReason::Steps,
                    "steps",
                    format!(
                        "{n} step override(s) given, but JOB v3 cannot honour per-step overrides \
                         (script, hosts, account, timeout): the saved job plan would run \
                         unchanged. Remove `steps`, or set legacy.steps = \"ignore\" in the shim \
                         configuration to drop them"
                    ),
                ));
            }
            StepsPolicy::Ignore => warnings.push(format!(
                "dropped {n} legacy steps override(s): JOB v3 cannot override steps, \
                 the saved job plan runs unchanged"
            )),
        }
    }
    let legacy = validate::legacy_execute_job(body, global_vars)?;
    let gp = Path::ROOT.key("global_vars");
    let global_var_list = legacy.global_vars.map(|vars| {
        vars.into_iter()
            .enumerate()
            .map(|(i, var)| global_var(var, &gp.index(i), &mut warnings))
            .collect()
    });
    let out = V3ExecuteJobPlan {
        scope: legacy.scope,
        job_plan_id: legacy.bk_job_id,
        global_var_list,
        callback_url: legacy.bk_callback_url,
    };
    // The hot bodies are written by hand (the same bytes, far fewer instructions).
    posted("execute_job_plan", JsonBody::write(&out), warnings)
}

/// Number of step overrides in a legacy `steps` value; `None` when absent, `null` or `[]`.
fn steps_given(v: Option<&Value>) -> Option<usize> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(Value::Array(a)) => Some(a.len()),
        Some(_) => Some(1),
    }
}

/// One `global_vars[]` item → `global_var_list[]` item (spec §3.2, §4.2, §4.3):
/// * an id ≤ 0 is not sent (bk-job would key the variable by that id and match nothing);
///   the name is used instead;
/// * a variable that names hosts is sent as `server` only, never with `value`.
fn global_var(var: LegacyGlobalVar, p: &Path<'_>, warnings: &mut Vec<String>) -> V3GlobalVar {
    let id = var.id.filter(|i| *i > 0);
    let server = to_server(var.target, p, warnings);
    let names_hosts = server.as_ref().is_some_and(|s| !s.is_empty());
    let (value, server) = if names_hosts {
        if var.value.as_deref().is_some_and(|v| !v.is_empty()) {
            warnings.push(format!(
                "{}.value dropped: the variable names hosts, which are sent as its server value \
                 (JOB v3 would ignore the hosts if value were sent)",
                shown(p)
            ));
        }
        (None, server)
    } else if var.value.is_some() {
        (var.value, None)
    } else {
        (None, server)
    };
    V3GlobalVar {
        id,
        name: var.name,
        value,
        server,
    }
}

// ---------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------

/// Legacy host keys → v3 `server`. `target_server` takes precedence over `ip_list` and
/// `custom_query_id`; without it those two are merged. `None` when no key was given.
fn to_server(
    target: LegacyHostTarget,
    p: &Path<'_>,
    warnings: &mut Vec<String>,
) -> Option<V3Server> {
    match target.target_server {
        Some(ts) => {
            if target.ip_list.is_some() || target.custom_query_id.is_some() {
                let pre = prefix(p);
                warnings.push(format!(
                    "{pre}ip_list and {pre}custom_query_id ignored: {pre}target_server \
                     takes precedence"
                ));
            }
            Some(V3Server {
                ip_list: ts.ip_list.map(dedup_ips),
                dynamic_group_list: ts.dynamic_group_id_list.map(groups),
                topo_node_list: ts.topo_node_list,
            })
        }
        None if target.ip_list.is_none() && target.custom_query_id.is_none() => None,
        None => Some(V3Server {
            ip_list: target.ip_list.map(dedup_ips),
            dynamic_group_list: target.custom_query_id.map(groups),
            topo_node_list: None,
        }),
    }
}

/// De-duplicate by (`bk_cloud_id`, `ip`), keeping the first-seen order (bk-job merges
/// hosts the same way, `HostDTO.equals`).
/// By sorting (key, position) pairs rather than hashing: fewer instructions than std's
/// keyed SipHash set for the 38-host body measured (callgrind), and O(n log n) whatever
/// the input, where an unkeyed fast hash would let a crafted `ip_list` degrade a set to
/// quadratic time.
fn dedup_ips(ips: Vec<LegacyIp>) -> Vec<V3Ip> {
    // (cloud, ip) packed into one key: `bk_cloud_id` is ≥ 0, so this is injective.
    let key = |ip: &LegacyIp| {
        (u128::from(ip.bk_cloud_id.unsigned_abs()) << 32) | u128::from(u32::from(ip.ip))
    };
    let mut keyed: Vec<(u128, usize)> = ips.iter().map(key).zip(0..).collect();
    keyed.sort_unstable();
    // Equal keys sit side by side, the first-seen first.
    let mut first = vec![false; ips.len()];
    let mut last = None;
    for (k, i) in keyed {
        if last != Some(k) {
            first[i] = true;
            last = Some(k);
        }
    }
    ips.into_iter()
        .zip(first)
        .filter(|(_, first)| *first)
        .map(|(ip, _)| V3Ip {
            bk_cloud_id: ip.bk_cloud_id,
            ip: ip.ip,
        })
        .collect()
}

/// Dynamic group ids → `[{id}]`, duplicates removed.
fn groups(ids: Vec<String>) -> Vec<V3DynamicGroup> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .map(|id| V3DynamicGroup { id })
        .collect()
}

/// The required target of a fast task, non-empty.
pub(crate) fn required_hosts(
    target: LegacyHostTarget,
    p: &Path<'_>,
    what: &str,
    warnings: &mut Vec<String>,
) -> Result<V3Server> {
    let given = !target.is_absent();
    let preferred = target.target_server.is_some();
    let server = to_server(target, p, warnings).unwrap_or_default();
    let tp = p.key("target_server");
    let detail = if preferred {
        format!(
            "names no {what} host: target_server is given (it takes precedence over ip_list and custom_query_id) but lists no host, group or topology node"
        )
    } else if given {
        format!("names no {what} host: ip_list and custom_query_id are empty")
    } else {
        format!("is required: give the {what} hosts as ip_list, custom_query_id or target_server")
    };
    validate::require_hosts(&server, &tp, &detail)?;
    Ok(server)
}

// ---------------------------------------------------------------------------------------
// job/fast_execute_script → fast_execute_script
// ---------------------------------------------------------------------------------------

fn fast_execute_script(
    body: &Map<String, Value>,
    ip_list: Option<Vec<LegacyIp>>,
) -> Result<UpstreamRequest> {
    let legacy = validate::legacy_fast_execute_script(body, ip_list)?;
    let mut warnings = Vec::new();
    let target_server = required_hosts(legacy.target, &Path::ROOT, "target", &mut warnings)?;
    let out = V3FastExecuteScript {
        scope: legacy.scope,
        script_version_id: legacy.script_id,
        script_content: legacy.script_content,
        script_language: legacy.script_type,
        script_param: legacy.script_param,
        timeout: legacy.script_timeout,
        account_alias: Some(legacy.account),
        is_param_sensitive: legacy.is_param_sensitive,
        task_name: legacy.task_name,
        target_server,
        callback_url: legacy.bk_callback_url,
    };
    posted("fast_execute_script", JsonBody::write(&out), warnings)
}

// ---------------------------------------------------------------------------------------
// job/fast_push_file → fast_transfer_file
// ---------------------------------------------------------------------------------------

fn fast_push_file(body: &Map<String, Value>) -> Result<UpstreamRequest> {
    let legacy = validate::legacy_fast_push_file(body)?;
    let mut warnings = Vec::new();
    let fp = Path::ROOT.key("file_source");
    let mut file_source_list = Vec::with_capacity(legacy.file_source.len());
    for (i, source) in legacy.file_source.into_iter().enumerate() {
        let sp = fp.index(i);
        let server = required_hosts(source.target, &sp, "source", &mut warnings)?;
        file_source_list.push(V3FileSource {
            file_list: source.files,
            account: V3Account {
                id: None,
                alias: Some(source.account),
            },
            server,
            file_type: FILE_TYPE_SERVER,
        });
    }
    let target_server = required_hosts(legacy.target, &Path::ROOT, "target", &mut warnings)?;
    let out = V3FastTransferFile {
        scope: legacy.scope,
        file_target_path: legacy.file_target_path,
        account_alias: legacy.account,
        file_source_list,
        target_server,
        timeout: legacy.timeout,
        download_speed_limit: legacy.download_speed_limit,
        upload_speed_limit: legacy.upload_speed_limit,
        task_name: legacy.task_name,
        transfer_mode: TRANSFER_MODE_FORCE,
        callback_url: legacy.bk_callback_url,
    };
    post("fast_transfer_file", &out, warnings)
}

// ---------------------------------------------------------------------------------------
// job/get_job_instance_status, job/get_job_instance_log → GET get_job_instance_status
// ---------------------------------------------------------------------------------------

fn job_instance_status(body: &Map<String, Value>) -> Result<UpstreamRequest> {
    let q = validate::legacy_job_instance_query(body)?;
    Ok(UpstreamRequest {
        method: Method::Get,
        resource: "get_job_instance_status".to_owned(),
        query: vec![
            ("bk_scope_type".to_owned(), q.scope.bk_scope_type.to_owned()),
            ("bk_scope_id".to_owned(), q.scope.bk_scope_id),
            ("job_instance_id".to_owned(), q.job_instance_id.to_string()),
            ("return_ip_result".to_owned(), "true".to_owned()),
        ],
        body: None,
        warnings: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------
// jobv3/<resource> → same resource
// ---------------------------------------------------------------------------------------

fn v3_passthrough(
    name: &str,
    method: Method,
    mut body: Map<String, Value>,
) -> Result<UpstreamRequest> {
    let root = Path::ROOT;
    let scope = validate::scope(&body, &root)?;
    body.remove("bk_biz_id");
    if let Some(scope) = scope {
        body.insert("bk_scope_type".into(), Value::from(scope.bk_scope_type));
        body.insert("bk_scope_id".into(), Value::String(scope.bk_scope_id));
    }
    let mut stripped = Stripped::default();
    strip_map(&mut body, &root, &mut stripped);
    let warnings = stripped.into_warnings();
    match name {
        "execute_job_plan" => validate::v3_execute_job_plan(&body)?,
        "fast_execute_script" => validate::v3_fast_execute_script(&body)?,
        _ => {}
    }
    let (query, body) = match method {
        Method::Post => (
            Vec::new(),
            Some(JsonBody::encode(&body).map_err(encode_error)?),
        ),
        Method::Get => (to_query(name, &body)?, None),
    };
    Ok(UpstreamRequest {
        method,
        resource: name.to_owned(),
        query,
        body,
        warnings,
    })
}

/// Keys removed at any depth of a pass-through body, with where they were found.
#[derive(Default)]
struct Stripped {
    credentials: Vec<String>,
    credentials_count: usize,
    legacy: Vec<String>,
    legacy_count: usize,
}

/// How many paths a warning lists before summarising.
const MAX_LISTED: usize = 5;

impl Stripped {
    fn into_warnings(self) -> Vec<String> {
        let mut out = Vec::new();
        if self.legacy_count > 0 {
            out.push(format!(
                "dropped legacy v2 field(s) that JOB v3 does not read: {}",
                listed(&self.legacy, self.legacy_count)
            ));
        }
        if self.credentials_count > 0 {
            out.push(format!(
                "dropped credential field(s) from the forwarded body: {}",
                listed(&self.credentials, self.credentials_count)
            ));
        }
        out
    }
}

fn listed(paths: &[String], total: usize) -> String {
    let mut s = paths.join(", ");
    if total > paths.len() {
        s.push_str(&format!(" and {} more", total - paths.len()));
    }
    s
}

fn is_credential_key(k: &str) -> bool {
    CREDENTIAL_KEYS.contains(&k)
}

fn is_legacy_key(k: &str) -> bool {
    LEGACY_ONLY_KEYS.contains(&k)
}

fn strip_value(v: &mut Value, p: &Path<'_>, out: &mut Stripped) {
    match v {
        Value::Object(m) => strip_map(m, p, out),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if matches!(item, Value::Object(_) | Value::Array(_)) {
                    strip_value(item, &p.index(i), out);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Remove credential keys and legacy-only keys from `m` and everything below it.
fn strip_map(m: &mut Map<String, Value>, p: &Path<'_>, out: &mut Stripped) {
    if m.keys().any(|k| is_credential_key(k) || is_legacy_key(k)) {
        let doomed: Vec<String> = m
            .keys()
            .filter(|k| is_credential_key(k) || is_legacy_key(k))
            .cloned()
            .collect();
        for key in doomed {
            let Some(old) = m.remove(&key) else { continue };
            if old.is_null() {
                continue;
            }
            let (list, count) = if is_credential_key(&key) {
                (&mut out.credentials, &mut out.credentials_count)
            } else {
                (&mut out.legacy, &mut out.legacy_count)
            };
            *count += 1;
            if list.len() < MAX_LISTED {
                list.push(shown(&p.key(&key)));
            }
        }
    }
    for (k, v) in m.iter_mut() {
        if matches!(v, Value::Object(_) | Value::Array(_)) {
            strip_value(v, &p.key(k), out);
        }
    }
}

/// Order of query parameters: scope first, then the other keys sorted.
fn query_rank(k: &str) -> u8 {
    match k {
        "bk_scope_type" => 0,
        "bk_scope_id" => 1,
        _ => 2,
    }
}

/// A GET resource's body as query parameters: strings as-is, numbers in decimal,
/// booleans `true`/`false`, arrays of scalars comma-joined; `null` and `[]` are left
/// out; nested objects and arrays are a `Type` error.
fn to_query(resource: &str, body: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    let mut entries: Vec<(&String, &Value)> = body.iter().collect();
    entries.sort_by(|(a, _), (b, _)| query_rank(a).cmp(&query_rank(b)).then_with(|| a.cmp(b)));
    let expected =
        format!("a scalar or an array of scalars (GET {resource} takes query parameters)");
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let p = Path::ROOT.key(k);
        let text = match v {
            Value::Null => continue,
            Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match scalar_text(item) {
                        Some(Some(t)) => parts.push(t),
                        Some(None) => {}
                        None => return Err(validate::type_error(&p.index(i), &expected, item)),
                    }
                }
                if parts.is_empty() {
                    continue;
                }
                parts.join(",")
            }
            other => match scalar_text(other) {
                Some(Some(t)) => t,
                Some(None) => continue,
                None => return Err(validate::type_error(&p, &expected, other)),
            },
        };
        out.push((k.clone(), text));
    }
    Ok(out)
}

/// `Some(Some(text))` for a scalar, `Some(None)` for `null`, `None` for a container.
fn scalar_text(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::Bool(b) => Some(Some(b.to_string())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::String(s) => Some(Some(s.clone())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

pub(crate) fn post(
    resource: &str,
    body: &impl Serialize,
    warnings: Vec<String>,
) -> Result<UpstreamRequest> {
    posted(resource, JsonBody::encode(body), warnings)
}

/// A `POST` of `body` to `resource` (a body that could not be written is refused).
fn posted(
    resource: &str,
    body: std::result::Result<JsonBody, serde_json::Error>,
    warnings: Vec<String>,
) -> Result<UpstreamRequest> {
    Ok(UpstreamRequest {
        method: Method::Post,
        resource: resource.to_owned(),
        query: Vec::new(),
        body: Some(body.map_err(encode_error)?),
        warnings,
    })
}

fn encode_error(e: serde_json::Error) -> TranslateError {
    TranslateError::new(
        RejectReason::Invalid,
        "body",
        format!("cannot encode the v3 body: {e}"),
    )
}

/// A path for a warning (sent as an HTTP header): printable ASCII only, bounded length.
fn shown(p: &Path<'_>) -> String {
    const MAX: usize = 120;
    let mut s: String = p
        .to_string()
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .take(MAX + 1)
        .collect();
    if s.len() > MAX {
        s.truncate(MAX);
        s.push_str("...");
    }
    s
}

/// `p.` for a nested object, empty for the body itself.
fn prefix(p: &Path<'_>) -> String {
    let s = shown(p);
    if s == "body" { String::new() } else { s + "." }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::routes::V3_RESOURCES;
    use serde_json::json;

    fn run(route: Route, body: Value, steps: StepsPolicy) -> Result<Translated> {
        let map = match body {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        translate_request(
            &route,
            map,
            &Options {
                steps,
                ..Options::default()
            },
        )
    }

    fn ok_body(route: Route, body: Value) -> Value {
        match run(route, body, StepsPolicy::Reject) {
            Ok(t) => t.request.body.map(|b| b.to_value()).unwrap_or_default(),
            Err(e) => json!({"unexpected_error": e.to_string()}),
        }
    }

    fn err(route: Route, body: Value) -> (RejectReason, String) {
        match run(route, body, StepsPolicy::Reject) {
            Ok(t) => (
                RejectReason::InvalidJson,
                format!("unexpected success: {t:?}"),
            ),
            Err(e) => (e.reason, e.field),
        }
    }

    fn v3(name: &str) -> Route {
        let found = V3_RESOURCES.iter().find(|r| r.name == name).copied();
        found.map_or(Route::ExecuteJob, Route::V3)
    }

    fn ip(c: i64, ip: &str) -> Value {
        json!({"bk_cloud_id": c, "ip": ip})
    }

    #[test]
    fn execute_job_maps_scope_plan_and_callback() {
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_app_code": "a", "bk_app_secret": "s", "bk_biz_id": 2, "bk_job_id": "100",
                   "bk_callback_url": "http://cb.example.com/x"}),
        );
        assert_eq!(
            b,
            json!({"bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": 100,
                   "callback_url": "http://cb.example.com/x"})
        );
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_biz_id": 2, "bk_job_id": 1, "bk_callback_url": ""}),
        );
        assert!(b.get("callback_url").is_none(), "{b}");
    }

    #[test]
    fn credentials_are_lifted_out() {
        let t = run(
            Route::ExecuteJob,
            json!({"app_code": "a", "app_secret": "s3cr3t", "bk_token": "t0k", "bk_biz_id": 2,
                   "bk_job_id": 1}),
            StepsPolicy::Reject,
        );
        let t = t.ok();
        assert_eq!(
            t.as_ref().and_then(|t| t.credentials.app_code.clone()),
            Some("a".into())
        );
        let text = t
            .and_then(|t| t.request.body)
            .map(|b| b.as_str().to_owned())
            .unwrap_or_default();
        assert!(!text.contains("s3cr3t") && !text.contains("t0k") && !text.contains("app_"));
    }

    #[test]
    fn biz_set_range_and_direct_scope() {
        for (biz, ty) in [
            (7_999_999, "biz"),
            (8_000_000, "biz_set"),
            (9_999_999, "biz_set"),
            (10_000_000, "biz"),
        ] {
            let b = ok_body(Route::ExecuteJob, json!({"bk_biz_id": biz, "bk_job_id": 1}));
            assert_eq!(b["bk_scope_type"], ty, "{biz}");
            assert_eq!(b["bk_scope_id"], biz.to_string());
            assert!(b.get("bk_biz_id").is_none());
        }
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_scope_type": "biz_set", "bk_scope_id": "1001", "bk_biz_id": 3, "bk_job_id": 1}),
        );
        assert_eq!(
            (b["bk_scope_type"].clone(), b["bk_scope_id"].clone()),
            (json!("biz_set"), json!("1001"))
        );
        assert_eq!(
            err(
                Route::ExecuteJob,
                json!({"bk_scope_type": "tenant", "bk_scope_id": "1", "bk_job_id": 1})
            ),
            (RejectReason::Invalid, "bk_scope_type".into())
        );
    }

    #[test]
    fn numeric_strings_are_accepted_and_bad_ones_name_the_field() {
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_biz_id": "3", "bk_job_id": "7", "global_vars": [{"id": "5", "value": "v"}]}),
        );
        assert_eq!(b["job_plan_id"], 7);
        assert_eq!(b["global_var_list"][0]["id"], 5);
        assert_eq!(
            err(
                Route::ExecuteJob,
                json!({"bk_biz_id": 1, "bk_job_id": "abc"})
            ),
            (RejectReason::Type, "bk_job_id".into())
        );
        assert_eq!(
            err(Route::ExecuteJob, json!({"bk_biz_id": 1})),
            (RejectReason::Missing, "bk_job_id".into())
        );
        assert_eq!(
            err(Route::ExecuteJob, json!({"bk_biz_id": 1, "bk_job_id": 0})),
            (RejectReason::Invalid, "bk_job_id".into())
        );
        assert_eq!(
            err(Route::ExecuteJob, json!({"bk_biz_id": "x", "bk_job_id": 1})),
            (RejectReason::Type, "bk_biz_id".into())
        );
    }

    #[test]
    fn ip_lists_are_deduplicated_in_first_seen_order() {
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_biz_id": 1, "bk_job_id": 1, "global_vars": [{"id": 1, "ip_list": [
                ip(0, "10.0.0.2"), ip(0, " 10.0.0.1"), ip(1, "10.0.0.2"), ip(0, "10.0.0.2 "),
                ip(0, "10.0.0.1")]}]}),
        );
        assert_eq!(
            b["global_var_list"][0]["server"]["ip_list"],
            json!([ip(0, "10.0.0.2"), ip(0, "10.0.0.1"), ip(1, "10.0.0.2")])
        );
    }

    #[test]
    fn dedup_keeps_the_first_of_each_host_in_order() {
        // Hosts drawn from a small set (a linear congruential sequence), so most repeat.
        let mut x = 7u32;
        let ips: Vec<LegacyIp> = (0..500)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                LegacyIp {
                    bk_cloud_id: i64::from(x >> 30),
                    ip: std::net::Ipv4Addr::from((10 << 24) | ((x >> 16) % 40)),
                }
            })
            .collect();
        let mut naive: Vec<(i64, std::net::Ipv4Addr)> = Vec::new();
        for ip in &ips {
            if !naive.contains(&(ip.bk_cloud_id, ip.ip)) {
                naive.push((ip.bk_cloud_id, ip.ip));
            }
        }
        let ours: Vec<_> = dedup_ips(ips)
            .into_iter()
            .map(|ip| (ip.bk_cloud_id, ip.ip))
            .collect();
        assert!(naive.len() > 40 && naive.len() < 200, "{}", naive.len());
        assert_eq!(ours, naive);
    }

    #[test]
    fn target_server_takes_precedence_otherwise_lists_merge() {
        let t = run(
            Route::ExecuteJob,
            json!({"bk_biz_id": 1, "bk_job_id": 1, "global_vars": [{"id": 1,
                "ip_list": [ip(0, "10.0.0.9")], "custom_query_id": ["9"],
                "target_server": {"dynamic_group_id_list": ["g"],
                                  "topo_node_list": [{"id": "5", "node_type": "set"}]}}]}),
            StepsPolicy::Reject,
        );
        let t = t.ok();
        let b = t
            .as_ref()
            .and_then(|t| t.request.body.as_ref().map(JsonBody::to_value))
            .unwrap_or_default();
        assert_eq!(
            b["global_var_list"][0]["server"],
            json!({"dynamic_group_list": [{"id": "g"}], "topo_node_list": [{"id": 5, "node_type": "set"}]})
        );
        let warnings = t.map(|t| t.request.warnings).unwrap_or_default();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("global_vars[0].target_server takes precedence")),
            "{warnings:?}"
        );
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_biz_id": 1, "bk_job_id": 1, "global_vars": [{"id": 1,
                "ip_list": [ip(0, "10.0.0.9")], "custom_query_id": ["2:9", "9"]}]}),
        );
        assert_eq!(
            b["global_var_list"][0]["server"],
            json!({"ip_list": [ip(0, "10.0.0.9")], "dynamic_group_list": [{"id": "9"}]})
        );
    }

    #[test]
    fn id_at_most_zero_sends_the_name_only() {
        let b = ok_body(
            Route::ExecuteJob,
            json!({"bk_biz_id": 1, "bk_job_id": 1, "global_vars": [
                {"id": 0, "name": "a", "value": "x"}, {"id": -3, "name": "b", "value": "y"},
                {"id": 4, "name": "c", "value": "z"}]}),
        );
        assert_eq!(
            b["global_var_list"],
            json!([{"name": "a", "value": "x"}, {"name": "b", "value": "y"},
                   {"id": 4, "name": "c", "value": "z"}])
        );
        assert_eq!(
            err(
                Route::ExecuteJob,
                json!({"bk_biz_id": 1, "bk_job_id": 1, "global_vars": [{"id": 0, "value": "x"}]})
            ),
            (RejectReason::Invalid, "global_vars[0].id".into())
        );
    }

    #[test]
    fn value_and_server_are_never_both_sent() {
        let t = run(
            Route::ExecuteJob,
            json!({"bk_biz_id": 1, "bk_job_id": 1, "global_vars": [
                {"id": 1, "value": "x", "ip_list": [ip(0, "10.0.0.1")]},
                {"id": 2, "value": "y", "ip_list": []},
                {"id": 3, "ip_list": []}]}),
            StepsPolicy::Reject,
        )
        .ok();
        let b = t
            .as_ref()
            .and_then(|t| t.request.body.as_ref().map(JsonBody::to_value))
            .unwrap_or_default();
        assert_eq!(
            b["global_var_list"],
            json!([{"id": 1, "server": {"ip_list": [ip(0, "10.0.0.1")]}},
                   {"id": 2, "value": "y"},
                   {"id": 3, "server": {"ip_list": []}}])
        );
        let warnings = t.map(|t| t.request.warnings).unwrap_or_default();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .all(|w| w.starts_with("global_vars[0].value dropped"))
        );
    }

    #[test]
    fn steps_policy() {
        let body = json!({"bk_biz_id": 1, "bk_job_id": 1, "steps": [{"step_id": 1}]});
        let e = run(Route::ExecuteJob, body.clone(), StepsPolicy::Reject).err();
        let e = e.unwrap_or_else(|| TranslateError::new(RejectReason::Type, "", ""));
        assert_eq!((e.reason, e.field.as_str()), (RejectReason::Steps, "steps"));
        assert!(
            e.detail.contains("legacy.steps = \"ignore\""),
            "{}",
            e.detail
        );
        let t = run(Route::ExecuteJob, body, StepsPolicy::Ignore).ok();
        let w = t.map(|t| t.request.warnings).unwrap_or_default();
        assert_eq!(w.len(), 1);
        assert!(w.iter().all(|w| w.contains("dropped 1 legacy steps")));
        for empty in [json!([]), Value::Null] {
            let b = json!({"bk_biz_id": 1, "bk_job_id": 1, "steps": empty});
            assert!(run(Route::ExecuteJob, b, StepsPolicy::Reject).is_ok());
        }
    }

    #[test]
    fn errors_name_nested_fields() {
        let cases = [
            (
                json!({"global_vars": [{"id": 1, "ip_list": [ip(0, "10.0.0.1"), ip(0, "10.0.0.256")]}]}),
                (RejectReason::Invalid, "global_vars[0].ip_list[1].ip"),
            ),
            (
                json!({"global_vars": [{"id": 1, "target_server": {"ip_list": [ip(-1, "10.0.0.1")]}}]}),
                (
                    RejectReason::Invalid,
                    "global_vars[0].target_server.ip_list[0].bk_cloud_id",
                ),
            ),
            (
                json!({"global_vars": [{"id": 1, "target_server": {"topo_node_list": [{"id": 1}]}}]}),
                (
                    RejectReason::Missing,
                    "global_vars[0].target_server.topo_node_list[0].node_type",
                ),
            ),
            (
                json!({"global_vars": {"id": 1}}),
                (RejectReason::Type, "global_vars"),
            ),
            (
                json!({"global_vars": [3]}),
                (RejectReason::Type, "global_vars[0]"),
            ),
            (
                json!({"bk_callback_url": "ftp://x"}),
                (RejectReason::Invalid, "bk_callback_url"),
            ),
        ];
        for (extra, (reason, field)) in cases {
            let mut body = json!({"bk_biz_id": 1, "bk_job_id": 1});
            if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
                b.extend(e);
            }
            assert_eq!(err(Route::ExecuteJob, body), (reason, field.to_owned()));
        }
    }

    #[test]
    fn fast_execute_script_maps_legacy_names() {
        let b = ok_body(
            Route::FastExecuteScript,
            json!({"bk_biz_id": 1, "script_content": "ZWNobyAkMQ==", "script_type": "1",
                   "script_param": "aGVsbG8=", "script_timeout": 1000, "account": "root",
                   "is_param_sensitive": 0, "task_name": "t", "bk_callback_url": "https://h/cb",
                   "ip_list": [ip(0, "10.0.0.1"), ip(0, "10.0.0.1")], "custom_query_id": ["1:g"]}),
        );
        assert_eq!(
            b,
            json!({"bk_scope_type": "biz", "bk_scope_id": "1", "script_content": "ZWNobyAkMQ==",
                   "script_language": 1, "script_param": "aGVsbG8=", "timeout": 1000,
                   "account_alias": "root", "is_param_sensitive": 0, "task_name": "t",
                   "callback_url": "https://h/cb",
                   "target_server": {"ip_list": [ip(0, "10.0.0.1")],
                                     "dynamic_group_list": [{"id": "g"}]}})
        );
        let b = ok_body(
            Route::FastExecuteScript,
            json!({"bk_biz_id": 1, "script_id": 12, "account": "root",
                   "target_server": {"ip_list": [ip(0, "10.0.0.1")]}}),
        );
        assert_eq!(b["script_version_id"], 12);
        assert!(b.get("script_id").is_none());
    }

    #[test]
    fn fast_execute_script_needs_a_target() {
        let base = json!({"bk_biz_id": 1, "script_id": 1, "account": "root"});
        assert_eq!(
            err(Route::FastExecuteScript, base.clone()),
            (RejectReason::Missing, "target_server".into())
        );
        let mut b = base.clone();
        if let Some(m) = b.as_object_mut() {
            m.insert("target_server".into(), json!({"ip_list": []}));
            m.insert("ip_list".into(), json!([ip(0, "10.0.0.1")]));
        }
        let e = run(Route::FastExecuteScript, b, StepsPolicy::Reject).err();
        assert!(e.is_some_and(|e| e.field == "target_server" && e.detail.contains("precedence")));
        assert_eq!(
            err(
                Route::FastExecuteScript,
                json!({"bk_biz_id": 1, "script_content": "%%%", "script_type": 1,
                       "account": "root", "ip_list": [ip(0, "10.0.0.1")]})
            ),
            (RejectReason::Invalid, "script_content".into())
        );
    }

    #[test]
    fn fast_push_file_builds_sources() {
        let b = ok_body(
            Route::FastPushFile,
            json!({"bk_biz_id": 1, "file_target_path": "/tmp/", "account": "root",
                   "timeout": "60", "upload_speed_limit": 10,
                   "file_source": [{"files": ["/a", "/b"], "account": "admin",
                                    "target_server": {"ip_list": [ip(0, "10.0.0.2")]}}],
                   "ip_list": [ip(0, "10.0.0.1")]}),
        );
        assert_eq!(
            b,
            json!({"bk_scope_type": "biz", "bk_scope_id": "1", "file_target_path": "/tmp/",
                   "account_alias": "root", "timeout": 60, "upload_speed_limit": 10,
                   "transfer_mode": 2,
                   "file_source_list": [{"file_list": ["/a", "/b"], "account": {"alias": "admin"},
                                         "server": {"ip_list": [ip(0, "10.0.0.2")]}, "file_type": 1}],
                   "target_server": {"ip_list": [ip(0, "10.0.0.1")]}})
        );
        assert_eq!(
            err(
                Route::FastPushFile,
                json!({"bk_biz_id": 1, "file_target_path": "/tmp/", "account": "root",
                       "file_source": [{"files": ["/a"], "account": "a"}],
                       "ip_list": [ip(0, "10.0.0.1")]})
            ),
            (RejectReason::Missing, "file_source[0].target_server".into())
        );
    }

    #[test]
    fn job_instance_status_is_a_get_with_ip_results() {
        for route in [Route::GetJobInstanceStatus, Route::GetJobInstanceLog] {
            let t = run(
                route,
                json!({"bk_biz_id": "9000000", "job_instance_id": "123", "bk_app_code": "a"}),
                StepsPolicy::Reject,
            );
            let r = t.map(|t| t.request).ok();
            assert_eq!(r.as_ref().map(|r| r.method), Some(Method::Get));
            assert_eq!(
                r.map(|r| r.query_string()).unwrap_or_default(),
                "bk_scope_type=biz_set&bk_scope_id=9000000&job_instance_id=123&return_ip_result=true"
            );
        }
        assert_eq!(
            err(Route::GetJobInstanceStatus, json!({"bk_biz_id": 1})),
            (RejectReason::Missing, "job_instance_id".into())
        );
    }

    #[test]
    fn v3_post_keeps_the_body_and_converts_scope() {
        let b = ok_body(
            v3("fast_transfer_file"),
            json!({"bk_app_code": "a", "bk_biz_id": 8_000_001, "anything": {"kept": [1]}}),
        );
        assert_eq!(
            b,
            json!({"bk_scope_type": "biz_set", "bk_scope_id": "8000001", "anything": {"kept": [1]}})
        );
        let b = ok_body(
            v3("operate_job_instance"),
            json!({"bk_scope_type": "biz", "bk_scope_id": "5", "bk_biz_id": 6}),
        );
        assert_eq!(b, json!({"bk_scope_type": "biz", "bk_scope_id": "5"}));
    }

    #[test]
    fn v3_get_turns_the_body_into_a_query() {
        let t = run(
            v3("get_job_instance_list"),
            json!({"bk_biz_id": 2, "create_time_start": 1, "name": "a b", "flag": true,
                   "status": [1, "2", null], "empty": [], "none": null}),
            StepsPolicy::Reject,
        );
        let r = t.map(|t| t.request).ok();
        assert_eq!(r.as_ref().and_then(|r| r.body.clone()), None);
        assert_eq!(
            r.map(|r| r.query).unwrap_or_default(),
            [
                ("bk_scope_type", "biz"),
                ("bk_scope_id", "2"),
                ("create_time_start", "1"),
                ("flag", "true"),
                ("name", "a b"),
                ("status", "1,2"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
        );
        assert_eq!(
            err(
                v3("get_job_instance_status"),
                json!({"bk_biz_id": 2, "job_instance_id": 1, "x": {"y": 1}})
            ),
            (RejectReason::Type, "x".into())
        );
        assert_eq!(
            err(
                v3("get_job_instance_status"),
                json!({"bk_biz_id": 2, "ids": [[1]]})
            ),
            (RejectReason::Type, "ids[0]".into())
        );
    }

    #[test]
    fn v3_drops_legacy_and_nested_credential_keys() {
        let t = run(
            v3("execute_job_plan"),
            json!({"bk_biz_id": 1, "job_plan_id": 3, "bk_callback_url": "x", "steps": [1],
                   "global_var_list": [{"id": 1, "custom_query_id": ["1"], "bk_token": "t",
                                        "server": {"dynamic_group_id_list": ["a"],
                                                   "ip_list": [ip(0, "10.0.0.1")]}}]}),
            StepsPolicy::Reject,
        )
        .ok();
        let b = t
            .as_ref()
            .and_then(|t| t.request.body.as_ref().map(JsonBody::to_value))
            .unwrap_or_default();
        assert_eq!(
            b,
            json!({"bk_scope_type": "biz", "bk_scope_id": "1", "job_plan_id": 3,
                   "global_var_list": [{"id": 1, "server": {"ip_list": [ip(0, "10.0.0.1")]}}]})
        );
        let w = t.map(|t| t.request.warnings).unwrap_or_default();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w.iter()
                .any(|w| w.contains("global_var_list[0].server.dynamic_group_id_list"))
        );
        assert!(
            w.iter()
                .any(|w| w.contains("credential") && !w.contains("\"t\""))
        );
    }

    #[test]
    fn v3_light_validation_blocks_bad_input() {
        let target = json!({"ip_list": [ip(0, "10.0.0.1")]});
        let cases = [
            (
                json!({"script_version_id": 1, "target_server": {"ip_list": [ip(0, "1.2.3")]}}),
                "target_server.ip_list[0].ip",
            ),
            (
                json!({"script_content": "ZWNobw==", "script_language": 6, "target_server": target}),
                "script_language",
            ),
            (
                json!({"script_version_id": 1, "timeout": 0, "target_server": target}),
                "timeout",
            ),
            (
                json!({"script_version_id": 1, "script_param": "@@", "target_server": target}),
                "script_param",
            ),
            (json!({"script_version_id": 1}), "target_server"),
        ];
        for (body, field) in cases {
            let (_, f) = err(v3("fast_execute_script"), body);
            assert_eq!(f, field);
        }
        assert_eq!(
            err(
                v3("execute_job_plan"),
                json!({"bk_biz_id": 1, "job_plan_id": "x"})
            ),
            (RejectReason::Type, "job_plan_id".into())
        );
    }

    #[test]
    fn warnings_are_header_safe() {
        let t = run(
            v3("save_cron"),
            json!({"bk_biz_id": 1, "caf\u{e9}\n": {"steps": 1}}),
            StepsPolicy::Reject,
        );
        let w = t.map(|t| t.request.warnings).unwrap_or_default();
        assert_eq!(w.len(), 1);
        assert!(
            w.iter()
                .all(|w| w.chars().all(|c| c == ' ' || c.is_ascii_graphic()))
        );
    }
}

//! Plans (`spec/legacy-api-surface.md` §3.6, §3.7): `get_job_list` → `get_job_plan_list`
//! (paged), `get_job_detail` → `get_job_plan_detail` + `get_account_list` (account aliases)
//! + script version details (content of cited and public scripts).

use super::super::exchange::{
    CallError, Exchange, Finished, Outcome, Paged, Pager, Step, get, ok_data,
};
use super::super::scope::Scope;
use super::super::{RejectReason, TranslateError};
use super::list::{ListExchange, pager};
use super::{
    CallOptions, id, push_date_range, push_opt, rows, scope, scope_query, text, time, window,
};
use base64::Engine as _;
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

type Result<T> = std::result::Result<T, TranslateError>;

/// v3 step types (`TaskStepTypeEnum`).
const STEP_SCRIPT: i64 = 1;
const STEP_FILE: i64 = 2;
const STEP_APPROVAL: i64 = 3;
/// Script sources (`ScriptSourceEnum`): 1 local, 2 cited business script, 3 public script.
const SOURCE_CITED: i64 = 2;
const SOURCE_PUBLIC: i64 = 3;

/// `job/get_job_list` → GET `get_job_plan_list`, every row (or the window asked for).
pub fn get_job_list(m: &Map<String, Value>, opts: &CallOptions) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let mut query = scope_query(&scope);
    for key in ["name", "creator", "last_modify_user"] {
        push_opt(&mut query, key, text(m, key)?);
    }
    push_date_range(&mut query, m, opts.tz)?;
    let pager = pager("get_job_plan_list", query, window(m)?, opts)?;
    let tz = opts.tz;
    Ok(Box::new(ListExchange::new(
        pager,
        Box::new(move |rows, _| {
            let items: Vec<Value> = rows.iter().map(|r| plan_row(r, &scope, tz)).collect();
            Ok(Finished::data(Value::Array(items)))
        }),
    )))
}

/// One v3 `EsbPlanBasicInfoV3DTO` → v2 `EsbJobBasicInfoDTO`.
fn plan_row(r: &Value, scope: &Scope, tz: Tz) -> Value {
    json!({
        "bk_job_id": r.get("id"),
        "name": r.get("name"),
        "creator": r.get("creator"),
        "create_time": time(r.get("create_time").unwrap_or(&Value::Null), tz),
        "last_modify_user": r.get("last_modify_user"),
        "last_modify_time": time(r.get("last_modify_time").unwrap_or(&Value::Null), tz),
        "bk_biz_id": biz_id(r, scope),
        "bk_scope_type": r.get("bk_scope_type").cloned().unwrap_or_else(|| json!(scope.bk_scope_type)),
        "bk_scope_id": r.get("bk_scope_id").cloned().unwrap_or_else(|| json!(scope.bk_scope_id)),
    })
}

/// `bk_biz_id` of a row, else the scope id as a number (as JOB fills it).
pub(crate) fn biz_id(r: &Value, scope: &Scope) -> Value {
    match r.get("bk_biz_id") {
        Some(v) if !v.is_null() => v.clone(),
        _ => scope
            .bk_scope_id
            .parse::<i64>()
            .map_or(Value::Null, Value::from),
    }
}

// ---------------------------------------------------------------------------------------
// get_job_detail
// ---------------------------------------------------------------------------------------

/// `job/get_job_detail` → GET `get_job_plan_detail`, then the account list (aliases) when
/// steps name accounts, then one version detail per cited or public script step.
pub fn get_job_detail(m: &Map<String, Value>, opts: &CallOptions) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let plan_id = id(m, "bk_job_id")?;
    Ok(Box::new(JobDetail {
        scope,
        plan_id,
        tz: opts.tz,
        limits: opts.limits(),
        phase: DetailPhase::Plan,
        plan: Value::Null,
        aliases: BTreeMap::new(),
        contents: BTreeMap::new(),
        pending: VecDeque::new(),
    }))
}

enum DetailPhase {
    Plan,
    Accounts(Box<Pager>),
    Scripts(i64),
    Finished,
}

struct JobDetail {
    scope: Scope,
    plan_id: i64,
    tz: Tz,
    limits: super::super::exchange::Limits,
    phase: DetailPhase,
    plan: Value,
    /// Account id → alias.
    aliases: BTreeMap<i64, String>,
    /// Script version id → plain content.
    contents: BTreeMap<i64, String>,
    /// Version detail requests still to send (version id, request).
    pending: VecDeque<(i64, super::super::UpstreamRequest)>,
}

impl Exchange for JobDetail {
    fn start(&mut self) -> Step {
        let mut q = scope_query(&self.scope);
        q.push(("job_plan_id".into(), self.plan_id.to_string()));
        Step::Call(get("get_job_plan_detail", q))
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        let data = match ok_data(outcome) {
            Ok(d) => d,
            Err(step) => return step,
        };
        match std::mem::replace(&mut self.phase, DetailPhase::Finished) {
            DetailPhase::Plan => {
                self.plan = data;
                self.queue_scripts();
                if accounts_used(&self.plan).is_empty() {
                    return self.next_script();
                }
                match Pager::new(
                    "get_account_list",
                    scope_query(&self.scope),
                    super::super::exchange::Window {
                        start: 0,
                        length: None,
                    },
                    self.limits,
                ) {
                    Ok(p) => {
                        let req = p.request();
                        self.phase = DetailPhase::Accounts(Box::new(p));
                        Step::Call(req)
                    }
                    Err(e) => Step::Fail(e),
                }
            }
            DetailPhase::Accounts(mut pager) => match pager.consume(&data) {
                Ok(Paged::More(r)) => {
                    self.phase = DetailPhase::Accounts(pager);
                    Step::Call(r)
                }
                Ok(Paged::Complete) => {
                    for a in pager.rows() {
                        if let (Some(id), Some(alias)) = (
                            a.get("id").and_then(Value::as_i64),
                            a.get("alias").and_then(Value::as_str),
                        ) {
                            self.aliases.insert(id, alias.to_owned());
                        }
                    }
                    self.next_script()
                }
                Err(e) => e.into_step(),
            },
            DetailPhase::Scripts(version) => {
                let content = data.get("content").and_then(Value::as_str).unwrap_or("");
                self.contents.insert(version, content.to_owned());
                self.next_script()
            }
            DetailPhase::Finished => Step::Abort,
        }
    }
}

impl JobDetail {
    /// Queue a version detail for every cited or public script step without content.
    fn queue_scripts(&mut self) {
        let mut seen = BTreeSet::new();
        let steps = rows(
            self.plan.get("step_list").unwrap_or(&Value::Null),
            "step_list",
        )
        .unwrap_or(&[]);
        for s in steps {
            let Some(info) = s.get("script_info").filter(|i| i.is_object()) else {
                continue;
            };
            let has_content = info
                .get("script_content")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty());
            let source = info.get("script_type").and_then(Value::as_i64);
            let version = info.get("script_version_id").and_then(Value::as_i64);
            let (Some(version), false) = (version, has_content) else {
                continue;
            };
            if !seen.insert(version) {
                continue;
            }
            let req = match source {
                Some(SOURCE_PUBLIC) => get(
                    "get_public_script_version_detail",
                    vec![("id".into(), version.to_string())],
                ),
                Some(SOURCE_CITED) | Some(_) | None => {
                    let mut q = scope_query(&self.scope);
                    q.push(("id".into(), version.to_string()));
                    get("get_script_version_detail", q)
                }
            };
            self.pending.push_back((version, req));
        }
    }

    fn next_script(&mut self) -> Step {
        match self.pending.pop_front() {
            Some((version, req)) => {
                self.phase = DetailPhase::Scripts(version);
                Step::Call(req)
            }
            None => match job_detail(
                &self.plan,
                &self.scope,
                &self.aliases,
                &self.contents,
                self.tz,
            ) {
                Ok(data) => Step::Done(Finished::data(data)),
                Err(e) => Step::Fail(CallError::bad_reply(&e)),
            },
        }
    }
}

/// Account ids a plan's steps name.
fn accounts_used(plan: &Value) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    let steps = plan.get("step_list").and_then(Value::as_array);
    for s in steps.into_iter().flatten() {
        let mut add = |v: Option<&Value>| {
            if let Some(id) = v.and_then(|a| a.get("id")).and_then(Value::as_i64) {
                ids.insert(id);
            }
        };
        add(s.pointer("/script_info/account"));
        add(s.pointer("/file_info/file_destination/account"));
        for src in s
            .pointer("/file_info/file_source_list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(src.get("account"));
        }
    }
    ids
}

/// v3 `EsbPlanInfoV3DTO` → v2 `EsbJobDetailDTO`.
fn job_detail(
    plan: &Value,
    scope: &Scope,
    aliases: &BTreeMap<i64, String>,
    contents: &BTreeMap<i64, String>,
    tz: Tz,
) -> Result<Value> {
    if !plan.is_object() {
        return Err(TranslateError::new(
            RejectReason::Invalid,
            "data",
            "is not a plan",
        ));
    }
    let steps = rows(
        plan.get("step_list").unwrap_or(&Value::Null),
        "data.step_list",
    )?;
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(s, i + 1, aliases, contents))
        .collect();
    let vars = rows(
        plan.get("global_var_list").unwrap_or(&Value::Null),
        "data.global_var_list",
    )?;
    let vars: Vec<Value> = vars.iter().map(global_var).collect();
    let mut detail = json!({
        "bk_job_id": plan.get("id"),
        "template_id": plan.get("job_template_id"),
        "name": plan.get("name"),
        "creator": plan.get("creator"),
        "create_time": time(plan.get("create_time").unwrap_or(&Value::Null), tz),
        "last_modify_user": plan.get("last_modify_user"),
        "last_modify_time": time(plan.get("last_modify_time").unwrap_or(&Value::Null), tz),
        "bk_biz_id": biz_id(plan, scope),
        "bk_scope_type": scope.bk_scope_type,
        "bk_scope_id": scope.bk_scope_id,
    });
    // Moved in: `json!` would copy the trees.
    detail["steps"] = Value::Array(steps);
    detail["global_vars"] = Value::Array(vars);
    Ok(detail)
}

fn step(
    s: &Value,
    order: usize,
    aliases: &BTreeMap<i64, String>,
    contents: &BTreeMap<i64, String>,
) -> Value {
    let ty = s.get("type").and_then(Value::as_i64).unwrap_or(0);
    let mut out = Map::new();
    out.insert(
        "step_id".into(),
        s.get("id").cloned().unwrap_or(Value::Null),
    );
    out.insert("name".into(), s.get("name").cloned().unwrap_or(Value::Null));
    out.insert("type".into(), json!(ty));
    out.insert("order".into(), json!(order));
    match ty {
        STEP_SCRIPT => script_step(&mut out, s, aliases, contents),
        STEP_FILE => file_step(&mut out, s, aliases),
        STEP_APPROVAL => {
            out.insert(
                "confirm_message".into(),
                s.pointer("/approval_info/approval_message")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        _ => {}
    }
    Value::Object(out)
}

/// The legacy account name of a v3 `account` (its alias, else the alias of its id).
fn account_alias(a: Option<&Value>, aliases: &BTreeMap<i64, String>) -> Value {
    a.and_then(|a| {
        a.get("alias")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                a.get("id")
                    .and_then(Value::as_i64)
                    .and_then(|id| aliases.get(&id).cloned())
            })
    })
    .map_or(Value::Null, Value::from)
}

/// The fields of a script step (`script_info`), the cited script's content included.
fn script_step(
    out: &mut Map<String, Value>,
    s: &Value,
    aliases: &BTreeMap<i64, String>,
    contents: &BTreeMap<i64, String>,
) {
    let info = s.get("script_info").unwrap_or(&Value::Null);
    let version = info.get("script_version_id").and_then(Value::as_i64);
    let content = match info.get("script_content").and_then(Value::as_str) {
        Some(c) if !c.is_empty() => Value::from(plain(c)),
        _ => version
            .and_then(|v| contents.get(&v).cloned())
            .map_or(Value::Null, Value::from),
    };
    // JOB 3.x's v2 puts the script source into `type`.
    if let Some(source) = info.get("script_type").and_then(Value::as_i64) {
        out.insert("type".into(), json!(source));
    }
    out.insert("script_id".into(), json!(version));
    out.insert("script_content".into(), content);
    out.insert(
        "script_type".into(),
        info.get("script_language").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "script_param".into(),
        info.get("script_param")
            .and_then(Value::as_str)
            .map_or(Value::Null, |p| Value::from(plain(p))),
    );
    out.insert(
        "script_timeout".into(),
        info.get("script_timeout").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "is_param_sensitive".into(),
        info.get("is_param_sensitive").cloned().unwrap_or(json!(0)),
    );
    out.insert(
        "account".into(),
        account_alias(info.get("account"), aliases),
    );
    out.insert(
        "account_id".into(),
        info.pointer("/account/id").cloned().unwrap_or(Value::Null),
    );
    hosts_into(out, info.get("server"));
}

/// The fields of a file step (`file_info`): sources, target path and account.
fn file_step(out: &mut Map<String, Value>, s: &Value, aliases: &BTreeMap<i64, String>) {
    let info = s.get("file_info").unwrap_or(&Value::Null);
    let sources = info
        .get("file_source_list")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|src| file_source(src, aliases)).collect())
        .unwrap_or_default();
    out.insert("file_source".into(), Value::Array(sources));
    let dest = info.get("file_destination").unwrap_or(&Value::Null);
    out.insert(
        "file_target_path".into(),
        dest.get("path").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "account".into(),
        account_alias(dest.get("account"), aliases),
    );
}

/// One legacy `file_source[]` item of a v3 `file_source_list[]` item.
fn file_source(src: &Value, aliases: &BTreeMap<i64, String>) -> Value {
    let mut f = Map::new();
    f.insert(
        "files".into(),
        src.get("file_list").cloned().unwrap_or(json!([])),
    );
    f.insert("account".into(), account_alias(src.get("account"), aliases));
    hosts_into(&mut f, src.get("server"));
    f.insert(
        "file_type".into(),
        src.get("file_type").cloned().unwrap_or(Value::Null),
    );
    f.insert(
        "file_source_id".into(),
        src.get("file_source_id").cloned().unwrap_or(Value::Null),
    );
    Value::Object(f)
}

/// `ip_list` and `custom_query_id` of a v3 `server`.
fn hosts_into(out: &mut Map<String, Value>, server: Option<&Value>) {
    let server = server.unwrap_or(&Value::Null);
    let ips: Vec<Value> = server
        .get("ip_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|ip| json!({"bk_cloud_id": ip.get("bk_cloud_id"), "ip": ip.get("ip")}))
        .collect();
    let groups: Vec<Value> = server
        .get("dynamic_group_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("id").cloned())
        .collect();
    out.insert("ip_list".into(), Value::Array(ips));
    out.insert("custom_query_id".into(), Value::Array(groups));
}

fn global_var(v: &Value) -> Value {
    let mut out = Map::new();
    for key in ["id", "name", "value", "description"] {
        out.insert(key.into(), v.get(key).cloned().unwrap_or(Value::Null));
    }
    out.insert(
        "category".into(),
        v.get("type").cloned().unwrap_or(Value::Null),
    );
    if v.get("server").is_some_and(|s| !s.is_null()) {
        hosts_into(&mut out, v.get("server"));
    }
    Value::Object(out)
}

/// Base64 text as plain text (the v2 detail shows scripts and parameters decoded); text
/// that is not base64 is shown as it came.
pub(crate) fn plain(b64: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|_| b64.to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::{done, run};
    use crate::translate::exchange::page;
    use serde_json::json;

    #[test]
    fn job_list_pages_and_formats_times() {
        let rows = |s: usize, n: usize| {
            (s..s + n)
                .map(|i| {
                    json!({"id": i, "name": format!("p{i}"), "creator": "admin",
                                "create_time": 1_700_000_000, "last_modify_time": 1_700_000_060,
                                "bk_scope_type": "biz", "bk_scope_id": "2"})
                })
                .collect::<Vec<_>>()
        };
        let (sent, step) = run(
            LegacyCall::GetJobList,
            json!({"bk_biz_id": 2, "name": "p", "create_time_start": "2023-11-01"}),
            vec![
                page(0, 1000, 1500, rows(0, 1000)),
                page(1000, 1000, 1500, rows(1000, 500)),
            ],
        );
        assert_eq!(sent.len(), 2);
        let q = sent[1]["query"].as_array().cloned().unwrap_or_default();
        assert!(q.contains(&json!(["create_time_start", "1698768000"])));
        assert!(q.contains(&json!(["start", "1000"])));
        let d = done(&step);
        assert_eq!(d.as_array().map(Vec::len), Some(1500));
        assert_eq!(d[0]["bk_job_id"], 0);
        assert_eq!(d[0]["create_time"], "2023-11-15 06:13:20");
        assert_eq!(d[0]["bk_biz_id"], 2);
    }

    #[test]
    fn job_detail_looks_up_aliases_and_cited_scripts() {
        let plan = json!({"id": 1, "job_template_id": 3, "name": "p", "create_time": 1_700_000_000,
            "step_list": [
              {"id": 11, "name": "s1", "type": 1, "script_info": {"script_type": 2,
                 "script_id": "abc", "script_version_id": 7, "script_language": 1,
                 "script_param": "YSBi", "script_timeout": 60, "is_param_sensitive": 0,
                 "account": {"id": 5}, "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1", "bk_host_id": 101}],
                 "dynamic_group_list": [{"id": "g1"}]}}},
              {"id": 12, "name": "f", "type": 2, "file_info": {"file_source_list": [
                 {"file_list": ["/a"], "account": {"id": 5}, "server": {"ip_list": []}, "file_type": 1}],
                 "file_destination": {"path": "/tmp/", "account": {"id": 6}}}},
              {"id": 13, "name": "ok?", "type": 3, "approval_info": {"approval_message": "go"}}],
            "global_var_list": [{"id": 1, "name": "v", "value": "x", "type": 1, "description": "d"}]});
        let (sent, step) = run(
            LegacyCall::GetJobDetail,
            json!({"bk_biz_id": 2, "bk_job_id": 1}),
            vec![
                plan,
                page(
                    0,
                    1000,
                    2,
                    vec![
                        json!({"id": 5, "alias": "root"}),
                        json!({"id": 6, "alias": "www"}),
                    ],
                ),
                json!({"id": 7, "content": "echo hi"}),
            ],
        );
        let res: Vec<&str> = sent.iter().filter_map(|r| r["resource"].as_str()).collect();
        assert_eq!(
            res,
            [
                "get_job_plan_detail",
                "get_account_list",
                "get_script_version_detail"
            ]
        );
        let d = done(&step);
        assert_eq!(d["bk_job_id"], 1);
        assert_eq!(d["template_id"], 3);
        let s = &d["steps"];
        assert_eq!(s[0]["type"], 2);
        assert_eq!(s[0]["script_content"], "echo hi");
        assert_eq!(s[0]["script_param"], "a b");
        assert_eq!(s[0]["account"], "root");
        assert_eq!(s[0]["custom_query_id"], json!(["g1"]));
        assert_eq!(
            s[0]["ip_list"],
            json!([{"bk_cloud_id": 0, "ip": "10.0.0.1"}])
        );
        assert_eq!(s[1]["file_source"][0]["account"], "root");
        assert_eq!(s[1]["account"], "www");
        assert_eq!(s[1]["file_target_path"], "/tmp/");
        assert_eq!(s[2]["confirm_message"], "go");
        assert_eq!(d["global_vars"][0]["category"], 1);
    }
}

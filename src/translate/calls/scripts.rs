//! Scripts (`spec/legacy-api-surface.md` §3.8, §3.9): `get_script_list`,
//! `get_public_script_list` (v3 list, paged, then one version detail per online version:
//! the v2 rows are versions, with `version` and optionally `content`) and
//! `get_script_detail` (business version detail, else the public one). Times are UTC
//! strings from milliseconds, as JOB's v2 prints them.

use super::super::envelope::EsbResp;
use super::super::exchange::{
    CallError, Exchange, Finished, Outcome, Paged, Pager, Step, get, ok_data,
};
use super::super::scope::Scope;
use super::super::validate::{self, Path};
use super::super::{TranslateError, UpstreamRequest};
use super::list::pager;
use super::{CallOptions, flag, id, int, push_opt, scope_query, text, time, window};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;

type Result<T> = std::result::Result<T, TranslateError>;

/// Most version-detail calls one list answer may make (one per online version): past it
/// the client is asked for pages instead of waiting on thousands of sequential calls.
pub const MAX_VERSION_LOOKUPS: usize = 500;

/// `job/get_script_list` (`public = false`, unless `is_public=true`) and
/// `job/get_public_script_list` (`public = true`).
pub fn get_script_list(
    m: &Map<String, Value>,
    opts: &CallOptions,
    public: bool,
) -> Result<Box<dyn Exchange>> {
    let public = public || flag(m, "is_public")?.unwrap_or(false);
    let scope = validate::scope(m, &Path::ROOT)?;
    let scope = match (public, scope) {
        (_, Some(s)) => Some(s),
        (true, None) => None,
        (false, None) => Some(super::scope(m)?),
    };
    let mut query = match (&scope, public) {
        (Some(s), false) => scope_query(s),
        _ => Vec::new(),
    };
    push_opt(&mut query, "name", text(m, "script_name")?);
    let lp = Path::ROOT.key("script_type");
    let language = validate::opt_int_in(m.get("script_type"), &lp, &(0..=6), "")?;
    push_opt(&mut query, "script_language", language.filter(|l| *l != 0));
    let resource = if public {
        "get_public_script_list"
    } else {
        "get_script_list"
    };
    let w = window(m)?;
    Ok(Box::new(ScriptList {
        pager: pager(resource, query, w, opts)?,
        public,
        scope,
        with_content: flag(m, "return_script_content")?.unwrap_or(false),
        rows: Vec::new(),
        pending: VecDeque::new(),
        current: None,
    }))
}

struct ScriptList {
    pager: Pager,
    public: bool,
    scope: Option<Scope>,
    with_content: bool,
    /// Legacy rows being built (one per online version).
    rows: Vec<Map<String, Value>>,
    /// Version details still to ask (row index, request).
    pending: VecDeque<(usize, UpstreamRequest)>,
    /// Row whose version detail was asked last.
    current: Option<usize>,
}

impl Exchange for ScriptList {
    fn start(&mut self) -> Step {
        Step::Call(self.pager.request())
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        let data = match ok_data(outcome) {
            Ok(d) => d,
            Err(step) => return step,
        };
        if let Some(i) = self.current.take() {
            if let Some(row) = self.rows.get_mut(i) {
                apply_version(row, &data, self.with_content);
            }
            return self.next();
        }
        match self.pager.consume(&data) {
            Ok(Paged::More(r)) => Step::Call(r),
            Ok(Paged::Complete) => {
                for script in self.pager.take_rows() {
                    self.add_row(&script);
                }
                if self.pending.len() > MAX_VERSION_LOOKUPS {
                    return Step::Fail(CallError::Rejected(TranslateError::new(
                        super::super::RejectReason::Invalid,
                        "length",
                        format!(
                            "{} online script versions need one version lookup each, more than \
                             the {MAX_VERSION_LOOKUPS} this shim makes for one answer: ask for \
                             pages with start and length",
                            self.pending.len()
                        ),
                    )));
                }
                self.next()
            }
            Err(e) => e.into_step(),
        }
    }
}

impl ScriptList {
    fn add_row(&mut self, script: &Value) {
        let Some(version) = script
            .get("online_script_version_id")
            .and_then(Value::as_i64)
        else {
            return;
        };
        let mut row = Map::new();
        row.insert("id".into(), json!(version));
        row.insert(
            "name".into(),
            script.get("name").cloned().unwrap_or(Value::Null),
        );
        row.insert(
            "type".into(),
            script
                .get("script_language")
                .cloned()
                .unwrap_or(Value::Null),
        );
        row.insert("public".into(), json!(self.public));
        row.insert("version".into(), Value::Null);
        row.insert("tag".into(), Value::Null);
        row.insert(
            "creator".into(),
            script.get("creator").cloned().unwrap_or(Value::Null),
        );
        row.insert("create_time".into(), utc(script.get("create_time")));
        row.insert(
            "last_modify_user".into(),
            script
                .get("last_modify_user")
                .cloned()
                .unwrap_or(Value::Null),
        );
        row.insert(
            "last_modify_time".into(),
            utc(script.get("last_modify_time")),
        );
        if !self.public {
            row.insert(
                "bk_biz_id".into(),
                self.scope
                    .as_ref()
                    .map_or(Value::Null, |s| super::plans::biz_id(script, s)),
            );
            row.insert(
                "bk_scope_type".into(),
                script.get("bk_scope_type").cloned().unwrap_or(Value::Null),
            );
            row.insert(
                "bk_scope_id".into(),
                script.get("bk_scope_id").cloned().unwrap_or(Value::Null),
            );
        }
        let req = version_request(version, self.public, self.scope.as_ref());
        self.pending.push_back((self.rows.len(), req));
        self.rows.push(row);
    }

    fn next(&mut self) -> Step {
        if let Some((i, req)) = self.pending.pop_front() {
            self.current = Some(i);
            return Step::Call(req);
        }
        let w = self.pager.window();
        let rows: Vec<Value> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Value::Object)
            .collect();
        let total = match w.length {
            None => rows.len(),
            Some(_) => self.pager.total(),
        };
        let mut page = json!({
            "start": w.start,
            "page_size": w.length.unwrap_or(rows.len()),
            "total_record_size": total,
        });
        // Moved in: `json!` would copy the rows.
        page["data"] = Value::Array(rows);
        Step::Done(Finished::data(page))
    }
}

/// The version detail request of a script version.
fn version_request(version: i64, public: bool, scope: Option<&Scope>) -> UpstreamRequest {
    let mut q = match (public, scope) {
        (false, Some(s)) => scope_query(s),
        _ => Vec::new(),
    };
    q.push(("id".into(), version.to_string()));
    let resource = if public {
        "get_public_script_version_detail"
    } else {
        "get_script_version_detail"
    };
    get(resource, q)
}

/// Fill a legacy row from a v3 version detail.
fn apply_version(row: &mut Map<String, Value>, v: &Value, with_content: bool) {
    row.insert(
        "version".into(),
        v.get("version").cloned().unwrap_or(Value::Null),
    );
    for key in ["create_time", "last_modify_time"] {
        if let Some(t) = v.get(key).filter(|t| !t.is_null()) {
            row.insert(key.into(), utc(Some(t)));
        }
    }
    for key in ["creator", "last_modify_user"] {
        if let Some(x) = v.get(key).filter(|x| !x.is_null()) {
            row.insert(key.into(), x.clone());
        }
    }
    if with_content {
        row.insert(
            "content".into(),
            v.get("content").cloned().unwrap_or(Value::Null),
        );
    }
}

fn utc(v: Option<&Value>) -> Value {
    time(v.unwrap_or(&Value::Null), chrono_tz::UTC)
}

// ---------------------------------------------------------------------------------------
// get_script_detail
// ---------------------------------------------------------------------------------------

/// `job/get_script_detail` → GET `get_script_version_detail?id=`; when JOB refuses (the id
/// may be a public script version), GET `get_public_script_version_detail?id=`. Without a
/// scope only the public one is asked.
pub fn get_script_detail(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let scope = validate::scope(m, &Path::ROOT)?;
    let version = id(m, "id")?;
    let _ = int(m, "id")?;
    Ok(Box::new(ScriptDetail {
        version,
        scope,
        first_refusal: None,
        public_asked: false,
    }))
}

struct ScriptDetail {
    version: i64,
    scope: Option<Scope>,
    first_refusal: Option<EsbResp>,
    public_asked: bool,
}

impl Exchange for ScriptDetail {
    fn start(&mut self) -> Step {
        let public = self.scope.is_none();
        self.public_asked = public;
        Step::Call(version_request(self.version, public, self.scope.as_ref()))
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        match outcome {
            Outcome::Reply(r) if r.is_ok() => match script_detail(&r.data, self.public_asked) {
                Ok(d) => Step::Done(Finished::data(d)),
                Err(e) => Step::Fail(CallError::bad_reply(&e)),
            },
            Outcome::Reply(r) if !self.public_asked => {
                self.first_refusal = Some(r);
                self.public_asked = true;
                Step::Call(version_request(self.version, true, None))
            }
            // Neither knows the id: the business answer is the more telling one.
            Outcome::Reply(r) => Step::PassOn(self.first_refusal.take().unwrap_or(r)),
            Outcome::Failed { .. } => Step::Abort,
        }
    }
}

/// v3 `EsbScriptVersionDetailV3DTO` → v2 `EsbScriptDTO` (no `content`, as JOB 3.x's v2).
fn script_detail(v: &Value, public: bool) -> Result<Value> {
    if !v.is_object() {
        return Err(validate::invalid(
            &Path::ROOT.key("data"),
            "is not a script version",
        ));
    }
    let mut out = json!({
        "id": v.get("id"),
        "name": v.get("name"),
        "version": v.get("version"),
        "type": v.get("script_language"),
        "public": public,
        "creator": v.get("creator"),
        "create_time": utc(v.get("create_time")),
        "last_modify_user": v.get("last_modify_user"),
        "last_modify_time": utc(v.get("last_modify_time")),
    });
    if let (false, Some(o)) = (public, out.as_object_mut()) {
        for key in ["bk_biz_id", "bk_scope_type", "bk_scope_id"] {
            o.insert(key.into(), v.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::{done, run};
    use crate::translate::envelope::EsbResp;
    use crate::translate::exchange::{Outcome, Step, drive, page};
    use serde_json::json;

    fn script(i: i64, online: Option<i64>) -> serde_json::Value {
        json!({"id": format!("s{i}"), "name": format!("n{i}"), "script_language": 1,
               "online_script_version_id": online, "creator": "admin",
               "create_time": 1_700_000_000_000_i64, "last_modify_time": 1_700_000_000_000_i64})
    }

    #[test]
    fn list_rows_are_online_versions_with_details() {
        let (sent, step) = run(
            LegacyCall::GetScriptList,
            json!({"bk_biz_id": 2, "script_name": "n", "script_type": 0, "return_script_content": "true"}),
            vec![
                page(0, 1000, 2, vec![script(1, Some(10)), script(2, None)]),
                json!({"id": 10, "version": "v1", "content": "echo 1", "create_time": 1_700_000_001_000_i64}),
            ],
        );
        assert_eq!(
            sent[0]["query"],
            json!([
                ["bk_scope_type", "biz"],
                ["bk_scope_id", "2"],
                ["name", "n"],
                ["start", "0"],
                ["length", "1000"]
            ])
        );
        assert_eq!(sent[1]["resource"], "get_script_version_detail");
        let d = done(&step);
        assert_eq!(d["total_record_size"], 1);
        let row = &d["data"][0];
        assert_eq!(row["id"], 10);
        assert_eq!(row["version"], "v1");
        assert_eq!(row["content"], "echo 1");
        assert_eq!(row["create_time"], "2023-11-14 22:13:21");
        assert_eq!(row["public"], false);
    }

    #[test]
    fn too_many_version_lookups_ask_for_pages() {
        let rows: Vec<_> = (0..501).map(|i| script(i, Some(10_000 + i))).collect();
        let (sent, step) = run(
            LegacyCall::GetScriptList,
            json!({"bk_biz_id": 2}),
            vec![page(0, 1000, 501, rows)],
        );
        assert_eq!(sent.len(), 1);
        match step {
            Step::Fail(e) => assert!(e.message().contains("501 online script versions"), "{e:?}"),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn public_list_needs_no_scope() {
        let (sent, step) = run(
            LegacyCall::GetPublicScriptList,
            json!({"start": 0, "length": 1}),
            vec![
                page(0, 1, 5, vec![script(1, Some(10))]),
                json!({"id": 10, "version": "v1"}),
            ],
        );
        assert_eq!(sent[0]["resource"], "get_public_script_list");
        assert_eq!(sent[1]["resource"], "get_public_script_version_detail");
        let d = done(&step);
        assert_eq!(
            (d["page_size"].clone(), d["total_record_size"].clone()),
            (json!(1), json!(5))
        );
        assert!(d["data"][0].get("content").is_none());
    }

    #[test]
    fn detail_falls_back_to_public() {
        let refused = EsbResp {
            code: 1_250_002,
            message: Some("not found".into()),
            data: serde_json::Value::Null,
            permission: None,
            job_request_id: None,
            status: None,
        };
        let mut ex = super::get_script_detail(&super::super::test_support::body(
            json!({"bk_biz_id": 2, "id": 10}),
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let mut n = 0;
        let (sent, step) = drive(ex.as_mut(), |_| {
            n += 1;
            if n == 1 {
                Outcome::Reply(refused.clone())
            } else {
                super::super::test_support::ok(
                    json!({"id": 10, "name": "x", "version": "v", "script_language": 1}),
                )
            }
        });
        assert_eq!(sent[1].resource, "get_public_script_version_detail");
        assert_eq!(done(&step)["public"], true);
        let mut ex = super::get_script_detail(&super::super::test_support::body(
            json!({"bk_biz_id": 2, "id": 10}),
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let (_, step) = drive(ex.as_mut(), |_| Outcome::Reply(refused.clone()));
        assert_eq!(step, Step::PassOn(refused));
    }
}

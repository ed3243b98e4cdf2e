//! The emulator's catalog: plans, scripts (business and public, with versions), accounts
//! and cron jobs, seeded at start so that every list has rows (the plan list more than one
//! 1000-row page, so paging is exercised) and the list and detail resources agree.
//!
//! Emulation shortcuts: every business scope sees the same catalog; plan and cron times are
//! seconds, script and account times milliseconds (as bk-job returns them); a saved cron
//! is stored disabled, and `get_cron_list` reports a stopped cron as `0`, as bk-job's code
//! does (its documentation says 2), while `get_cron_detail` and `save_cron` say 2.

use super::super::value::{Obj, non_blank, opt_i32, opt_i64, opt_string};
use super::crons::Crons;
use super::{JobError, JobResult, Scope};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Plans in the seed (more than one page of 1000).
pub(in crate::stub) const SEED_PLANS: i64 = 1205;
/// Seed creation time of plans and crons, seconds (2023-11-14 22:13:20 UTC).
pub(super) const SEED_S: i64 = 1_700_000_000;
/// Largest page bk-job returns.
const MAX_LENGTH: i64 = 1000;
/// Page length when none is asked.
const DEFAULT_LENGTH: i64 = 20;
/// Business scripts and public scripts in the seed.
const BIZ_SCRIPTS: i64 = 25;
const PUBLIC_SCRIPTS: i64 = 6;
/// First version id of business and public scripts.
const BIZ_VERSION_BASE: i64 = 1000;
const PUBLIC_VERSION_BASE: i64 = 5000;

#[derive(Debug, Clone)]
struct Version {
    id: i64,
    version: String,
    content: String,
    online: bool,
}

#[derive(Debug, Clone)]
struct Script {
    id: String,
    name: String,
    language: i64,
    public: bool,
    versions: Vec<Version>,
}

#[derive(Debug, Clone)]
struct Account {
    id: i64,
    account: &'static str,
    alias: &'static str,
    category: i64,
    os: &'static str,
}

/// Plans, scripts, accounts and crons.
#[derive(Debug)]
pub(in crate::stub) struct Catalog {
    scripts: Vec<Script>,
    accounts: Vec<Account>,
    crons: Crons,
}

impl Default for Catalog {
    fn default() -> Self {
        let mut scripts = Vec::new();
        for (public, count, base) in [
            (false, BIZ_SCRIPTS, BIZ_VERSION_BASE),
            (true, PUBLIC_SCRIPTS, PUBLIC_VERSION_BASE),
        ] {
            for i in 1..=count {
                scripts.push(seed_script(public, i, base));
            }
        }
        let accounts = vec![
            Account {
                id: 1,
                account: "root",
                alias: "root",
                category: 1,
                os: "Linux",
            },
            Account {
                id: 2,
                account: "www",
                alias: "www",
                category: 1,
                os: "Linux",
            },
            Account {
                id: 3,
                account: "Administrator",
                alias: "admin-win",
                category: 1,
                os: "Windows",
            },
            Account {
                id: 4,
                account: "root",
                alias: "mysql-root",
                category: 2,
                os: "Linux",
            },
            Account {
                id: 5,
                account: "reader",
                alias: "mysql-read",
                category: 2,
                os: "Linux",
            },
        ];
        Self {
            scripts,
            accounts,
            crons: Crons::default(),
        }
    }
}

fn seed_script(public: bool, i: i64, base: i64) -> Script {
    let prefix = if public { "public-script" } else { "script" };
    let language = (i - 1) % 5 + 1;
    // Every fifth script has no online version (a draft only).
    let has_online = i % 5 != 0;
    let versions = (1..=2)
        .map(|v| Version {
            id: base + i * 10 + v,
            version: format!("v{v}"),
            content: format!("echo {prefix} {i} v{v}"),
            online: has_online && v == 2,
        })
        .collect();
    Script {
        id: format!("{}{:03}", if public { "p" } else { "s" }, i),
        name: format!("{prefix}-{i:02}"),
        language,
        public,
        versions,
    }
}

/// Script and account times (ms) of the seed.
fn seed_ms() -> i64 {
    SEED_S * 1000
}

impl Catalog {
    /// The resources the catalog serves; `None` for others.
    pub(in crate::stub) fn call(
        &mut self,
        resource: &str,
        p: &Obj,
        user: &str,
        now_ms: i64,
    ) -> Option<JobResult> {
        Some(match resource {
            "get_job_plan_list" => self.plan_list(p),
            "get_job_plan_detail" => self.plan_detail(p),
            "get_script_list" => self.script_list(p, false),
            "get_public_script_list" => self.script_list(p, true),
            "get_script_version_detail" => self.version_detail(p, false),
            "get_public_script_version_detail" => self.version_detail(p, true),
            "get_account_list" => self.account_list(p),
            "get_cron_list" => self.crons.list(p),
            "get_cron_detail" => self.crons.detail(p),
            "save_cron" => self.crons.save(p, user, now_ms / 1000),
            "update_cron_status" => self.crons.update_status(p, user, now_ms / 1000),
            _ => return None,
        })
    }

    /// True when plan `id` exists.
    pub(in crate::stub) fn has_plan(id: i64) -> bool {
        (1..=SEED_PLANS).contains(&id)
    }

    fn plan_list(&self, p: &Obj) -> JobResult {
        let scope = Scope::parse(p)?;
        let name = opt_string(p, "name")?.filter(|s| !s.is_empty());
        let creator = opt_string(p, "creator")?.filter(|s| !s.is_empty());
        let template = opt_i64(p, "job_template_id")?;
        let created = range(p, "create_time_start", "create_time_end")?;
        let rows: Vec<Value> = (1..=SEED_PLANS)
            .map(|id| plan(id, &scope))
            .filter(|r| {
                name.as_ref()
                    .is_none_or(|n| str_of(r, "name").contains(n.as_str()))
            })
            .filter(|r| creator.as_ref().is_none_or(|c| str_of(r, "creator") == c))
            .filter(|r| template.is_none_or(|t| r["job_template_id"] == t))
            .filter(|r| {
                r["create_time"].as_i64().is_some_and(|t| {
                    created.0.is_none_or(|s| t >= s) && created.1.is_none_or(|e| t <= e)
                })
            })
            .collect();
        page(rows, p)
    }

    fn plan_detail(&self, p: &Obj) -> JobResult {
        let scope = Scope::parse(p)?;
        let id = opt_i64(p, "job_plan_id")?
            .ok_or_else(|| JobError::missing_or_invalid("job_plan_id"))?;
        if !Self::has_plan(id) {
            return Err(JobError::new(1_243_009, "Job plan does not exist"));
        }
        let cited = self.scripts.iter().find(|s| !s.public).and_then(online);
        let public = self.scripts.iter().find(|s| s.public).and_then(online);
        let mut out = plan(id, &scope);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let server = json!({"ip_list": [{"bk_cloud_id": 0, "ip": "127.0.0.1"}, {"bk_cloud_id": 0, "ip": "127.0.0.2"}],
                            "dynamic_group_list": [], "topo_node_list": []});
        let script_step = |sid: i64,
                           name: &str,
                           source: i64,
                           v: Option<(&Script, &Version)>,
                           content: Option<&str>| {
            json!({
                "id": sid, "name": name, "type": 1,
                "script_info": {
                    "script_type": source,
                    "script_id": v.map(|(s, _)| s.id.clone()),
                    "script_version_id": v.map(|(_, v)| v.id),
                    "script_content": content.map(b64),
                    "script_language": v.map_or(1, |(s, _)| s.language),
                    "script_param": b64("--verbose"),
                    "script_timeout": 600,
                    "account": {"id": 1},
                    "server": server,
                    "is_param_sensitive": 0,
                    "is_ignore_error": 0,
                }
            })
        };
        let steps = vec![
            script_step(id * 10 + 1, "run local script", 1, None, Some("echo local")),
            script_step(id * 10 + 2, "run cited script", 2, cited, None),
            script_step(id * 10 + 3, "run public script", 3, public, None),
            json!({"id": id * 10 + 4, "name": "distribute file", "type": 2, "file_info": {
                "file_source_list": [{"file_list": ["/data/stub/report.txt"], "account": {"id": 1},
                                      "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "127.0.0.1"}]}, "file_type": 1}],
                "file_destination": {"path": "/tmp/stub/", "account": {"id": 2}, "server": server},
                "timeout": 600, "transfer_mode": 1}}),
            json!({"id": id * 10 + 5, "name": "confirm", "type": 3, "approval_info": {
                "approval_type": 1, "approval_message": "continue?", "notify_channel": []}}),
        ];
        if let Some(o) = out.as_object_mut() {
            o.insert("step_list".into(), Value::Array(steps));
            o.insert("global_var_list".into(), json!([
                {"id": 1, "name": "version", "value": "1.0", "type": 1, "description": "release", "required": 0},
                {"id": 2, "name": "hosts", "type": 3, "description": "targets", "required": 0,
                 "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "127.0.0.1"}]}},
            ]));
        }
        Ok(out)
    }

    fn script_list(&self, p: &Obj, public: bool) -> JobResult {
        let scope = if public { None } else { Some(Scope::parse(p)?) };
        let name = opt_string(p, "name")?.filter(|s| !s.is_empty());
        let language = opt_i32(p, "script_language")?.filter(|l| *l != 0);
        let rows: Vec<Value> = self
            .scripts
            .iter()
            .filter(|s| s.public == public)
            .filter(|s| name.as_ref().is_none_or(|n| s.name.contains(n.as_str())))
            .filter(|s| language.is_none_or(|l| s.language == l))
            .map(|s| {
                let mut m = json!({
                    "id": s.id, "name": s.name, "script_language": s.language,
                    "creator": "admin", "create_time": seed_ms(), "last_modify_user": "admin",
                    "last_modify_time": seed_ms(), "description": "",
                    "online_script_version_id": online(s).map(|(_, v)| v.id),
                });
                if let (Some(sc), Some(o)) = (&scope, m.as_object_mut()) {
                    sc.fill(o);
                }
                m
            })
            .collect();
        page(rows, p)
    }

    fn version_detail(&self, p: &Obj, public: bool) -> JobResult {
        let scope = if public { None } else { Some(Scope::parse(p)?) };
        let id = opt_i64(p, "id")?;
        let script_id = non_blank(p, "script_id")?;
        let version = non_blank(p, "version")?;
        if id.is_none() && (script_id.is_none() || version.is_none()) {
            return Err(JobError::missing_or_invalid("id|(script_id,version)"));
        }
        let found = self
            .scripts
            .iter()
            .filter(|s| s.public == public)
            .find_map(|s| {
                s.versions
                    .iter()
                    .find(|v| match id {
                        Some(id) => v.id == id,
                        None => {
                            Some(&s.id) == script_id.as_ref()
                                && Some(&v.version) == version.as_ref()
                        }
                    })
                    .map(|v| (s, v))
            });
        let (s, v) =
            found.ok_or_else(|| JobError::new(1_243_047, "Script version does not exist"))?;
        let mut m = json!({
            "id": v.id, "script_id": s.id, "name": s.name, "version": v.version,
            "content": v.content, "status": if v.online { 1 } else { 0 }, "version_desc": "",
            "creator": "admin", "create_time": seed_ms() + v.id, "last_modify_user": "admin",
            "last_modify_time": seed_ms() + v.id, "script_language": s.language, "description": "",
        });
        if let (Some(sc), Some(o)) = (&scope, m.as_object_mut()) {
            sc.fill(o);
        }
        Ok(m)
    }

    fn account_list(&self, p: &Obj) -> JobResult {
        let scope = Scope::parse(p)?;
        let category = opt_i32(p, "category")?;
        if category.is_some_and(|c| !(1..=2).contains(&c)) {
            return Err(JobError::invalid("category"));
        }
        let account = opt_string(p, "account")?.filter(|s| !s.is_empty());
        let alias = opt_string(p, "alias")?.filter(|s| !s.is_empty());
        let rows: Vec<Value> = self
            .accounts
            .iter()
            .filter(|a| category.is_none_or(|c| a.category == c))
            .filter(|a| account.as_deref().is_none_or(|x| a.account == x))
            .filter(|a| alias.as_deref().is_none_or(|x| a.alias == x))
            .map(|a| {
                let mut m = json!({
                    "id": a.id, "account": a.account, "alias": a.alias, "category": a.category,
                    "os": a.os, "creator": "admin", "create_time": seed_ms() + a.id,
                    "last_modify_user": "admin", "last_modify_time": seed_ms() + a.id,
                    "description": "",
                });
                if let Some(o) = m.as_object_mut() {
                    scope.fill(o);
                }
                m
            })
            .collect();
        page(rows, p)
    }
}

fn online(s: &Script) -> Option<(&Script, &Version)> {
    s.versions.iter().find(|v| v.online).map(|v| (s, v))
}

fn str_of<'v>(r: &'v Value, key: &str) -> &'v str {
    r.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A seeded plan row (`EsbPlanBasicInfoV3DTO`).
fn plan(id: i64, scope: &Scope) -> Value {
    let mut m = Map::new();
    scope.fill(&mut m);
    for (k, v) in [
        ("id", json!(id)),
        ("job_template_id", json!(100 + id % 7)),
        ("name", json!(format!("plan-{id:04}"))),
        (
            "creator",
            json!(if id % 2 == 0 { "alice" } else { "admin" }),
        ),
        ("create_time", json!(SEED_S + id * 60)),
        ("last_modify_user", json!("admin")),
        ("last_modify_time", json!(SEED_S + id * 120)),
        ("need_update", json!(false)),
    ] {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

/// An optional `[start, end]` filter of two `Long` parameters.
pub(super) fn range(
    p: &Obj,
    start: &str,
    end: &str,
) -> Result<(Option<i64>, Option<i64>), JobError> {
    Ok((opt_i64(p, start)?, opt_i64(p, end)?))
}

/// One page (`EsbPageDataV3`): `start` default 0, `length` default 20, at most 1000.
pub(super) fn page(rows: Vec<Value>, p: &Obj) -> JobResult {
    let start = opt_i32(p, "start")?.filter(|s| *s > 0).unwrap_or(0);
    let length = match opt_i32(p, "length")? {
        Some(l) if l > 0 => l.min(MAX_LENGTH),
        _ => DEFAULT_LENGTH,
    };
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(0))
        .take(usize::try_from(length).unwrap_or(0))
        .collect();
    Ok(json!({"start": start, "length": length, "total": total, "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Obj {
        v.as_object().cloned().unwrap_or_default()
    }

    fn call(c: &mut Catalog, r: &str, p: Value) -> JobResult {
        c.call(r, &obj(p), "bob", 1_800_000_000_000)
            .unwrap_or(Err(JobError::new(0, "none")))
    }

    #[test]
    fn plan_pages_cap_at_1000_and_detail_agrees() {
        let mut c = Catalog::default();
        let d = call(
            &mut c,
            "get_job_plan_list",
            json!({"bk_biz_id": "2", "start": "1000", "length": "5000"}),
        )
        .unwrap_or_default();
        assert_eq!(d["length"], 1000);
        assert_eq!(d["total"], SEED_PLANS);
        assert_eq!(d["data"].as_array().map(Vec::len), Some(205));
        let d = call(&mut c, "get_job_plan_list", json!({"bk_biz_id": 2})).unwrap_or_default();
        assert_eq!(d["length"], 20);
        let detail = call(
            &mut c,
            "get_job_plan_detail",
            json!({"bk_biz_id": 2, "job_plan_id": 7}),
        )
        .unwrap_or_default();
        assert_eq!(detail["name"], d["data"][6]["name"]);
        let v = detail["step_list"][1]["script_info"]["script_version_id"].clone();
        let version = call(
            &mut c,
            "get_script_version_detail",
            json!({"bk_biz_id": 2, "id": v}),
        )
        .unwrap_or_default();
        assert_eq!(version["status"], 1);
        let e = call(
            &mut c,
            "get_job_plan_detail",
            json!({"bk_biz_id": 2, "job_plan_id": 99_999}),
        );
        assert_eq!(e.map_err(|e| e.code), Err(1_243_009));
    }

    #[test]
    fn crons_save_disabled_and_list_stopped_as_zero() {
        let mut c = Catalog::default();
        let saved = call(
            &mut c,
            "save_cron",
            json!({"bk_biz_id": 2, "job_plan_id": 3, "name": "n", "expression": "* * * * *"}),
        )
        .unwrap_or_default();
        assert_eq!(
            (saved["id"].clone(), saved["status"].clone()),
            (json!(4), json!(2))
        );
        let listed =
            call(&mut c, "get_cron_list", json!({"bk_biz_id": 2, "id": 4})).unwrap_or_default();
        assert_eq!(listed["data"][0]["status"], 0);
        assert!(
            call(
                &mut c,
                "update_cron_status",
                json!({"bk_biz_id": 2, "id": 4, "status": 1})
            )
            .is_ok()
        );
        let listed = call(
            &mut c,
            "get_cron_list",
            json!({"bk_biz_id": 2, "status": 1}),
        )
        .unwrap_or_default();
        assert_eq!(listed["total"], 3);
        let e = call(
            &mut c,
            "save_cron",
            json!({"bk_biz_id": 2, "job_plan_id": 3, "name": "n", "expression": "bad"}),
        );
        assert_eq!(e.map_err(|e| e.code), Err(1_241_012));
        let e = call(
            &mut c,
            "update_cron_status",
            json!({"bk_biz_id": 2, "id": 99, "status": 1}),
        );
        assert_eq!(e.map_err(|e| e.code), Err(1_245_001));
    }

    #[test]
    fn accounts_filter_by_category() {
        let mut c = Catalog::default();
        let d = call(
            &mut c,
            "get_account_list",
            json!({"bk_biz_id": 2, "category": 2}),
        )
        .unwrap_or_default();
        assert_eq!(d["total"], 2);
        let e = call(
            &mut c,
            "get_account_list",
            json!({"bk_biz_id": 2, "category": 9}),
        );
        assert_eq!(e.map_err(|e| e.code), Err(1_241_005));
        let d = call(&mut c, "get_public_script_list", json!({})).unwrap_or_default();
        assert_eq!(d["total"], PUBLIC_SCRIPTS);
    }
}

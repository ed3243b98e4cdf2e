//! Cron jobs (`spec/legacy-api-surface.md` §3.11): `get_cron_list` (paged),
//! `save_cron`, `update_cron_status`. Times are strings in `legacy.timezone` from seconds.

use super::super::TranslateError;
use super::super::exchange::{Exchange, Finished, Single};
use super::super::request::post;
use super::super::scope::Scope;
use super::super::validate::{self, Path};
use super::list::{ListExchange, pager};
use super::plans::biz_id;
use super::{
    CallOptions, id, int, push_date_range, push_opt, scope, scope_query, text, time, window,
};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

type Result<T> = std::result::Result<T, TranslateError>;

/// v2 `cron_status`: started.
pub const STARTED: i64 = 1;
/// v2 `cron_status`: stopped.
pub const STOPPED: i64 = 2;

/// `job/get_cron_list` → GET `get_cron_list`, every row (or the window asked for).
pub fn get_cron_list(m: &Map<String, Value>, opts: &CallOptions) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let mut query = scope_query(&scope);
    push_opt(
        &mut query,
        "id",
        validate::opt_positive(m.get("cron_id"), &Path::ROOT.key("cron_id"))?,
    );
    push_opt(&mut query, "name", text(m, "cron_name")?);
    // v3 lists stopped crons as 0 (its doc says 2): filter with 1 or 0.
    push_opt(
        &mut query,
        "status",
        int(m, "cron_status")?.map(|s| if s == STARTED { 1 } else { 0 }),
    );
    for key in ["creator", "last_modify_user"] {
        push_opt(&mut query, key, text(m, key)?);
    }
    push_date_range(&mut query, m, opts.tz)?;
    let pager = pager("get_cron_list", query, window(m)?, opts)?;
    let tz = opts.tz;
    Ok(Box::new(ListExchange::new(
        pager,
        Box::new(move |rows, _| {
            let items: Vec<Value> = rows.iter().map(|r| cron_row(r, &scope, tz)).collect();
            Ok(Finished::data(Value::Array(items)))
        }),
    )))
}

/// v3 `EsbCronInfoV3DTO` → v2 `EsbCronInfoResponse`.
pub fn cron_row(r: &Value, scope: &Scope, tz: Tz) -> Value {
    let status = match r.get("status").and_then(Value::as_i64) {
        Some(STARTED) => json!(STARTED),
        Some(_) => json!(STOPPED),
        None => Value::Null,
    };
    json!({
        "bk_job_id": r.get("job_plan_id"),
        "cron_id": r.get("id"),
        "cron_name": r.get("name"),
        "cron_status": status,
        "cron_expression": r.get("expression"),
        "creator": r.get("creator"),
        "create_time": time(r.get("create_time").unwrap_or(&Value::Null), tz),
        "last_modify_user": r.get("last_modify_user"),
        "last_modify_time": time(r.get("last_modify_time").unwrap_or(&Value::Null), tz),
        "bk_biz_id": biz_id(r, scope),
        "bk_scope_type": scope.bk_scope_type,
        "bk_scope_id": scope.bk_scope_id,
    })
}

/// `job/save_cron` → POST `save_cron` (JOB saves the cron disabled either way). A new
/// cron (no `cron_id`) needs `bk_job_id`, `cron_name` and `cron_expression`.
pub fn save_cron(m: &Map<String, Value>, opts: &CallOptions) -> Result<Box<dyn Exchange>> {
    let root = Path::ROOT;
    let scope = scope(m)?;
    let cron_id = validate::opt_positive(m.get("cron_id"), &root.key("cron_id"))?;
    let plan = validate::opt_positive(m.get("bk_job_id"), &root.key("bk_job_id"))?;
    let name = text(m, "cron_name")?;
    let expression = text(m, "cron_expression")?;
    if cron_id.is_none() {
        let required = [
            ("bk_job_id", plan.is_none()),
            ("cron_name", name.is_none()),
            ("cron_expression", expression.is_none()),
        ];
        if let Some((key, _)) = required.iter().find(|(_, absent)| *absent) {
            return Err(validate::missing(
                &root.key(key),
                "is required to create a cron (no cron_id)",
            ));
        }
    }
    let mut body = Map::new();
    body.insert("bk_scope_type".into(), json!(scope.bk_scope_type));
    body.insert("bk_scope_id".into(), json!(scope.bk_scope_id));
    for (k, v) in [
        ("id", cron_id.map(Value::from)),
        ("job_plan_id", plan.map(Value::from)),
        ("name", name.map(Value::from)),
        ("expression", expression.map(Value::from)),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), v);
        }
    }
    let tz = opts.tz;
    Ok(Box::new(Single::new(
        post("save_cron", &body, Vec::new())?,
        Box::new(move |d| Ok(Finished::data(cron_row(&d, &scope, tz)))),
    )))
}

/// `job/update_cron_status` → POST `update_cron_status`; v2 treats any status but 1 as
/// "stop". The reply is `{cron_id}`.
pub fn update_cron_status(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let cron_id = id(m, "cron_id")?;
    let status = validate::req_int(m.get("cron_status"), &Path::ROOT.key("cron_status"))?;
    let status = if status == STARTED { STARTED } else { STOPPED };
    let body = json!({
        "bk_scope_type": scope.bk_scope_type,
        "bk_scope_id": scope.bk_scope_id,
        "id": cron_id,
        "status": status,
    });
    Ok(Box::new(Single::new(
        post("update_cron_status", &body, Vec::new())?,
        Box::new(move |d| {
            let id = d
                .get("id")
                .cloned()
                .filter(|v| !v.is_null())
                .unwrap_or(json!(cron_id));
            Ok(Finished::data(json!({"cron_id": id})))
        }),
    )))
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::{done, refused, run};
    use crate::translate::exchange::page;
    use serde_json::json;

    #[test]
    fn cron_list_maps_filter_and_stopped_status() {
        let (sent, step) = run(
            LegacyCall::GetCronList,
            json!({"bk_biz_id": 2, "cron_status": 2, "cron_name": "c"}),
            vec![page(
                0,
                1000,
                2,
                vec![
                    json!({"id": 1, "name": "c1", "status": 0, "job_plan_id": 3, "expression": "* * * * *",
                       "create_time": 1_700_000_000}),
                    json!({"id": 2, "name": "c2", "status": 1, "job_plan_id": 3}),
                ],
            )],
        );
        let q = sent[0]["query"].as_array().cloned().unwrap_or_default();
        assert!(q.contains(&json!(["status", "0"])) && q.contains(&json!(["name", "c"])));
        let d = done(&step);
        assert_eq!(d[0]["cron_status"], 2);
        assert_eq!(d[1]["cron_status"], 1);
        assert_eq!(d[0]["bk_job_id"], 3);
        assert_eq!(d[0]["cron_expression"], "* * * * *");
        assert_eq!(d[0]["create_time"], "2023-11-15 06:13:20");
    }

    #[test]
    fn save_and_update_status() {
        let (sent, step) = run(
            LegacyCall::SaveCron,
            json!({"bk_biz_id": 2, "bk_job_id": 3, "cron_name": "c", "cron_expression": "0 * * * *"}),
            vec![
                json!({"id": 9, "name": "c", "status": 2, "job_plan_id": 3, "expression": "0 * * * *"}),
            ],
        );
        assert_eq!(
            sent[0]["body"],
            json!({"bk_scope_type": "biz", "bk_scope_id": "2",
            "job_plan_id": 3, "name": "c", "expression": "0 * * * *"})
        );
        assert_eq!(done(&step)["cron_id"], 9);
        let e = refused(
            LegacyCall::SaveCron,
            json!({"bk_biz_id": 2, "cron_name": "c"}),
        );
        assert!(e.contains("[bk_job_id]"), "{e}");
        let (sent, step) = run(
            LegacyCall::UpdateCronStatus,
            json!({"bk_biz_id": 2, "cron_id": 9, "cron_status": 3}),
            vec![json!({"id": 9})],
        );
        assert_eq!(sent[0]["body"]["status"], 2);
        assert_eq!(done(&step), json!({"cron_id": 9}));
    }
}

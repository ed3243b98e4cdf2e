//! Job instance queries (`spec/legacy-api-surface.md` §3.4, §3.5):
//! `get_step_instance_status` and `get_job_instance_global_var_value`.

use super::super::exchange::{Exchange, Finished, Single, get};
use super::super::status::{UNKNOWN_STEP_ID, is_finished_status, legacy_total_time};
use super::super::validate::{self, Path};
use super::super::{RejectReason, TranslateError};
use super::{CallOptions, id, rows, scope, scope_query, time};
use serde_json::{Map, Value, json};

type Result<T> = std::result::Result<T, TranslateError>;

/// Warning of every `get_step_instance_status` reply: what v3 does not give.
pub const STEP_STATUS_WARNING: &str = "step_instance_detail.step_id and operator are not available from JOB v3 (step_id is -1, \
     operator null)";

/// `job/get_step_instance_status` → GET `get_step_instance_status`. The fields may be at
/// the top level (JOB 3.x) or nested in a `params` object (JOB 2.x-era clients).
pub fn get_step_instance_status(
    m: &Map<String, Value>,
    opts: &CallOptions,
) -> Result<Box<dyn Exchange>> {
    let nested;
    let m = match m.get("params") {
        Some(Value::Object(p)) => {
            let mut merged = p.clone();
            for (k, v) in m {
                if k != "params" {
                    merged.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            nested = merged;
            &nested
        }
        Some(Value::Null) | None => m,
        Some(other) => {
            return Err(validate::type_error(
                &Path::ROOT.key("params"),
                "an object",
                other,
            ));
        }
    };
    let scope = scope(m)?;
    let job_instance_id = id(m, "job_instance_id")?;
    let step_instance_id = id(m, "step_instance_id")?;
    let mut query = scope_query(&scope);
    query.push(("job_instance_id".into(), job_instance_id.to_string()));
    query.push(("step_instance_id".into(), step_instance_id.to_string()));
    let tz = opts.tz;
    let biz = scope.bk_scope_id.parse::<i64>().ok();
    let scope_type = scope.bk_scope_type;
    let scope_id = scope.bk_scope_id.clone();
    Ok(Box::new(Single::new(
        get("get_step_instance_status", query),
        Box::new(move |d| {
            let mut data = step_status(&d, job_instance_id, tz)?;
            if let Some(detail) = data
                .get_mut("step_instance_detail")
                .and_then(Value::as_object_mut)
            {
                detail.insert("bk_biz_id".into(), json!(biz));
                detail.insert("bk_scope_type".into(), json!(scope_type));
                detail.insert("bk_scope_id".into(), json!(scope_id));
            }
            Ok(Finished {
                data: data.into(),
                warnings: vec![STEP_STATUS_WARNING.to_owned()],
                remember: None,
            })
        }),
    )))
}

/// v3 `EsbStepInstanceStatusV3DTO` → v2 `EsbStepInstanceStatusDTO`.
pub fn step_status(d: &Value, job_instance_id: i64, tz: chrono_tz::Tz) -> Result<Value> {
    let status = d.get("status").and_then(Value::as_i64).ok_or_else(|| {
        TranslateError::new(RejectReason::Invalid, "data.status", "is not a number")
    })?;
    let groups = rows(
        d.get("step_result_group_list").unwrap_or(&Value::Null),
        "data.step_result_group_list",
    )?;
    let mut targets = Vec::new();
    let analyse = groups
        .iter()
        .map(|g| analysed_group(g, &mut targets))
        .collect::<Result<Vec<_>>>()?;
    let total = d
        .get("total_time")
        .and_then(Value::as_i64)
        .map(legacy_total_time);
    let mut out = json!({
        "is_finished": is_finished_status(status),
        "step_instance_detail": {
            "step_instance_id": d.get("step_instance_id"),
            "step_id": UNKNOWN_STEP_ID,
            "job_instance_id": job_instance_id,
            "name": d.get("name"),
            "type": d.get("type"),
            "target_ips": targets.join(","),
            "abnormal_agent_ips": null,
            "operator": null,
            "status": status,
            "execute_count": d.get("execute_count"),
            "start_time": time(d.get("start_time").unwrap_or(&Value::Null), tz),
            "end_time": time(d.get("end_time").unwrap_or(&Value::Null), tz),
            "total_time": total,
            "total_ip_num": null,
            "abnormal_agent_ip_num": null,
            "running_ip_num": null,
            "fail_ip_num": null,
            "success_ip_num": null,
        },
    });
    // Moved in: `json!` would copy the tree.
    out["step_instance_analyse_result"] = Value::Array(analyse);
    Ok(out)
}

/// One v3 `step_result_group_list[]` item → one legacy `step_instance_analyse_result[]`
/// item; its hosts are added to `targets` as `cloud:ip`.
fn analysed_group(g: &Value, targets: &mut Vec<String>) -> Result<Value> {
    let hosts = rows(
        g.get("host_result_list").unwrap_or(&Value::Null),
        "host_result_list",
    )?;
    let ip_list: Vec<Value> = hosts
        .iter()
        .map(|h| {
            let cloud = h.get("bk_cloud_id").and_then(Value::as_i64).unwrap_or(0);
            if let Some(ip) = h.get("ip").and_then(Value::as_str) {
                targets.push(format!("{cloud}:{ip}"));
            }
            json!({"bk_host_id": h.get("bk_host_id"), "bk_cloud_id": cloud, "ip": h.get("ip")})
        })
        .collect();
    let mut out = json!({
        "result_type": g.get("result_type"),
        "result_type_text": g.get("result_type_desc"),
        "count": g.get("host_size").and_then(Value::as_i64).unwrap_or(ip_list.len() as i64),
    });
    out["ip_list"] = Value::Array(ip_list);
    Ok(out)
}

/// `job/get_job_instance_global_var_value` → GET `get_job_instance_global_var_value`; the
/// reply renames `step_instance_var_list` → `job_instance_var_values`, `global_var_list` →
/// `step_instance_var_values`, `type` → `category` (as JOB 3.x's own v2 does).
pub fn get_global_var_value(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let job_instance_id = id(m, "job_instance_id")?;
    let mut query = scope_query(&scope);
    query.push(("job_instance_id".into(), job_instance_id.to_string()));
    Ok(Box::new(Single::new(
        get("get_job_instance_global_var_value", query),
        Box::new(|d| Ok(Finished::data(global_vars(&d)?))),
    )))
}

/// v3 `EsbJobInstanceGlobalVarValueV3DTO` → v2 `EsbTaskInstanceGlobalVarValueDTO`.
pub fn global_vars(d: &Value) -> Result<Value> {
    let steps = rows(
        d.get("step_instance_var_list").unwrap_or(&Value::Null),
        "data.step_instance_var_list",
    )?;
    let mut out = Vec::with_capacity(steps.len());
    for s in steps {
        let vars = rows(
            s.get("global_var_list").unwrap_or(&Value::Null),
            "global_var_list",
        )?;
        let vars: Vec<Value> = vars
            .iter()
            .map(|v| json!({"name": v.get("name"), "value": v.get("value"), "category": v.get("type")}))
            .collect();
        let mut item = json!({"step_instance_id": s.get("step_instance_id")});
        item["step_instance_var_values"] = Value::Array(vars);
        out.push(item);
    }
    let mut data = json!({"job_instance_id": d.get("job_instance_id")});
    data["job_instance_var_values"] = Value::Array(out);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::{done, refused, run};
    use serde_json::json;

    fn v3_step() -> serde_json::Value {
        json!({"step_instance_id": 4, "execute_count": 0, "name": "s", "type": 1, "status": 3,
               "create_time": 1_700_000_000_000_i64, "start_time": 1_700_000_000_000_i64,
               "end_time": 1_700_000_002_500_i64, "total_time": 2500,
               "step_result_group_list": [{"result_type": 9, "result_type_desc": "Succeeded",
                 "host_size": 2, "host_result_list": [
                   {"bk_host_id": 101, "ip": "10.0.0.1", "bk_cloud_id": 0},
                   {"bk_host_id": 102, "ip": "10.0.0.2", "bk_cloud_id": 0}]}]})
    }

    #[test]
    fn step_status_top_level_and_nested_params() {
        for body in [
            json!({"bk_biz_id": 2, "job_instance_id": 9, "step_instance_id": 4}),
            json!({"bk_app_code": "a", "params": {"bk_biz_id": 2, "job_instance_id": 9, "step_instance_id": 4}}),
        ] {
            let (sent, step) = run(LegacyCall::GetStepInstanceStatus, body, vec![v3_step()]);
            assert_eq!(sent[0]["method"], "GET");
            assert_eq!(
                sent[0]["query"],
                json!([
                    ["bk_scope_type", "biz"],
                    ["bk_scope_id", "2"],
                    ["job_instance_id", "9"],
                    ["step_instance_id", "4"]
                ])
            );
            let d = done(&step);
            assert_eq!(d["is_finished"], true);
            let det = &d["step_instance_detail"];
            assert_eq!(det["target_ips"], "0:10.0.0.1,0:10.0.0.2");
            assert_eq!(det["start_time"], "2023-11-15 06:13:20");
            assert_eq!(det["total_time"], 2.5);
            assert_eq!(det["job_instance_id"], 9);
            assert_eq!(det["bk_biz_id"], 2);
            let r = &d["step_instance_analyse_result"][0];
            assert_eq!(r["result_type_text"], "Succeeded");
            assert_eq!(r["count"], 2);
            assert_eq!(
                r["ip_list"][1],
                json!({"bk_host_id": 102, "bk_cloud_id": 0, "ip": "10.0.0.2"})
            );
        }
        let e = refused(LegacyCall::GetStepInstanceStatus, json!({"params": "x"}));
        assert!(e.contains("[params]"), "{e}");
    }

    #[test]
    fn global_var_value_renames() {
        let (_, step) = run(
            LegacyCall::GetJobInstanceGlobalVarValue,
            json!({"bk_biz_id": 2, "job_instance_id": 9}),
            vec![json!({"job_instance_id": 9, "step_instance_var_list": [
                {"step_instance_id": 4, "global_var_list": [{"name": "v", "value": "1", "type": 1}]}]})],
        );
        assert_eq!(
            done(&step),
            json!({"job_instance_id": 9, "job_instance_var_values": [
                {"step_instance_id": 4, "step_instance_var_values": [{"name": "v", "value": "1", "category": 1}]}]})
        );
    }
}

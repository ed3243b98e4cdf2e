//! The legacy `get_job_instance_status` reply as typed structs (written straight into one
//! tree by `serde_json::to_value`, no intermediate trees), and the step → block mapping.

use super::{TranslateError, UNKNOWN_STEP_ID, V3Step, legacy_total_time, time_text};
use chrono_tz::Tz;
use serde::Serialize;

/// The legacy `data` of `get_job_instance_status`.
#[derive(Serialize)]
pub(super) struct LegacyStatus<'a> {
    pub(super) is_finished: bool,
    pub(super) job_instance: LegacyJobInstance<'a>,
    pub(super) blocks: Vec<LegacyBlock<'a>>,
}

/// The legacy `job_instance`.
#[derive(Serialize)]
pub(super) struct LegacyJobInstance<'a> {
    pub(super) job_instance_id: i64,
    pub(super) bk_biz_id: Option<i64>,
    pub(super) bk_scope_type: Option<String>,
    pub(super) bk_scope_id: Option<String>,
    pub(super) name: Option<&'a str>,
    pub(super) operator: &'a str,
    pub(super) bk_job_id: i64,
    pub(super) create_time: Option<String>,
    pub(super) start_time: Option<String>,
    pub(super) end_time: Option<String>,
    pub(super) total_time: Option<f64>,
    pub(super) status: Option<i64>,
    pub(super) start_way: i64,
    pub(super) current_step_instance_id: i64,
}

/// A legacy `blocks[]` item: a block of one step.
#[derive(Serialize)]
pub(super) struct LegacyBlock<'a> {
    step_instances: [LegacyStepInstance<'a>; 1],
}

/// A legacy `step_instances[]` item.
#[derive(Serialize)]
pub(super) struct LegacyStepInstance<'a> {
    step_instance_id: i64,
    step_id: i64,
    name: Option<&'a str>,
    #[serde(rename = "type")]
    step_type: Option<i64>,
    status: Option<i64>,
    execute_count: Option<i64>,
    create_time: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    total_time: Option<f64>,
    operator: &'a str,
    pause: Option<()>,
    step_ip_status: Vec<LegacyIpStatus<'a>>,
}

/// A legacy `step_ip_status[]` item.
#[derive(Serialize)]
pub(super) struct LegacyIpStatus<'a> {
    ip: Option<&'a str>,
    bk_cloud_id: Option<i64>,
    status: Option<i64>,
}

/// One v3 step instance → one legacy `blocks[]` item (a block of one step).
pub(super) fn step_block<'a>(
    i: usize,
    step: &'a V3Step<'_>,
    operator: &'a str,
    tz: Tz,
) -> Result<LegacyBlock<'a>, TranslateError> {
    let at = |key: &str| format!("data.step_instance_list[{i}].{key}");
    let step_ip_status = step
        .hosts
        .iter()
        .map(|h| LegacyIpStatus {
            ip: h.ip.as_deref(),
            bk_cloud_id: h.bk_cloud_id,
            status: h.status,
        })
        .collect();
    Ok(LegacyBlock {
        step_instances: [LegacyStepInstance {
            step_instance_id: step.step_instance_id,
            step_id: UNKNOWN_STEP_ID,
            name: step.name.as_deref(),
            step_type: step.step_type,
            status: step.status,
            execute_count: step.execute_count,
            create_time: time_text(step.create_time, tz, || at("create_time"))?,
            start_time: time_text(step.start_time, tz, || at("start_time"))?,
            end_time: time_text(step.end_time, tz, || at("end_time"))?,
            total_time: step.total_time.map(legacy_total_time),
            operator,
            pause: None,
            step_ip_status,
        }],
    })
}

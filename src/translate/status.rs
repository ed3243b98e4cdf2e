//! v3 `get_job_instance_status` data → legacy `get_job_instance_status` data
//! (`spec/bk-job-api.md` §2.4, §3.5, §8; DESIGN §4 decisions 5–7).
//!
//! The legacy shape is the one JOB 3.x itself still emits on its v2 endpoint
//! (`EsbGetJobInstanceStatusResourceImpl` + `model/esb/v2/EsbJobInstanceStatusDTO.java` in
//! bk-job), so the shim reproduces that, field by field:
//!
//! | legacy | from | rule (bk-job source) |
//! |---|---|---|
//! | `is_finished` | `finished` | rename; when absent, derived from the job status ([`FINISHED_STATUSES`]) |
//! | `job_instance.bk_biz_id` | `job_instance.bk_biz_id` | else the scope id as an integer: JOB sets `bk_biz_id = Long.valueOf(scopeId)` for both `biz` and `biz_set` (`EsbDTOAppScopeMappingHelper`) |
//! | `…bk_scope_type`, `bk_scope_id`, `job_instance_id`, `name`, `status` | same | unchanged (status numbers are identical, §8) |
//! | `…create_time`, `start_time`, `end_time` | epoch ms | [`format_legacy_time`]: `yyyy-MM-dd HH:mm:ss` in `legacy.timezone` (`LongTimestampSerializer`) |
//! | `…total_time` | ms | seconds as a decimal, `ms / 1000.0` (`LongToDecimalJsonSerializer`) |
//! | `…bk_job_id`, `operator`, `start_way` | [`JobExtras`] | not in v3; see the fallbacks below |
//! | `…current_step_instance_id` | derived | the last step (in order) that has left status 1 "pending" |
//! | `blocks[]` | `step_instance_list[]` | one block per step, each with exactly one `step_instances[]` element |
//! | `…step_id` | – | [`UNKNOWN_STEP_ID`] (`-1`, the value JOB gives steps of fast tasks) |
//! | `…operator` | [`JobExtras::operator`] | JOB copies the job's operator into every step it creates |
//! | `…pause` | – | always `null`: JOB 3.x never sets it either |
//! | `…step_ip_status[]` | `step_ip_result_list[]` | projected onto `{ip, bk_cloud_id, status}`; `[]` when absent (approval steps, `NON_EMPTY` in v3) |
//!
//! **Null and zero times.** `LongTimestampSerializer` is only reached for non-null values, and
//! bk-job's Jackson keeps nested nulls (Spring's default inclusion; bk-job sets no other, an
//! inference also made in spec §10.11), so a `null` or absent v3 time (e.g. `end_time` of a
//! running job) is `null` in the legacy answer. A number is formatted as JOB does it: values
//! up to `9999999999` are read as *seconds*, larger ones as milliseconds, so `0` becomes
//! `1970-01-01 08:00:00` in Asia/Shanghai, exactly what JOB 3.x's v2 endpoint prints.
//! `total_time: null` stays `null`.
//!
//! **Fallbacks when [`JobExtras`] are unknown** (neither remembered at submit time nor found
//! with `get_job_instance_list`, DESIGN §4.5):
//! * `bk_job_id` → [`FALLBACK_BK_JOB_ID`] (`-1`, JOB's value for "not started from a plan");
//! * `operator` (job and steps) → [`FALLBACK_OPERATOR`] (`""`), so clients that treat it as a
//!   string keep working;
//! * `start_way` → [`FALLBACK_START_WAY`] (`2`, "API call": the shim only serves API clients).
//!
//! `current_step_instance_id` when no step has started yet is `-1` for a job started from a
//! plan (`bk_job_id > 0`) and `0` otherwise, the values JOB initialises it with.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::data::Data;
use super::error::{RejectReason, TranslateError};
use legacy::{LegacyJobInstance, LegacyStatus, step_block};
pub(crate) use reader::Reader;
pub(crate) use v3::{V3Host, V3Status, V3Step, parse_v3_status};
pub use wire::{STATUS_FAST_MAX_BYTES, read_status_reply};

/// A v3 status read straight from the reply's text ([`read_status_reply`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TypedStatus(pub(crate) V3Status<'static>);

mod legacy;
mod reader;
mod scan;
mod v3;
mod wire;

/// `bk_job_id` when the plan id is unknown: JOB's value for jobs not started from a plan.
pub const FALLBACK_BK_JOB_ID: i64 = -1;
/// `operator` when the job's operator is unknown.
pub const FALLBACK_OPERATOR: &str = "";
/// `start_way` when unknown: `2`, "API call".
pub const FALLBACK_START_WAY: i64 = 2;
/// `step_id` of every step: v3 does not expose the plan step id.
pub const UNKNOWN_STEP_ID: i64 = -1;
/// `RunStatusEnum` values JOB counts as finished (`spec/bk-job-api.md` §8.1).
pub const FINISHED_STATUSES: [i64; 9] = [3, 4, 5, 6, 8, 9, 11, 13, 14];
/// Half-width of the `create_time` window used to look a job up in `get_job_instance_list`
/// (JOB caps the window at 30 days and requires both ends).
pub const JOB_LIST_MARGIN_MS: i64 = 60 * 60 * 1000;

/// `RunStatusEnum.BLANK`: the step has not started.
const STATUS_PENDING: i64 = 1;
/// `LongTimestampSerializer.MAX_TIMESTAMP`: numbers up to this are seconds, above are ms.
const MAX_SECONDS_TIMESTAMP: i64 = 9_999_999_999;
/// `current_step_instance_id` JOB gives a plan job before any step started.
const PLAN_NOT_STARTED_STEP: i64 = -1;
/// `current_step_instance_id` JOB gives a fast job before its step started.
const FAST_NOT_STARTED_STEP: i64 = 0;

/// Fields the legacy status answer carries and v3 `get_job_instance_status` lacks. The proxy
/// remembers them when the job is submitted through it, or reads them from
/// `get_job_instance_list` ([`extras_from_job_list`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobExtras {
    /// Plan id (`bk_job_id`; `-1` for fast tasks).
    pub bk_job_id: Option<i64>,
    /// User who started the job.
    pub operator: Option<String>,
    /// `1` web, `2` API, `3` cron.
    pub start_way: Option<i64>,
}

/// True when `status` is one of JOB's finished run statuses ([`FINISHED_STATUSES`]).
pub fn is_finished_status(status: i64) -> bool {
    FINISHED_STATUSES.contains(&status)
}

/// Format a bk-job timestamp as JOB's v2 endpoints do (`LongTimestampSerializer`):
/// `yyyy-MM-dd HH:mm:ss` in `tz`, with numbers up to `9999999999` read as seconds and larger
/// ones as milliseconds. `None` when the instant is outside what chrono can represent.
pub fn format_legacy_time(ts: i64, tz: Tz) -> Option<String> {
    let utc = if ts > MAX_SECONDS_TIMESTAMP {
        DateTime::<Utc>::from_timestamp_millis(ts)
    } else {
        DateTime::<Utc>::from_timestamp(ts, 0)
    }?;
    let local = utc.with_timezone(&tz).naive_local();
    if !(0..=9999).contains(&local.year()) {
        // chrono's signed, unpadded form for years outside four digits.
        return Some(local.format("%Y-%m-%d %H:%M:%S").to_string());
    }
    // Written by hand: chrono's `format` parses the pattern on every call, and a status
    // reply carries times for the job, each step and each host.
    let mut out = String::with_capacity(19);
    for (sep, n, width) in [
        ("", local.year().unsigned_abs(), 4),
        ("-", local.month(), 2),
        ("-", local.day(), 2),
        (" ", local.hour(), 2),
        (":", local.minute(), 2),
        (":", local.second(), 2),
    ] {
        out.push_str(sep);
        push_padded(&mut out, n, width);
    }
    Some(out)
}

/// `n` in decimal, zero-padded to `width` digits (`n` has at most `width` digits).
fn push_padded(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// A duration in milliseconds as the legacy decimal seconds (`LongToDecimalJsonSerializer`).
pub fn legacy_total_time(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Translate the `data` of a v3 `get_job_instance_status` answer (asked with
/// `return_ip_result=true`) into the legacy `data`. See the module documentation for the
/// field rules and fallbacks. Fails when the v3 data is not the documented shape.
pub fn to_legacy_status(
    v3_data: &Value,
    extras: &JobExtras,
    tz: Tz,
) -> Result<Data, TranslateError> {
    legacy_status(&parse_v3_status(v3_data)?, extras, tz)
}

/// [`to_legacy_status`] of the v3 status already read.
pub(crate) fn legacy_status(
    status: &V3Status<'_>,
    extras: &JobExtras,
    tz: Tz,
) -> Result<Data, TranslateError> {
    let job = &status.job;
    let operator = extras.operator.as_deref().unwrap_or(FALLBACK_OPERATOR);
    let bk_job_id = extras.bk_job_id.unwrap_or(FALLBACK_BK_JOB_ID);

    let blocks = status
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| step_block(i, step, operator, tz))
        .collect::<Result<Vec<_>, _>>()?;

    let at = |key: &str| format!("data.job_instance.{key}");
    let job_instance = LegacyJobInstance {
        job_instance_id: job.job_instance_id,
        bk_biz_id: job.bk_biz_id(),
        bk_scope_type: job.scope_type(),
        bk_scope_id: job.scope_id(),
        name: job.name.as_deref(),
        operator,
        bk_job_id,
        create_time: time_text(job.create_time, tz, || at("create_time"))?,
        start_time: time_text(job.start_time, tz, || at("start_time"))?,
        end_time: time_text(job.end_time, tz, || at("end_time"))?,
        total_time: job.total_time.map(legacy_total_time),
        status: job.status,
        start_way: extras.start_way.unwrap_or(FALLBACK_START_WAY),
        current_step_instance_id: current_step_instance_id(&status.steps, bk_job_id),
    };
    let legacy = LegacyStatus {
        is_finished: status.is_finished(),
        job_instance,
        blocks,
    };
    Data::written(&legacy)
}

/// Query parameters for `GET /api/v3/get_job_instance_list` that find one job instance by
/// id, in a `create_time` window of ±[`JOB_LIST_MARGIN_MS`] around its known creation time
/// (JOB requires `create_time_start` and `create_time_end`, both ≥ 1, at most 30 days apart).
pub fn job_list_query(
    scope_type: &str,
    scope_id: &str,
    job_instance_id: i64,
    create_time_ms: i64,
) -> Vec<(String, String)> {
    let start = create_time_ms.saturating_sub(JOB_LIST_MARGIN_MS).max(1);
    let end = create_time_ms
        .saturating_add(JOB_LIST_MARGIN_MS)
        .max(start.saturating_add(1));
    [
        ("bk_scope_type", scope_type.to_owned()),
        ("bk_scope_id", scope_id.to_owned()),
        ("job_instance_id", job_instance_id.to_string()),
        ("create_time_start", start.to_string()),
        ("create_time_end", end.to_string()),
        ("start", "0".to_owned()),
        ("length", "10".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// [`job_list_query`] with scope, id and creation time read from a v3
/// `get_job_instance_status` `data`. `None` when one of them is missing.
pub fn job_list_query_from_status(v3_status_data: &Value) -> Option<Vec<(String, String)>> {
    job_list_query_of(&parse_v3_status(v3_status_data).ok()?)
}

/// [`job_list_query_from_status`] of the v3 status already read.
pub(crate) fn job_list_query_of(status: &V3Status<'_>) -> Option<Vec<(String, String)>> {
    let job = &status.job;
    let scope_type = job.scope_type()?;
    let scope_id = job.scope_id()?;
    Some(job_list_query(
        &scope_type,
        &scope_id,
        job.job_instance_id,
        job.create_time?,
    ))
}

/// Read [`JobExtras`] for `job_instance_id` from the `data` of a v3 `get_job_instance_list`
/// answer (`EsbPageDataV3<EsbTaskInstanceV3DTO>`: `{start, length, total, data: [...]}`,
/// items with `job_plan_id`, `operator`, `launch_mode`). `None` when the job is not listed.
pub fn extras_from_job_list(v3_data: &Value, job_instance_id: i64) -> Option<JobExtras> {
    let items = match v3_data {
        Value::Object(page) => page.get("data")?.as_array()?,
        // Tolerate a bare list of instances.
        Value::Array(items) => items,
        _ => return None,
    };
    let item = items
        .iter()
        .find(|it| it.get("job_instance_id").and_then(Value::as_i64) == Some(job_instance_id))?;
    Some(JobExtras {
        bk_job_id: item.get("job_plan_id").and_then(Value::as_i64),
        operator: item
            .get("operator")
            .and_then(Value::as_str)
            .map(str::to_owned),
        start_way: item.get("launch_mode").and_then(Value::as_i64),
    })
}

// === helpers ===

/// A v3 time as its legacy text, `None` when absent.
pub(crate) fn time_text(
    ts: Option<i64>,
    tz: Tz,
    field: impl FnOnce() -> String,
) -> Result<Option<String>, TranslateError> {
    ts.map(|ts| {
        format_legacy_time(ts, tz).ok_or_else(|| {
            TranslateError::new(
                RejectReason::Invalid,
                field(),
                format!("timestamp {ts} is out of range"),
            )
        })
    })
    .transpose()
}

/// The last step that has left "pending", else JOB's initial value.
fn current_step_instance_id(steps: &[V3Step<'_>], bk_job_id: i64) -> i64 {
    steps
        .iter()
        .rev()
        .find(|s| s.status.is_some_and(|st| st != STATUS_PENDING))
        .map_or(
            if bk_job_id > 0 {
                PLAN_NOT_STARTED_STEP
            } else {
                FAST_NOT_STARTED_STEP
            },
            |s| s.step_instance_id,
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
    const UTC: Tz = chrono_tz::UTC;

    fn minimal(steps: Value) -> Value {
        json!({
            "finished": false,
            "job_instance": {
                "job_instance_id": 100, "bk_scope_type": "biz", "bk_scope_id": "2",
                "name": "n", "status": 2, "create_time": 1521089795887_i64,
            },
            "step_instance_list": steps,
        })
    }

    #[test]
    fn time_is_formatted_in_the_configured_zone() {
        let ms = 1_521_089_795_887;
        assert_eq!(
            format_legacy_time(ms, SHANGHAI).as_deref(),
            Some("2018-03-15 12:56:35")
        );
        assert_eq!(
            format_legacy_time(ms, UTC).as_deref(),
            Some("2018-03-15 04:56:35")
        );
    }

    #[test]
    fn hand_formatted_times_match_chrono() {
        let zones = [
            UTC,
            SHANGHAI,
            chrono_tz::America::New_York,
            chrono_tz::Asia::Kolkata,
        ];
        let mut stamps = vec![
            0,
            -1,
            -62_135_596_800,  // 0001-01-01 UTC
            -62_167_219_200,  // year 0
            -62_167_219_201,  // year -1
            -100_000_000_000, // seconds, far before year 0
            9_999_999_999,
            10_000_000_000,
            253_402_300_799_000, // 9999-12-31 23:59:59 UTC, as ms
            253_402_300_800_000, // year 10000
            1_710_054_000_000,   // a DST change in New York
        ];
        stamps.extend((0..2_000).map(|i| 1_000_000_000_000 + i * 86_399_937));
        for tz in zones {
            for &ts in &stamps {
                let chrono = if ts > MAX_SECONDS_TIMESTAMP {
                    DateTime::<Utc>::from_timestamp_millis(ts)
                } else {
                    DateTime::<Utc>::from_timestamp(ts, 0)
                }
                .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string());
                assert_eq!(format_legacy_time(ts, tz), chrono, "{ts} in {tz}");
            }
        }
    }

    #[test]
    fn small_numbers_are_seconds_like_long_timestamp_serializer() {
        assert_eq!(
            format_legacy_time(0, SHANGHAI).as_deref(),
            Some("1970-01-01 08:00:00")
        );
        assert_eq!(
            format_legacy_time(0, UTC).as_deref(),
            Some("1970-01-01 00:00:00")
        );
        assert_eq!(
            format_legacy_time(1_521_089_795, SHANGHAI).as_deref(),
            Some("2018-03-15 12:56:35")
        );
        // The boundary: 9999999999 is still seconds, one more is milliseconds.
        assert_eq!(
            format_legacy_time(9_999_999_999, UTC).as_deref(),
            Some("2286-11-20 17:46:39")
        );
        assert_eq!(
            format_legacy_time(10_000_000_000, UTC).as_deref(),
            Some("1970-04-26 17:46:40")
        );
        assert_eq!(format_legacy_time(i64::MAX, UTC), None);
    }

    #[test]
    fn total_time_is_decimal_seconds() {
        assert_eq!(legacy_total_time(3169), 3.169);
        assert_eq!(legacy_total_time(0), 0.0);
        assert_eq!(legacy_total_time(60_000), 60.0);
        assert_eq!(Value::from(legacy_total_time(3169)).to_string(), "3.169");
        assert_eq!(Value::from(legacy_total_time(2000)).to_string(), "2.0");
    }

    #[test]
    fn null_times_stay_null_and_zone_applies_everywhere() {
        let v3 = minimal(json!([{
            "step_instance_id": 1, "name": "s", "type": 1, "status": 2, "execute_count": 0,
            "create_time": 1521089795887_i64, "start_time": null,
        }]));
        let out = to_legacy_status(&v3, &JobExtras::default(), UTC)
            .unwrap()
            .into_tree();
        let job = &out["job_instance"];
        assert_eq!(job["create_time"], "2018-03-15 04:56:35");
        assert_eq!(job["start_time"], Value::Null);
        assert_eq!(job["end_time"], Value::Null);
        assert_eq!(job["total_time"], Value::Null);
        let step = &out["blocks"][0]["step_instances"][0];
        assert_eq!(step["create_time"], "2018-03-15 04:56:35");
        assert_eq!(step["start_time"], Value::Null);
        assert_eq!(step["step_ip_status"], json!([]));
        assert_eq!(step["pause"], Value::Null);
    }

    #[test]
    fn unknown_extras_use_the_documented_fallbacks() {
        let out = to_legacy_status(&minimal(json!([])), &JobExtras::default(), SHANGHAI)
            .unwrap()
            .into_tree();
        let job = &out["job_instance"];
        assert_eq!(job["bk_job_id"], FALLBACK_BK_JOB_ID);
        assert_eq!(job["operator"], FALLBACK_OPERATOR);
        assert_eq!(job["start_way"], FALLBACK_START_WAY);
        assert_eq!(job["bk_biz_id"], 2);
        assert_eq!(job["current_step_instance_id"], 0);
        assert_eq!(out["is_finished"], false);
    }

    #[test]
    fn current_step_is_the_last_one_started() {
        let step = |id: i64, status: i64| json!({"step_instance_id": id, "status": status});
        let cur = |steps: Value, extras: &JobExtras| {
            to_legacy_status(&minimal(steps), extras, UTC)
                .unwrap()
                .into_tree()["job_instance"]["current_step_instance_id"]
                .clone()
        };
        let fast = JobExtras::default();
        let plan = JobExtras {
            bk_job_id: Some(7),
            ..JobExtras::default()
        };
        assert_eq!(cur(json!([step(1, 3), step(2, 2), step(3, 1)]), &fast), 2);
        assert_eq!(cur(json!([step(1, 3), step(2, 4), step(3, 1)]), &fast), 2);
        assert_eq!(cur(json!([step(1, 3), step(2, 3), step(3, 3)]), &fast), 3);
        assert_eq!(cur(json!([step(1, 1), step(2, 1)]), &fast), 0);
        assert_eq!(cur(json!([step(1, 1), step(2, 1)]), &plan), -1);
    }

    #[test]
    fn finished_falls_back_to_the_status_set() {
        let mut v3 = minimal(json!([]));
        if let Some(m) = v3.as_object_mut() {
            m.remove("finished");
        }
        v3["job_instance"]["status"] = json!(13);
        let out = to_legacy_status(&v3, &JobExtras::default(), UTC)
            .unwrap()
            .into_tree();
        assert_eq!(out["is_finished"], true);
        for s in [1, 2, 7, 10, 12, 15] {
            assert!(!is_finished_status(s), "{s}");
        }
        for s in FINISHED_STATUSES {
            assert!(is_finished_status(s), "{s}");
        }
    }

    #[test]
    fn malformed_data_names_the_field() {
        let err = to_legacy_status(&json!([]), &JobExtras::default(), UTC).unwrap_err();
        assert_eq!(
            (err.reason, err.field.as_str()),
            (RejectReason::Type, "data")
        );

        let err = to_legacy_status(
            &json!({"step_instance_list": []}),
            &JobExtras::default(),
            UTC,
        )
        .unwrap_err();
        assert_eq!(
            (err.reason, err.field.as_str()),
            (RejectReason::Missing, "data.job_instance")
        );

        let v3 = minimal(json!([{"step_instance_id": 1, "step_ip_result_list": [
            {"ip": "10.0.0.1", "bk_cloud_id": 0, "status": 9},
            {"ip": "10.0.0.2", "bk_cloud_id": 0, "status": "9"},
        ]}]));
        let err = to_legacy_status(&v3, &JobExtras::default(), UTC).unwrap_err();
        assert_eq!(err.reason, RejectReason::Type);
        assert_eq!(
            err.field,
            "data.step_instance_list[0].step_ip_result_list[1].status"
        );

        let v3 = minimal(json!([{"name": "no id"}]));
        let err = to_legacy_status(&v3, &JobExtras::default(), UTC).unwrap_err();
        assert_eq!(err.field, "data.step_instance_list[0].step_instance_id");

        let mut v3 = minimal(json!([]));
        v3["job_instance"]["end_time"] = json!(i64::MAX);
        let err = to_legacy_status(&v3, &JobExtras::default(), UTC).unwrap_err();
        assert_eq!(
            (err.reason, err.field.as_str()),
            (RejectReason::Invalid, "data.job_instance.end_time")
        );
    }

    #[test]
    fn job_list_query_brackets_the_create_time() {
        let q = job_list_query("biz", "2", 100, 1_700_000_000_000);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("bk_scope_type"), Some("biz"));
        assert_eq!(get("bk_scope_id"), Some("2"));
        assert_eq!(get("job_instance_id"), Some("100"));
        assert_eq!(get("create_time_start"), Some("1699996400000"));
        assert_eq!(get("create_time_end"), Some("1700003600000"));

        // JOB rejects a start below 1.
        let q = job_list_query("biz", "2", 100, 5);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("create_time_start"), Some("1"));
        assert_eq!(get("create_time_end"), Some("3600005"));

        let q = job_list_query_from_status(&minimal(json!([]))).unwrap();
        assert!(q.contains(&("create_time_start".into(), "1521086195887".into())));
        assert_eq!(job_list_query_from_status(&json!({})), None);
    }

    #[test]
    fn extras_are_read_from_the_job_list() {
        let page = json!({"start": 0, "length": 10, "total": 2, "data": [
            {"job_instance_id": 99, "job_plan_id": 1, "operator": "x", "launch_mode": 1},
            {"job_instance_id": 100, "job_plan_id": 1024, "operator": "admin", "launch_mode": 3},
        ]});
        assert_eq!(
            extras_from_job_list(&page, 100),
            Some(JobExtras {
                bk_job_id: Some(1024),
                operator: Some("admin".into()),
                start_way: Some(3),
            })
        );
        assert_eq!(extras_from_job_list(&page, 101), None);
        assert_eq!(extras_from_job_list(&json!({"total": 0}), 100), None);
        assert_eq!(extras_from_job_list(&Value::Null, 100), None);
    }

    #[test]
    fn extras_deserialize_with_missing_fields() {
        let e: JobExtras = serde_json::from_value(json!({"operator": "admin"})).unwrap();
        assert_eq!(
            e,
            JobExtras {
                operator: Some("admin".into()),
                ..JobExtras::default()
            }
        );
    }

    #[test]
    fn bk_biz_id_comes_from_the_scope_id_for_biz_sets_too() {
        let mut v3 = minimal(json!([]));
        v3["job_instance"]["bk_scope_type"] = json!("biz_set");
        v3["job_instance"]["bk_scope_id"] = json!("9991001");
        let out = to_legacy_status(&v3, &JobExtras::default(), UTC)
            .unwrap()
            .into_tree();
        assert_eq!(out["job_instance"]["bk_biz_id"], 9_991_001);
        assert_eq!(out["job_instance"]["bk_scope_type"], "biz_set");
    }
}

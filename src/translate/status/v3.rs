//! The v3 `get_job_instance_status` `data` as a typed model, read leniently from its tree:
//! optional fields may be null or absent, wrong types fail, naming the field. Its strings
//! borrow from the tree they were read from, or are owned when the model was read straight
//! from the reply's text (`super::wire`).

use super::super::error::TranslateError;
use super::super::scope::Scope;
use super::{Reader, is_finished_status};
use serde_json::Value;
use std::borrow::Cow;

/// A parsed v3 `get_job_instance_status` `data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V3Status<'a> {
    /// `finished`.
    pub(crate) finished: Option<bool>,
    /// `job_instance`.
    pub(crate) job: V3Job<'a>,
    /// `step_instance_list`, in order.
    pub(crate) steps: Vec<V3Step<'a>>,
}

impl V3Status<'_> {
    /// `finished`, else derived from the job status.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
            .unwrap_or_else(|| self.job.status.is_some_and(is_finished_status))
    }
}

/// `data.job_instance`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V3Job<'a> {
    pub(crate) job_instance_id: i64,
    pub(crate) bk_biz_id: Option<i64>,
    pub(crate) bk_scope_type: Option<Cow<'a, str>>,
    pub(crate) bk_scope_id: Option<Cow<'a, str>>,
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) status: Option<i64>,
    pub(crate) create_time: Option<i64>,
    pub(crate) start_time: Option<i64>,
    pub(crate) end_time: Option<i64>,
    pub(crate) total_time: Option<i64>,
}

impl V3Job<'_> {
    /// `bk_biz_id`, else the scope id read as an integer (what JOB itself fills in).
    pub(crate) fn bk_biz_id(&self) -> Option<i64> {
        self.bk_biz_id.or_else(|| {
            self.bk_scope_id
                .as_deref()
                .and_then(|s| s.trim().parse().ok())
        })
    }

    /// `bk_scope_type`, else derived from `bk_biz_id`.
    pub(crate) fn scope_type(&self) -> Option<String> {
        match (self.bk_scope_type.as_deref(), self.bk_biz_id) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(id)) => Some(Scope::from_biz_id(id).bk_scope_type.to_owned()),
            (None, None) => None,
        }
    }

    /// `bk_scope_id`, else `bk_biz_id` as a string.
    pub(crate) fn scope_id(&self) -> Option<String> {
        match (self.bk_scope_id.as_deref(), self.bk_biz_id) {
            (Some(s), _) => Some(s.to_owned()),
            (None, Some(id)) => Some(id.to_string()),
            (None, None) => None,
        }
    }
}

/// One element of `data.step_instance_list`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V3Step<'a> {
    pub(crate) step_instance_id: i64,
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) step_type: Option<i64>,
    pub(crate) status: Option<i64>,
    pub(crate) execute_count: Option<i64>,
    pub(crate) create_time: Option<i64>,
    pub(crate) start_time: Option<i64>,
    pub(crate) end_time: Option<i64>,
    pub(crate) total_time: Option<i64>,
    /// `step_ip_result_list` (absent when empty).
    pub(crate) hosts: Vec<V3Host<'a>>,
}

/// One element of `step_ip_result_list`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V3Host<'a> {
    pub(crate) bk_host_id: Option<i64>,
    pub(crate) ip: Option<Cow<'a, str>>,
    pub(crate) bk_cloud_id: Option<i64>,
    pub(crate) status: Option<i64>,
    /// `None` for `null` or absent (kept apart from `""` for the output).
    pub(crate) tag: Option<Cow<'a, str>>,
    pub(crate) exit_code: Option<i64>,
    pub(crate) error_code: Option<i64>,
    pub(crate) start_time: Option<i64>,
    pub(crate) end_time: Option<i64>,
    pub(crate) total_time: Option<i64>,
}

/// Parse a v3 `get_job_instance_status` `data`.
pub(crate) fn parse_v3_status(data: &Value) -> Result<V3Status<'_>, TranslateError> {
    let root = Reader::new(data, "data")?;
    let j = root.req_obj("job_instance")?;
    let job = V3Job {
        job_instance_id: j.req_i64("job_instance_id")?,
        bk_biz_id: j.opt_i64("bk_biz_id")?,
        bk_scope_type: j.opt_str("bk_scope_type")?.map(Cow::Borrowed),
        bk_scope_id: j.opt_str("bk_scope_id")?.map(Cow::Borrowed),
        name: j.opt_str("name")?.map(Cow::Borrowed),
        status: j.opt_i64("status")?,
        create_time: j.opt_i64("create_time")?,
        start_time: j.opt_i64("start_time")?,
        end_time: j.opt_i64("end_time")?,
        total_time: j.opt_i64("total_time")?,
    };
    let step_values = root.req_array("step_instance_list")?;
    let mut steps = Vec::with_capacity(step_values.len());
    for (i, sv) in step_values.iter().enumerate() {
        let s = Reader::new(sv, format!("data.step_instance_list[{i}]"))?;
        let host_values = s.opt_array("step_ip_result_list")?;
        let mut hosts = Vec::with_capacity(host_values.len());
        for (k, hv) in host_values.iter().enumerate() {
            let h = Reader::new(
                hv,
                format!("data.step_instance_list[{i}].step_ip_result_list[{k}]"),
            )?;
            hosts.push(V3Host {
                bk_host_id: h.opt_i64("bk_host_id")?,
                ip: h.opt_str("ip")?.map(Cow::Borrowed),
                bk_cloud_id: h.opt_i64("bk_cloud_id")?,
                status: h.opt_i64("status")?,
                tag: h.opt_str("tag")?.map(Cow::Borrowed),
                exit_code: h.opt_i64("exit_code")?,
                error_code: h.opt_i64("error_code")?,
                start_time: h.opt_i64("start_time")?,
                end_time: h.opt_i64("end_time")?,
                total_time: h.opt_i64("total_time")?,
            });
        }
        steps.push(V3Step {
            step_instance_id: s.req_i64("step_instance_id")?,
            name: s.opt_str("name")?.map(Cow::Borrowed),
            step_type: s.opt_i64("type")?,
            status: s.opt_i64("status")?,
            execute_count: s.opt_i64("execute_count")?,
            create_time: s.opt_i64("create_time")?,
            start_time: s.opt_i64("start_time")?,
            end_time: s.opt_i64("end_time")?,
            total_time: s.opt_i64("total_time")?,
            hosts,
        });
    }
    Ok(V3Status {
        finished: root.opt_bool("finished")?,
        job,
        steps,
    })
}

//! The fast reading of a v3 `get_job_instance_status` reply: its `data` read straight from
//! the reply's text into [`V3Status`], with no `Value` tree built (or dropped) for it.
//! Status polls are the most frequent call a legacy app makes, and this tree was a quarter
//! of a poll's instructions.
//!
//! Only a successful reply (`code` 0) whose `data` has the plain form is read this way (by
//! hand, `super::scan`, when it has the plainest; else through serde's derived visitors):
//! the members JOB's `EsbJobInstanceStatusV3DTO` has (plus `host_id`, `ipv6` and
//! `bk_agent_id`, which other JOB versions add and the translation does not use, as
//! scalars), integers as JSON integers, every host with a string `ip`. Anything else — an
//! unknown member, a wrong type, a reply over [`STATUS_FAST_MAX_BYTES`] — makes the fast
//! reading give up, and the reply is read the general way (`crate::budget::parse`, then
//! [`super::parse_v3_status`]), which accepts it or names what is wrong, as always. So a
//! status read fast translates exactly as from its tree (`tests/status_fast.rs`).

use super::super::envelope::EsbResp;
use super::super::fast::Capped;
use super::super::fast_scan::{self, Scanner};
use super::v3::{V3Host, V3Job, V3Status, V3Step};
use crate::budget::{Budget, Shape, Shaped, parse_split};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// Largest reply read the fast way (a status of ~250 hosts). The typed models take more
/// memory than their text: the smallest host, `{"ip":""},` (10 bytes), becomes a model of
/// at most 200 bytes (checked in a test), so the models of one reply stay under ~1.3 MiB,
/// twice that while they are converted. Larger replies are read the general way, where
/// the reply budget stops the tree as it grows.
pub const STATUS_FAST_MAX_BYTES: usize = 64 * 1024;

/// A v3 status reply `body` as its `EsbResp`, the status already read into
/// [`EsbResp::status`] (`data` is then null). `None` when the fast reading does not apply
/// (see the module docs): the caller reads the reply the general way.
pub fn read_status_reply(body: &[u8], budget: &Budget) -> Option<EsbResp> {
    if body.len() > STATUS_FAST_MAX_BYTES {
        return None;
    }
    // By hand when the reply has the plainest form (`super::scan`), else through serde.
    let split = fast_scan::split(body, budget, "data", Scanner::wire_status)
        .or_else(|| parse_split::<WireStatus<'_>>(body, budget, "data"))?;
    let status = split.typed?.into_model();
    let resp = EsbResp::parse(Value::Object(split.rest))?;
    (resp.code == 0).then(|| EsbResp {
        status: Some(Box::new(super::TypedStatus(status))),
        ..resp
    })
}

/// `data` as read from the text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireStatus<'a> {
    pub(super) finished: Option<bool>,
    #[serde(borrow)]
    pub(super) job_instance: Job<'a>,
    #[serde(borrow)]
    pub(super) step_instance_list: Capped<Step<'a>>,
}

/// `data.job_instance`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Job<'a> {
    pub(super) job_instance_id: i64,
    pub(super) bk_biz_id: Option<i64>,
    #[serde(borrow)]
    pub(super) bk_scope_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) bk_scope_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) name: Option<Cow<'a, str>>,
    pub(super) status: Option<i64>,
    pub(super) create_time: Option<i64>,
    pub(super) start_time: Option<i64>,
    pub(super) end_time: Option<i64>,
    pub(super) total_time: Option<i64>,
}

/// A `step_instance_list[]` item.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Step<'a> {
    pub(super) step_instance_id: i64,
    #[serde(borrow)]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    pub(super) step_type: Option<i64>,
    pub(super) status: Option<i64>,
    pub(super) execute_count: Option<i64>,
    pub(super) create_time: Option<i64>,
    pub(super) start_time: Option<i64>,
    pub(super) end_time: Option<i64>,
    pub(super) total_time: Option<i64>,
    #[serde(borrow)]
    pub(super) step_ip_result_list: Option<Capped<Host<'a>>>,
}

/// A `step_ip_result_list[]` item.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Host<'a> {
    pub(super) bk_host_id: Option<i64>,
    #[serde(borrow)]
    pub(super) ip: Cow<'a, str>,
    pub(super) bk_cloud_id: Option<i64>,
    pub(super) status: Option<i64>,
    #[serde(borrow)]
    pub(super) tag: Option<Cow<'a, str>>,
    pub(super) exit_code: Option<i64>,
    pub(super) error_code: Option<i64>,
    pub(super) start_time: Option<i64>,
    pub(super) end_time: Option<i64>,
    pub(super) total_time: Option<i64>,
    pub(super) host_id: Option<Scalar>,
    pub(super) ipv6: Option<Scalar>,
    pub(super) bk_agent_id: Option<Scalar>,
}

/// Members of the widest object ([`Host`]).
const HOST_MEMBERS: usize = 13;
/// Members of [`Job`] and of [`Step`] (at most).
const JOB_MEMBERS: usize = 10;
/// The longest key of the models (`step_ip_result_list`).
const LONGEST_KEY: usize = 19;

/// A member the translation does not use, accepted only as a scalar (so the model's depth
/// stays its own), kept as its length in bytes (0 for a number or a boolean).
pub(super) struct Scalar(pub(super) u32);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar(0))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Scalar, E> {
                Ok(Scalar(0))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Scalar, E> {
                Ok(Scalar(0))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar(0))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Scalar, E> {
                u32::try_from(s.len())
                    .map(Scalar)
                    .map_err(|_| E::custom("too long"))
            }
        }
        d.deserialize_any(V)
    }
}

impl WireStatus<'_> {
    /// The model the translation reads, owning its strings.
    pub(super) fn into_model(self) -> V3Status<'static> {
        let j = self.job_instance;
        V3Status {
            finished: self.finished,
            job: V3Job {
                job_instance_id: j.job_instance_id,
                bk_biz_id: j.bk_biz_id,
                bk_scope_type: j.bk_scope_type.map(owned),
                bk_scope_id: j.bk_scope_id.map(owned),
                name: j.name.map(owned),
                status: j.status,
                create_time: j.create_time,
                start_time: j.start_time,
                end_time: j.end_time,
                total_time: j.total_time,
            },
            steps: self
                .step_instance_list
                .0
                .into_iter()
                .map(Step::into_model)
                .collect(),
        }
    }
}

impl Step<'_> {
    fn into_model(self) -> V3Step<'static> {
        V3Step {
            step_instance_id: self.step_instance_id,
            name: self.name.map(owned),
            step_type: self.step_type,
            status: self.status,
            execute_count: self.execute_count,
            create_time: self.create_time,
            start_time: self.start_time,
            end_time: self.end_time,
            total_time: self.total_time,
            hosts: self.step_ip_result_list.map_or_else(Vec::new, |l| {
                l.0.into_iter().map(Host::into_model).collect()
            }),
        }
    }
}

impl Host<'_> {
    fn into_model(self) -> V3Host<'static> {
        V3Host {
            bk_host_id: self.bk_host_id,
            ip: Some(owned(self.ip)),
            bk_cloud_id: self.bk_cloud_id,
            status: self.status,
            tag: self.tag.map(owned),
            exit_code: self.exit_code,
            error_code: self.error_code,
            start_time: self.start_time,
            end_time: self.end_time,
            total_time: self.total_time,
        }
    }

    fn longest_string(&self) -> usize {
        let scalars = [&self.host_id, &self.ipv6, &self.bk_agent_id]
            .into_iter()
            .flatten()
            .map(|s| s.0 as usize);
        let texts = [Some(&self.ip), self.tag.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.len());
        scalars.chain(texts).max().unwrap_or(0)
    }
}

fn owned(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

impl Shaped for WireStatus<'_> {
    fn shape(&self) -> Shape {
        let j = &self.job_instance;
        let steps = &self.step_instance_list.0;
        let hosts = steps
            .iter()
            .filter_map(|s| s.step_ip_result_list.as_ref())
            .map(|l| l.0.len());
        let job_strings = [&j.bk_scope_type, &j.bk_scope_id, &j.name];
        let strings = job_strings
            .into_iter()
            .chain(steps.iter().map(|s| &s.name))
            .flatten()
            .map(|s| s.len())
            .chain(
                steps
                    .iter()
                    .filter_map(|s| s.step_ip_result_list.as_ref())
                    .flat_map(|l| &l.0)
                    .map(Host::longest_string),
            )
            .max()
            .unwrap_or(0);
        Shape {
            // `data` with its three members, the job with its members, each step with its
            // members, each host with its members (every member as if present).
            values: 4
                + 1
                + JOB_MEMBERS
                + steps.len() * (1 + JOB_MEMBERS)
                + hosts.clone().sum::<usize>() * (1 + HOST_MEMBERS),
            // `data`, the step list, a step, its host list, a host.
            depth: 5,
            array_len: hosts.max().unwrap_or(0).max(steps.len()).max(HOST_MEMBERS),
            string_bytes: strings.max(LONGEST_KEY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_stay_within_the_sizes_the_memory_bound_assumes() {
        // The bound `STATUS_FAST_MAX_BYTES` is documented with: the smallest host read
        // fast is 10 bytes of text, its wire model and its translated model at most 200
        // bytes each.
        assert!(std::mem::size_of::<Host<'_>>() <= 200);
        assert!(std::mem::size_of::<V3Host<'_>>() <= 200);
    }
}

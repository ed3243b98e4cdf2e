//! The legacy `get_job_instance_status` reply as typed structs, and the step → block
//! mapping.
//!
//! The reply is written by hand ([`WriteJson`]): about half of what `serde_json`'s
//! serializer spent on it went into its struct and key machinery and into scanning
//! constant keys for escapes. The derived `Serialize` stays as the reference; the tests
//! below hold the two writers to the same bytes.

use super::{TranslateError, UNKNOWN_STEP_ID, V3Step, legacy_total_time, time_text};
use crate::translate::write::{Members, WriteJson};
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

impl WriteJson for LegacyStatus<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"is_finished", &self.is_finished);
        m.put(b"job_instance", &self.job_instance);
        m.put(b"blocks", &self.blocks);
        m.close();
    }
}

impl WriteJson for LegacyJobInstance<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"job_instance_id", &self.job_instance_id);
        m.put(b"bk_biz_id", &self.bk_biz_id);
        m.put(b"bk_scope_type", &self.bk_scope_type);
        m.put(b"bk_scope_id", &self.bk_scope_id);
        m.put(b"name", &self.name);
        m.put(b"operator", self.operator);
        m.put(b"bk_job_id", &self.bk_job_id);
        m.put(b"create_time", &self.create_time);
        m.put(b"start_time", &self.start_time);
        m.put(b"end_time", &self.end_time);
        m.put(b"total_time", &self.total_time);
        m.put(b"status", &self.status);
        m.put(b"start_way", &self.start_way);
        m.put(b"current_step_instance_id", &self.current_step_instance_id);
        m.close();
    }
}

impl WriteJson for LegacyBlock<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"step_instances", &self.step_instances);
        m.close();
    }
}

impl WriteJson for LegacyStepInstance<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"step_instance_id", &self.step_instance_id);
        m.put(b"step_id", &self.step_id);
        m.put(b"name", &self.name);
        m.put(b"type", &self.step_type);
        m.put(b"status", &self.status);
        m.put(b"execute_count", &self.execute_count);
        m.put(b"create_time", &self.create_time);
        m.put(b"start_time", &self.start_time);
        m.put(b"end_time", &self.end_time);
        m.put(b"total_time", &self.total_time);
        m.put(b"operator", self.operator);
        m.put(b"pause", &self.pause);
        m.put(b"step_ip_status", &self.step_ip_status);
        m.close();
    }
}

impl WriteJson for LegacyIpStatus<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(48);
        let mut m = Members::open(out);
        m.put(b"ip", &self.ip);
        m.put(b"bk_cloud_id", &self.bk_cloud_id);
        m.put(b"status", &self.status);
        m.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::write::tests::{reference, text, written};
    use proptest::prelude::*;

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn opt_int() -> impl Strategy<Value = Option<i64>> {
        proptest::option::of(any::<i64>())
    }

    /// Durations as the reply carries them, and the floats `serde_json` writes oddly.
    fn opt_float() -> impl Strategy<Value = Option<f64>> {
        let odd = prop::sample::select(vec![0.0, -0.0, 1e300, 5e-324, f64::NAN, f64::INFINITY]);
        proptest::option::of(prop_oneof![any::<i64>().prop_map(legacy_total_time), odd])
    }

    /// A whole reply, its texts owned by the test (the model borrows them).
    #[derive(Debug, Clone)]
    struct Parts {
        texts: [Option<String>; 8],
        ints: [Option<i64>; 6],
        floats: [Option<f64>; 2],
        fixed: [i64; 5],
        hosts: Vec<(Option<String>, Option<i64>, Option<i64>)>,
        steps: usize,
        finished: bool,
    }

    fn parts() -> impl Strategy<Value = Parts> {
        let texts = [(); 8].map(|()| opt_text());
        let ints = [(); 6].map(|()| opt_int());
        let host = (opt_text(), opt_int(), opt_int());
        let lists = (
            proptest::collection::vec(host, 0..4),
            0..3usize,
            any::<bool>(),
        );
        let numbers = ([opt_float(), opt_float()], [(); 5].map(|()| any::<i64>()));
        (texts, ints, numbers, lists).prop_map(|(texts, ints, (floats, fixed), lists)| Parts {
            texts,
            ints,
            floats,
            fixed,
            hosts: lists.0,
            steps: lists.1,
            finished: lists.2,
        })
    }

    fn step(p: &Parts) -> LegacyStepInstance<'_> {
        let [name, _, _, _, create, start, end, operator] = &p.texts;
        LegacyStepInstance {
            step_instance_id: p.fixed[0],
            step_id: UNKNOWN_STEP_ID,
            name: name.as_deref(),
            step_type: p.ints[0],
            status: p.ints[1],
            execute_count: p.ints[2],
            create_time: create.clone(),
            start_time: start.clone(),
            end_time: end.clone(),
            total_time: p.floats[1],
            operator: operator.as_deref().unwrap_or_default(),
            pause: None,
            step_ip_status: p
                .hosts
                .iter()
                .map(|(ip, bk_cloud_id, status)| LegacyIpStatus {
                    ip: ip.as_deref(),
                    bk_cloud_id: *bk_cloud_id,
                    status: *status,
                })
                .collect(),
        }
    }

    fn status(p: &Parts) -> LegacyStatus<'_> {
        let [name, scope_type, scope_id, _, create, start, end, operator] = &p.texts;
        LegacyStatus {
            is_finished: p.finished,
            job_instance: LegacyJobInstance {
                job_instance_id: p.fixed[1],
                bk_biz_id: p.ints[3],
                bk_scope_type: scope_type.clone(),
                bk_scope_id: scope_id.clone(),
                name: name.as_deref(),
                operator: operator.as_deref().unwrap_or_default(),
                bk_job_id: p.fixed[2],
                create_time: create.clone(),
                start_time: start.clone(),
                end_time: end.clone(),
                total_time: p.floats[0],
                status: p.ints[4],
                start_way: p.fixed[3],
                current_step_instance_id: p.fixed[4],
            },
            blocks: (0..p.steps)
                .map(|_| LegacyBlock {
                    step_instances: [step(p)],
                })
                .collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn status_replies_are_written_as_serde_does(p in parts()) {
            let reply = status(&p);
            prop_assert_eq!(written(&reply), reference(&reply));
        }
    }
}

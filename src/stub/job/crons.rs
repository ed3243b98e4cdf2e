//! The emulator's cron jobs: seeded, saved (always disabled, as bk-job saves them) and
//! switched on and off. `get_cron_list` reports a stopped cron as `0`, as bk-job's code does
//! (its documentation says 2); `get_cron_detail`, `save_cron` and `update_cron_status`
//! say 2.

use super::super::value::{Obj, non_blank, opt_i32, opt_i64, opt_string};
use super::catalog::{Catalog, SEED_S, page, range};
use super::{JobError, JobResult, Scope};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Cron status numbers (v3): 1 started, 2 stopped.
const CRON_STARTED: i64 = 1;
const CRON_STOPPED: i64 = 2;

#[derive(Debug, Clone)]
struct Cron {
    id: i64,
    plan_id: i64,
    name: String,
    expression: String,
    enabled: bool,
    creator: String,
    create_time: i64,
    last_modify_user: String,
    last_modify_time: i64,
}

/// The cron jobs.
#[derive(Debug)]
pub(super) struct Crons {
    crons: BTreeMap<i64, Cron>,
    next: i64,
}

impl Default for Crons {
    fn default() -> Self {
        let mut crons = BTreeMap::new();
        for (id, plan_id, name, enabled) in [
            (1, 1, "nightly backup", true),
            (2, 2, "hourly check", false),
            (3, 1, "weekly report", true),
        ] {
            crons.insert(
                id,
                Cron {
                    id,
                    plan_id,
                    name: name.to_owned(),
                    expression: "0 * * * *".to_owned(),
                    enabled,
                    creator: "admin".to_owned(),
                    create_time: SEED_S + id,
                    last_modify_user: "admin".to_owned(),
                    last_modify_time: SEED_S + id,
                },
            );
        }
        Self { crons, next: 4 }
    }
}

impl Crons {
    pub(super) fn list(&self, p: &Obj) -> JobResult {
        let scope = Scope::parse(p)?;
        let id = opt_i64(p, "id")?;
        let name = opt_string(p, "name")?.filter(|s| !s.is_empty());
        let status = opt_i32(p, "status")?;
        let creator = opt_string(p, "creator")?.filter(|s| !s.is_empty());
        let created = range(p, "create_time_start", "create_time_end")?;
        let rows: Vec<Value> = self
            .crons
            .values()
            .filter(|c| id.is_none_or(|i| c.id == i))
            .filter(|c| name.as_ref().is_none_or(|n| c.name.contains(n.as_str())))
            .filter(|c| status.is_none_or(|s| c.enabled == (s == CRON_STARTED)))
            .filter(|c| creator.as_ref().is_none_or(|x| &c.creator == x))
            .filter(|c| {
                created.0.is_none_or(|s| c.create_time >= s)
                    && created.1.is_none_or(|e| c.create_time <= e)
            })
            .map(|c| cron(c, &scope, true))
            .collect();
        page(rows, p)
    }

    pub(super) fn detail(&self, p: &Obj) -> JobResult {
        let scope = Scope::parse(p)?;
        let id = opt_i64(p, "id")?.ok_or_else(|| JobError::missing_or_invalid("id"))?;
        let c = self.crons.get(&id).ok_or_else(cron_not_found)?;
        Ok(cron(c, &scope, false))
    }

    pub(super) fn save(&mut self, p: &Obj, user: &str, now_s: i64) -> JobResult {
        let scope = Scope::parse(p)?;
        let id = opt_i64(p, "id")?.filter(|i| *i > 0);
        let plan_id = opt_i64(p, "job_plan_id")?;
        let name = non_blank(p, "name")?;
        let expression = non_blank(p, "expression")?;
        if let Some(e) = &expression {
            let fields = e.split_whitespace().count();
            if !(5..=7).contains(&fields) {
                return Err(JobError::new(
                    1_241_012,
                    "Invalid cron expression [expression]",
                ));
            }
        }
        if let Some(plan) = plan_id {
            if !Catalog::has_plan(plan) {
                return Err(JobError::new(1_243_009, "Job plan does not exist"));
            }
        }
        let c = match id {
            Some(id) => {
                let c = self.crons.get_mut(&id).ok_or_else(cron_not_found)?;
                if let Some(v) = plan_id {
                    c.plan_id = v;
                }
                if let Some(v) = name {
                    c.name = v;
                }
                if let Some(v) = expression {
                    c.expression = v;
                }
                c.enabled = false;
                c.last_modify_user = user.to_owned();
                c.last_modify_time = now_s;
                c.clone()
            }
            None => {
                let plan_id = plan_id.ok_or_else(|| JobError::missing_or_invalid("job_plan_id"))?;
                let name = name.ok_or_else(|| JobError::missing_or_invalid("name"))?;
                let expression =
                    expression.ok_or_else(|| JobError::missing_or_invalid("expression"))?;
                let id = self.next;
                self.next += 1;
                let c = Cron {
                    id,
                    plan_id,
                    name,
                    expression,
                    enabled: false,
                    creator: user.to_owned(),
                    create_time: now_s,
                    last_modify_user: user.to_owned(),
                    last_modify_time: now_s,
                };
                self.crons.insert(id, c.clone());
                c
            }
        };
        Ok(cron(&c, &scope, false))
    }

    pub(super) fn update_status(&mut self, p: &Obj, user: &str, now_s: i64) -> JobResult {
        let scope = Scope::parse(p)?;
        let id = opt_i64(p, "id")?.ok_or_else(|| JobError::missing_or_invalid("id"))?;
        let status = opt_i32(p, "status")?.ok_or_else(|| JobError::missing_or_invalid("status"))?;
        if status != CRON_STARTED && status != CRON_STOPPED {
            return Err(JobError::invalid("status"));
        }
        let c = self.crons.get_mut(&id).ok_or_else(cron_not_found)?;
        c.enabled = status == CRON_STARTED;
        c.last_modify_user = user.to_owned();
        c.last_modify_time = now_s;
        Ok(cron(c, &scope, false))
    }
}

fn cron_not_found() -> JobError {
    JobError::new(1_245_001, "Cron job does not exist")
}

/// A cron row (`EsbCronInfoV3DTO`); `listed`: stopped is 0 (as `get_cron_list` says it).
fn cron(c: &Cron, scope: &Scope, listed: bool) -> Value {
    let stopped = if listed { 0 } else { CRON_STOPPED };
    let mut m = json!({
        "id": c.id, "job_plan_id": c.plan_id, "name": c.name,
        "status": if c.enabled { CRON_STARTED } else { stopped },
        "expression": c.expression, "global_var_list": [], "creator": c.creator,
        "create_time": c.create_time, "last_modify_user": c.last_modify_user,
        "last_modify_time": c.last_modify_time, "execute_time_zone": "Asia/Shanghai",
    });
    if let Some(o) = m.as_object_mut() {
        scope.fill(o);
    }
    m
}

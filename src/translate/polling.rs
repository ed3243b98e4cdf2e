//! The polling calls as exchanges (`spec/bk-job-api.md` §3.5, §3.6; DESIGN §4.5):
//!
//! * `job/get_job_instance_status`: GET `get_job_instance_status`, then — when the fields
//!   v3 lacks (`bk_job_id`, `operator`, `start_way`) were not remembered at submit time —
//!   GET `get_job_instance_list` to look them up; the answer (or JOB's refusal) is handed
//!   back in [`Finished::remember`] so polling the same job causes no further lookups.
//!   A lookup that fails in transport is not remembered (the next poll tries again).
//! * `job/get_job_instance_log`: the status, then POST `batch_get_job_instance_ip_log` per
//!   batch of ≤ 500 hosts; a refused batch's answer is the client's answer.

use super::exchange::{CallError, Exchange, Finished, Outcome, Step, get, ok_data, post};
use super::status::{self, JobExtras, TypedStatus, V3Status, parse_v3_status};
use super::validate;
use super::{TranslateError, log};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use std::collections::VecDeque;

/// `job/get_job_instance_status` as an exchange.
pub struct StatusExchange {
    query: Vec<(String, String)>,
    job_instance_id: i64,
    tz: Tz,
    cached: Option<JobExtras>,
    status: Option<StatusData>,
}

impl StatusExchange {
    /// Read the legacy body (scope + `job_instance_id`).
    pub fn new(body: &Map<String, Value>, tz: Tz) -> Result<Self, TranslateError> {
        let q = validate::legacy_job_instance_query(body)?;
        Ok(Self {
            query: status_query(&q.scope, q.job_instance_id),
            job_instance_id: q.job_instance_id,
            tz,
            cached: None,
            status: None,
        })
    }

    /// The exchange for an already translated status request (the query of
    /// [`crate::translate::translate_request`] for `get_job_instance_status`).
    pub fn from_request(req: &super::UpstreamRequest, tz: Tz) -> Option<Self> {
        let job_instance_id = query_id(&req.query)?;
        Some(Self {
            query: req.query.clone(),
            job_instance_id,
            tz,
            cached: None,
            status: None,
        })
    }

    /// The job asked about (for the driver's cache look-up before [`Exchange::start`]).
    pub fn job_instance_id(&self) -> i64 {
        self.job_instance_id
    }

    /// What the driver remembered of this job.
    pub fn with_cached(mut self, cached: Option<JobExtras>) -> Self {
        self.cached = cached;
        self
    }

    fn finish(&mut self, found: Option<JobExtras>, definitive: bool) -> Step {
        let mut merged = self.cached.take().unwrap_or_default();
        if let Some(f) = found {
            merged.bk_job_id = merged.bk_job_id.or(f.bk_job_id);
            merged.operator = merged.operator.or(f.operator);
            merged.start_way = merged.start_way.or(f.start_way);
        }
        let remember = definitive.then(|| {
            let mut r = merged.clone();
            r.bk_job_id.get_or_insert(status::FALLBACK_BK_JOB_ID);
            r.operator
                .get_or_insert_with(|| status::FALLBACK_OPERATOR.to_owned());
            r.start_way.get_or_insert(status::FALLBACK_START_WAY);
            (self.job_instance_id, r)
        });
        let data = self.status.take().unwrap_or(StatusData::Tree(Value::Null));
        match data.read(|s| status::legacy_status(s, &merged, self.tz)) {
            Ok(d) => Step::Done(Finished {
                data: d,
                warnings: Vec::new(),
                remember,
            }),
            Err(e) => Step::Fail(CallError::bad_reply(&e)),
        }
    }
}

/// Query of the v3 status call.
fn status_query(scope: &super::scope::Scope, id: i64) -> Vec<(String, String)> {
    vec![
        ("bk_scope_type".to_owned(), scope.bk_scope_type.to_owned()),
        ("bk_scope_id".to_owned(), scope.bk_scope_id.clone()),
        ("job_instance_id".to_owned(), id.to_string()),
        ("return_ip_result".to_owned(), "true".to_owned()),
    ]
}

/// `job_instance_id` of a status query.
fn query_id(query: &[(String, String)]) -> Option<i64> {
    query
        .iter()
        .find(|(k, _)| k == "job_instance_id")
        .and_then(|(_, v)| v.parse().ok())
}

fn complete(c: &JobExtras) -> bool {
    c.bk_job_id.is_some() && c.operator.is_some() && c.start_way.is_some()
}

impl Exchange for StatusExchange {
    fn start(&mut self) -> Step {
        Step::Call(get("get_job_instance_status", self.query.clone()))
    }

    fn reads_typed_status(&self) -> bool {
        true
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        if self.status.is_none() {
            let data = match StatusData::of(outcome) {
                Ok(d) => d,
                Err(step) => return step,
            };
            // The lookup is only worth its query when the job memory lacks a fact.
            let lookup = if self.cached.as_ref().is_some_and(complete) {
                None
            } else {
                data.read(|s| Ok(status::job_list_query_of(s)))
                    .ok()
                    .flatten()
            };
            self.status = Some(data);
            return match lookup {
                Some(q) => Step::Call(get("get_job_instance_list", q)),
                None => self.finish(None, false),
            };
        }
        // The lookup's answer: JOB's answer or a refusal are definitive.
        let id = self.job_instance_id;
        match outcome {
            Outcome::Reply(r) if r.is_ok() => {
                let found = status::extras_from_job_list(&r.data, id);
                self.finish(found, true)
            }
            Outcome::Reply(_) => self.finish(None, true),
            Outcome::Failed { definitive } => self.finish(None, definitive),
        }
    }
}

/// `job/get_job_instance_log` as an exchange.
pub struct LogExchange {
    query: Vec<(String, String)>,
    tz: Tz,
    status: Option<StatusData>,
    batches: VecDeque<Value>,
    logs: Vec<Value>,
}

impl LogExchange {
    /// Read the legacy body (scope + `job_instance_id`).
    pub fn new(body: &Map<String, Value>, tz: Tz) -> Result<Self, TranslateError> {
        let q = validate::legacy_job_instance_query(body)?;
        Ok(Self {
            query: status_query(&q.scope, q.job_instance_id),
            tz,
            status: None,
            batches: VecDeque::new(),
            logs: Vec::new(),
        })
    }

    /// The exchange for an already translated status request (see
    /// [`StatusExchange::from_request`]).
    pub fn from_request(req: &super::UpstreamRequest, tz: Tz) -> Option<Self> {
        query_id(&req.query)?;
        Some(Self {
            query: req.query.clone(),
            tz,
            status: None,
            batches: VecDeque::new(),
            logs: Vec::new(),
        })
    }

    fn next(&mut self) -> Step {
        if let Some(body) = self.batches.pop_front() {
            return Step::Call(post("batch_get_job_instance_ip_log", body));
        }
        let tree = StatusData::Tree(Value::Null);
        let data = self.status.as_ref().unwrap_or(&tree);
        match data.read(|s| log::legacy_log(s, &self.logs, self.tz)) {
            Ok(d) => Step::Done(Finished::data(d)),
            Err(e) => Step::Fail(CallError::bad_reply(&e)),
        }
    }
}

impl Exchange for LogExchange {
    fn start(&mut self) -> Step {
        Step::Call(get("get_job_instance_status", self.query.clone()))
    }

    fn reads_typed_status(&self) -> bool {
        true
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        if self.status.is_none() {
            let data = match StatusData::of(outcome) {
                Ok(d) => d,
                Err(step) => return step,
            };
            // Malformed status data needs no batch: it fails once all are in.
            self.batches = data
                .read(|s| Ok(log::batches_of(s)))
                .unwrap_or_default()
                .into_iter()
                .map(|b| b.body)
                .collect();
            self.status = Some(data);
        } else {
            match ok_data(outcome) {
                Ok(d) => self.logs.push(d),
                Err(step) => return step,
            }
        }
        self.next()
    }
}

/// The `data` of a status reply: read straight from the reply's text, or its tree, read
/// where it is used (so malformed data fails where it always did).
enum StatusData {
    Typed(Box<TypedStatus>),
    Tree(Value),
}

impl StatusData {
    /// The status data of a successful reply, else the step its refusal or failure leads
    /// to.
    fn of(outcome: Outcome) -> Result<Self, Step> {
        match outcome {
            Outcome::Reply(mut r) if r.is_ok() => Ok(match r.status.take() {
                Some(s) => StatusData::Typed(s),
                None => StatusData::Tree(r.data),
            }),
            other => ok_data(other).map(StatusData::Tree),
        }
    }

    /// `f` of the status read from it.
    fn read<T>(
        &self,
        f: impl FnOnce(&V3Status<'_>) -> Result<T, TranslateError>,
    ) -> Result<T, TranslateError> {
        match self {
            StatusData::Typed(s) => f(&s.0),
            StatusData::Tree(v) => f(&parse_v3_status(v)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::envelope::EsbResp;
    use crate::translate::exchange::drive;
    use serde_json::json;

    fn ok(data: Value) -> Outcome {
        Outcome::Reply(EsbResp {
            code: 0,
            message: None,
            data,
            permission: None,
            job_request_id: None,
            status: None,
        })
    }

    fn body() -> Map<String, Value> {
        match json!({"bk_biz_id": 2, "job_instance_id": 10}) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn status_data() -> Value {
        json!({"finished": true, "job_instance": {"job_instance_id": 10, "bk_scope_type": "biz",
               "bk_scope_id": "2", "name": "j", "status": 3, "create_time": 1_700_000_000_000_i64,
               "start_time": 1_700_000_000_000_i64, "end_time": 1_700_000_001_000_i64, "total_time": 1000},
               "step_instance_list": [{"step_instance_id": 20, "name": "s", "type": 1, "status": 3,
                 "execute_count": 0, "step_ip_result_list": [{"bk_host_id": 101, "ip": "10.0.0.1",
                 "bk_cloud_id": 0, "status": 9, "tag": "", "exit_code": 0, "error_code": 0}]}]})
    }

    #[test]
    fn status_looks_up_extras_and_remembers_them() {
        let mut ex = StatusExchange::new(&body(), chrono_tz::Asia::Shanghai)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut n = 0;
        let (sent, step) = drive(&mut ex, |_| {
            n += 1;
            if n == 1 {
                ok(status_data())
            } else {
                ok(
                    json!({"data": [{"job_instance_id": 10, "job_plan_id": 7, "operator": "bob", "launch_mode": 1}]}),
                )
            }
        });
        assert_eq!(sent[1].resource, "get_job_instance_list");
        match step {
            Step::Done(f) => {
                assert_eq!(f.data.tree()["job_instance"]["bk_job_id"], 7);
                assert_eq!(f.data.tree()["job_instance"]["operator"], "bob");
                let (id, r) = f.remember.unwrap_or_default();
                assert_eq!((id, r.start_way), (10, Some(1)));
            }
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn built_from_the_translated_request() {
        let route = crate::translate::Route::GetJobInstanceStatus;
        let t = crate::translate::translate_request(&route, body(), &Default::default())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let ex = StatusExchange::from_request(&t.request, chrono_tz::UTC);
        assert_eq!(ex.map(|e| e.job_instance_id()), Some(10));
        assert!(LogExchange::from_request(&t.request, chrono_tz::UTC).is_some());
    }

    #[test]
    fn status_uses_the_cache_and_does_not_remember_a_transport_failure() {
        let cached = JobExtras {
            bk_job_id: Some(-1),
            operator: Some("me".into()),
            start_way: Some(2),
        };
        let mut ex = StatusExchange::new(&body(), chrono_tz::Asia::Shanghai)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .with_cached(Some(cached));
        let (sent, step) = drive(&mut ex, |_| ok(status_data()));
        assert_eq!(sent.len(), 1);
        assert!(matches!(step, Step::Done(f) if f.data.tree()["job_instance"]["operator"] == "me"));

        let mut ex = StatusExchange::new(&body(), chrono_tz::Asia::Shanghai)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut n = 0;
        let (_, step) = drive(&mut ex, |_| {
            n += 1;
            if n == 1 {
                ok(status_data())
            } else {
                Outcome::Failed { definitive: false }
            }
        });
        assert!(matches!(step, Step::Done(f) if f.remember.is_none()
            && f.data.tree()["job_instance"]["bk_job_id"] == -1));
    }

    #[test]
    fn log_fetches_batches_and_passes_on_a_refused_batch() {
        let mut ex = LogExchange::new(&body(), chrono_tz::Asia::Shanghai)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut n = 0;
        let (sent, step) = drive(&mut ex, |_| {
            n += 1;
            if n == 1 {
                ok(status_data())
            } else {
                ok(
                    json!({"job_instance_id": 10, "step_instance_id": 20, "log_type": 1,
                          "script_task_logs": [{"bk_host_id": 101, "ip": "10.0.0.1", "bk_cloud_id": 0, "log_content": "a<b"}]}),
                )
            }
        });
        assert_eq!(sent[1].resource, "batch_get_job_instance_ip_log");
        match step {
            Step::Done(f) => assert_eq!(
                f.data.tree()[0]["step_results"][0]["ip_logs"][0]["log_content"],
                "a&lt;b"
            ),
            other => unreachable!("{other:?}"),
        }
        let refused = EsbResp {
            code: 1_259_001,
            message: Some("no".into()),
            data: Value::Null,
            permission: None,
            job_request_id: None,
            status: None,
        };
        let mut ex = LogExchange::new(&body(), chrono_tz::Asia::Shanghai)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut n = 0;
        let (_, step) = drive(&mut ex, |_| {
            n += 1;
            if n == 1 {
                ok(status_data())
            } else {
                Outcome::Reply(refused.clone())
            }
        });
        assert_eq!(step, Step::PassOn(refused));
    }
}

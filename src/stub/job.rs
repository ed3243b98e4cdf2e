//! The bk-job half of the emulator: request validation, the `EsbResp` envelope, and a
//! small in-memory model of job instances whose status advances with time.
//!
//! Sources: `spec/bk-job-api.md` §2 (request/response shapes, validation), §5.1 (codes
//! and messages), §8 (status numbers); bk-job `EsbIpLogsV3DTO`, `EsbScriptHostLogV3DTO`,
//! `EsbFileIpLogV3DTO`, `EsbFileLogV3DTO`, `EsbTaskInstanceV3DTO`, `EsbPageDataV3`,
//! `EsbGetJobInstanceListV3ResourceImpl`, `EsbBatchGetJobInstanceIpLogV3ResourceImpl`,
//! `message_en.properties`, `ValidationMessages_en.properties`, and the APIGW docs under
//! `support-files/bk-api-gateway/v3/apidocs/en/`.

mod catalog;
mod crons;
mod exec;
mod query;
mod start;

use super::value::{
    BadRequest, Obj, as_i64, as_object, is_bk_ipv4, non_blank, opt_array, opt_bool, opt_i32,
    opt_i64, opt_object, opt_string,
};
use crate::translate::scope::Scope as BizScope;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Highest job timeout bk-job accepts by default (`JobConstants`, per-scope configurable).
const MAX_TIMEOUT: i64 = 259_200;
/// Default `timeout` when absent.
const DEFAULT_TIMEOUT: i64 = 7200;
/// Host limit of `batch_get_job_instance_ip_log` (`MAX_BATCH_SEARCH_LOGS_HOSTS_LIMIT`).
const MAX_LOG_HOSTS: usize = 500;
/// Longest `get_job_instance_list` window (`MAX_SEARCH_TASK_HISTORY_RANGE_MILLS`, 30 days).
const MAX_LIST_RANGE_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Job instances kept in memory; the oldest are forgotten beyond this.
const MAX_JOBS: usize = 10_000;
/// First job instance id.
const FIRST_JOB_ID: i64 = 10_000;
/// First step instance id.
const FIRST_STEP_ID: i64 = 20_000;
/// First host id handed out to hosts given by IP.
const FIRST_HOST_ID: i64 = 101;
/// Hosts used when a request names none statically (plans, dynamic groups, topo nodes).
const DEFAULT_HOSTS: [(i64, &str); 2] = [(0, "127.0.0.1"), (0, "127.0.0.2")];

/// Status numbers (`RunStatusEnum`, `ExecuteObjectTaskStatusEnum`; spec §8).
mod st {
    pub(super) const BLANK: i64 = 1;
    pub(super) const RUNNING: i64 = 2;
    pub(super) const SUCCESS: i64 = 3;
    pub(super) const STOP_SUCCESS: i64 = 11;
    pub(super) const HOST_WAITING: i64 = 5;
    pub(super) const HOST_RUNNING: i64 = 7;
    pub(super) const HOST_SUCCESS: i64 = 9;
    pub(super) const HOST_TERMINATED: i64 = 403;
}

/// A bk-job business error: HTTP 200, `result:false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JobError {
    pub(super) code: i64,
    pub(super) message: String,
}

impl JobError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// 1240003 with a bean-validation message.
    fn bad(message: &str) -> Self {
        Self::new(1_240_003, message)
    }
    /// 1241004 `Missing request parameter [p]`.
    fn missing(p: &str) -> Self {
        Self::new(1_241_004, format!("Missing request parameter [{p}]"))
    }
    /// 1241005 `Invalid request parameter [p]`.
    fn invalid(p: &str) -> Self {
        Self::new(1_241_005, format!("Invalid request parameter [{p}]"))
    }
    /// 1241007 `Missing or invalid request parameter [p]`.
    fn missing_or_invalid(p: &str) -> Self {
        Self::new(
            1_241_007,
            format!("Missing or invalid request parameter [{p}]"),
        )
    }
    fn task_not_found() -> Self {
        Self::new(1_244_006, "Task instance does not exist")
    }
}

impl From<BadRequest> for JobError {
    fn from(_: BadRequest) -> Self {
        Self::bad("Bad Request")
    }
}

type JobResult = Result<Value, JobError>;

/// Everything a bk-job handler needs besides the state.
pub(super) struct Call<'a> {
    /// v3 resource name.
    pub(super) resource: &'a str,
    /// Request parameters: the JSON body for POST, the query as strings for GET.
    pub(super) params: &'a Obj,
    /// Operator (the user the gateway vouched for).
    pub(super) username: &'a str,
    /// Current time, ms since the epoch.
    pub(super) now: i64,
    /// How long a started job runs, ms.
    pub(super) run_ms: i64,
}

/// The resource scope of a request or a job.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    kind: String,
    id: String,
}

impl Scope {
    /// `bk_scope_type` + `bk_scope_id`, or the compatible `bk_biz_id` (spec §2.0).
    fn parse(p: &Obj) -> Result<Self, JobError> {
        let kind = opt_string(p, "bk_scope_type")?.unwrap_or_default();
        let id = opt_string(p, "bk_scope_id")?.unwrap_or_default();
        let biz = opt_i64(p, "bk_biz_id")?;
        if kind.is_empty() && id.is_empty() {
            if let Some(biz) = biz {
                if biz < 1 {
                    return Err(JobError::bad("Invalid bk_biz_id"));
                }
                let s = BizScope::from_biz_id(biz);
                return Ok(Self {
                    kind: s.bk_scope_type.to_owned(),
                    id: s.bk_scope_id,
                });
            }
        }
        if kind != "biz" && kind != "biz_set" {
            return Err(JobError::bad("Invalid bk_scope_type"));
        }
        if id.trim().is_empty() {
            return Err(JobError::bad("Invalid bk_scope_id"));
        }
        Ok(Self { kind, id })
    }

    /// `bk_scope_type`, `bk_scope_id` and (compatibility on, the default) `bk_biz_id`.
    fn fill(&self, m: &mut Map<String, Value>) {
        m.insert("bk_scope_type".into(), Value::from(self.kind.as_str()));
        m.insert("bk_scope_id".into(), Value::from(self.id.as_str()));
        if let Ok(id) = self.id.parse::<i64>() {
            m.insert("bk_biz_id".into(), Value::from(id));
        }
    }
}

/// A host known to the stub (its "CMDB").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    id: i64,
    cloud: i64,
    ip: String,
}

/// Host ids for hosts given by IP, and synthetic IPs for hosts given by id.
#[derive(Debug, Default)]
struct Hosts {
    by_id: HashMap<i64, (i64, String)>,
    by_ip: HashMap<(i64, String), i64>,
    next_id: i64,
}

impl Hosts {
    fn new() -> Self {
        let mut h = Self {
            next_id: FIRST_HOST_ID,
            ..Self::default()
        };
        for (cloud, ip) in DEFAULT_HOSTS {
            h.by_ip_or_new(cloud, ip);
        }
        h
    }

    fn host(&self, id: i64) -> Option<Host> {
        self.by_id.get(&id).map(|(cloud, ip)| Host {
            id,
            cloud: *cloud,
            ip: ip.clone(),
        })
    }

    fn by_ip_or_new(&mut self, cloud: i64, ip: &str) -> Host {
        let key = (cloud, ip.to_owned());
        if let Some(id) = self.by_ip.get(&key) {
            return Host {
                id: *id,
                cloud,
                ip: ip.to_owned(),
            };
        }
        while self.by_id.contains_key(&self.next_id) {
            self.next_id += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_id.insert(id, key.clone());
        self.by_ip.insert(key, id);
        Host {
            id,
            cloud,
            ip: ip.to_owned(),
        }
    }

    /// A host given only by id: known, or registered with an IP derived from the id.
    fn by_id_or_new(&mut self, id: i64) -> Host {
        if let Some(h) = self.host(id) {
            return h;
        }
        let ip = format!(
            "10.{}.{}.{}",
            (id >> 16) & 0xff,
            (id >> 8) & 0xff,
            id & 0xff
        );
        let key = (0, ip.clone());
        self.by_id.insert(id, key.clone());
        self.by_ip.entry(key).or_insert(id);
        Host { id, cloud: 0, ip }
    }
}

/// A static host list from a `server` object (`EsbServerV3DTO`).
#[derive(Debug, Default)]
struct Server {
    host_ids: Vec<i64>,
    ips: Vec<(i64, String)>,
    /// Dynamic groups + topo nodes: resolved to [`DEFAULT_HOSTS`] by the stub.
    dynamic: usize,
}

impl Server {
    /// Parse and bean-validate a `server` object.
    fn parse(o: &Obj) -> Result<Self, JobError> {
        let mut s = Self::default();
        for v in opt_array(o, "host_id_list")?.unwrap_or_default() {
            s.host_ids.push(as_i64(v)?.ok_or(BadRequest)?);
        }
        for v in opt_array(o, "ip_list")?.unwrap_or_default() {
            let Some(ip) = as_object(v)? else { continue };
            let cloud = opt_i64(ip, "bk_cloud_id")?
                .filter(|c| *c >= 0)
                .ok_or_else(|| JobError::bad("Invalid bk_cloud_id"))?;
            let addr = opt_string(ip, "ip")?
                .filter(|a| is_bk_ipv4(a))
                .ok_or_else(|| JobError::bad("Invalid Ip"))?;
            s.ips.push((cloud, addr));
        }
        for v in opt_array(o, "dynamic_group_list")?.unwrap_or_default() {
            let Some(g) = as_object(v)? else { continue };
            non_blank(g, "id")?.ok_or_else(|| JobError::bad("DynamicGroup ID cannot be empty"))?;
            s.dynamic += 1;
        }
        for v in opt_array(o, "topo_node_list")?.unwrap_or_default() {
            let Some(n) = as_object(v)? else { continue };
            opt_i64(n, "id")?.ok_or(BadRequest)?;
            non_blank(n, "node_type")?.ok_or(BadRequest)?;
            s.dynamic += 1;
        }
        Ok(s)
    }

    fn is_empty(&self) -> bool {
        self.host_ids.is_empty() && self.ips.is_empty() && self.dynamic == 0
    }

    /// Resolve to host ids: `host_id_list` wins over `ip_list` (spec §2.1); groups and
    /// topo nodes add the default hosts.
    fn resolve(&self, hosts: &mut Hosts, out: &mut Vec<i64>) {
        if !self.host_ids.is_empty() {
            out.extend(self.host_ids.iter().map(|id| hosts.by_id_or_new(*id).id));
        } else {
            out.extend(self.ips.iter().map(|(c, ip)| hosts.by_ip_or_new(*c, ip).id));
        }
        if self.dynamic > 0 {
            out.extend(
                DEFAULT_HOSTS
                    .iter()
                    .map(|(c, ip)| hosts.by_ip_or_new(*c, ip).id),
            );
        }
    }
}

fn dedup(ids: &mut Vec<i64>) {
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(*id));
}

/// Step type numbers (`type` in status responses, `log_type` in log responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Script = 1,
    File = 2,
}

/// Files one source host provides to a file step.
#[derive(Debug, Clone)]
struct FileSource {
    /// `None` for third-party file sources (no agent host).
    host: Option<i64>,
    files: Vec<String>,
}

#[derive(Debug, Clone)]
struct Step {
    id: i64,
    name: String,
    kind: StepKind,
    targets: Vec<i64>,
    sources: Vec<FileSource>,
    target_dir: String,
    target_name: Option<String>,
}

/// Task type numbers of `get_job_instance_list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskType {
    Plan = 0,
    Script = 1,
    File = 2,
}

#[derive(Debug, Clone)]
struct Job {
    id: i64,
    name: String,
    scope: Scope,
    operator: String,
    plan_id: i64,
    task_type: TaskType,
    create_time: i64,
    run_ms: i64,
    started: bool,
    terminated_at: Option<i64>,
    steps: Vec<Step>,
}

/// Where a job or step is in its life at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running { start: i64 },
    Done { start: i64, end: i64 },
    Stopped { start: i64, end: i64 },
}

impl Job {
    fn natural_end(&self) -> i64 {
        self.create_time.saturating_add(self.run_ms)
    }

    fn phase(&self, now: i64) -> Phase {
        let start = self.create_time;
        if !self.started {
            return Phase::Pending;
        }
        match self.terminated_at {
            Some(t) if t < self.natural_end() => Phase::Stopped { start, end: t },
            _ if now >= self.natural_end() => Phase::Done {
                start,
                end: self.natural_end(),
            },
            _ => Phase::Running { start },
        }
    }

    /// Steps run one after another, each for an equal share of the run time.
    fn step_phase(&self, index: usize, now: i64) -> Phase {
        if !self.started {
            return Phase::Pending;
        }
        let n = i64::try_from(self.steps.len()).unwrap_or(1).max(1);
        let i = i64::try_from(index).unwrap_or(0);
        let s = self
            .create_time
            .saturating_add(self.run_ms.saturating_mul(i) / n);
        let e = self
            .create_time
            .saturating_add(self.run_ms.saturating_mul(i + 1) / n);
        match self.terminated_at {
            Some(t) if t < e => {
                if t < s {
                    Phase::Pending
                } else {
                    Phase::Stopped { start: s, end: t }
                }
            }
            _ if now < s => Phase::Pending,
            _ if now < e => Phase::Running { start: s },
            _ => Phase::Done { start: s, end: e },
        }
    }
}

/// `(status, start_time, end_time, total_time)` of a job or step phase.
fn times(phase: Phase) -> (i64, Value, Value, Value) {
    match phase {
        Phase::Pending => (st::BLANK, Value::Null, Value::Null, Value::Null),
        Phase::Running { start } => (st::RUNNING, start.into(), Value::Null, Value::Null),
        Phase::Done { start, end } => (
            st::SUCCESS,
            start.into(),
            end.into(),
            end.saturating_sub(start).into(),
        ),
        Phase::Stopped { start, end } => (
            st::STOP_SUCCESS,
            start.into(),
            end.into(),
            end.saturating_sub(start).into(),
        ),
    }
}

/// The emulator's memory.
#[derive(Debug)]
pub(super) struct State {
    next_job_id: i64,
    next_step_id: i64,
    jobs: BTreeMap<i64, Job>,
    hosts: Hosts,
    catalog: catalog::Catalog,
}

impl Default for State {
    fn default() -> Self {
        Self {
            next_job_id: FIRST_JOB_ID,
            next_step_id: FIRST_STEP_ID,
            jobs: BTreeMap::new(),
            hosts: Hosts::new(),
            catalog: catalog::Catalog::default(),
        }
    }
}

impl State {
    /// Run one bk-job resource. `Ok` is the `data` of a successful `EsbResp`.
    pub(super) fn call(&mut self, c: &Call<'_>) -> JobResult {
        match c.resource {
            "execute_job_plan" => self.execute_job_plan(c),
            "fast_execute_script" => self.fast_execute_script(c),
            "fast_transfer_file" => self.fast_transfer_file(c),
            "get_job_instance_status" => self.get_job_instance_status(c),
            "get_job_instance_ip_log" => self.get_job_instance_ip_log(c),
            "batch_get_job_instance_ip_log" => self.batch_get_job_instance_ip_log(c),
            "get_job_instance_list" => self.get_job_instance_list(c),
            "operate_job_instance" => self.operate_job_instance(c),
            "fast_execute_sql" => self.fast_execute_sql(c),
            "push_config_file" => self.push_config_file(c),
            "bkci_plugin_fast_execute_script" => self.bkci_plugin_fast_execute_script(c),
            "operate_step_instance" => self.operate_step_instance(c),
            "get_step_instance_status" => self.get_step_instance_status(c),
            "get_job_instance_global_var_value" => self.get_job_instance_global_var_value(c),
            other => {
                if let Some(r) = self.catalog.call(other, c.params, c.username, c.now) {
                    return r;
                }
                Scope::parse(c.params)?;
                if other.ends_with("_list") {
                    Ok(json!({"start": 0, "length": 20, "total": 0}))
                } else {
                    Err(JobError::new(1_241_011, "Not support yet"))
                }
            }
        }
    }
}

/// `step_ip_result_list[]` item for a host in a step phase.
fn ip_result(h: &Host, sp: Phase) -> Value {
    let (status, start, end, total) = match sp {
        Phase::Pending => (st::HOST_WAITING, Value::Null, Value::Null, Value::Null),
        Phase::Running { start } => (st::HOST_RUNNING, start.into(), Value::Null, Value::Null),
        Phase::Done { start, end } => (
            st::HOST_SUCCESS,
            start.into(),
            end.into(),
            end.saturating_sub(start).into(),
        ),
        Phase::Stopped { start, end } => (
            st::HOST_TERMINATED,
            start.into(),
            end.into(),
            end.saturating_sub(start).into(),
        ),
    };
    json!({
        "bk_host_id": h.id,
        "ip": h.ip,
        "bk_cloud_id": h.cloud,
        "status": status,
        "tag": "",
        "exit_code": 0,
        "error_code": 0,
        "start_time": start,
        "end_time": end,
        "total_time": total,
    })
}

/// `timeout` (default 7200) must be within 1..=259200 (`ValidTimeoutLimit`).
fn check_timeout(p: &Obj) -> Result<(), JobError> {
    let timeout = opt_i32(p, "timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    if !(1..=MAX_TIMEOUT).contains(&timeout) {
        return Err(JobError::bad(&format!(
            "Job timeout must be between 1 and {MAX_TIMEOUT}"
        )));
    }
    Ok(())
}

/// `callback_url`: blank, or `http(s)://host...` without userinfo (`@ValidCallbackUrl`).
fn check_callback(p: &Obj) -> Result<(), JobError> {
    let Some(url) = non_blank(p, "callback_url")? else {
        return Ok(());
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let ok = authority.is_some_and(|a| {
        let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
        !a.contains('@') && !host.is_empty()
    });
    if ok {
        Ok(())
    } else {
        Err(JobError::bad(
            "Callback url is invalid or not in the allowed list",
        ))
    }
}

/// Decoded length of a Base64 text, read as leniently as bk-job's commons-codec decoder
/// (the shim's own check, so that the shim and its default upstream agree).
fn decoded_len(s: &str) -> Option<usize> {
    crate::translate::validate::base64_len(s, &crate::translate::validate::Path::ROOT).ok()
}

/// The `EsbResp` envelope (NON_NULL at the top level: no `message` on success, no
/// `data` on error).
pub(super) fn envelope(result: Result<Value, JobError>) -> Value {
    let job_request_id = uuid::Uuid::new_v4().simple().to_string();
    match result {
        Ok(data) => json!({
            "result": true,
            "code": 0,
            "data": data,
            "job_request_id": job_request_id,
        }),
        Err(e) => json!({
            "result": false,
            "code": e.code,
            "message": e.message,
            "job_request_id": job_request_id,
        }),
    }
}

/// Parse a POST body for bk-job (malformed → `1240003 Bad Request`).
pub(super) fn body_params(body: &[u8]) -> Result<Obj, JobError> {
    Ok(super::value::parse_body(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_phases_split_run_time() {
        let mut job = Job {
            id: 1,
            name: "j".into(),
            scope: Scope {
                kind: "biz".into(),
                id: "1".into(),
            },
            operator: "u".into(),
            plan_id: 1,
            task_type: TaskType::Plan,
            create_time: 1000,
            run_ms: 100,
            started: true,
            terminated_at: None,
            steps: Vec::new(),
        };
        for id in [1, 2] {
            job.steps.push(Step {
                id,
                name: String::new(),
                kind: StepKind::Script,
                targets: vec![],
                sources: vec![],
                target_dir: String::new(),
                target_name: None,
            });
        }
        assert_eq!(job.step_phase(0, 1000), Phase::Running { start: 1000 });
        assert_eq!(job.step_phase(1, 1000), Phase::Pending);
        assert_eq!(
            job.step_phase(0, 1050),
            Phase::Done {
                start: 1000,
                end: 1050
            }
        );
        assert_eq!(job.step_phase(1, 1050), Phase::Running { start: 1050 });
        assert_eq!(job.phase(1099), Phase::Running { start: 1000 });
        assert_eq!(
            job.phase(1100),
            Phase::Done {
                start: 1000,
                end: 1100
            }
        );
        job.terminated_at = Some(1020);
        assert_eq!(
            job.phase(1200),
            Phase::Stopped {
                start: 1000,
                end: 1020
            }
        );
        assert_eq!(
            job.step_phase(0, 1200),
            Phase::Stopped {
                start: 1000,
                end: 1020
            }
        );
        assert_eq!(job.step_phase(1, 1200), Phase::Pending);
        job.run_ms = 0;
        job.terminated_at = None;
        assert_eq!(
            job.phase(1000),
            Phase::Done {
                start: 1000,
                end: 1000
            }
        );
    }

    #[test]
    fn callback_urls() {
        let check = |u: &str| {
            let mut o = Obj::new();
            o.insert("callback_url".into(), u.into());
            check_callback(&o).is_ok()
        };
        assert!(check(""));
        assert!(check("http://example.com/cb"));
        assert!(check("https://example.com:8443"));
        assert!(!check("ftp://example.com"));
        assert!(!check("http://user:pw@example.com/"));
        assert!(!check("http:///path"));
    }

    #[test]
    fn host_registry() {
        let mut h = Hosts::new();
        assert_eq!(h.by_ip_or_new(0, "127.0.0.1").id, 101);
        assert_eq!(h.by_ip_or_new(0, "127.0.0.2").id, 102);
        assert_eq!(h.by_id_or_new(103).ip, "10.0.0.103");
        assert_eq!(h.by_ip_or_new(0, "1.1.1.1").id, 104);
        assert_eq!(h.by_id_or_new(101).ip, "127.0.0.1");
    }
}

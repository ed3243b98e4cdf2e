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

    fn new_step(&mut self, name: String, kind: StepKind, targets: Vec<i64>) -> Step {
        let id = self.next_step_id;
        self.next_step_id += 1;
        Step {
            id,
            name,
            kind,
            targets,
            sources: Vec::new(),
            target_dir: String::new(),
            target_name: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_job(
        &mut self,
        c: &Call<'_>,
        scope: Scope,
        name: String,
        plan_id: i64,
        task_type: TaskType,
        started: bool,
        steps: Vec<Step>,
    ) -> JobResult {
        let id = self.next_job_id;
        self.next_job_id += 1;
        let step_instance_id = match task_type {
            TaskType::Plan => Value::Null,
            TaskType::Script | TaskType::File => steps.first().map_or(Value::Null, |s| s.id.into()),
        };
        let job = Job {
            id,
            name: name.clone(),
            scope,
            operator: c.username.to_owned(),
            plan_id,
            task_type,
            create_time: c.now,
            run_ms: c.run_ms,
            started,
            terminated_at: None,
            steps,
        };
        self.jobs.insert(id, job);
        while self.jobs.len() > MAX_JOBS {
            self.jobs.pop_first();
        }
        Ok(json!({
            "job_instance_id": id,
            "job_instance_name": name,
            "step_instance_id": step_instance_id,
        }))
    }

    /// `POST /api/v3/execute_job_plan` (spec §2.1). Any plan id > 0 exists: a script
    /// step and a file step on the hosts of the request's host variables.
    fn execute_job_plan(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        let mut servers = Vec::new();
        let vars = opt_array(p, "global_var_list")?.unwrap_or_default();
        for v in vars {
            let Some(var) = as_object(v)? else { continue };
            let id = opt_i64(var, "id")?;
            opt_string(var, "value")?;
            if id.is_some_and(|id| id < 1) {
                return Err(JobError::bad("Invalid id of globalVar"));
            }
            if let Some(server) = opt_object(var, "server")? {
                servers.push(Server::parse(server)?);
            }
        }
        check_callback(p)?;
        let start_task = opt_bool(p, "start_task")?.unwrap_or(true);
        let plan_id = opt_i64(p, "job_plan_id")?
            .filter(|id| *id > 0)
            .ok_or_else(|| JobError::invalid("job_plan_id"))?;
        for v in vars {
            let Some(var) = as_object(v)? else { continue };
            let by_id = opt_i64(var, "id")?.is_some_and(|id| id > 0);
            if !by_id && non_blank(var, "name")?.is_none() {
                return Err(JobError::invalid("global_var.id|global_var.name"));
            }
        }
        let mut targets = Vec::new();
        for s in &servers {
            s.resolve(&mut self.hosts, &mut targets);
        }
        if targets.is_empty() {
            Server {
                dynamic: 1,
                ..Server::default()
            }
            .resolve(&mut self.hosts, &mut targets);
        }
        dedup(&mut targets);
        let script = self.new_step(
            "step 1: run script".into(),
            StepKind::Script,
            targets.clone(),
        );
        let source = targets.first().copied();
        let mut file = self.new_step("step 2: distribute file".into(), StepKind::File, targets);
        file.sources.push(FileSource {
            host: source,
            files: vec!["/data/stub/报表-report.txt".into()],
        });
        file.target_dir = "/tmp/stub/".into();
        self.start_job(
            c,
            scope,
            format!("job_plan_{plan_id}"),
            plan_id,
            TaskType::Plan,
            start_task,
            vec![script, file],
        )
    }

    /// `POST /api/v3/fast_execute_script` (spec §2.2).
    fn fast_execute_script(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        let task_name = opt_string(p, "task_name")?;
        let target = opt_object(p, "target_server")?
            .map(Server::parse)
            .transpose()?;
        check_timeout(p)?;
        check_callback(p)?;
        let start_task = opt_bool(p, "start_task")?.unwrap_or(true);
        let sensitive = opt_i32(p, "is_param_sensitive")?.unwrap_or(0) == 1;
        let language = opt_i32(p, "script_language")?;
        let account_id = opt_i64(p, "account_id")?;
        let account_alias = non_blank(p, "account_alias")?;
        if let Some(v) = opt_i64(p, "script_version_id")? {
            if v < 1 {
                return Err(JobError::invalid("script_version_id"));
            }
        } else if non_blank(p, "script_id")?.is_some() {
        } else if let Some(content) = non_blank(p, "script_content")? {
            if decoded_len(&content).is_none() {
                return Err(JobError::invalid("script_content"));
            }
            if !language.is_some_and(|l| (1..=5).contains(&l)) {
                return Err(JobError::invalid("script_language"));
            }
        } else {
            return Err(JobError::missing(
                "script_version_id|script_id|script_content",
            ));
        }
        if let Some(param) = non_blank(p, "script_param")? {
            let limit = if sensitive { 48_128 } else { 65_535 };
            if decoded_len(&param).is_none_or(|len| len > limit) {
                return Err(JobError::invalid("script_param"));
            }
        }
        if account_id.is_none() && account_alias.is_none() {
            return Err(JobError::missing("account_id|account_alias"));
        }
        let target = target.ok_or_else(|| JobError::missing("target_server"))?;
        if target.is_empty() {
            return Err(JobError::new(1_244_001, "Host is empty"));
        }
        let mut targets = Vec::new();
        target.resolve(&mut self.hosts, &mut targets);
        dedup(&mut targets);
        let name = task_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("API Quick execution script{}", c.now));
        let step = self.new_step(name.clone(), StepKind::Script, targets);
        self.start_job(c, scope, name, -1, TaskType::Script, start_task, vec![step])
    }

    /// `POST /api/v3/fast_transfer_file` (spec §2.3).
    fn fast_transfer_file(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        let task_name = opt_string(p, "task_name")?;
        let target = opt_object(p, "target_server")?
            .map(Server::parse)
            .transpose()?;
        let mut sources = Vec::new();
        for v in opt_array(p, "file_source_list")?.unwrap_or_default() {
            let Some(src) = as_object(v)? else { continue };
            let file_type = opt_i32(src, "file_type")?.unwrap_or(1);
            let mut files = Vec::new();
            for f in opt_array(src, "file_list")?.unwrap_or_default() {
                match f {
                    Value::Null => {}
                    Value::String(s) => files.push(s.clone()),
                    Value::Number(n) => files.push(n.to_string()),
                    _ => return Err(BadRequest.into()),
                }
            }
            let account = opt_object(src, "account")?;
            let server = opt_object(src, "server")?.map(Server::parse).transpose()?;
            let file_source_id = opt_i64(src, "file_source_id")?;
            let file_source_code = non_blank(src, "file_source_code")?;
            sources.push((
                file_type,
                files,
                account.cloned(),
                server,
                file_source_id,
                file_source_code,
            ));
        }
        check_timeout(p)?;
        check_callback(p)?;
        opt_i32(p, "download_speed_limit")?;
        opt_i32(p, "upload_speed_limit")?;
        let start_task = opt_bool(p, "start_task")?.unwrap_or(true);
        let target_dir = non_blank(p, "file_target_path")?
            .ok_or_else(|| JobError::missing_or_invalid("file_target_path"))?;
        let target_name = non_blank(p, "file_target_name")?;
        if sources.is_empty() {
            return Err(JobError::missing("file_source_list"));
        }
        if let Some(mode) = opt_i32(p, "transfer_mode")? {
            if mode != 1 && mode != 2 {
                return Err(JobError::invalid("transfer_mode"));
            }
        }
        let mut step_sources = Vec::new();
        for (file_type, files, account, server, fs_id, fs_code) in sources {
            if files.iter().all(|f| f.trim().is_empty()) {
                return Err(JobError::missing("file_source.file_list"));
            }
            match file_type {
                1 => {
                    let account = account.unwrap_or_default();
                    let has_account = opt_i64(&account, "id")?.is_some_and(|id| id > 0)
                        || non_blank(&account, "alias")?.is_some();
                    if !has_account {
                        return Err(JobError::missing(
                            "file_source.account.account_id|file_source.account.account_alias",
                        ));
                    }
                    let server = server.ok_or_else(|| JobError::missing("file_source.server"))?;
                    if server.is_empty() {
                        return Err(JobError::new(1_244_001, "Host is empty"));
                    }
                    let mut hosts = Vec::new();
                    server.resolve(&mut self.hosts, &mut hosts);
                    dedup(&mut hosts);
                    for h in hosts {
                        step_sources.push(FileSource {
                            host: Some(h),
                            files: files.clone(),
                        });
                    }
                }
                3 => {
                    if fs_id.is_none() && fs_code.is_none() {
                        return Err(JobError::missing(
                            "file_source.file_source_id|file_source.file_source_code",
                        ));
                    }
                    step_sources.push(FileSource { host: None, files });
                }
                _ => return Err(JobError::invalid("file_source.file_type")),
            }
        }
        if opt_i64(p, "account_id")?.is_none() && non_blank(p, "account_alias")?.is_none() {
            return Err(JobError::missing("account_id|account_alias"));
        }
        let target = target.ok_or_else(|| JobError::missing("target_server"))?;
        if target.is_empty() {
            return Err(JobError::new(1_244_001, "Host is empty"));
        }
        let mut targets = Vec::new();
        target.resolve(&mut self.hosts, &mut targets);
        dedup(&mut targets);
        let name = task_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("API Quick transfer file{}", c.now));
        let mut step = self.new_step(name.clone(), StepKind::File, targets);
        step.sources = step_sources;
        step.target_dir = target_dir;
        step.target_name = target_name;
        self.start_job(c, scope, name, -1, TaskType::File, start_task, vec![step])
    }

    /// The job named by `job_instance_id` in the request's scope.
    fn find_job(&self, p: &Obj) -> Result<&Job, JobError> {
        let scope = Scope::parse(p)?;
        let id = opt_i64(p, "job_instance_id")?
            .filter(|id| *id > 0)
            .ok_or_else(|| JobError::missing_or_invalid("job_instance_id"))?;
        self.jobs
            .get(&id)
            .filter(|j| j.scope == scope)
            .ok_or_else(JobError::task_not_found)
    }

    /// `GET /api/v3/get_job_instance_status` (spec §2.4).
    fn get_job_instance_status(&self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let job = self.find_job(p)?;
        let with_ips = opt_bool(p, "return_ip_result")?.unwrap_or(false);
        let phase = job.phase(c.now);
        let (status, start, end, total) = times(phase);
        let mut ji = Map::new();
        job.scope.fill(&mut ji);
        ji.insert("job_instance_id".into(), job.id.into());
        ji.insert("name".into(), job.name.as_str().into());
        ji.insert("status".into(), status.into());
        ji.insert("create_time".into(), job.create_time.into());
        ji.insert("start_time".into(), start);
        ji.insert("end_time".into(), end);
        ji.insert("total_time".into(), total);
        let mut steps = Vec::new();
        for (i, step) in job.steps.iter().enumerate() {
            let sp = job.step_phase(i, c.now);
            let (status, start, end, total) = times(sp);
            let mut s = json!({
                "step_instance_id": step.id,
                "name": step.name,
                "status": status,
                "type": step.kind as i64,
                "execute_count": 0,
                "create_time": job.create_time,
                "start_time": start,
                "end_time": end,
                "total_time": total,
            });
            if with_ips && !step.targets.is_empty() {
                let ips: Vec<Value> = step
                    .targets
                    .iter()
                    .filter_map(|id| self.hosts.host(*id))
                    .map(|h| ip_result(&h, sp))
                    .collect();
                if let Value::Object(m) = &mut s {
                    m.insert("step_ip_result_list".into(), Value::Array(ips));
                }
            }
            steps.push(s);
        }
        Ok(json!({
            "finished": !matches!(phase, Phase::Pending | Phase::Running { .. }),
            "job_instance": ji,
            "step_instance_list": steps,
        }))
    }

    /// Job and step of a log query.
    fn find_step(&self, p: &Obj) -> Result<(&Job, usize), JobError> {
        let job = self.find_job(p)?;
        let step_id = opt_i64(p, "step_instance_id")?
            .filter(|id| *id > 0)
            .ok_or_else(|| JobError::missing_or_invalid("step_instance_id"))?;
        let index = job
            .steps
            .iter()
            .position(|s| s.id == step_id)
            .ok_or_else(JobError::task_not_found)?;
        Ok((job, index))
    }

    /// `GET /api/v3/get_job_instance_ip_log` (spec §2.5): one host.
    fn get_job_instance_ip_log(&self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let (job, index) = self.find_step(p)?;
        let host = match opt_i64(p, "bk_host_id")? {
            Some(id) => self.hosts.host(id).unwrap_or(Host {
                id,
                cloud: 0,
                ip: String::new(),
            }),
            None => {
                let cloud = opt_i64(p, "bk_cloud_id")?;
                let ip = non_blank(p, "ip")?;
                let (Some(cloud), Some(ip)) = (cloud, ip) else {
                    return Err(JobError::missing_or_invalid("host_id/(bk_cloud_id+ip)"));
                };
                let id = self
                    .hosts
                    .by_ip
                    .get(&(cloud, ip.clone()))
                    .copied()
                    .unwrap_or(-1);
                Host { id, cloud, ip }
            }
        };
        let step = &job.steps[index];
        let sp = job.step_phase(index, c.now);
        let mut m = Map::new();
        m.insert("log_type".into(), (step.kind as i64).into());
        m.insert("bk_host_id".into(), host.id.into());
        m.insert("bk_cloud_id".into(), host.cloud.into());
        m.insert("ip".into(), host.ip.as_str().into());
        match step.kind {
            StepKind::Script => {
                let log = step
                    .targets
                    .contains(&host.id)
                    .then(|| script_log(step, &host, sp))
                    .flatten();
                m.insert("log_content".into(), log.map_or(Value::Null, Value::from));
            }
            StepKind::File => {
                let logs = self.file_logs(step, &host, sp);
                m.insert("file_logs".into(), Value::Array(logs));
            }
        }
        Ok(Value::Object(m))
    }

    /// `POST /api/v3/batch_get_job_instance_ip_log` (spec §2.5, ≤500 hosts).
    fn batch_get_job_instance_ip_log(&self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let mut ids = Vec::new();
        for v in opt_array(p, "host_id_list")?.unwrap_or_default() {
            if let Some(id) = as_i64(v)? {
                ids.push(id);
            }
        }
        let mut ips = Vec::new();
        for v in opt_array(p, "ip_list")?.unwrap_or_default() {
            let Some(ip) = as_object(v)? else { continue };
            let cloud = opt_i64(ip, "bk_cloud_id")?
                .filter(|c| *c >= 0)
                .ok_or_else(|| JobError::bad("Invalid bk_cloud_id"))?;
            let addr = opt_string(ip, "ip")?
                .filter(|a| is_bk_ipv4(a))
                .ok_or_else(|| JobError::bad("Invalid Ip"))?;
            ips.push((cloud, addr));
        }
        let (job, index) = self.find_step(p)?;
        if ids.is_empty() && ips.is_empty() {
            return Err(JobError::missing_or_invalid("host_id_list/ip_list"));
        }
        let count = if ids.is_empty() { ips.len() } else { ids.len() };
        if count > MAX_LOG_HOSTS {
            return Err(JobError::missing_or_invalid("host_id_list/ip_list"));
        }
        let mut query: Vec<Host> = if ids.is_empty() {
            ips.into_iter()
                .filter_map(|(cloud, ip)| {
                    let id = *self.hosts.by_ip.get(&(cloud, ip.clone()))?;
                    Some(Host { id, cloud, ip })
                })
                .collect()
        } else {
            ids.into_iter()
                .filter_map(|id| self.hosts.host(id))
                .collect()
        };
        let mut seen = HashSet::new();
        query.retain(|h| seen.insert(h.id));

        let step = &job.steps[index];
        let sp = job.step_phase(index, c.now);
        let mut m = Map::new();
        m.insert("job_instance_id".into(), job.id.into());
        m.insert("step_instance_id".into(), step.id.into());
        m.insert("log_type".into(), (step.kind as i64).into());
        let mut logs = Vec::new();
        match step.kind {
            StepKind::Script => {
                for h in query.iter().filter(|h| step.targets.contains(&h.id)) {
                    if let Some(text) = script_log(step, h, sp) {
                        logs.push(json!({
                            "bk_host_id": h.id,
                            "bk_cloud_id": h.cloud,
                            "ip": h.ip,
                            "log_content": text,
                        }));
                    }
                }
                if !logs.is_empty() {
                    m.insert("script_task_logs".into(), Value::Array(logs));
                }
            }
            StepKind::File => {
                for h in &query {
                    let file_logs = self.file_logs(step, h, sp);
                    if !file_logs.is_empty() {
                        logs.push(json!({
                            "bk_host_id": h.id,
                            "bk_cloud_id": h.cloud,
                            "ip": h.ip,
                            "file_logs": file_logs,
                        }));
                    }
                }
                if !logs.is_empty() {
                    m.insert("file_task_logs".into(), Value::Array(logs));
                }
            }
        }
        Ok(Value::Object(m))
    }

    /// File logs of `host` in a file step: downloads when it is a target, uploads when
    /// it is a source. Empty before the step starts.
    fn file_logs(&self, step: &Step, host: &Host, sp: Phase) -> Vec<Value> {
        let (done, ts) = match sp {
            Phase::Pending => return Vec::new(),
            Phase::Running { start } => (false, start),
            Phase::Done { end, .. } | Phase::Stopped { end, .. } => (true, end),
        };
        let stopped = matches!(sp, Phase::Stopped { .. });
        let ip_obj = |id: Option<i64>| {
            id.and_then(|id| self.hosts.host(id))
                .map(|h| json!({"bk_host_id": h.id, "bk_cloud_id": h.cloud, "ip": h.ip}))
        };
        let (status_txt, process) = match (done, stopped) {
            (true, false) => ("success", "100%"),
            (true, true) => ("terminated", "50%"),
            (false, _) => ("running", "50%"),
        };
        let mut out = Vec::new();
        if step.targets.contains(&host.id) {
            for src in &step.sources {
                for f in &src.files {
                    let name = step
                        .target_name
                        .clone()
                        .unwrap_or_else(|| f.rsplit('/').next().unwrap_or(f).to_owned());
                    let dest_path = format!("{}/{}", step.target_dir.trim_end_matches('/'), name);
                    let mut log = Map::new();
                    log.insert("mode".into(), 1.into());
                    if let Some(src_ip) = ip_obj(src.host) {
                        log.insert("src_ip".into(), src_ip);
                    }
                    log.insert("src_path".into(), f.as_str().into());
                    if let Some(dest_ip) = ip_obj(Some(host.id)) {
                        log.insert("dest_ip".into(), dest_ip);
                    }
                    log.insert("dest_path".into(), dest_path.as_str().into());
                    log.insert("status".into(), file_status(done, stopped, 3).into());
                    log.insert(
                        "log_content".into(),
                        format!(
                            "[{}] FileName: {dest_path} FileSize: 9.0 Bytes State: dest agent {status_txt} download file Speed: 1 KB/s Progress: {process} StatusDesc: 下载完成 <b>done</b> & ok Detail: {status_txt}",
                            fmt_time(ts)
                        )
                        .into(),
                    );
                    log.insert("size".into(), "9.0 Bytes".into());
                    log.insert("speed".into(), "1 KB/s".into());
                    log.insert("process".into(), process.into());
                    out.push(Value::Object(log));
                }
            }
        }
        for src in step.sources.iter().filter(|s| s.host == Some(host.id)) {
            for f in &src.files {
                let mut log = Map::new();
                log.insert("mode".into(), 0.into());
                if let Some(src_ip) = ip_obj(src.host) {
                    log.insert("src_ip".into(), src_ip);
                }
                log.insert("src_path".into(), f.as_str().into());
                log.insert("status".into(), file_status(done, stopped, 2).into());
                log.insert(
                    "log_content".into(),
                    format!(
                        "[{}] FileName: {f} FileSize: 9.0 Bytes State: source agent {status_txt} upload file Speed: 1 KB/s Progress: {process} StatusDesc: 上传完成 <b>done</b> & ok Detail: {status_txt}",
                        fmt_time(ts)
                    )
                    .into(),
                );
                log.insert("size".into(), "9.0 Bytes".into());
                log.insert("speed".into(), "1 KB/s".into());
                log.insert("process".into(), process.into());
                out.push(Value::Object(log));
            }
        }
        out
    }

    /// `GET /api/v3/get_job_instance_list`: `EsbPageDataV3<EsbTaskInstanceV3DTO>`.
    fn get_job_instance_list(&self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        let start_t = opt_i64(p, "create_time_start")?
            .filter(|t| *t >= 1)
            .ok_or_else(|| JobError::missing_or_invalid("create_time_start"))?;
        let end_t = opt_i64(p, "create_time_end")?
            .filter(|t| *t >= 1)
            .ok_or_else(|| JobError::missing_or_invalid("create_time_end"))?;
        let period = end_t.saturating_sub(start_t);
        if period <= 0 {
            return Err(JobError::missing_or_invalid(
                "create_time_start|create_time_end",
            ));
        }
        if period > MAX_LIST_RANGE_MS {
            return Err(JobError::new(1_241_002, "Invalid request parameters"));
        }
        let task_type = opt_i32(p, "type")?;
        if task_type.is_some_and(|t| !(0..=2).contains(&t)) {
            return Err(JobError::new(1_241_002, "Invalid request parameters"));
        }
        let instance_id = opt_i64(p, "job_instance_id")?;
        let operator = opt_string(p, "operator")?.filter(|s| !s.is_empty());
        let name = opt_string(p, "name")?.filter(|s| !s.is_empty());
        let launch_mode = opt_i32(p, "launch_mode")?;
        let status = opt_i32(p, "status")?;
        let ip = opt_string(p, "ip")?.filter(|s| !s.is_empty());
        let offset = opt_i32(p, "start")?.filter(|s| *s >= 0).unwrap_or(0);
        let length = opt_i32(p, "length")?
            .filter(|l| *l > 0)
            .map_or(20, |l| l.min(1000));

        let matching: Vec<&Job> = self
            .jobs
            .values()
            .rev()
            .filter(|j| j.scope == scope)
            .filter(|j| (start_t..=end_t).contains(&j.create_time))
            .filter(|j| instance_id.is_none_or(|id| j.id == id))
            .filter(|j| operator.as_ref().is_none_or(|o| &j.operator == o))
            .filter(|j| name.as_ref().is_none_or(|n| j.name.contains(n.as_str())))
            .filter(|_| launch_mode.is_none_or(|m| m == 2))
            .filter(|j| task_type.is_none_or(|t| t == j.task_type as i64))
            .filter(|j| status.is_none_or(|s| s == times(j.phase(c.now)).0))
            .filter(|j| {
                ip.as_ref().is_none_or(|ip| {
                    j.steps
                        .iter()
                        .flat_map(|s| &s.targets)
                        .any(|id| self.hosts.host(*id).is_some_and(|h| &h.ip == ip))
                })
            })
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(0))
            .take(usize::try_from(length).unwrap_or(20))
            .map(|j| {
                let (status, start, end, total) = times(j.phase(c.now));
                let mut m = Map::new();
                j.scope.fill(&mut m);
                m.insert("job_instance_id".into(), j.id.into());
                m.insert("job_plan_id".into(), j.plan_id.into());
                m.insert("job_template_id".into(), j.plan_id.into());
                m.insert("name".into(), j.name.as_str().into());
                m.insert("operator".into(), j.operator.as_str().into());
                m.insert("launch_mode".into(), 2.into());
                m.insert("status".into(), status.into());
                m.insert("type".into(), (j.task_type as i64).into());
                m.insert("create_time".into(), j.create_time.into());
                for (k, v) in [
                    ("start_time", start),
                    ("end_time", end),
                    ("total_time", total),
                ] {
                    if !v.is_null() {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            })
            .collect();
        let mut out = json!({"start": offset, "length": length, "total": total});
        // EsbPageDataV3 is NON_NULL and `data` is only set when non-empty.
        if let (false, Value::Object(m)) = (page.is_empty(), &mut out) {
            m.insert("data".into(), Value::Array(page));
        }
        Ok(out)
    }

    /// `POST /api/v3/operate_job_instance` with `operation_code` 1 (terminate).
    fn operate_job_instance(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let code = opt_i32(p, "operation_code")?;
        let id = self.find_job(p)?.id;
        if code != Some(1) {
            return Err(JobError::invalid("operation_code"));
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return Err(JobError::task_not_found());
        };
        if !matches!(job.phase(c.now), Phase::Running { .. }) {
            return Err(JobError::new(1_241_003, "Unsupported operation"));
        }
        job.terminated_at = Some(c.now);
        Ok(json!({"job_instance_id": id}))
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

/// File task status: 1 waiting, 2 uploading, 3 downloading, 4 success, 5 failure.
fn file_status(done: bool, stopped: bool, in_progress: i64) -> i64 {
    match (done, stopped) {
        (true, false) => 4,
        (true, true) => 5,
        (false, _) => in_progress,
    }
}

/// Deterministic script output of `host` in `step`; `None` before the step starts.
/// It holds non-ASCII text and an HTML-like fragment, so escaping gets exercised.
fn script_log(step: &Step, host: &Host, sp: Phase) -> Option<String> {
    let pid = 10_000 + (step.id.wrapping_mul(31).wrapping_add(host.id)).rem_euclid(50_000);
    let start = match sp {
        Phase::Pending => return None,
        Phase::Running { start } | Phase::Done { start, .. } | Phase::Stopped { start, .. } => {
            start
        }
    };
    let mut log = format!("[{}][PID:{pid}] job_start\n", fmt_time(start));
    match sp {
        Phase::Done { end, .. } => {
            log.push_str(&format!(
                "[{}] 你好，蓝鲸 ✓ host {}:{} step {}\n[{}] <b>done</b> & ok\n",
                fmt_time(end),
                host.cloud,
                host.ip,
                step.id,
                fmt_time(end)
            ));
        }
        Phase::Stopped { end, .. } => {
            log.push_str(&format!("[{}] terminated by user\n", fmt_time(end)));
        }
        Phase::Pending | Phase::Running { .. } => {}
    }
    Some(log)
}

/// `yyyy-MM-dd HH:mm:ss` (UTC) of epoch milliseconds.
fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
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

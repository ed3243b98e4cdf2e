//! The emulator's other job-execute resources: `fast_execute_sql`, `push_config_file`,
//! the BK-CI plugin `bkci_plugin_fast_execute_script` (doc E, system only),
//! `operate_step_instance`, `get_step_instance_status`, `get_job_instance_global_var_value`.

use super::super::value::{
    Obj, as_i64, as_object, non_blank, opt_array, opt_bool, opt_i32, opt_i64, opt_object,
};
use super::{
    Call, JobError, JobResult, Phase, Scope, Server, State, StepKind, TaskType, check_callback,
    check_timeout, decoded_len, dedup, ip_result, times,
};
use serde_json::{Value, json};

/// `StepOperationEnum` codes JOB 3.x accepts.
const STEP_OPERATIONS: [i64; 9] = [2, 3, 6, 8, 9, 10, 11, 12, 13];

impl State {
    /// Targets of a `target_server` (required, non-empty).
    fn required_targets(&mut self, p: &Obj) -> Result<Vec<i64>, JobError> {
        let target = opt_object(p, "target_server")?
            .map(Server::parse)
            .transpose()?
            .ok_or_else(|| JobError::missing("target_server"))?;
        if target.is_empty() {
            return Err(JobError::new(1_244_001, "Host is empty"));
        }
        let mut targets = Vec::new();
        target.resolve(&mut self.hosts, &mut targets);
        dedup(&mut targets);
        Ok(targets)
    }

    /// `POST /api/v3/fast_execute_sql`.
    pub(super) fn fast_execute_sql(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        check_timeout(p)?;
        check_callback(p)?;
        if opt_i64(p, "db_account_id")?.is_none_or(|id| id < 1) {
            return Err(JobError::missing_or_invalid("db_account_id"));
        }
        let by_version = opt_i64(p, "script_version_id")?.is_some_and(|v| v > 0);
        let by_id = non_blank(p, "script_id")?.is_some();
        match non_blank(p, "script_content")? {
            Some(content) if decoded_len(&content).is_none() => {
                return Err(JobError::invalid("script_content"));
            }
            None if !by_version && !by_id => {
                return Err(JobError::missing(
                    "script_version_id|script_id|script_content",
                ));
            }
            _ => {}
        }
        let targets = self.required_targets(p)?;
        let name = non_blank(p, "task_name")?
            .unwrap_or_else(|| format!("API Quick execution SQL{}", c.now));
        let step = self.new_step(name.clone(), StepKind::Script, targets);
        let start = opt_bool(p, "start_task")?.unwrap_or(true);
        self.start_job(c, scope, name, -1, TaskType::Script, start, vec![step])
    }

    /// `POST /api/v3/push_config_file`.
    pub(super) fn push_config_file(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        check_callback(p)?;
        let target_dir = non_blank(p, "file_target_path")?
            .ok_or_else(|| JobError::missing("file_target_path"))?;
        if opt_i64(p, "account_id")?.is_none() && non_blank(p, "account_alias")?.is_none() {
            return Err(JobError::missing("account_id|account_alias"));
        }
        let files = opt_array(p, "file_list")?.unwrap_or_default();
        if files.is_empty() {
            return Err(JobError::missing("file_list"));
        }
        let mut names = Vec::new();
        for f in files {
            let Some(f) = as_object(f)? else { continue };
            let name = non_blank(f, "file_name")?
                .ok_or_else(|| JobError::missing("file_list.file_name"))?;
            let content = non_blank(f, "content")?.unwrap_or_default();
            if decoded_len(&content).is_none() {
                return Err(JobError::invalid("file_list.content"));
            }
            names.push(name);
        }
        let targets = self.required_targets(p)?;
        let name =
            non_blank(p, "task_name")?.unwrap_or_else(|| format!("API_PUSH_CONFIG_FILE_{}", c.now));
        let mut step = self.new_step(name.clone(), StepKind::File, targets);
        step.target_dir = target_dir;
        step.sources.push(super::FileSource {
            host: None,
            files: names,
        });
        self.start_job(c, scope, name, -1, TaskType::File, true, vec![step])
    }

    /// `POST /api/v3/system/bkci_plugin_fast_execute_script` (doc E): `execute_target`
    /// instead of `target_server`, boolean `is_param_sensitive`, `callback {url}`.
    pub(super) fn bkci_plugin_fast_execute_script(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let scope = Scope::parse(p)?;
        check_timeout(p)?;
        if let Some(v) = p.get("is_param_sensitive").filter(|v| !v.is_null()) {
            if !v.is_boolean() && as_i64(v)?.is_none() {
                return Err(JobError::invalid("is_param_sensitive"));
            }
        }
        if opt_i64(p, "account_id")?.is_none() && non_blank(p, "account_alias")?.is_none() {
            return Err(JobError::missing("account_id|account_alias"));
        }
        let by_version = opt_i64(p, "script_version_id")?.is_some_and(|v| v > 0);
        if !by_version && non_blank(p, "script_id")?.is_none() {
            let content = non_blank(p, "script_content")?
                .ok_or_else(|| JobError::missing("script_version_id|script_id|script_content"))?;
            if decoded_len(&content).is_none() {
                return Err(JobError::invalid("script_content"));
            }
            if !opt_i32(p, "script_language")?.is_some_and(|l| (1..=5).contains(&l)) {
                return Err(JobError::invalid("script_language"));
            }
        }
        if let Some(cb) = opt_object(p, "callback")? {
            let mut m = Obj::new();
            m.insert(
                "callback_url".into(),
                cb.get("url").cloned().unwrap_or(Value::Null),
            );
            check_callback(&m)?;
        }
        let target =
            opt_object(p, "execute_target")?.ok_or_else(|| JobError::missing("execute_target"))?;
        let mut server = Obj::new();
        let mut host_ids = Vec::new();
        let mut ips = Vec::new();
        for h in opt_array(target, "host_list")?.unwrap_or_default() {
            let Some(h) = as_object(h)? else { continue };
            match opt_i64(h, "bk_host_id")? {
                Some(id) => host_ids.push(json!(id)),
                None => ips.push(Value::Object(h.clone())),
            }
        }
        server.insert("host_id_list".into(), Value::Array(host_ids));
        server.insert("ip_list".into(), Value::Array(ips));
        for (from, to) in [
            ("host_dynamic_group_list", "dynamic_group_list"),
            ("host_topo_node_list", "topo_node_list"),
        ] {
            server.insert(
                to.into(),
                Value::Array(opt_array(target, from)?.unwrap_or_default().to_vec()),
            );
        }
        let mut wrapped = Obj::new();
        wrapped.insert("target_server".into(), Value::Object(server));
        let targets = self.required_targets(&wrapped)?;
        let name = non_blank(p, "task_name")?
            .unwrap_or_else(|| format!("API Quick execution script{}", c.now));
        let step = self.new_step(name.clone(), StepKind::Script, targets);
        self.start_job(c, scope, name, -1, TaskType::Script, true, vec![step])
    }

    /// `POST /api/v3/operate_step_instance`: accepted for a known step with a JOB 3.x code.
    pub(super) fn operate_step_instance(&mut self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        let code = opt_i32(p, "operation_code")?;
        let (job, index) = self.find_step(p)?;
        if !code.is_some_and(|c| STEP_OPERATIONS.contains(&c)) {
            return Err(JobError::invalid("operation_code"));
        }
        let step_id = job.steps.get(index).map_or(0, |s| s.id);
        Ok(json!({"job_instance_id": job.id, "step_instance_id": step_id}))
    }

    /// `GET /api/v3/get_step_instance_status` (`bk_scope_type`, `bk_scope_id`,
    /// `job_instance_id`, `step_instance_id` required).
    pub(super) fn get_step_instance_status(&self, c: &Call<'_>) -> JobResult {
        let p = c.params;
        for key in ["bk_scope_type", "bk_scope_id"] {
            if non_blank(p, key)?.is_none() {
                return Err(JobError::missing(key));
            }
        }
        let (job, index) = self.find_step(p)?;
        let Some(step) = job.steps.get(index) else {
            return Err(JobError::task_not_found());
        };
        let sp = job.step_phase(index, c.now);
        let (status, start, end, total) = times(sp);
        let hosts: Vec<Value> = step
            .targets
            .iter()
            .filter_map(|id| self.hosts.host(*id))
            .map(|h| ip_result(&h, sp))
            .collect();
        let (result_type, desc) = match sp {
            Phase::Pending => (5, "Waiting"),
            Phase::Running { .. } => (7, "Running"),
            Phase::Done { .. } => (9, "Succeeded"),
            Phase::Stopped { .. } => (403, "Terminated"),
        };
        Ok(json!({
            "step_instance_id": step.id, "execute_count": 0, "name": step.name,
            "type": step.kind as i64, "status": status, "create_time": job.create_time,
            "start_time": start, "end_time": end, "total_time": total,
            "step_result_group_list": [{"result_type": result_type, "result_type_desc": desc,
                "tag": "", "host_size": hosts.len(), "host_result_list": hosts}],
        }))
    }

    /// `GET /api/v3/get_job_instance_global_var_value`: the stub's jobs set no variables,
    /// so every step lists none.
    pub(super) fn get_job_instance_global_var_value(&self, c: &Call<'_>) -> JobResult {
        let job = self.find_job(c.params)?;
        let steps: Vec<Value> = job
            .steps
            .iter()
            .map(|s| json!({"step_instance_id": s.id, "global_var_list": []}))
            .collect();
        Ok(json!({"job_instance_id": job.id, "step_instance_var_list": steps}))
    }
}

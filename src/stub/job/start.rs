//! The emulator's job-starting resources: `execute_job_plan`, `fast_execute_script`,
//! `fast_transfer_file`, and the step and job bookkeeping every start shares.

use super::*;

impl State {
    pub(super) fn new_step(&mut self, name: String, kind: StepKind, targets: Vec<i64>) -> Step {
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
    pub(super) fn start_job(
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
    pub(super) fn execute_job_plan(&mut self, c: &Call<'_>) -> JobResult {
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
    pub(super) fn fast_execute_script(&mut self, c: &Call<'_>) -> JobResult {
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
    pub(super) fn fast_transfer_file(&mut self, c: &Call<'_>) -> JobResult {
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
}

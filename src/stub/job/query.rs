//! The emulator's read and operate resources on started jobs: status, host logs (one
//! host and batched), the job instance list, and `operate_job_instance`.

use super::*;

impl State {
    /// The job named by `job_instance_id` in the request's scope.
    pub(super) fn find_job(&self, p: &Obj) -> Result<&Job, JobError> {
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
    pub(super) fn get_job_instance_status(&self, c: &Call<'_>) -> JobResult {
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
    pub(super) fn find_step(&self, p: &Obj) -> Result<(&Job, usize), JobError> {
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
    pub(super) fn get_job_instance_ip_log(&self, c: &Call<'_>) -> JobResult {
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
    pub(super) fn batch_get_job_instance_ip_log(&self, c: &Call<'_>) -> JobResult {
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
    pub(super) fn file_logs(&self, step: &Step, host: &Host, sp: Phase) -> Vec<Value> {
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
    pub(super) fn get_job_instance_list(&self, c: &Call<'_>) -> JobResult {
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
    pub(super) fn operate_job_instance(&mut self, c: &Call<'_>) -> JobResult {
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

/// File task status: 1 waiting, 2 uploading, 3 downloading, 4 success, 5 failure.
pub(super) fn file_status(done: bool, stopped: bool, in_progress: i64) -> i64 {
    match (done, stopped) {
        (true, false) => 4,
        (true, true) => 5,
        (false, _) => in_progress,
    }
}

/// Deterministic script output of `host` in `step`; `None` before the step starts.
/// It holds non-ASCII text and an HTML-like fragment, so escaping gets exercised.
pub(super) fn script_log(step: &Step, host: &Host, sp: Phase) -> Option<String> {
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
pub(super) fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

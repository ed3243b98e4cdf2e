//! Submitting and operating calls (`spec/legacy-api-surface.md` §3.1–§3.3):
//! `fast_execute_sql`, `push_config_file`, `operate_job_instance`, `operate_step_instance`.

use super::super::exchange::{Exchange, Finished, Single};
use super::super::model::LegacyHostTarget;
use super::super::request::{post, required_hosts};
use super::super::scope::Scope;
use super::super::validate::{self, Path, TIMEOUT_RANGE};
use super::super::{RejectReason, TranslateError};
use super::{id, int, scope, text};
use crate::translate::model::V3Server;
use serde::Serialize;
use serde_json::{Map, Value};

type Result<T> = std::result::Result<T, TranslateError>;

/// `TaskOperationEnum` codes of `operate_job_instance` (1 terminate, 2 restart).
pub const JOB_OPERATIONS: [i64; 2] = [1, 2];
/// `StepOperationEnum` codes of `operate_step_instance` in JOB 3.x.
pub const STEP_OPERATIONS: [i64; 9] = [2, 3, 6, 8, 9, 10, 11, 12, 13];
/// JOB 2.x's "skip" code, JOB 3.x's "skip" code.
const LEGACY_SKIP: (i64, i64) = (5, 12);

/// v3 `fast_execute_sql` body (`EsbFastExecuteSQLV3Request`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V3FastExecuteSql {
    /// Scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// `task_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// `script_content` (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_content: Option<String>,
    /// `script_version_id` ← legacy `script_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_version_id: Option<i64>,
    /// `db_account_id`.
    pub db_account_id: i64,
    /// `timeout` ← `script_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// `target_server`.
    pub target_server: V3Server,
    /// `callback_url` ← `bk_callback_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// One `file_list` item of `push_config_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// `file_name`.
    pub file_name: String,
    /// `content` (base64).
    pub content: String,
}

/// v3 `push_config_file` body (`EsbPushConfigFileV3Request`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V3PushConfigFile {
    /// Scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// `task_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// `file_target_path`.
    pub file_target_path: String,
    /// `account_alias` ← legacy `account`.
    pub account_alias: String,
    /// `target_server.ip_list` ← legacy `ip_list`.
    pub target_server: V3Server,
    /// `file_list`.
    pub file_list: Vec<ConfigFile>,
}

/// `job/fast_execute_sql` → POST `fast_execute_sql`.
pub fn fast_execute_sql(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let root = Path::ROOT;
    let scope = scope(m)?;
    let script_version_id = validate::opt_positive(m.get("script_id"), &root.key("script_id"))?;
    let script_content = text(m, "script_content")?;
    if let Some(c) = &script_content {
        validate::base64_field(c, &root.key("script_content"), validate::MAX_SCRIPT_BYTES)?;
    }
    if script_version_id.is_none() && script_content.is_none() {
        return Err(validate::missing(
            &root.key("script_content"),
            "is required when script_id is not given",
        ));
    }
    let timeout = validate::opt_int_in(
        m.get("script_timeout"),
        &root.key("script_timeout"),
        &TIMEOUT_RANGE,
        " seconds",
    )?;
    let mut warnings = Vec::new();
    let target = validate::host_target(m, &root)?;
    let target_server = required_hosts(target, &root, "target", &mut warnings)?;
    let out = V3FastExecuteSql {
        scope,
        task_name: text(m, "task_name")?,
        script_content,
        script_version_id,
        db_account_id: id(m, "db_account_id")?,
        timeout,
        target_server,
        callback_url: validate::callback_url(
            m.get("bk_callback_url"),
            &root.key("bk_callback_url"),
        )?,
    };
    Ok(Box::new(Single::new(
        post("fast_execute_sql", &out, warnings.clone())?,
        Box::new(move |d| Ok(started(d, warnings))),
    )))
}

/// `job/push_config_file` → POST `push_config_file`.
pub fn push_config_file(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let root = Path::ROOT;
    let scope = scope(m)?;
    let mut warnings = Vec::new();
    if m.get("target_server").is_some_and(|v| !v.is_null()) {
        warnings.push(
            "target_server ignored: push_config_file takes its hosts from ip_list \
             (as JOB 3.x's own v2 does)"
                .to_owned(),
        );
    }
    let target = LegacyHostTarget {
        ip_list: validate::opt_ip_list(m.get("ip_list"), &root.key("ip_list"))?,
        ..LegacyHostTarget::default()
    };
    let target_server = required_hosts(target, &root, "target", &mut warnings)?;
    let out = V3PushConfigFile {
        scope,
        task_name: text(m, "task_name")?,
        file_target_path: validate::req_nonblank(
            m.get("file_target_path"),
            &root.key("file_target_path"),
        )?,
        account_alias: validate::req_nonblank(m.get("account"), &root.key("account"))?,
        target_server,
        file_list: config_files(m)?,
    };
    Ok(Box::new(Single::new(
        post("push_config_file", &out, warnings.clone())?,
        Box::new(move |d| Ok(started(d, warnings))),
    )))
}

fn config_files(m: &Map<String, Value>) -> Result<Vec<ConfigFile>> {
    let fp = Path::ROOT.key("file_list");
    let items = validate::opt_array(m.get("file_list"), &fp)?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| validate::missing(&fp, "is required: give at least one file"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ip = fp.index(i);
        let o = validate::object(item, &ip)?;
        let file_name = validate::req_nonblank(o.get("file_name"), &ip.key("file_name"))?;
        let cp = ip.key("content");
        let content = validate::opt_str(o.get("content"), &cp)?
            .map(|c| c.into_owned())
            .ok_or_else(|| validate::missing(&cp, "is required (base64)"))?;
        validate::base64_field(&content, &cp, validate::MAX_SCRIPT_BYTES)?;
        out.push(ConfigFile { file_name, content });
    }
    Ok(out)
}

/// The legacy answer of a started task: `job_instance_id`, `job_instance_name`, and
/// `step_instance_id` when JOB gave one (v2 omits a null one).
fn started(d: Value, warnings: Vec<String>) -> Finished {
    let mut out = Map::new();
    for key in ["job_instance_id", "job_instance_name", "step_instance_id"] {
        if let Some(v) = d.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Finished {
        data: Value::Object(out).into(),
        warnings,
        remember: None,
    }
}

/// `job/operate_job_instance` → POST `operate_job_instance` (same fields).
pub fn operate_job_instance(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let job_instance_id = id(m, "job_instance_id")?;
    let code = operation_code(m, &JOB_OPERATIONS)?;
    let body = serde_json::json!({
        "bk_scope_type": scope.bk_scope_type,
        "bk_scope_id": scope.bk_scope_id,
        "job_instance_id": job_instance_id,
        "operation_code": code,
    });
    Ok(Box::new(Single::passthrough(post(
        "operate_job_instance",
        &body,
        Vec::new(),
    )?)))
}

/// `job/operate_step_instance` → POST `operate_step_instance`; JOB 2.x's skip code 5 is
/// sent as JOB 3.x's 12 (with a warning), its "execute" code 4 is refused.
pub fn operate_step_instance(m: &Map<String, Value>) -> Result<Box<dyn Exchange>> {
    let scope = scope(m)?;
    let job_instance_id = id(m, "job_instance_id")?;
    let step_instance_id = id(m, "step_instance_id")?;
    let mut warnings = Vec::new();
    let code = match int(m, "operation_code")? {
        Some(c) if c == LEGACY_SKIP.0 => {
            warnings.push(format!(
                "operation_code {} (JOB 2.x skip) sent as {} (JOB 3.x skip)",
                LEGACY_SKIP.0, LEGACY_SKIP.1
            ));
            LEGACY_SKIP.1
        }
        Some(4) => {
            return Err(TranslateError::new(
                RejectReason::Invalid,
                "operation_code",
                "4 (JOB 2.x execute) does not exist in JOB 3.x: use 2 (retry failed hosts), \
                 3 (ignore error), 10 (retry all hosts) or 12 (skip)",
            ));
        }
        _ => operation_code(m, &STEP_OPERATIONS)?,
    };
    let body = serde_json::json!({
        "bk_scope_type": scope.bk_scope_type,
        "bk_scope_id": scope.bk_scope_id,
        "job_instance_id": job_instance_id,
        "step_instance_id": step_instance_id,
        "operation_code": code,
    });
    Ok(Box::new(Single::passthrough(post(
        "operate_step_instance",
        &body,
        warnings,
    )?)))
}

fn operation_code(m: &Map<String, Value>, allowed: &[i64]) -> Result<i64> {
    let p = Path::ROOT.key("operation_code");
    let code = validate::req_int(m.get("operation_code"), &p)?;
    if !allowed.contains(&code) {
        return Err(validate::invalid(
            &p,
            format!("must be one of {allowed:?}, got {code}"),
        ));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::super::LegacyCall;
    use super::super::test_support::{done, refused, run};
    use crate::translate::exchange::Step;
    use serde_json::json;

    #[test]
    fn sql_maps_names_and_answers_without_null_step() {
        let (sent, step) = run(
            LegacyCall::FastExecuteSql,
            json!({"bk_biz_id": 2, "script_id": 7, "db_account_id": 3, "script_timeout": "60",
                   "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}],
                   "bk_callback_url": "http://cb/x", "task_name": "t"}),
            vec![json!({"job_instance_id": 1, "job_instance_name": "t", "step_instance_id": null})],
        );
        let b = &sent[0]["body"];
        assert_eq!(sent[0]["resource"], "fast_execute_sql");
        assert_eq!(b["script_version_id"], 7);
        assert_eq!(b["timeout"], 60);
        assert_eq!(b["callback_url"], "http://cb/x");
        assert_eq!(b["target_server"]["ip_list"][0]["ip"], "10.0.0.1");
        assert!(b.get("script_id").is_none());
        assert_eq!(
            done(&step),
            json!({"job_instance_id": 1, "job_instance_name": "t"})
        );
    }

    #[test]
    fn sql_needs_content_or_id_and_account() {
        let e = refused(
            LegacyCall::FastExecuteSql,
            json!({"bk_biz_id": 2, "db_account_id": 3, "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}),
        );
        assert!(e.contains("[script_content]"), "{e}");
        let e = refused(
            LegacyCall::FastExecuteSql,
            json!({"bk_biz_id": 2, "script_id": 1, "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}),
        );
        assert!(e.contains("[db_account_id]"), "{e}");
    }

    #[test]
    fn push_config_file_maps_account_and_ip_list() {
        let (sent, step) = run(
            LegacyCall::PushConfigFile,
            json!({"bk_biz_id": 2, "account": "root", "file_target_path": "/tmp/",
                   "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}],
                   "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}]},
                   "file_list": [{"file_name": "a.conf", "content": "aGk="}]}),
            vec![json!({"job_instance_id": 5, "job_instance_name": "p", "step_instance_id": 6})],
        );
        let b = &sent[0]["body"];
        assert_eq!(b["account_alias"], "root");
        assert_eq!(
            b["target_server"],
            json!({"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]})
        );
        assert_eq!(b["file_list"][0]["file_name"], "a.conf");
        match step {
            Step::Done(f) => {
                assert_eq!(f.data.tree()["step_instance_id"], 6);
                assert!(f.warnings[0].contains("target_server ignored"));
            }
            other => unreachable!("{other:?}"),
        }
        let e = refused(
            LegacyCall::PushConfigFile,
            json!({"bk_biz_id": 2, "account": "root", "file_target_path": "/tmp/",
                   "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}],
                   "file_list": [{"file_name": "a", "content": "!!"}]}),
        );
        assert!(e.contains("[file_list[0].content]"), "{e}");
    }

    #[test]
    fn operations_keep_codes_and_map_legacy_skip() {
        let (sent, _) = run(
            LegacyCall::OperateJobInstance,
            json!({"bk_biz_id": 2, "job_instance_id": 9, "operation_code": 1}),
            vec![json!({"job_instance_id": 9})],
        );
        assert_eq!(sent[0]["body"]["operation_code"], 1);
        let (sent, step) = run(
            LegacyCall::OperateStepInstance,
            json!({"bk_biz_id": 2, "job_instance_id": 9, "step_instance_id": 4, "operation_code": 5}),
            vec![json!({"job_instance_id": 9, "step_instance_id": 4})],
        );
        assert_eq!(sent[0]["body"]["operation_code"], 12);
        assert!(matches!(step, Step::Done(f) if f.warnings.len() == 1));
        let e = refused(
            LegacyCall::OperateStepInstance,
            json!({"bk_biz_id": 2, "job_instance_id": 9, "step_instance_id": 4, "operation_code": 4}),
        );
        assert!(e.contains("does not exist in JOB 3.x"), "{e}");
        let e = refused(
            LegacyCall::OperateJobInstance,
            json!({"bk_biz_id": 2, "job_instance_id": 9, "operation_code": 7}),
        );
        assert!(e.contains("[operation_code] must be one of"), "{e}");
    }
}

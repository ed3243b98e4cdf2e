//! Legacy path → [`Route`] (DESIGN §3).
//!
//! Accepted prefixes: `/api/c/compapi/v2/` and `/api/c/compapi/`; trailing slash optional.

use super::Method;

/// A legacy API the shim serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `job/execute_job` → `execute_job_plan`.
    ExecuteJob,
    /// `job/fast_execute_script` → `fast_execute_script`.
    FastExecuteScript,
    /// `job/fast_push_file` → `fast_transfer_file`.
    FastPushFile,
    /// `job/get_job_instance_status` → `get_job_instance_status` (GET).
    GetJobInstanceStatus,
    /// `job/get_job_instance_log` → status + `batch_get_job_instance_ip_log`.
    GetJobInstanceLog,
    /// `jobv3/<resource>`: same resource under `/api/v3/`, body kept.
    V3(V3Resource),
}

/// A known JOB v3 resource on the API gateway and its method there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Resource {
    /// Resource name, e.g. `get_job_instance_status`.
    pub name: &'static str,
    /// The method the gateway publishes it with.
    pub method: Method,
}

/// The `/api/v3/*` resources of bk-job's gateway (`support-files/bk-api-gateway/v3/resources.yaml`)
/// that the legacy ESB `jobv3` component also exposed (`docs/apidoc/esb/jobv3-confapis/job.yaml`),
/// with the method the gateway publishes. Left out: `generate_local_file_upload_url` and
/// `get_latest_service_version` (only under `/api/v3/system/` on the gateway),
/// `get_step_instance_detail` / `get_step_instance_status` (never in ESB `jobv3`) and
/// `callback_protocol` (a document). Unknown names answer 1306404, so the metric label
/// `route` stays bounded.
pub const V3_RESOURCES: &[V3Resource] = &[
    // job-execute
    post("execute_job_plan"),
    post("fast_execute_script"),
    post("fast_execute_sql"),
    post("fast_transfer_file"),
    post("push_config_file"),
    post("operate_job_instance"),
    post("operate_step_instance"),
    get("get_job_instance_status"),
    get("get_job_instance_ip_log"),
    post("batch_get_job_instance_ip_log"),
    get("get_job_instance_list"),
    get("get_job_instance_global_var_value"),
    // job-manage: plans, accounts
    get("get_job_template_list"),
    get("get_job_plan_list"),
    get("get_job_plan_detail"),
    get("get_account_list"),
    post("create_account"),
    post("delete_account"),
    // job-manage: business scripts
    get("get_script_list"),
    get("get_script_version_list"),
    get("get_script_version_detail"),
    post("create_script"),
    post("create_script_version"),
    post("update_script_basic"),
    post("update_script_version"),
    post("publish_script_version"),
    post("disable_script_version"),
    post("delete_script_version"),
    post("delete_script"),
    // job-manage: public scripts
    get("get_public_script_list"),
    get("get_public_script_version_list"),
    get("get_public_script_version_detail"),
    post("create_public_script"),
    post("create_public_script_version"),
    post("update_public_script_basic"),
    post("update_public_script_version"),
    post("publish_public_script_version"),
    post("disable_public_script_version"),
    post("delete_public_script_version"),
    post("delete_public_script"),
    // job-manage: dangerous rules (get_dangerous_rule_list is a POST on the gateway)
    post("check_script"),
    post("get_dangerous_rule_list"),
    post("create_dangerous_rule"),
    post("update_dangerous_rule"),
    post("delete_dangerous_rule"),
    post("enable_dangerous_rule"),
    post("disable_dangerous_rule"),
    // job-manage: credentials
    post("create_credential"),
    post("update_credential"),
    get("get_credential_detail"),
    // job-crontab
    get("get_cron_list"),
    get("get_cron_detail"),
    post("save_cron"),
    post("update_cron_status"),
    post("delete_cron"),
    // job-file-gateway
    post("create_file_source"),
    post("update_file_source"),
    get("get_file_source_detail"),
];

const fn get(name: &'static str) -> V3Resource {
    V3Resource {
        name,
        method: Method::Get,
    }
}

const fn post(name: &'static str) -> V3Resource {
    V3Resource {
        name,
        method: Method::Post,
    }
}

impl Route {
    /// Parse a request path. `None` for anything the shim does not serve.
    pub fn from_path(path: &str) -> Option<Route> {
        let rest = path
            .strip_prefix("/api/c/compapi/v2/")
            .or_else(|| path.strip_prefix("/api/c/compapi/"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (system, name) = rest.split_once('/')?;
        match system {
            "job" => match name {
                "execute_job" => Some(Route::ExecuteJob),
                "fast_execute_script" => Some(Route::FastExecuteScript),
                "fast_push_file" => Some(Route::FastPushFile),
                "get_job_instance_status" => Some(Route::GetJobInstanceStatus),
                "get_job_instance_log" => Some(Route::GetJobInstanceLog),
                _ => None,
            },
            "jobv3" => V3_RESOURCES
                .iter()
                .find(|r| r.name == name)
                .map(|r| Route::V3(*r)),
            _ => None,
        }
    }

    /// Stable route name (metric label, log field), never the raw path.
    pub fn name(&self) -> &'static str {
        match self {
            Route::ExecuteJob => "job/execute_job",
            Route::FastExecuteScript => "job/fast_execute_script",
            Route::FastPushFile => "job/fast_push_file",
            Route::GetJobInstanceStatus => "job/get_job_instance_status",
            Route::GetJobInstanceLog => "job/get_job_instance_log",
            Route::V3(r) => v3_route_name(r.name),
        }
    }
}

fn v3_route_name(name: &str) -> &'static str {
    macro_rules! names {
        ($($n:literal),* $(,)?) => {
            match name {
                $($n => concat!("jobv3/", $n),)*
                _ => "jobv3/other",
            }
        };
    }
    names!(
        "execute_job_plan",
        "fast_execute_script",
        "fast_execute_sql",
        "fast_transfer_file",
        "push_config_file",
        "operate_job_instance",
        "operate_step_instance",
        "get_job_instance_status",
        "get_job_instance_ip_log",
        "batch_get_job_instance_ip_log",
        "get_job_instance_list",
        "get_job_instance_global_var_value",
        "get_job_template_list",
        "get_job_plan_list",
        "get_job_plan_detail",
        "get_account_list",
        "create_account",
        "delete_account",
        "get_script_list",
        "get_script_version_list",
        "get_script_version_detail",
        "create_script",
        "create_script_version",
        "update_script_basic",
        "update_script_version",
        "publish_script_version",
        "disable_script_version",
        "delete_script_version",
        "delete_script",
        "get_public_script_list",
        "get_public_script_version_list",
        "get_public_script_version_detail",
        "create_public_script",
        "create_public_script_version",
        "update_public_script_basic",
        "update_public_script_version",
        "publish_public_script_version",
        "disable_public_script_version",
        "delete_public_script_version",
        "delete_public_script",
        "check_script",
        "get_dangerous_rule_list",
        "create_dangerous_rule",
        "update_dangerous_rule",
        "delete_dangerous_rule",
        "enable_dangerous_rule",
        "disable_dangerous_rule",
        "create_credential",
        "update_credential",
        "get_credential_detail",
        "get_cron_list",
        "get_cron_detail",
        "save_cron",
        "update_cron_status",
        "delete_cron",
        "create_file_source",
        "update_file_source",
        "get_file_source_detail",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_trailing_slash() {
        for p in [
            "/api/c/compapi/v2/job/execute_job/",
            "/api/c/compapi/v2/job/execute_job",
            "/api/c/compapi/job/execute_job/",
            "/api/c/compapi/job/execute_job",
        ] {
            assert_eq!(Route::from_path(p), Some(Route::ExecuteJob), "{p}");
        }
        assert_eq!(Route::from_path("/api/c/compapi/v2/job/nope/"), None);
        assert_eq!(Route::from_path("/api/c/compapi/v2/cc/execute_job/"), None);
        assert_eq!(Route::from_path("/other"), None);
        assert_eq!(
            Route::from_path("/api/c/compapi/v2/jobv3/unknown_thing/"),
            None
        );
    }

    #[test]
    fn every_v3_resource_has_its_own_name() {
        for r in V3_RESOURCES {
            let route = Route::from_path(&format!("/api/c/compapi/v2/jobv3/{}/", r.name));
            let route = route.unwrap_or(Route::ExecuteJob);
            assert_eq!(route.name(), format!("jobv3/{}", r.name));
        }
    }

    #[test]
    fn v3_table_has_no_duplicates_and_gateway_methods() {
        let mut names: Vec<&str> = V3_RESOURCES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        let method = |n: &str| V3_RESOURCES.iter().find(|r| r.name == n).map(|r| r.method);
        assert_eq!(method("get_dangerous_rule_list"), Some(Method::Post));
        assert_eq!(method("get_job_instance_status"), Some(Method::Get));
        assert_eq!(method("batch_get_job_instance_ip_log"), Some(Method::Post));
        assert_eq!(method("generate_local_file_upload_url"), None);
    }
}

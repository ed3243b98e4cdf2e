//! Legacy path → [`Route`] (DESIGN §3).
//!
//! Accepted prefixes: `/api/c/compapi/v2/` and `/api/c/compapi/`; trailing slash optional.

use super::Method;
use super::calls::LegacyCall;
use super::calls::unavailable::Unavailable;

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
    /// `jobv3/<name>` for a name not in [`V3_RESOURCES`] (e.g. a resource newer than this
    /// shim): passed through by name, labelled `jobv3/other`.
    V3Other(String),
    /// One of the 16 other legacy `job/*` calls, translated by an exchange.
    Call(LegacyCall),
    /// A legacy `job/*` name JOB v3 has no equivalent for: answered with an error.
    Unavailable(&'static Unavailable),
}

/// A known JOB v3 resource on the API gateway and its method there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Resource {
    /// Resource name, e.g. `get_job_instance_status`.
    pub name: &'static str,
    /// Route name (metric label): `jobv3/<name>`.
    pub route: &'static str,
    /// The method the gateway publishes it with.
    pub method: Method,
}

impl V3Resource {
    /// A resource not in [`V3_RESOURCES`], passed through by name: `get_*` names are
    /// queries (GET, as the gateway publishes every query resource), others POST.
    pub fn method_for_unknown(name: &str) -> Method {
        if name.starts_with("get_") {
            Method::Get
        } else {
            Method::Post
        }
    }
}

macro_rules! v3 {
    ($method:ident $name:literal) => {
        V3Resource {
            name: $name,
            route: concat!("jobv3/", $name),
            method: Method::$method,
        }
    };
}

/// The `/api/v3/*` resources of bk-job's gateway (`support-files/bk-api-gateway/v3/resources.yaml`)
/// that the legacy ESB `jobv3` component also exposed (`docs/apidoc/esb/jobv3-confapis/job.yaml`),
/// with the method the gateway publishes. Left out: `generate_local_file_upload_url` and
/// `get_latest_service_version` (only under `/api/v3/system/` on the gateway),
/// `get_step_instance_detail` / `get_step_instance_status` (never in ESB `jobv3`).
/// `callback_protocol` is a document, GET on the gateway (the ESB client POSTs it). Other well-formed names are passed through by name as
/// [`Route::V3Other`] under the single metric label `jobv3/other`.
pub const V3_RESOURCES: &[V3Resource] = &[
    // job-execute
    v3!(Post "execute_job_plan"),
    v3!(Post "fast_execute_script"),
    v3!(Post "fast_execute_sql"),
    v3!(Post "fast_transfer_file"),
    v3!(Post "push_config_file"),
    v3!(Post "operate_job_instance"),
    v3!(Post "operate_step_instance"),
    v3!(Get "get_job_instance_status"),
    v3!(Get "get_job_instance_ip_log"),
    v3!(Post "batch_get_job_instance_ip_log"),
    v3!(Get "get_job_instance_list"),
    v3!(Get "get_job_instance_global_var_value"),
    // job-manage: plans, accounts
    v3!(Get "get_job_template_list"),
    v3!(Get "get_job_plan_list"),
    v3!(Get "get_job_plan_detail"),
    v3!(Get "get_account_list"),
    v3!(Post "create_account"),
    v3!(Post "delete_account"),
    // job-manage: business scripts
    v3!(Get "get_script_list"),
    v3!(Get "get_script_version_list"),
    v3!(Get "get_script_version_detail"),
    v3!(Post "create_script"),
    v3!(Post "create_script_version"),
    v3!(Post "update_script_basic"),
    v3!(Post "update_script_version"),
    v3!(Post "publish_script_version"),
    v3!(Post "disable_script_version"),
    v3!(Post "delete_script_version"),
    v3!(Post "delete_script"),
    // job-manage: public scripts
    v3!(Get "get_public_script_list"),
    v3!(Get "get_public_script_version_list"),
    v3!(Get "get_public_script_version_detail"),
    v3!(Post "create_public_script"),
    v3!(Post "create_public_script_version"),
    v3!(Post "update_public_script_basic"),
    v3!(Post "update_public_script_version"),
    v3!(Post "publish_public_script_version"),
    v3!(Post "disable_public_script_version"),
    v3!(Post "delete_public_script_version"),
    v3!(Post "delete_public_script"),
    // job-manage: dangerous rules (get_dangerous_rule_list is a POST on the gateway)
    v3!(Post "check_script"),
    v3!(Post "get_dangerous_rule_list"),
    v3!(Post "create_dangerous_rule"),
    v3!(Post "update_dangerous_rule"),
    v3!(Post "delete_dangerous_rule"),
    v3!(Post "enable_dangerous_rule"),
    v3!(Post "disable_dangerous_rule"),
    // job-manage: credentials
    v3!(Post "create_credential"),
    v3!(Post "update_credential"),
    v3!(Get "get_credential_detail"),
    // job-crontab
    v3!(Get "get_cron_list"),
    v3!(Get "get_cron_detail"),
    v3!(Post "save_cron"),
    v3!(Post "update_cron_status"),
    v3!(Post "delete_cron"),
    // a document (the callback's body), published as GET
    v3!(Get "callback_protocol"),
    // job-file-gateway
    v3!(Post "create_file_source"),
    v3!(Post "update_file_source"),
    v3!(Get "get_file_source_detail"),
];

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
                other => match LegacyRoute::from_name(other)? {
                    LegacyRoute::Call(c) => Some(Route::Call(c)),
                    LegacyRoute::Unavailable(u) => Some(Route::Unavailable(u)),
                },
            },
            "jobv3" => match V3_RESOURCES.iter().find(|r| r.name == name) {
                Some(r) => Some(Route::V3(*r)),
                None if is_resource_name(name) => Some(Route::V3Other(name.to_owned())),
                None => None,
            },
            _ => None,
        }
    }

    /// True for read-only query APIs: the only routes a GET may call (a GET that could
    /// start a job would let a page on another site run it with the user's `bk_token`
    /// cookie).
    pub fn is_query(&self) -> bool {
        match self {
            Route::GetJobInstanceStatus | Route::GetJobInstanceLog => true,
            Route::ExecuteJob | Route::FastExecuteScript | Route::FastPushFile => false,
            Route::V3(r) => r.method == Method::Get,
            Route::V3Other(name) => V3Resource::method_for_unknown(name) == Method::Get,
            Route::Call(c) => !c.is_mutating(),
            Route::Unavailable(_) => true,
        }
    }

    /// True when the call may start, stop or change something: a caller identified only
    /// by the `bk_token` cookie must not reach it through a GET or a form POST (CSRF).
    pub fn is_mutating(&self) -> bool {
        !self.is_query()
    }

    /// Stable route name (metric label, log field), never the raw path.
    pub fn name(&self) -> &'static str {
        match self {
            Route::ExecuteJob => "job/execute_job",
            Route::FastExecuteScript => "job/fast_execute_script",
            Route::FastPushFile => "job/fast_push_file",
            Route::GetJobInstanceStatus => "job/get_job_instance_status",
            Route::GetJobInstanceLog => "job/get_job_instance_log",
            Route::V3(r) => r.route,
            Route::V3Other(_) => "jobv3/other",
            Route::Call(c) => c.route(),
            Route::Unavailable(u) => u.route,
        }
    }
}

/// Every legacy `job/*` v2 name (`spec/legacy-api-surface.md` §2), in the table's order.
pub const LEGACY_JOB_NAMES: [&str; 30] = [
    "execute_job",
    "fast_execute_script",
    "fast_push_file",
    "fast_execute_sql",
    "push_config_file",
    "operate_job_instance",
    "operate_step_instance",
    "get_job_instance_status",
    "get_job_instance_log",
    "get_step_instance_status",
    "get_job_instance_global_var_value",
    "get_job_list",
    "get_job_detail",
    "get_script_list",
    "get_public_script_list",
    "get_script_detail",
    "get_os_account",
    "get_own_db_account_list",
    "get_cron_list",
    "save_cron",
    "update_cron_status",
    "execute_platform_job",
    "get_agent_status",
    "import_job",
    "get_proc_result",
    "manage_proc",
    "operate_proc",
    "operate_process",
    "set_base_report",
    "callback_protocol",
];

/// A legacy `job/*` name beyond the five [`Route`] variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyRoute {
    /// Translated by an exchange.
    Call(LegacyCall),
    /// No JOB v3 equivalent: answered with an error saying so.
    Unavailable(&'static Unavailable),
}

impl LegacyRoute {
    /// Parse a request path (same prefixes as [`Route::from_path`]).
    pub fn from_path(path: &str) -> Option<LegacyRoute> {
        let rest = path
            .strip_prefix("/api/c/compapi/v2/")
            .or_else(|| path.strip_prefix("/api/c/compapi/"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let name = rest.strip_prefix("job/")?;
        LegacyRoute::from_name(name)
    }

    /// The entry for a legacy name (after `job/`).
    pub fn from_name(name: &str) -> Option<LegacyRoute> {
        LegacyCall::from_name(name)
            .map(LegacyRoute::Call)
            .or_else(|| Unavailable::find(name).map(LegacyRoute::Unavailable))
    }

    /// Stable route name (metric label).
    pub fn name(&self) -> &'static str {
        match self {
            LegacyRoute::Call(c) => c.route(),
            LegacyRoute::Unavailable(u) => u.route,
        }
    }

    /// See [`Route::is_mutating`]; an unavailable call changes nothing.
    pub fn is_mutating(&self) -> bool {
        match self {
            LegacyRoute::Call(c) => c.is_mutating(),
            LegacyRoute::Unavailable(_) => false,
        }
    }
}

/// A plausible resource name: 1 to 64 of `[a-z0-9_]`, starting with a letter.
fn is_resource_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
        assert!(
            Route::from_path("/api/c/compapi/v2/job/save_cron/").is_some_and(|r| r.is_mutating())
        );
        assert!(
            Route::from_path("/api/c/compapi/v2/job/get_cron_list/").is_some_and(|r| r.is_query())
        );
        assert_eq!(Route::from_path("/api/c/compapi/v2/cc/execute_job/"), None);
        assert_eq!(Route::from_path("/other"), None);
        assert_eq!(
            Route::from_path("/api/c/compapi/v2/jobv3/unknown_thing/"),
            Some(Route::V3Other("unknown_thing".into()))
        );
        for bad in ["Bad", "a/b", "a-b", "_x", "", &"x".repeat(65)] {
            assert_eq!(
                Route::from_path(&format!("/api/c/compapi/v2/jobv3/{bad}/")),
                None,
                "{bad}"
            );
        }
        let other = Route::from_path("/api/c/compapi/jobv3/get_new_thing");
        assert_eq!(other.map(|r| r.name()), Some("jobv3/other"));
        assert_eq!(V3Resource::method_for_unknown("get_new_thing"), Method::Get);
        assert_eq!(V3Resource::method_for_unknown("do_thing"), Method::Post);
    }

    #[test]
    fn all_30_legacy_names_are_served_or_explained() {
        for name in LEGACY_JOB_NAMES {
            let path = format!("/api/c/compapi/v2/job/{name}/");
            // Every name is served (the five of DESIGN §3 directly, the others through
            // their exchange or their "no equivalent" error), under its own route name.
            let route = Route::from_path(&path).map(|r| r.name());
            assert_eq!(route.map(str::to_owned), Some(format!("job/{name}")));
            let legacy = LegacyRoute::from_path(&path).map(|r| r.name());
            let direct = [
                "execute_job",
                "fast_execute_script",
                "fast_push_file",
                "get_job_instance_status",
                "get_job_instance_log",
            ];
            assert_eq!(legacy.is_none(), direct.contains(&name), "{name}");
            assert!(legacy.is_none_or(|l| l == format!("job/{name}")), "{name}");
        }
        assert_eq!(LegacyRoute::from_path("/api/c/compapi/v2/job/nope/"), None);
        assert!(
            LegacyRoute::from_path("/api/c/compapi/job/save_cron").is_some_and(|r| r.is_mutating())
        );
        assert!(
            LegacyRoute::from_path("/api/c/compapi/job/get_cron_list")
                .is_some_and(|r| !r.is_mutating())
        );
        assert!(Route::ExecuteJob.is_mutating() && !Route::GetJobInstanceLog.is_mutating());
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

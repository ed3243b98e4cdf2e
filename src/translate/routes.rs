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
/// that the legacy ESB `jobv3` component also exposed. Unknown names answer 1306404, so the
/// metric label `route` stays bounded.
pub const V3_RESOURCES: &[V3Resource] = &[
    V3Resource {
        name: "execute_job_plan",
        method: Method::Post,
    },
    V3Resource {
        name: "fast_execute_script",
        method: Method::Post,
    },
    V3Resource {
        name: "fast_execute_sql",
        method: Method::Post,
    },
    V3Resource {
        name: "fast_transfer_file",
        method: Method::Post,
    },
    V3Resource {
        name: "push_config_file",
        method: Method::Post,
    },
    V3Resource {
        name: "operate_job_instance",
        method: Method::Post,
    },
    V3Resource {
        name: "operate_step_instance",
        method: Method::Post,
    },
    V3Resource {
        name: "get_job_instance_status",
        method: Method::Get,
    },
    V3Resource {
        name: "get_job_instance_ip_log",
        method: Method::Get,
    },
    V3Resource {
        name: "batch_get_job_instance_ip_log",
        method: Method::Post,
    },
    V3Resource {
        name: "get_job_instance_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_job_instance_global_var_value",
        method: Method::Get,
    },
    V3Resource {
        name: "get_job_plan_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_job_plan_detail",
        method: Method::Get,
    },
    V3Resource {
        name: "get_job_template_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_account_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_script_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_script_version_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_script_version_detail",
        method: Method::Get,
    },
    V3Resource {
        name: "get_public_script_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_public_script_version_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_public_script_version_detail",
        method: Method::Get,
    },
    V3Resource {
        name: "get_cron_list",
        method: Method::Get,
    },
    V3Resource {
        name: "get_cron_detail",
        method: Method::Get,
    },
    V3Resource {
        name: "save_cron",
        method: Method::Post,
    },
    V3Resource {
        name: "update_cron_status",
        method: Method::Post,
    },
    V3Resource {
        name: "get_dangerous_rule_list",
        method: Method::Get,
    },
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
        "get_job_plan_list",
        "get_job_plan_detail",
        "get_job_template_list",
        "get_account_list",
        "get_script_list",
        "get_script_version_list",
        "get_script_version_detail",
        "get_public_script_list",
        "get_public_script_version_list",
        "get_public_script_version_detail",
        "get_cron_list",
        "get_cron_detail",
        "save_cron",
        "update_cron_status",
        "get_dangerous_rule_list",
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
}

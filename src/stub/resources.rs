//! The emulator's own table of the resources the BlueKing API gateway publishes for bk-job
//! (`support-files/bk-api-gateway/v3/resources.yaml` in bk-job: every `/api/v3/X` and
//! `/api/v3/system/X` path with its method). It is deliberately independent of the shim's
//! translation tables, so that the emulator refuses a wrong method or an unpublished path
//! exactly as the gateway would, whatever the shim believes.

/// HTTP method a resource is published with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

/// One published resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Published {
    /// Resource name, e.g. `get_job_plan_list`.
    pub(super) name: &'static str,
    /// The method.
    pub(super) verb: Verb,
    /// Published as `/api/v3/<name>`.
    pub(super) public: bool,
    /// Published as `/api/v3/system/<name>`.
    pub(super) system: bool,
}

macro_rules! r {
    ($verb:ident $name:literal public=$public:literal system=$system:literal) => {
        Published {
            name: $name,
            verb: Verb::$verb,
            public: $public,
            system: $system,
        }
    };
}

/// Every published v3 resource, sorted by name.
pub(super) const PUBLISHED: &[Published] = &[
    r!(Post "batch_get_job_instance_ip_log" public=true system=true),
    r!(Post "bkci_plugin_batch_get_job_instance_execute_object_log" public=false system=true),
    r!(Post "bkci_plugin_fast_execute_script" public=false system=true),
    r!(Post "bkci_plugin_fast_transfer_file" public=false system=true),
    r!(Post "bkci_plugin_get_job_instance_status" public=false system=true),
    r!(Get "callback_protocol" public=true system=false),
    r!(Post "check_script" public=true system=true),
    r!(Post "create_account" public=true system=true),
    r!(Post "create_credential" public=true system=true),
    r!(Post "create_dangerous_rule" public=true system=true),
    r!(Post "create_file_source" public=true system=true),
    r!(Post "create_public_script" public=true system=true),
    r!(Post "create_public_script_version" public=true system=true),
    r!(Post "create_script" public=true system=true),
    r!(Post "create_script_version" public=true system=true),
    r!(Post "delete_account" public=true system=true),
    r!(Post "delete_cron" public=true system=true),
    r!(Post "delete_dangerous_rule" public=true system=true),
    r!(Post "delete_public_script" public=true system=true),
    r!(Post "delete_public_script_version" public=true system=true),
    r!(Post "delete_script" public=true system=true),
    r!(Post "delete_script_version" public=true system=true),
    r!(Post "disable_dangerous_rule" public=true system=true),
    r!(Post "disable_public_script_version" public=true system=true),
    r!(Post "disable_script_version" public=true system=true),
    r!(Post "enable_dangerous_rule" public=true system=true),
    r!(Post "execute_job_plan" public=true system=true),
    r!(Post "fast_execute_script" public=true system=true),
    r!(Post "fast_execute_sql" public=true system=true),
    r!(Post "fast_transfer_file" public=true system=true),
    r!(Post "generate_local_file_upload_url" public=false system=true),
    r!(Get "get_account_list" public=true system=true),
    r!(Get "get_account_password_encryption_metadata" public=true system=true),
    r!(Get "get_credential_detail" public=true system=true),
    r!(Get "get_cron_detail" public=true system=true),
    r!(Get "get_cron_list" public=true system=true),
    r!(Post "get_dangerous_rule_list" public=true system=true),
    r!(Get "get_file_source_detail" public=true system=true),
    r!(Get "get_job_instance_global_var_value" public=true system=true),
    r!(Get "get_job_instance_ip_log" public=true system=true),
    r!(Get "get_job_instance_list" public=true system=true),
    r!(Get "get_job_instance_status" public=true system=true),
    r!(Get "get_job_plan_detail" public=true system=true),
    r!(Get "get_job_plan_list" public=true system=true),
    r!(Get "get_job_template_list" public=true system=true),
    r!(Get "get_latest_service_version" public=false system=true),
    r!(Get "get_notify_config" public=true system=true),
    r!(Get "get_public_script_list" public=true system=true),
    r!(Get "get_public_script_version_detail" public=true system=true),
    r!(Get "get_public_script_version_list" public=true system=true),
    r!(Get "get_script_list" public=true system=true),
    r!(Get "get_script_version_detail" public=true system=true),
    r!(Get "get_script_version_list" public=true system=true),
    r!(Get "get_step_instance_detail" public=true system=true),
    r!(Get "get_step_instance_status" public=true system=true),
    r!(Post "operate_job_instance" public=true system=true),
    r!(Post "operate_step_instance" public=true system=true),
    r!(Post "publish_public_script_version" public=true system=true),
    r!(Post "publish_script_version" public=true system=true),
    r!(Post "push_config_file" public=true system=true),
    r!(Post "query_agent_info" public=false system=true),
    r!(Get "query_gse_task" public=false system=true),
    r!(Get "query_job_instance" public=false system=true),
    r!(Post "save_cron" public=true system=true),
    r!(Post "update_account" public=true system=true),
    r!(Post "update_credential" public=true system=true),
    r!(Post "update_cron_status" public=true system=true),
    r!(Post "update_dangerous_rule" public=true system=true),
    r!(Post "update_file_source" public=true system=true),
    r!(Post "update_public_script_basic" public=true system=true),
    r!(Post "update_public_script_version" public=true system=true),
    r!(Post "update_script_basic" public=true system=true),
    r!(Post "update_script_version" public=true system=true),
];

/// The resource published at `name` (under `/api/v3/system/` when `system`).
pub(super) fn find(name: &str, system: bool) -> Option<&'static Published> {
    PUBLISHED
        .iter()
        .find(|r| r.name == name && if system { r.system } else { r.public })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_gateway() {
        assert_eq!(PUBLISHED.len(), 73);
        assert!(PUBLISHED.windows(2).all(|w| w[0].name < w[1].name));
        let get = |n: &str, s: bool| find(n, s).map(|r| r.verb);
        assert_eq!(get("get_dangerous_rule_list", false), Some(Verb::Post));
        assert_eq!(get("get_step_instance_status", false), Some(Verb::Get));
        assert_eq!(get("bkci_plugin_fast_execute_script", false), None);
        assert_eq!(
            get("bkci_plugin_fast_execute_script", true),
            Some(Verb::Post)
        );
        assert_eq!(get("generate_local_file_upload_url", false), None);
        assert_eq!(get("callback_protocol", true), None);
        assert_eq!(get("callback_protocol", false), Some(Verb::Get));
    }
}

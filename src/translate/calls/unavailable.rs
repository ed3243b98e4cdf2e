//! Legacy `job/*` names JOB v3 has no equivalent for (`spec/legacy-api-surface.md` §2 rows
//! 22–30): answered with a legacy error that says so and what to use instead, never
//! "component not found".

use super::super::{RejectReason, TranslateError, codes};

/// A legacy call the shim cannot translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable {
    /// The legacy name (after `job/`).
    pub name: &'static str,
    /// The route name (`job/<name>`, a metric label).
    pub route: &'static str,
    /// What to use instead (a sentence), or why nothing exists.
    pub instead: &'static str,
}

macro_rules! unavailable {
    ($($name:literal => $instead:literal,)*) => {
        /// Every legacy name without a JOB v3 equivalent.
        pub const UNAVAILABLE: &[Unavailable] = &[$(Unavailable {
            name: $name,
            route: concat!("job/", $name),
            instead: $instead,
        }),*];
    };
}

unavailable! {
    "execute_platform_job" =>
        "JOB 3.x dropped cross-business platform jobs: create the plan in a business set and \
         run it with job/execute_job (jobv3/execute_job_plan) using that business set's scope",
    "get_agent_status" =>
        "ask the GSE agent status from CMDB/GSE (the only JOB v3 relative is the system-only \
         query_agent_info, which needs host ids)",
    "import_job" =>
        "import job files in the JOB web console (backup and import); there is no API for it",
    "get_proc_result" =>
        "GSE process management is not part of JOB v3: use the GSE process API or bk-nodeman",
    "manage_proc" =>
        "GSE process management is not part of JOB v3: use the GSE process API or bk-nodeman",
    "operate_proc" =>
        "GSE process management is not part of JOB v3: use the GSE process API or bk-nodeman",
    "operate_process" =>
        "GSE process management is not part of JOB v3: use the GSE process API or bk-nodeman",
    "set_base_report" =>
        "GSE base reporting is not part of JOB v3: configure it in GSE or bk-nodeman",
    "callback_protocol" =>
        "callback_protocol is documentation, not a call: JOB v3 posts the same callback body to \
         the callback_url given when a job is started",
}

/// The code of the answer: the shim's parameter error (the call cannot be made as asked).
pub const CODE: i64 = codes::ARGUMENT_ERROR;

impl Unavailable {
    /// The entry for `name`, if it is one of them.
    pub fn find(name: &str) -> Option<&'static Unavailable> {
        UNAVAILABLE.iter().find(|u| u.name == name)
    }

    /// The refusal as a translation error (`1306406`, field `path`).
    pub fn to_error(&self) -> TranslateError {
        TranslateError::new(RejectReason::Invalid, "path", self.message())
    }

    /// The legacy error message.
    pub fn message(&self) -> String {
        format!(
            "job/{} has no equivalent in JOB v3, so this shim cannot translate it: {}",
            self.name, self.instead
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_impossible_name_says_so() {
        assert_eq!(UNAVAILABLE.len(), 9);
        for u in UNAVAILABLE {
            assert_eq!(Unavailable::find(u.name), Some(u));
            assert!(u.message().contains("has no equivalent in JOB v3"));
            assert!(u.message().is_ascii());
        }
        assert!(Unavailable::find("execute_job").is_none());
    }
}

//! The legacy `job/*` calls JOB 3.x still serves beyond the five of DESIGN §3
//! (`spec/legacy-api-surface.md` §2 rows 4–7 and 10–21), each as an [`Exchange`]:
//!
//! | legacy `job/…` | v3 (GET/POST) | module |
//! |---|---|---|
//! | `fast_execute_sql` | POST `fast_execute_sql` | [`exec`] |
//! | `push_config_file` | POST `push_config_file` | [`exec`] |
//! | `operate_job_instance` | POST `operate_job_instance` | [`exec`] |
//! | `operate_step_instance` | POST `operate_step_instance` | [`exec`] |
//! | `get_step_instance_status` | GET `get_step_instance_status` | [`steps`] |
//! | `get_job_instance_global_var_value` | GET `get_job_instance_global_var_value` | [`steps`] |
//! | `get_job_list` | GET `get_job_plan_list`, paged | [`plans`] |
//! | `get_job_detail` | GET `get_job_plan_detail` + `get_account_list` + script version details | [`plans`] |
//! | `get_script_list`, `get_public_script_list` | GET `get_(public_)script_list`, paged, + version details | [`scripts`] |
//! | `get_script_detail` | GET `get_script_version_detail`, else the public one | [`scripts`] |
//! | `get_os_account`, `get_own_db_account_list` | GET `get_account_list`, paged | [`accounts`] |
//! | `get_cron_list` | GET `get_cron_list`, paged | [`crons`] |
//! | `save_cron`, `update_cron_status` | POST `save_cron`, `update_cron_status` | [`crons`] |
//!
//! Every call reads its legacy body into typed values first (errors name the field, as for
//! the other calls), so nothing is sent for a bad request.

pub mod accounts;
pub mod crons;
pub mod exec;
pub mod list;
pub mod plans;
pub mod scripts;
pub mod steps;
pub mod unavailable;

use super::exchange::{Exchange, Window};
use super::scope::Scope;
use super::validate::{self, Path};
use super::{Credentials, RejectReason, TranslateError};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde_json::{Map, Value};

type Result<T> = std::result::Result<T, TranslateError>;

/// Settings of the call translations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallOptions {
    /// Zone of plan and cron times (`legacy.timezone`); script and account times are UTC.
    pub tz: Tz,
    /// Ceiling on the rows of one "every row" list answer (`paging.max_rows`).
    pub max_rows: usize,
    /// `length` of each v3 list call (`paging.page_length`, 1..=1000).
    pub page_len: usize,
}

impl CallOptions {
    /// The paging bounds.
    pub fn limits(&self) -> super::exchange::Limits {
        super::exchange::Limits {
            max_rows: self.max_rows,
            page_len: self.page_len,
        }
    }
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            tz: chrono_tz::Asia::Shanghai,
            max_rows: super::exchange::DEFAULT_MAX_ROWS,
            page_len: super::exchange::MAX_PAGE,
        }
    }
}

macro_rules! calls {
    ($($variant:ident $name:literal $mutating:literal,)*) => {
        /// A legacy `job/*` call translated by an exchange.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum LegacyCall {
            $(
                #[doc = concat!("`job/", $name, "`.")]
                $variant,
            )*
        }

        impl LegacyCall {
            /// Every call, in the order of the spec table.
            pub const ALL: &'static [LegacyCall] = &[$(LegacyCall::$variant),*];

            /// The legacy name (after `job/`).
            pub fn name(self) -> &'static str {
                match self { $(LegacyCall::$variant => $name),* }
            }

            /// The route name (`job/<name>`, a metric label).
            pub fn route(self) -> &'static str {
                match self { $(LegacyCall::$variant => concat!("job/", $name)),* }
            }

            /// True when the call starts, stops or changes something.
            pub fn is_mutating(self) -> bool {
                match self { $(LegacyCall::$variant => $mutating),* }
            }

            /// The call named `name`, if any.
            pub fn from_name(name: &str) -> Option<LegacyCall> {
                match name { $($name => Some(LegacyCall::$variant),)* _ => None }
            }
        }
    };
}

calls! {
    FastExecuteSql "fast_execute_sql" true,
    PushConfigFile "push_config_file" true,
    OperateJobInstance "operate_job_instance" true,
    OperateStepInstance "operate_step_instance" true,
    GetStepInstanceStatus "get_step_instance_status" false,
    GetJobInstanceGlobalVarValue "get_job_instance_global_var_value" false,
    GetJobList "get_job_list" false,
    GetJobDetail "get_job_detail" false,
    GetScriptList "get_script_list" false,
    GetPublicScriptList "get_public_script_list" false,
    GetScriptDetail "get_script_detail" false,
    GetOsAccount "get_os_account" false,
    GetOwnDbAccountList "get_own_db_account_list" false,
    GetCronList "get_cron_list" false,
    SaveCron "save_cron" true,
    UpdateCronStatus "update_cron_status" true,
}

/// Start the exchange for `call` from its legacy body (query and form values already read
/// into it). Credentials are removed first; a bad body is an error and nothing is sent.
pub fn exchange(
    call: LegacyCall,
    mut body: Map<String, Value>,
    opts: &CallOptions,
) -> Result<Box<dyn Exchange>> {
    let _ = Credentials::take_from(&mut body);
    let b = &body;
    Ok(match call {
        LegacyCall::FastExecuteSql => exec::fast_execute_sql(b)?,
        LegacyCall::PushConfigFile => exec::push_config_file(b)?,
        LegacyCall::OperateJobInstance => exec::operate_job_instance(b)?,
        LegacyCall::OperateStepInstance => exec::operate_step_instance(b)?,
        LegacyCall::GetStepInstanceStatus => steps::get_step_instance_status(b, opts)?,
        LegacyCall::GetJobInstanceGlobalVarValue => steps::get_global_var_value(b)?,
        LegacyCall::GetJobList => plans::get_job_list(b, opts)?,
        LegacyCall::GetJobDetail => plans::get_job_detail(b, opts)?,
        LegacyCall::GetScriptList => scripts::get_script_list(b, opts, false)?,
        LegacyCall::GetPublicScriptList => scripts::get_script_list(b, opts, true)?,
        LegacyCall::GetScriptDetail => scripts::get_script_detail(b)?,
        LegacyCall::GetOsAccount => accounts::get_os_account(b, opts)?,
        LegacyCall::GetOwnDbAccountList => accounts::get_own_db_account_list(b, opts)?,
        LegacyCall::GetCronList => crons::get_cron_list(b, opts)?,
        LegacyCall::SaveCron => crons::save_cron(b, opts)?,
        LegacyCall::UpdateCronStatus => crons::update_cron_status(b)?,
    })
}

// ---------------------------------------------------------------------------------------
// Shared readers and writers
// ---------------------------------------------------------------------------------------

/// The required scope (`bk_biz_id`, or `bk_scope_type` + `bk_scope_id`).
pub(crate) fn scope(m: &Map<String, Value>) -> Result<Scope> {
    validate::required_scope(m, &Path::ROOT)
}

/// `bk_scope_type`, `bk_scope_id` as query parameters.
pub(crate) fn scope_query(scope: &Scope) -> Vec<(String, String)> {
    vec![
        ("bk_scope_type".to_owned(), scope.bk_scope_type.to_owned()),
        ("bk_scope_id".to_owned(), scope.bk_scope_id.clone()),
    ]
}

/// A required positive id field.
pub(crate) fn id(m: &Map<String, Value>, key: &str) -> Result<i64> {
    validate::req_positive(m.get(key), &Path::ROOT.key(key))
}

/// An optional integer field.
pub(crate) fn int(m: &Map<String, Value>, key: &str) -> Result<Option<i64>> {
    validate::opt_int(m.get(key), &Path::ROOT.key(key))
}

/// An optional non-empty string field.
pub(crate) fn text(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    validate::opt_nonempty(m.get(key), &Path::ROOT.key(key))
}

/// An optional boolean: `true`/`false` (also as text), `1`/`0`.
pub(crate) fn flag(m: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    let p = Path::ROOT.key(key);
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        v => match validate::opt_flag(v, &p, false) {
            Ok(i) => Ok(i.map(|i| i == 1)),
            Err(_) => Err(validate::type_error(
                &p,
                "a boolean",
                v.unwrap_or(&Value::Null),
            )),
        },
    }
}

/// Legacy `start`/`length`.
pub(crate) fn window(m: &Map<String, Value>) -> Result<Window> {
    let start = int(m, "start")?;
    if let Some(s) = start.filter(|s| *s < 0) {
        return Err(validate::invalid(
            &Path::ROOT.key("start"),
            format!("must be 0 or more, got {s}"),
        ));
    }
    Ok(super::exchange::window(start, int(m, "length")?))
}

/// A legacy `"yyyy-MM-dd"` date (midnight in `tz`, as JOB's v2 reads it) as Unix seconds.
pub(crate) fn date_seconds(m: &Map<String, Value>, key: &str, tz: Tz) -> Result<Option<i64>> {
    let Some(s) = text(m, key)? else {
        return Ok(None);
    };
    let p = Path::ROOT.key(key);
    let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        validate::invalid(
            &p,
            format!("must be a date yyyy-MM-dd, got {}", validate::quote(&s)),
        )
    })?;
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .ok_or_else(|| validate::invalid(&p, "is not a valid local date"))?;
    Ok(Some(midnight.timestamp()))
}

/// The v2 list filters on creation and modification dates (`create_time_start` …
/// `last_modify_time_end`, `yyyy-MM-dd` in `tz`), pushed as v3's Unix-second parameters.
pub(crate) fn push_date_range(
    q: &mut Vec<(String, String)>,
    m: &Map<String, Value>,
    tz: Tz,
) -> Result<()> {
    for key in [
        "create_time_start",
        "create_time_end",
        "last_modify_time_start",
        "last_modify_time_end",
    ] {
        push_opt(q, key, date_seconds(m, key, tz)?);
    }
    Ok(())
}

/// Push `key=value` when the value is present.
pub(crate) fn push_opt(q: &mut Vec<(String, String)>, key: &str, v: Option<impl ToString>) {
    if let Some(v) = v {
        q.push((key.to_owned(), v.to_string()));
    }
}

/// A v3 time (seconds or ms) as a legacy string in `tz`; `null` when absent.
pub(crate) fn time(v: &Value, tz: Tz) -> Value {
    v.as_i64()
        .and_then(|t| super::status::format_legacy_time(t, tz))
        .map_or(Value::Null, Value::from)
}

/// The rows of a v3 reply that should be a list.
pub(crate) fn rows<'v>(v: &'v Value, field: &str) -> Result<&'v [Value]> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(&[]),
        _ => Err(TranslateError::new(
            RejectReason::Invalid,
            field,
            "is not a list",
        )),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the unit tests of the call modules.
    use super::super::envelope::EsbResp;
    use super::super::exchange::{Outcome, Step, drive};
    use super::*;

    /// A body from JSON.
    pub(crate) fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// A successful reply.
    pub(crate) fn ok(data: Value) -> Outcome {
        Outcome::Reply(EsbResp {
            code: 0,
            message: None,
            data,
            permission: None,
            job_request_id: None,
            status: None,
        })
    }

    /// Run `call` with `body` against `replies` (one per request, in order); returns the
    /// requests (as JSON) and the final step.
    pub(crate) fn run(call: LegacyCall, b: Value, replies: Vec<Value>) -> (Vec<Value>, Step) {
        let mut ex = match exchange(call, body(b), &CallOptions::default()) {
            Ok(ex) => ex,
            Err(e) => {
                return (
                    vec![],
                    Step::Fail(super::super::exchange::CallError::Rejected(e)),
                );
            }
        };
        let mut replies = replies.into_iter();
        let (sent, step) = drive(ex.as_mut(), |_| match replies.next() {
            Some(d) => ok(d),
            None => Outcome::Failed { definitive: false },
        });
        let sent = sent
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect();
        (sent, step)
    }

    /// The legacy data of a finished step.
    pub(crate) fn done(step: &Step) -> Value {
        match step {
            Step::Done(f) => f.data.tree().into_owned(),
            other => Value::String(format!("not done: {other:?}")),
        }
    }

    /// The parameter error of a body.
    pub(crate) fn refused(call: LegacyCall, b: Value) -> String {
        match exchange(call, body(b), &CallOptions::default()) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(LegacyCall::ALL.len(), 16);
        for c in LegacyCall::ALL {
            assert_eq!(LegacyCall::from_name(c.name()), Some(*c));
            assert_eq!(c.route(), format!("job/{}", c.name()));
        }
        assert!(LegacyCall::SaveCron.is_mutating());
        assert!(!LegacyCall::GetCronList.is_mutating());
    }

    #[test]
    fn dates_are_midnight_in_the_zone() {
        let m = test_support::body(serde_json::json!({"d": "2024-01-02", "bad": "2024/01/02"}));
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            date_seconds(&m, "d", tz).ok().flatten(),
            Some(1_704_124_800)
        );
        let e = date_seconds(&m, "bad", tz).err().map(|e| e.message());
        assert!(e.is_some_and(|e| e.contains("[bad]")));
    }

    #[test]
    fn flags_accept_text() {
        let m = test_support::body(
            serde_json::json!({"a": "true", "b": 0, "c": "1", "d": "yes", "e": false}),
        );
        assert_eq!(flag(&m, "a").ok().flatten(), Some(true));
        assert_eq!(flag(&m, "b").ok().flatten(), Some(false));
        assert_eq!(flag(&m, "c").ok().flatten(), Some(true));
        assert!(flag(&m, "d").is_err());
        assert_eq!(flag(&m, "e").ok().flatten(), Some(false));
        assert_eq!(flag(&m, "zz").ok().flatten(), None);
    }
}

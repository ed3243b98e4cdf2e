//! Configuration: TOML file → environment overrides → CLI flags → validation.
//!
//! Every key can be set from the environment as `BK_JOB_SHIM_<SECTION>__<KEY>`, e.g.
//! `BK_JOB_SHIM_UPSTREAM__URL`. The value is read as a TOML value when it parses as one
//! (`60`, `true`, `["a","b"]`), else as a plain string. Unknown sections and keys are
//! errors. [`Config::problems`] lists every problem at once (used by `check-config`).
//!
//! One file per section (`server.rs`, `upstream.rs`, `legacy.rs`, `auth.rs`,
//! `ratelimit.rs`, `log.rs`; `calls.rs` for `[routes]` and `[paging]`), each a serde struct with `deny_unknown_fields`,
//! `humantime-serde` durations and its own `validate`. [`Settings`] is the validated,
//! typed form the stack is built from: nothing is parsed again on the request path.

mod auth;
mod calls;
mod env;
mod legacy;
mod log;
mod ratelimit;
mod server;
mod settings;
mod upstream;

pub use auth::{AuthConfig, AuthMode};
pub use calls::{FastExecuteScriptTarget, PagingConfig, RoutesConfig};
pub use legacy::{ErrorStatus, LegacyConfig};
pub use log::{LogConfig, LogFormat};
pub use ratelimit::RateLimitConfig;
pub use server::ServerConfig;
pub use settings::Settings;
pub use upstream::{Target, UpstreamConfig};

use env::apply_env;
use serde::Deserialize;
use std::path::Path;

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "BK_JOB_SHIM_";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[upstream]`.
    pub upstream: UpstreamConfig,
    /// `[legacy]`.
    pub legacy: LegacyConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `[rate_limit]`.
    pub rate_limit: RateLimitConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[routes]`.
    pub routes: RoutesConfig,
    /// `[paging]`.
    pub paging: PagingConfig,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(crate) const SECTIONS: [&str; 8] = [
    "server",
    "upstream",
    "legacy",
    "auth",
    "rate_limit",
    "log",
    "routes",
    "paging",
];

/// Re-check a section that failed to deserialize key by key, so that every bad key is
/// reported with its name (serde stops at the first error and does not name the key).
fn key_problems(section: &str, value: &toml::Value, whole: &str) -> Vec<String> {
    fn check<T: serde::de::DeserializeOwned>(v: toml::Value) -> Option<String> {
        v.try_into::<T>()
            .err()
            .map(|e| e.message().trim().to_owned())
    }
    let mut out = Vec::new();
    if let toml::Value::Table(t) = value {
        for (k, v) in t {
            let single = toml::Value::Table(toml::Table::from_iter([(k.clone(), v.clone())]));
            let err = match section {
                "server" => check::<ServerConfig>(single),
                "upstream" => check::<UpstreamConfig>(single),
                "legacy" => check::<LegacyConfig>(single),
                "auth" => check::<AuthConfig>(single),
                "rate_limit" => check::<RateLimitConfig>(single),
                "log" => check::<LogConfig>(single),
                "routes" => check::<RoutesConfig>(single),
                "paging" => check::<PagingConfig>(single),
                _ => None,
            };
            if let Some(e) = err {
                out.push(format!("{section}.{k}: {e}"));
            }
        }
    }
    if out.is_empty() {
        out.push(format!("[{section}] {}", whole.trim()));
    }
    out
}

impl Config {
    /// Load from an optional TOML file plus environment overrides, and validate.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| ConfigErrors(vec![format!("{}: {e}", p.display())]))?,
            None => String::new(),
        };
        Self::from_toml_str(&text, env)
    }

    /// Parse TOML text plus environment overrides, and validate: every problem is listed.
    pub fn from_toml_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let mut problems = Vec::new();
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| ConfigErrors(vec![format!("TOML syntax: {}", e.message().trim())]))?;
        apply_env(&mut table, env, &mut problems);

        // Deserialize section by section so that one bad section does not hide the others.
        let mut config = Config::default();
        for (name, value) in table {
            let value = toml::Value::Table(match value {
                toml::Value::Table(t) => t,
                _ => {
                    problems.push(format!("`{name}` must be a table"));
                    continue;
                }
            });
            let res = match name.as_str() {
                "server" => value.clone().try_into().map(|v| config.server = v),
                "upstream" => value.clone().try_into().map(|v| config.upstream = v),
                "legacy" => value.clone().try_into().map(|v| config.legacy = v),
                "auth" => value.clone().try_into().map(|v| config.auth = v),
                "rate_limit" => value.clone().try_into().map(|v| config.rate_limit = v),
                "log" => value.clone().try_into().map(|v| config.log = v),
                "routes" => value.clone().try_into().map(|v| config.routes = v),
                "paging" => value.clone().try_into().map(|v| config.paging = v),
                other => {
                    problems.push(format!(
                        "unknown section `[{other}]` (expected one of {})",
                        SECTIONS.join(", ")
                    ));
                    continue;
                }
            };
            if let Err(e) = res {
                problems.extend(key_problems(&name, &value, e.message()));
            }
        }
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Semantic checks on an otherwise well-typed configuration: every section's
    /// `validate`.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.server.validate(&mut p);
        self.upstream.validate(&mut p);
        self.legacy.validate(&mut p);
        self.auth.validate(&mut p);
        ratelimit::validate(&self.rate_limit, &mut p);
        self.log.validate(&mut p);
        calls::validate_routes(&self.routes, &self.auth, &mut p);
        calls::validate_paging(&self.paging, &mut p);
        p
    }

    /// Settings that work but weaken a guarantee: `check-config` prints them, `serve`
    /// logs them.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let (grace, timeout) = (self.server.shutdown_grace, self.upstream.timeout);
        if grace < timeout {
            w.push(format!(
                "server.shutdown_grace ({}) is shorter than upstream.timeout ({}): on SIGTERM a \
                 call still waiting for JOB when the grace ends is answered \"outcome unknown\"",
                humantime::format_duration(grace),
                humantime::format_duration(timeout)
            ));
        }
        if self.upstream.pool_idle_timeout >= std::time::Duration::from_secs(60) {
            w.push(format!(
                "upstream.pool_idle_timeout ({}) is not below 60 s, the keep-alive timeout of \
                 common gateways: a pooled connection may be closed by the gateway as it is reused",
                humantime::format_duration(self.upstream.pool_idle_timeout)
            ));
        }
        w.extend(ratelimit::warning(&self.rate_limit));
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_grace_shorter_than_the_upstream_timeout_is_warned_about() {
        let mut c = Config::default();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert!(c.server.shutdown_grace >= c.upstream.timeout);
        assert!(c.upstream.pool_idle_timeout < Duration::from_secs(60));
        c.server.shutdown_grace = Duration::from_secs(10);
        c.upstream.pool_idle_timeout = Duration::from_secs(90);
        let w = c.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("server.shutdown_grace (10s)"), "{w:?}");
        assert!(
            w[1].contains("upstream.pool_idle_timeout (1m 30s)"),
            "{w:?}"
        );
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_toml_str("", env(&[])).unwrap_or_default();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(c.upstream.url, "stub");
        assert!(Config::default().problems().is_empty());
    }

    #[test]
    fn env_overrides_file() {
        let c = Config::from_toml_str(
            "[upstream]\nurl = \"http://a/api/bk-job/prod\"\n",
            env(&[
                ("BK_JOB_SHIM_UPSTREAM__URL", "http://b:8000/api/bk-job/prod"),
                ("BK_JOB_SHIM_UPSTREAM__TIMEOUT", "5s"),
                ("BK_JOB_SHIM_AUTH__ALLOWED_APPS", "[\"x\", \"y\"]"),
                ("BK_JOB_SHIM_SERVER__MAX_BODY_BYTES", "1024"),
                ("BK_JOB_SHIM_AUTH__JWT__LEEWAY", "5s"),
                ("BK_JOB_SHIM_APP_SECRET", "not-a-key"),
                ("OTHER", "1"),
            ]),
        );
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.upstream.url, "http://b:8000/api/bk-job/prod");
        assert_eq!(c.upstream.timeout, Duration::from_secs(5));
        assert_eq!(c.auth.allowed_apps, vec!["x", "y"]);
        assert_eq!(c.server.max_body_bytes, 1024);
        assert_eq!(c.auth.jwt.leeway, Duration::from_secs(5));
        let c = Config::from_toml_str(
            "",
            env(&[
                (
                    "BK_JOB_SHIM_RATE_LIMIT__RATES",
                    "{__default = [{period = 1, tokens = 100}], my_app = [{period = 1, tokens = 5}]}",
                ),
                ("BK_JOB_SHIM_UPSTREAM__HEADERS", r#"{"X-Bk-Tenant-Id" = "1001"}"#),
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.rate_limit.rates["my_app"][0].tokens, 5);
        assert_eq!(c.upstream.headers["X-Bk-Tenant-Id"], "1001");
    }

    #[test]
    fn every_problem_is_reported() {
        let text = r#"
[server]
listen = "127.0.0.1:8080"
bogus = 1
[upstream]
url = "ftp://x"
max_in_flight = 0
headers = { "X-Bk-Tenant-Id" = "t", "Content-Length" = "1" }
[legacy]
timezone = "Mars/Base"
[rate_limit.rates]
__default = [{ period = 0, tokens = 1 }]
[nope]
a = 1
"#;
        let errs = Config::from_toml_str(text, env(&[]))
            .err()
            .unwrap_or(ConfigErrors(vec![]));
        let all = errs.to_string();
        assert!(all.contains("bogus"), "{all}");
        assert!(all.contains("[nope]"), "{all}");
        assert!(all.contains("ftp://x"), "{all}");
        assert!(all.contains("Mars/Base"), "{all}");
        assert!(all.contains("period") && all.contains("tokens"), "{all}");
        assert!(all.contains("Content-Length"), "{all}");
        assert!(all.contains("upstream.max_in_flight"), "{all}");
        assert_eq!(errs.0.len(), 7, "{all}");
        let userinfo = Config::from_toml_str("[upstream]\nurl = \"http://u:pw@h/api\"\n", env(&[]));
        let msg = userinfo.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("credentials") && !msg.contains("pw"), "{msg}");
    }
}

//! Configuration: TOML file → environment overrides → CLI flags → validation.
//!
//! Every key can be set from the environment as `BK_JOB_SHIM_<SECTION>__<KEY>`, e.g.
//! `BK_JOB_SHIM_UPSTREAM__URL`. The value is read as a TOML value when it parses as one
//! (`60`, `true`, `["a","b"]`), else as a plain string. Unknown sections and keys are
//! errors. [`Config::problems`] lists every problem at once (used by `check-config`).

use crate::ratelimit::RateLimitConfig;
use crate::translate::StepsPolicy;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "BK_JOB_SHIM_";

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the legacy API listener.
    pub listen: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/healthz`, `/livez`, `/readyz`).
    pub admin_listen: SocketAddr,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// Time allowed to read request headers.
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// Time allowed to read a request body.
    #[serde(deserialize_with = "duration")]
    pub body_read_timeout: Duration,
    /// Open client connections per listener; further connections are closed at once.
    pub max_connections: usize,
    /// Runtime worker threads; 0 = one per CPU. A sidecar sharing a Pod's CPUs often does
    /// best with 1 (no cross-thread wake-ups).
    pub worker_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            max_body_bytes: 10 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            worker_threads: 0,
        }
    }
}

/// `[upstream]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Gateway stage base (`http://bkapi.example.com/api/bk-job/prod`) or `stub`.
    pub url: String,
    /// Whole upstream exchange.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// TCP connect.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this.
    #[serde(deserialize_with = "duration")]
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// Fixed headers added to every upstream request (e.g. `X-Bk-Tenant-Id`).
    pub headers: BTreeMap<String, String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            url: "stub".into(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
            headers: BTreeMap::new(),
        }
    }
}

/// How shim-made errors are sent (`legacy.error_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorStatus {
    /// HTTP 200 + `result: false`, as ESB did.
    #[default]
    Esb,
    /// Real HTTP statuses (400, 403, 404, 429, 502, 504, …).
    Gateway,
}

/// `[legacy]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegacyConfig {
    /// `reject` or `ignore` non-empty `steps`.
    pub steps: StepsPolicy,
    /// `esb` or `gateway`.
    pub error_status: ErrorStatus,
    /// IANA zone for legacy `yyyy-MM-dd HH:mm:ss` timestamps.
    pub timezone: String,
    /// Jobs remembered at submit time (for `bk_job_id`, `operator`, `start_way`).
    pub job_cache_capacity: usize,
    /// How long a remembered job is kept.
    #[serde(deserialize_with = "duration")]
    pub job_cache_ttl: Duration,
}

impl Default for LegacyConfig {
    fn default() -> Self {
        Self {
            steps: StepsPolicy::Reject,
            error_status: ErrorStatus::Esb,
            timezone: "Asia/Shanghai".into(),
            job_cache_capacity: 100_000,
            job_cache_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl LegacyConfig {
    /// The configured time zone (validated by [`Config::problems`]; Shanghai otherwise).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai)
    }
}

/// Credential model (`auth.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Move the client's credentials into `X-Bkapi-Authorization`.
    #[default]
    Passthrough,
    /// Use the shim's own app code and secret; the user comes from the client.
    App,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `passthrough` or `app`.
    pub mode: AuthMode,
    /// App codes allowed to call the shim; empty = any.
    pub allowed_apps: Vec<String>,
    /// `app` mode: the shim's app code.
    pub app_code: String,
    /// `app` mode: environment variable holding the shim's app secret.
    pub app_secret_env: String,
    /// `app` mode: file holding the shim's app secret (wins over the env var).
    pub app_secret_file: Option<PathBuf>,
    /// `app` mode: call `/api/v3/system/*` and send the user as `X-Bk-Username`.
    pub system_api: bool,
    /// Hosts allowed in `callback_url`; empty = any.
    pub callback_hosts: Vec<String>,
    /// `[auth.jwt]`: inbound JWT verification.
    pub jwt: crate::jwt::JwtConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Passthrough,
            allowed_apps: Vec::new(),
            app_code: String::new(),
            app_secret_env: "BK_JOB_SHIM_APP_SECRET".into(),
            app_secret_file: None,
            system_api: false,
            callback_hosts: Vec::new(),
            jwt: crate::jwt::JwtConfig::default(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `plain` or `json`.
    pub format: LogFormat,
    /// `RUST_LOG`-style filter (the `RUST_LOG` variable wins when set).
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Plain,
            filter: "info".into(),
        }
    }
}

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

/// Headers the shim computes for every upstream request; `upstream.headers` may not set
/// them (credentials, framing and hop-by-hop headers).
const RESERVED_UPSTREAM_HEADERS: [&str; 13] = [
    "x-bkapi-authorization",
    "x-bk-username",
    "x-request-id",
    "content-length",
    "content-type",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

const SECTIONS: [&str; 6] = ["server", "upstream", "legacy", "auth", "rate_limit", "log"];

/// Read an environment value as TOML when it parses as one, else as a string.
fn env_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// Apply `BK_JOB_SHIM_<SECTION>__<KEY>` overrides to a TOML table.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // BK_JOB_SHIM_<SECTION>__<KEY>[__<SUBKEY>…], e.g. BK_JOB_SHIM_AUTH__JWT__REQUIRED.
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let [section, keys @ ..] = path.as_slice() else {
            continue;
        };
        if keys.is_empty() {
            // e.g. BK_JOB_SHIM_APP_SECRET: not a config key.
            continue;
        }
        if !SECTIONS.contains(&section.as_str()) {
            problems.push(format!("{name}: unknown section `{section}`"));
            continue;
        }
        if let Err(part) = set_path(table, &path, env_value(&raw)) {
            problems.push(format!("{name}: `{part}` is not a table"));
        }
    }
}

/// Set `path` (all but the last element are tables, created when missing) to `value`.
/// `Err` names a path element that exists but is not a table.
fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => match table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => set_path(t, rest, value),
            _ => Err(first.clone()),
        },
    }
}

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

    /// Semantic checks on an otherwise well-typed configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.server.max_connections == 0 {
            p.push("server.max_connections must be > 0".to_owned());
        }
        if self.server.body_read_timeout.is_zero() || self.server.header_read_timeout.is_zero() {
            p.push("server.header_read_timeout and body_read_timeout must be > 0".to_owned());
        }
        if self.server.max_body_bytes == 0 {
            p.push("server.max_body_bytes must be > 0".to_owned());
        }
        let url = self.upstream.url.as_str();
        if url != "stub" {
            match url.parse::<http::Uri>() {
                Ok(u) if u.authority().is_some_and(|a| a.as_str().contains('@')) => p.push(
                    "upstream.url must not carry credentials (user:password@): the shim sends \
                     X-Bkapi-Authorization instead"
                        .to_owned(),
                ),
                Ok(u) if matches!(u.scheme_str(), Some("http")) && u.host().is_some() => {
                    if u.query().is_some() {
                        p.push(format!("upstream.url `{url}` must not have a query string"));
                    }
                }
                Ok(u) if matches!(u.scheme_str(), Some("https")) => p.push(format!(
                    "upstream.url `{url}`: https is not supported in-process; terminate TLS in a sidecar or use http"
                )),
                _ => p.push(format!(
                    "upstream.url `{url}` must be `stub` or an http:// URL such as http://bkapi.example.com/api/bk-job/prod"
                )),
            }
        }
        for (what, d) in [
            ("upstream.timeout", self.upstream.timeout),
            ("upstream.connect_timeout", self.upstream.connect_timeout),
        ] {
            if d.is_zero() {
                p.push(format!("{what} must be > 0"));
            }
        }
        for (k, v) in &self.upstream.headers {
            match http::HeaderName::from_bytes(k.as_bytes()) {
                Err(_) => p.push(format!(
                    "upstream.headers: `{k}` is not a valid header name"
                )),
                Ok(name) if RESERVED_UPSTREAM_HEADERS.contains(&name.as_str()) => p.push(format!(
                    "upstream.headers: `{k}` is set by the shim itself and cannot be configured"
                )),
                Ok(_) => {}
            }
            if http::HeaderValue::from_str(v).is_err() {
                p.push(format!("upstream.headers.{k}: not a valid header value"));
            }
        }
        if self.legacy.timezone.parse::<chrono_tz::Tz>().is_err() {
            p.push(format!(
                "legacy.timezone `{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                self.legacy.timezone
            ));
        }
        p.extend(crate::jwt::problems(&self.auth.jwt));
        if self.auth.mode == AuthMode::App && self.auth.app_code.is_empty() {
            p.push("auth.app_code is required when auth.mode = \"app\"".to_owned());
        }
        p.extend(
            crate::ratelimit::rates_problems(&self.rate_limit.rates)
                .into_iter()
                .map(|e| format!("rate_limit.rates: {e}")),
        );
        if self.rate_limit.backend == crate::ratelimit::Backend::Redis
            && !self.rate_limit.redis_url.starts_with("redis://")
            && !self.rate_limit.redis_url.starts_with("redis+unix://")
        {
            // The URL may carry a password: it is not echoed.
            p.push(
                "rate_limit.redis_url must start with redis:// or redis+unix:// (TLS is not built in)"
                    .to_owned(),
            );
        }
        if self.server.max_connections > 1_000_000 {
            p.push("server.max_connections must be at most 1000000".to_owned());
        }
        if self.auth.jwt.leeway > Duration::from_secs(24 * 3600) {
            p.push("auth.jwt.leeway must be at most 1 day".to_owned());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
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
        assert_eq!(errs.0.len(), 6, "{all}");
        let userinfo = Config::from_toml_str("[upstream]\nurl = \"http://u:pw@h/api\"\n", env(&[]));
        let msg = userinfo.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("credentials") && !msg.contains("pw"), "{msg}");
    }
}

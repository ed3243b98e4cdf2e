//! [`Settings`]: the configuration validated once and parsed into the types the stack
//! uses (upstream base as a URI, fixed headers as header names and values, the time zone
//! as a `Tz`, the app codes that may label metrics).

use super::{Config, ConfigErrors, Target};
use http::{HeaderName, HeaderValue};
use std::collections::BTreeSet;

/// A validated configuration with its typed parts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration as written (reloads compare it section by section).
    pub config: Config,
    /// Where translated calls go.
    pub target: Target,
    /// `upstream.headers`, parsed.
    pub upstream_headers: Vec<(HeaderName, HeaderValue)>,
    /// `legacy.timezone`, parsed.
    pub tz: chrono_tz::Tz,
    /// App codes that may appear as metric labels (allow-list and per-app rates).
    pub app_labels: BTreeSet<String>,
}

impl Settings {
    /// Validate `config` and parse its typed parts; every problem is listed.
    pub fn new(config: Config) -> Result<Settings, ConfigErrors> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let one = |e: String| ConfigErrors(vec![e]);
        let target = config.upstream.target().map_err(one)?;
        let upstream_headers = config.upstream.fixed_headers().map_err(ConfigErrors)?;
        let tz = config.legacy.tz().map_err(one)?;
        let mut app_labels: BTreeSet<String> = config.auth.allowed_apps.iter().cloned().collect();
        app_labels.extend(
            config
                .rate_limit
                .rates
                .keys()
                .filter(|k| *k != crate::ratelimit::DEFAULT_APP)
                .cloned(),
        );
        Ok(Settings {
            config,
            target,
            upstream_headers,
            tz,
            app_labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_parts_are_parsed() {
        let mut c = Config::default();
        c.upstream.url = "http://gw.example.com/api/bk-job/prod".into();
        c.upstream
            .headers
            .insert("X-Bk-Tenant-Id".into(), "t1".into());
        c.legacy.timezone = "Europe/Paris".into();
        c.auth.allowed_apps = vec!["a".into()];
        let s = Settings::new(c).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&s.target, Target::Http(u) if u.host() == Some("gw.example.com")));
        assert_eq!(s.upstream_headers[0].0.as_str(), "x-bk-tenant-id");
        assert_eq!(s.tz, chrono_tz::Europe::Paris);
        assert!(s.app_labels.contains("a"));
    }

    #[test]
    fn invalid_config_is_refused() {
        let mut c = Config::default();
        c.legacy.timezone = "Mars/Base".into();
        c.server.request_timeout = std::time::Duration::ZERO;
        let e = Settings::new(c).err().map(|e| e.0).unwrap_or_default();
        assert_eq!(e.len(), 2, "{e:?}");
    }
}

//! `[legacy]`: how legacy calls are translated and answered.

use crate::translate::StepsPolicy;
use serde::Deserialize;
use std::time::Duration;

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
    #[serde(with = "humantime_serde")]
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
    /// The configured time zone, parsed (validation rejects an unknown one; typed
    /// [`Settings`](super::Settings) carry the parsed value).
    pub fn tz(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            format!(
                "legacy.timezone `{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                self.timezone
            )
        })
    }

    /// Every rule of `[legacy]`.
    pub fn validate(&self, p: &mut Vec<String>) {
        if let Err(e) = self.tz() {
            p.push(e);
        }
    }
}

//! Per-app rate limiting (DESIGN §5): local GCRA (`governor`) or cluster-wide on Redis.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One window: at most `tokens` requests per `period` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Window length in seconds (≥ 1).
    pub period: u64,
    /// Requests admitted per window (≥ 1).
    pub tokens: u64,
}

/// Which store holds the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In-process GCRA, per replica.
    #[default]
    Local,
    /// Redis, shared by every replica.
    Redis,
}

/// `[rate_limit]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `local` or `redis`.
    pub backend: Backend,
    /// Redis URL for the `redis` backend.
    pub redis_url: String,
    /// Admit requests when Redis fails.
    pub fail_open: bool,
    /// `__default` and per-app windows.
    pub rates: BTreeMap<String, Vec<Rate>>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            redis_url: "redis://127.0.0.1:6379/0".into(),
            fail_open: true,
            rates: BTreeMap::from([(
                "__default".to_owned(),
                vec![Rate {
                    period: 1,
                    tokens: 100,
                }],
            )]),
        }
    }
}

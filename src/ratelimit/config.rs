//! The `[rate_limit]` section, its validation and the validated plan of windows.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

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
    /// In-process fixed windows, per replica.
    #[default]
    Local,
    /// Redis, shared by every replica.
    Redis,
}

/// `[rate_limit]` section. Its `Debug` hides Redis passwords (see `redis_conn::settings`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `local` or `redis`.
    pub backend: Backend,
    /// Redis URL for the `redis` backend (standalone; with Sentinel: the master's
    /// credentials, database and TLS).
    pub redis_url: String,
    /// `[rate_limit.redis_tls]`: CA bundle and client certificate for `rediss://`.
    pub redis_tls: crate::redis_conn::RedisTlsConfig,
    /// Sentinel URLs; with them, the master is found through Sentinel.
    pub redis_sentinels: Vec<String>,
    /// The Sentinel service (master) name.
    pub redis_master_name: String,
    /// Seed nodes of a Redis Cluster; with them, the backend uses Redis Cluster.
    pub redis_cluster_nodes: Vec<String>,
    /// First part of every Redis key (shims with different prefixes share one Redis
    /// without sharing counters).
    pub redis_prefix: String,
    /// Admit requests when Redis fails.
    pub fail_open: bool,
    /// HMAC key of the limiter's buckets (see [`LimitKeyer`](super::LimitKeyer)), shared
    /// by the replicas of a Redis backend; unset (or empty): random per process for
    /// `local`, derived from `redis_prefix` for `redis`. A secret: hidden in `Debug`,
    /// never in an error.
    pub bucket_key: Option<BucketKey>,
    /// `__default` and per-app windows.
    pub rates: BTreeMap<String, Vec<Rate>>,
}

impl RateLimitConfig {
    /// The Redis connection settings of this section.
    pub fn redis_settings(&self) -> crate::redis_conn::RedisSettings {
        crate::redis_conn::RedisSettings {
            url: self.redis_url.clone(),
            tls: self.redis_tls.clone(),
            sentinels: self.redis_sentinels.clone(),
            master_name: self.redis_master_name.clone(),
            cluster_nodes: self.redis_cluster_nodes.clone(),
            prefix: self.redis_prefix.clone(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_tls: crate::redis_conn::RedisTlsConfig::default(),
            redis_sentinels: Vec::new(),
            redis_master_name: String::new(),
            redis_cluster_nodes: Vec::new(),
            redis_prefix: crate::redis_conn::settings::DEFAULT_PREFIX.to_owned(),
            fail_open: true,
            bucket_key: None,
            rates: BTreeMap::from([(
                DEFAULT_APP.to_owned(),
                vec![Rate {
                    period: 1,
                    tokens: 100,
                }],
            )]),
        }
    }
}

/// Fewest bytes of a configured [`RateLimitConfig::bucket_key`].
pub const MIN_BUCKET_KEY_LEN: usize = 16;

/// `rate_limit.bucket_key`: a secret string. `Debug` shows `***`; a value of the wrong
/// type is refused with a message that does not echo it.
#[derive(Clone, PartialEq, Eq)]
pub struct BucketKey(String);

impl BucketKey {
    /// A key from its text.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key's bytes (for the HMAC only).
    pub(super) fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (as good as unset).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for BucketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for BucketKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = BucketKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BucketKey, E> {
                Ok(BucketKey::new(v))
            }
            // An environment override of digits only arrives as a TOML integer.
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<BucketKey, E> {
                Ok(BucketKey::new(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<BucketKey, E> {
                Ok(BucketKey::new(v.to_string()))
            }
        }
        // Anything else: serde's default message would quote the value.
        d.deserialize_any(Visit).map_err(|_: D::Error| {
            serde::de::Error::custom("must be a string (the value is not shown)")
        })
    }
}

/// Key of `rates` that applies to apps without their own entry.
pub const DEFAULT_APP: &str = "__default";

/// Why a [`RateLimiter`](super::RateLimiter) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// `rates.__default` is missing.
    #[error("rate_limit.rates.__default is required")]
    MissingDefault,
    /// An app has an empty list of windows.
    #[error("rate_limit.rates.{app}: at least one {{period, tokens}} is required")]
    NoWindows {
        /// App code (or `__default`).
        app: String,
    },
    /// A window is out of range.
    #[error(
        "rate_limit.rates.{app}: invalid window period={period} tokens={tokens} \
         (need period ≥ 1, 1 ≤ tokens ≤ 4294967295 and tokens ≤ period × 10⁹)"
    )]
    InvalidRate {
        /// App code (or `__default`).
        app: String,
        /// Configured period.
        period: u64,
        /// Configured tokens.
        tokens: u64,
    },
    /// `bucket_key` is set but too short (its value is never shown).
    #[error(
        "rate_limit.bucket_key: at least {MIN_BUCKET_KEY_LEN} bytes are required \
         (e.g. 32 random bytes, hex-encoded)"
    )]
    WeakBucketKey,
    /// The Redis settings can never work (the message names the key, never a password).
    #[error("{0}")]
    Redis(#[from] crate::redis_conn::SettingsError),
}

/// A window the limiters can represent: `period ≥ 1`, `1 ≤ tokens ≤ u32::MAX` and at most
/// one token per nanosecond.
fn window_ok(r: &Rate) -> bool {
    r.period >= 1
        && r.tokens >= 1
        && r.tokens <= u64::from(u32::MAX)
        && u128::from(r.tokens) <= u128::from(r.period) * 1_000_000_000
}

/// The configured bucket key, if usable: `Ok(None)` when unset or empty.
pub(super) fn bucket_key(cfg: &RateLimitConfig) -> Result<Option<&BucketKey>, RateLimitError> {
    match &cfg.bucket_key {
        Some(k) if k.is_empty() => Ok(None),
        Some(k) if k.len() < MIN_BUCKET_KEY_LEN => Err(RateLimitError::WeakBucketKey),
        other => Ok(other.as_ref()),
    }
}

/// Every problem of a `rates` table (for `check-config`), in the words of
/// [`RateLimitError`]: the same rules [`RateLimiter::new`](super::RateLimiter::new)
/// enforces.
pub fn rates_problems(rates: &BTreeMap<String, Vec<Rate>>) -> Vec<String> {
    let mut out = Vec::new();
    if !rates.contains_key(DEFAULT_APP) {
        out.push(RateLimitError::MissingDefault.to_string());
    }
    for (app, windows) in rates {
        if windows.is_empty() {
            out.push(RateLimitError::NoWindows { app: app.clone() }.to_string());
        }
        for r in windows.iter().filter(|r| !window_ok(r)) {
            out.push(
                RateLimitError::InvalidRate {
                    app: app.clone(),
                    period: r.period,
                    tokens: r.tokens,
                }
                .to_string(),
            );
        }
    }
    out
}

/// Validated `rates`: the `__default` windows and the per-app ones.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) default: Vec<Rate>,
    pub(super) apps: HashMap<String, Vec<Rate>>,
}

impl Plan {
    pub(super) fn new(rates: &BTreeMap<String, Vec<Rate>>) -> Result<Self, RateLimitError> {
        for (app, windows) in rates {
            if windows.is_empty() {
                return Err(RateLimitError::NoWindows { app: app.clone() });
            }
            for r in windows {
                if !window_ok(r) {
                    return Err(RateLimitError::InvalidRate {
                        app: app.clone(),
                        period: r.period,
                        tokens: r.tokens,
                    });
                }
            }
        }
        let default = rates
            .get(DEFAULT_APP)
            .cloned()
            .ok_or(RateLimitError::MissingDefault)?;
        let apps = rates
            .iter()
            .filter(|(app, _)| app.as_str() != DEFAULT_APP)
            .map(|(app, w)| (app.clone(), w.clone()))
            .collect();
        Ok(Self { default, apps })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::Config;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_toml_str(toml, env).map_err(|e| e.to_string())
    }

    #[test]
    fn bucket_key_from_file_or_environment_never_echoed() {
        let c = load(
            "[rate_limit]\nbucket_key = \"0123456789abcdef-file\"\n",
            &[],
        );
        assert_eq!(
            c.map(|c| c.rate_limit.bucket_key),
            Ok(Some(super::BucketKey::new("0123456789abcdef-file")))
        );
        // The environment wins; digits only arrive as a TOML integer and still count.
        let env = [("BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY", "12345678901234567")];
        let c = load(
            "[rate_limit]\nbucket_key = \"0123456789abcdef-file\"\n",
            &env,
        );
        assert_eq!(
            c.map(|c| c.rate_limit.bucket_key),
            Ok(Some(super::BucketKey::new("12345678901234567")))
        );
        let shown = format!("{:?}", load("", &env).map(|c| c.rate_limit));
        assert!(!shown.contains("12345678901234567"), "{shown}");
        // Too short, or of the wrong type: refused by name, the value never shown.
        let env = [("BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY", "hunter2")];
        let err = load("", &env).map(|_| ()).unwrap_err();
        assert!(
            err.contains("rate_limit.bucket_key") && !err.contains("hunter2"),
            "{err}"
        );
        let err = load("[rate_limit]\nbucket_key = 3.25e7\n", &[])
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.contains("rate_limit.bucket_key") && !err.contains("3.25"),
            "{err}"
        );
        // Empty means unset.
        let env = [("BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY", "\"\"")];
        assert!(load("", &env).is_ok());
    }

    #[test]
    fn a_redis_limiter_without_bucket_key_is_warned_about() {
        let redis = "[rate_limit]\nbackend = \"redis\"\n";
        let warned = |toml: &str, env: &[(&str, &str)]| {
            load(toml, env)
                .unwrap()
                .warnings()
                .iter()
                .any(|w| w.starts_with("rate_limit.bucket_key is not set"))
        };
        assert!(warned(redis, &[]));
        assert!(warned(
            redis,
            &[("BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY", "\"\"")]
        ));
        let key = [("BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY", "0123456789abcdef-x")];
        assert!(!warned(redis, &key));
        assert!(!warned("", &[]));
    }
}

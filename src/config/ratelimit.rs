//! `[rate_limit]`: the section's rules (its serde struct lives with the limiter,
//! [`RateLimitConfig`]).

pub use crate::ratelimit::RateLimitConfig;

/// Every rule of `[rate_limit]`.
pub(super) fn validate(c: &RateLimitConfig, p: &mut Vec<String>) {
    p.extend(
        crate::ratelimit::rates_problems(&c.rates)
            .into_iter()
            .map(|e| format!("rate_limit.rates: {e}")),
    );
    if let Some(k) = &c.bucket_key
        && !k.is_empty()
        && k.len() < crate::ratelimit::MIN_BUCKET_KEY_LEN
    {
        p.push(crate::ratelimit::RateLimitError::WeakBucketKey.to_string());
    }
    if c.backend == crate::ratelimit::Backend::Redis {
        // URLs, TLS files, Sentinel / Cluster and the prefix; URLs may carry a password:
        // the problems name the key, never its value.
        p.extend(c.redis_settings().problems());
    }
}

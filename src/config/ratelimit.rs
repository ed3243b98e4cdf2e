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

/// The Redis limiter without `bucket_key` keys its buckets with a public key (see
/// [`LimitKeyer::from_prefix`](crate::ratelimit::LimitKeyer::from_prefix)).
pub(super) fn warning(c: &RateLimitConfig) -> Option<String> {
    let unset = c.bucket_key.as_ref().is_none_or(|k| k.is_empty());
    (c.backend == crate::ratelimit::Backend::Redis && unset).then(|| {
        "rate_limit.bucket_key is not set with backend = \"redis\": the buckets of callers \
         without a verified JWT are keyed by a hash derived from redis_prefix, which whoever \
         can list the Redis keys can test guessed app secrets against; set it (the same \
         secret on every replica, e.g. BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY)"
            .to_owned()
    })
}

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
    if c.backend == crate::ratelimit::Backend::Redis
        && !c.redis_url.starts_with("redis://")
        && !c.redis_url.starts_with("redis+unix://")
    {
        // The URL may carry a password: it is not echoed.
        p.push(
            "rate_limit.redis_url must start with redis:// or redis+unix:// (TLS is not built in)"
                .to_owned(),
        );
    }
}

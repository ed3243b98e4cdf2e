//! What a check decides, how several windows fold into one decision, and the
//! `X-Bkapi-RateLimit-*` headers that report it.

use super::Rate;
use std::time::Duration;

/// Header: `tokens` of the reported window.
pub const HEADER_LIMIT: &str = "x-bkapi-ratelimit-limit";
/// Header: requests left in the reported window.
pub const HEADER_REMAINING: &str = "x-bkapi-ratelimit-remaining";
/// Header: seconds until the reported window is full again.
pub const HEADER_RESET: &str = "x-bkapi-ratelimit-reset";
/// Header: which limiter decided ([`PLUGIN_LOCAL`] or [`PLUGIN_REDIS`]).
pub const HEADER_PLUGIN: &str = "x-bkapi-ratelimit-plugin";

/// `X-Bkapi-RateLimit-Plugin` value of the local backend. Distinct from the gateway's
/// own `bk-stage-rate-limit` / `bk-resource-rate-limit`, so a client (or an operator
/// reading a trace) can tell the shim's limit from the gateway's.
pub const PLUGIN_LOCAL: &str = "bk-job-shim-local";
/// `X-Bkapi-RateLimit-Plugin` value of the Redis backend.
pub const PLUGIN_REDIS: &str = "bk-job-shim-redis";

/// The outcome of one [`RateLimiter::check`](super::RateLimiter::check), with what the
/// response headers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Forward the request (`false`: answer 1306429).
    pub allowed: bool,
    /// `tokens` of the reported window.
    pub limit: u64,
    /// Requests left in the reported window after this one.
    pub remaining: u64,
    /// Seconds until the reported window is full again (local) or ends (Redis).
    pub reset_secs: u64,
    /// On a rejection, seconds until a request may be admitted (≥ 1), for `Retry-After`.
    pub retry_after_secs: Option<u64>,
    /// The backend failed (Redis error or timeout) and `fail_open` decided `allowed`.
    /// Then `limit` is the smallest window's `tokens`, `remaining` is `limit` when
    /// failing open and 0 when failing closed, `reset_secs` is that window's period, and
    /// a fail-closed rejection suggests `Retry-After: 1`.
    pub degraded: bool,
    /// `X-Bkapi-RateLimit-Plugin` value ([`PLUGIN_LOCAL`] or [`PLUGIN_REDIS`]).
    pub plugin: &'static str,
}

impl Decision {
    /// The four `X-Bkapi-RateLimit-*` headers, names in lower case (as hyper sends them,
    /// and as `http::HeaderName::from_static` requires).
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_LIMIT, self.limit.to_string()),
            (HEADER_REMAINING, self.remaining.to_string()),
            (HEADER_RESET, self.reset_secs.to_string()),
            (HEADER_PLUGIN, self.plugin.to_owned()),
        ]
    }

    /// Sets the four `X-Bkapi-RateLimit-*` headers on `headers`, replacing any the
    /// upstream sent. `Retry-After` is left to the caller (gateway mode only).
    pub fn insert_headers(&self, headers: &mut http::HeaderMap) {
        use http::header::{HeaderName, HeaderValue};
        headers.insert(
            HeaderName::from_static(HEADER_LIMIT),
            HeaderValue::from(self.limit),
        );
        headers.insert(
            HeaderName::from_static(HEADER_REMAINING),
            HeaderValue::from(self.remaining),
        );
        headers.insert(
            HeaderName::from_static(HEADER_RESET),
            HeaderValue::from(self.reset_secs),
        );
        headers.insert(
            HeaderName::from_static(HEADER_PLUGIN),
            HeaderValue::from_static(self.plugin),
        );
    }

    /// The decision when the backend failed.
    pub(super) fn on_backend_error(
        plugin: &'static str,
        fail_open: bool,
        windows: &[Rate],
    ) -> Self {
        let w = windows
            .iter()
            .min_by_key(|r| r.tokens)
            .copied()
            .unwrap_or(Rate {
                period: 1,
                tokens: 1,
            });
        Self {
            allowed: fail_open,
            limit: w.tokens,
            remaining: if fail_open { w.tokens } else { 0 },
            reset_secs: w.period,
            retry_after_secs: if fail_open { None } else { Some(1) },
            degraded: true,
            plugin,
        }
    }
}

/// What one window says about one request.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowOutcome {
    pub(super) allowed: bool,
    pub(super) limit: u64,
    pub(super) remaining: u64,
    pub(super) reset_secs: u64,
    /// Seconds until this window admits again (only meaningful when rejected).
    pub(super) retry_after_secs: u64,
}

impl Decision {
    /// Folds the windows of one check into one decision (see the module docs).
    pub(super) fn combine(plugin: &'static str, outcomes: &[WindowOutcome]) -> Self {
        let allowed = outcomes.iter().all(|o| o.allowed);
        let mut best: Option<WindowOutcome> = None;
        let mut retry_after = 0;
        for o in outcomes.iter().filter(|o| allowed || !o.allowed) {
            retry_after = retry_after.max(o.retry_after_secs);
            let better = match best {
                None => true,
                Some(b) => {
                    (o.remaining, std::cmp::Reverse(o.reset_secs))
                        < (b.remaining, std::cmp::Reverse(b.reset_secs))
                }
            };
            if better {
                best = Some(*o);
            }
        }
        let best = best.unwrap_or(WindowOutcome {
            allowed,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: 0,
        });
        Self {
            allowed,
            limit: best.limit,
            remaining: if allowed { best.remaining } else { 0 },
            reset_secs: best.reset_secs,
            retry_after_secs: (!allowed).then_some(retry_after.max(1)),
            degraded: false,
            plugin,
        }
    }
}

/// Seconds in `d`, rounded up.
pub(super) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

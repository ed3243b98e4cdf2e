//! Redis backend: fixed windows shared by every replica, one atomic Lua call per check,
//! over the shim's one shared Redis connection ([`RedisConn`]).

use super::{Decision, PLUGIN_REDIS, Plan, Rate, WindowOutcome};
use crate::redis_conn::{CallError, RedisConn};
use ::redis::Script;
use std::sync::atomic::{AtomicU64, Ordering};

/// Checks every window of one app and charges them only if all admit.
///
/// The window contract of both backends (see the module docs of [`super`]): a window is
/// opened by the first request admitted while none is running and lasts exactly `period`;
/// it admits `tokens` requests; the instant `start + period` already belongs to the next
/// window. Time is the Redis server's (`TIME`, microseconds), the same for every replica.
/// `KEYS[i]` is a hash `{e = <end, µs since the epoch>, left = <requests left>}`; a
/// window whose `e` is not after now counts as absent, so the boundary never depends on
/// when Redis expires the key (the `PEXPIRE`, a second past the end, only cleans up).
/// `ARGV[2i-1]`, `ARGV[2i]` are the window's `tokens` and `period` (seconds). Returns
/// `{admitted (1|0), left_1, reset_ms_1, left_2, reset_ms_2, …}`: `left_i` after this
/// request when admitted, unchanged when not; `reset_ms_i` the time until the window ends
/// (`period` for a window not running).
const LUA: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local left, reset, fresh = {}, {}, {}
local admit = 1
for i = 1, n do
  local period_us = tonumber(ARGV[2 * i]) * 1000000
  local cur = redis.call('HMGET', KEYS[i], 'e', 'left')
  local e = tonumber(cur[1])
  if e and cur[2] and e > now then
    left[i] = tonumber(cur[2])
    reset[i] = e - now
    fresh[i] = false
  else
    left[i] = tonumber(ARGV[2 * i - 1])
    reset[i] = period_us
    fresh[i] = true
  end
  if left[i] < 1 then admit = 0 end
end
local out = {admit}
for i = 1, n do
  if admit == 1 then
    left[i] = left[i] - 1
    if fresh[i] then
      local e = string.format('%.0f', now + reset[i])
      redis.call('HSET', KEYS[i], 'e', e, 'left', left[i])
      redis.call('PEXPIRE', KEYS[i], math.ceil(reset[i] / 1000) + 1000)
    else
      redis.call('HINCRBY', KEYS[i], 'left', -1)
    end
  end
  out[2 * i] = left[i]
  out[2 * i + 1] = math.ceil(reset[i] / 1000)
end
return out
";

/// The Redis key of `rate` for `bucket`: `<prefix>:rl:{<bucket>}:<period>:<tokens>`,
/// where `bucket` is the app code (verified identity) or `<app>#<tag>` (see
/// [`LimitKeyer`](super::LimitKeyer)).
///
/// The braces are a Redis Cluster hash tag (all windows of a bucket in one slot, as a
/// multi-key script requires; the prefix never holds braces). No config version: an
/// unchanged window keeps its counter across reloads.
pub(super) fn key(prefix: &str, bucket: &str, rate: Rate) -> String {
    format!("{prefix}:rl:{{{bucket}}}:{}:{}", rate.period, rate.tokens)
}

/// The Redis backend.
pub(super) struct RedisLimiter {
    conn: RedisConn,
    script: Script,
    fail_open: bool,
    plan: Plan,
    failures: AtomicU64,
}

impl RedisLimiter {
    /// A limiter over `conn`. Loads the script in the background (so the first request
    /// does not pay for it), waiting at most one call timeout: Redis need not be up.
    pub(super) async fn new(conn: RedisConn, fail_open: bool, plan: Plan) -> Self {
        let script = Script::new(LUA);
        let load = script.clone();
        // Boxed: keeps the futures of the callers (config reload) shallow.
        let loaded = Box::pin(conn.call(|mut h| async move { load.load_async(&mut h).await }));
        match loaded.await {
            Ok(_) => tracing::debug!(
                topology = conn.topology().name(),
                "rate limit: redis connected"
            ),
            Err(e) => tracing::warn!(
                error = %e, fail_open, topology = conn.topology().name(),
                "rate limit: redis not reachable at start; requests are decided by fail_open until it is"
            ),
        }
        Self {
            conn,
            script,
            fail_open,
            plan,
            failures: AtomicU64::new(0),
        }
    }

    /// Decides one request with the windows of `app`, charged to `bucket`.
    pub(super) async fn check(&self, app: &str, bucket: &str) -> Decision {
        let windows = self.plan.apps.get(app).unwrap_or(&self.plan.default);
        let mut call = self.script.prepare_invoke();
        for &w in windows {
            call.key(key(self.conn.prefix(), bucket, w))
                .arg(w.tokens)
                .arg(w.period);
        }
        let reply = self
            .conn
            .call(|mut h| async move { call.invoke_async::<Vec<i64>>(&mut h).await })
            .await;
        let error = match reply {
            Ok(v) => match parse(windows, &v) {
                Some(decision) => return decision,
                None => format!("unexpected script reply {v:?}"),
            },
            Err(CallError::Open) => String::new(),
            Err(e) => e.to_string(),
        };
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if !error.is_empty() {
            // Transitions are logged once by the connection's breaker.
            tracing::debug!(error = %error, failures = n, "rate limit: redis call failed");
        }
        Decision::on_backend_error(PLUGIN_REDIS, self.fail_open, windows)
    }

    /// Checks that were decided by `fail_open` (Redis failed, timed out, or the circuit
    /// was open).
    pub(super) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The connection this limiter uses (shared with the job cache).
    pub(super) fn conn(&self) -> &RedisConn {
        &self.conn
    }
}

/// Reads the script's reply for `windows`.
fn parse(windows: &[Rate], reply: &[i64]) -> Option<Decision> {
    let (&admitted, rest) = reply.split_first()?;
    if rest.len() != 2 * windows.len() {
        return None;
    }
    let admitted = admitted == 1;
    let outcomes: Vec<WindowOutcome> = windows
        .iter()
        .zip(rest.chunks_exact(2))
        .map(|(w, pair)| {
            let (left, reset_ms) = (pair[0], pair[1]);
            let reset_secs = u64::try_from(reset_ms).unwrap_or(0).div_ceil(1000).max(1);
            WindowOutcome {
                allowed: admitted || left >= 1,
                limit: w.tokens,
                remaining: u64::try_from(left).unwrap_or(0),
                reset_secs,
                retry_after_secs: reset_secs,
            }
        })
        .collect();
    Some(Decision::combine(PLUGIN_REDIS, &outcomes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const W: [Rate; 2] = [
        Rate {
            period: 60,
            tokens: 600,
        },
        Rate {
            period: 1,
            tokens: 20,
        },
    ];

    #[test]
    fn keys_carry_a_hash_tag_and_the_window() {
        assert_eq!(
            key("bk-job-shim", "app-1", W[0]),
            "bk-job-shim:rl:{app-1}:60:600"
        );
        assert_eq!(key("test", "a", W[1]), "test:rl:{a}:1:20");
        assert_eq!(
            key("p", "a#0123456789abcdef", W[1]),
            "p:rl:{a#0123456789abcdef}:1:20"
        );
    }

    #[test]
    fn parses_admitted_and_rejected_replies() {
        let d = parse(&W, &[1, 599, 60_000, 19, 1_000]).unwrap();
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining, d.reset_secs), (20, 19, 1));
        let d = parse(&W, &[0, 0, 12_001, 5, 300]).unwrap();
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining, d.reset_secs), (600, 0, 13));
        assert_eq!(d.retry_after_secs, Some(13));
        assert!(parse(&W, &[1, 2]).is_none());
        assert!(parse(&W, &[]).is_none());
    }
}

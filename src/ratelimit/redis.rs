//! Redis backend: fixed windows shared by every replica, one atomic Lua call per check.

use super::{Decision, Options, PLUGIN_REDIS, Plan, Rate, RateLimitError, WindowOutcome};
use ::redis::Script;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Checks every window of one app and charges them only if all admit.
///
/// `KEYS[i]` holds the requests left in window `i`; `ARGV[2i-1]`, `ARGV[2i]` are its
/// `tokens` and `period` (seconds). Like the gateway's `bk-rate-limit`
/// (`rate-limit-redis.lua`): a window without a key (or without a TTL) starts with
/// `SET key tokens-1 EX period`, a running one is `DECR`ed. Returns
/// `{admitted (1|0), left_1, ttl_ms_1, left_2, ttl_ms_2, …}` where `left_i` is after
/// this request when admitted, and unchanged when not.
const LUA: &str = r"
local n = #KEYS
local left, ttl = {}, {}
local admit = 1
for i = 1, n do
  local pttl = redis.call('PTTL', KEYS[i])
  if pttl < 0 then
    left[i] = tonumber(ARGV[2 * i - 1])
    ttl[i] = -1
  else
    left[i] = tonumber(redis.call('GET', KEYS[i])) or 0
    ttl[i] = pttl
  end
  if left[i] < 1 then admit = 0 end
end
local out = {admit}
for i = 1, n do
  local period = tonumber(ARGV[2 * i])
  if admit == 1 then
    left[i] = left[i] - 1
    if ttl[i] < 0 then
      redis.call('SET', KEYS[i], left[i], 'EX', period)
      ttl[i] = period * 1000
    else
      redis.call('DECR', KEYS[i])
    end
  elseif ttl[i] < 0 then
    ttl[i] = period * 1000
  end
  out[2 * i] = left[i]
  out[2 * i + 1] = ttl[i]
end
return out
";

/// Longest wait for one TCP connect to Redis (reconnects keep trying in the background).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The Redis key of `rate` for `app`: `bk-job-shim:rl:{<app>}:<period>:<tokens>`.
///
/// The braces are a Redis Cluster hash tag (all windows of an app in one slot, as a
/// multi-key script requires). No config version: an unchanged window keeps its
/// counter across reloads.
pub(super) fn key(app: &str, rate: Rate) -> String {
    format!("bk-job-shim:rl:{{{app}}}:{}:{}", rate.period, rate.tokens)
}

/// The Redis backend.
pub(super) struct RedisLimiter {
    conn: ConnectionManager,
    script: Script,
    timeout: Duration,
    fail_open: bool,
    plan: Plan,
    failures: AtomicU64,
    /// Whether the last call succeeded (to log transitions, not every failure).
    healthy: AtomicBool,
}

impl RedisLimiter {
    pub(super) async fn new(
        url: &str,
        fail_open: bool,
        plan: Plan,
        opts: &Options,
    ) -> Result<Self, RateLimitError> {
        let client = ::redis::Client::open(url).map_err(RateLimitError::RedisUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(opts.redis_timeout))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RateLimitError::RedisUrl)?;
        let script = Script::new(LUA);

        // Connect and load the script in the background (so the first request does not
        // pay for it), waiting at most one timeout: Redis need not be up at start.
        let warm_up = {
            let mut conn = conn.clone();
            let script = script.clone();
            tokio::spawn(async move { script.load_async(&mut conn).await })
        };
        match tokio::time::timeout(opts.redis_timeout, warm_up).await {
            Ok(Ok(Ok(_))) => tracing::debug!(url = %redact(url), "rate limit: redis connected"),
            Ok(Ok(Err(e))) => tracing::warn!(
                url = %redact(url), error = %e, fail_open,
                "rate limit: redis unreachable at start; requests are decided by fail_open until it is back"
            ),
            Ok(Err(_)) | Err(_) => tracing::warn!(
                url = %redact(url), fail_open,
                "rate limit: redis not connected yet; requests are decided by fail_open until it is"
            ),
        }

        Ok(Self {
            conn,
            script,
            timeout: opts.redis_timeout,
            fail_open,
            plan,
            failures: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
        })
    }

    pub(super) async fn check(&self, app: &str) -> Decision {
        let windows = self.plan.apps.get(app).unwrap_or(&self.plan.default);
        let mut call = self.script.prepare_invoke();
        for &w in windows {
            call.key(key(app, w)).arg(w.tokens).arg(w.period);
        }
        let mut conn = self.conn.clone();
        let reply =
            tokio::time::timeout(self.timeout, call.invoke_async::<Vec<i64>>(&mut conn)).await;
        let error = match reply {
            Ok(Ok(v)) => match parse(windows, &v) {
                Some(decision) => {
                    if !self.healthy.load(Ordering::Relaxed)
                        && !self.healthy.swap(true, Ordering::Relaxed)
                    {
                        tracing::info!("rate limit: redis is answering again");
                    }
                    return decision;
                }
                None => format!("unexpected script reply {v:?}"),
            },
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = %error, fail_open = self.fail_open, failures = n,
                "rate limit: redis call failed; deciding by fail_open until it answers"
            );
        } else {
            tracing::debug!(error = %error, failures = n, "rate limit: redis call failed");
        }
        Decision::on_backend_error(PLUGIN_REDIS, self.fail_open, windows)
    }

    pub(super) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
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
            let (left, ttl_ms) = (pair[0], pair[1]);
            let reset_secs = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000);
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

/// `url` without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
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
        assert_eq!(key("app-1", W[0]), "bk-job-shim:rl:{app-1}:60:600");
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

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://:pw@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact("redis://h:6379/0"), "redis://h:6379/0");
    }
}

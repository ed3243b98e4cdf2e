//! Local backend: fixed windows per bucket, in process memory.
//!
//! Each window `{period, tokens}` of a bucket is a counter and the instant its current
//! window ends. The first request admitted while no window is running opens one for
//! `period`; at most `tokens` are admitted until it ends; the request arriving at exactly
//! the end (or later) opens the next window. This is the Redis backend's contract
//! (`SET key tokens-1 PX period` on the first request, `DECR` after; the key is gone at
//! exactly the end), so both backends agree at the boundary. See the module docs of
//! [`super`] for why fixed windows rather than GCRA.
//!
//! A bucket's windows are checked and charged together under the bucket's lock (a
//! `dashmap` shard lock): all admit and all are charged, or none is.

use super::{Decision, PLUGIN_LOCAL, Plan, Rate, WindowOutcome, ceil_secs};
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Nanoseconds on tokio's clock since the limiter was made, so that tests drive it with
/// `tokio::time::pause`/`advance`. Outside paused tests it is the monotonic clock.
#[derive(Debug, Clone, Copy)]
struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }

    fn now(self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One window of one bucket: requests admitted, and when the window ends (`0` = none
/// running).
#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    end: u64,
    used: u64,
}

/// The counters of one bucket, one per window of its group.
type Slot = Vec<Counter>;

/// Decides one request against `slot` at `now`; charges every window only if all admit.
fn decide(rates: &[Rate], slot: &mut Slot, now: u64) -> Vec<WindowOutcome> {
    slot.resize(rates.len(), Counter::default());
    let live: Vec<bool> = slot.iter().map(|c| c.end > now).collect();
    let admit = rates
        .iter()
        .zip(slot.iter())
        .zip(&live)
        .all(|((r, c), &l)| !l || c.used < r.tokens);
    rates
        .iter()
        .zip(slot.iter_mut())
        .zip(live)
        .map(|((r, c), live)| {
            let period = r.period.saturating_mul(1_000_000_000);
            if !live {
                *c = Counter::default();
            }
            if admit {
                if !live {
                    c.end = now.saturating_add(period);
                }
                c.used += 1;
            }
            let left = if c.end > now { c.end - now } else { period };
            let allowed = admit || c.used < r.tokens;
            let reset_secs = ceil_secs(Duration::from_nanos(left));
            WindowOutcome {
                allowed,
                limit: r.tokens,
                remaining: r.tokens.saturating_sub(c.used),
                reset_secs,
                retry_after_secs: if allowed { 0 } else { reset_secs.max(1) },
            }
        })
        .collect()
}

/// The windows of one app (or of `__default`) and the state of its buckets.
struct Group {
    rates: Vec<Rate>,
    slots: DashMap<Arc<str>, Slot>,
    /// Shared by new buckets while `slots` holds `cap` buckets.
    overflow: Mutex<Slot>,
    cap: usize,
    overflowed: AtomicU64,
}

impl Group {
    fn new(rates: Vec<Rate>, cap: usize) -> Self {
        Self {
            rates,
            slots: DashMap::new(),
            overflow: Mutex::new(Slot::new()),
            cap,
            overflowed: AtomicU64::new(0),
        }
    }

    fn check(&self, bucket: &str, now: u64) -> Vec<WindowOutcome> {
        if let Some(mut slot) = self.slots.get_mut(bucket) {
            return decide(&self.rates, &mut slot, now);
        }
        if self.slots.len() >= self.cap {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            let mut slot = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
            return decide(&self.rates, &mut slot, now);
        }
        let mut slot = self.slots.entry(Arc::from(bucket)).or_default();
        decide(&self.rates, &mut slot, now)
    }

    /// Forgets buckets whose windows have all ended (they are as good as new).
    fn housekeep(&self, now: u64) {
        self.slots
            .retain(|_, slot| slot.iter().any(|c| c.end > now));
        self.slots.shrink_to_fit();
    }
}

/// The local backend.
pub(super) struct LocalLimiter {
    apps: HashMap<String, Group>,
    default: Group,
    clock: Clock,
}

impl LocalLimiter {
    pub(super) fn new(plan: &Plan, max_tracked_apps: usize) -> Self {
        let apps = plan
            .apps
            .iter()
            .map(|(app, rates)| (app.clone(), Group::new(rates.clone(), max_tracked_apps)))
            .collect();
        Self {
            apps,
            default: Group::new(plan.default.clone(), max_tracked_apps),
            clock: Clock::new(),
        }
    }

    /// Decides one request of `app` (which picks the windows) charged to `bucket`.
    pub(super) fn check(&self, app: &str, bucket: &str) -> Decision {
        let group = self.apps.get(app).unwrap_or(&self.default);
        let outcomes = group.check(bucket, self.clock.now());
        Decision::combine(PLUGIN_LOCAL, &outcomes)
    }

    /// Forgets buckets whose windows have all ended, then returns memory.
    pub(super) fn housekeep(&self) {
        let now = self.clock.now();
        self.default.housekeep(now);
        for g in self.apps.values() {
            g.housekeep(now);
        }
    }

    pub(super) fn tracked_apps(&self) -> usize {
        self.default.slots.len()
    }

    pub(super) fn overflowed(&self) -> u64 {
        self.default.overflowed.load(Ordering::Relaxed)
            + self
                .apps
                .values()
                .map(|g| g.overflowed.load(Ordering::Relaxed))
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn rate(period: u64, tokens: u64) -> Rate {
        Rate { period, tokens }
    }

    #[test]
    fn a_window_admits_tokens_then_ends_exactly_at_period() {
        let rates = [rate(60, 3)];
        let mut slot = Slot::new();
        let t0 = 5 * S;
        for i in 0..3 {
            let o = decide(&rates, &mut slot, t0 + i);
            assert!(o[0].allowed);
            assert_eq!((o[0].remaining, o[0].reset_secs), (2 - i, 60));
        }
        let o = decide(&rates, &mut slot, t0 + 60 * S - 1);
        assert!(!o[0].allowed);
        assert_eq!((o[0].remaining, o[0].retry_after_secs), (0, 1));
        let o = decide(&rates, &mut slot, t0 + 60 * S);
        assert!(o[0].allowed, "a new window at exactly the end");
        assert_eq!((o[0].remaining, o[0].reset_secs), (2, 60));
    }

    #[test]
    fn a_rejection_charges_and_opens_no_window() {
        let rates = [rate(60, 5), rate(1, 1)];
        let mut slot = Slot::new();
        assert!(decide(&rates, &mut slot, 0).iter().all(|o| o.allowed));
        let o = decide(&rates, &mut slot, 1);
        assert!(o[0].allowed && !o[1].allowed);
        assert_eq!(slot[0].used, 1, "the 60 s window was not charged");
        let mut slot = vec![Counter { end: 0, used: 0 }, Counter { end: 10, used: 1 }];
        let rates = [rate(60, 5), rate(1, 1)];
        let _ = decide(&rates, &mut slot, 5);
        assert_eq!(slot[0].end, 0, "no window opened by a rejected request");
    }
}

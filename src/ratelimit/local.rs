//! Local backend: one `governor` GCRA limiter per window, over a state store of ours.
//!
//! The store ([`Store`]) is what lets several windows be checked atomically with
//! governor's own arithmetic: a [`Key`] with `commit = false` makes the store evaluate
//! the GCRA decision without writing the new theoretical arrival time (a *probe*), so a
//! multi-window check probes every window under a per-app lock and charges them only
//! when all admit. The store also bounds the keys of the `__default` windows (see the
//! module docs of [`super`]).

use super::{Decision, PLUGIN_LOCAL, Plan, Rate, WindowOutcome, ceil_secs};
use dashmap::DashMap;
use governor::clock::Clock;
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::{NotUntil, Quota};
use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A governor clock on tokio's clock, so that tests drive it with
/// `tokio::time::pause`/`advance`. Outside paused tests it is the monotonic clock.
#[derive(Debug, Clone)]
struct TokioClock {
    epoch: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let ns = self.epoch.elapsed().as_nanos();
        Nanos::new(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// The key governor passes to [`Store`]: the app code, and whether to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    app: Arc<str>,
    commit: bool,
}

/// A state store holding one GCRA theoretical arrival time (nanoseconds since the
/// limiter's start; 0 = never used) per app, for one window.
#[derive(Clone)]
struct Store(Arc<StoreInner>);

enum StoreInner {
    /// A window of an app with its own `rates` entry: one cell.
    Single(AtomicU64),
    /// A `__default` window: one cell per app, at most `cap`, then `overflow`.
    Keyed {
        map: DashMap<Arc<str>, AtomicU64>,
        overflow: AtomicU64,
        cap: usize,
        overflowed: AtomicU64,
    },
}

impl Store {
    fn single() -> Self {
        Self(Arc::new(StoreInner::Single(AtomicU64::new(0))))
    }

    fn keyed(cap: usize) -> Self {
        Self(Arc::new(StoreInner::Keyed {
            map: DashMap::new(),
            overflow: AtomicU64::new(0),
            cap,
            overflowed: AtomicU64::new(0),
        }))
    }

    /// The current theoretical arrival time of `app` (0 if none).
    fn tat(&self, app: &str) -> u64 {
        match &*self.0 {
            StoreInner::Single(cell) => cell.load(Ordering::Acquire),
            StoreInner::Keyed {
                map, overflow, cap, ..
            } => {
                if let Some(cell) = map.get(app) {
                    return cell.load(Ordering::Acquire);
                }
                if map.len() >= *cap {
                    overflow.load(Ordering::Acquire)
                } else {
                    0
                }
            }
        }
    }

    fn overflowed(&self) -> u64 {
        match &*self.0 {
            StoreInner::Single(_) => 0,
            StoreInner::Keyed { overflowed, .. } => overflowed.load(Ordering::Relaxed),
        }
    }
}

/// Runs governor's decision `f` on `cell`; writes the new state only if `commit`.
fn measure<T, E, F>(cell: &AtomicU64, commit: bool, f: F) -> Result<T, E>
where
    F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
{
    let mut prev = cell.load(Ordering::Acquire);
    loop {
        let (out, next) = f(NonZeroU64::new(prev).map(|n| Nanos::new(n.get())))?;
        if !commit {
            return Ok(out);
        }
        match cell.compare_exchange_weak(prev, next.as_u64(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(out),
            Err(now) => prev = now,
        }
    }
}

impl StateStore for Store {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        match &*self.0 {
            StoreInner::Single(cell) => measure(cell, key.commit, f),
            StoreInner::Keyed {
                map,
                overflow,
                cap,
                overflowed,
            } => {
                if let Some(cell) = map.get(&*key.app) {
                    return measure(&cell, key.commit, f);
                }
                if map.len() >= *cap {
                    if key.commit {
                        overflowed.fetch_add(1, Ordering::Relaxed);
                    }
                    return measure(overflow, key.commit, f);
                }
                if !key.commit {
                    // A probe of an unknown app: decide as for a fresh one, store nothing.
                    return f(None).map(|(out, _)| out);
                }
                let cell = map.entry(Arc::clone(&key.app)).or_default();
                measure(&cell, true, f)
            }
        }
    }
}

impl ShrinkableKeyedStateStore<Key> for Store {
    fn retain_recent(&self, drop_below: Nanos) {
        match &*self.0 {
            StoreInner::Single(_) => {}
            StoreInner::Keyed { map, overflow, .. } => {
                let below = drop_below.as_u64();
                map.retain(|_, cell| cell.load(Ordering::Relaxed) > below);
                // A full overflow bucket is as good as a fresh one.
                let _ = overflow.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                    (t != 0 && t <= below).then_some(0)
                });
            }
        }
    }

    fn shrink_to_fit(&self) {
        if let StoreInner::Keyed { map, .. } = &*self.0 {
            map.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        match &*self.0 {
            StoreInner::Single(cell) => usize::from(cell.load(Ordering::Relaxed) != 0),
            StoreInner::Keyed { map, .. } => map.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Gcra = governor::RateLimiter<Key, Store, TokioClock, StateInformationMiddleware>;

/// One window of one group.
struct Window {
    rate: Rate,
    limiter: Gcra,
    store: Store,
    /// The clock reading when `limiter` was made (governor's `start`, to within
    /// nanoseconds, read just before it so resets never round up past the truth).
    start: Nanos,
}

impl Window {
    fn new(rate: Rate, store: Store, clock: &TokioClock) -> Self {
        // `Plan` guarantees 1 ≤ tokens ≤ u32::MAX and tokens ≤ period × 10⁹, so the
        // replenish interval is at least 1 ns; the fallbacks are unreachable.
        let burst = u32::try_from(rate.tokens)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        let every = Duration::from_secs(rate.period) / burst.get();
        let quota = Quota::with_period(every)
            .unwrap_or(Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let start = clock.now();
        let limiter = Gcra::new(quota, store.clone(), clock.clone());
        Self {
            rate,
            limiter,
            store,
            start,
        }
    }

    fn check(&self, key: &Key) -> Result<StateSnapshot, NotUntil<Nanos>> {
        self.limiter.check_key(key)
    }

    /// Seconds until `app`'s bucket is full again.
    fn reset_secs(&self, app: &str) -> u64 {
        let now = self.limiter.clock().now().saturating_sub(self.start);
        let tat = self.store.tat(app);
        ceil_secs(Duration::from_nanos(tat.saturating_sub(now.as_u64())))
    }

    fn outcome(&self, app: &str, r: &Result<StateSnapshot, NotUntil<Nanos>>) -> WindowOutcome {
        match r {
            Ok(snapshot) => WindowOutcome {
                allowed: true,
                limit: self.rate.tokens,
                remaining: u64::from(snapshot.remaining_burst_capacity()),
                reset_secs: self.reset_secs(app),
                retry_after_secs: 0,
            },
            Err(not_until) => WindowOutcome {
                allowed: false,
                limit: self.rate.tokens,
                remaining: 0,
                reset_secs: self.reset_secs(app),
                retry_after_secs: ceil_secs(not_until.wait_time_from(self.limiter.clock().now()))
                    .max(1),
            },
        }
    }
}

/// The windows of one app (or of `__default`).
struct Group {
    /// The key used for apps with their own entry (their stores have one cell, so the
    /// key's text does not matter; sharing one `Arc` avoids an allocation per check).
    name: Arc<str>,
    windows: Vec<Window>,
}

/// The local backend.
pub(super) struct LocalLimiter {
    apps: HashMap<String, Group>,
    default: Group,
    /// Serialise multi-window checks of one app (probe all, then charge all).
    stripes: Box<[Mutex<()>]>,
}

const STRIPES: usize = 64;

impl LocalLimiter {
    pub(super) fn new(plan: &Plan, max_tracked_apps: usize) -> Self {
        let clock = TokioClock::new();
        let default = Group {
            name: Arc::from(super::DEFAULT_APP),
            windows: plan
                .default
                .iter()
                .map(|&r| Window::new(r, Store::keyed(max_tracked_apps), &clock))
                .collect(),
        };
        let apps = plan
            .apps
            .iter()
            .map(|(app, rates)| {
                let group = Group {
                    name: Arc::from(app.as_str()),
                    windows: rates
                        .iter()
                        .map(|&r| Window::new(r, Store::single(), &clock))
                        .collect(),
                };
                (app.clone(), group)
            })
            .collect();
        Self {
            apps,
            default,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    pub(super) fn check(&self, app: &str) -> Decision {
        let (group, name) = match self.apps.get(app) {
            Some(g) => (g, Arc::clone(&g.name)),
            None => (&self.default, Arc::<str>::from(app)),
        };
        let commit = Key {
            app: name,
            commit: true,
        };
        if let [only] = group.windows.as_slice() {
            let r = only.check(&commit);
            return Decision::combine(PLUGIN_LOCAL, &[only.outcome(app, &r)]);
        }

        let _serial = self.stripes[stripe(app)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let probe = Key {
            app: Arc::clone(&commit.app),
            commit: false,
        };
        let probes: Vec<_> = group.windows.iter().map(|w| w.check(&probe)).collect();
        let results = if probes.iter().all(Result::is_ok) {
            // Under the lock nothing else charges this app, and time only moves forward,
            // so each commit admits as its probe did.
            group.windows.iter().map(|w| w.check(&commit)).collect()
        } else {
            probes
        };
        let outcomes: Vec<_> = group
            .windows
            .iter()
            .zip(&results)
            .map(|(w, r)| w.outcome(app, r))
            .collect();
        Decision::combine(PLUGIN_LOCAL, &outcomes)
    }

    /// Forgets `__default` apps whose buckets are full again, then returns memory.
    pub(super) fn housekeep(&self) {
        for w in &self.default.windows {
            w.limiter.retain_recent();
            w.limiter.shrink_to_fit();
        }
    }

    pub(super) fn tracked_apps(&self) -> usize {
        self.default
            .windows
            .iter()
            .map(|w| w.limiter.len())
            .max()
            .unwrap_or(0)
    }

    pub(super) fn overflowed(&self) -> u64 {
        self.default
            .windows
            .iter()
            .map(|w| w.store.overflowed())
            .max()
            .unwrap_or(0)
    }
}

/// FNV-1a of the app code, modulo [`STRIPES`].
fn stripe(app: &str) -> usize {
    let h = app.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (h % STRIPES as u64) as usize
}

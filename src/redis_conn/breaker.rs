//! A circuit breaker in front of Redis: during an outage, calls stop paying the call
//! timeout.
//!
//! * **Closed**: every call goes to Redis. `failures` consecutive failures (errors or
//!   timeouts) open the circuit.
//! * **Open**: calls fail at once, without touching Redis, for `open_for`.
//! * **Half-open**: then one call (the *probe*) goes through while the others still fail
//!   at once. A successful probe closes the circuit; a failed one opens it for another
//!   `open_for`. A probe that is dropped before it finishes counts as failed.
//!
//! Opening and closing are logged once each (warn / info); probes only at debug level.
//! Time is `tokio::time`, so tests drive it with paused time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Breaker tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit. Default 3.
    pub failures: u32,
    /// How long an open circuit refuses calls before a probe. Default 1 s.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 3,
            open_for: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// The breaker of one Redis connection (shared by the limiter and the job cache).
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
    /// Calls refused at once because the circuit was open.
    short_circuited: AtomicU64,
    /// Times the circuit opened.
    opened: AtomicU64,
}

/// The circuit is open: the call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open;

/// Permission for one call; report its outcome with [`Ticket::success`] or
/// [`Ticket::failure`]. Dropped without either, it counts as a failure.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    breaker: &'a Breaker,
    done: bool,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config: BreakerConfig {
                failures: config.failures.max(1),
                open_for: config.open_for,
            },
            state: Mutex::new(State::Closed { failures: 0 }),
            short_circuited: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    /// May a call go to Redis now?
    pub(crate) fn acquire(&self) -> Result<Ticket<'_>, Open> {
        let mut state = self.lock();
        let go = match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                tracing::debug!("redis: circuit half-open, probing");
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        };
        drop(state);
        if go {
            Ok(Ticket {
                breaker: self,
                done: false,
            })
        } else {
            self.short_circuited.fetch_add(1, Ordering::Relaxed);
            Err(Open)
        }
    }

    /// Whether calls are being refused (open or probing).
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }

    pub(crate) fn short_circuited(&self) -> u64 {
        self.short_circuited.load(Ordering::Relaxed)
    }

    pub(crate) fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    fn on_success(&self) {
        let mut state = self.lock();
        let was = *state;
        *state = State::Closed { failures: 0 };
        drop(state);
        if !matches!(was, State::Closed { .. }) {
            tracing::info!("redis: answering again; circuit closed");
        }
    }

    fn on_failure(&self, error: &str) {
        let mut state = self.lock();
        let until = Instant::now() + self.config.open_for;
        match *state {
            State::Closed { failures } if failures + 1 < self.config.failures => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                drop(state);
                tracing::debug!(error, "redis: call failed");
            }
            State::Closed { failures } => {
                *state = State::Open { until };
                drop(state);
                self.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error,
                    failures = failures + 1,
                    open_for = ?self.config.open_for,
                    "redis: circuit opened; calls fail at once (rate limit decided by \
                     fail_open, job cache in process only) and one probe is sent every open_for"
                );
            }
            State::HalfOpen => {
                *state = State::Open { until };
                drop(state);
                tracing::debug!(error, "redis: probe failed; circuit stays open");
            }
            // A call admitted before the circuit opened: nothing changes.
            State::Open { .. } => {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a poisoned lock still holds a usable one.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Ticket<'_> {
    /// The call succeeded.
    pub(crate) fn success(mut self) {
        self.done = true;
        self.breaker.on_success();
    }

    /// The call failed (error or timeout).
    pub(crate) fn failure(mut self, error: &str) {
        self.done = true;
        self.breaker.on_failure(error);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.on_failure("call dropped before it finished");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failures: 3,
            open_for: Duration::from_secs(1),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_only() {
        let b = breaker();
        b.acquire().unwrap().failure("x");
        b.acquire().unwrap().failure("x");
        b.acquire().unwrap().success(); // resets the count
        b.acquire().unwrap().failure("x");
        b.acquire().unwrap().failure("x");
        assert!(!b.is_open());
        b.acquire().unwrap().failure("x");
        assert!(b.is_open());
        assert_eq!(b.times_opened(), 1);
        assert_eq!(b.acquire().unwrap_err(), Open);
        assert_eq!(b.short_circuited(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_after_open_for_then_closes_on_success() {
        let b = breaker();
        for _ in 0..3 {
            b.acquire().unwrap().failure("down");
        }
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(b.acquire().is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        let probe = b.acquire().unwrap();
        // While the probe runs, everyone else still fails fast.
        assert!(b.acquire().is_err());
        probe.success();
        assert!(!b.is_open());
        for _ in 0..10 {
            b.acquire().unwrap().success();
        }
        assert_eq!(b.short_circuited(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_or_dropped_probe_reopens_for_another_period() {
        let b = breaker();
        for _ in 0..3 {
            b.acquire().unwrap().failure("down");
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        b.acquire().unwrap().failure("still down");
        assert!(b.acquire().is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(b.acquire().unwrap()); // cancelled probe
        assert!(b.acquire().is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        b.acquire().unwrap().success();
        assert!(!b.is_open());
        assert_eq!(
            b.times_opened(),
            1,
            "re-opening after a probe is not a new outage"
        );
    }
}

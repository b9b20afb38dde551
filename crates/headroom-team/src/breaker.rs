//! A circuit breaker in front of Redis: after a run of failures the shared tier is skipped for
//! a while (every caller fails fast and uses its local tier), then one probe is let through;
//! its success closes the breaker again.
//!
//! Must never: sleep, block, or let more than one probe through at a time while half-open.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the breaker says about the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead (closed, or the one probe of a half-open breaker).
    Yes,
    /// Skip Redis: it failed recently.
    No,
}

/// The breaker's state, as `/health?verbose` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Open until the instant; calls are refused without touching Redis.
    Open,
    /// One probe is in flight.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// Opens after `threshold` failures in a row (at least 1), for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                open_until: None,
                probing: false,
            }),
        }
    }

    pub fn admit(&self) -> Admit {
        self.admit_at(Instant::now())
    }

    pub fn admit_at(&self, now: Instant) -> Admit {
        let Ok(mut s) = self.inner.lock() else {
            return Admit::No;
        };
        match s.open_until {
            None => Admit::Yes,
            Some(until) if now < until => Admit::No,
            Some(_) if s.probing => Admit::No,
            Some(_) => {
                s.probing = true;
                Admit::Yes
            }
        }
    }

    pub fn success(&self) {
        if let Ok(mut s) = self.inner.lock() {
            s.consecutive_failures = 0;
            s.open_until = None;
            s.probing = false;
        }
    }

    pub fn failure(&self) {
        self.failure_at(Instant::now())
    }

    pub fn failure_at(&self, now: Instant) {
        if let Ok(mut s) = self.inner.lock() {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            if s.probing || s.consecutive_failures >= self.threshold {
                s.open_until = Some(now + self.open_for);
            }
            s.probing = false;
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    pub fn state_at(&self, now: Instant) -> BreakerState {
        let Ok(s) = self.inner.lock() else {
            return BreakerState::Open;
        };
        match s.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until && !s.probing => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_lets_one_probe_through() {
        let b = Breaker::new(3, Duration::from_secs(2));
        let t0 = Instant::now();
        b.failure_at(t0);
        b.failure_at(t0);
        assert_eq!(b.admit_at(t0), Admit::Yes, "two failures stay closed");
        b.failure_at(t0);
        assert_eq!(b.admit_at(t0), Admit::No);
        assert_eq!(b.state_at(t0), BreakerState::Open);
        let later = t0 + Duration::from_secs(3);
        assert_eq!(b.admit_at(later), Admit::Yes, "the probe");
        assert_eq!(b.admit_at(later), Admit::No, "only one probe at a time");
        assert_eq!(b.state_at(later), BreakerState::HalfOpen);
        b.success();
        assert_eq!(b.admit_at(later), Admit::Yes);
        assert_eq!(b.state_at(later), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_at_once() {
        let b = Breaker::new(5, Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..5 {
            b.failure_at(t0);
        }
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(b.admit_at(t1), Admit::Yes);
        b.failure_at(t1);
        assert_eq!(b.admit_at(t1), Admit::No);
        assert_eq!(b.admit_at(t1 + Duration::from_millis(1500)), Admit::Yes);
    }

    #[test]
    fn a_success_resets_the_failure_run() {
        let b = Breaker::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        b.failure_at(t0);
        b.success();
        b.failure_at(t0);
        assert_eq!(b.admit_at(t0), Admit::Yes);
    }
}

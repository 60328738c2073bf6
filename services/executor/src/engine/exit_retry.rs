//! Pacing of resumed exits.
//!
//! An exit that stopped (a leg refused, a venue down) is resumed by the periodic reconciliation,
//! and it must keep trying: a leg left behind is naked. But an exit that fails every time (a
//! venue that refuses the leg for a reason no retry changes) must not send orders at every tick
//! for ever, nor stay silent: after [`FREE_RETRIES`] consecutive failures its retries back off,
//! doubling from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], and the operator is alerted once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failed exits resumed at every reconciliation tick before backing off.
pub(crate) const FREE_RETRIES: u32 = 3;
/// First wait after [`FREE_RETRIES`] failures.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(20);
/// Longest wait between two attempts of a stuck exit.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long to wait before the next attempt after `failures` consecutive failed exits.
pub(crate) fn backoff(failures: u32) -> Duration {
    if failures <= FREE_RETRIES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_RETRIES - 1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

#[derive(Debug, Clone, Copy)]
struct Stalled {
    failures: u32,
    next_at: Instant,
}

/// What a stopped exit's caller should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop {
    /// Consecutive failed exits of the position, this one included.
    pub failures: u32,
    /// Wait before the next resume.
    pub wait: Duration,
    /// True once, when the retries start backing off: the moment to alert.
    pub alert: bool,
}

/// Consecutive exit failures per position (in memory: a restart retries at once, which is
/// what a restart is for).
#[derive(Debug, Default)]
pub(crate) struct ExitRetries {
    stalled: Mutex<HashMap<i64, Stalled>>,
}

impl ExitRetries {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Stalled>> {
        self.stalled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a failed exit of `id` at `now`.
    pub(crate) fn stopped(&self, id: i64, now: Instant) -> Stop {
        let mut map = self.map();
        let entry = map.entry(id).or_insert(Stalled {
            failures: 0,
            next_at: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        let wait = backoff(entry.failures);
        entry.next_at = now + wait;
        Stop {
            failures: entry.failures,
            wait,
            alert: entry.failures == FREE_RETRIES + 1,
        }
    }

    /// Whether a resume of `id` is due at `now`.
    pub(crate) fn due(&self, id: i64, now: Instant) -> bool {
        self.map().get(&id).is_none_or(|s| now >= s.next_at)
    }

    /// The exit of `id` completed (or the position is gone).
    pub(crate) fn forget(&self, id: i64) {
        self.map().remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_retried_at_once_then_back_off_to_a_cap() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_stuck_exit_is_alerted_once_and_not_due_until_its_wait_is_over() {
        let retries = ExitRetries::default();
        let start = Instant::now();
        let stops: Vec<Stop> = (0..6).map(|_| retries.stopped(7, start)).collect();
        assert_eq!(stops.iter().filter(|s| s.alert).count(), 1);
        assert!(stops[FREE_RETRIES as usize].alert);
        assert!(retries.due(8, start), "another position is not held back");
        assert!(!retries.due(7, start));
        assert!(!retries.due(7, start + Duration::from_secs(79)));
        assert!(retries.due(7, start + Duration::from_secs(80)));
        retries.forget(7);
        assert!(retries.due(7, start));
        assert_eq!(retries.stopped(7, start).failures, 1);
    }
}

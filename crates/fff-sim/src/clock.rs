//! The one simulated clock. Every timestamp the simulator produces comes from here.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{ClockConfig, ClockMode};

#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    speed: f64,
    start_ms: i64,
    anchor: Instant,
    /// Manual advances (admin), added on top of the running time.
    offset_ms: AtomicI64,
}

/// Wall-clock microseconds since the Unix epoch.
pub fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    pub fn new(cfg: &ClockConfig) -> Self {
        Self {
            mode: cfg.mode,
            speed: cfg.speed,
            start_ms: cfg.start_ms.unwrap_or_else(wall_ms),
            anchor: Instant::now(),
            offset_ms: AtomicI64::new(0),
        }
    }

    /// Simulated epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let elapsed = self.anchor.elapsed().as_millis() as i64;
        let run = match self.mode {
            ClockMode::Real => elapsed,
            // speed is a rate, not money: f64 is fine here.
            ClockMode::Accelerated => (elapsed as f64 * self.speed) as i64,
            ClockMode::Manual => 0,
        };
        self.start_ms
            .saturating_add(run)
            .saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves simulated time forward (never backward, and never past `i64::MAX`).
    pub fn advance(&self, ms: i64) {
        let _ = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                Some(offset.saturating_add(ms.max(0)))
            });
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_on_advance() {
        let c = Clock::new(&ClockConfig {
            mode: ClockMode::Manual,
            speed: 1.0,
            start_ms: Some(1_000),
        });
        assert_eq!(c.now_ms(), 1_000);
        c.advance(3_600_000);
        c.advance(-5);
        assert_eq!(c.now_ms(), 3_601_000);
    }

    #[test]
    fn accelerated_clock_runs_faster() {
        let c = Clock::new(&ClockConfig {
            mode: ClockMode::Accelerated,
            speed: 1000.0,
            start_ms: Some(0),
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now_ms() >= 20_000);
    }
}

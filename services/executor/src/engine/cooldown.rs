//! Per-symbol backoff for entries: a symbol whose entry failed is not planned again until its
//! cooldown ends (each failure in a row doubles it, up to a cap), and an entry the slippage
//! guard paused waits the base delay before it is resumed. Without this a failing symbol is
//! planned again within seconds and pays a perp round trip each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Entry {
    until: Instant,
    failures: u32,
}

#[derive(Debug)]
pub struct Cooldowns {
    base: Duration,
    max: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Cooldowns {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Time left before `symbol` may be entered again, if any.
    pub fn remaining(&self, symbol: &str, now: Instant) -> Option<Duration> {
        self.lock()
            .get(symbol)
            .and_then(|e| e.until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// An entry failed without progress: back off, longer each time in a row.
    pub fn failed(&self, symbol: &str, now: Instant) -> Duration {
        let mut entries = self.lock();
        let entry = entries.entry(symbol.to_owned()).or_insert(Entry {
            until: now,
            failures: 0,
        });
        let factor = 1u32 << entry.failures.min(16);
        let wait = self.base.saturating_mul(factor).min(self.max);
        entry.failures = entry.failures.saturating_add(1);
        entry.until = now + wait;
        wait
    }

    /// An entry made progress but stopped (slippage guard): resume after the base delay.
    pub fn paused(&self, symbol: &str, now: Instant) -> Duration {
        self.lock().insert(
            symbol.to_owned(),
            Entry {
                until: now + self.base,
                failures: 0,
            },
        );
        self.base
    }

    /// The entry reached its target: forget the symbol.
    pub fn succeeded(&self, symbol: &str) {
        self.lock().remove(symbol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_double_up_to_the_cap_and_success_clears() {
        let c = Cooldowns::new(Duration::from_secs(5), Duration::from_secs(30));
        let t = Instant::now();
        assert_eq!(c.remaining("BTCUSDT", t), None);
        assert_eq!(c.failed("BTCUSDT", t), Duration::from_secs(5));
        assert_eq!(c.failed("BTCUSDT", t), Duration::from_secs(10));
        assert_eq!(c.failed("BTCUSDT", t), Duration::from_secs(20));
        assert_eq!(c.failed("BTCUSDT", t), Duration::from_secs(30));
        assert_eq!(c.remaining("BTCUSDT", t), Some(Duration::from_secs(30)));
        assert_eq!(c.remaining("ETHUSDT", t), None);
        assert_eq!(c.remaining("BTCUSDT", t + Duration::from_secs(31)), None);
        // progress resets the escalation
        assert_eq!(c.paused("BTCUSDT", t), Duration::from_secs(5));
        assert_eq!(c.failed("BTCUSDT", t), Duration::from_secs(5));
        c.succeeded("BTCUSDT");
        assert_eq!(c.remaining("BTCUSDT", t), None);
    }
}

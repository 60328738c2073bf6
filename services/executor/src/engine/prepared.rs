//! Margin type and leverage per symbol, set once and remembered: Binance keeps both per symbol
//! on the account, so setting them again before every entry only added two gateway round
//! trips (and two weighted REST calls) to the opportunity -> order path. An entry that fails
//! forgets its symbol, and a setting older than [`REFRESH`] is set again, so a change made
//! outside fff (on Binance's site) is corrected by the next entry after at most that long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a setting is trusted before the next entry sets it again.
pub const REFRESH: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
pub struct PreparedPerps {
    set: Mutex<HashMap<String, (u32, Instant)>>,
}

impl PreparedPerps {
    /// True when `symbol` was set to cross margin and `leverage` less than [`REFRESH`] ago.
    pub fn is_fresh(&self, symbol: &str, leverage: u32, now: Instant) -> bool {
        self.lock()
            .get(symbol)
            .is_some_and(|&(set, at)| set == leverage && now.duration_since(at) < REFRESH)
    }

    pub fn remember(&self, symbol: &str, leverage: u32, now: Instant) {
        self.lock().insert(symbol.to_owned(), (leverage, now));
    }

    pub fn forget(&self, symbol: &str) {
        self.lock().remove(symbol);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.set.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_trusted_for_its_leverage_until_refreshed_or_forgotten() {
        let prepared = PreparedPerps::default();
        let t = Instant::now();
        assert!(!prepared.is_fresh("BTCUSDT", 3, t));
        prepared.remember("BTCUSDT", 3, t);
        assert!(prepared.is_fresh("BTCUSDT", 3, t + Duration::from_secs(60)));
        assert!(
            !prepared.is_fresh("BTCUSDT", 5, t),
            "another leverage is set again"
        );
        assert!(!prepared.is_fresh("ETHUSDT", 3, t));
        assert!(!prepared.is_fresh("BTCUSDT", 3, t + REFRESH));
        prepared.forget("BTCUSDT");
        assert!(!prepared.is_fresh("BTCUSDT", 3, t));
    }
}

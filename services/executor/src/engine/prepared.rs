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
    /// A background task is setting ranked symbols ahead of their entries.
    ahead: std::sync::atomic::AtomicBool,
}

impl PreparedPerps {
    /// Claims the one background task that sets symbols ahead; false if it runs already.
    pub fn start_ahead(&self) -> bool {
        !self.ahead.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    pub fn end_ahead(&self) {
        self.ahead
            .store(false, std::sync::atomic::Ordering::Release);
    }

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

/// How long an instrument read ahead of an entry may stand in for the entry's own read: the
/// read is made while the pair asks risk, milliseconds before the entry; an older one (risk
/// slow to answer) is read again, as marks and funding move.
pub const INSTRUMENT_AHEAD_MAX_AGE: Duration = Duration::from_millis(500);

/// Instruments read while a pair asks risk for approval, each taken by that pair's entry: the
/// entry then skips a gateway round trip between its approval and its perp order. For a short
/// spot leg the coin cross margin lends is read with it (a venue read the entry's funds check
/// made on the path, `fff bench` 2026-12-05).
#[derive(Debug, Default)]
pub struct InstrumentsAhead {
    read: Mutex<HashMap<String, (ReadAhead, Instant)>>,
}

/// What an entry's checks read, read ahead of it.
#[derive(Debug, Clone)]
pub struct ReadAhead {
    pub instrument: crate::exchange::InstrumentInfo,
    /// `GetMaxBorrowable` of the base asset, read for a short spot leg only.
    pub lendable: Option<rust_decimal::Decimal>,
}

impl InstrumentsAhead {
    pub fn put(&self, ahead: ReadAhead, now: Instant) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.retain(|_, (_, at)| now.duration_since(*at) < INSTRUMENT_AHEAD_MAX_AGE);
        read.insert(ahead.instrument.symbol.clone(), (ahead, now));
    }

    /// What was read ahead for `symbol`, once, if younger than [`INSTRUMENT_AHEAD_MAX_AGE`].
    pub fn take(&self, symbol: &str, now: Instant) -> Option<ReadAhead> {
        let (ahead, at) = self
            .read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(symbol)?;
        (now.duration_since(at) < INSTRUMENT_AHEAD_MAX_AGE).then_some(ahead)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn an_instrument_read_ahead_serves_one_entry_while_fresh() {
        let ahead = InstrumentsAhead::default();
        let t = Instant::now();
        let filters = fff_core::filters::SymbolFilters::unconstrained();
        let instrument = |symbol: &str| crate::exchange::InstrumentInfo {
            symbol: symbol.into(),
            base_asset: symbol.trim_end_matches("USDT").into(),
            quote_asset: "USDT".into(),
            spot: filters.clone(),
            perp: filters.clone(),
            mark_price: Decimal::ONE,
            funding_rate: Decimal::ZERO,
            tradable: true,
        };
        let read = |symbol: &str| ReadAhead {
            instrument: instrument(symbol),
            lendable: Some(Decimal::TEN),
        };
        ahead.put(read("BTCUSDT"), t);
        assert!(ahead.take("ETHUSDT", t).is_none());
        let taken = ahead.take("BTCUSDT", t + Duration::from_millis(5)).unwrap();
        assert_eq!(taken.instrument.symbol, "BTCUSDT");
        assert_eq!(taken.lendable, Some(Decimal::TEN));
        assert!(ahead.take("BTCUSDT", t).is_none(), "taken once");
        ahead.put(read("BTCUSDT"), t);
        assert!(
            ahead
                .take("BTCUSDT", t + INSTRUMENT_AHEAD_MAX_AGE)
                .is_none(),
            "too old: read again"
        );
    }

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

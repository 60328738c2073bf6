//! Per-symbol work locks that remember when work on a symbol last ran: the periodic
//! reconciliation compares the books with an account view that lags the venue, so a symbol
//! worked on during (or just before) its look is not judged on that look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OwnedMutexGuard;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default, Clone)]
struct SymbolLock {
    work: Arc<tokio::sync::Mutex<()>>,
    touched: Arc<Mutex<Option<Instant>>>,
}

/// Held while work runs on one symbol; records the time it ends.
pub(crate) struct SymbolGuard {
    _work: OwnedMutexGuard<()>,
    touched: Arc<Mutex<Option<Instant>>>,
}

impl Drop for SymbolGuard {
    fn drop(&mut self) {
        *lock(&self.touched) = Some(Instant::now());
    }
}

#[derive(Default)]
pub(crate) struct SymbolLocks {
    symbols: Mutex<HashMap<String, SymbolLock>>,
}

impl SymbolLocks {
    fn get(&self, symbol: &str) -> SymbolLock {
        lock(&self.symbols)
            .entry(symbol.to_owned())
            .or_default()
            .clone()
    }

    /// Waits for `symbol`'s lock.
    pub(crate) async fn acquire(&self, symbol: &str) -> SymbolGuard {
        let entry = self.get(symbol);
        let work = entry.work.lock_owned().await;
        *lock(&entry.touched) = Some(Instant::now());
        SymbolGuard {
            _work: work,
            touched: entry.touched,
        }
    }

    /// Whether someone holds `symbol`'s lock now.
    pub(crate) fn held(&self, symbol: &str) -> bool {
        lock(&self.symbols)
            .get(symbol)
            .is_some_and(|entry| entry.work.try_lock().is_err())
    }

    /// Whether work on `symbol` runs now or ran at or after `since`.
    pub(crate) fn worked_since(&self, symbol: &str, since: Instant) -> bool {
        let Some(entry) = lock(&self.symbols).get(symbol).cloned() else {
            return false;
        };
        entry.work.try_lock().is_err() || lock(&entry.touched).is_some_and(|t| t >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_is_seen_while_it_runs_and_after_it_ended() {
        let locks = SymbolLocks::default();
        let start = Instant::now();
        assert!(!locks.worked_since("BTCUSDT", start));
        let guard = locks.acquire("BTCUSDT").await;
        assert!(locks.held("BTCUSDT"));
        assert!(locks.worked_since("BTCUSDT", Instant::now()));
        assert!(!locks.worked_since("ETHUSDT", start));
        drop(guard);
        let after = Instant::now();
        assert!(locks.worked_since("BTCUSDT", start));
        assert!(!locks.worked_since("BTCUSDT", after + std::time::Duration::from_millis(1)));
        assert!(!locks.held("BTCUSDT"));
    }
}

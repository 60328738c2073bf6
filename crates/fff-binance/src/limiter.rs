//! Request-weight and order-count budgets, one limiter per Binance rate-limit scope.
//!
//! Every attempt (retries included) calls [`RateLimiter::acquire`] before it is sent and
//! [`RateLimiter::observe`] after, so the local count is corrected by Binance's own
//! `X-MBX-USED-WEIGHT-*` / `X-MBX-ORDER-COUNT-*` / `X-SAPI-USED-*-WEIGHT-*` headers. After a 429 the
//! scope stops sending until `Retry-After` has passed; after a 418 until the ban is over.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// What one request costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub weight: u32,
    pub orders: u32,
    /// Market data and market history (funding rates, klines, tickers, interest rates): it may
    /// not spend the part of a request-weight window kept for trading (orders and the reads of
    /// the account's own records: order status, trades, balances, positions, funding income
    /// and interest charges), so a polling burst cannot hold back the fills a position depends
    /// on or the cash the ledger books.
    pub background: bool,
}

impl Cost {
    pub const fn weight(weight: u32) -> Self {
        Self {
            weight,
            orders: 0,
            background: false,
        }
    }
    pub const fn order(weight: u32) -> Self {
        Self {
            weight,
            orders: 1,
            background: false,
        }
    }
    /// The same cost, paid from the background share of the weight budget.
    pub const fn in_background(self) -> Self {
        Self {
            background: true,
            ..self
        }
    }
}

/// Share of each request-weight window background requests leave to trading, percent.
pub const DEFAULT_TRADING_RESERVE_PCT: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    Weight,
    Orders,
}

/// Longest `Retry-After` honoured (7 days); larger values are clamped to it.
const MAX_RETRY_AFTER_SECS: u64 = 7 * 24 * 3600;

/// A `rateLimits` entry of `exchangeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    pub limit: u32,
}

/// Header families of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/api/v3` on the spot matching engine.
    Spot,
    /// `/fapi`.
    Futures,
    /// IP-weighted `/sapi` endpoints.
    SapiIp,
    /// UID-weighted `/sapi` endpoints.
    SapiUid,
}

impl Scope {
    fn weight_header_prefix(self) -> &'static str {
        match self {
            Scope::Spot | Scope::Futures => "x-mbx-used-weight-",
            Scope::SapiIp => "x-sapi-used-ip-weight-",
            Scope::SapiUid => "x-sapi-used-uid-weight-",
        }
    }
}

#[derive(Debug)]
struct Window {
    kind: BudgetKind,
    interval: Duration,
    limit: u32,
    header: String,
    used: u32,
    started: Instant,
}

#[derive(Debug, Clone, Copy)]
enum Block {
    RateLimited(Instant),
    Banned(Instant),
}

#[derive(Debug)]
struct State {
    windows: Vec<Window>,
    block: Option<Block>,
    /// (path, background) -> what it spent since the last [`RateLimiter::take_spend`]
    spend: BTreeMap<(&'static str, bool), PathSpend>,
}

/// What one endpoint path (of one budget class) spent of a scope's budget since the last
/// [`RateLimiter::take_spend`]: the per-path account an operator tunes the polls from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSpend {
    pub path: &'static str,
    /// Paid from the background share (market data and history).
    pub background: bool,
    /// Requests sent.
    pub requests: u64,
    /// Request weight they spent.
    pub weight: u64,
    /// Requests refused locally (no room in the budget within the longest wait, or the
    /// scope paused by a 429/418).
    pub refused: u64,
}

/// Budgets of one scope. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    scope: Scope,
    max_wait: Duration,
    trading_reserve_pct: u32,
    state: Mutex<State>,
}

impl RateLimiter {
    /// A limiter with Binance's documented default limits for `scope` (replaced by
    /// [`RateLimiter::set_limits`] once `exchangeInfo` is loaded).
    pub fn new(scope: Scope) -> Self {
        let defaults: Vec<RateLimit> = match scope {
            Scope::Spot => vec![
                rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
                rate_limit("ORDERS", "SECOND", 10, 50),
                rate_limit("ORDERS", "DAY", 1, 160_000),
            ],
            Scope::Futures => vec![
                rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
                rate_limit("ORDERS", "MINUTE", 1, 1200),
            ],
            Scope::SapiIp => vec![rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 12_000)],
            Scope::SapiUid => vec![rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 180_000)],
        };
        let limiter = Self {
            scope,
            max_wait: Duration::from_secs(10),
            trading_reserve_pct: DEFAULT_TRADING_RESERVE_PCT,
            state: Mutex::new(State {
                windows: Vec::new(),
                block: None,
                spend: BTreeMap::new(),
            }),
        };
        limiter.set_limits(&defaults);
        limiter
    }

    /// How long [`acquire`](Self::acquire) may sleep for budget before failing with
    /// [`Error::BudgetExhausted`].
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The share (percent, at most 90) of every request-weight window that background requests
    /// may not use.
    pub fn with_trading_reserve_pct(mut self, pct: u32) -> Self {
        self.trading_reserve_pct = pct.min(90);
        self
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Replaces the budgets with `exchangeInfo.rateLimits` (RAW_REQUESTS / CONNECTIONS are ignored).
    pub fn set_limits(&self, limits: &[RateLimit]) {
        let now = Instant::now();
        let mut windows = Vec::new();
        for limit in limits {
            let kind = match limit.rate_limit_type.as_str() {
                "REQUEST_WEIGHT" => BudgetKind::Weight,
                "ORDERS" => BudgetKind::Orders,
                _ => continue,
            };
            let Some((unit_secs, letter)) = interval_unit(&limit.interval) else {
                continue;
            };
            let prefix = match kind {
                BudgetKind::Weight => self.scope.weight_header_prefix(),
                BudgetKind::Orders => "x-mbx-order-count-",
            };
            windows.push(Window {
                kind,
                interval: Duration::from_secs(unit_secs * u64::from(limit.interval_num.max(1))),
                limit: limit.limit,
                header: format!("{prefix}{}{letter}", limit.interval_num),
                used: 0,
                started: now,
            });
        }
        let mut state = self.lock();
        // Keep what is already used in windows that survive the swap.
        for window in &mut windows {
            if let Some(old) = state.windows.iter().find(|old| old.header == window.header) {
                window.used = old.used;
                window.started = old.started;
            }
        }
        state.windows = windows;
    }

    /// Reserves `cost`, sleeping until the budget allows it (at most `max_wait`). Fails without
    /// waiting while the scope is blocked by a 429 or banned by a 418.
    pub async fn acquire(&self, cost: Cost) -> Result<()> {
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.block {
                    Some(Block::RateLimited(until)) if until > now => {
                        return Err(Error::RateLimited {
                            retry_after: until - now,
                            local: true,
                        });
                    }
                    Some(Block::Banned(until)) if until > now => {
                        return Err(Error::IpBanned {
                            retry_after: until - now,
                            local: true,
                        });
                    }
                    Some(_) => state.block = None,
                    None => {}
                }
                let mut wait = Duration::ZERO;
                for window in &mut state.windows {
                    if now >= window.started + window.interval {
                        window.used = 0;
                        window.started = now;
                    }
                    let (need, limit) = match window.kind {
                        BudgetKind::Weight if cost.background => (
                            cost.weight,
                            share(window.limit, 100 - self.trading_reserve_pct),
                        ),
                        BudgetKind::Weight => (cost.weight, window.limit),
                        BudgetKind::Orders => (cost.orders, window.limit),
                    };
                    // A request larger than a whole window still goes once the window is empty.
                    if need > 0 && window.used > 0 && window.used.saturating_add(need) > limit {
                        wait = wait.max(window.started + window.interval - now);
                    }
                }
                if wait.is_zero() {
                    for window in &mut state.windows {
                        let need = match window.kind {
                            BudgetKind::Weight => cost.weight,
                            BudgetKind::Orders => cost.orders,
                        };
                        window.used = window.used.saturating_add(need);
                    }
                    return Ok(());
                }
                wait
            };
            if wait > self.max_wait {
                return Err(Error::BudgetExhausted { wait });
            }
            tracing::debug!(scope = ?self.scope, wait_ms = wait.as_millis() as u64, "waiting for request budget");
            tokio::time::sleep(wait).await;
        }
    }

    /// Corrects the budgets from a response; returns the error a 429/418 stands for.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap) -> Option<Error> {
        let now = Instant::now();
        let mut state = self.lock();
        for window in &mut state.windows {
            let reported = headers
                .get(window.header.as_str())
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u32>().ok());
            if let Some(used) = reported {
                // The server's count wins when it is higher; a lower one may belong to a window that
                // already rolled over on Binance's side, and being conservative costs at most one window.
                window.used = window.used.max(used);
            }
        }
        // Capped: Binance's longest ban is 3 days, and an absurd header must not overflow `Instant`.
        let retry_after = headers
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)));
        match status.as_u16() {
            429 => {
                let retry_after = retry_after.unwrap_or(Duration::from_secs(60));
                state.block = Some(Block::RateLimited(now + retry_after));
                tracing::warn!(scope = ?self.scope, retry_after_s = retry_after.as_secs(), "rate limited by binance, pausing scope");
                Some(Error::RateLimited {
                    retry_after,
                    local: false,
                })
            }
            418 => {
                let retry_after = retry_after.unwrap_or(Duration::from_secs(120));
                state.block = Some(Block::Banned(now + retry_after));
                tracing::error!(scope = ?self.scope, retry_after_s = retry_after.as_secs(), "ip banned by binance, pausing scope");
                Some(Error::IpBanned {
                    retry_after,
                    local: false,
                })
            }
            _ => None,
        }
    }

    /// Counts a request of `path` costing `cost`: sent, or refused locally.
    pub fn record(&self, path: &'static str, cost: Cost, sent: bool) {
        let mut state = self.lock();
        let entry = state
            .spend
            .entry((path, cost.background))
            .or_insert_with(|| PathSpend {
                path,
                background: cost.background,
                ..PathSpend::default()
            });
        if sent {
            entry.requests += 1;
            entry.weight += u64::from(cost.weight);
        } else {
            entry.refused += 1;
        }
    }

    /// What each path spent since the previous call (heaviest first), and starts counting
    /// again.
    pub fn take_spend(&self) -> Vec<PathSpend> {
        let mut spend: Vec<PathSpend> = std::mem::take(&mut self.lock().spend)
            .into_values()
            .collect();
        spend.sort_by(|a, b| b.weight.cmp(&a.weight).then(b.refused.cmp(&a.refused)));
        spend
    }

    /// Used budget per response-header name, for metrics and tests.
    pub fn usage(&self) -> Vec<(String, u32, u32)> {
        self.lock()
            .windows
            .iter()
            .map(|w| (w.header.clone(), w.used, w.limit))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent enough to matter.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `pct` percent of `limit`, rounded down.
fn share(limit: u32, pct: u32) -> u32 {
    u32::try_from(u64::from(limit) * u64::from(pct) / 100).unwrap_or(limit)
}

fn rate_limit(kind: &str, interval: &str, num: u32, limit: u32) -> RateLimit {
    RateLimit {
        rate_limit_type: kind.to_string(),
        interval: interval.to_string(),
        interval_num: num,
        limit,
    }
}

fn interval_unit(interval: &str) -> Option<(u64, char)> {
    match interval {
        "SECOND" => Some((1, 's')),
        "MINUTE" => Some((60, 'm')),
        "HOUR" => Some((3600, 'h')),
        "DAY" => Some((86_400, 'd')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn header_names_follow_interval_letters() {
        let limiter = RateLimiter::new(Scope::Spot);
        let names: Vec<String> = limiter.usage().into_iter().map(|u| u.0).collect();
        assert_eq!(
            names,
            vec![
                "x-mbx-used-weight-1m",
                "x-mbx-order-count-10s",
                "x-mbx-order-count-1d"
            ]
        );
        let sapi = RateLimiter::new(Scope::SapiUid);
        assert_eq!(sapi.usage()[0].0, "x-sapi-used-uid-weight-1m");
    }

    #[tokio::test(start_paused = true)]
    async fn header_correction_makes_the_next_request_wait() {
        let limiter = RateLimiter::new(Scope::Futures).with_max_wait(Duration::from_secs(120));
        limiter.acquire(Cost::weight(1)).await.unwrap();
        limiter.observe(
            StatusCode::OK,
            &headers(&[("X-MBX-USED-WEIGHT-1M", "2395")]),
        );
        let start = Instant::now();
        limiter.acquire(Cost::weight(5)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(Cost::weight(5)).await.unwrap();
        // 2400 were used, so the second call waited for the window to roll over.
        assert!(
            start.elapsed() >= Duration::from_secs(59),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn background_requests_leave_the_trading_reserve_alone() {
        let limiter = RateLimiter::new(Scope::Futures).with_max_wait(Duration::from_secs(1));
        limiter.acquire(Cost::weight(1)).await.unwrap();
        // 1,915 of 2,400 used: the background share (80 %, 1,920) has room for 5, not for 30.
        limiter.observe(
            StatusCode::OK,
            &headers(&[("X-MBX-USED-WEIGHT-1M", "1915")]),
        );
        let err = limiter
            .acquire(Cost::weight(30).in_background())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BudgetExhausted { .. }), "{err:?}");
        limiter
            .acquire(Cost::weight(5).in_background())
            .await
            .unwrap();
        // Trading reads and orders still have the reserve: 480 of weight.
        for _ in 0..96 {
            limiter.acquire(Cost::weight(5)).await.unwrap();
        }
        assert_eq!(limiter.usage()[0].1, 2400);
        let err = limiter.acquire(Cost::weight(1)).await.unwrap_err();
        assert!(matches!(err, Error::BudgetExhausted { .. }), "{err:?}");
    }

    #[test]
    fn spend_is_counted_per_path_and_class_and_drained() {
        let limiter = RateLimiter::new(Scope::Futures);
        limiter.record("/fapi/v3/account", Cost::weight(5), true);
        limiter.record("/fapi/v3/account", Cost::weight(5), true);
        limiter.record("/fapi/v3/account", Cost::weight(5), false);
        limiter.record(
            "/fapi/v1/premiumIndex",
            Cost::weight(10).in_background(),
            true,
        );
        limiter.record("/fapi/v1/premiumIndex", Cost::weight(1), true);
        let spend = limiter.take_spend();
        assert_eq!(spend.len(), 3);
        assert_eq!(
            spend[0],
            PathSpend {
                path: "/fapi/v3/account",
                background: false,
                requests: 2,
                weight: 10,
                refused: 1,
            }
        );
        assert_eq!((spend[1].weight, spend[1].background), (10, true));
        assert_eq!((spend[2].weight, spend[2].background), (1, false));
        assert!(limiter.take_spend().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_budget_beyond_max_wait_is_an_error() {
        let limiter = RateLimiter::new(Scope::Spot).with_max_wait(Duration::from_secs(1));
        limiter.acquire(Cost::order(1)).await.unwrap();
        limiter.observe(StatusCode::OK, &headers(&[("x-mbx-order-count-10s", "50")]));
        let err = limiter.acquire(Cost::order(1)).await.unwrap_err();
        assert!(matches!(err, Error::BudgetExhausted { .. }), "{err:?}");
        // Weight-only requests are not held back by the order budget.
        limiter.acquire(Cost::weight(1)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_requests_stops_the_scope_until_retry_after() {
        let limiter = RateLimiter::new(Scope::Spot);
        let err = limiter
            .observe(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
            )
            .unwrap();
        assert!(
            matches!(err, Error::RateLimited { retry_after, local: false } if retry_after == Duration::from_secs(7))
        );
        assert!(matches!(
            limiter.acquire(Cost::weight(1)).await,
            Err(Error::RateLimited { local: true, .. })
        ));
        tokio::time::advance(Duration::from_secs(7)).await;
        limiter.acquire(Cost::weight(1)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn ban_blocks_until_it_ends() {
        let limiter = RateLimiter::new(Scope::Futures);
        limiter.observe(StatusCode::IM_A_TEAPOT, &headers(&[("Retry-After", "120")]));
        tokio::time::advance(Duration::from_secs(119)).await;
        assert!(matches!(
            limiter.acquire(Cost::weight(1)).await,
            Err(Error::IpBanned { .. })
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter.acquire(Cost::weight(1)).await.unwrap();
    }

    #[test]
    fn set_limits_reads_exchange_info() {
        let limiter = RateLimiter::new(Scope::Spot);
        let limits: Vec<RateLimit> =
            serde_json::from_str(include_str!("../test_data/spot_rateLimits_documented.json"))
                .unwrap();
        limiter.set_limits(&limits);
        let usage = limiter.usage();
        assert_eq!(usage.len(), 2, "RAW_REQUESTS is not a header budget");
        assert_eq!(usage[1], ("x-mbx-order-count-1s".to_string(), 0, 10));
    }
}

//! What the replay knows about each symbol at the current instant: recent settlements, latest
//! prices and volume. Built only from events already replayed, so decisions cannot look ahead.

use std::collections::VecDeque;

use fff_core::{FundingInterval, MarketSnapshot, Symbol};
use rust_decimal::Decimal;

use crate::data::{DAY_MS, HOUR_MS, SpotListing};

/// Settlements kept for the stability score (a week of 8-hour funding).
pub const HISTORY_LEN: usize = 21;
/// A leg price older than this no longer moves the marks (its series ended).
const PRICE_STALE_MS: i64 = 2 * DAY_MS;

/// Per-symbol state at the replay instant.
#[derive(Debug, Clone)]
pub struct SymbolState {
    pub symbol: Option<Symbol>,
    /// Most recent settlements (time, rate), newest last.
    pub recent: VecDeque<(i64, Decimal)>,
    pub interval_hours: u32,
    /// Last spot and perp daily closes (stamped at the close); the legs are marked only on
    /// these, at the same instant, so intraday moves never show up as basis.
    pub spot: Option<(i64, Decimal)>,
    pub perp: Option<(i64, Decimal)>,
    /// Last mark price from a funding settlement: values funding, and prices symbols that
    /// have no klines.
    pub mark: Option<(i64, Decimal)>,
    /// 24h quote volume of the last completed perp day.
    pub volume_24h: Option<Decimal>,
    /// Hourly borrow rate of the base asset, and whether it came from data or config.
    pub borrow_hourly: Decimal,
    pub borrow_known: bool,
    /// When a spot market is evidenced for the pair.
    pub spot_listing: SpotListing,
    /// `[backtest].assume_spot_markets`: every pair counts as having a spot market.
    pub assume_spot_market: bool,
    /// Bumped whenever an input of qualification or scoring changes (settlement, volume,
    /// borrow rate), so policies can cache per-symbol work.
    pub version: u64,
}

impl SymbolState {
    pub fn new(name: &str, borrow_hourly: Decimal, borrow_known: bool) -> Self {
        Self {
            spot_listing: SpotListing::ALWAYS,
            assume_spot_market: false,
            symbol: Symbol::parse(name).ok(),
            recent: VecDeque::with_capacity(HISTORY_LEN + 1),
            interval_hours: 8,
            spot: None,
            perp: None,
            mark: None,
            volume_24h: None,
            borrow_hourly,
            borrow_known,
            version: 0,
        }
    }

    pub fn push_settlement(&mut self, time_ms: i64, rate: Decimal, interval_hours: u32) {
        if self.recent.len() == HISTORY_LEN {
            self.recent.pop_front();
        }
        self.recent.push_back((time_ms, rate));
        self.interval_hours = interval_hours;
        self.version += 1;
    }

    /// Whether the perp is still settling: the last settlement is at most two intervals old.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.recent.back().is_some_and(|(t, _)| {
            now_ms - t <= 2 * i64::from(self.interval_hours) * HOUR_MS + HOUR_MS
        })
    }

    /// Whether a spot market for the pair is evidenced (or assumed) at `now_ms`.
    pub fn has_spot_market(&self, now_ms: i64) -> bool {
        self.assume_spot_market || self.spot_listing.listed_at(now_ms)
    }

    /// Whether a hedge can be held at `now_ms`: the perp settles and the spot market exists.
    pub fn tradable(&self, now_ms: i64) -> bool {
        self.is_live(now_ms) && self.has_spot_market(now_ms)
    }

    /// Mean of the last `n` settled rates (per interval).
    pub fn signal_rate(&self, n: usize) -> Option<Decimal> {
        let take = n.min(self.recent.len());
        if take == 0 {
            return None;
        }
        let sum: Decimal = self.recent.iter().rev().take(take).map(|(_, r)| *r).sum();
        Some(sum / Decimal::from(take))
    }

    pub fn fresh_spot(&self, now_ms: i64) -> Option<Decimal> {
        self.spot
            .filter(|(t, _)| now_ms - t <= PRICE_STALE_MS)
            .map(|(_, p)| p)
    }

    pub fn fresh_perp(&self, now_ms: i64) -> Option<Decimal> {
        self.perp
            .filter(|(t, _)| now_ms - t <= PRICE_STALE_MS)
            .map(|(_, p)| p)
    }

    /// Spot and perp daily closes of the same day, both fresh: the only basis history shows
    /// without lookahead (`None` when either leg has no fresh close, or they are of different
    /// days).
    pub fn same_day_closes(&self, now_ms: i64) -> Option<(Decimal, Decimal)> {
        let spot = self.spot.filter(|(t, _)| now_ms - t <= PRICE_STALE_MS)?;
        let perp = self.perp.filter(|(t, _)| now_ms - t <= PRICE_STALE_MS)?;
        (spot.0 == perp.0 && spot.1 > Decimal::ZERO && perp.1 > Decimal::ZERO)
            .then_some((spot.1, perp.1))
    }

    /// |perp / spot - 1| of the same day's closes, when both exist.
    pub fn basis(&self, now_ms: i64) -> Option<Decimal> {
        let (spot, perp) = self.same_day_closes(now_ms)?;
        Some((perp / spot - Decimal::ONE).abs())
    }

    /// Settled rates in a row, most recent first, that paid against a hedge facing
    /// `direction` (positive carry is paid by negative rates, negative carry by positive
    /// ones): the settlement history `fff_core::HedgeContext` reads, from settlements already
    /// replayed only. Counts at most the kept history ([`HISTORY_LEN`]).
    pub fn settlements_against(&self, direction: fff_core::Direction) -> u32 {
        let against = |rate: &Decimal| match direction {
            fff_core::Direction::PositiveCarry => *rate < Decimal::ZERO,
            fff_core::Direction::NegativeCarry => *rate > Decimal::ZERO,
        };
        let n = self
            .recent
            .iter()
            .rev()
            .take_while(|(_, r)| against(r))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether a daily close of either leg is fresh (then marks come from closes only).
    pub fn has_fresh_closes(&self, now_ms: i64) -> bool {
        self.fresh_spot(now_ms).is_some() || self.fresh_perp(now_ms).is_some()
    }

    /// Execution prices (spot, perp): each leg's own fresh close, else the other leg's, else
    /// the last mark price, else `None` (the hedge is then tracked by notional only).
    pub fn exec_prices(&self, now_ms: i64) -> Option<(Decimal, Decimal)> {
        let spot = self.spot.filter(|(t, _)| now_ms - t <= PRICE_STALE_MS);
        let perp = self.perp.filter(|(t, _)| now_ms - t <= PRICE_STALE_MS);
        match (spot, perp) {
            // Closes of the same day only: a leg whose series ended must not be paired with
            // the other leg's newer close.
            (Some((ts, s)), Some((tp, p))) if ts == tp => Some((s, p)),
            (Some((ts, s)), Some((tp, p))) => Some(if ts > tp { (s, s) } else { (p, p) }),
            (Some((_, s)), None) => Some((s, s)),
            (None, Some((_, p))) => Some((p, p)),
            (None, None) => self
                .mark
                .filter(|(t, _)| now_ms - t <= PRICE_STALE_MS)
                .map(|(_, m)| (m, m)),
        }
    }

    /// The snapshot qualification and scoring read. Inputs history lacks are neutral: a
    /// zero-width book at the last price (spread check passes, equal spread score for all),
    /// zero open interest (its check is skipped by the caller), zero volume when unknown.
    /// Margin is enabled only for assets with a known borrow rate.
    pub fn snapshot(
        &self,
        now_ms: i64,
        signal_settlements: usize,
        assume_margin: bool,
    ) -> Option<MarketSnapshot> {
        let symbol = self.symbol.clone()?;
        let funding_rate = self.signal_rate(signal_settlements)?;
        let price = self
            .exec_prices(now_ms)
            .map_or(Decimal::ONE, |(_, perp)| perp);
        Some(MarketSnapshot {
            symbol,
            funding_rate,
            funding_interval: FundingInterval::from_hours(self.interval_hours)
                .unwrap_or(FundingInterval::EIGHT_HOURS),
            volume_24h_usd: self.volume_24h.unwrap_or(Decimal::ZERO),
            best_bid: price,
            best_ask: price,
            open_interest_usd: Decimal::ZERO,
            // Borrowable when the rate is known (data or config), unless told to assume it.
            margin_enabled: self.borrow_known || assume_margin,
            borrow_rate_hourly: self.borrow_hourly,
            funding_history: self.recent.iter().map(|(_, r)| *r).collect(),
        })
    }
}

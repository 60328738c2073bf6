//! A point-in-time view of one symbol, as the scanner sees it, and the metrics derived from it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::rates::{borrow_rate_for_period, normalize_funding_rate};
use crate::types::{Direction, FundingInterval, Symbol};

/// Everything qualification and scoring need about one symbol. Plain data: the scanner fills
/// it from exchange responses, the backtester from history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketSnapshot {
    /// The symbol (same name on spot and perp).
    pub symbol: Symbol,
    /// Current (predicted) funding rate, per `funding_interval`.
    pub funding_rate: Decimal,
    /// The perp's funding interval.
    pub funding_interval: FundingInterval,
    /// 24h quote volume in USD.
    pub volume_24h_usd: Decimal,
    /// Best bid of the book used for the spread check.
    pub best_bid: Decimal,
    /// Best ask of the book used for the spread check.
    pub best_ask: Decimal,
    /// Perp open interest in USD.
    pub open_interest_usd: Decimal,
    /// The spot pair is cross-margin tradable and its base asset borrowable.
    pub margin_enabled: bool,
    /// Hourly cross-margin interest rate of the base asset (the cost of shorting spot).
    pub borrow_rate_hourly: Decimal,
    /// Past settled funding rates, each per `funding_interval`, any order.
    pub funding_history: Vec<Decimal>,
}

impl MarketSnapshot {
    /// Funding per normalisation period (see [`crate::rates`]).
    pub fn funding_per_period(&self, period_hours: u32) -> Decimal {
        normalize_funding_rate(self.funding_rate, self.funding_interval, period_hours)
    }

    /// Borrow cost per normalisation period.
    pub fn borrow_per_period(&self, period_hours: u32) -> Decimal {
        borrow_rate_for_period(self.borrow_rate_hourly, period_hours)
    }

    /// The direction that collects the current funding, `None` at exactly zero.
    pub fn direction(&self) -> Option<Direction> {
        Direction::for_funding(self.funding_rate)
    }

    /// Expected carry per period of the hedge that collects funding: |funding| for positive
    /// carry, |funding| - borrow for negative carry (may be negative). Ignores trading fees.
    pub fn net_carry_per_period(&self, period_hours: u32) -> Decimal {
        let funding = self.funding_per_period(period_hours).abs();
        match self.direction() {
            Some(Direction::NegativeCarry) => {
                funding.saturating_sub(self.borrow_per_period(period_hours))
            }
            Some(Direction::PositiveCarry) | None => funding,
        }
    }

    /// Relative spread `(ask - bid) / mid`; `None` for an empty or crossed book.
    pub fn relative_spread(&self) -> Option<Decimal> {
        relative_spread(self.best_bid, self.best_ask)
    }

    /// Funding history normalised to the period.
    pub fn funding_history_per_period(&self, period_hours: u32) -> Vec<Decimal> {
        self.funding_history
            .iter()
            .map(|rate| normalize_funding_rate(*rate, self.funding_interval, period_hours))
            .collect()
    }
}

/// `(ask - bid) / mid`; `None` when a side is non-positive or the book is crossed.
pub fn relative_spread(best_bid: Decimal, best_ask: Decimal) -> Option<Decimal> {
    if best_bid <= Decimal::ZERO || best_ask < best_bid {
        return None;
    }
    let mid = best_bid.checked_add(best_ask)? / Decimal::TWO;
    (best_ask - best_bid).checked_div(mid)
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use rust_decimal_macros::dec;

    /// A BTC-like snapshot that passes every default filter.
    pub(crate) fn btc() -> MarketSnapshot {
        MarketSnapshot {
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            funding_rate: dec!(0.0003),
            funding_interval: FundingInterval::EIGHT_HOURS,
            volume_24h_usd: dec!(12_000_000_000),
            best_bid: dec!(99_999.9),
            best_ask: dec!(100_000.1),
            open_interest_usd: dec!(8_000_000_000),
            margin_enabled: true,
            borrow_rate_hourly: dec!(0.000004),
            funding_history: vec![dec!(0.0002), dec!(0.0003), dec!(0.0004), dec!(0.0003)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn spread_is_relative_to_mid() {
        assert_eq!(relative_spread(dec!(99), dec!(101)), Some(dec!(0.02)));
        assert_eq!(relative_spread(dec!(100), dec!(100)), Some(Decimal::ZERO));
        assert_eq!(relative_spread(dec!(101), dec!(99)), None);
        assert_eq!(relative_spread(Decimal::ZERO, dec!(1)), None);
    }

    #[test]
    fn net_carry_subtracts_borrow_only_when_short_spot() {
        let mut snapshot = fixtures::btc();
        assert_eq!(snapshot.net_carry_per_period(8), dec!(0.0003));
        snapshot.funding_rate = dec!(-0.0003);
        // borrow 0.000004/h = 0.000032 per 8 h
        assert_eq!(snapshot.net_carry_per_period(8), dec!(0.000268));
    }
}

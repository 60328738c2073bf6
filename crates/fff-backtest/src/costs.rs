//! The `[backtest]` section: trading costs, borrow defaults and replay settings.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

/// Which side of the book a fill takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liquidity {
    Maker,
    Taker,
}

/// Explicit cost model and replay settings (`[backtest]` in the fff TOML).
///
/// Defaults are Binance VIP0 without BNB discount: spot 0.1 % maker and taker, USDⓈ-M futures
/// 0.02 % maker / 0.05 % taker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostModel {
    /// Starting equity in USDT (100 000).
    pub initial_capital: Decimal,
    /// Spot maker fee (0.001).
    pub spot_maker_fee: Decimal,
    /// Spot taker fee (0.001).
    pub spot_taker_fee: Decimal,
    /// Futures maker fee (0.0002).
    pub futures_maker_fee: Decimal,
    /// Futures taker fee (0.0005).
    pub futures_taker_fee: Decimal,
    /// Share of traded notional filled as maker, 0..=1 (0: every fill pays taker).
    pub maker_fill_share: Decimal,
    /// Staged (non-urgent) exits: the share of the exited notional the maker-first slices
    /// fill as maker (0.3), paying the maker fee and no slippage; the rest falls back to
    /// market orders (taker fee + slippage). Urgent exits (basis break, drawdown limit, Red
    /// margin tier, delisting, liquidation) pay taker + slippage on all of it. Entries and
    /// growth keep `maker_fill_share`.
    pub maker_fill_probability: Decimal,
    /// Adverse price move per fill, as a fraction of notional, per leg (0.0002 = 2 bp).
    pub slippage: Decimal,
    /// Daily borrow rate per base asset, overriding `borrow/` data (`{ BTC = 0.00005 }`).
    pub borrow_daily_rate: BTreeMap<String, Decimal>,
    /// Daily borrow rate of assets found nowhere (0.000685 ≈ 25 %/yr, the 2023 median alt).
    pub default_borrow_daily_rate: Decimal,
    /// Daily USDT borrow rate when neither `borrow_daily_rate.USDT` nor `borrow/` data has one
    /// (0.000274 ≈ 10 %/yr, the order of the 2024-12/2025-01 data). Paid on the USDT a
    /// positive-carry spot buy borrows when `capital.spot_usdt_borrow` is on.
    pub default_usdt_borrow_daily_rate: Decimal,
    /// Factor on every margin borrow rate (base assets and USDT, from config, data or the
    /// defaults) (1): a stress test of the borrow history, which is only a few snapshots. The
    /// strategy decides on the scaled rates too, as it would had borrowing cost that much.
    pub borrow_rate_multiplier: Decimal,
    /// Futures maintenance margin per unit of perp notional (0.01): futures margin coverage is
    /// futures wallet balance / (rate × perp notional), and a perp is liquidated when its share
    /// of the futures wallet falls to it at the day's adverse extreme.
    pub maintenance_margin_rate: Decimal,
    /// Hours between strategy decisions (1); the live rebalancer runs more often, but funding
    /// data is at best hourly.
    pub decision_interval_hours: u32,
    /// Settlements averaged into the rate a decision sees (3). The live scanner reads the
    /// predicted rate; history only has settled ones, and a single settlement of a 1 h or 4 h
    /// alt is noisy enough to flip hedges back and forth (see docs/BACKTEST.md, sensitivity).
    pub signal_settlements: u32,
    /// Periods (of `pair_selection.rate_period_hours`) a carry advantage is assumed to last
    /// when the minimal-turnover rule weighs a switch against its cost (3: one day of 8 h).
    pub switch_horizon_periods: Decimal,
    /// A held hedge is resized to its new allocation only when the change exceeds this
    /// fraction of its notional (0.10), so equity drift does not trigger a trade every hour.
    pub resize_threshold: Decimal,
    /// Capital in use may exceed the capital budget (`equity × target_utilization`) by this
    /// fraction before held hedges are trimmed (0.01): fees and funding move equity between
    /// passes, so a zero band would trim right after every entry. A trim cuts the book back to
    /// `1 − resize_threshold / 2` of the budget, so price drift does not trim every day.
    pub budget_tolerance: Decimal,
    /// Treat base assets found neither in `borrow/` data nor in `borrow_daily_rate` as
    /// margin-enabled (at `default_borrow_daily_rate`). Off by default: the live filter
    /// requires cross margin, and an unlisted asset may not have been borrowable at all.
    pub assume_margin_for_unknown_assets: bool,
    /// Trade every symbol with funding as if a Binance spot market existed for it (false). By
    /// default a symbol is tradable only while spot klines or the data's `spot_markets.csv`
    /// show a spot market (the `--assume-spot-markets` flag sets this).
    pub assume_spot_markets: bool,
}

impl Default for CostModel {
    fn default() -> Self {
        Self {
            initial_capital: dec!(100_000),
            spot_maker_fee: dec!(0.001),
            spot_taker_fee: dec!(0.001),
            futures_maker_fee: dec!(0.0002),
            futures_taker_fee: dec!(0.0005),
            maker_fill_share: Decimal::ZERO,
            maker_fill_probability: dec!(0.3),
            slippage: dec!(0.0002),
            borrow_daily_rate: BTreeMap::new(),
            default_borrow_daily_rate: dec!(0.000685),
            default_usdt_borrow_daily_rate: dec!(0.000274),
            borrow_rate_multiplier: Decimal::ONE,
            maintenance_margin_rate: dec!(0.01),
            decision_interval_hours: 1,
            signal_settlements: 3,
            switch_horizon_periods: dec!(3),
            resize_threshold: dec!(0.10),
            budget_tolerance: dec!(0.01),
            assume_margin_for_unknown_assets: false,
            assume_spot_markets: false,
        }
    }
}

impl CostModel {
    /// No fees, no slippage, no borrow: for known-answer tests.
    pub fn free() -> Self {
        Self {
            default_borrow_daily_rate: Decimal::ZERO,
            default_usdt_borrow_daily_rate: Decimal::ZERO,
            ..Self::default().without_trading_costs()
        }
    }

    /// These costs without fees and slippage (borrow and everything else kept): the foresight
    /// bound's cost model.
    pub fn without_trading_costs(&self) -> Self {
        Self {
            spot_maker_fee: Decimal::ZERO,
            spot_taker_fee: Decimal::ZERO,
            futures_maker_fee: Decimal::ZERO,
            futures_taker_fee: Decimal::ZERO,
            slippage: Decimal::ZERO,
            ..self.clone()
        }
    }

    /// Blended fee rate of one spot fill.
    pub fn spot_fee(&self) -> Decimal {
        self.blend(self.spot_maker_fee, self.spot_taker_fee)
    }

    /// Blended fee rate of one futures fill.
    pub fn futures_fee(&self) -> Decimal {
        self.blend(self.futures_maker_fee, self.futures_taker_fee)
    }

    /// Cost of trading `notional` on both legs once (fees + slippage), as money.
    pub fn round_cost(&self, notional: Decimal) -> Decimal {
        notional * (self.spot_fee() + self.futures_fee() + self.slippage * Decimal::TWO)
    }

    /// (spot fee, futures fee, slippage) rates per unit of an exit's notional: all taker with
    /// slippage when `urgent`, else `maker_fill_probability` at the maker fee without slippage
    /// and the rest taker with slippage.
    pub fn exit_rates(&self, urgent: bool) -> (Decimal, Decimal, Decimal) {
        if urgent {
            return (self.spot_taker_fee, self.futures_taker_fee, self.slippage);
        }
        let p = self.maker_fill_probability;
        let q = Decimal::ONE - p;
        (
            self.spot_maker_fee * p + self.spot_taker_fee * q,
            self.futures_maker_fee * p + self.futures_taker_fee * q,
            self.slippage * q,
        )
    }

    fn blend(&self, maker: Decimal, taker: Decimal) -> Decimal {
        maker * self.maker_fill_share + taker * (Decimal::ONE - self.maker_fill_share)
    }

    /// Every violation, as `backtest.key: message`.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, key: &str, msg: &str| {
            if !ok {
                errors.push(format!("backtest.{key}: {msg}"));
            }
        };
        check(
            self.initial_capital > Decimal::ZERO && self.initial_capital <= dec!(1_000_000_000_000),
            "initial_capital",
            "must be in (0, 1e12]",
        );
        for (key, fee) in [
            ("spot_maker_fee", self.spot_maker_fee),
            ("spot_taker_fee", self.spot_taker_fee),
            ("futures_maker_fee", self.futures_maker_fee),
            ("futures_taker_fee", self.futures_taker_fee),
            ("slippage", self.slippage),
        ] {
            check(
                fee >= Decimal::ZERO && fee < dec!(0.1),
                key,
                "must be in [0, 0.1)",
            );
        }
        check(
            self.maker_fill_share >= Decimal::ZERO && self.maker_fill_share <= Decimal::ONE,
            "maker_fill_share",
            "must be in [0, 1]",
        );
        check(
            self.maker_fill_probability >= Decimal::ZERO
                && self.maker_fill_probability <= Decimal::ONE,
            "maker_fill_probability",
            "must be in [0, 1]",
        );
        check(
            [
                self.default_borrow_daily_rate,
                self.default_usdt_borrow_daily_rate,
            ]
            .iter()
            .chain(self.borrow_daily_rate.values())
            .all(|r| *r >= Decimal::ZERO && *r <= Decimal::ONE),
            "borrow_daily_rate",
            "daily borrow rates must be in [0, 1]",
        );
        check(
            self.borrow_rate_multiplier >= Decimal::ZERO
                && self.borrow_rate_multiplier <= dec!(100),
            "borrow_rate_multiplier",
            "must be in [0, 100]",
        );
        check(
            self.maintenance_margin_rate > Decimal::ZERO
                && self.maintenance_margin_rate < Decimal::ONE,
            "maintenance_margin_rate",
            "must be in (0, 1)",
        );
        check(
            self.decision_interval_hours > 0,
            "decision_interval_hours",
            "must be positive",
        );
        check(
            self.signal_settlements > 0,
            "signal_settlements",
            "must be positive",
        );
        check(
            self.resize_threshold >= Decimal::ZERO && self.resize_threshold < Decimal::ONE,
            "resize_threshold",
            "must be in [0, 1)",
        );
        check(
            self.budget_tolerance >= Decimal::ZERO && self.budget_tolerance <= dec!(0.1),
            "budget_tolerance",
            "must be in [0, 0.1]",
        );
        check(
            self.switch_horizon_periods >= Decimal::ZERO,
            "switch_horizon_periods",
            "must not be negative",
        );
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip0_round_trip_costs() {
        let costs = CostModel::default();
        // taker both legs: 0.1 % + 0.05 % + 2 x 2 bp slippage = 0.19 % per side
        assert_eq!(costs.round_cost(dec!(10_000)), dec!(19));
        assert!(costs.validate().is_empty());
        assert_eq!(CostModel::free().round_cost(dec!(10_000)), Decimal::ZERO);
    }

    #[test]
    fn maker_share_blends_fees() {
        let costs = CostModel {
            maker_fill_share: dec!(0.5),
            ..CostModel::default()
        };
        assert_eq!(costs.futures_fee(), dec!(0.00035));
    }
}

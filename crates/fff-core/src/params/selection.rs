//! `[pair_selection]` section.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{Checker, ParamError};

/// `[pair_selection]`: qualification filters and score weights.
///
/// All funding and borrow rates are compared after normalisation to `rate_period_hours`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairSelectionParams {
    /// Minimum 24h quote volume in USD (100 M).
    pub min_volume_24h_usd: Decimal,
    /// Minimum |funding| per normalised period (0.0001 = 0.01 %).
    pub min_abs_funding_rate: Decimal,
    /// Maximum relative spread `(ask - bid) / mid` (0.0002 = 0.02 %).
    pub max_spread: Decimal,
    /// Minimum open interest in USD (50 M).
    pub min_open_interest_usd: Decimal,
    /// Require the base asset to be borrowable on cross margin.
    pub require_margin: bool,
    /// For negative funding, |funding| must exceed borrow cost times this (1.5).
    pub borrow_safety_margin: Decimal,
    /// Normalisation period for all rates, in hours (8).
    pub rate_period_hours: u32,
    /// Score weight of the funding component (0.4).
    pub weight_funding: Decimal,
    /// Score weight of the volume component (0.3).
    pub weight_volume: Decimal,
    /// Score weight of the stability component (0.2).
    pub weight_stability: Decimal,
    /// Score weight of the spread component (0.1).
    pub weight_spread: Decimal,
    /// Net carry per period that earns a full funding score (0.001 = 0.1 %).
    pub funding_score_cap: Decimal,
    /// Volume scoring 0 at or below this (log scale) (100 M).
    pub volume_score_floor_usd: Decimal,
    /// Volume scoring 1 at or above this (log scale) (10 B).
    pub volume_score_ref_usd: Decimal,
    /// Funding standard deviation (per period) that still earns a full stability score (0.00005).
    pub stability_ref_stddev: Decimal,
    /// Funding-history samples needed before stability counts; fewer score 0 (3).
    pub stability_min_samples: u32,
    /// Spread that still earns a full spread score (0.00002 = 0.002 %).
    pub spread_score_ref: Decimal,
    /// Maximum number of pairs held at once (10).
    pub max_pairs: u32,
    /// Holding horizon over which a pair's expected carry must repay its round trip, in hours
    /// (168 = one week, chosen by the backtester's walk-forward): the horizon of a pair whose
    /// history says nothing longer. See `admission`.
    pub holding_horizon_hours: u32,
    /// Longest horizon a persistent pair may count on, in hours (168: off). Above
    /// `holding_horizon_hours`, a pair whose settled funding keeps paying the same way counts on
    /// being held until a reversal persists, which its history makes rare (e.g. 2160 = 90
    /// days). Off by default: the walk-forward did not choose it on the shared history.
    pub max_holding_horizon_hours: u32,
    /// Settlements in a row against a hedge that end a hold in the persistence estimate (2,
    /// the rebalancer's `reversal_settlements` default).
    pub hold_ends_after_settlements: u32,
    /// Spot/cross-margin taker fee, fraction of notional (0.001: Binance VIP 0).
    pub spot_fee_rate: Decimal,
    /// USDⓈ-M taker fee, fraction of notional (0.0005: Binance VIP 0).
    pub perp_fee_rate: Decimal,
    /// Expected slippage beyond half the spread, per leg and trade (0.0002).
    pub slippage_rate: Decimal,
    /// Expected carry over the horizon must exceed the round trip by this fraction of notional
    /// (0.002: the backtester's walk-forward chose it over 0.0005 in 17 of 25 windows).
    pub admission_margin: Decimal,
    /// Weight of the predicted rate against the settled history's mean in the expected carry
    /// (0.5).
    pub predicted_weight: Decimal,
}

impl Default for PairSelectionParams {
    fn default() -> Self {
        Self {
            min_volume_24h_usd: dec!(100_000_000),
            min_abs_funding_rate: dec!(0.0001),
            max_spread: dec!(0.0002),
            min_open_interest_usd: dec!(50_000_000),
            require_margin: true,
            borrow_safety_margin: dec!(1.5),
            rate_period_hours: 8,
            weight_funding: dec!(0.4),
            weight_volume: dec!(0.3),
            weight_stability: dec!(0.2),
            weight_spread: dec!(0.1),
            funding_score_cap: dec!(0.001),
            volume_score_floor_usd: dec!(100_000_000),
            volume_score_ref_usd: dec!(10_000_000_000),
            stability_ref_stddev: dec!(0.00005),
            stability_min_samples: 3,
            spread_score_ref: dec!(0.00002),
            max_pairs: 10,
            holding_horizon_hours: 168,
            max_holding_horizon_hours: 168,
            hold_ends_after_settlements: 2,
            spot_fee_rate: dec!(0.001),
            perp_fee_rate: dec!(0.0005),
            slippage_rate: dec!(0.0002),
            admission_margin: dec!(0.002),
            predicted_weight: dec!(0.5),
        }
    }
}

impl PairSelectionParams {
    /// Every violation in this section.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut c = Checker::new("pair_selection");
        c.non_negative("min_volume_24h_usd", self.min_volume_24h_usd);
        c.non_negative("min_abs_funding_rate", self.min_abs_funding_rate);
        c.positive("max_spread", self.max_spread);
        c.non_negative("min_open_interest_usd", self.min_open_interest_usd);
        c.check(
            self.borrow_safety_margin >= Decimal::ONE,
            "borrow_safety_margin",
            format!("must be at least 1, got {}", self.borrow_safety_margin),
        );
        c.check(
            self.rate_period_hours > 0,
            "rate_period_hours",
            "must be positive",
        );
        for (field, weight) in [
            ("weight_funding", self.weight_funding),
            ("weight_volume", self.weight_volume),
            ("weight_stability", self.weight_stability),
            ("weight_spread", self.weight_spread),
        ] {
            c.non_negative(field, weight);
        }
        let weight_sum = self
            .weight_funding
            .saturating_add(self.weight_volume)
            .saturating_add(self.weight_stability)
            .saturating_add(self.weight_spread);
        c.check(
            weight_sum > Decimal::ZERO,
            "weight_funding",
            "score weights must not all be zero",
        );
        c.positive("funding_score_cap", self.funding_score_cap);
        c.positive("volume_score_floor_usd", self.volume_score_floor_usd);
        c.check(
            self.volume_score_ref_usd > self.volume_score_floor_usd,
            "volume_score_ref_usd",
            format!(
                "must be greater than volume_score_floor_usd ({}), got {}",
                self.volume_score_floor_usd, self.volume_score_ref_usd
            ),
        );
        c.positive("stability_ref_stddev", self.stability_ref_stddev);
        c.check(
            self.stability_min_samples >= 2,
            "stability_min_samples",
            "must be at least 2 (a standard deviation needs two samples)",
        );
        c.positive("spread_score_ref", self.spread_score_ref);
        c.check(self.max_pairs > 0, "max_pairs", "must be positive");
        c.check(
            self.holding_horizon_hours > 0,
            "holding_horizon_hours",
            "must be positive",
        );
        c.check(
            self.max_holding_horizon_hours >= self.holding_horizon_hours,
            "max_holding_horizon_hours",
            format!(
                "must be at least holding_horizon_hours ({}), got {}",
                self.holding_horizon_hours, self.max_holding_horizon_hours
            ),
        );
        c.check(
            (1..=10).contains(&self.hold_ends_after_settlements),
            "hold_ends_after_settlements",
            format!(
                "must be in [1, 10], got {}",
                self.hold_ends_after_settlements
            ),
        );
        for (key, value) in [
            ("spot_fee_rate", self.spot_fee_rate),
            ("perp_fee_rate", self.perp_fee_rate),
            ("slippage_rate", self.slippage_rate),
        ] {
            c.in_closed_open(key, value, Decimal::ZERO, dec!(0.1));
        }
        c.non_negative("admission_margin", self.admission_margin);
        c.check(
            self.predicted_weight >= Decimal::ZERO && self.predicted_weight <= Decimal::ONE,
            "predicted_weight",
            format!("must be in [0, 1], got {}", self.predicted_weight),
        );
        c.errors
    }
}

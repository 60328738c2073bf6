//! `[capital]` section.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{Checker, ParamError};

/// `[capital]`: how much of the account is deployed and how it is split.
///
/// Sizing model (see `capital` and `allocate`): a hedge of per-leg notional `N` ties up capital
/// on both sides of the account: the spot leg's cash (positive carry) or the collateral kept
/// against a borrowed short (negative carry), plus the perp margin `N * (1 + buffer) / leverage`.
/// Leverage applies to the perp only. The deployable capital is `equity * target_utilization`;
/// `equity * reserve_ratio` is never deployed (validation requires
/// `target_utilization + reserve_ratio <= 1`). The design formula
/// `equity * 0.85 * 5 / 1.15` remains the cap on perp notional; the capital of both legs binds
/// first (about `0.69 * equity` of positive-carry notional at the defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CapitalParams {
    /// Fraction of equity deployed as margin capital (0.85).
    pub target_utilization: Decimal,
    /// Target leverage used for sizing (5).
    pub leverage: Decimal,
    /// Lowest acceptable leverage (3).
    pub min_leverage: Decimal,
    /// Hard leverage cap (10); sizing never exceeds it.
    pub max_leverage: Decimal,
    /// Safety buffer on margin: margin per unit notional is `(1 + buffer) / leverage` (0.15).
    pub buffer: Decimal,
    /// Fraction of equity never deployed (0.10).
    pub reserve_ratio: Decimal,
    /// Maximum margin capital per pair as a fraction of equity (0.30).
    pub max_pair_fraction: Decimal,
    /// Minimum per-leg notional of a position in USDT (1000).
    pub min_position_usdt: Decimal,
    /// Utilization below which the allocation is flagged as under-deployed (0.80).
    pub min_utilization: Decimal,
    /// Allow spot buys to borrow USDT on cross margin (false). When on, a positive-carry spot
    /// leg needs only the cash that keeps the margin level at the model's target, and USDT
    /// interest is a cost of the hedge.
    pub spot_usdt_borrow: bool,
    /// Futures margin coverage (balance / maintenance) below which USDT is moved into the
    /// futures wallet from the spot/margin side (8.0; the risk tiers start at 5.0).
    pub transfer_below_coverage: Decimal,
    /// Cross-margin level below which USDT is moved into cross margin from the futures wallet
    /// (2.1; the risk tiers start at 2.0).
    pub transfer_below_margin_level: Decimal,
    /// Smallest transfer worth sending, USDT (10).
    pub min_transfer_usdt: Decimal,
    /// Position limit: total hedged per-leg notional across all pairs, USDT; 0 = none (0).
    pub max_total_notional_usdt: Decimal,
    /// Position limit: per-leg notional of one symbol, USDT; 0 = none (0).
    pub max_symbol_notional_usdt: Decimal,
}

impl Default for CapitalParams {
    fn default() -> Self {
        Self {
            target_utilization: dec!(0.85),
            leverage: dec!(5),
            min_leverage: dec!(3),
            max_leverage: dec!(10),
            buffer: dec!(0.15),
            reserve_ratio: dec!(0.10),
            max_pair_fraction: dec!(0.30),
            min_position_usdt: dec!(1000),
            min_utilization: dec!(0.80),
            spot_usdt_borrow: false,
            transfer_below_coverage: dec!(8),
            transfer_below_margin_level: dec!(2.1),
            min_transfer_usdt: dec!(10),
            max_total_notional_usdt: Decimal::ZERO,
            max_symbol_notional_usdt: Decimal::ZERO,
        }
    }
}

/// Binance's highest USDⓈ-M leverage; anything above is a typo.
const ABSOLUTE_MAX_LEVERAGE: Decimal = dec!(125);
/// A margin buffer above 1000 % is a typo, and bounding it keeps sizing arithmetic in range.
const MAX_BUFFER: Decimal = dec!(10);

impl CapitalParams {
    /// Every violation in this section.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut c = Checker::new("capital");
        c.in_open_closed(
            "target_utilization",
            self.target_utilization,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.in_closed_open(
            "reserve_ratio",
            self.reserve_ratio,
            Decimal::ZERO,
            Decimal::ONE,
        );
        let committed = self.target_utilization.saturating_add(self.reserve_ratio);
        c.check(
            committed <= Decimal::ONE,
            "reserve_ratio",
            format!("target_utilization + reserve_ratio must not exceed 1, got {committed}"),
        );
        c.check(
            self.min_leverage >= Decimal::ONE,
            "min_leverage",
            format!("must be at least 1, got {}", self.min_leverage),
        );
        c.check(
            self.max_leverage <= ABSOLUTE_MAX_LEVERAGE,
            "max_leverage",
            format!(
                "must not exceed {ABSOLUTE_MAX_LEVERAGE}, got {}",
                self.max_leverage
            ),
        );
        c.check(
            self.min_leverage <= self.max_leverage,
            "max_leverage",
            format!(
                "must be at least min_leverage ({}), got {}",
                self.min_leverage, self.max_leverage
            ),
        );
        c.check(
            self.leverage >= self.min_leverage && self.leverage <= self.max_leverage,
            "leverage",
            format!(
                "must be within [min_leverage, max_leverage] = [{}, {}], got {}",
                self.min_leverage, self.max_leverage, self.leverage
            ),
        );
        c.check(
            self.buffer >= Decimal::ZERO && self.buffer <= MAX_BUFFER,
            "buffer",
            format!("must be in [0, {MAX_BUFFER}], got {}", self.buffer),
        );
        c.in_open_closed(
            "max_pair_fraction",
            self.max_pair_fraction,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.non_negative("min_position_usdt", self.min_position_usdt);
        c.check(
            self.min_utilization >= Decimal::ZERO
                && self.min_utilization <= self.target_utilization,
            "min_utilization",
            format!(
                "must be in [0, target_utilization = {}], got {}",
                self.target_utilization, self.min_utilization
            ),
        );
        c.check(
            self.transfer_below_coverage >= Decimal::ONE,
            "transfer_below_coverage",
            format!("must be at least 1, got {}", self.transfer_below_coverage),
        );
        c.check(
            self.transfer_below_margin_level >= Decimal::ONE,
            "transfer_below_margin_level",
            format!(
                "must be at least 1, got {}",
                self.transfer_below_margin_level
            ),
        );
        c.non_negative("min_transfer_usdt", self.min_transfer_usdt);
        c.non_negative("max_total_notional_usdt", self.max_total_notional_usdt);
        c.non_negative("max_symbol_notional_usdt", self.max_symbol_notional_usdt);
        c.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_violations_are_reported_with_key_paths() {
        let params = CapitalParams {
            target_utilization: dec!(0.95),
            reserve_ratio: dec!(0.10),
            leverage: dec!(12),
            ..CapitalParams::default()
        };
        let keys: Vec<String> = params.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, vec!["capital.reserve_ratio", "capital.leverage"]);
    }
}

//! `[rebalance]` section.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{Checker, ParamError};

/// `[rebalance]`: periodic hedge maintenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebalanceParams {
    /// Seconds between rebalance passes (300).
    pub interval_secs: u64,
    /// Delta drift above which the smaller leg is topped up (0.03).
    pub drift_threshold: Decimal,
    /// Delta drift above which the rebalance is an emergency (0.10).
    pub emergency_drift_threshold: Decimal,
    /// Adjustments below this notional (USDT) are skipped (100).
    pub min_trade_usdt: Decimal,
    /// On a funding sign reversal, flip the hedge (else close it).
    pub auto_flip_on_reversal: bool,
    /// Close a negative-carry hedge when |funding| no longer covers the borrow cost.
    pub close_when_funding_below_borrow: bool,
    /// |funding| (normalised) a reversed rate must reach to count as a reversal; 0 = any sign
    /// change counts (0). Guards against flipping on noise around zero.
    pub reversal_min_abs_rate: Decimal,
    /// Settlements in a row that must pay against a hedge before a reversal counts (2); a
    /// shorter dip is held through.
    pub reversal_settlements: u32,
    /// A predicted rate (normalised, against the hedge) at least this large counts as a
    /// reversal without waiting for settlements (0.0005 = 0.05 % per period).
    pub reversal_predicted_threshold: Decimal,
    /// Spot vs perp price divergence, `|perp / spot - 1|`, beyond which a hedge is closed at
    /// once (0.005 = 0.5 %).
    pub basis_exit_threshold: Decimal,
}

impl Default for RebalanceParams {
    fn default() -> Self {
        Self {
            interval_secs: 300,
            drift_threshold: dec!(0.03),
            emergency_drift_threshold: dec!(0.10),
            min_trade_usdt: dec!(100),
            auto_flip_on_reversal: true,
            close_when_funding_below_borrow: true,
            reversal_min_abs_rate: Decimal::ZERO,
            reversal_settlements: 2,
            reversal_predicted_threshold: dec!(0.0005),
            basis_exit_threshold: dec!(0.005),
        }
    }
}

impl RebalanceParams {
    /// Every violation in this section.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut c = Checker::new("rebalance");
        c.check(self.interval_secs > 0, "interval_secs", "must be positive");
        c.in_open_closed(
            "drift_threshold",
            self.drift_threshold,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.check(
            self.emergency_drift_threshold > self.drift_threshold,
            "emergency_drift_threshold",
            format!(
                "must be greater than drift_threshold ({}), got {}",
                self.drift_threshold, self.emergency_drift_threshold
            ),
        );
        c.non_negative("min_trade_usdt", self.min_trade_usdt);
        c.non_negative("reversal_min_abs_rate", self.reversal_min_abs_rate);
        c.non_negative(
            "reversal_predicted_threshold",
            self.reversal_predicted_threshold,
        );
        c.in_open_closed(
            "basis_exit_threshold",
            self.basis_exit_threshold,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.errors
    }
}

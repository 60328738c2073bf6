//! `[risk]` section.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{Checker, ParamError};
use crate::drawdown::DrawdownLimitAction;

/// `[risk]`: margin-ratio tiers and the drawdown limit.
///
/// **Margin ratio here = margin balance / maintenance margin** (higher is safer; 5.0 = 500 %).
/// Binance's own `marginRatio` is the inverse (maintenance / balance, lower is safer); convert
/// at the edge with `1 / binance_margin_ratio`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskParams {
    /// Ratio above which the account is Green (5.0 = 500 %).
    pub green_above: Decimal,
    /// Ratio above which (up to `green_above`) the account is Yellow: reduce by `reduce_fraction`.
    pub reduce_above: Decimal,
    /// Ratio above which (up to `reduce_above`) the account is Orange: emergency deleverage.
    /// Below it the account is Red: close everything.
    pub deleverage_above: Decimal,
    /// Fraction of exposure cut in the Yellow tier (0.25).
    pub reduce_fraction: Decimal,
    /// Fraction of exposure cut by an Orange-tier emergency deleverage (0.50).
    pub deleverage_fraction: Decimal,
    /// Ratio points the ratio must climb past a boundary before the tier improves (0.25).
    pub tier_hysteresis: Decimal,
    /// Hard monthly drawdown limit as a fraction of peak equity (0.05).
    pub max_monthly_drawdown: Decimal,
    /// Drawdown at which new entries halt, before the hard limit (0.04).
    pub drawdown_halt_threshold: Decimal,
    /// Drawdown below which new entries resume after a halt (0.03).
    pub drawdown_resume_threshold: Decimal,
    /// Length of the rolling drawdown window in days (30).
    pub drawdown_window_days: u32,
    /// What reaching `max_monthly_drawdown` does besides halting entries, once per breach (a
    /// breach ends when the drawdown falls below `drawdown_resume_threshold`): `"close_all"`
    /// (default: at the hard limit something is broken, so cap the loss there; see
    /// [`DrawdownLimitAction`]), `"reduce"` (cut every hedge by `drawdown_reduce_fraction`) or
    /// `"halt_only"`.
    pub drawdown_limit_action: DrawdownLimitAction,
    /// Fraction of every hedge cut when `drawdown_limit_action = "reduce"`, in (0, 1] (0.50).
    pub drawdown_reduce_fraction: Decimal,
    /// Cross-margin level (total asset / total liability, liquidation at 1.1) above which cross
    /// margin is Green (2.0).
    pub margin_level_green_above: Decimal,
    /// Cross-margin level above which (up to `margin_level_green_above`) cross margin is Yellow
    /// (1.5, where Binance stops lending on Cross Margin Classic 3x).
    pub margin_level_reduce_above: Decimal,
    /// Cross-margin level above which (up to `margin_level_reduce_above`) cross margin is Orange;
    /// at or below it Red (1.3, Binance's margin call).
    pub margin_level_deleverage_above: Decimal,
    /// Level points the cross-margin level must climb past a boundary before its tier improves
    /// (0.05).
    pub margin_level_hysteresis: Decimal,
    /// Seconds entries stay halted after a Red-tier CLOSE_ALL even once the margin recovers
    /// (3600; 0 resumes as soon as the tier leaves Orange). Closing everything lifts the ratio at
    /// once, so without it the account re-entered the market that had just pushed it to Red.
    pub close_all_cooldown_secs: u64,
}

impl Default for RiskParams {
    fn default() -> Self {
        Self {
            green_above: dec!(5.0),
            reduce_above: dec!(3.0),
            deleverage_above: dec!(2.0),
            reduce_fraction: dec!(0.25),
            deleverage_fraction: dec!(0.50),
            tier_hysteresis: dec!(0.25),
            max_monthly_drawdown: dec!(0.05),
            drawdown_halt_threshold: dec!(0.04),
            drawdown_resume_threshold: dec!(0.03),
            drawdown_window_days: 30,
            drawdown_limit_action: DrawdownLimitAction::CloseAll,
            drawdown_reduce_fraction: dec!(0.50),
            margin_level_green_above: dec!(2.0),
            margin_level_reduce_above: dec!(1.5),
            margin_level_deleverage_above: dec!(1.3),
            margin_level_hysteresis: dec!(0.05),
            close_all_cooldown_secs: 3600,
        }
    }
}

impl RiskParams {
    /// These parameters with the cross-margin level thresholds in place of the futures ones, so
    /// [`crate::tier_for`] and [`crate::TierTracker`] apply unchanged to the cross-margin level.
    pub fn for_cross_margin(&self) -> Self {
        Self {
            green_above: self.margin_level_green_above,
            reduce_above: self.margin_level_reduce_above,
            deleverage_above: self.margin_level_deleverage_above,
            tier_hysteresis: self.margin_level_hysteresis,
            ..self.clone()
        }
    }

    /// Every violation in this section.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut c = Checker::new("risk");
        c.check(
            self.deleverage_above >= Decimal::ONE,
            "deleverage_above",
            format!(
                "must be at least 1 (below 1 the account is liquidated), got {}",
                self.deleverage_above
            ),
        );
        c.check(
            self.reduce_above > self.deleverage_above,
            "reduce_above",
            format!(
                "must be greater than deleverage_above ({}), got {}",
                self.deleverage_above, self.reduce_above
            ),
        );
        c.check(
            self.green_above > self.reduce_above,
            "green_above",
            format!(
                "must be greater than reduce_above ({}), got {}",
                self.reduce_above, self.green_above
            ),
        );
        c.in_open_closed(
            "reduce_fraction",
            self.reduce_fraction,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.check(
            self.deleverage_fraction >= self.reduce_fraction
                && self.deleverage_fraction <= Decimal::ONE,
            "deleverage_fraction",
            format!(
                "must be in [reduce_fraction = {}, 1], got {}",
                self.reduce_fraction, self.deleverage_fraction
            ),
        );
        c.non_negative("tier_hysteresis", self.tier_hysteresis);
        c.in_open_closed(
            "max_monthly_drawdown",
            self.max_monthly_drawdown,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.check(
            self.drawdown_halt_threshold > Decimal::ZERO
                && self.drawdown_halt_threshold <= self.max_monthly_drawdown,
            "drawdown_halt_threshold",
            format!(
                "must be in (0, max_monthly_drawdown = {}], got {}",
                self.max_monthly_drawdown, self.drawdown_halt_threshold
            ),
        );
        c.check(
            self.drawdown_resume_threshold >= Decimal::ZERO
                && self.drawdown_resume_threshold < self.drawdown_halt_threshold,
            "drawdown_resume_threshold",
            format!(
                "must be in [0, drawdown_halt_threshold = {}), got {}",
                self.drawdown_halt_threshold, self.drawdown_resume_threshold
            ),
        );
        c.check(
            self.drawdown_window_days > 0,
            "drawdown_window_days",
            "must be positive",
        );
        c.in_open_closed(
            "drawdown_reduce_fraction",
            self.drawdown_reduce_fraction,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.check(
            self.margin_level_deleverage_above > dec!(1.1),
            "margin_level_deleverage_above",
            format!(
                "must be above 1.1 (cross margin is liquidated at 1.1), got {}",
                self.margin_level_deleverage_above
            ),
        );
        c.check(
            self.margin_level_reduce_above > self.margin_level_deleverage_above,
            "margin_level_reduce_above",
            format!(
                "must be greater than margin_level_deleverage_above ({}), got {}",
                self.margin_level_deleverage_above, self.margin_level_reduce_above
            ),
        );
        c.check(
            self.margin_level_green_above > self.margin_level_reduce_above,
            "margin_level_green_above",
            format!(
                "must be greater than margin_level_reduce_above ({}), got {}",
                self.margin_level_reduce_above, self.margin_level_green_above
            ),
        );
        c.non_negative("margin_level_hysteresis", self.margin_level_hysteresis);
        c.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_order_is_enforced() {
        let params = RiskParams {
            green_above: dec!(2.5),
            ..RiskParams::default()
        };
        let errors = params.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "risk.green_above");
    }

    #[test]
    fn cross_margin_thresholds_feed_the_tier_functions() {
        let params = RiskParams::default();
        let cross = params.for_cross_margin();
        assert_eq!(cross.validate(), vec![]);
        assert_eq!(crate::tier_for(dec!(2.1), &cross), crate::MarginTier::Green);
        assert_eq!(
            crate::tier_for(dec!(1.6), &cross),
            crate::MarginTier::Yellow
        );
        assert_eq!(
            crate::tier_for(dec!(1.4), &cross),
            crate::MarginTier::Orange
        );
        assert_eq!(crate::tier_for(dec!(1.3), &cross), crate::MarginTier::Red);
        let inverted = RiskParams {
            margin_level_reduce_above: dec!(2.5),
            ..params
        };
        let keys: Vec<String> = inverted.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, vec!["risk.margin_level_green_above"]);
    }

    #[test]
    fn drawdown_reduce_fraction_is_a_fraction() {
        for bad in [dec!(0), dec!(1.01), dec!(-0.5)] {
            let params = RiskParams {
                drawdown_reduce_fraction: bad,
                ..RiskParams::default()
            };
            let keys: Vec<String> = params.validate().into_iter().map(|e| e.key).collect();
            assert_eq!(keys, vec!["risk.drawdown_reduce_fraction"]);
        }
        let parsed: RiskParams =
            toml::from_str("drawdown_limit_action = \"reduce\"\ndrawdown_reduce_fraction = 0.3")
                .unwrap();
        assert_eq!(parsed.drawdown_limit_action, DrawdownLimitAction::Reduce);
        assert_eq!(parsed.drawdown_reduce_fraction, dec!(0.3));
        assert_eq!(parsed.validate(), vec![]);
    }

    #[test]
    fn drawdown_thresholds_must_nest() {
        let params = RiskParams {
            drawdown_halt_threshold: dec!(0.06),
            drawdown_resume_threshold: dec!(0.07),
            ..RiskParams::default()
        };
        let keys: Vec<String> = params.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec![
                "risk.drawdown_halt_threshold",
                "risk.drawdown_resume_threshold"
            ]
        );
    }
}

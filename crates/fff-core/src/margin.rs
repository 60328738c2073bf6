//! Margin-ratio tiers and the directive each one calls for.
//!
//! Margin ratio here = **margin balance / maintenance margin** (higher is safer; 5.0 = 500 %).
//! Binance reports the inverse (`accountMaintMargin / accountMarginBalance`-style "marginRatio",
//! lower is safer); convert at the edge.
//!
//! | tier   | ratio                         | directive                        |
//! |--------|-------------------------------|----------------------------------|
//! | Green  | > `green_above` (5.0)         | normal operation                 |
//! | Yellow | (`reduce_above`, 5.0] (3-5)   | reduce exposure `reduce_fraction`|
//! | Orange | (`deleverage_above`, 3.0]     | emergency deleverage             |
//! | Red    | <= `deleverage_above` (2.0)   | close everything                 |

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::params::RiskParams;

/// Risk tier, ordered from safest to most severe (`Green < Red`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MarginTier {
    /// Healthy.
    Green,
    /// Reduce exposure.
    Yellow,
    /// Emergency deleverage.
    Orange,
    /// Close everything.
    Red,
}

/// What the risk service must do for a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MarginDirective {
    /// Normal operation (entries allowed as far as margin is concerned).
    Normal,
    /// Cut every hedge by `fraction` of its size, both legs equally.
    Reduce {
        /// Fraction of exposure to cut.
        fraction: Decimal,
    },
    /// Emergency deleverage: cut every hedge by `fraction`, no new entries.
    Deleverage {
        /// Fraction of exposure to cut.
        fraction: Decimal,
    },
    /// Close every hedge.
    CloseAll,
}

/// Margin ratio in this crate's convention, `margin_balance / maintenance_margin`.
///
/// `None` when there is no maintenance requirement (no open positions): nothing to protect,
/// treat as Green.
pub fn margin_ratio(margin_balance: Decimal, maintenance_margin: Decimal) -> Option<Decimal> {
    if maintenance_margin <= Decimal::ZERO {
        return None;
    }
    margin_balance.checked_div(maintenance_margin)
}

/// Convert Binance's USDⓈ-M "margin ratio" (`totalMaintMargin / totalMarginBalance`, liquidation
/// at 1.0) into this crate's convention. `None` for a non-positive input (no positions, or a
/// balance already at or below zero, which callers must treat as Red via [`margin_ratio`]).
pub fn margin_ratio_from_binance(binance_margin_ratio: Decimal) -> Option<Decimal> {
    if binance_margin_ratio <= Decimal::ZERO {
        return None;
    }
    Decimal::ONE.checked_div(binance_margin_ratio)
}

/// The tier for `ratio`; boundaries belong to the more severe tier. Monotone: a higher ratio
/// never gives a more severe tier.
pub fn tier_for(ratio: Decimal, params: &RiskParams) -> MarginTier {
    if ratio > params.green_above {
        MarginTier::Green
    } else if ratio > params.reduce_above {
        MarginTier::Yellow
    } else if ratio > params.deleverage_above {
        MarginTier::Orange
    } else {
        MarginTier::Red
    }
}

/// The directive for `tier`.
pub fn directive_for(tier: MarginTier, params: &RiskParams) -> MarginDirective {
    match tier {
        MarginTier::Green => MarginDirective::Normal,
        MarginTier::Yellow => MarginDirective::Reduce {
            fraction: params.reduce_fraction,
        },
        MarginTier::Orange => MarginDirective::Deleverage {
            fraction: params.deleverage_fraction,
        },
        MarginTier::Red => MarginDirective::CloseAll,
    }
}

/// A tier change and the directive to issue for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TierTransition {
    /// Tier before (`None` on the first observation).
    pub from: Option<MarginTier>,
    /// Tier now.
    pub to: MarginTier,
    /// Directive for the new tier.
    pub directive: MarginDirective,
}

/// Tier with hysteresis: worsening applies at once; improving needs the ratio to clear the
/// boundary by `tier_hysteresis` (the tier of `ratio - hysteresis` must be better), so a ratio
/// hovering around 3.0 does not alternate between reducing and resuming.
#[derive(Debug, Clone, Default)]
pub struct TierTracker {
    current: Option<MarginTier>,
}

impl TierTracker {
    /// A tracker with no observation yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current tier, if any ratio was observed.
    pub fn current(&self) -> Option<MarginTier> {
        self.current
    }

    /// Feed a ratio; returns the transition when the tier changes (including the first).
    ///
    /// Directives are issued on entering a tier, not repeated while it persists; the caller
    /// re-issues on its own schedule if a cut did not restore the ratio.
    pub fn observe(&mut self, ratio: Decimal, params: &RiskParams) -> Option<TierTransition> {
        let raw = tier_for(ratio, params);
        let next = match self.current {
            None => raw,
            Some(current) if raw >= current => raw,
            Some(current) => {
                let damped = tier_for(ratio.saturating_sub(params.tier_hysteresis), params);
                damped.min(current)
            }
        };
        if self.current == Some(next) {
            return None;
        }
        let from = self.current.replace(next);
        Some(TierTransition {
            from,
            to: next,
            directive: directive_for(next, params),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn ratio_conventions() {
        // 1000 USDT balance, 200 USDT maintenance: 500 %, Binance shows 20 %
        assert_eq!(margin_ratio(dec!(1000), dec!(200)), Some(dec!(5)));
        assert_eq!(margin_ratio_from_binance(dec!(0.2)), Some(dec!(5)));
        assert_eq!(margin_ratio(dec!(1000), Decimal::ZERO), None);
        // negative balance with open positions is below every threshold
        let p = RiskParams::default();
        assert_eq!(
            tier_for(margin_ratio(dec!(-10), dec!(200)).unwrap(), &p),
            MarginTier::Red
        );
    }

    #[test]
    fn design_tiers() {
        let p = RiskParams::default();
        assert_eq!(tier_for(dec!(6), &p), MarginTier::Green);
        assert_eq!(tier_for(dec!(5), &p), MarginTier::Yellow);
        assert_eq!(tier_for(dec!(4), &p), MarginTier::Yellow);
        assert_eq!(tier_for(dec!(3), &p), MarginTier::Orange);
        assert_eq!(tier_for(dec!(2.5), &p), MarginTier::Orange);
        assert_eq!(tier_for(dec!(2), &p), MarginTier::Red);
        assert_eq!(tier_for(dec!(-1), &p), MarginTier::Red);
        assert_eq!(
            directive_for(MarginTier::Yellow, &p),
            MarginDirective::Reduce {
                fraction: dec!(0.25)
            }
        );
    }

    #[test]
    fn hysteresis_delays_improvement_only() {
        let p = RiskParams::default();
        let mut tracker = TierTracker::new();
        let first = tracker.observe(dec!(6), &p).unwrap();
        assert_eq!((first.from, first.to), (None, MarginTier::Green));
        // worsening is immediate
        let t = tracker.observe(dec!(4.9), &p).unwrap();
        assert_eq!(
            t.directive,
            MarginDirective::Reduce {
                fraction: dec!(0.25)
            }
        );
        // back above 5.0 but not above 5.25: stays Yellow, no new directive
        assert_eq!(tracker.observe(dec!(5.1), &p), None);
        assert_eq!(tracker.current(), Some(MarginTier::Yellow));
        let t = tracker.observe(dec!(5.3), &p).unwrap();
        assert_eq!(
            (t.to, t.directive),
            (MarginTier::Green, MarginDirective::Normal)
        );
        // a crash straight to Red skips the middle tiers
        let t = tracker.observe(dec!(1.5), &p).unwrap();
        assert_eq!(t.directive, MarginDirective::CloseAll);
        // recovering to 3.1 only reaches Orange (3.1 - 0.25 = 2.85)
        let t = tracker.observe(dec!(3.1), &p).unwrap();
        assert_eq!(t.to, MarginTier::Orange);
    }

    proptest! {
        #[test]
        fn tiers_are_monotone(a in -1_000i64..100_000, b in -1_000i64..100_000) {
            let p = RiskParams::default();
            let (low, high) = (Decimal::new(a.min(b), 3), Decimal::new(a.max(b), 3));
            prop_assert!(tier_for(low, &p) >= tier_for(high, &p));
        }

        #[test]
        fn tracker_never_lags_on_worsening(ratios in proptest::collection::vec(0i64..10_000, 1..40)) {
            let p = RiskParams::default();
            let mut tracker = TierTracker::new();
            for r in ratios {
                let ratio = Decimal::new(r, 3);
                tracker.observe(ratio, &p);
                let current = tracker.current().unwrap();
                // at least as severe as the raw tier, never more severe than the damped one
                prop_assert!(current >= tier_for(ratio, &p));
                prop_assert!(current <= tier_for(ratio - p.tier_hysteresis, &p));
            }
        }
    }
}

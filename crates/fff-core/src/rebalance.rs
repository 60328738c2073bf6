//! The rebalancer's decision table for one open hedge.
//!
//! Precedence, first match wins:
//! 1. no position (both legs zero) → `None`;
//! 2. funding sign reversed → `Flip` when `auto_flip_on_reversal`, new entries are allowed and
//!    the reversed direction is viable (for negative carry: |funding| > borrow × safety margin),
//!    otherwise `Close`;
//! 3. negative carry whose |funding| no longer covers the borrow cost (same period, no safety
//!    margin: entry demands the margin, exit waits for break-even) → `Close` when
//!    `close_when_funding_below_borrow`;
//! 4. drift > `emergency_drift_threshold` → `EmergencyRebalance` (ignores `min_trade_usdt`);
//! 5. drift > `drift_threshold` → `AdjustSmallerLeg` when the trade is at least
//!    `min_trade_usdt`;
//! 6. otherwise `None`.
//!
//! Flip and Close unwind both legs, which also removes any drift, so they outrank it.
//! Funding decisions act on whatever rate the caller passes; pass a settled or confirmed rate if
//! predicted-rate flicker should not trigger them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::drift::{delta_drift, smaller_leg_adjustment};
use crate::filters::{SymbolFilters, floor_to_step};
use crate::params::{PairSelectionParams, RebalanceParams};
use crate::rates::{borrow_rate_for_period, normalize_funding_rate};
use crate::types::{Direction, FundingInterval, Side, Symbol, Venue};

/// What the rebalancer knows about one hedge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HedgeState {
    /// The pair.
    pub symbol: Symbol,
    /// The way the hedge currently faces.
    pub direction: Direction,
    /// Signed spot quantity (negative = borrowed and sold).
    pub spot_qty: Decimal,
    /// Signed perp position quantity.
    pub perp_qty: Decimal,
    /// Price used to value adjustments.
    pub mark_price: Decimal,
    /// Current funding rate per `funding_interval`.
    pub funding_rate: Decimal,
    /// The perp's funding interval.
    pub funding_interval: FundingInterval,
    /// Hourly borrow rate of the base asset.
    pub borrow_rate_hourly: Decimal,
    /// False while risk halts new entries (drawdown): a flip then degrades to a close.
    pub new_entries_allowed: bool,
}

/// The action to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Nothing to do.
    None,
    /// Top up the smaller leg (routine drift).
    AdjustSmallerLeg {
        /// Venue of the leg to trade.
        venue: Venue,
        /// Order side.
        side: Side,
        /// Quantity, floored to the venue's step.
        qty: Decimal,
    },
    /// Restore neutrality now (drift above the emergency threshold).
    EmergencyRebalance {
        /// Venue of the leg to trade.
        venue: Venue,
        /// Order side.
        side: Side,
        /// Quantity, floored to the venue's step.
        qty: Decimal,
    },
    /// Unwind and reopen the hedge facing the other way.
    Flip {
        /// The new direction.
        to: Direction,
    },
    /// Unwind both legs.
    Close,
}

/// Why the action was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// Both legs are zero.
    NoPosition,
    /// Drift within threshold.
    WithinThreshold,
    /// Drift above threshold but the trade is below `min_trade_usdt`.
    BelowMinTrade,
    /// Drift above threshold but the trade rounds below the venue's step/minimums.
    BelowExchangeMinimum,
    /// Drift above `drift_threshold`.
    Drift,
    /// Drift above `emergency_drift_threshold`.
    EmergencyDrift,
    /// Funding sign flipped against the hedge.
    FundingReversed,
    /// Negative carry no longer covers the borrow cost.
    FundingBelowBorrow,
}

/// Urgency for the executor's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Priority {
    /// Informational.
    Low,
    /// Routine.
    Normal,
    /// Economic exit; do it this pass.
    High,
    /// Risk; do it before anything else.
    Critical,
}

/// The decision with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebalanceDecision {
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// How urgently.
    pub priority: Priority,
    /// Delta drift observed.
    pub drift: Decimal,
    /// Human-readable detail (lowercase).
    pub detail: String,
}

/// Decide what to do with one hedge. `spot_filters`/`perp_filters` round adjustment quantities.
pub fn decide(
    state: &HedgeState,
    spot_filters: &SymbolFilters,
    perp_filters: &SymbolFilters,
    params: &RebalanceParams,
    selection: &PairSelectionParams,
) -> RebalanceDecision {
    let drift = delta_drift(state.spot_qty, state.perp_qty);
    let decision = |action, reason, priority, detail: String| RebalanceDecision {
        action,
        reason,
        priority,
        drift,
        detail,
    };
    if state.spot_qty.is_zero() && state.perp_qty.is_zero() {
        return decision(
            Action::None,
            Reason::NoPosition,
            Priority::Low,
            "no position".into(),
        );
    }

    let period = selection.rate_period_hours;
    let funding = normalize_funding_rate(state.funding_rate, state.funding_interval, period);
    let borrow = borrow_rate_for_period(state.borrow_rate_hourly, period);
    let reversed = match state.direction {
        Direction::PositiveCarry => funding < -params.reversal_min_abs_rate,
        Direction::NegativeCarry => funding > params.reversal_min_abs_rate,
    };
    if reversed {
        let to = state.direction.opposite();
        let viable = match to {
            Direction::PositiveCarry => true,
            Direction::NegativeCarry => {
                funding.abs() > borrow.saturating_mul(selection.borrow_safety_margin)
            }
        };
        let detail = format!(
            "funding {funding} per {period}h against {:?}",
            state.direction
        );
        if params.auto_flip_on_reversal && viable && state.new_entries_allowed {
            return decision(
                Action::Flip { to },
                Reason::FundingReversed,
                Priority::High,
                detail,
            );
        }
        let why = if !params.auto_flip_on_reversal {
            "auto flip disabled"
        } else if !state.new_entries_allowed {
            "new entries halted"
        } else {
            "reversed funding does not cover borrow"
        };
        return decision(
            Action::Close,
            Reason::FundingReversed,
            Priority::High,
            format!("{detail}; closing: {why}"),
        );
    }
    if state.direction == Direction::NegativeCarry
        && params.close_when_funding_below_borrow
        && -funding < borrow
    {
        return decision(
            Action::Close,
            Reason::FundingBelowBorrow,
            Priority::High,
            format!("earning {} per {period}h, borrow costs {borrow}", -funding),
        );
    }

    let emergency = drift > params.emergency_drift_threshold;
    if !emergency && drift <= params.drift_threshold {
        return decision(
            Action::None,
            Reason::WithinThreshold,
            Priority::Low,
            format!("drift {drift} within {}", params.drift_threshold),
        );
    }
    let Some(adjustment) = smaller_leg_adjustment(state.spot_qty, state.perp_qty) else {
        return decision(
            Action::None,
            Reason::WithinThreshold,
            Priority::Low,
            "neutral".into(),
        );
    };
    let filters = match adjustment.venue {
        Venue::SpotMargin => spot_filters,
        Venue::UsdmPerp => perp_filters,
    };
    let step = filters.effective_step().unwrap_or(filters.step_size);
    let qty = floor_to_step(adjustment.qty, step);
    let notional = qty.saturating_mul(state.mark_price);
    let (reason, priority) = if emergency {
        (Reason::EmergencyDrift, Priority::Critical)
    } else {
        (Reason::Drift, Priority::Normal)
    };
    if qty <= Decimal::ZERO || qty < filters.min_qty || notional < filters.min_notional {
        return decision(
            Action::None,
            Reason::BelowExchangeMinimum,
            priority,
            format!(
                "drift {drift}: adjustment {qty} below {:?} minimums",
                adjustment.venue
            ),
        );
    }
    let detail = format!("drift {drift}, adjusting {:?} by {qty}", adjustment.venue);
    if emergency {
        let action = Action::EmergencyRebalance {
            venue: adjustment.venue,
            side: adjustment.side,
            qty,
        };
        return decision(action, reason, priority, detail);
    }
    if notional < params.min_trade_usdt {
        return decision(
            Action::None,
            Reason::BelowMinTrade,
            Priority::Low,
            format!(
                "drift {drift}: trade {notional} usdt below {}",
                params.min_trade_usdt
            ),
        );
    }
    let action = Action::AdjustSmallerLeg {
        venue: adjustment.venue,
        side: adjustment.side,
        qty,
    };
    decision(action, reason, priority, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn filters(step: Decimal) -> SymbolFilters {
        SymbolFilters {
            tick_size: dec!(0.1),
            step_size: step,
            min_qty: step,
            max_qty: dec!(1000),
            market_step_size: step,
            min_notional: dec!(5),
        }
    }

    fn btc_hedge() -> HedgeState {
        HedgeState {
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            direction: Direction::PositiveCarry,
            spot_qty: dec!(1.05),
            perp_qty: dec!(-1.0),
            mark_price: dec!(100_000),
            funding_rate: dec!(0.0001),
            funding_interval: FundingInterval::EIGHT_HOURS,
            borrow_rate_hourly: dec!(0.00001),
            new_entries_allowed: true,
        }
    }

    fn run(state: &HedgeState, params: &RebalanceParams) -> RebalanceDecision {
        decide(
            state,
            &filters(dec!(0.00001)),
            &filters(dec!(0.001)),
            params,
            &PairSelectionParams::default(),
        )
    }

    #[test]
    fn design_drift_example_adjusts_the_perp() {
        let d = run(&btc_hedge(), &RebalanceParams::default());
        // 4.76 % > 3 %: sell 0.05 BTC more perp (5000 USDT >= 100)
        assert_eq!(
            d.action,
            Action::AdjustSmallerLeg {
                venue: Venue::UsdmPerp,
                side: Side::Sell,
                qty: dec!(0.05)
            }
        );
        assert_eq!(d.priority, Priority::Normal);
    }

    #[test]
    fn thresholds_and_min_trade() {
        let params = RebalanceParams::default();
        let within = HedgeState {
            spot_qty: dec!(1.02),
            ..btc_hedge()
        };
        assert_eq!(run(&within, &params).reason, Reason::WithinThreshold);
        let small = HedgeState {
            spot_qty: dec!(0.00105),
            perp_qty: dec!(-0.001),
            ..btc_hedge()
        };
        // 0.00005 BTC rounds to zero on the 0.001 perp step
        assert_eq!(run(&small, &params).reason, Reason::BelowExchangeMinimum);
        let cheap = HedgeState {
            mark_price: dec!(1),
            spot_qty: dec!(105),
            perp_qty: dec!(-100),
            ..btc_hedge()
        };
        // 5 units at 1 USDT = 5 USDT < 100 USDT minimum trade
        assert_eq!(run(&cheap, &params).reason, Reason::BelowMinTrade);
    }

    #[test]
    fn emergency_drift_ignores_min_trade() {
        let state = HedgeState {
            spot_qty: dec!(0.8),
            ..btc_hedge()
        };
        let d = run(&state, &RebalanceParams::default());
        // perp -1.0 is larger: buy 0.2 spot
        assert_eq!(
            d.action,
            Action::EmergencyRebalance {
                venue: Venue::SpotMargin,
                side: Side::Buy,
                qty: dec!(0.2)
            }
        );
        assert_eq!(d.priority, Priority::Critical);
    }

    #[test]
    fn reversal_flips_or_closes() {
        let params = RebalanceParams::default();
        // positive carry, funding now -0.03 %; borrow 0.008 % x 1.5 = 0.012 % -> viable
        let reversed = HedgeState {
            funding_rate: dec!(-0.0003),
            ..btc_hedge()
        };
        let d = run(&reversed, &params);
        assert_eq!(
            d.action,
            Action::Flip {
                to: Direction::NegativeCarry
            }
        );
        // reversed but too weak to pay the borrow: close
        let weak = HedgeState {
            funding_rate: dec!(-0.0001),
            ..btc_hedge()
        };
        assert_eq!(run(&weak, &params).action, Action::Close);
        let no_flip = RebalanceParams {
            auto_flip_on_reversal: false,
            ..params.clone()
        };
        assert_eq!(run(&reversed, &no_flip).action, Action::Close);
        let halted = HedgeState {
            new_entries_allowed: false,
            ..reversed
        };
        assert_eq!(run(&halted, &params).action, Action::Close);
    }

    #[test]
    fn negative_carry_closes_when_borrow_exceeds_funding() {
        let params = RebalanceParams::default();
        let hedge = HedgeState {
            direction: Direction::NegativeCarry,
            spot_qty: dec!(-1),
            perp_qty: dec!(1),
            funding_rate: dec!(-0.00007), // < borrow 0.00008 per 8 h
            ..btc_hedge()
        };
        let d = run(&hedge, &params);
        assert_eq!(
            (d.action, d.reason),
            (Action::Close, Reason::FundingBelowBorrow)
        );
        let keep = RebalanceParams {
            close_when_funding_below_borrow: false,
            ..params
        };
        assert_eq!(run(&hedge, &keep).action, Action::None);
    }

    #[test]
    fn funding_decision_outranks_emergency_drift() {
        let hedge = HedgeState {
            direction: Direction::NegativeCarry,
            spot_qty: dec!(-0.5),
            perp_qty: dec!(1),
            funding_rate: dec!(0.0002),
            ..btc_hedge()
        };
        let d = run(&hedge, &RebalanceParams::default());
        assert_eq!(
            d.action,
            Action::Flip {
                to: Direction::PositiveCarry
            }
        );
        assert!(d.drift > dec!(0.10));
    }

    #[test]
    fn flat_position_does_nothing() {
        let flat = HedgeState {
            spot_qty: Decimal::ZERO,
            perp_qty: Decimal::ZERO,
            funding_rate: dec!(-0.01),
            ..btc_hedge()
        };
        assert_eq!(
            run(&flat, &RebalanceParams::default()).reason,
            Reason::NoPosition
        );
    }
}

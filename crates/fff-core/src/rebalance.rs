//! The rebalancer's decision table for one open hedge.
//!
//! Precedence, first match wins:
//! 1. no position (both legs zero) → `None`;
//! 2. spot and perp prices diverge beyond `basis_exit_threshold` → `Close`, critical (the hedge
//!    no longer hedges: an exit at market before the basis runs further);
//! 3. funding sign reversed **and persisted** (`reversal_settlements` settlements in a row against
//!    the hedge, or a predicted rate beyond `reversal_predicted_threshold`) → `Flip` when
//!    `auto_flip_on_reversal`, new entries are allowed, the reversed direction is viable (for
//!    negative carry: |funding| > borrow × safety margin) and its carry over the holding horizon
//!    repays the new hedge's round trip by `admission_margin` (see [`crate::admission`]);
//!    otherwise `Close`. A reversal that has not persisted is held through (the checks below
//!    still run), and so is a persisted one whose cost over the holding horizon is below the
//!    cost of leaving (one crossing of both legs: fees and slippage): closing a hedge to dodge
//!    a small negative rate, then paying to re-enter, loses more than sitting through it. A
//!    reversal past `reversal_predicted_threshold` is always acted on;
//! 3. negative carry whose |funding| no longer covers the borrow cost (same period, no safety
//!    margin: entry demands the margin, exit waits for break-even) → `Close` when
//!    `close_when_funding_below_borrow`, unless the shortfall over the holding horizon costs
//!    less than leaving (held through, as a cheap reversal is);
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
    /// Spot and perp prices diverged beyond `basis_exit_threshold`.
    BasisDivergence,
    /// Funding turned against the hedge but has not persisted: held through.
    ReversalNotPersisted,
    /// Funding turned against the hedge (a persisted reversal, or negative carry below its
    /// borrow cost), but paying it over the holding horizon costs less than leaving: held
    /// through.
    CheaperToHoldThanExit,
}

/// What the rebalancer knows about a hedge beyond its legs and the current rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HedgeContext {
    /// Spot reference price (spot mid or the perp's index price); `None`: basis not checked.
    pub spot_price: Option<Decimal>,
    /// Settled funding rates in a row, most recent first, that paid against the hedge.
    pub settlements_against: u32,
}

impl HedgeContext {
    /// No price or history: a reversal counts at once (the behaviour before hysteresis).
    pub const IMMEDIATE: Self = Self {
        spot_price: None,
        settlements_against: u32::MAX,
    };
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

/// [`decide_with`] without prices or settlement history ([`HedgeContext::IMMEDIATE`]).
pub fn decide(
    state: &HedgeState,
    spot_filters: &SymbolFilters,
    perp_filters: &SymbolFilters,
    params: &RebalanceParams,
    selection: &PairSelectionParams,
) -> RebalanceDecision {
    decide_with(
        state,
        &HedgeContext::IMMEDIATE,
        spot_filters,
        perp_filters,
        params,
        selection,
    )
}

/// Decide what to do with one hedge. `spot_filters`/`perp_filters` round adjustment quantities.
pub fn decide_with(
    state: &HedgeState,
    context: &HedgeContext,
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

    if let Some(spot) = context.spot_price.filter(|p| *p > Decimal::ZERO)
        && state.mark_price > Decimal::ZERO
    {
        let basis = (state.mark_price / spot - Decimal::ONE).abs();
        if basis > params.basis_exit_threshold {
            return decision(
                Action::Close,
                Reason::BasisDivergence,
                Priority::Critical,
                format!(
                    "perp {} vs spot {spot}: basis {} beyond {}",
                    state.mark_price,
                    basis.round_dp(6),
                    params.basis_exit_threshold
                ),
            );
        }
    }

    let period = selection.rate_period_hours;
    let funding = normalize_funding_rate(state.funding_rate, state.funding_interval, period);
    let borrow = borrow_rate_for_period(state.borrow_rate_hourly, period);
    let against = match state.direction {
        Direction::PositiveCarry => -funding,
        Direction::NegativeCarry => funding,
    };
    let reversed = against > params.reversal_min_abs_rate;
    let persisted = context.settlements_against >= params.reversal_settlements
        || against >= params.reversal_predicted_threshold;
    let periods = Decimal::from(selection.holding_horizon_hours)
        .checked_div(Decimal::from(period.max(1)))
        .unwrap_or_default();
    let round_trip = crate::admission::round_trip_cost(Decimal::ZERO, selection);
    // leaving crosses both legs once: half the round trip
    let exit_cost = round_trip / Decimal::TWO;
    let hold_cost = against.max(Decimal::ZERO).saturating_mul(periods);
    let cheaper_to_hold = hold_cost < exit_cost && against < params.reversal_predicted_threshold;
    let mut held_through = None;
    if reversed && !persisted {
        held_through = Some((
            Reason::ReversalNotPersisted,
            format!(
                "funding {funding} per {period}h against {:?} for {} settlement(s): holding through",
                state.direction, context.settlements_against
            ),
        ));
    } else if reversed && cheaper_to_hold {
        held_through = Some((
            Reason::CheaperToHoldThanExit,
            format!(
                "funding {funding} per {period}h against {:?}: {} over {}h costs less than \
                 leaving ({exit_cost}): holding through",
                state.direction,
                hold_cost.round_dp(6),
                selection.holding_horizon_hours
            ),
        ));
    }
    if reversed && persisted && !cheaper_to_hold {
        let to = state.direction.opposite();
        let viable = match to {
            Direction::PositiveCarry => true,
            Direction::NegativeCarry => {
                funding.abs() > borrow.saturating_mul(selection.borrow_safety_margin)
            }
        };
        // the flipped hedge must repay its own round trip within the holding horizon
        let flipped_per_period = match to {
            Direction::PositiveCarry => funding.abs(),
            Direction::NegativeCarry => funding.abs().saturating_sub(borrow),
        };
        let flipped_carry = flipped_per_period.saturating_mul(periods);
        let pays = flipped_carry.saturating_sub(round_trip) >= selection.admission_margin;
        let detail = format!(
            "funding {funding} per {period}h against {:?}",
            state.direction
        );
        if params.auto_flip_on_reversal && viable && pays && state.new_entries_allowed {
            return decision(
                Action::Flip { to },
                Reason::FundingReversed,
                Priority::High,
                format!(
                    "{detail}; flipping: {} over {}h repays the round trip {round_trip}",
                    flipped_carry.round_dp(6),
                    selection.holding_horizon_hours
                ),
            );
        }
        let why = if !params.auto_flip_on_reversal {
            "auto flip disabled".to_owned()
        } else if !state.new_entries_allowed {
            "new entries halted".to_owned()
        } else if !viable {
            "reversed funding does not cover borrow".to_owned()
        } else {
            format!(
                "the flipped carry {} over {}h does not repay the round trip {round_trip}",
                flipped_carry.round_dp(6),
                selection.holding_horizon_hours
            )
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
        // the same test as a reversal: leave only when the shortfall over the horizon costs
        // more than leaving does
        let shortfall = borrow.saturating_sub(-funding).saturating_mul(periods);
        // a sign reversal that has not persisted is a dip like any other: held through here
        // too (closing on it made a one-settlement reversal of a negative-carry hedge a close)
        let dip = reversed && !persisted;
        if (shortfall >= exit_cost && !dip) || against >= params.reversal_predicted_threshold {
            return decision(
                Action::Close,
                Reason::FundingBelowBorrow,
                Priority::High,
                format!("earning {} per {period}h, borrow costs {borrow}", -funding),
            );
        }
        held_through.get_or_insert_with(|| {
            (
                Reason::CheaperToHoldThanExit,
                format!(
                    "earning {} per {period}h below borrow {borrow}: {} over {}h costs less \
                     than leaving ({exit_cost}): holding through",
                    -funding,
                    shortfall.round_dp(6),
                    selection.holding_horizon_hours
                ),
            )
        });
    }

    let emergency = drift > params.emergency_drift_threshold;
    if !emergency && drift <= params.drift_threshold {
        if let Some((reason, held)) = held_through {
            return decision(Action::None, reason, Priority::Low, held);
        }
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

    fn run_with(state: &HedgeState, context: HedgeContext) -> RebalanceDecision {
        decide_with(
            state,
            &context,
            &filters(dec!(0.00001)),
            &filters(dec!(0.001)),
            &RebalanceParams::default(),
            &PairSelectionParams::default(),
        )
    }

    fn balanced() -> HedgeState {
        HedgeState {
            spot_qty: dec!(1),
            ..btc_hedge()
        }
    }

    #[test]
    fn a_reversal_that_lasts_one_settlement_does_not_flip() {
        let dip = HedgeState {
            funding_rate: dec!(-0.0004),
            ..balanced()
        };
        let one = HedgeContext {
            spot_price: None,
            settlements_against: 1,
        };
        let d = run_with(&dip, one);
        assert_eq!(d.action, Action::None);
        assert_eq!(d.reason, Reason::ReversalNotPersisted);
        // a second settlement against the hedge makes it a reversal: 0.04 % per 8 h flipped
        // earns 0.84 % over a week, more than the 0.38 % round trip + 0.2 %
        let two = HedgeContext {
            settlements_against: 2,
            ..one
        };
        assert_eq!(
            run_with(&dip, two).action,
            Action::Flip {
                to: Direction::NegativeCarry
            }
        );
        // a predicted rate far beyond the threshold does not wait for settlements
        let crash = HedgeState {
            funding_rate: dec!(-0.001),
            ..balanced()
        };
        assert_eq!(run_with(&crash, one).reason, Reason::FundingReversed);
    }

    #[test]
    fn a_reversal_too_weak_to_repay_a_flip_closes() {
        // 0.012 % per 8 h against the hedge costs 0.25 % over a week, more than leaving
        // (0.19 %); flipped it would earn 0.24 %, less than the round trip
        let weak = HedgeState {
            funding_rate: dec!(-0.00012),
            borrow_rate_hourly: dec!(0.000001),
            ..balanced()
        };
        let d = run_with(
            &weak,
            HedgeContext {
                spot_price: None,
                settlements_against: 3,
            },
        );
        assert_eq!(d.action, Action::Close);
        assert!(d.detail.contains("does not repay"), "{}", d.detail);
    }

    #[test]
    fn a_persisted_reversal_cheaper_than_leaving_is_held_through() {
        let context = HedgeContext {
            spot_price: None,
            settlements_against: 5,
        };
        // 0.003 % per 8 h against the hedge for a week costs 0.063 %, leaving costs 0.19 %
        let shallow = HedgeState {
            funding_rate: dec!(-0.00003),
            ..balanced()
        };
        let d = run_with(&shallow, context);
        assert_eq!(d.action, Action::None);
        assert_eq!(d.reason, Reason::CheaperToHoldThanExit);
        // 0.012 % costs 0.25 % over the horizon: more than leaving
        let deeper = HedgeState {
            funding_rate: dec!(-0.00012),
            ..balanced()
        };
        assert_eq!(run_with(&deeper, context).reason, Reason::FundingReversed);
        // a drifted hedge held through a cheap reversal is still rebalanced
        let drifted = HedgeState {
            spot_qty: dec!(0.8),
            ..shallow
        };
        assert_eq!(run_with(&drifted, context).reason, Reason::EmergencyDrift);
    }

    #[test]
    fn a_basis_break_closes_at_once() {
        let hedge = balanced();
        let calm = HedgeContext {
            spot_price: Some(dec!(99_800)),
            settlements_against: 0,
        };
        assert_eq!(run_with(&hedge, calm).action, Action::None);
        let broken = HedgeContext {
            spot_price: Some(dec!(99_400)),
            settlements_against: 0,
        };
        let d = run_with(&hedge, broken);
        assert_eq!(d.action, Action::Close);
        assert_eq!(d.reason, Reason::BasisDivergence);
        assert_eq!(d.priority, Priority::Critical);
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
        // positive carry, funding now -0.04 %; borrow 0.008 % x 1.5 = 0.012 % -> viable
        let reversed = HedgeState {
            funding_rate: dec!(-0.0004),
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

    /// Funding turning positive for one settlement under a negative-carry hedge is both a
    /// reversal and earning below borrow; the reversal's persistence rule holds it through, and
    /// the below-borrow rule must not close it on the same dip (the composite rules test
    /// closed SOLUSDT on a one-settlement reversal).
    #[test]
    fn a_one_settlement_reversal_of_a_negative_carry_hedge_is_held_through() {
        let hedge = HedgeState {
            direction: Direction::NegativeCarry,
            spot_qty: dec!(-1),
            perp_qty: dec!(1),
            // the long perp pays 0.01 % per 8 h, borrow 0.0067 %
            funding_rate: dec!(0.0001),
            borrow_rate_hourly: dec!(0.0000083),
            ..btc_hedge()
        };
        let one = HedgeContext {
            spot_price: None,
            settlements_against: 1,
        };
        let d = run_with(&hedge, one);
        assert_eq!(
            (d.action, d.reason),
            (Action::None, Reason::ReversalNotPersisted),
            "{}",
            d.detail
        );
        // persisted: it goes (flipped or closed), as any reversal does
        let two = HedgeContext {
            settlements_against: 2,
            ..one
        };
        assert_ne!(run_with(&hedge, two).action, Action::None);
    }

    #[test]
    fn negative_carry_closes_when_borrow_exceeds_funding() {
        let params = RebalanceParams::default();
        let hedge = HedgeState {
            direction: Direction::NegativeCarry,
            spot_qty: dec!(-1),
            perp_qty: dec!(1),
            // earns 0.003 % per 8 h, borrow costs 0.016 %: 0.27 % a week, more than leaving
            funding_rate: dec!(-0.00003),
            borrow_rate_hourly: dec!(0.00002),
            ..btc_hedge()
        };
        let d = run(&hedge, &params);
        assert_eq!(
            (d.action, d.reason),
            (Action::Close, Reason::FundingBelowBorrow)
        );
        // 0.007 % against 0.008 %: 0.02 % a week, far less than leaving (0.19 %): held
        let barely = HedgeState {
            funding_rate: dec!(-0.00007),
            borrow_rate_hourly: dec!(0.00001),
            ..hedge.clone()
        };
        let d = run(&barely, &params);
        assert_eq!(
            (d.action, d.reason),
            (Action::None, Reason::CheaperToHoldThanExit)
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
            funding_rate: dec!(0.0003),
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

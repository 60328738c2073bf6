//! Minimal turnover: keep a held pair unless its replacement is worth the round trip.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::Symbol;

/// A pair with its size and expected net carry (per normalisation period, as a fraction of
/// notional; negative when the hedge is losing carry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarryPosition {
    /// The pair.
    pub symbol: Symbol,
    /// Per-leg notional, USDT.
    pub notional: Decimal,
    /// Expected net carry per period (see [`crate::MarketSnapshot::net_carry_per_period`]).
    pub expected_carry: Decimal,
}

/// Cost model of switching, as fractions of notional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchCosts {
    /// Cost to open both legs (fees + expected slippage), e.g. 0.002.
    pub entry_cost_rate: Decimal,
    /// Cost to close both legs.
    pub exit_cost_rate: Decimal,
    /// Periods over which the carry difference is expected to persist.
    pub horizon_periods: Decimal,
}

/// What [`plan_turnover`] decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnoverPlan {
    /// Final targets: the proposal with kept pairs substituted for the entrants they displaced.
    pub targets: Vec<CarryPosition>,
    /// Held pairs kept although the proposal dropped them: `(kept, displaced entrant)`.
    pub kept: Vec<(Symbol, Symbol)>,
    /// Held pairs replaced: `(exiting, entering)`.
    pub replaced: Vec<(Symbol, Symbol)>,
}

/// The carry of a held pair that no entrant can be worth replacing: see [`held_carry`].
pub const NOT_REPLACEABLE: Decimal = Decimal::MAX;

/// The carry a held pair is weighed with against entrants: what the ranking expects of it at
/// the direction it is held, when that is positive. A held pair the ranking does not carry that
/// way (a predicted reversal, or carry below its borrow) is [`NOT_REPLACEABLE`] here: whether it
/// exits is the rebalance table's call, with its persistence and cheaper-to-hold checks, so a
/// prediction cannot close it around them. Live executor and backtester alike.
pub fn held_carry(at_held_direction: Option<Decimal>) -> Decimal {
    at_held_direction
        .filter(|carry| *carry > Decimal::ZERO)
        .unwrap_or(NOT_REPLACEABLE)
}

/// Whether replacing `held` by `entrant` (sized at the entrant's notional) pays:
/// `(entrant.carry - held.carry) * entrant.notional * horizon`
/// must strictly exceed `exit_cost * held.notional + entry_cost * entrant.notional`.
/// A held pair with non-positive carry is always worth replacing.
pub fn switch_pays(held: &CarryPosition, entrant: &CarryPosition, costs: &SwitchCosts) -> bool {
    if held.expected_carry <= Decimal::ZERO {
        return true;
    }
    let gain = (entrant.expected_carry.saturating_sub(held.expected_carry))
        .saturating_mul(entrant.notional)
        .saturating_mul(costs.horizon_periods);
    let cost = costs
        .exit_cost_rate
        .saturating_mul(held.notional)
        .saturating_add(costs.entry_cost_rate.saturating_mul(entrant.notional));
    gain > cost
}

/// Reconcile current holdings with a new ranked proposal (best first) while avoiding churn.
///
/// Held pairs the proposal drops are matched, best carry first, against new entrants, weakest
/// (last-ranked) first. When [`switch_pays`] says no, the held pair keeps the entrant's slot and
/// notional, so the proposal's totals (and therefore its allocation caps) are unchanged. Pairs
/// present in both lists are untouched. A greedy pairing, not a global optimum.
pub fn plan_turnover(
    held: &[CarryPosition],
    proposed: &[CarryPosition],
    costs: &SwitchCosts,
) -> TurnoverPlan {
    let proposed_symbols: HashSet<&Symbol> = proposed.iter().map(|p| &p.symbol).collect();
    let held_symbols: HashSet<&Symbol> = held.iter().map(|h| &h.symbol).collect();
    let mut dropped: Vec<&CarryPosition> = held
        .iter()
        .filter(|h| !proposed_symbols.contains(&h.symbol))
        .collect();
    dropped.sort_by_key(|h| std::cmp::Reverse(h.expected_carry));
    // entrant indices in ranking order; `pop` yields the weakest first
    let mut entrants: Vec<usize> = (0..proposed.len())
        .filter(|&i| !held_symbols.contains(&proposed[i].symbol))
        .collect();

    let mut targets = proposed.to_vec();
    let mut kept = Vec::new();
    let mut replaced = Vec::new();
    for held_pair in dropped {
        let Some(index) = entrants.pop() else { break };
        let entrant = &proposed[index];
        if switch_pays(held_pair, entrant, costs) {
            replaced.push((held_pair.symbol.clone(), entrant.symbol.clone()));
        } else {
            kept.push((held_pair.symbol.clone(), entrant.symbol.clone()));
            targets[index] = CarryPosition {
                symbol: held_pair.symbol.clone(),
                notional: entrant.notional,
                expected_carry: held_pair.expected_carry,
            };
        }
    }
    TurnoverPlan {
        targets,
        kept,
        replaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn pos(symbol: &str, notional: Decimal, carry: Decimal) -> CarryPosition {
        CarryPosition {
            symbol: Symbol::parse(symbol).unwrap(),
            notional,
            expected_carry: carry,
        }
    }

    #[test]
    fn a_held_pair_without_positive_carry_at_its_direction_is_never_replaced() {
        assert_eq!(held_carry(Some(dec!(0.001))), dec!(0.001));
        for unknown in [None, Some(Decimal::ZERO), Some(dec!(-0.002))] {
            let held = [pos("AAAUSDT", dec!(1000), held_carry(unknown))];
            let proposed = [pos("BBBUSDT", dec!(1000), dec!(0.05))];
            let plan = plan_turnover(&held, &proposed, &costs());
            assert!(plan.replaced.is_empty(), "{unknown:?}: {plan:?}");
            assert_eq!(plan.kept.len(), 1);
        }
    }

    fn costs() -> SwitchCosts {
        // taker 0.05 % perp + 0.1 % spot per side, both legs: ~0.15 % each way
        SwitchCosts {
            entry_cost_rate: dec!(0.0015),
            exit_cost_rate: dec!(0.0015),
            horizon_periods: dec!(9), // three days of 8h periods
        }
    }

    #[test]
    fn small_improvement_keeps_the_held_pair() {
        let held = [pos("BTCUSDT", dec!(100_000), dec!(0.0002))];
        let proposed = [pos("ETHUSDT", dec!(100_000), dec!(0.0003))];
        // gain 0.0001 * 100k * 9 = 90 < cost 150 + 150
        let plan = plan_turnover(&held, &proposed, &costs());
        assert_eq!(plan.targets[0].symbol.as_str(), "BTCUSDT");
        assert_eq!(plan.targets[0].notional, dec!(100_000));
        assert_eq!(plan.kept.len(), 1);
        assert!(plan.replaced.is_empty());
    }

    #[test]
    fn large_improvement_switches() {
        let held = [pos("BTCUSDT", dec!(100_000), dec!(0.0001))];
        let proposed = [pos("ETHUSDT", dec!(100_000), dec!(0.0006))];
        // gain 0.0005 * 100k * 9 = 450 > 300
        let plan = plan_turnover(&held, &proposed, &costs());
        assert_eq!(plan.targets[0].symbol.as_str(), "ETHUSDT");
        assert_eq!(plan.replaced.len(), 1);
    }

    #[test]
    fn losing_carry_is_always_replaced_and_overlap_untouched() {
        let held = [
            pos("BTCUSDT", dec!(50_000), dec!(0.0002)),
            pos("SOLUSDT", dec!(50_000), dec!(-0.0001)),
        ];
        let proposed = [
            pos("BTCUSDT", dec!(60_000), dec!(0.0002)),
            pos("ETHUSDT", dec!(60_000), dec!(0.00021)),
        ];
        let plan = plan_turnover(&held, &proposed, &costs());
        let symbols: Vec<&str> = plan.targets.iter().map(|t| t.symbol.as_str()).collect();
        assert_eq!(symbols, vec!["BTCUSDT", "ETHUSDT"]);
        assert_eq!(plan.replaced.len(), 1);
    }

    #[test]
    fn weakest_entrant_is_displaced_first() {
        let held = [pos("BTCUSDT", dec!(10_000), dec!(0.0003))];
        let proposed = [
            pos("ETHUSDT", dec!(10_000), dec!(0.0004)),
            pos("SOLUSDT", dec!(8_000), dec!(0.00031)),
        ];
        let plan = plan_turnover(&held, &proposed, &costs());
        let symbols: Vec<&str> = plan.targets.iter().map(|t| t.symbol.as_str()).collect();
        assert_eq!(symbols, vec!["ETHUSDT", "BTCUSDT"]);
        assert_eq!(plan.targets[1].notional, dec!(8_000));
    }
}

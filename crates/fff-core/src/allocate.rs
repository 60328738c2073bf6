//! Capital allocation: how much per-leg notional each ranked pair gets.
//!
//! Definitions (all in USDT), with the capital of a hedge from [`crate::capital`] (both legs:
//! the spot side's cash or collateral plus the perp margin):
//! - **equity** `E`: total account equity (spot, cross-margin and futures wallets, marked to
//!   market, net of loans), net of any amount the operator excluded before calling.
//! - **capital budget** = `E * min(target_utilization, 1 - reserve_ratio)`; the reserve
//!   `E * reserve_ratio` is never part of it.
//! - **pair cap**: a pair's capital is at most `E * max_pair_fraction` (30 % of *equity*).
//! - **perp cap**: total perp notional at most `E * target_utilization * leverage / (1 + buffer)`
//!   (the design formula `E * 0.85 * 5 / 1.15`); never binding before the capital budget.
//!
//! Notionals are floored to whole cents, so allocations only ever round down.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::capital::{CapitalModel, HedgeCapital};
use crate::error::{Error, Result};
use crate::params::CapitalParams;
use crate::types::{Direction, Symbol};

/// Decimal places of allocated notionals (USDT cents).
const NOTIONAL_DP: u32 = 2;

/// Target for one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairTarget {
    /// The pair.
    pub symbol: Symbol,
    /// Which way the hedge faces (decides the spot side's capital).
    pub direction: Direction,
    /// Per-leg notional (spot notional = perp notional), USDT.
    pub notional: Decimal,
    /// Capital this notional ties up on each side.
    pub capital: HedgeCapital,
}

/// Why a ranked candidate got nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SkipReason {
    /// `max_pairs` already filled.
    MaxPairs,
    /// The notional left (or the pair cap) is below `min_position_usdt`.
    BelowMinPosition {
        /// What was left for it.
        available: Decimal,
    },
    /// The symbol appeared earlier in the ranking.
    Duplicate,
}

/// The result of [`allocate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    /// Equity the allocation was computed from.
    pub equity: Decimal,
    /// `equity * min(target_utilization, 1 - reserve_ratio)`: capital that may be deployed.
    pub capital_budget: Decimal,
    /// `equity * reserve_ratio`, never deployed.
    pub reserve: Decimal,
    /// Cap on total perp notional (design formula), floored to cents.
    pub max_perp_notional: Decimal,
    /// Per-pair capital cap, `equity * max_pair_fraction`.
    pub pair_capital_cap: Decimal,
    /// Targets in ranking order.
    pub targets: Vec<PairTarget>,
    /// Candidates that got nothing, with the reason.
    pub skipped: Vec<(Symbol, SkipReason)>,
    /// Sum of target notionals (per leg).
    pub total_notional: Decimal,
    /// Capital of all targets, by side.
    pub capital: HedgeCapital,
    /// `capital.total() / equity` (0 for non-positive equity).
    pub utilization: Decimal,
    /// Utilization fell short of `min_utilization` (too few or too small candidates).
    pub below_min_utilization: bool,
}

/// Check `leverage`/`buffer` are usable for sizing, whatever `validate` said.
pub fn check_leverage(params: &CapitalParams) -> Result<()> {
    let fail = |key: &str, message: String| {
        Err(Error::InvalidParams {
            key: key.to_owned(),
            message,
        })
    };
    if params.min_leverage < Decimal::ONE || params.min_leverage > params.max_leverage {
        return fail(
            "capital.min_leverage",
            format!(
                "need 1 <= min_leverage <= max_leverage, got [{}, {}]",
                params.min_leverage, params.max_leverage
            ),
        );
    }
    if params.leverage < params.min_leverage || params.leverage > params.max_leverage {
        return fail(
            "capital.leverage",
            format!(
                "{} outside [{}, {}]",
                params.leverage, params.min_leverage, params.max_leverage
            ),
        );
    }
    if params.buffer < Decimal::ZERO {
        return fail(
            "capital.buffer",
            format!("negative buffer {}", params.buffer),
        );
    }
    Ok(())
}

/// Perp margin (with the buffer) for a per-leg `notional`: the futures wallet's share of a
/// hedge's capital. The spot side's share is in [`CapitalModel::hedge_capital`].
pub fn margin_for_notional(notional: Decimal, params: &CapitalParams) -> Result<Decimal> {
    Decimal::ONE
        .checked_add(params.buffer)
        .and_then(|factor| notional.checked_mul(factor))
        .and_then(|scaled| scaled.checked_div(params.leverage))
        .ok_or(Error::Overflow("margin_for_notional"))
}

impl Allocation {
    /// Largest per-leg notional a single pair facing `direction` may hold under the pair cap.
    pub fn pair_notional_cap(&self, model: &CapitalModel, direction: Direction) -> Decimal {
        model
            .notional_for_capital(self.pair_capital_cap, direction, NOTIONAL_DP)
            .unwrap_or(Decimal::ZERO)
    }
}

/// Greedy fill in ranking order (best first): each pair gets the notional whose capital is
/// `min(pair cap, capital left)`; pairs that would get less than `min_position_usdt` are
/// skipped, at most `max_pairs` are filled.
///
/// Non-positive equity yields an empty allocation. Errors on arithmetic overflow.
pub fn allocate(
    equity: Decimal,
    ranked: &[(Symbol, Direction)],
    model: &CapitalModel,
    max_pairs: u32,
) -> Result<Allocation> {
    let params = model.params();
    let overflow = |what| Error::Overflow(what);
    let equity_for_sizing = equity.max(Decimal::ZERO);
    let capital_budget = equity_for_sizing
        .checked_mul(
            params
                .target_utilization
                .min(Decimal::ONE - params.reserve_ratio),
        )
        .ok_or(overflow("capital budget"))?
        .max(Decimal::ZERO);
    let reserve = equity_for_sizing
        .checked_mul(params.reserve_ratio)
        .ok_or(overflow("reserve"))?;
    let pair_capital_cap = equity_for_sizing
        .checked_mul(params.max_pair_fraction)
        .ok_or(overflow("pair cap"))?
        .max(Decimal::ZERO);
    let mut max_perp_notional = model
        .max_perp_notional(equity_for_sizing)?
        .trunc_with_scale(NOTIONAL_DP);
    if params.max_total_notional_usdt > Decimal::ZERO {
        max_perp_notional = max_perp_notional.min(params.max_total_notional_usdt);
    }

    let mut capital_left = capital_budget;
    let mut perp_left = max_perp_notional;
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for (symbol, direction) in ranked {
        if !seen.insert(symbol) {
            skipped.push((symbol.clone(), SkipReason::Duplicate));
            continue;
        }
        if targets.len() >= max_pairs as usize {
            skipped.push((symbol.clone(), SkipReason::MaxPairs));
            continue;
        }
        let capital = pair_capital_cap.min(capital_left);
        let mut available = model
            .notional_for_capital(capital, *direction, NOTIONAL_DP)?
            .min(perp_left);
        if params.max_symbol_notional_usdt > Decimal::ZERO {
            available = available.min(params.max_symbol_notional_usdt);
        }
        if available < params.min_position_usdt || available <= Decimal::ZERO {
            skipped.push((symbol.clone(), SkipReason::BelowMinPosition { available }));
            continue;
        }
        let needed = model.hedge_capital(available, *direction)?;
        capital_left -= needed.total();
        perp_left -= available;
        targets.push(PairTarget {
            symbol: symbol.clone(),
            direction: *direction,
            notional: available,
            capital: needed,
        });
    }

    let total_notional: Decimal = targets.iter().map(|t| t.notional).sum();
    let capital = targets
        .iter()
        .fold(HedgeCapital::default(), |sum, t| sum.plus(t.capital));
    let utilization = if equity > Decimal::ZERO {
        capital.total().checked_div(equity).unwrap_or(Decimal::ZERO)
    } else {
        Decimal::ZERO
    };
    Ok(Allocation {
        equity,
        capital_budget,
        reserve,
        max_perp_notional,
        pair_capital_cap,
        targets,
        skipped,
        total_notional,
        capital,
        utilization,
        below_min_utilization: utilization < params.min_utilization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::RiskParams;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn ranked(names: &[&str], direction: Direction) -> Vec<(Symbol, Direction)> {
        names
            .iter()
            .map(|n| (Symbol::parse(n).unwrap(), direction))
            .collect()
    }

    fn model(params: &CapitalParams) -> CapitalModel {
        CapitalModel::new(params, &RiskParams::default()).unwrap()
    }

    #[test]
    fn both_legs_are_paid_for_at_the_defaults() {
        let m = model(&CapitalParams::default());
        let pairs = ranked(
            &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
            Direction::PositiveCarry,
        );
        let a = allocate(dec!(100_000), &pairs, &m, 10).unwrap();
        // pair cap 30k of capital at 1.23 per unit of notional
        assert_eq!(a.pair_capital_cap, dec!(30_000));
        assert_eq!(
            a.pair_notional_cap(&m, Direction::PositiveCarry),
            dec!(24_390.24)
        );
        let notionals: Vec<Decimal> = a.targets.iter().map(|t| t.notional).collect();
        assert_eq!(
            notionals,
            vec![dec!(24_390.24), dec!(24_390.24), dec!(20_325.21)]
        );
        // about 0.69 x equity of hedged notional, 85 % of equity in capital
        assert_eq!(a.total_notional, dec!(69_105.69));
        assert!(a.capital.total() <= dec!(85_000));
        assert!(a.utilization > dec!(0.8499));
        assert_eq!(a.capital.spot_side, a.total_notional);
        assert!(!a.below_min_utilization);
        // the design's perp cap (100k x 0.85 x 5 / 1.15) is not what binds
        assert_eq!(a.max_perp_notional, dec!(369_565.21));
    }

    #[test]
    fn negative_carry_needs_collateral_and_gets_less_notional() {
        let m = model(&CapitalParams::default());
        let a = allocate(
            dec!(100_000),
            &ranked(&["SOLUSDT"], Direction::NegativeCarry),
            &m,
            10,
        )
        .unwrap();
        // 30k / 1.38
        assert_eq!(a.targets[0].notional, dec!(21_739.13));
        assert_eq!(a.targets[0].capital.spot_side, dec!(24_999.9995));
    }

    #[test]
    fn two_pairs_cannot_reach_target_utilization() {
        let a = allocate(
            dec!(100_000),
            &ranked(&["BTCUSDT", "ETHUSDT"], Direction::PositiveCarry),
            &model(&CapitalParams::default()),
            10,
        )
        .unwrap();
        // 2 x 30 % of equity = 60 % < 80 %
        assert!(a.below_min_utilization);
        assert!((a.utilization - dec!(0.6)).abs() < dec!(0.0001));
    }

    #[test]
    fn max_pairs_and_duplicates_are_skipped() {
        let a = allocate(
            dec!(1_000_000),
            &ranked(
                &["BTCUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"],
                Direction::PositiveCarry,
            ),
            &model(&CapitalParams::default()),
            2,
        )
        .unwrap();
        assert_eq!(a.targets.len(), 2);
        assert_eq!(a.skipped[0].1, SkipReason::Duplicate);
        assert_eq!(a.skipped[1].1, SkipReason::MaxPairs);
    }

    #[test]
    fn small_or_negative_equity() {
        let m = model(&CapitalParams::default());
        let pairs = ranked(
            &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
            Direction::PositiveCarry,
        );
        // 5000 equity: the pair cap (1219.51 of notional) is above the 1000 USDT minimum
        let small = allocate(dec!(5000), &pairs, &m, 10).unwrap();
        assert_eq!(small.targets.len(), 3);
        assert_eq!(small.targets[0].notional, dec!(1219.51));
        // 3000 equity: the pair cap (731.70) is below the 1000 USDT minimum position
        let tiny = allocate(dec!(3000), &pairs, &m, 10).unwrap();
        assert!(tiny.targets.is_empty());
        let broke = allocate(dec!(-5), &pairs[..1], &m, 10).unwrap();
        assert!(broke.targets.is_empty());
        assert_eq!(broke.utilization, Decimal::ZERO);
    }

    #[test]
    fn absurd_equity_errors_instead_of_panicking() {
        let m = model(&CapitalParams::default());
        let pairs = ranked(&["BTCUSDT"], Direction::PositiveCarry);
        assert!(matches!(
            allocate(Decimal::MAX, &pairs, &m, 1),
            Err(Error::Overflow(_))
        ));
        let large = allocate(dec!(1_000_000_000_000_000), &pairs, &m, 1).unwrap();
        assert_eq!(large.targets.len(), 1);
    }

    #[test]
    fn position_limits_cap_each_symbol_and_the_total() {
        let params = CapitalParams {
            max_symbol_notional_usdt: dec!(20_000),
            max_total_notional_usdt: dec!(50_000),
            ..CapitalParams::default()
        };
        let m = model(&params);
        let pairs = ranked(
            &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
            Direction::PositiveCarry,
        );
        let a = allocate(dec!(100_000), &pairs, &m, 10).unwrap();
        let notionals: Vec<Decimal> = a.targets.iter().map(|t| t.notional).collect();
        assert_eq!(notionals, vec![dec!(20_000), dec!(20_000), dec!(10_000)]);
        assert_eq!(a.max_perp_notional, dec!(50_000));
    }

    #[test]
    fn leverage_outside_bounds_is_rejected() {
        let params = CapitalParams {
            leverage: dec!(11),
            ..CapitalParams::default()
        };
        assert!(matches!(
            CapitalModel::new(&params, &RiskParams::default()),
            Err(Error::InvalidParams { key, .. }) if key == "capital.leverage"
        ));
    }

    proptest! {
        /// For any ranked universe and parameters: the allocation's capital (both legs) never
        /// exceeds `equity x target_utilization` nor equity minus the reserve, per pair never
        /// exceeds `equity x max_pair_fraction`, and, with USDT borrowing off, every spot leg is
        /// paid in cash (spot-side capital >= notional for long spot legs).
        #[test]
        fn allocation_respects_budget_reserve_and_pair_cap(
            equity_cents in 0i64..100_000_000_000,
            directions in proptest::collection::vec(any::<bool>(), 0..12),
            max_pairs in 1u32..10,
            leverage in 3i64..=10,
            buffer_pct in 0i64..50,
            utilization_pct in 10i64..=90,
            pair_pct in 5i64..=100,
            green_pct in 110i64..400,
        ) {
            let params = CapitalParams {
                leverage: Decimal::from(leverage),
                buffer: Decimal::new(buffer_pct, 2),
                target_utilization: Decimal::new(utilization_pct, 2),
                reserve_ratio: Decimal::new(100 - utilization_pct, 2).min(dec!(0.10)),
                max_pair_fraction: Decimal::new(pair_pct, 2),
                min_utilization: Decimal::ZERO,
                ..CapitalParams::default()
            };
            let risk = RiskParams {
                margin_level_green_above: Decimal::new(green_pct, 2),
                ..RiskParams::default()
            };
            let m = CapitalModel::new(&params, &risk).unwrap();
            let equity = Decimal::new(equity_cents, 2);
            let pairs: Vec<(Symbol, Direction)> = directions
                .iter()
                .enumerate()
                .map(|(i, positive)| {
                    let d = if *positive { Direction::PositiveCarry } else { Direction::NegativeCarry };
                    (Symbol::parse(&format!("P{i}USDT")).unwrap(), d)
                })
                .collect();
            let a = allocate(equity, &pairs, &m, max_pairs).unwrap();
            let total = a.capital.total();
            prop_assert!(total <= equity * params.target_utilization);
            prop_assert!(total <= equity * (Decimal::ONE - params.reserve_ratio));
            prop_assert!(a.total_notional <= a.max_perp_notional);
            for t in &a.targets {
                prop_assert!(t.capital.total() <= equity * params.max_pair_fraction);
                prop_assert!(t.notional >= params.min_position_usdt);
                let perp = t.notional * (Decimal::ONE + params.buffer) / params.leverage;
                prop_assert!(t.capital.perp_margin >= perp - dec!(0.000001));
                match t.direction {
                    Direction::PositiveCarry => prop_assert!(t.capital.spot_side >= t.notional),
                    Direction::NegativeCarry => {
                        // collateral keeps the margin level at the risk green threshold or above
                        let level = (t.capital.spot_side + t.notional) / t.notional;
                        prop_assert!(level >= risk.margin_level_green_above);
                    }
                }
            }
            prop_assert!(a.targets.len() <= max_pairs as usize);
        }
    }
}

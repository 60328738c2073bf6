//! Capital allocation: how much per-leg notional each ranked pair gets.
//!
//! Definitions (all in USDT):
//! - **equity** `E`: total account equity (spot-margin + futures wallets, marked to market),
//!   net of any amount the operator excluded before calling.
//! - **margin capital of a hedge** with per-leg notional `N`: `N * (1 + buffer) / leverage`.
//!   This is the capital the design formula charges a position; the buffer leaves room for
//!   adverse marks before the margin tiers react.
//! - **margin budget** = `E * target_utilization`. Validation enforces
//!   `target_utilization + reserve_ratio <= 1`, so the reserve `E * reserve_ratio` is never
//!   part of the budget ("equity minus reserve" bounds every allocation).
//! - **max position** = `E * target_utilization * leverage / (1 + buffer)`, total per-leg notional
//!   (design: `E * 0.85 * 5 / 1.15`).
//! - **pair cap**: a pair's margin capital is at most `E * max_pair_fraction` (30 % of *equity*,
//!   not of the budget), i.e. notional `E * 0.30 * leverage / (1 + buffer)`.
//!
//! Notionals are floored to whole cents, so allocations only ever round down.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::params::CapitalParams;
use crate::types::Symbol;

/// Decimal places of allocated notionals (USDT cents).
const NOTIONAL_DP: u32 = 2;
const CENT: Decimal = Decimal::from_parts(1, 0, 0, false, NOTIONAL_DP);

/// Target for one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairTarget {
    /// The pair.
    pub symbol: Symbol,
    /// Per-leg notional (spot notional = perp notional), USDT.
    pub notional: Decimal,
    /// Margin capital this notional consumes: `notional * (1 + buffer) / leverage`.
    pub margin: Decimal,
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
    /// `equity * target_utilization`.
    pub margin_budget: Decimal,
    /// `equity * reserve_ratio`, never deployed.
    pub reserve: Decimal,
    /// Total per-leg notional allowed (design formula), floored to cents.
    pub max_position_notional: Decimal,
    /// Per-pair notional cap, floored to cents.
    pub pair_notional_cap: Decimal,
    /// Targets in ranking order.
    pub targets: Vec<PairTarget>,
    /// Candidates that got nothing, with the reason.
    pub skipped: Vec<(Symbol, SkipReason)>,
    /// Sum of target notionals.
    pub total_notional: Decimal,
    /// Sum of target margins.
    pub total_margin: Decimal,
    /// `total_margin / equity` (0 for non-positive equity).
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

/// Margin capital consumed by a per-leg `notional`.
pub fn margin_for_notional(notional: Decimal, params: &CapitalParams) -> Result<Decimal> {
    Decimal::ONE
        .checked_add(params.buffer)
        .and_then(|factor| notional.checked_mul(factor))
        .and_then(|scaled| scaled.checked_div(params.leverage))
        .ok_or(Error::Overflow("margin_for_notional"))
}

/// Largest cent-rounded notional whose margin fits in `margin`:
/// `notional * (1 + buffer) <= margin * leverage`, checked exactly by multiplication.
fn notional_for_margin(margin: Decimal, params: &CapitalParams) -> Result<Decimal> {
    let overflow = Error::Overflow("notional_for_margin");
    let levered = margin
        .checked_mul(params.leverage)
        .ok_or(overflow.clone())?;
    let factor = Decimal::ONE
        .checked_add(params.buffer)
        .ok_or(overflow.clone())?;
    let raw = levered.checked_div(factor).ok_or(overflow.clone())?;
    let mut notional = raw.trunc_with_scale(NOTIONAL_DP);
    // The division rounds at 28 digits and may land a hair above the true quotient; a cent
    // or two fixes that. At magnitudes where a cent is below Decimal's precision the loop
    // could not make progress, so it is bounded and such inputs are reported as overflow.
    for _ in 0..4 {
        if notional <= Decimal::ZERO
            || notional.checked_mul(factor).ok_or(overflow.clone())? <= levered
        {
            return Ok(notional.max(Decimal::ZERO));
        }
        notional -= CENT;
    }
    Err(overflow)
}

/// Greedy fill in ranking order (best first): each pair gets `min(pair cap, remaining)`,
/// pairs that would get less than `min_position_usdt` are skipped, at most `max_pairs` are filled.
///
/// Non-positive equity yields an empty allocation. Errors on parameters that fail
/// [`CapitalParams::validate`] (the first violation) or on arithmetic overflow.
pub fn allocate(
    equity: Decimal,
    ranked: &[Symbol],
    params: &CapitalParams,
    max_pairs: u32,
) -> Result<Allocation> {
    if let Some(violation) = params.validate().into_iter().next() {
        return Err(violation.into());
    }
    check_leverage(params)?;
    let overflow = |what| Error::Overflow(what);
    let equity_for_sizing = equity.max(Decimal::ZERO);
    let margin_budget = equity_for_sizing
        .checked_mul(
            params
                .target_utilization
                .min(Decimal::ONE - params.reserve_ratio),
        )
        .ok_or(overflow("margin budget"))?
        .max(Decimal::ZERO);
    let reserve = equity_for_sizing
        .checked_mul(params.reserve_ratio)
        .ok_or(overflow("reserve"))?;
    let pair_margin_cap = equity_for_sizing
        .checked_mul(params.max_pair_fraction)
        .ok_or(overflow("pair cap"))?
        .max(Decimal::ZERO);
    let max_position_notional = notional_for_margin(margin_budget, params)?;
    let pair_notional_cap = notional_for_margin(pair_margin_cap, params)?;

    let mut remaining = max_position_notional;
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for symbol in ranked {
        if !seen.insert(symbol) {
            skipped.push((symbol.clone(), SkipReason::Duplicate));
            continue;
        }
        if targets.len() >= max_pairs as usize {
            skipped.push((symbol.clone(), SkipReason::MaxPairs));
            continue;
        }
        let available = pair_notional_cap.min(remaining);
        if available < params.min_position_usdt || available <= Decimal::ZERO {
            skipped.push((symbol.clone(), SkipReason::BelowMinPosition { available }));
            continue;
        }
        remaining -= available;
        targets.push(PairTarget {
            symbol: symbol.clone(),
            notional: available,
            margin: margin_for_notional(available, params)?,
        });
    }

    let total_notional: Decimal = targets.iter().map(|t| t.notional).sum();
    let total_margin: Decimal = targets.iter().map(|t| t.margin).sum();
    let utilization = if equity > Decimal::ZERO {
        total_margin.checked_div(equity).unwrap_or(Decimal::ZERO)
    } else {
        Decimal::ZERO
    };
    Ok(Allocation {
        equity,
        margin_budget,
        reserve,
        max_position_notional,
        pair_notional_cap,
        targets,
        skipped,
        total_notional,
        total_margin,
        utilization,
        below_min_utilization: utilization < params.min_utilization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn symbols(names: &[&str]) -> Vec<Symbol> {
        names.iter().map(|n| Symbol::parse(n).unwrap()).collect()
    }

    #[test]
    fn design_formula_for_100k() {
        let params = CapitalParams::default();
        let ranked = symbols(&["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
        let a = allocate(dec!(100_000), &ranked, &params, 10).unwrap();
        // 100k * 0.85 * 5 / 1.15 = 369 565.217... -> floored to cents
        assert_eq!(a.max_position_notional, dec!(369_565.21));
        // 100k * 0.30 * 5 / 1.15 = 130 434.782...
        assert_eq!(a.pair_notional_cap, dec!(130_434.78));
        assert_eq!(a.reserve, dec!(10_000));
        let notionals: Vec<Decimal> = a.targets.iter().map(|t| t.notional).collect();
        assert_eq!(
            notionals,
            vec![dec!(130_434.78), dec!(130_434.78), dec!(108_695.65)]
        );
        assert_eq!(a.skipped.len(), 1);
        assert!(matches!(
            a.skipped[0].1,
            SkipReason::BelowMinPosition { .. }
        ));
        assert!(a.total_margin <= dec!(85_000));
        assert!(a.utilization > dec!(0.8499));
        assert!(!a.below_min_utilization);
    }

    #[test]
    fn two_pairs_cannot_reach_target_utilization() {
        let a = allocate(
            dec!(100_000),
            &symbols(&["BTCUSDT", "ETHUSDT"]),
            &CapitalParams::default(),
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
            &symbols(&["BTCUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"]),
            &CapitalParams::default(),
            2,
        )
        .unwrap();
        assert_eq!(a.targets.len(), 2);
        assert_eq!(a.skipped[0].1, SkipReason::Duplicate);
        assert_eq!(a.skipped[1].1, SkipReason::MaxPairs);
    }

    #[test]
    fn small_or_negative_equity() {
        let params = CapitalParams::default();
        // 1000 equity: pair cap 1304.34, max position 3695.65 -> 1304.34 + 1304.34 + 1086.97
        let ranked = symbols(&["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
        let small = allocate(dec!(1000), &ranked, &params, 10).unwrap();
        assert_eq!(small.targets.len(), 3);
        assert_eq!(small.targets[2].notional, dec!(1086.97));
        // 300 equity: the pair cap (391.30) is below the 1000 USDT minimum position
        let tiny = allocate(dec!(300), &ranked, &params, 10).unwrap();
        assert!(tiny.targets.is_empty());
        let broke = allocate(dec!(-5), &symbols(&["BTCUSDT"]), &params, 10).unwrap();
        assert!(broke.targets.is_empty());
        assert_eq!(broke.utilization, Decimal::ZERO);
    }

    #[test]
    fn absurd_equity_errors_instead_of_panicking() {
        let result = allocate(
            Decimal::MAX,
            &symbols(&["BTCUSDT"]),
            &CapitalParams::default(),
            1,
        );
        assert!(matches!(result, Err(Error::Overflow(_))));
        let large = allocate(
            dec!(1_000_000_000_000_000),
            &symbols(&["BTCUSDT"]),
            &CapitalParams::default(),
            1,
        )
        .unwrap();
        assert_eq!(large.targets.len(), 1);
    }

    #[test]
    fn leverage_outside_bounds_is_rejected() {
        let params = CapitalParams {
            leverage: dec!(11),
            ..CapitalParams::default()
        };
        assert!(matches!(
            allocate(dec!(1000), &[], &params, 1),
            Err(Error::InvalidParams { key, .. }) if key == "capital.leverage"
        ));
    }

    proptest! {
        #[test]
        fn allocation_respects_budget_reserve_and_pair_cap(
            equity_cents in 0i64..100_000_000_000,
            pairs in 0usize..12,
            max_pairs in 1u32..10,
            leverage in 3i64..=10,
            buffer_pct in 0i64..50,
            utilization_pct in 10i64..=90,
            pair_pct in 5i64..=100,
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
            let equity = Decimal::new(equity_cents, 2);
            let ranked: Vec<Symbol> =
                (0..pairs).map(|i| Symbol::parse(&format!("P{i}USDT")).unwrap()).collect();
            let a = allocate(equity, &ranked, &params, max_pairs).unwrap();
            let factor = Decimal::ONE + params.buffer;
            // equity minus reserve, in margin terms: sum(notional) * (1 + buffer) / leverage
            let deployable = equity * (Decimal::ONE - params.reserve_ratio);
            prop_assert!(a.total_notional * factor <= deployable * params.leverage);
            prop_assert!(a.total_notional * factor <= equity * params.target_utilization * params.leverage);
            for t in &a.targets {
                prop_assert!(t.notional * factor <= equity * params.max_pair_fraction * params.leverage);
                prop_assert!(t.notional >= params.min_position_usdt);
            }
            prop_assert!(a.targets.len() <= max_pairs as usize);
        }
    }
}

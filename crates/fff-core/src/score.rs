//! Pair scoring: a weighted sum of four components, each normalised to `[0, 1]`.
//!
//! - **funding**: `min(1, max(0, net_carry) / funding_score_cap)`, where net carry per period is
//!   |funding| for positive carry and |funding| − borrow for negative carry.
//! - **volume**: log scale between a floor and a reference,
//!   `clamp(ln(V / floor) / ln(ref / floor), 0, 1)`; doubling volume adds a constant amount.
//! - **stability**: inverse funding volatility, `min(1, stability_ref_stddev / σ)` with σ the
//!   sample standard deviation of the normalised funding history (σ = 0 scores 1; fewer than
//!   `stability_min_samples` samples score 0, because unknown is not stable).
//! - **spread**: inverse spread, `min(1, spread_score_ref / spread)` (zero spread scores 1, an
//!   invalid book 0).
//!
//! `total = Σ wᵢ·cᵢ / Σ wᵢ`, so it stays in `[0, 1]` even if the weights do not sum to 1
//! (with the default weights 0.4/0.3/0.2/0.1 the division is by 1).

use rust_decimal::{Decimal, MathematicalOps};
use serde::Serialize;

use crate::market::MarketSnapshot;
use crate::params::PairSelectionParams;
use crate::types::Symbol;

/// Every score component, its inputs, and the weighted total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreBreakdown {
    /// The symbol scored.
    pub symbol: Symbol,
    /// Net carry per normalisation period that fed the funding component.
    pub net_carry: Decimal,
    /// Sample standard deviation of normalised funding; `None` with too few samples.
    pub funding_stddev: Option<Decimal>,
    /// Funding component in `[0, 1]`.
    pub funding: Decimal,
    /// Volume component in `[0, 1]`.
    pub volume: Decimal,
    /// Stability component in `[0, 1]`.
    pub stability: Decimal,
    /// Spread component in `[0, 1]`.
    pub spread: Decimal,
    /// Weighted total in `[0, 1]`.
    pub total: Decimal,
}

/// Score one snapshot. Qualification is separate: score only pairs that passed.
pub fn score(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> ScoreBreakdown {
    let period = params.rate_period_hours;
    let net_carry = snapshot.net_carry_per_period(period);
    let funding = ratio_capped(net_carry.max(Decimal::ZERO), params.funding_score_cap);
    let volume = volume_component(
        snapshot.volume_24h_usd,
        params.volume_score_floor_usd,
        params.volume_score_ref_usd,
    );
    let history = snapshot.funding_history_per_period(period);
    let funding_stddev = if history.len() >= params.stability_min_samples.max(2) as usize {
        sample_stddev(&history)
    } else {
        None
    };
    let stability = match funding_stddev {
        Some(sigma) => inverse_capped(params.stability_ref_stddev, sigma),
        None => Decimal::ZERO,
    };
    let spread = match snapshot.relative_spread() {
        Some(spread) => inverse_capped(params.spread_score_ref, spread),
        None => Decimal::ZERO,
    };
    let weights = [
        (params.weight_funding, funding),
        (params.weight_volume, volume),
        (params.weight_stability, stability),
        (params.weight_spread, spread),
    ];
    let weight_sum: Decimal = weights.iter().map(|(w, _)| (*w).max(Decimal::ZERO)).sum();
    let weighted: Decimal = weights
        .iter()
        .map(|(w, c)| (*w).max(Decimal::ZERO).saturating_mul(*c))
        .sum();
    let total = weighted
        .checked_div(weight_sum)
        .unwrap_or(Decimal::ZERO)
        .min(Decimal::ONE);
    ScoreBreakdown {
        symbol: snapshot.symbol.clone(),
        net_carry,
        funding_stddev,
        funding,
        volume,
        stability,
        spread,
        total,
    }
}

/// `clamp(value / cap, 0, 1)`; zero for a non-positive cap.
fn ratio_capped(value: Decimal, cap: Decimal) -> Decimal {
    if cap <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    value
        .checked_div(cap)
        .unwrap_or(Decimal::ONE)
        .clamp(Decimal::ZERO, Decimal::ONE)
}

/// `min(1, reference / value)`: 1 for `value <= reference` (including zero), 0 for a
/// non-positive reference.
fn inverse_capped(reference: Decimal, value: Decimal) -> Decimal {
    if reference <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    if value <= reference {
        return Decimal::ONE;
    }
    reference.checked_div(value).unwrap_or(Decimal::ZERO)
}

fn volume_component(volume: Decimal, floor: Decimal, reference: Decimal) -> Decimal {
    if floor <= Decimal::ZERO || reference <= floor || volume <= floor {
        return Decimal::ZERO;
    }
    if volume >= reference {
        return Decimal::ONE;
    }
    let span = reference.checked_div(floor).and_then(|r| r.checked_ln());
    let position = volume.checked_div(floor).and_then(|r| r.checked_ln());
    match (position, span) {
        (Some(position), Some(span)) if span > Decimal::ZERO => position
            .checked_div(span)
            .unwrap_or(Decimal::ZERO)
            .clamp(Decimal::ZERO, Decimal::ONE),
        _ => Decimal::ZERO,
    }
}

/// Sample (n − 1) standard deviation; `None` below two samples or on overflow.
pub fn sample_stddev(values: &[Decimal]) -> Option<Decimal> {
    if values.len() < 2 {
        return None;
    }
    let count = Decimal::from(values.len());
    let mut sum = Decimal::ZERO;
    for value in values {
        sum = sum.checked_add(*value)?;
    }
    let mean = sum.checked_div(count)?;
    let mut squares = Decimal::ZERO;
    for value in values {
        let deviation = value.checked_sub(mean)?;
        squares = squares.checked_add(deviation.checked_mul(deviation)?)?;
    }
    squares.checked_div(count - Decimal::ONE)?.sqrt()
}

/// Rank scores best first; ties broken by symbol so the order is deterministic.
pub fn rank(mut scores: Vec<ScoreBreakdown>) -> Vec<ScoreBreakdown> {
    scores.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.symbol.cmp(&b.symbol)));
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::fixtures;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn btc_fixture_components() {
        let breakdown = score(&fixtures::btc(), &PairSelectionParams::default());
        // net carry 0.03 % against a 0.1 % cap
        assert_eq!(breakdown.funding, dec!(0.3));
        // 12 B is above the 10 B reference
        assert_eq!(breakdown.volume, Decimal::ONE);
        // history 1,2,3,2 (x1e-4): sigma = 0.0000816..., ref 0.00005 -> 0.612...
        let sigma = breakdown.funding_stddev.unwrap();
        assert!((sigma - dec!(0.0000816497)).abs() < dec!(0.0000000001));
        assert!((breakdown.stability - dec!(0.6123724)).abs() < dec!(0.000001));
        // spread 0.2 / 100000 = 0.000002 < ref 0.00002
        assert_eq!(breakdown.spread, Decimal::ONE);
        let expected =
            dec!(0.4) * dec!(0.3) + dec!(0.3) + dec!(0.2) * breakdown.stability + dec!(0.1);
        assert_eq!(breakdown.total, expected);
    }

    #[test]
    fn volume_is_log_scaled() {
        // 1 B is halfway (in log terms) between 100 M and 10 B
        assert_eq!(
            volume_component(dec!(1_000_000_000), dec!(100_000_000), dec!(10_000_000_000))
                .round_dp(6),
            dec!(0.5)
        );
        assert_eq!(
            volume_component(dec!(50_000_000), dec!(100_000_000), dec!(10_000_000_000)),
            Decimal::ZERO
        );
    }

    #[test]
    fn short_or_flat_history() {
        let params = PairSelectionParams::default();
        let sparse = MarketSnapshot {
            funding_history: vec![dec!(0.0001)],
            ..fixtures::btc()
        };
        assert_eq!(score(&sparse, &params).stability, Decimal::ZERO);
        let flat = MarketSnapshot {
            funding_history: vec![dec!(0.0001); 5],
            ..fixtures::btc()
        };
        assert_eq!(score(&flat, &params).stability, Decimal::ONE);
    }

    #[test]
    fn rank_orders_by_total_then_symbol() {
        let params = PairSelectionParams::default();
        let strong = score(&fixtures::btc(), &params);
        let weak = score(
            &MarketSnapshot {
                symbol: Symbol::parse("ETHUSDT").unwrap(),
                funding_rate: dec!(0.00015),
                ..fixtures::btc()
            },
            &params,
        );
        let ranked = rank(vec![weak.clone(), strong.clone()]);
        assert_eq!(ranked[0].symbol, strong.symbol);
        assert_eq!(ranked[1].symbol, weak.symbol);
    }

    proptest! {
        #[test]
        fn components_stay_in_unit_interval(
            funding in -100_000i64..100_000,
            volume in 0i64..1_000_000_000_000,
            bid in 1i64..1_000_000,
            spread_ticks in 0i64..1000,
            history in proptest::collection::vec(-100_000i64..100_000, 0..10),
        ) {
            let snapshot = MarketSnapshot {
                funding_rate: Decimal::new(funding, 8),
                volume_24h_usd: Decimal::from(volume),
                best_bid: Decimal::new(bid, 2),
                best_ask: Decimal::new(bid + spread_ticks, 2),
                funding_history: history.into_iter().map(|h| Decimal::new(h, 8)).collect(),
                ..fixtures::btc()
            };
            let b = score(&snapshot, &PairSelectionParams::default());
            for c in [b.funding, b.volume, b.stability, b.spread, b.total] {
                prop_assert!(c >= Decimal::ZERO && c <= Decimal::ONE, "{c}");
            }
        }
    }
}

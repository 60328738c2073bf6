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
//!
//! Precision: a score only ranks pairs, it never becomes an amount of money, so the volume
//! logarithm, the standard deviation, the spread ratio and the weighted sum run in `f64`
//! (Decimal `ln`/`sqrt` made scoring the bulk of a full scan). Each Decimal input is converted
//! once; the thresholds that decide a component's branch (volume floor/reference, book validity)
//! and the funding component, a plain ratio of money rates, stay Decimal. The breakdown still
//! reports Decimal fields, converted back from `f64` (shortest round-trip form), so its readers
//! are unchanged; a property test pins the ranking to the former all-Decimal formula (equal up
//! to totals closer than 1e-9, which rank by symbol as exact ties do).

use rust_decimal::prelude::FromPrimitive;
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

/// The scoring parameters converted to `f64` once, to score many snapshots with the same
/// [`PairSelectionParams`] (a full scan) without converting them again per symbol.
#[derive(Debug, Clone)]
pub struct Scorer<'a> {
    params: &'a PairSelectionParams,
    /// Non-negative weights: funding, volume, stability, spread.
    weights: [f64; 4],
    weight_sum: f64,
    /// `ln(ref / floor)`, when the volume band is valid (`0 < floor < ref`).
    volume_log_span: Option<f64>,
    volume_floor: f64,
    stability_ref: f64,
    spread_ref: f64,
    min_samples: usize,
}

impl<'a> Scorer<'a> {
    /// Converts the scoring parameters of `params`.
    pub fn new(params: &'a PairSelectionParams) -> Self {
        let weights = [
            params.weight_funding,
            params.weight_volume,
            params.weight_stability,
            params.weight_spread,
        ]
        .map(|weight| weight.max(Decimal::ZERO).as_f64());
        let floor = params.volume_score_floor_usd;
        let reference = params.volume_score_ref_usd;
        let volume_log_span = if floor > Decimal::ZERO && reference > floor {
            Some((reference.as_f64() / floor.as_f64()).ln()).filter(|span| *span > 0.0)
        } else {
            None
        };
        Self {
            params,
            weights,
            weight_sum: weights.iter().sum(),
            volume_log_span,
            volume_floor: floor.as_f64(),
            stability_ref: params.stability_ref_stddev.as_f64(),
            spread_ref: params.spread_score_ref.as_f64(),
            min_samples: params.stability_min_samples.max(2) as usize,
        }
    }

    /// Score one snapshot (see the module documentation).
    pub fn score(&self, snapshot: &MarketSnapshot) -> ScoreBreakdown {
        let params = self.params;
        let period = params.rate_period_hours;
        let net_carry = snapshot.net_carry_per_period(period);
        let funding = ratio_capped(net_carry.max(Decimal::ZERO), params.funding_score_cap);
        let volume = self.volume_component(snapshot.volume_24h_usd);
        let funding_stddev = if snapshot.funding_history.len() >= self.min_samples {
            // normalising each rate to the period scales σ by the same factor
            let to_period = f64::from(period) / f64::from(snapshot.funding_interval.hours());
            sample_stddev_f64(&snapshot.funding_history).map(|sigma| sigma * to_period)
        } else {
            None
        };
        let stability = match funding_stddev {
            Some(sigma) => inverse_capped(self.stability_ref, sigma),
            None => 0.0,
        };
        let spread = match relative_spread_f64(snapshot.best_bid, snapshot.best_ask) {
            Some(spread) => inverse_capped(self.spread_ref, spread),
            None => 0.0,
        };
        let components = [funding.as_f64(), volume, stability, spread];
        let total = if self.weight_sum > 0.0 {
            let weighted: f64 = self
                .weights
                .iter()
                .zip(components)
                .map(|(weight, component)| weight * component)
                .sum();
            (weighted / self.weight_sum).clamp(0.0, 1.0)
        } else {
            0.0
        };
        ScoreBreakdown {
            symbol: snapshot.symbol.clone(),
            net_carry,
            funding_stddev: funding_stddev.and_then(Decimal::from_f64),
            funding,
            volume: to_decimal(volume),
            stability: to_decimal(stability),
            spread: to_decimal(spread),
            total: to_decimal(total),
        }
    }

    /// `clamp(ln(V / floor) / ln(ref / floor), 0, 1)`; 0 at or below the floor (or for an
    /// invalid band), 1 at or above the reference. The band edges compare in Decimal.
    fn volume_component(&self, volume: Decimal) -> f64 {
        let Some(span) = self.volume_log_span else {
            return 0.0;
        };
        if volume <= self.params.volume_score_floor_usd {
            return 0.0;
        }
        if volume >= self.params.volume_score_ref_usd {
            return 1.0;
        }
        let position = (volume.as_f64() / self.volume_floor).ln() / span;
        if position.is_finite() {
            position.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Score one snapshot. Qualification is separate: score only pairs that passed.
///
/// Converts the parameters on each call; use a [`Scorer`] to score many snapshots.
pub fn score(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> ScoreBreakdown {
    Scorer::new(params).score(snapshot)
}

/// A component or total back in Decimal for the breakdown; non-finite values (impossible for
/// clamped components) report 0.
fn to_decimal(value: f64) -> Decimal {
    Decimal::from_f64(value).unwrap_or(Decimal::ZERO)
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
fn inverse_capped(reference: f64, value: f64) -> f64 {
    if reference <= 0.0 {
        return 0.0;
    }
    if value <= reference {
        return 1.0;
    }
    (reference / value).clamp(0.0, 1.0)
}

/// [`crate::market::relative_spread`] in `f64`: `(ask - bid) / mid`, `None` for an empty or
/// crossed book (checked in Decimal). The difference is taken in Decimal, exactly, so a tight
/// book on a large price loses no digits to cancellation.
fn relative_spread_f64(best_bid: Decimal, best_ask: Decimal) -> Option<f64> {
    if best_bid <= Decimal::ZERO || best_ask < best_bid {
        return None;
    }
    let width = best_ask.checked_sub(best_bid)?.as_f64();
    let mid = (best_bid.as_f64() + best_ask.as_f64()) / 2.0;
    let spread = width / mid;
    spread.is_finite().then_some(spread)
}

/// Sample (n − 1) standard deviation in `f64`; `None` below two samples. Deviations are
/// taken from the first value before the mean, so a flat history is exactly 0.
fn sample_stddev_f64(values: &[Decimal]) -> Option<f64> {
    let (first, rest) = values.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let origin = first.as_f64();
    let count = values.len() as f64;
    let mean = rest
        .iter()
        .map(|value| value.as_f64() - origin)
        .sum::<f64>()
        / count;
    let squares: f64 = values
        .iter()
        .map(|value| {
            let deviation = value.as_f64() - origin - mean;
            deviation * deviation
        })
        .sum();
    let sigma = (squares / (count - 1.0)).sqrt();
    sigma.is_finite().then_some(sigma)
}

/// Sample (n − 1) standard deviation; `None` below two samples or on overflow.
///
/// Exact Decimal version, for callers that need one; scoring uses an `f64` one.
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

/// The all-Decimal scoring formula this module used before the `f64` one, kept as the
/// reference the ranking is tested against.
#[cfg(test)]
mod decimal_reference {
    use super::*;

    /// The former `score(..).total`.
    pub(super) fn total(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> Decimal {
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
        weighted
            .checked_div(weight_sum)
            .unwrap_or(Decimal::ZERO)
            .min(Decimal::ONE)
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::fixtures;
    use crate::types::FundingInterval;
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
        // summed in f64 (see the module documentation): equal within f64 rounding
        assert!((breakdown.total - expected).abs() < dec!(0.000000000000001));
    }

    #[test]
    fn volume_is_log_scaled() {
        let params = PairSelectionParams {
            volume_score_floor_usd: dec!(100_000_000),
            volume_score_ref_usd: dec!(10_000_000_000),
            ..PairSelectionParams::default()
        };
        let scorer = Scorer::new(&params);
        // 1 B is halfway (in log terms) between 100 M and 10 B
        assert!((scorer.volume_component(dec!(1_000_000_000)) - 0.5).abs() < 1e-12);
        assert!(scorer.volume_component(dec!(50_000_000)).abs() < f64::EPSILON);
        assert!((scorer.volume_component(dec!(10_000_000_000)) - 1.0).abs() < f64::EPSILON);
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
        assert_eq!(score(&flat, &params).funding_stddev, Some(Decimal::ZERO));
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

    /// Totals closer than this are treated as ties when comparing the `f64` ranking with the
    /// Decimal one (each side breaks its ties by symbol).
    const TIE_TOLERANCE: Decimal = dec!(0.000000001);

    /// Every pair the Decimal formula separates by more than [`TIE_TOLERANCE`] ranks the same
    /// way with the `f64` formula, and the totals agree within it.
    fn assert_same_ranking(snapshots: &[MarketSnapshot], params: &PairSelectionParams) {
        let scorer = Scorer::new(params);
        let totals: Vec<(Decimal, Decimal)> = snapshots
            .iter()
            .map(|s| (decimal_reference::total(s, params), scorer.score(s).total))
            .collect();
        for (i, (reference, ours)) in totals.iter().enumerate() {
            assert!(
                (*reference - *ours).abs() <= TIE_TOLERANCE,
                "{}: decimal {reference} vs f64 {ours}",
                snapshots[i].symbol
            );
            for (j, (other_reference, other_ours)) in totals.iter().enumerate() {
                if *reference > *other_reference + TIE_TOLERANCE {
                    assert!(
                        ours > other_ours,
                        "{} ({reference} / {ours}) must outrank {} ({other_reference} / {other_ours})",
                        snapshots[i].symbol,
                        snapshots[j].symbol
                    );
                }
            }
        }
    }

    #[test]
    fn fixture_ranking_matches_the_decimal_formula_exactly() {
        let params = PairSelectionParams::default();
        // history in units of 0.0001
        let variant =
            |symbol: &str, funding: Decimal, volume: i64, history: &[i64]| MarketSnapshot {
                symbol: Symbol::parse(symbol).unwrap(),
                funding_rate: funding,
                volume_24h_usd: Decimal::from(volume),
                funding_history: history.iter().map(|h| Decimal::new(*h, 4)).collect(),
                ..fixtures::btc()
            };
        let snapshots = vec![
            fixtures::btc(),
            variant("ETHUSDT", dec!(0.00015), 12_000_000_000, &[]),
            variant("AAAUSDT", dec!(0.00005), 5_000_000_000, &[1, 1, 1, 1, 1]),
            variant("CCCUSDT", dec!(0.0003), 5_000_000_000, &[1]),
            variant("DDDUSDT", dec!(0.0005), 5_000_000_000, &[4, 9, 6, 5]),
            variant("EEEUSDT", dec!(-0.0004), 300_000_000, &[-3, 1, -4, -4]),
            variant("FFFUSDT", dec!(0.0003), 2_000_000_000, &[2, 3, 3]),
            variant("GGGUSDT", dec!(0.0003), 2_000_000_000, &[2, 3, 3]),
        ];
        let expected: Vec<Symbol> = {
            let mut by_reference: Vec<(Decimal, Symbol)> = snapshots
                .iter()
                .map(|s| (decimal_reference::total(s, &params), s.symbol.clone()))
                .collect();
            by_reference.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            by_reference.into_iter().map(|(_, symbol)| symbol).collect()
        };
        let ours: Vec<Symbol> = rank(snapshots.iter().map(|s| score(s, &params)).collect())
            .into_iter()
            .map(|b| b.symbol)
            .collect();
        assert_eq!(ours, expected);
        assert_same_ranking(&snapshots, &params);
    }

    fn arbitrary_snapshot() -> impl Strategy<Value = MarketSnapshot> {
        (
            -200_000i64..200_000,
            prop::sample::select(vec![1u32, 4, 8]),
            0i64..40_000_000_000,
            1i64..10_000_000,
            0i64..2_000,
            0i64..2_000,
            proptest::collection::vec(-100_000i64..100_000, 0..12),
        )
            .prop_map(
                |(funding, interval, volume, bid, spread_ticks, borrow, history)| MarketSnapshot {
                    funding_rate: Decimal::new(funding, 8),
                    funding_interval: FundingInterval::from_hours(interval).unwrap(),
                    volume_24h_usd: Decimal::from(volume),
                    best_bid: Decimal::new(bid, 2),
                    best_ask: Decimal::new(bid + spread_ticks, 2),
                    borrow_rate_hourly: Decimal::new(borrow, 8),
                    funding_history: history.into_iter().map(|h| Decimal::new(h, 8)).collect(),
                    ..fixtures::btc()
                },
            )
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

        #[test]
        fn f64_ranking_matches_the_decimal_formula(
            snapshots in proptest::collection::vec(arbitrary_snapshot(), 2..24),
            volume_floor in 1i64..500,
            volume_span in 2i64..200,
        ) {
            let params = PairSelectionParams {
                volume_score_floor_usd: Decimal::from(volume_floor * 1_000_000),
                volume_score_ref_usd: Decimal::from(volume_floor * volume_span * 1_000_000),
                ..PairSelectionParams::default()
            };
            let snapshots: Vec<MarketSnapshot> = snapshots
                .into_iter()
                .enumerate()
                .map(|(i, s)| MarketSnapshot {
                    symbol: Symbol::parse(&format!("S{i}USDT")).unwrap(),
                    ..s
                })
                .collect();
            assert_same_ranking(&snapshots, &params);
        }
    }
}

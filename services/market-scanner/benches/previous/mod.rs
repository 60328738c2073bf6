//! The scan as fff-core ran it on 2026-12-03, kept as the scan bench's in-run baseline for
//! `full_scan/core_scan`: the full qualification report per symbol (seven checks, their
//! formatted details), the `f64` score of that day (each Decimal input converted with
//! `Decimal::as_f64`, the history twice, every component converted back to Decimal) and a
//! sort on the Decimal totals. The scorer is copied from `crates/fff-core/src/score.rs` as it
//! was (fff-core's own tests keep the same copy as the reference of the faster one).

use std::cmp::Ordering;

use fff_core::{MarketSnapshot, PairSelectionParams, Qualification, ScoreBreakdown, qualify};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// One symbol as the former scan kept it.
pub struct Evaluation {
    pub qualification: Qualification,
    pub score: ScoreBreakdown,
}

/// The former `fff_core::scan`.
pub fn scan(snapshots: &[MarketSnapshot], params: &PairSelectionParams) -> Vec<Evaluation> {
    let scorer = Scorer::new(params);
    let mut evaluations: Vec<Evaluation> = snapshots
        .iter()
        .map(|s| Evaluation {
            qualification: qualify(s, params),
            score: scorer.score(s),
        })
        .collect();
    evaluations.sort_by(|a, b| {
        b.qualification
            .passed
            .cmp(&a.qualification.passed)
            .then_with(|| {
                if a.qualification.passed {
                    b.score.total.cmp(&a.score.total)
                } else {
                    Ordering::Equal
                }
            })
            .then_with(|| a.score.symbol.cmp(&b.score.symbol))
    });
    evaluations
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

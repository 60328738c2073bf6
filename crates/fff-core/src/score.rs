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
//! once ([`decimal_to_f64`], the value of `Decimal::as_f64` without its 128-bit division in
//! the common cases); the thresholds that decide a component's branch (volume floor/reference,
//! book validity) and the funding component, a plain ratio of money rates, stay Decimal. A scan
//! ranks by the `f64` total ([`Scorer::total`]); the Decimal [`ScoreBreakdown`] is made from
//! the same `f64` components, for display only ([`total_to_decimal`], shortest round-trip
//! form). A property test pins the ranking to the former all-Decimal formula (equal up to
//! totals closer than 1e-9, which rank by symbol as exact ties do), another pins every field of
//! the breakdown to the 2026-12-03 implementation.

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

    /// Score one snapshot (see the module documentation), every component reported.
    pub fn score(&self, snapshot: &MarketSnapshot) -> ScoreBreakdown {
        let net_carry = snapshot.net_carry_per_period(self.params.rate_period_hours);
        let c = with_history_f64(&snapshot.funding_history, |history| {
            let spread = relative_spread_f64(snapshot.best_bid, snapshot.best_ask);
            self.components(snapshot, net_carry, history, spread)
        });
        ScoreBreakdown {
            symbol: snapshot.symbol.clone(),
            net_carry,
            funding_stddev: c.funding_stddev.and_then(Decimal::from_f64),
            funding: c.funding,
            volume: to_decimal(c.volume),
            stability: to_decimal(c.stability),
            spread: to_decimal(c.spread),
            total: to_decimal(c.total),
        }
    }

    /// The weighted total of [`Scorer::score`] in `f64`, the ranking key; its Decimal form
    /// ([`total_to_decimal`]) is the breakdown's `total`. `net_carry` is
    /// `snapshot.net_carry_per_period(rate_period_hours)`, `history` the snapshot's funding
    /// history through [`decimal_to_f64`] and `spread` [`relative_spread_f64`] of its book,
    /// as the caller has them already.
    pub(crate) fn total(
        &self,
        snapshot: &MarketSnapshot,
        net_carry: Decimal,
        history: &[f64],
        spread: Option<f64>,
    ) -> f64 {
        self.components(snapshot, net_carry, history, spread).total
    }

    /// Every component in `f64` (the funding one in Decimal too): the one implementation
    /// behind [`Scorer::score`] and [`Scorer::total`].
    fn components(
        &self,
        snapshot: &MarketSnapshot,
        net_carry: Decimal,
        history: &[f64],
        spread: Option<f64>,
    ) -> Components {
        let params = self.params;
        let period = params.rate_period_hours;
        let funding = funding_component(net_carry, params.funding_score_cap);
        let volume = self.volume_component(snapshot.volume_24h_usd);
        let funding_stddev = if history.len() >= self.min_samples {
            // normalising each rate to the period scales σ by the same factor
            let to_period = f64::from(period) / f64::from(snapshot.funding_interval.hours());
            sample_stddev_f64(history).map(|sigma| sigma * to_period)
        } else {
            None
        };
        let stability = match funding_stddev {
            Some(sigma) => inverse_capped(self.stability_ref, sigma),
            None => 0.0,
        };
        let spread = match spread {
            Some(spread) => inverse_capped(self.spread_ref, spread),
            None => 0.0,
        };
        let components = [decimal_to_f64(funding), volume, stability, spread];
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
        Components {
            funding,
            funding_stddev,
            volume,
            stability,
            spread,
            total,
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
        let position = (decimal_to_f64(volume) / self.volume_floor).ln() / span;
        if position.is_finite() {
            position.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// The components of one score, before the breakdown's Decimal conversion.
struct Components {
    funding: Decimal,
    funding_stddev: Option<f64>,
    volume: f64,
    stability: f64,
    spread: f64,
    total: f64,
}

/// `ratio_capped(max(net_carry, 0), cap)`, without its division where the result is known:
/// 0 for no carry, 1 for a carry strictly above the cap (the quotient then exceeds 1 and the
/// clamp returns `Decimal::ONE`, as the division would).
fn funding_component(net_carry: Decimal, cap: Decimal) -> Decimal {
    if !is_positive(net_carry) {
        // 0 / cap is `Decimal::ZERO` itself, as is the result for a non-positive cap
        return Decimal::ZERO;
    }
    if is_positive(cap) && net_carry > cap {
        return Decimal::ONE;
    }
    ratio_capped(net_carry, cap)
}

/// `value > 0` from the sign bit and the mantissa (a Decimal comparison aligns scales first).
pub(crate) fn is_positive(value: Decimal) -> bool {
    !value.is_zero() && value.is_sign_positive()
}

/// `value < 0`, likewise.
pub(crate) fn is_negative(value: Decimal) -> bool {
    !value.is_zero() && value.is_sign_negative()
}

/// Powers of ten as `f64`, all exact (5^19 < 2^53): the values `10f64.powi(n)` takes.
const POW10_F64: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// `value.as_f64()`, bit for bit, faster where it matters (every rate, price and volume the
/// exchange sends has a mantissa below 2^50 and a scale of 1 to 19).
///
/// `as_f64` splits the mantissa `m` at the scale `s` with a 128-bit division, adds the two
/// parts and rounds the sum at `s` decimals: `((ip + fp / 10^s) * 10^s).round() / 10^s`, with
/// `10^s` from `powi` (exact up to 10^22). For `m < 2^50` the product before `round` lies
/// within `3u * m < 0.38` of `m` (`u` = 2^-53, three roundings), so `round` returns `m` itself
/// and the result is the quotient `m / 10^s`, correctly rounded: one division. Other values
/// go through `as_f64`. A property test pins the equality.
pub fn decimal_to_f64(value: Decimal) -> f64 {
    /// Below this mantissa the shortcut is exact (see above).
    const EXACT_MANTISSA: u128 = 1 << 50;
    let scale = value.scale() as usize;
    let mantissa = value.mantissa().unsigned_abs();
    if mantissa >= EXACT_MANTISSA || scale >= POW10_F64.len() {
        return value.as_f64();
    }
    if scale == 0 {
        // `as_f64` converts the integer (a negative zero gives +0.0, as here)
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let integer = mantissa as i64;
        #[allow(clippy::cast_precision_loss)] // below 2^50: exact
        return if value.is_sign_negative() {
            -integer as f64
        } else {
            integer as f64
        };
    }
    // below 2^50: exact, and through u64 a single instruction (u128 takes a library call)
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let quotient = (mantissa as u64) as f64 / POW10_F64[scale];
    if value.is_sign_negative() {
        -quotient
    } else {
        quotient
    }
}

/// Runs `f` with `history` through [`decimal_to_f64`], on the stack for the usual lengths.
pub(crate) fn with_history_f64<R>(history: &[Decimal], f: impl FnOnce(&[f64]) -> R) -> R {
    const STACK: usize = 32;
    if history.len() <= STACK {
        let mut buffer = [0.0; STACK];
        for (slot, rate) in buffer.iter_mut().zip(history) {
            *slot = decimal_to_f64(*rate);
        }
        f(&buffer[..history.len()])
    } else {
        let converted: Vec<f64> = history.iter().map(|rate| decimal_to_f64(*rate)).collect();
        f(&converted)
    }
}

/// A total in Decimal, as [`ScoreBreakdown::total`] reports it and the former ranking
/// compared it.
pub fn total_to_decimal(total: f64) -> Decimal {
    to_decimal(total)
}

/// Orders two totals as their Decimal forms ([`total_to_decimal`]) order, which is how the
/// ranking compared them when totals were Decimal: distinct `f64` totals that round to one
/// Decimal tie (and then rank by symbol). Compares the `f64` values where that cannot differ
/// (both at least 1e-6 and apart by more than 1e-12 relative, far beyond the Decimal form's
/// 1.3e-15 relative rounding), and the Decimal forms otherwise.
pub fn cmp_totals(a: f64, b: f64) -> std::cmp::Ordering {
    totals_order(a, b).unwrap_or_else(|| to_decimal(a).cmp(&to_decimal(b)))
}

/// [`cmp_totals`] where the `f64` values settle it, `None` where the Decimal forms must.
pub(crate) fn totals_order(a: f64, b: f64) -> Option<std::cmp::Ordering> {
    #[allow(clippy::float_cmp)] // equal values, the same Decimal form: exactly the point
    if a == b {
        return Some(std::cmp::Ordering::Equal);
    }
    let clearly_apart = a.is_finite()
        && b.is_finite()
        && a.min(b) >= 1e-6
        && (a - b).abs() > 1e-12 * a.abs().max(b.abs());
    clearly_apart.then(|| a.total_cmp(&b))
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
pub(crate) fn relative_spread_f64(best_bid: Decimal, best_ask: Decimal) -> Option<f64> {
    if !is_positive(best_bid) || best_ask < best_bid {
        return None;
    }
    let width = decimal_to_f64(best_ask.checked_sub(best_bid)?);
    let mid = (decimal_to_f64(best_bid) + decimal_to_f64(best_ask)) / 2.0;
    let spread = width / mid;
    spread.is_finite().then_some(spread)
}

/// Sample (n − 1) standard deviation in `f64` of rates already converted; `None` below two
/// samples. Deviations are taken from the first value before the mean, so a flat history is
/// exactly 0.
fn sample_stddev_f64(values: &[f64]) -> Option<f64> {
    let (origin, rest) = values.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let count = values.len() as f64;
    let mean = rest.iter().map(|value| value - origin).sum::<f64>() / count;
    let squares: f64 = values
        .iter()
        .map(|value| {
            let deviation = value - origin - mean;
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

/// The `f64` scoring as it was on 2026-12-03 (each history rate converted twice with
/// `Decimal::as_f64`), kept as the reference the faster conversions are tested against.
#[cfg(test)]
pub(crate) mod previous {
    use super::*;

    /// The former `Scorer::score`, and its `f64` total.
    pub(crate) fn score(scorer: &Scorer<'_>, snapshot: &MarketSnapshot) -> (ScoreBreakdown, f64) {
        let this = scorer;
        let params = this.params;
        let period = params.rate_period_hours;
        let net_carry = snapshot.net_carry_per_period(period);
        let funding = ratio_capped(net_carry.max(Decimal::ZERO), params.funding_score_cap);
        let volume = volume_component(this, snapshot.volume_24h_usd);
        let funding_stddev = if snapshot.funding_history.len() >= this.min_samples {
            // normalising each rate to the period scales σ by the same factor
            let to_period = f64::from(period) / f64::from(snapshot.funding_interval.hours());
            sample_stddev_f64(&snapshot.funding_history).map(|sigma| sigma * to_period)
        } else {
            None
        };
        let stability = match funding_stddev {
            Some(sigma) => inverse_capped(this.stability_ref, sigma),
            None => 0.0,
        };
        let spread = match relative_spread_f64(snapshot.best_bid, snapshot.best_ask) {
            Some(spread) => inverse_capped(this.spread_ref, spread),
            None => 0.0,
        };
        let components = [funding.as_f64(), volume, stability, spread];
        let total = if this.weight_sum > 0.0 {
            let weighted: f64 = this
                .weights
                .iter()
                .zip(components)
                .map(|(weight, component)| weight * component)
                .sum();
            (weighted / this.weight_sum).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (
            ScoreBreakdown {
                symbol: snapshot.symbol.clone(),
                net_carry,
                funding_stddev: funding_stddev.and_then(Decimal::from_f64),
                funding,
                volume: to_decimal(volume),
                stability: to_decimal(stability),
                spread: to_decimal(spread),
                total: to_decimal(total),
            },
            total,
        )
    }

    fn volume_component(this: &Scorer<'_>, volume: Decimal) -> f64 {
        let Some(span) = this.volume_log_span else {
            return 0.0;
        };
        if volume <= this.params.volume_score_floor_usd {
            return 0.0;
        }
        if volume >= this.params.volume_score_ref_usd {
            return 1.0;
        }
        let position = (volume.as_f64() / this.volume_floor).ln() / span;
        if position.is_finite() {
            position.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    fn relative_spread_f64(best_bid: Decimal, best_ask: Decimal) -> Option<f64> {
        if best_bid <= Decimal::ZERO || best_ask < best_bid {
            return None;
        }
        let width = best_ask.checked_sub(best_bid)?.as_f64();
        let mid = (best_bid.as_f64() + best_ask.as_f64()) / 2.0;
        let spread = width / mid;
        spread.is_finite().then_some(spread)
    }

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

/// The faster conversions change no figure: every field of the breakdown and the `f64` total
/// equal the 2026-12-03 implementation's, and totals order as their Decimal forms.
#[cfg(test)]
mod same_as_previous {
    use super::*;
    use crate::market::fixtures;
    use crate::types::FundingInterval;
    use proptest::prelude::*;

    /// Equal fields, equal Display (scale included: the wire shows it), equal total bits.
    fn assert_same(snapshot: &MarketSnapshot, params: &PairSelectionParams) {
        let scorer = Scorer::new(params);
        let ours = scorer.score(snapshot);
        let (theirs, previous_total) = previous::score(&scorer, snapshot);
        assert_eq!(ours, theirs);
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        let net_carry = snapshot.net_carry_per_period(params.rate_period_hours);
        let total = with_history_f64(&snapshot.funding_history, |history| {
            let spread = relative_spread_f64(snapshot.best_bid, snapshot.best_ask);
            scorer.total(snapshot, net_carry, history, spread)
        });
        assert_eq!(
            total.to_bits(),
            previous_total.to_bits(),
            "{}",
            snapshot.symbol
        );
        assert_eq!(
            total_to_decimal(total).to_string(),
            theirs.total.to_string()
        );
    }

    #[test]
    fn conversion_edges_match_as_f64() {
        let edges = [
            Decimal::ZERO,
            Decimal::NEGATIVE_ONE,
            Decimal::new(-0, 5),
            Decimal::from_parts(0, 0, 0, true, 3),
            Decimal::new(1, 19),
            Decimal::new(i64::MAX, 19),
            Decimal::new(i64::MAX, 1),
            Decimal::new(i64::MIN + 1, 7),
            Decimal::from_parts(u32::MAX, u32::MAX, 0, false, 19),
            Decimal::from_parts(u32::MAX, u32::MAX, 0, true, 12),
            Decimal::from_parts(0, 0, 1, false, 12),
            Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX, false, 28),
            Decimal::new(9_999_999_999_999_999, 16),
            Decimal::new(10_000_000_000_000_000, 16),
            Decimal::new(12_345, 20),
            Decimal::new(15, 1),
            Decimal::new(25, 1),
            Decimal::new(-5, 1),
            Decimal::new((1 << 50) - 1, 3),
            Decimal::new(1 << 50, 3),
            Decimal::new(-((1 << 50) - 1), 19),
            Decimal::new((1 << 50) + 1, 1),
            Decimal::MAX,
            Decimal::MIN,
        ];
        for value in edges {
            assert_eq!(
                decimal_to_f64(value).to_bits(),
                value.as_f64().to_bits(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn fixture_breakdowns_are_unchanged() {
        let params = PairSelectionParams::default();
        assert_same(&fixtures::btc(), &params);
        let flat = MarketSnapshot {
            funding_history: vec![Decimal::new(1, 4); 5],
            ..fixtures::btc()
        };
        assert_same(&flat, &params);
        let crossed = MarketSnapshot {
            best_bid: Decimal::from(101),
            best_ask: Decimal::from(100),
            ..fixtures::btc()
        };
        assert_same(&crossed, &params);
    }

    fn arbitrary_decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<bool>(),
                0u32..=28
            )
                .prop_map(|(lo, mid, hi, negative, scale)| {
                    Decimal::from_parts(lo, mid, hi, negative, scale)
                }),
            (-10_000_000i64..10_000_000, 0u32..=12).prop_map(|(m, s)| Decimal::new(m, s)),
            ((1i64 << 49)..(1i64 << 51), 1u32..=19, any::<bool>())
                .prop_map(|(m, s, negative)| Decimal::new(if negative { -m } else { m }, s)),
        ]
    }

    fn arbitrary_snapshot() -> impl Strategy<Value = MarketSnapshot> {
        (
            (-200_000i64..200_000, 0u32..=12),
            1u32..=12,
            prop_oneof![
                (0i64..40_000_000_000).prop_map(Decimal::from),
                arbitrary_decimal()
            ],
            (1i64..10_000_000_000, 0u32..=8),
            0i64..2_000,
            0i64..2_000,
            proptest::collection::vec((-100_000i64..100_000, 0u32..=12), 0..30),
        )
            .prop_map(
                |(funding, interval, volume, bid, spread_ticks, borrow, history)| MarketSnapshot {
                    funding_rate: Decimal::new(funding.0, funding.1 + 4),
                    funding_interval: FundingInterval::from_hours(interval).unwrap(),
                    volume_24h_usd: volume,
                    best_bid: Decimal::new(bid.0, bid.1),
                    best_ask: Decimal::new(bid.0 + spread_ticks, bid.1),
                    borrow_rate_hourly: Decimal::new(borrow, 8),
                    funding_history: history
                        .into_iter()
                        .map(|(h, scale)| Decimal::new(h, scale + 4))
                        .collect(),
                    ..fixtures::btc()
                },
            )
    }

    proptest! {
        #[test]
        fn conversion_matches_as_f64(value in arbitrary_decimal()) {
            prop_assert_eq!(decimal_to_f64(value).to_bits(), value.as_f64().to_bits());
        }

        #[test]
        fn breakdown_matches_the_previous_scorer(
            snapshot in arbitrary_snapshot(),
            volume_floor in 1i64..500,
            volume_span in 2i64..200,
            cap in 1i64..100,
            min_samples in 0u32..5,
            period in 1u32..24,
        ) {
            let params = PairSelectionParams {
                volume_score_floor_usd: Decimal::from(volume_floor * 1_000_000),
                volume_score_ref_usd: Decimal::from(volume_floor * volume_span * 1_000_000),
                funding_score_cap: Decimal::new(cap, 4),
                stability_min_samples: min_samples,
                rate_period_hours: period,
                ..PairSelectionParams::default()
            };
            assert_same(&snapshot, &params);
        }

        #[test]
        fn totals_order_as_their_decimal_forms(
            a in 0.0f64..=1.0,
            steps in -40i64..40,
            tiny in any::<bool>(),
        ) {
            let a = if tiny { a * 1e-9 } else { a };
            // neighbours a few ulps away, where Decimal forms collide
            let b = f64::from_bits(a.to_bits().saturating_add_signed(steps)).clamp(0.0, 1.0);
            let c = a * (1.0 + 1e-11);
            for (x, y) in [(a, b), (b, a), (a, c), (c, a), (a, a * 0.5)] {
                prop_assert_eq!(
                    cmp_totals(x, y),
                    total_to_decimal(x).cmp(&total_to_decimal(y)),
                    "{} {}", x, y
                );
            }
        }
    }
}

//! Pair qualification: every filter evaluated and reported, never short-circuited, so an
//! operator can see all the reasons a pair is in or out.
//!
//! Two forms of one decision: [`qualify`] reports every check with its observed value,
//! threshold and a formatted explanation (for `ExplainPair` and the backtester); a scan only
//! needs which checks failed, and a [`Qualifier`] gives that [`Verdict`] without formatting or
//! allocating. The verdict is exact, not approximate: the comparisons that need a division
//! or a sum over the funding history (spread, net of cost) are first made in `f64` with a
//! rigorous error bound and redone with `qualify`'s own Decimal arithmetic whenever the bound
//! does not settle them; property tests pin the verdict to `qualify` on random and
//! on-the-threshold inputs.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::admission::expected_hold_hours;
use crate::market::MarketSnapshot;
use crate::params::PairSelectionParams;
use crate::score::{decimal_to_f64, is_negative, is_positive};
use crate::types::{Direction, Symbol};

/// The filters, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CheckName {
    /// 24h volume strictly above `min_volume_24h_usd`.
    Volume24h,
    /// |funding| (normalised) strictly above `min_abs_funding_rate`.
    FundingRate,
    /// Relative spread strictly below `max_spread`.
    Spread,
    /// Open interest strictly above `min_open_interest_usd`.
    OpenInterest,
    /// Spot margin (borrowing) available, when `require_margin`.
    MarginEnabled,
    /// Negative funding only: |funding| strictly above borrow x `borrow_safety_margin`.
    BorrowCover,
    /// Expected carry over the holding horizon repays the round trip of both legs by
    /// `admission_margin` (see [`crate::admission`]).
    NetOfCost,
}

impl CheckName {
    /// Every check, in report order.
    pub const ALL: [Self; 7] = [
        Self::Volume24h,
        Self::FundingRate,
        Self::Spread,
        Self::OpenInterest,
        Self::MarginEnabled,
        Self::BorrowCover,
        Self::NetOfCost,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Stable snake_case name for reports and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volume24h => "volume_24h",
            Self::FundingRate => "funding_rate",
            Self::Spread => "spread",
            Self::OpenInterest => "open_interest",
            Self::MarginEnabled => "margin_enabled",
            Self::BorrowCover => "borrow_cover",
            Self::NetOfCost => "net_of_cost",
        }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluated filter. Booleans are reported as 1/0 in `observed`/`threshold`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterCheck {
    /// Which filter.
    pub name: CheckName,
    /// The measured value.
    pub observed: Decimal,
    /// The configured limit it was compared with.
    pub threshold: Decimal,
    /// Whether the filter passed.
    pub passed: bool,
    /// Human-readable explanation (lowercase).
    pub detail: String,
}

/// The outcome for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qualification {
    /// The symbol evaluated.
    pub symbol: Symbol,
    /// The hedge that would collect the current funding.
    pub direction: Option<Direction>,
    /// True when every check passed.
    pub passed: bool,
    /// All checks, in [`CheckName`] order.
    pub checks: Vec<FilterCheck>,
}

impl Qualification {
    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &FilterCheck> {
        self.checks.iter().filter(|check| !check.passed)
    }
}

/// A set of checks, iterated in report order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CheckSet(u8);

impl CheckSet {
    /// No check.
    pub const EMPTY: Self = Self(0);

    /// Adds `name`.
    pub fn insert(&mut self, name: CheckName) {
        self.0 |= name.bit();
    }

    /// Whether `name` is in the set.
    pub fn contains(self, name: CheckName) -> bool {
        self.0 & name.bit() != 0
    }

    /// True without checks.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The checks in the set, in report order.
    pub fn iter(self) -> impl Iterator<Item = CheckName> {
        CheckName::ALL
            .into_iter()
            .filter(move |name| self.contains(*name))
    }
}

impl FromIterator<CheckName> for CheckSet {
    fn from_iter<I: IntoIterator<Item = CheckName>>(names: I) -> Self {
        let mut set = Self::EMPTY;
        for name in names {
            set.insert(name);
        }
        set
    }
}

/// The decision of [`qualify`] without its report: the direction and the checks that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// The hedge that would collect the current funding.
    pub direction: Option<Direction>,
    /// The checks that failed, in report order.
    pub failed: CheckSet,
}

impl Verdict {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.failed.is_empty()
    }
}

impl Qualification {
    /// The decision alone.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            direction: self.direction,
            failed: self.failures().map(|check| check.name).collect(),
        }
    }
}

/// Relative error allowed for an `f64` comparison before it is redone in Decimal, against the
/// magnitude of the terms behind the figure: at least 100 times their worst rounding (a few
/// `f64` roundings of 1.1e-16 per term, up to [`HISTORY_LIMIT`] terms; Decimal's at 28 digits).
const REL_TOLERANCE: f64 = 1e-9;
/// Absolute error allowed likewise: Decimal rounds at the 28th decimal place.
const ABS_TOLERANCE: f64 = 1e-20;
/// Magnitudes beyond this (saturating Decimal arithmetic, absurd inputs) go to Decimal.
const MAGNITUDE_LIMIT: f64 = 1e12;
/// Longer histories go to Decimal (the error bound grows with the terms summed).
const HISTORY_LIMIT: usize = 100_000;

/// The parameters [`Qualifier::verdict`] compares with, converted once for a scan.
#[derive(Debug, Clone)]
pub struct Qualifier<'a> {
    params: &'a PairSelectionParams,
    max_spread: f64,
    predicted_weight: f64,
    history_weight: f64,
    /// `2 x (spot fee + perp fee)`, and its magnitude.
    fees: (f64, f64),
    slippage: f64,
    admission_margin: f64,
    period: f64,
}

impl<'a> Qualifier<'a> {
    /// Converts the thresholds of `params`.
    pub fn new(params: &'a PairSelectionParams) -> Self {
        let (spot, perp) = (
            decimal_to_f64(params.spot_fee_rate),
            decimal_to_f64(params.perp_fee_rate),
        );
        Self {
            params,
            max_spread: decimal_to_f64(params.max_spread),
            predicted_weight: decimal_to_f64(params.predicted_weight),
            history_weight: decimal_to_f64(Decimal::ONE.saturating_sub(params.predicted_weight)),
            fees: (2.0 * (spot + perp), 2.0 * (spot.abs() + perp.abs())),
            slippage: decimal_to_f64(params.slippage_rate),
            admission_margin: decimal_to_f64(params.admission_margin),
            period: f64::from(params.rate_period_hours),
        }
    }

    /// The verdict of [`qualify`] on `snapshot`, without its report.
    pub fn verdict(&self, snapshot: &MarketSnapshot) -> Verdict {
        let funding = snapshot.funding_per_period(self.params.rate_period_hours);
        crate::score::with_history_f64(&snapshot.funding_history, |history| {
            let spread = crate::score::relative_spread_f64(snapshot.best_bid, snapshot.best_ask);
            self.verdict_with(snapshot, snapshot.direction(), funding, history, spread)
        })
    }

    /// [`Qualifier::verdict`] with what a scan has computed already: `direction` is
    /// `snapshot.direction()`, `funding` `snapshot.funding_per_period(rate_period_hours)`,
    /// `history` the funding history through
    /// [`decimal_to_f64`], `spread` the book's relative spread in `f64`
    /// (`score::relative_spread_f64`).
    pub(crate) fn verdict_with(
        &self,
        snapshot: &MarketSnapshot,
        direction: Option<Direction>,
        funding: Decimal,
        history: &[f64],
        spread: Option<f64>,
    ) -> Verdict {
        let params = self.params;
        let abs_funding = funding.abs();
        let mut failed = CheckSet::EMPTY;
        let mut check = |passed: bool, name: CheckName| {
            if !passed {
                failed.insert(name);
            }
        };
        check(
            snapshot.volume_24h_usd > params.min_volume_24h_usd,
            CheckName::Volume24h,
        );
        check(
            abs_funding > params.min_abs_funding_rate,
            CheckName::FundingRate,
        );
        let spread = self.spread(snapshot, spread);
        check(
            spread.is_some_and(|(_, below_max)| below_max),
            CheckName::Spread,
        );
        check(
            snapshot.open_interest_usd > params.min_open_interest_usd,
            CheckName::OpenInterest,
        );
        check(
            snapshot.margin_enabled || !params.require_margin,
            CheckName::MarginEnabled,
        );
        if is_negative(funding) {
            let required = snapshot
                .borrow_per_period(params.rate_period_hours)
                .saturating_mul(params.borrow_safety_margin);
            check(abs_funding > required, CheckName::BorrowCover);
        }
        let admitted = direction.is_some_and(|direction| {
            self.admitted(
                snapshot,
                direction,
                funding,
                history,
                spread.map(|(s, _)| s),
            )
            .unwrap_or_else(|| crate::admission::estimate_for(snapshot, direction, params).admitted)
        });
        check(admitted, CheckName::NetOfCost);
        Verdict { direction, failed }
    }

    /// The relative spread (`f64`, within 1e-14 relative of the Decimal one) and whether it is
    /// below `max_spread` (exact); `None` for an invalid book, as
    /// [`MarketSnapshot::relative_spread`].
    fn spread(&self, snapshot: &MarketSnapshot, spread: Option<f64>) -> Option<(f64, bool)> {
        let (bid, ask) = (snapshot.best_bid, snapshot.best_ask);
        if !is_positive(bid) || ask < bid {
            return None;
        }
        if let Some(spread) = spread
            && decimal_to_f64(ask) < MAGNITUDE_LIMIT
        {
            // |f64 - Decimal| < 1e-14 relative: a few roundings of the conversions and the
            // quotient, the width being exact
            if let Some(below) = settled(spread, self.max_spread, spread.abs()) {
                return Some((spread, below == std::cmp::Ordering::Less));
            }
        }
        let exact = snapshot.relative_spread()?;
        Some((decimal_to_f64(exact), exact < self.params.max_spread))
    }

    /// Whether the net-of-cost estimate admits the pair ([`crate::admission::estimate_for`]),
    /// computed in `f64` with a bound on its distance to the Decimal figure; `None` when the
    /// bound does not settle it (or an input is out of the bound's range).
    fn admitted(
        &self,
        snapshot: &MarketSnapshot,
        direction: Direction,
        funding: Decimal,
        history: &[f64],
        spread: Option<f64>,
    ) -> Option<bool> {
        let params = self.params;
        let sign = match direction {
            Direction::PositiveCarry => 1.0,
            Direction::NegativeCarry => -1.0,
        };
        let n = history.len();
        if n > HISTORY_LIMIT || params.rate_period_hours == 0 {
            return None;
        }
        // every term below carries its magnitude: the f64 figure is within
        // (terms x a few ulps) x magnitude of the Decimal one, far below REL_TOLERANCE
        let to_period = self.period / f64::from(snapshot.funding_interval.hours());
        let predicted = sign * decimal_to_f64(funding);
        let (mut total, mut total_magnitude, mut paid) = (0.0, 0.0, 0usize);
        for rate in history {
            let normalized = rate * to_period;
            if *rate != 0.0 && normalized.abs() < 1e-24 {
                // Decimal might round this one to zero: its sign is not certain
                return None;
            }
            let favoured = sign * normalized;
            if favoured > 0.0 {
                paid += 1;
            }
            total += favoured;
            total_magnitude += normalized.abs();
        }
        if !in_range(total_magnitude) {
            // Decimal's sum might saturate
            return None;
        }
        let (level, level_magnitude, stability) = if n == 0 {
            (predicted / 2.0, predicted.abs() / 2.0, 1.0)
        } else {
            let count = n as f64;
            let mean = total / count;
            (
                self.predicted_weight * predicted + self.history_weight * mean,
                (self.predicted_weight * predicted).abs()
                    + (self.history_weight * total_magnitude / count).abs(),
                paid as f64 / count,
            )
        };
        let borrow = match direction {
            Direction::NegativeCarry => {
                decimal_to_f64(snapshot.borrow_per_period(params.rate_period_hours))
            }
            Direction::PositiveCarry => 0.0,
        };
        // which branch Decimal takes must be certain
        let shrunk = match settled(level, 0.0, level_magnitude)? {
            std::cmp::Ordering::Greater => level * stability,
            _ => level,
        };
        let expected = shrunk - borrow;
        let expected_magnitude = level_magnitude + borrow.abs();
        let horizon = expected_hold_hours(n - paid, n, snapshot.funding_interval.hours(), params);
        let periods = f64::from(horizon) / self.period;
        let spread = spread.unwrap_or(0.0);
        let round_trip = self.fees.0 + 4.0 * (spread.max(0.0) / 2.0 + self.slippage);
        let round_trip_magnitude = self.fees.1 + 4.0 * (spread.abs() / 2.0 + self.slippage.abs());
        let margin = expected * periods - round_trip;
        let magnitude = expected_magnitude * periods + round_trip_magnitude;
        if !in_range(magnitude) || !in_range(predicted) {
            return None;
        }
        // Decimal rounds each step at 1e-28, scaled by up to `periods` after the product
        let absolute = ABS_TOLERANCE * (1.0 + periods);
        let order = settled_with(margin, self.admission_margin, magnitude, absolute)?;
        Some(order != std::cmp::Ordering::Less)
    }
}

/// Whether `value` is finite and below [`MAGNITUDE_LIMIT`] in size.
fn in_range(value: f64) -> bool {
    value.abs() < MAGNITUDE_LIMIT
}

/// How `value` compares with `threshold` when `value` may be off by the tolerance of a figure
/// of `magnitude`; `None` when it is too close to tell.
fn settled(value: f64, threshold: f64, magnitude: f64) -> Option<std::cmp::Ordering> {
    settled_with(value, threshold, magnitude, ABS_TOLERANCE)
}

fn settled_with(
    value: f64,
    threshold: f64,
    magnitude: f64,
    absolute: f64,
) -> Option<std::cmp::Ordering> {
    let tolerance = REL_TOLERANCE * (magnitude.abs() + threshold.abs()) + absolute;
    let gap = value - threshold;
    if gap > tolerance {
        Some(std::cmp::Ordering::Greater)
    } else if gap < -tolerance {
        Some(std::cmp::Ordering::Less)
    } else {
        // also NaN
        None
    }
}

fn flag(value: bool) -> Decimal {
    if value { Decimal::ONE } else { Decimal::ZERO }
}

/// Evaluate every filter for `snapshot`.
pub fn qualify(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> Qualification {
    let period = params.rate_period_hours;
    let funding = snapshot.funding_per_period(period);
    let abs_funding = funding.abs();
    let mut checks = Vec::with_capacity(7);

    checks.push(FilterCheck {
        name: CheckName::Volume24h,
        observed: snapshot.volume_24h_usd,
        threshold: params.min_volume_24h_usd,
        passed: snapshot.volume_24h_usd > params.min_volume_24h_usd,
        detail: format!("24h volume must exceed {} usd", params.min_volume_24h_usd),
    });

    checks.push(FilterCheck {
        name: CheckName::FundingRate,
        observed: abs_funding,
        threshold: params.min_abs_funding_rate,
        passed: abs_funding > params.min_abs_funding_rate,
        detail: format!(
            "|funding| per {period}h must exceed the minimum (raw {} per {}h)",
            snapshot.funding_rate,
            snapshot.funding_interval.hours()
        ),
    });

    checks.push(match snapshot.relative_spread() {
        Some(spread) => FilterCheck {
            name: CheckName::Spread,
            observed: spread,
            threshold: params.max_spread,
            passed: spread < params.max_spread,
            detail: "(ask - bid) / mid must be below the maximum".to_owned(),
        },
        None => FilterCheck {
            name: CheckName::Spread,
            observed: Decimal::ZERO,
            threshold: params.max_spread,
            passed: false,
            detail: format!(
                "invalid book: bid {} ask {}",
                snapshot.best_bid, snapshot.best_ask
            ),
        },
    });

    checks.push(FilterCheck {
        name: CheckName::OpenInterest,
        observed: snapshot.open_interest_usd,
        threshold: params.min_open_interest_usd,
        passed: snapshot.open_interest_usd > params.min_open_interest_usd,
        detail: format!(
            "open interest must exceed {} usd",
            params.min_open_interest_usd
        ),
    });

    checks.push(FilterCheck {
        name: CheckName::MarginEnabled,
        observed: flag(snapshot.margin_enabled),
        threshold: flag(params.require_margin),
        passed: snapshot.margin_enabled || !params.require_margin,
        detail: if params.require_margin {
            "spot cross margin must be enabled".to_owned()
        } else {
            "spot cross margin not required".to_owned()
        },
    });

    let borrow = snapshot.borrow_per_period(period);
    let required = borrow.saturating_mul(params.borrow_safety_margin);
    checks.push(if funding < Decimal::ZERO {
        FilterCheck {
            name: CheckName::BorrowCover,
            observed: abs_funding,
            threshold: required,
            passed: abs_funding > required,
            detail: format!(
                "negative funding must exceed borrow {borrow} per {period}h x safety margin {}",
                params.borrow_safety_margin
            ),
        }
    } else {
        FilterCheck {
            name: CheckName::BorrowCover,
            observed: abs_funding,
            threshold: Decimal::ZERO,
            passed: true,
            detail: "not applicable: non-negative funding needs no borrow".to_owned(),
        }
    });

    checks.push(match crate::admission::estimate(snapshot, params) {
        Some(e) => FilterCheck {
            name: CheckName::NetOfCost,
            observed: e.margin,
            threshold: e.required_margin,
            passed: e.admitted,
            detail: format!(
                "expected carry {} over {}h ({} per {period}h: predicted {}, settled mean {}, \
                 stability {}, borrow {}) minus round trip {} must reach the margin",
                e.expected_carry.round_dp(6),
                e.horizon_hours,
                e.expected_per_period.round_dp(8),
                e.predicted.round_dp(8),
                e.history_mean
                    .map_or_else(|| "none".to_owned(), |m| m.round_dp(8).to_string()),
                e.stability.round_dp(4),
                e.borrow.round_dp(8),
                e.round_trip_cost.round_dp(6),
            ),
        },
        None => FilterCheck {
            name: CheckName::NetOfCost,
            observed: Decimal::ZERO,
            threshold: params.admission_margin,
            passed: false,
            detail: "zero funding earns nothing".to_owned(),
        },
    });

    Qualification {
        symbol: snapshot.symbol.clone(),
        direction: snapshot.direction(),
        passed: checks.iter().all(|check| check.passed),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::fixtures;
    use crate::types::FundingInterval;
    use rust_decimal_macros::dec;

    fn check(q: &Qualification, name: CheckName) -> &FilterCheck {
        q.checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn good_pair_passes_all_seven_checks() {
        let q = qualify(&fixtures::btc(), &PairSelectionParams::default());
        assert!(q.passed, "{:?}", q.failures().collect::<Vec<_>>());
        assert_eq!(q.checks.len(), 7);
        assert_eq!(q.direction, Some(Direction::PositiveCarry));
    }

    #[test]
    fn every_check_is_listed_even_when_all_fail() {
        let snapshot = MarketSnapshot {
            funding_rate: dec!(-0.00005),
            volume_24h_usd: dec!(100_000_000), // not strictly above
            best_bid: dec!(100),
            best_ask: dec!(100.03), // ~0.03 %
            open_interest_usd: dec!(10_000_000),
            margin_enabled: false,
            borrow_rate_hourly: dec!(0.00001), // 0.008 % per 8 h, x1.5 = 0.012 %
            ..fixtures::btc()
        };
        let q = qualify(&snapshot, &PairSelectionParams::default());
        assert!(!q.passed);
        assert_eq!(q.failures().count(), 7);
        assert_eq!(check(&q, CheckName::BorrowCover).threshold, dec!(0.00012));
    }

    #[test]
    fn design_thresholds_are_strict() {
        let params = PairSelectionParams::default();
        let snapshot = MarketSnapshot {
            funding_rate: dec!(0.0001), // exactly 0.01 %: not above
            ..fixtures::btc()
        };
        let q = qualify(&snapshot, &params);
        assert!(!check(&q, CheckName::FundingRate).passed);
        // the same rate on a 1h interval is 0.08 % per 8 h
        let hourly = MarketSnapshot {
            funding_interval: FundingInterval::ONE_HOUR,
            ..snapshot
        };
        let q = qualify(&hourly, &params);
        assert_eq!(check(&q, CheckName::FundingRate).observed, dec!(0.0008));
        assert!(q.passed);
    }

    #[test]
    fn negative_funding_must_beat_borrow_with_margin() {
        let params = PairSelectionParams::default();
        // borrow 0.00001/h -> 0.00008 per 8 h -> required 0.00012
        let covered = MarketSnapshot {
            funding_rate: dec!(-0.00013),
            borrow_rate_hourly: dec!(0.00001),
            funding_history: vec![dec!(-0.0007); 6],
            ..fixtures::btc()
        };
        assert!(qualify(&covered, &params).passed);
        let uncovered = MarketSnapshot {
            funding_rate: dec!(-0.00011),
            ..covered
        };
        let q = qualify(&uncovered, &params);
        assert!(!q.passed);
        let failed: Vec<CheckName> = q.failures().map(|c| c.name).collect();
        assert_eq!(failed, vec![CheckName::BorrowCover]);
    }

    #[test]
    fn a_rate_that_cannot_repay_the_round_trip_is_not_admitted() {
        let params = PairSelectionParams::default();
        // above the 0.01 % minimum, but 0.011 % per 8 h earns 0.46 % in two weeks even if it
        // persists, short of a 0.38 % round trip + 0.2 % margin; a history at 0.005 % that
        // paid against the hedge twice in six settlements (a two-week hold at most) drags it
        // further below
        let thin = MarketSnapshot {
            funding_rate: dec!(0.00011),
            funding_history: vec![
                dec!(0.00005),
                dec!(-0.00005),
                dec!(0.00005),
                dec!(-0.00005),
                dec!(0.00005),
                dec!(0.00005),
            ],
            ..fixtures::btc()
        };
        let q = qualify(&thin, &params);
        let failed: Vec<CheckName> = q.failures().map(|c| c.name).collect();
        assert_eq!(failed, vec![CheckName::NetOfCost]);
        let net = check(&q, CheckName::NetOfCost);
        assert!(net.detail.contains("round trip"), "{}", net.detail);
    }

    #[test]
    fn crossed_book_fails_spread() {
        let snapshot = MarketSnapshot {
            best_bid: dec!(101),
            best_ask: dec!(100),
            ..fixtures::btc()
        };
        let q = qualify(&snapshot, &PairSelectionParams::default());
        assert!(!check(&q, CheckName::Spread).passed);
    }
}

/// [`Qualifier::verdict`] decides as [`qualify`] does, on random inputs and on inputs placed on
/// the thresholds, where the `f64` comparisons must hand over to Decimal.
#[cfg(test)]
mod verdict_tests {
    use super::*;
    use crate::admission::estimate;
    use crate::market::fixtures;
    use crate::types::FundingInterval;
    use proptest::prelude::*;

    fn assert_same_verdict(snapshot: &MarketSnapshot, params: &PairSelectionParams) {
        let report = qualify(snapshot, params);
        let verdict = Qualifier::new(params).verdict(snapshot);
        assert_eq!(verdict, report.verdict(), "{snapshot:?}");
        assert_eq!(verdict.passed(), report.passed);
    }

    #[test]
    fn fixture_verdicts() {
        let params = PairSelectionParams::default();
        assert_same_verdict(&fixtures::btc(), &params);
        let failing = MarketSnapshot {
            funding_rate: Decimal::new(-5, 5),
            volume_24h_usd: Decimal::from(100_000_000),
            best_bid: Decimal::from(101),
            best_ask: Decimal::from(100),
            margin_enabled: false,
            borrow_rate_hourly: Decimal::new(1, 5),
            ..fixtures::btc()
        };
        assert_same_verdict(&failing, &params);
        let zero = MarketSnapshot {
            funding_rate: Decimal::ZERO,
            ..fixtures::btc()
        };
        assert_same_verdict(&zero, &params);
    }

    #[test]
    fn check_sets_iterate_in_report_order() {
        let set: CheckSet = [
            CheckName::NetOfCost,
            CheckName::Volume24h,
            CheckName::Spread,
        ]
        .into_iter()
        .collect();
        let names: Vec<CheckName> = set.iter().collect();
        assert_eq!(
            names,
            [
                CheckName::Volume24h,
                CheckName::Spread,
                CheckName::NetOfCost
            ]
        );
        assert!(CheckSet::EMPTY.is_empty() && !set.is_empty());
    }

    /// The thresholds set to the snapshot's own exact figures, and one unit of the 28th
    /// decimal either side: only Decimal can tell these apart.
    fn on_the_edges(snapshot: &MarketSnapshot, params: &PairSelectionParams) {
        let ulp = Decimal::new(1, 28);
        assert_same_verdict(snapshot, params);
        if let Some(spread) = snapshot.relative_spread() {
            for max_spread in [spread, spread + ulp, spread - ulp] {
                let params = PairSelectionParams {
                    max_spread,
                    ..params.clone()
                };
                assert_same_verdict(snapshot, &params);
            }
        }
        if let Some(e) = estimate(snapshot, params) {
            for admission_margin in [e.margin, e.margin + ulp, e.margin - ulp] {
                let params = PairSelectionParams {
                    admission_margin,
                    ..params.clone()
                };
                assert_same_verdict(snapshot, &params);
            }
        }
    }

    #[test]
    fn fixture_on_the_edges() {
        on_the_edges(&fixtures::btc(), &PairSelectionParams::default());
        // a level of exactly zero: the stability branch is Decimal's to decide
        let balanced = MarketSnapshot {
            funding_rate: Decimal::new(1, 4),
            funding_history: vec![Decimal::new(-1, 4), Decimal::new(-1, 4)],
            ..fixtures::btc()
        };
        on_the_edges(&balanced, &PairSelectionParams::default());
        // rates Decimal rounds to zero once normalised
        let tiny = MarketSnapshot {
            funding_rate: Decimal::new(3, 4),
            funding_interval: FundingInterval::from_hours(97).unwrap(),
            funding_history: vec![
                Decimal::new(1, 28),
                Decimal::new(-1, 28),
                Decimal::new(3, 4),
            ],
            ..fixtures::btc()
        };
        on_the_edges(&tiny, &PairSelectionParams::default());
    }

    fn arbitrary_snapshot() -> impl Strategy<Value = MarketSnapshot> {
        (
            (-200_000i64..200_000, 0u32..=12),
            1u32..=12,
            0i64..400_000_000,
            (1i64..10_000_000_000, 0u32..=8),
            0i64..2_000,
            (0i64..2_000, any::<bool>()),
            proptest::collection::vec((-100_000i64..100_000, 0u32..=20), 0..30),
            0i64..200_000_000,
        )
            .prop_map(
                |(funding, interval, volume, bid, spread_ticks, borrow, history, oi)| {
                    MarketSnapshot {
                        funding_rate: Decimal::new(funding.0, funding.1 + 4),
                        funding_interval: FundingInterval::from_hours(interval).unwrap(),
                        volume_24h_usd: Decimal::from(volume),
                        best_bid: Decimal::new(bid.0, bid.1),
                        best_ask: Decimal::new(bid.0 + spread_ticks, bid.1),
                        open_interest_usd: Decimal::from(oi),
                        margin_enabled: borrow.1,
                        borrow_rate_hourly: Decimal::new(borrow.0, 8),
                        funding_history: history
                            .into_iter()
                            .map(|(h, scale)| Decimal::new(h, scale + 4))
                            .collect(),
                        ..fixtures::btc()
                    }
                },
            )
    }

    fn arbitrary_params() -> impl Strategy<Value = PairSelectionParams> {
        (
            (1u32..24, 0i64..20, 0i64..50),
            (1i64..100, 1i64..40, 0i64..=10),
            (168u32..2_000, 1u32..4, any::<bool>()),
        )
            .prop_map(
                |((period, min_funding, max_spread), (margin, slippage, weight), hold)| {
                    PairSelectionParams {
                        rate_period_hours: period,
                        min_abs_funding_rate: Decimal::new(min_funding, 5),
                        max_spread: Decimal::new(max_spread, 5),
                        admission_margin: Decimal::new(margin, 5),
                        slippage_rate: Decimal::new(slippage, 5),
                        predicted_weight: Decimal::new(weight, 1),
                        max_holding_horizon_hours: hold.0,
                        hold_ends_after_settlements: hold.1,
                        require_margin: hold.2,
                        ..PairSelectionParams::default()
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn verdict_matches_qualify(
            snapshot in arbitrary_snapshot(),
            params in arbitrary_params(),
        ) {
            assert_same_verdict(&snapshot, &params);
        }

        #[test]
        fn verdict_matches_qualify_on_the_edges(
            snapshot in arbitrary_snapshot(),
            params in arbitrary_params(),
        ) {
            on_the_edges(&snapshot, &params);
        }
    }
}

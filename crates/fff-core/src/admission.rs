//! Net-of-cost admission: a pair is worth entering only when the carry it is expected to earn
//! over a holding horizon pays for the round trip of both legs with a margin to spare.
//!
//! Expected carry per normalisation period, in the hedge's favour (positive = it earns):
//!
//! ```text
//! level     = w × predicted + (1 − w) × mean(settled history)       (w = predicted_weight)
//! stability = share of settled rates that paid this direction        (1 without history)
//! expected  = level × stability − borrow (negative carry only)
//! carry     = expected × horizon_hours / rate_period_hours
//! ```
//!
//! The horizon is the pair's expected holding time, between `holding_horizon_hours` and
//! `max_holding_horizon_hours`. A hold ends when `k = hold_ends_after_settlements` settlements
//! in a row pay against the hedge (the rebalancer's reversal rule). With `q` the chance that a
//! settlement pays against, estimated from the settled history with one pseudo-count each way
//! (`q = (against + 1) / (n + 2)`, so a short history cannot claim certainty), the expected
//! number of settlements until `k` in a row is `(1 − q^k) / ((1 − q) q^k)`, times the funding
//! interval. A pair that has paid the same way in all of 21 settlements (`q` = 1/23) is expected
//! to be held for months; one that paid 15 of 21 (`q` = 0.3) for under five days, so the floor
//! applies. Without history the floor applies.
//!
//! The stability factor shrinks pairs whose funding keeps changing sign: their carry is less
//! likely to persist, and each reversal forces a costly exit. Without settled history the
//! predicted rate alone counts, halved (a listing's first rates say little about persistence).
//!
//! Round trip, as a fraction of notional: entering and leaving both legs once,
//! `2 × (spot_fee + perp_fee) + 4 × (spread / 2 + slippage)`. Universal transfers between the
//! wallets are free on Binance, so they add nothing.
//!
//! Admitted when `carry − round_trip ≥ admission_margin`.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::market::MarketSnapshot;
use crate::params::PairSelectionParams;
use crate::types::Direction;

/// The admission arithmetic for one pair, for decisions and for `ExplainPair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarryEstimate {
    /// The direction that collects the current funding.
    pub direction: Direction,
    /// Predicted funding per period, in the direction's favour.
    pub predicted: Decimal,
    /// Mean settled funding per period, in the direction's favour (`None` without history).
    pub history_mean: Option<Decimal>,
    /// Share of settled rates that paid this direction.
    pub stability: Decimal,
    /// Borrow cost per period (negative carry only, else 0).
    pub borrow: Decimal,
    /// Expected net carry per period.
    pub expected_per_period: Decimal,
    /// The holding horizon counted on, hours (see the module doc).
    pub horizon_hours: u32,
    /// Normalisation periods in the holding horizon.
    pub periods: Decimal,
    /// Expected carry over the horizon, fraction of notional.
    pub expected_carry: Decimal,
    /// Round trip of both legs, fraction of notional.
    pub round_trip_cost: Decimal,
    /// `expected_carry − round_trip_cost`.
    pub margin: Decimal,
    /// The margin required (`admission_margin`).
    pub required_margin: Decimal,
    /// `margin ≥ required_margin`.
    pub admitted: bool,
}

/// Round trip of both legs as a fraction of notional, with `spread` the relative spread of the
/// book (0 when unknown).
pub fn round_trip_cost(spread: Decimal, params: &PairSelectionParams) -> Decimal {
    // saturating: market data is untrusted input and must never panic the core
    let per_crossing =
        (spread.max(Decimal::ZERO) / Decimal::TWO).saturating_add(params.slippage_rate);
    Decimal::TWO
        .saturating_mul(params.spot_fee_rate.saturating_add(params.perp_fee_rate))
        .saturating_add(Decimal::from(4).saturating_mul(per_crossing))
}

/// `rate` in `direction`'s favour: funding paid to the hedge is positive.
fn favour(direction: Direction, rate: Decimal) -> Decimal {
    match direction {
        Direction::PositiveCarry => rate,
        Direction::NegativeCarry => -rate,
    }
}

fn div(a: Decimal, b: Decimal) -> Decimal {
    a.checked_div(b).unwrap_or_default()
}

/// Expected carry and admission of `snapshot` facing `direction`.
pub fn estimate_for(
    snapshot: &MarketSnapshot,
    direction: Direction,
    params: &PairSelectionParams,
) -> CarryEstimate {
    let period = params.rate_period_hours;
    let predicted = favour(direction, snapshot.funding_per_period(period));
    let history: Vec<Decimal> = snapshot
        .funding_history_per_period(period)
        .into_iter()
        .map(|r| favour(direction, r))
        .collect();
    let (history_mean, stability, level) = if history.is_empty() {
        (None, Decimal::ONE, div(predicted, Decimal::TWO))
    } else {
        let n = Decimal::from(history.len());
        let total = history
            .iter()
            .fold(Decimal::ZERO, |sum, r| sum.saturating_add(*r));
        let mean = div(total, n);
        let paid = Decimal::from(history.iter().filter(|r| **r > Decimal::ZERO).count());
        let w = params.predicted_weight;
        (
            Some(mean),
            div(paid, n),
            w.saturating_mul(predicted)
                .saturating_add((Decimal::ONE - w).saturating_mul(mean)),
        )
    };
    let borrow = match direction {
        Direction::NegativeCarry => snapshot.borrow_per_period(period),
        Direction::PositiveCarry => Decimal::ZERO,
    };
    // a losing level is not made less bad by instability
    let shrunk = if level > Decimal::ZERO {
        level.saturating_mul(stability)
    } else {
        level
    };
    let expected_per_period = shrunk.saturating_sub(borrow);
    let horizon_hours = expected_hold_hours(
        history.iter().filter(|r| **r <= Decimal::ZERO).count(),
        history.len(),
        snapshot.funding_interval.hours(),
        params,
    );
    let periods = div(Decimal::from(horizon_hours), Decimal::from(period.max(1)));
    let expected_carry = expected_per_period.saturating_mul(periods);
    let spread = snapshot.relative_spread().unwrap_or_default();
    let round_trip_cost = round_trip_cost(spread, params);
    let margin = expected_carry.saturating_sub(round_trip_cost);
    CarryEstimate {
        direction,
        predicted,
        history_mean,
        stability,
        borrow,
        expected_per_period,
        horizon_hours,
        periods,
        expected_carry,
        round_trip_cost,
        margin,
        required_margin: params.admission_margin,
        admitted: margin >= params.admission_margin,
    }
}

/// Expected holding time in hours of a pair whose settled history has `against` of `n`
/// settlements paying against the hedge, settling every `interval_hours`; see the module doc.
pub fn expected_hold_hours(
    against: usize,
    n: usize,
    interval_hours: u32,
    params: &PairSelectionParams,
) -> u32 {
    let floor = params.holding_horizon_hours;
    let cap = params.max_holding_horizon_hours.max(floor);
    if n == 0 || cap == floor {
        return floor;
    }
    // f64 is fine here: a horizon is an estimate that only ranks against a floor and a cap
    let q = (against as f64 + 1.0) / (n as f64 + 2.0);
    let k = i32::try_from(params.hold_ends_after_settlements.max(1)).unwrap_or(1);
    let qk = q.powi(k);
    let settlements = (1.0 - qk) / ((1.0 - q) * qk);
    let hours = settlements * f64::from(interval_hours.max(1));
    if !hours.is_finite() || hours >= f64::from(cap) {
        return cap;
    }
    // truncation is fine: the value lies in [0, cap)
    (hours as u32).max(floor)
}

/// [`estimate_for`] the direction that collects the current funding; `None` at zero funding.
pub fn estimate(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> Option<CarryEstimate> {
    snapshot
        .direction()
        .map(|direction| estimate_for(snapshot, direction, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::fixtures;
    use rust_decimal_macros::dec;

    /// A two-week floor and the persistence estimate on, capped at 90 days.
    fn params() -> PairSelectionParams {
        PairSelectionParams {
            holding_horizon_hours: 336,
            max_holding_horizon_hours: 2160,
            ..PairSelectionParams::default()
        }
    }

    /// The persistence estimate off: every pair counts on the two-week floor.
    fn two_weeks() -> PairSelectionParams {
        PairSelectionParams {
            max_holding_horizon_hours: 336,
            ..params()
        }
    }

    #[test]
    fn the_shipped_defaults_count_on_one_week() {
        let d = PairSelectionParams::default();
        assert_eq!(expected_hold_hours(0, 21, 8, &d), 168);
    }

    #[test]
    fn round_trip_at_vip0_costs() {
        // 2 x (0.1 % + 0.05 %) + 4 x (0.01 % / 2 + 0.02 %) = 0.3 % + 0.1 %
        assert_eq!(round_trip_cost(dec!(0.0001), &params()), dec!(0.0040));
        assert_eq!(round_trip_cost(dec!(-1), &params()), dec!(0.0038));
    }

    #[test]
    fn steady_funding_that_repays_the_round_trip_is_admitted() {
        let mut s = fixtures::btc();
        s.funding_rate = dec!(0.0003); // per 8 h
        s.funding_history = vec![dec!(0.0003); 9];
        let e = estimate(&s, &two_weeks()).unwrap();
        assert_eq!(e.stability, dec!(1));
        // 42 periods of 0.03 % in two weeks = 1.26 % > round trip + margin
        assert_eq!(e.expected_carry, dec!(0.0126));
        assert!(e.admitted, "{e:?}");
        // nine settlements all paid: q = 1/11, about 132 settlements expected (1056 h)
        let e = estimate(&s, &params()).unwrap();
        assert_eq!(e.horizon_hours, 1056);
        assert_eq!(e.expected_carry, dec!(0.0396));
    }

    #[test]
    fn funding_that_cannot_repay_the_round_trip_is_refused() {
        let mut s = fixtures::btc();
        // 0.005 % per 8 h: 0.21 % in two weeks, below the 0.4 % round trip
        s.funding_rate = dec!(0.00005);
        s.funding_history = vec![dec!(0.00005); 9];
        let e = estimate(&s, &two_weeks()).unwrap();
        assert!(!e.admitted, "{e:?}");
        assert!(e.margin < Decimal::ZERO);
    }

    #[test]
    fn a_sign_flipping_history_is_shrunk_and_a_spike_alone_is_halved() {
        let mut flappy = fixtures::btc();
        flappy.funding_rate = dec!(0.001);
        flappy.funding_history = vec![dec!(0.001), dec!(-0.001), dec!(0.001), dec!(-0.001)];
        let e = estimate(&flappy, &params()).unwrap();
        assert_eq!(e.stability, dec!(0.5));
        assert_eq!(e.history_mean, Some(dec!(0)));
        // level 0.5 x 0.1 % = 0.05 %, shrunk by half
        assert_eq!(e.expected_per_period, dec!(0.00025));
        let mut fresh = fixtures::btc();
        fresh.funding_rate = dec!(0.001);
        fresh.funding_history = vec![];
        assert_eq!(
            estimate(&fresh, &params()).unwrap().expected_per_period,
            dec!(0.0005)
        );
    }

    #[test]
    fn a_persistent_pair_counts_on_a_longer_hold_a_flappy_one_on_the_floor() {
        let p = params();
        // no history: the floor
        assert_eq!(expected_hold_hours(0, 0, 8, &p), 336);
        // 21 of 21 paid: q = 1/23, (1 - q^2) / ((1 - q) q^2) = 552 settlements: capped
        assert_eq!(expected_hold_hours(0, 21, 8, &p), 2160);
        // 2 of 21 against: q = 3/23, about 66 settlements = 531 h
        assert_eq!(expected_hold_hours(2, 21, 8, &p), 531);
        // 6 of 21 against: q = 7/23, about 14 settlements: below the floor
        assert_eq!(expected_hold_hours(6, 21, 8, &p), 336);
        // the cap equal to the floor turns the estimate off
        let off = PairSelectionParams {
            max_holding_horizon_hours: 336,
            ..params()
        };
        assert_eq!(expected_hold_hours(0, 21, 8, &off), 336);
    }

    #[test]
    fn a_low_but_steady_rate_is_admitted_for_its_long_hold() {
        // 0.005 % per 8 h: refused over two weeks, admitted when 21 settlements all paid
        let mut s = fixtures::btc();
        s.funding_rate = dec!(0.00005);
        s.funding_history = vec![dec!(0.00005); 21];
        let e = estimate(&s, &params()).unwrap();
        assert_eq!(e.horizon_hours, 2160);
        assert!(e.admitted, "{e:?}");
        // the same level with a third of the settlements against is refused
        let mut flappy = s.clone();
        for r in flappy.funding_history.iter_mut().step_by(3) {
            *r = dec!(-0.00005);
        }
        let e = estimate(&flappy, &params()).unwrap();
        assert_eq!(e.horizon_hours, 336);
        assert!(!e.admitted, "{e:?}");
    }

    #[test]
    fn negative_carry_pays_borrow_for_the_whole_horizon() {
        let mut s = fixtures::btc();
        s.funding_rate = dec!(-0.0004);
        s.funding_history = vec![dec!(-0.0004); 6];
        s.borrow_rate_hourly = dec!(0.00002); // 0.016 % per 8 h
        let e = estimate(&s, &params()).unwrap();
        assert_eq!(e.direction, Direction::NegativeCarry);
        assert_eq!(e.borrow, dec!(0.00016));
        assert_eq!(e.expected_per_period, dec!(0.00024));
    }
}

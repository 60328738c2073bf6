//! Exit priority: which hedge goes first when several must be closed or cut at once (a Red-tier
//! CLOSE_ALL, the drawdown limit, a wave of funding reversals from the rebalancer).
//!
//! Exits take time (one hedge after another, two legs each), so the hedge that costs the most
//! while it waits goes first. Each hedge's **expected loss per period** is
//!
//! ```text
//! loss = |notional| × (funding the hedge pays + borrow cost)
//! funding paid: positive carry (short perp) = -rate, negative carry (long perp) = +rate
//! borrow cost:  negative carry only (its spot leg is borrowed), 0 for positive carry
//! ```
//!
//! The loss is signed: a hedge that still earns funding has a negative expected loss and goes
//! after every hedge that pays, the best earner last. Order: loss descending, then notional
//! descending (the larger exposure first), then symbol ascending, so the order is total and does
//! not depend on the order of the input.
//!
//! Both rates must be per the same period (see [`crate::rates`]: normalise the funding rate by
//! its interval and scale the hourly borrow rate); which period does not matter for the order.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::Direction;

/// One hedge competing for an early exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitCandidate {
    /// The pair, e.g. `BTCUSDT` (only breaks ties).
    pub symbol: String,
    /// The way the hedge faces.
    pub direction: Direction,
    /// Per-leg notional in the quote asset (its magnitude is used).
    pub notional: Decimal,
    /// Current funding rate per period (> 0: longs pay shorts).
    pub funding_rate: Decimal,
    /// Borrow rate of the base asset per the same period (>= 0; negative values count as 0);
    /// only negative carry borrows.
    pub borrow_rate: Decimal,
}

impl ExitCandidate {
    /// Funding paid by the hedge per period, per unit of notional (negative when it earns).
    pub fn funding_paid_rate(&self) -> Decimal {
        match self.direction {
            Direction::PositiveCarry => -self.funding_rate,
            Direction::NegativeCarry => self.funding_rate,
        }
    }

    /// Borrow cost per period, per unit of notional.
    pub fn borrow_cost_rate(&self) -> Decimal {
        match self.direction {
            Direction::PositiveCarry => Decimal::ZERO,
            Direction::NegativeCarry => self.borrow_rate.max(Decimal::ZERO),
        }
    }

    /// Expected loss per period in the quote asset; negative while the hedge earns.
    /// Saturates instead of panicking on absurd inputs.
    pub fn expected_loss(&self) -> Decimal {
        self.notional.abs().saturating_mul(
            self.funding_paid_rate()
                .saturating_add(self.borrow_cost_rate()),
        )
    }
}

/// Exit order of two candidates: `Less` when `a` goes first.
pub fn compare_exit(a: &ExitCandidate, b: &ExitCandidate) -> Ordering {
    b.expected_loss()
        .cmp(&a.expected_loss())
        .then_with(|| b.notional.abs().cmp(&a.notional.abs()))
        .then_with(|| a.symbol.cmp(&b.symbol))
}

/// Indices of `candidates` in exit order (highest expected loss first; ties by larger notional,
/// then symbol; exact duplicates keep their input order).
pub fn exit_order(candidates: &[ExitCandidate]) -> Vec<usize> {
    let losses: Vec<Decimal> = candidates
        .iter()
        .map(ExitCandidate::expected_loss)
        .collect();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&i, &j| {
        losses[j]
            .cmp(&losses[i])
            .then_with(|| {
                candidates[j]
                    .notional
                    .abs()
                    .cmp(&candidates[i].notional.abs())
            })
            .then_with(|| candidates[i].symbol.cmp(&candidates[j].symbol))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn candidate(
        symbol: &str,
        direction: Direction,
        notional: Decimal,
        funding_rate: Decimal,
        borrow_rate: Decimal,
    ) -> ExitCandidate {
        ExitCandidate {
            symbol: symbol.to_owned(),
            direction,
            notional,
            funding_rate,
            borrow_rate,
        }
    }

    fn symbols(candidates: &[ExitCandidate]) -> Vec<&str> {
        exit_order(candidates)
            .into_iter()
            .map(|i| candidates[i].symbol.as_str())
            .collect()
    }

    #[test]
    fn expected_loss_follows_the_direction() {
        use Direction::{NegativeCarry, PositiveCarry};
        // short perp while funding is negative: pays 0.02 % of 10 000 = 2
        let c = candidate("A", PositiveCarry, dec!(10000), dec!(-0.0002), dec!(0.001));
        assert_eq!(c.expected_loss(), dec!(2));
        // short perp while funding is positive: earns 1 (borrow ignored, nothing is borrowed)
        let c = candidate("A", PositiveCarry, dec!(10000), dec!(0.0001), dec!(0.001));
        assert_eq!(c.expected_loss(), dec!(-1));
        // long perp while funding is positive: pays 1 funding + 0.5 borrow
        let c = candidate("A", NegativeCarry, dec!(10000), dec!(0.0001), dec!(0.00005));
        assert_eq!(c.expected_loss(), dec!(1.5));
        // long perp earning 3 with a 0.5 borrow cost: -2.5; the notional's sign is ignored
        let c = candidate(
            "A",
            NegativeCarry,
            dec!(-10000),
            dec!(-0.0003),
            dec!(0.00005),
        );
        assert_eq!(c.expected_loss(), dec!(-2.5));
        // a negative borrow rate is no income
        let c = candidate("A", NegativeCarry, dec!(10000), dec!(0), dec!(-0.001));
        assert_eq!(c.expected_loss(), dec!(0));
    }

    #[test]
    fn the_costliest_hedge_goes_first_and_earners_last() {
        use Direction::{NegativeCarry, PositiveCarry};
        let candidates = vec![
            candidate("EARNS", PositiveCarry, dec!(50000), dec!(0.0001), dec!(0)), // -5
            candidate("PAYS", PositiveCarry, dec!(1000), dec!(-0.001), dec!(0)),   // 1
            candidate("BORROW", NegativeCarry, dec!(20000), dec!(0), dec!(0.0001)), // 2
            candidate("FLAT", PositiveCarry, dec!(99000), dec!(0), dec!(0)),       // 0
        ];
        assert_eq!(
            symbols(&candidates),
            vec!["BORROW", "PAYS", "FLAT", "EARNS"]
        );
    }

    #[test]
    fn ties_go_to_the_larger_notional_then_the_symbol() {
        use Direction::PositiveCarry;
        let candidates = vec![
            candidate("CCC", PositiveCarry, dec!(1000), dec!(0), dec!(0)),
            candidate("BBB", PositiveCarry, dec!(3000), dec!(0), dec!(0)),
            candidate("AAA", PositiveCarry, dec!(1000), dec!(0), dec!(0)),
            // same loss (2) as a larger hedge at half the rate
            candidate("DDD", PositiveCarry, dec!(1000), dec!(-0.002), dec!(0)),
            candidate("EEE", PositiveCarry, dec!(2000), dec!(-0.001), dec!(0)),
        ];
        assert_eq!(
            symbols(&candidates),
            vec!["EEE", "DDD", "BBB", "AAA", "CCC"]
        );
        assert_eq!(compare_exit(&candidates[2], &candidates[0]), Ordering::Less);
        assert_eq!(exit_order(&[]), Vec::<usize>::new());
    }

    fn arb_candidate() -> impl Strategy<Value = ExitCandidate> {
        (
            0usize..4,
            any::<bool>(),
            0i64..5_000_000,
            -300i64..300,
            0i64..50,
        )
            .prop_map(|(s, positive, cents, funding, borrow)| ExitCandidate {
                symbol: ["AAA", "BBB", "CCC", "DDD"][s].to_owned(),
                direction: if positive {
                    Direction::PositiveCarry
                } else {
                    Direction::NegativeCarry
                },
                notional: Decimal::new(cents, 2),
                funding_rate: Decimal::new(funding, 6),
                borrow_rate: Decimal::new(borrow, 6),
            })
    }

    proptest! {
        #[test]
        fn exit_order_is_a_sorted_permutation_independent_of_input_order(
            candidates in proptest::collection::vec(arb_candidate(), 0..12),
            rotate in 0usize..12,
        ) {
            let order = exit_order(&candidates);
            let mut seen = order.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..candidates.len()).collect::<Vec<_>>());
            let sorted: Vec<&ExitCandidate> = order.iter().map(|&i| &candidates[i]).collect();
            for pair in sorted.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                prop_assert!(a.expected_loss() >= b.expected_loss());
                if a.expected_loss() == b.expected_loss() {
                    prop_assert!(a.notional.abs() >= b.notional.abs());
                    if a.notional.abs() == b.notional.abs() {
                        prop_assert!(a.symbol <= b.symbol);
                    }
                }
                prop_assert_ne!(compare_exit(a, b), Ordering::Greater);
            }
            // the same hedges in another order exit in the same order
            let mut shuffled = candidates.clone();
            if !shuffled.is_empty() {
                let n = rotate % shuffled.len();
                shuffled.rotate_left(n);
                shuffled.reverse();
            }
            let again: Vec<&ExitCandidate> =
                exit_order(&shuffled).into_iter().map(|i| &shuffled[i]).collect();
            prop_assert_eq!(sorted, again);
        }
    }
}

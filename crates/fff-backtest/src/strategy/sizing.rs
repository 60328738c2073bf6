//! Reconciling held hedge sizes with a fresh allocation (executor-side, not in fff-core), in
//! capital terms: a hedge's capital is its notional times fff-core's capital per unit of its
//! direction ([`fff_core::CapitalModel::per_unit`]), so the budget and the per-pair cap are the
//! allocation's own.

use fff_core::Direction;
use rust_decimal::Decimal;

/// Notionals are kept to whole cents, like the allocation's.
const CENTS: u32 = 2;

/// One hedge of the final plan: what the allocation wants and what is held.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SizedLine {
    pub(crate) index: usize,
    pub(crate) direction: Direction,
    /// Capital (both sides) per unit of notional in this direction.
    pub(crate) unit: Decimal,
    /// The allocation's notional for it.
    pub(crate) target: Decimal,
    /// Held notional in the same direction, `None` for entries and flips.
    pub(crate) current: Option<Decimal>,
    /// Notional to hold after this pass.
    pub(crate) size: Decimal,
}

impl SizedLine {
    /// A held hedge the plan keeps as it is (its target is its size).
    pub(crate) fn keep(
        index: usize,
        direction: Direction,
        unit: Decimal,
        notional: Decimal,
    ) -> Self {
        Self {
            index,
            direction,
            unit,
            target: notional,
            current: Some(notional),
            size: notional,
        }
    }

    fn capital(&self) -> Decimal {
        self.size * self.unit
    }
}

/// How held sizes follow the allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ResizeRule {
    /// Capital the book may use (`Allocation::capital_budget`).
    pub(crate) budget: Decimal,
    /// Capital one pair may use (`Allocation::pair_capital_cap`).
    pub(crate) pair_cap: Decimal,
    /// Relative band before a held hedge is resized (`resize_threshold`).
    pub(crate) band: Decimal,
    /// Fraction the book may run over `budget` before it is trimmed (`budget_tolerance`).
    pub(crate) tolerance: Decimal,
}

/// Executor-side reconciliation of held sizes with a fresh allocation, without trading on
/// noise. The greedy allocation gives the last-ranked pair the remainder, so two held pairs
/// whose scores swap order would swap sizes every pass; instead held hedges keep their size
/// unless the book's capital runs over the budget by more than `tolerance` or a hedge is far
/// above the per-pair cap (shrink), or far below its target while capital is free (grow).
/// Entries and flips take their target. A trim takes the book down to `1 − band / 2` of the
/// budget (the hedges furthest above their targets first, then all alike), so that price
/// drift does not trim again the next day.
pub(crate) fn lazy_resize(lines: &mut [SizedLine], rule: &ResizeRule) {
    let ResizeRule {
        budget,
        pair_cap,
        band,
        tolerance,
    } = *rule;
    for line in lines.iter_mut() {
        if line.current.is_some() && line.capital() > pair_cap * (Decimal::ONE + band) {
            let cap = (pair_cap / line.unit).trunc_with_scale(CENTS);
            line.size = line.target.min(cap);
        }
    }
    let total = |lines: &[SizedLine]| lines.iter().map(SizedLine::capital).sum::<Decimal>();
    if total(lines) > budget * (Decimal::ONE + tolerance) {
        let floor = budget * (Decimal::ONE - band / Decimal::TWO);
        let mut excess = total(lines) - floor;
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order
            .sort_by_key(|&i| std::cmp::Reverse((lines[i].size - lines[i].target) * lines[i].unit));
        for i in order {
            let over = (lines[i].size - lines[i].target) * lines[i].unit;
            if excess <= Decimal::ZERO || over <= Decimal::ZERO {
                break;
            }
            let cut = over.min(excess);
            lines[i].size -= cut / lines[i].unit;
            excess -= cut;
        }
        // Still above the floor (hedges at their targets, a halted pass): cut all alike.
        let now = total(lines);
        if now > floor && now > Decimal::ZERO {
            let keep = floor / now;
            for line in lines.iter_mut() {
                line.size *= keep;
            }
        }
        for line in lines.iter_mut() {
            line.size = line.size.trunc_with_scale(CENTS).max(Decimal::ZERO);
        }
    }
    let mut room = budget - total(lines);
    for line in lines.iter_mut() {
        if room <= Decimal::ZERO {
            break;
        }
        if line.current.is_some() && line.target > line.size * (Decimal::ONE + band) {
            let grow = (line.target - line.size)
                .min(room / line.unit)
                .trunc_with_scale(CENTS);
            if grow >= line.size * band {
                line.size += grow;
                room -= grow * line.unit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(index: usize, target: Decimal, current: Option<Decimal>) -> SizedLine {
        SizedLine {
            index,
            direction: Direction::PositiveCarry,
            unit: Decimal::ONE,
            target,
            current,
            size: current.unwrap_or(target),
        }
    }

    fn rule(budget: Decimal) -> ResizeRule {
        ResizeRule {
            budget,
            pair_cap: dec!(130),
            band: dec!(0.10),
            tolerance: dec!(0.01),
        }
    }

    #[test]
    fn swapped_remainder_does_not_trade() {
        // Held 130/105; the new allocation says 105/130 (ranks swapped): keep both.
        let mut lines = vec![
            line(0, dec!(105), Some(dec!(130))),
            line(1, dec!(130), Some(dec!(105))),
        ];
        lazy_resize(&mut lines, &rule(dec!(235)));
        assert_eq!(lines[0].size, dec!(130));
        assert_eq!(lines[1].size, dec!(105));
    }

    #[test]
    fn a_book_over_the_budget_is_cut_below_it() {
        let mut lines = vec![
            line(0, dec!(100), Some(dec!(130))),
            line(1, dec!(100), Some(dec!(120))),
            line(2, dec!(35), None),
        ];
        lazy_resize(&mut lines, &rule(dec!(235)));
        // excesses over target go first (30, 20), then all alike down to 95 % of the budget
        let sizes: Vec<Decimal> = lines.iter().map(|l| l.size).collect();
        assert_eq!(sizes, vec![dec!(95), dec!(95), dec!(33.25)]);
        // an entry into a book with room takes its target
        let mut room = vec![line(0, dec!(100), Some(dec!(100))), line(1, dec!(35), None)];
        lazy_resize(&mut room, &rule(dec!(235)));
        assert_eq!(room[1].size, dec!(35));
    }

    #[test]
    fn undersized_hedges_grow_into_free_capital() {
        let mut lines = vec![line(0, dec!(130), Some(dec!(60)))];
        lazy_resize(&mut lines, &rule(dec!(235)));
        assert_eq!(lines[0].size, dec!(130));
        let mut small = vec![line(0, dec!(130), Some(dec!(125)))];
        lazy_resize(&mut small, &rule(dec!(235)));
        assert_eq!(small[0].size, dec!(125), "within the band: no trade");
        // 1 % over the budget is tolerated, 2 % is cut back to 95 % of it
        let mut near = vec![line(0, dec!(100), Some(dec!(101)))];
        lazy_resize(&mut near, &rule(dec!(100)));
        assert_eq!(near[0].size, dec!(101));
        let mut over = vec![line(0, dec!(100), Some(dec!(102)))];
        lazy_resize(&mut over, &rule(dec!(100)));
        assert_eq!(over[0].size, dec!(95));
    }

    #[test]
    fn capital_not_notional_is_what_must_fit() {
        // Negative carry ties up 1.38 per unit at the defaults: 70 of notional is 96.6 of
        // capital, over a budget of 85 by far more than the tolerance.
        let mut lines = vec![SizedLine {
            unit: dec!(1.38),
            direction: Direction::NegativeCarry,
            ..line(0, dec!(70), Some(dec!(70)))
        }];
        lazy_resize(&mut lines, &rule(dec!(85)));
        let capital = lines[0].size * dec!(1.38);
        assert!(capital <= dec!(85) * dec!(0.95), "{capital}");
        assert!(capital > dec!(80));
    }
}

//! Reconciling held hedge sizes with a fresh allocation (executor-side, not in fff-core).

use fff_core::Direction;
use rust_decimal::Decimal;

/// One hedge of the final plan: what the allocation wants and what is held.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SizedLine {
    pub(super) index: usize,
    pub(super) direction: Direction,
    /// The allocation's notional for it.
    pub(super) target: Decimal,
    /// Held notional in the same direction, `None` for entries and flips.
    pub(super) current: Option<Decimal>,
    /// Notional to hold after this pass.
    pub(super) size: Decimal,
}

impl SizedLine {
    pub(super) fn keep(index: usize, direction: Direction, notional: Decimal) -> Self {
        Self {
            index,
            direction,
            target: notional,
            current: Some(notional),
            size: notional,
        }
    }
}

/// Executor-side reconciliation of held sizes with a fresh allocation, without trading on
/// noise. The greedy allocation gives the last-ranked pair the remainder, so two held pairs
/// whose scores swap order would swap sizes every pass; instead held hedges keep their size
/// unless the book no longer fits the allocation's total (`budget`) or a hedge is far above
/// the per-pair cap (shrink), or far below its target while capital is free (grow).
/// Entries and flips take their target.
/// `slack` is the tolerated overshoot of `budget` (a fraction); once exceeded, the book is cut
/// back to the budget itself so the trim does not repeat every pass.
pub(super) fn lazy_resize(
    lines: &mut [SizedLine],
    budget: Decimal,
    cap: Decimal,
    band: Decimal,
    slack: Decimal,
) {
    for line in lines.iter_mut() {
        if line.current.is_some() && line.size > cap * (Decimal::ONE + band) {
            line.size = line.target.min(cap);
        }
    }
    let total = |lines: &[SizedLine]| lines.iter().map(|l| l.size).sum::<Decimal>();
    let mut excess = total(lines) - budget;
    if total(lines) > budget * (Decimal::ONE + slack) {
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(lines[i].size - lines[i].target));
        for i in order {
            let over = lines[i].size - lines[i].target;
            if excess <= Decimal::ZERO || over <= Decimal::ZERO {
                break;
            }
            let cut = over.min(excess);
            lines[i].size -= cut;
            excess -= cut;
        }
    }
    let mut room = budget - total(lines);
    for line in lines.iter_mut() {
        if room <= Decimal::ZERO {
            break;
        }
        if line.current.is_some() && line.target > line.size * (Decimal::ONE + band) {
            let grow = (line.target - line.size).min(room);
            if grow >= line.size * band {
                line.size += grow;
                room -= grow;
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
            target,
            current,
            size: current.unwrap_or(target),
        }
    }

    #[test]
    fn swapped_remainder_does_not_trade() {
        // Held 130/105; the new allocation says 105/130 (ranks swapped): keep both.
        let mut lines = vec![
            line(0, dec!(105), Some(dec!(130))),
            line(1, dec!(130), Some(dec!(105))),
        ];
        lazy_resize(&mut lines, dec!(235), dec!(130), dec!(0.10), dec!(0.05));
        assert_eq!(lines[0].size, dec!(130));
        assert_eq!(lines[1].size, dec!(105));
    }

    #[test]
    fn entries_take_their_target_and_held_shrink_to_fit() {
        let mut lines = vec![
            line(0, dec!(100), Some(dec!(130))),
            line(1, dec!(100), Some(dec!(120))),
            line(2, dec!(35), None),
        ];
        lazy_resize(&mut lines, dec!(235), dec!(130), dec!(0.10), dec!(0.05));
        assert_eq!(lines[2].size, dec!(35));
        let total: Decimal = lines.iter().map(|l| l.size).sum();
        assert_eq!(total, dec!(235));
        // the largest excess (30) is cut first, then 15 from the next
        assert_eq!(lines[0].size, dec!(100));
        assert_eq!(lines[1].size, dec!(100));
    }

    #[test]
    fn undersized_hedges_grow_into_free_capital() {
        let mut lines = vec![line(0, dec!(130), Some(dec!(60)))];
        lazy_resize(&mut lines, dec!(235), dec!(130), dec!(0.10), dec!(0.05));
        assert_eq!(lines[0].size, dec!(130));
        let mut small = vec![line(0, dec!(130), Some(dec!(125)))];
        lazy_resize(&mut small, dec!(235), dec!(130), dec!(0.10), dec!(0.05));
        assert_eq!(small[0].size, dec!(125), "within the band: no trade");
        // 4 % over the budget is tolerated, 6 % is cut back to the budget
        let mut near = vec![line(0, dec!(100), Some(dec!(104)))];
        lazy_resize(&mut near, dec!(100), dec!(130), dec!(0.10), dec!(0.05));
        assert_eq!(near[0].size, dec!(104));
        let mut over = vec![line(0, dec!(100), Some(dec!(106)))];
        lazy_resize(&mut over, dec!(100), dec!(130), dec!(0.10), dec!(0.05));
        assert_eq!(over[0].size, dec!(100));
    }
}

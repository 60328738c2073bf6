//! One scanner pass: qualify and score every snapshot, then rank.
//!
//! Shared by the market-scanner service and the backtester so both pick pairs identically.
//! [`IncrementalScan`] keeps such a pass current one symbol at a time: a market update
//! re-evaluates that symbol only and moves it in the ranking (two binary searches), instead of
//! re-evaluating or re-sorting the others.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;

use crate::market::MarketSnapshot;
use crate::params::PairSelectionParams;
use crate::qualify::{Qualification, qualify};
use crate::score::{ScoreBreakdown, Scorer};
use crate::types::{Direction, Symbol};

/// Qualification and score of one symbol (scored even when it failed, for explanations).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairEvaluation {
    /// All filter checks.
    pub qualification: Qualification,
    /// All score components.
    pub score: ScoreBreakdown,
}

/// Evaluate one snapshot.
pub fn evaluate(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> PairEvaluation {
    evaluate_with(snapshot, params, &Scorer::new(params))
}

fn evaluate_with(
    snapshot: &MarketSnapshot,
    params: &PairSelectionParams,
    scorer: &Scorer<'_>,
) -> PairEvaluation {
    PairEvaluation {
        qualification: qualify(snapshot, params),
        score: scorer.score(snapshot),
    }
}

/// The order of [`scan`]: qualified pairs by total score (best first, ties by symbol), then
/// the rest by symbol.
pub fn scan_order(a: &PairEvaluation, b: &PairEvaluation) -> Ordering {
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
}

/// Evaluate every snapshot. Order: qualified pairs by total score (best first, ties by
/// symbol), then the rest by symbol.
pub fn scan(snapshots: &[MarketSnapshot], params: &PairSelectionParams) -> Vec<PairEvaluation> {
    let scorer = Scorer::new(params);
    let mut evaluations: Vec<PairEvaluation> = snapshots
        .iter()
        .map(|s| evaluate_with(s, params, &scorer))
        .collect();
    evaluations.sort_by(scan_order);
    evaluations
}

/// A [`scan`] kept current one symbol at a time.
///
/// Each symbol's evaluation is cached; [`IncrementalScan::update`] re-evaluates only the
/// symbol it is given and moves it to its new rank, so the order always equals `scan` of the
/// latest snapshot of every symbol (a test pins it), at the cost of one evaluation plus
/// O(log n) comparisons and an O(n) shift of slot indices.
#[derive(Debug, Clone)]
pub struct IncrementalScan {
    params: PairSelectionParams,
    /// One evaluation per symbol, in no particular order.
    slots: Vec<PairEvaluation>,
    slot_of: HashMap<Symbol, usize>,
    /// Indices into `slots`, in [`scan_order`].
    order: Vec<usize>,
}

impl IncrementalScan {
    /// Evaluates and ranks `snapshots`; a symbol given twice keeps its last snapshot.
    pub fn new(snapshots: &[MarketSnapshot], params: PairSelectionParams) -> Self {
        let mut incremental = Self {
            params,
            slots: Vec::with_capacity(snapshots.len()),
            slot_of: HashMap::with_capacity(snapshots.len()),
            order: Vec::with_capacity(snapshots.len()),
        };
        let scorer = Scorer::new(&incremental.params);
        for snapshot in snapshots {
            let evaluation = evaluate_with(snapshot, &incremental.params, &scorer);
            match incremental.slot_of.get(&snapshot.symbol) {
                Some(&slot) => incremental.slots[slot] = evaluation,
                None => {
                    incremental
                        .slot_of
                        .insert(snapshot.symbol.clone(), incremental.slots.len());
                    incremental.slots.push(evaluation);
                }
            }
        }
        let slots = &incremental.slots;
        incremental.order = (0..slots.len()).collect();
        incremental
            .order
            .sort_by(|a, b| scan_order(&slots[*a], &slots[*b]));
        incremental
    }

    /// The parameters every evaluation uses.
    pub fn params(&self) -> &PairSelectionParams {
        &self.params
    }

    /// Re-evaluates `snapshot`'s symbol (adding it if new) and moves it to its rank; returns
    /// its evaluation.
    pub fn update(&mut self, snapshot: &MarketSnapshot) -> &PairEvaluation {
        let evaluation = evaluate(snapshot, &self.params);
        let slot = match self.slot_of.get(&snapshot.symbol) {
            Some(&slot) => {
                let position = self.position_of(slot);
                self.order.remove(position);
                self.slots[slot] = evaluation;
                slot
            }
            None => {
                let slot = self.slots.len();
                self.slot_of.insert(snapshot.symbol.clone(), slot);
                self.slots.push(evaluation);
                slot
            }
        };
        let slots = &self.slots;
        let insert_at = self
            .order
            .partition_point(|probe| scan_order(&slots[*probe], &slots[slot]) == Ordering::Less);
        self.order.insert(insert_at, slot);
        &self.slots[slot]
    }

    /// Drops `symbol` (delisted, or no longer followed); returns its last evaluation.
    pub fn remove(&mut self, symbol: &Symbol) -> Option<PairEvaluation> {
        let slot = self.slot_of.remove(symbol)?;
        let position = self.position_of(slot);
        self.order.remove(position);
        let last = self.slots.len() - 1;
        if slot != last {
            // the last slot moves into the freed one: repoint its rank entry and its index
            let moved_position = self.position_of(last);
            self.order[moved_position] = slot;
            let moved_symbol = self.slots[last].score.symbol.clone();
            self.slot_of.insert(moved_symbol, slot);
        }
        Some(self.slots.swap_remove(slot))
    }

    /// Every evaluation in [`scan`] order.
    pub fn evaluations(&self) -> impl ExactSizeIterator<Item = &PairEvaluation> + '_ {
        self.order.iter().map(|slot| &self.slots[*slot])
    }

    /// The cached evaluation of `symbol`.
    pub fn get(&self, symbol: &Symbol) -> Option<&PairEvaluation> {
        self.slot_of.get(symbol).map(|slot| &self.slots[*slot])
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True without symbols.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Rank of `slot` in `order` (symbols are unique, so the comparison finds exactly it).
    fn position_of(&self, slot: usize) -> usize {
        let slots = &self.slots;
        self.order
            .binary_search_by(|probe| scan_order(&slots[*probe], &slots[slot]))
            .expect("every slot is ranked")
    }
}

/// Qualified pairs with their direction in ranking order, at most `max_pairs`: the input
/// [`crate::allocate()`] expects.
pub fn ranked_pairs(evaluations: &[PairEvaluation], max_pairs: u32) -> Vec<(Symbol, Direction)> {
    evaluations
        .iter()
        .filter(|e| e.qualification.passed)
        .filter_map(|e| Some((e.score.symbol.clone(), e.qualification.direction?)))
        .take(max_pairs as usize)
        .collect()
}

/// Qualified symbols in ranking order, at most `max_pairs`.
pub fn ranked_symbols(evaluations: &[PairEvaluation], max_pairs: u32) -> Vec<Symbol> {
    evaluations
        .iter()
        .filter(|e| e.qualification.passed)
        .take(max_pairs as usize)
        .map(|e| e.score.symbol.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::fixtures;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn snapshot(symbol: &str, funding: rust_decimal::Decimal, volume: i64) -> MarketSnapshot {
        MarketSnapshot {
            symbol: Symbol::parse(symbol).unwrap(),
            funding_rate: funding,
            volume_24h_usd: volume.into(),
            ..fixtures::btc()
        }
    }

    #[test]
    fn qualified_first_then_by_score() {
        let params = PairSelectionParams::default();
        let snapshots = [
            snapshot("AAAUSDT", dec!(0.00005), 5_000_000_000), // fails funding
            snapshot("ETHUSDT", dec!(0.0003), 5_000_000_000),
            snapshot("BTCUSDT", dec!(0.0005), 5_000_000_000),
        ];
        let evaluations = scan(&snapshots, &params);
        let order: Vec<&str> = evaluations
            .iter()
            .map(|e| e.score.symbol.as_str())
            .collect();
        assert_eq!(order, vec!["BTCUSDT", "ETHUSDT", "AAAUSDT"]);
        let ranked = ranked_symbols(&evaluations, 1);
        assert_eq!(ranked, vec![Symbol::parse("BTCUSDT").unwrap()]);
    }

    fn symbols<'a>(evaluations: impl Iterator<Item = &'a PairEvaluation>) -> Vec<Symbol> {
        evaluations.map(|e| e.score.symbol.clone()).collect()
    }

    #[test]
    fn incremental_update_moves_one_symbol() {
        let params = PairSelectionParams::default();
        let mut snapshots = vec![
            snapshot("AAAUSDT", dec!(0.00005), 5_000_000_000),
            snapshot("ETHUSDT", dec!(0.0003), 5_000_000_000),
            snapshot("BTCUSDT", dec!(0.0005), 5_000_000_000),
        ];
        let mut incremental = IncrementalScan::new(&snapshots, params.clone());
        assert_eq!(
            symbols(incremental.evaluations()),
            symbols(scan(&snapshots, &params).iter())
        );
        // AAA's funding jumps above BTC's: it qualifies and ranks first
        snapshots[0].funding_rate = dec!(0.0008);
        assert!(incremental.update(&snapshots[0]).qualification.passed);
        let expected = symbols(scan(&snapshots, &params).iter());
        assert_eq!(expected[0].as_str(), "AAAUSDT");
        assert_eq!(symbols(incremental.evaluations()), expected);
        let removed = incremental.remove(&Symbol::parse("AAAUSDT").unwrap());
        assert!(removed.is_some());
        assert_eq!(
            symbols(incremental.evaluations()),
            symbols(scan(&snapshots[1..], &params).iter())
        );
        assert!(
            incremental
                .get(&Symbol::parse("ETHUSDT").unwrap())
                .is_some()
        );
        assert_eq!(incremental.len(), 2);
    }

    proptest! {
        /// After any sequence of updates and removals the incremental order equals a fresh
        /// scan of the latest snapshots.
        #[test]
        fn incremental_scan_equals_a_fresh_scan(
            universe in 1usize..12,
            steps in proptest::collection::vec(
                (0usize..12, -900i64..900, 0i64..10_000, any::<bool>()), 0..40),
        ) {
            let params = PairSelectionParams::default();
            let make = |i: usize, funding: i64, volume: i64| MarketSnapshot {
                symbol: Symbol::parse(&format!("S{i}USDT")).unwrap(),
                funding_rate: rust_decimal::Decimal::new(funding, 6),
                volume_24h_usd: rust_decimal::Decimal::from(volume * 1_000_000),
                ..fixtures::btc()
            };
            let mut latest: Vec<Option<MarketSnapshot>> =
                (0..universe).map(|i| Some(make(i, 300, 5_000))).collect();
            let initial: Vec<MarketSnapshot> = latest.iter().flatten().cloned().collect();
            let mut incremental = IncrementalScan::new(&initial, params.clone());
            for (index, funding, volume, remove) in steps {
                let index = index % universe;
                if remove {
                    let removed = incremental.remove(&make(index, 0, 0).symbol);
                    prop_assert_eq!(removed.is_some(), latest[index].is_some());
                    latest[index] = None;
                } else {
                    let next = make(index, funding, volume);
                    incremental.update(&next);
                    latest[index] = Some(next);
                }
                let current: Vec<MarketSnapshot> = latest.iter().flatten().cloned().collect();
                let expected = scan(&current, &params);
                let ours: Vec<PairEvaluation> = incremental.evaluations().cloned().collect();
                prop_assert_eq!(ours, expected);
            }
        }
    }
}

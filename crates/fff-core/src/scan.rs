//! One scanner pass: qualify and score every snapshot, then rank.
//!
//! Shared by the market-scanner service and the backtester so both pick pairs identically.
//! [`IncrementalScan`] keeps such a pass current one symbol at a time: a market update
//! re-evaluates that symbol only and moves it in the ranking (binary searches over a chunked,
//! shared [`Ranking`]), instead of re-evaluating or re-sorting the others.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

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

/// [`evaluate`] with the scoring parameters converted once, to evaluate many snapshots.
#[derive(Debug, Clone)]
pub struct Evaluator<'a> {
    params: &'a PairSelectionParams,
    scorer: Scorer<'a>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for `params`.
    pub fn new(params: &'a PairSelectionParams) -> Self {
        Self {
            params,
            scorer: Scorer::new(params),
        }
    }

    /// Evaluate one snapshot, as [`evaluate`] does.
    pub fn evaluate(&self, snapshot: &MarketSnapshot) -> PairEvaluation {
        evaluate_with(snapshot, self.params, &self.scorer)
    }
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

/// Something [`IncrementalScan`] ranks: a [`PairEvaluation`], possibly inside a larger record
/// (the scanner service keeps the market inputs and display facts alongside).
pub trait Ranked {
    /// The evaluation that decides the rank.
    fn evaluation(&self) -> &PairEvaluation;
}

impl Ranked for PairEvaluation {
    fn evaluation(&self) -> &PairEvaluation {
        self
    }
}

/// Most entries in one chunk of a [`Ranking`]; a chunk that grows past it splits in two.
const CHUNK_MAX: usize = 128;
/// A chunk that shrinks below this merges with a neighbour when the two fit in one.
const CHUNK_MIN: usize = CHUNK_MAX / 4;

/// An immutable, cheaply shared view of a ranking: entries in [`scan_order`].
///
/// Stored as chunks of at most [`CHUNK_MAX`] shared entries behind shared pointers, so a
/// clone costs one reference count, and [`IncrementalScan`] moving one entry copies only the
/// chunk list and the (at most two) chunks it touches, never the whole ranking: a published
/// snapshot keeps its order while the scan goes on.
#[derive(Debug)]
pub struct Ranking<T> {
    /// Non-empty chunks, in order.
    chunks: Arc<Vec<Arc<Vec<Arc<T>>>>>,
    len: usize,
}

impl<T> Clone for Ranking<T> {
    fn clone(&self) -> Self {
        Self {
            chunks: Arc::clone(&self.chunks),
            len: self.len,
        }
    }
}

impl<T> Default for Ranking<T> {
    fn default() -> Self {
        Self {
            chunks: Arc::default(),
            len: 0,
        }
    }
}

impl<T> Ranking<T> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries best first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// The entry at `position` (0-based rank); O(number of chunks).
    pub fn get(&self, position: usize) -> Option<&Arc<T>> {
        let mut offset = position;
        for chunk in self.chunks.iter() {
            if offset < chunk.len() {
                return chunk.get(offset);
            }
            offset -= chunk.len();
        }
        None
    }

    /// The best entry.
    pub fn first(&self) -> Option<&Arc<T>> {
        self.chunks.first().and_then(|chunk| chunk.first())
    }

    /// A ranking of `sorted`, which must already be in [`scan_order`].
    fn from_sorted(sorted: Vec<Arc<T>>) -> Self {
        let len = sorted.len();
        let mut chunks = Vec::with_capacity(len.div_ceil(CHUNK_MAX / 2));
        let mut entries = sorted.into_iter().peekable();
        while entries.peek().is_some() {
            chunks.push(Arc::new(entries.by_ref().take(CHUNK_MAX / 2).collect()));
        }
        Self {
            chunks: Arc::new(chunks),
            len,
        }
    }

    /// Rank of the entry at `offset` in chunk `chunk`.
    fn position(&self, chunk: usize, offset: usize) -> usize {
        self.chunks[..chunk].iter().map(|c| c.len()).sum::<usize>() + offset
    }
}

impl<T: Ranked> Ranking<T> {
    /// Chunk and offset where `entry` ranks: before the first entry that does not rank
    /// strictly before it (two binary searches). `None` when the ranking is empty.
    fn locate(&self, entry: &T) -> Option<(usize, usize)> {
        let target = entry.evaluation();
        let before = |probe: &Arc<T>| scan_order(probe.evaluation(), target) == Ordering::Less;
        let last_chunk = self.chunks.len().checked_sub(1)?;
        let chunk = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(before))
            .min(last_chunk);
        Some((chunk, self.chunks[chunk].partition_point(before)))
    }

    /// Inserts `entry` at its rank; returns that rank.
    fn insert(&mut self, entry: Arc<T>) -> usize {
        let Some((chunk, offset)) = self.locate(&entry) else {
            self.chunks = Arc::new(vec![Arc::new(vec![entry])]);
            self.len = 1;
            return 0;
        };
        let position = self.position(chunk, offset);
        let chunks = Arc::make_mut(&mut self.chunks);
        let entries = Arc::make_mut(&mut chunks[chunk]);
        entries.insert(offset, entry);
        if entries.len() > CHUNK_MAX {
            let tail = entries.split_off(entries.len() / 2);
            chunks.insert(chunk + 1, Arc::new(tail));
        }
        self.len += 1;
        position
    }

    /// Removes the entry ranked where `entry` ranks (the same symbol: ranks are unique);
    /// returns its rank and the entry removed, `None` if that symbol is not there.
    fn remove(&mut self, entry: &T) -> Option<(usize, Arc<T>)> {
        let (chunk, offset) = self.locate(entry)?;
        let found = self.chunks[chunk].get(offset)?;
        if scan_order(found.evaluation(), entry.evaluation()) != Ordering::Equal {
            return None;
        }
        let position = self.position(chunk, offset);
        let chunks = Arc::make_mut(&mut self.chunks);
        let removed = Arc::make_mut(&mut chunks[chunk]).remove(offset);
        let remaining = chunks[chunk].len();
        if remaining == 0 {
            chunks.remove(chunk);
        } else if remaining < CHUNK_MIN {
            // merge with a neighbour it fits with, the next one first
            let fits = |other: usize| {
                chunks
                    .get(other)
                    .is_some_and(|c| c.len() + remaining <= CHUNK_MAX)
            };
            let neighbour = if fits(chunk + 1) {
                Some(chunk + 1)
            } else {
                chunk.checked_sub(1).filter(|previous| fits(*previous))
            };
            if let Some(neighbour) = neighbour {
                let first = chunk.min(neighbour);
                let second = chunks.remove(first + 1);
                Arc::make_mut(&mut chunks[first]).extend(second.iter().cloned());
            }
        }
        self.len -= 1;
        Some((position, removed))
    }
}

/// What [`IncrementalScan::insert`] did.
#[derive(Debug)]
pub struct Moved<T> {
    /// The entry inserted.
    pub entry: Arc<T>,
    /// Its rank (0-based) in the updated ranking.
    pub position: usize,
    /// The symbol's entry it replaced and the rank that one had, if the symbol was ranked.
    pub previous: Option<(usize, Arc<T>)>,
}

/// A [`scan`] kept current one symbol at a time.
///
/// Each symbol's evaluation is cached; [`IncrementalScan::update`] (or [`insert`] of an entry
/// evaluated by the caller) replaces only that symbol's and moves it to its new rank, so the
/// order always equals `scan` of the latest snapshot of every symbol (a test pins it), at the
/// cost of one evaluation, O(log n) comparisons and the copy of one or two chunks of the
/// [`Ranking`]; [`IncrementalScan::ranking`] hands out the current order without copying it.
///
/// [`insert`]: IncrementalScan::insert
#[derive(Debug, Clone)]
pub struct IncrementalScan<T = PairEvaluation> {
    params: PairSelectionParams,
    /// The current entry of every symbol.
    entries: HashMap<Symbol, Arc<T>>,
    ranking: Ranking<T>,
    /// Entries that passed qualification (they rank first).
    qualified: usize,
}

impl IncrementalScan<PairEvaluation> {
    /// Evaluates and ranks `snapshots`; a symbol given twice keeps its last snapshot.
    pub fn new(snapshots: &[MarketSnapshot], params: PairSelectionParams) -> Self {
        let evaluator = Evaluator::new(&params);
        let evaluations: Vec<PairEvaluation> =
            snapshots.iter().map(|s| evaluator.evaluate(s)).collect();
        Self::from_entries(params, evaluations)
    }

    /// Re-evaluates `snapshot`'s symbol (adding it if new) and moves it to its rank; returns
    /// its evaluation.
    pub fn update(&mut self, snapshot: &MarketSnapshot) -> &PairEvaluation {
        let evaluation = evaluate(snapshot, &self.params);
        let moved = self.insert(evaluation);
        self.entries
            .get(&moved.entry.score.symbol)
            .expect("just inserted")
    }
}

impl<T: Ranked> IncrementalScan<T> {
    /// Ranks entries the caller evaluated with `params` (e.g. with [`Evaluator`]); a symbol
    /// given twice keeps its last entry. One full sort.
    pub fn from_entries(params: PairSelectionParams, entries: impl IntoIterator<Item = T>) -> Self {
        let entries = entries.into_iter();
        let mut by_symbol: HashMap<Symbol, Arc<T>> = HashMap::with_capacity(entries.size_hint().0);
        for entry in entries {
            by_symbol.insert(entry.evaluation().score.symbol.clone(), Arc::new(entry));
        }
        let mut sorted: Vec<Arc<T>> = by_symbol.values().cloned().collect();
        sorted.sort_unstable_by(|a, b| scan_order(a.evaluation(), b.evaluation()));
        let qualified = sorted
            .iter()
            .filter(|e| e.evaluation().qualification.passed)
            .count();
        Self {
            params,
            entries: by_symbol,
            ranking: Ranking::from_sorted(sorted),
            qualified,
        }
    }

    /// The parameters every evaluation uses.
    pub fn params(&self) -> &PairSelectionParams {
        &self.params
    }

    /// Replaces `entry`'s symbol's entry (adding it if new) and moves it to its rank. The
    /// entry must have been evaluated with [`IncrementalScan::params`].
    pub fn insert(&mut self, entry: T) -> Moved<T> {
        let entry = Arc::new(entry);
        let symbol = &entry.evaluation().score.symbol;
        let replaced = match self.entries.get_mut(symbol) {
            Some(slot) => Some(std::mem::replace(slot, Arc::clone(&entry))),
            None => {
                self.entries.insert(symbol.clone(), Arc::clone(&entry));
                None
            }
        };
        let previous = replaced.map(|old| {
            let (position, _) = self.ranking.remove(&old).expect("every entry is ranked");
            if old.evaluation().qualification.passed {
                self.qualified -= 1;
            }
            (position, old)
        });
        if entry.evaluation().qualification.passed {
            self.qualified += 1;
        }
        let position = self.ranking.insert(Arc::clone(&entry));
        Moved {
            entry,
            position,
            previous,
        }
    }

    /// Drops `symbol` (delisted, or no longer followed); returns its last entry.
    pub fn remove(&mut self, symbol: &Symbol) -> Option<Arc<T>> {
        let entry = self.entries.remove(symbol)?;
        self.ranking.remove(&entry).expect("every entry is ranked");
        if entry.evaluation().qualification.passed {
            self.qualified -= 1;
        }
        Some(entry)
    }

    /// Every entry in [`scan`] order.
    pub fn evaluations(&self) -> impl Iterator<Item = &T> + '_ {
        self.ranking.iter().map(|entry| &**entry)
    }

    /// The current order, shared (later updates do not change it).
    pub fn ranking(&self) -> Ranking<T> {
        self.ranking.clone()
    }

    /// The cached entry of `symbol`.
    pub fn get(&self, symbol: &Symbol) -> Option<&Arc<T>> {
        self.entries.get(symbol)
    }

    /// Number of entries that passed qualification (the first ones in the ranking).
    pub fn qualified_count(&self) -> usize {
        self.qualified
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without symbols.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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

    /// Chunks stay non-empty and within bounds, and the length is counted right.
    fn assert_chunks<T>(ranking: &Ranking<T>) {
        assert!(
            ranking
                .chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= CHUNK_MAX)
        );
        assert_eq!(
            ranking.chunks.iter().map(|c| c.len()).sum::<usize>(),
            ranking.len()
        );
        assert_eq!(ranking.iter().count(), ranking.len());
    }

    #[test]
    fn large_universe_splits_and_merges_chunks_and_shares_old_rankings() {
        let params = PairSelectionParams::default();
        let make = |i: usize, funding: i64| MarketSnapshot {
            symbol: Symbol::parse(&format!("S{i}USDT")).unwrap(),
            funding_rate: rust_decimal::Decimal::new(funding, 6),
            volume_24h_usd: rust_decimal::Decimal::from(5_000_000_000u64 + i as u64),
            ..fixtures::btc()
        };
        let size = 1_000;
        let mut latest: Vec<Option<MarketSnapshot>> =
            (0..size).map(|i| Some(make(i, 300))).collect();
        let initial: Vec<MarketSnapshot> = latest.iter().flatten().cloned().collect();
        let mut incremental = IncrementalScan::new(&initial, params.clone());
        let before = incremental.ranking();
        let before_order: Vec<PairEvaluation> = before.iter().map(|e| (**e).clone()).collect();
        // a deterministic walk: every symbol moves to the top or the bottom, then a third go
        for step in 0..3 * size {
            let index = (step * 7919) % size;
            if step % 5 == 4 {
                incremental.remove(&make(index, 0).symbol);
                latest[index] = None;
            } else {
                let funding = [900, 5, -800, 310][step % 4];
                let next = make(index, funding);
                incremental.update(&next);
                latest[index] = Some(next);
            }
            if step % 97 == 0 {
                assert_chunks(&incremental.ranking);
            }
        }
        assert_chunks(&incremental.ranking);
        let current: Vec<MarketSnapshot> = latest.iter().flatten().cloned().collect();
        let expected = scan(&current, &params);
        let ours: Vec<PairEvaluation> = incremental.evaluations().cloned().collect();
        assert_eq!(ours, expected);
        assert_eq!(
            incremental.qualified_count(),
            expected.iter().filter(|e| e.qualification.passed).count()
        );
        let ranking = incremental.ranking();
        for (position, evaluation) in expected.iter().enumerate().step_by(37) {
            assert_eq!(&**ranking.get(position).unwrap(), evaluation);
        }
        assert!(ranking.get(expected.len()).is_none());
        // the ranking taken before the updates is untouched
        let kept: Vec<PairEvaluation> = before.iter().map(|e| (**e).clone()).collect();
        assert_eq!(kept, before_order);
        assert_eq!(before.len(), size);
    }

    #[test]
    fn chunks_split_when_full_and_merge_when_small() {
        let params = PairSelectionParams::default();
        let make = |i: usize| MarketSnapshot {
            symbol: Symbol::parse(&format!("S{i}USDT")).unwrap(),
            // each one above the last: every new symbol ranks first
            funding_rate: rust_decimal::Decimal::new(300 + i as i64, 6),
            volume_24h_usd: rust_decimal::Decimal::from(5_000_000_000u64),
            ..fixtures::btc()
        };
        let mut incremental = IncrementalScan::new(&[], params.clone());
        let mut latest = Vec::new();
        for i in 0..400 {
            latest.push(make(i));
            incremental.update(&latest[i]);
        }
        assert_chunks(&incremental.ranking);
        assert!(incremental.ranking.chunks.len() > 400 / CHUNK_MAX, "split");
        assert_eq!(
            incremental.evaluations().cloned().collect::<Vec<_>>(),
            scan(&latest, &params)
        );
        for snapshot in latest.drain(..390) {
            assert!(incremental.remove(&snapshot.symbol).is_some());
        }
        assert_chunks(&incremental.ranking);
        assert_eq!(incremental.ranking.chunks.len(), 1, "merged back");
        assert_eq!(
            incremental.evaluations().cloned().collect::<Vec<_>>(),
            scan(&latest, &params)
        );
    }

    #[test]
    fn insert_reports_the_move() {
        let params = PairSelectionParams::default();
        let snapshots = [
            snapshot("ETHUSDT", dec!(0.0003), 5_000_000_000),
            snapshot("BTCUSDT", dec!(0.0005), 5_000_000_000),
        ];
        let mut incremental = IncrementalScan::new(&snapshots, params.clone());
        let mut eth = snapshots[0].clone();
        eth.funding_rate = dec!(0.0008);
        let moved = incremental.insert(evaluate(&eth, &params));
        assert_eq!(moved.position, 0);
        assert_eq!(moved.previous.as_ref().map(|(p, _)| *p), Some(1));
        let added = incremental.insert(evaluate(
            &snapshot("AAAUSDT", dec!(0.00001), 5_000_000_000),
            &params,
        ));
        assert!(added.previous.is_none());
        assert_eq!((added.position, incremental.qualified_count()), (2, 2));
        assert_eq!(
            incremental.ranking().first().unwrap().score.symbol,
            eth.symbol
        );
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

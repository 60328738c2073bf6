//! One scanner pass: qualify and score every snapshot, then rank.
//!
//! Shared by the market-scanner service and the backtester so both pick pairs identically.
//! [`IncrementalScan`] keeps such a pass current one symbol at a time: a market update
//! re-evaluates that symbol only and moves it in the ranking (binary searches over a chunked,
//! shared [`Ranking`]), instead of re-evaluating or re-sorting the others.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::market::MarketSnapshot;
use crate::params::PairSelectionParams;
use crate::qualify::{Qualification, Qualifier, Verdict, qualify};
use crate::score::{
    ScoreBreakdown, Scorer, cmp_totals, total_to_decimal, totals_order, with_history_f64,
};
use crate::types::{Direction, Symbol};

/// The verdict and the score of one symbol: what ranks it (scored even when it failed, so
/// every pair has a score to show).
///
/// Compact on purpose: a full scan makes one per symbol, so the reports that explain it (every
/// check's observed value, threshold and wording; every score component in Decimal) are made
/// on demand from the same snapshot with [`PairEvaluation::qualification`] and
/// [`PairEvaluation::breakdown`], which are `qualify` and `score` themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct PairEvaluation {
    /// The symbol evaluated.
    pub symbol: Symbol,
    /// Direction and failed checks: [`qualify`]'s decision.
    pub verdict: Verdict,
    /// The weighted score total in `f64` ([`crate::score::Scorer::score`]'s, before its
    /// Decimal conversion): the ranking key.
    pub total: f64,
}

impl PairEvaluation {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.verdict.passed()
    }

    /// The hedge that would collect the current funding.
    pub fn direction(&self) -> Option<Direction> {
        self.verdict.direction
    }

    /// The total as [`ScoreBreakdown::total`] shows it.
    pub fn score(&self) -> rust_decimal::Decimal {
        total_to_decimal(self.total)
    }

    /// The full qualification report of `snapshot`, the one this evaluation was made from.
    pub fn qualification(
        &self,
        snapshot: &MarketSnapshot,
        params: &PairSelectionParams,
    ) -> Qualification {
        qualify(snapshot, params)
    }

    /// Every score component of `snapshot`, the one this evaluation was made from.
    pub fn breakdown(
        &self,
        snapshot: &MarketSnapshot,
        params: &PairSelectionParams,
    ) -> ScoreBreakdown {
        Scorer::new(params).score(snapshot)
    }
}

/// Evaluate one snapshot.
pub fn evaluate(snapshot: &MarketSnapshot, params: &PairSelectionParams) -> PairEvaluation {
    Evaluator::new(params).evaluate(snapshot)
}

/// [`evaluate`] with the parameters converted once, to evaluate many snapshots.
#[derive(Debug, Clone)]
pub struct Evaluator<'a> {
    params: &'a PairSelectionParams,
    qualifier: Qualifier<'a>,
    scorer: Scorer<'a>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for `params`.
    pub fn new(params: &'a PairSelectionParams) -> Self {
        Self {
            params,
            qualifier: Qualifier::new(params),
            scorer: Scorer::new(params),
        }
    }

    /// Evaluate one snapshot, as [`evaluate`] does: the verdict of [`qualify`] and the total of
    /// [`crate::score::Scorer::score`], sharing the conversions both need.
    pub fn evaluate(&self, snapshot: &MarketSnapshot) -> PairEvaluation {
        let period = self.params.rate_period_hours;
        let funding = snapshot.funding_per_period(period);
        let direction = snapshot.direction();
        let net_carry = match direction {
            Some(Direction::NegativeCarry) => funding
                .abs()
                .saturating_sub(snapshot.borrow_per_period(period)),
            Some(Direction::PositiveCarry) | None => funding.abs(),
        };
        debug_assert_eq!(net_carry, snapshot.net_carry_per_period(period));
        let (verdict, total) = with_history_f64(&snapshot.funding_history, |history| {
            let spread = crate::score::relative_spread_f64(snapshot.best_bid, snapshot.best_ask);
            (
                self.qualifier
                    .verdict_with(snapshot, direction, funding, history, spread),
                self.scorer.total(snapshot, net_carry, history, spread),
            )
        });
        PairEvaluation {
            symbol: snapshot.symbol.clone(),
            verdict,
            total,
        }
    }
}

/// The order of [`scan`]: qualified pairs by total score (best first, ties by symbol), then
/// the rest by symbol. Totals compare as their Decimal forms do ([`cmp_totals`]).
pub fn scan_order(a: &PairEvaluation, b: &PairEvaluation) -> Ordering {
    let (a_passed, b_passed) = (a.passed(), b.passed());
    b_passed
        .cmp(&a_passed)
        .then_with(|| {
            if a_passed {
                cmp_totals(b.total, a.total)
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| a.symbol.cmp(&b.symbol))
}

/// Evaluate every snapshot. Order: qualified pairs by total score (best first, ties by
/// symbol), then the rest by symbol.
pub fn scan(snapshots: &[MarketSnapshot], params: &PairSelectionParams) -> Vec<PairEvaluation> {
    let evaluator = Evaluator::new(params);
    let mut evaluations: Vec<PairEvaluation> =
        snapshots.iter().map(|s| evaluator.evaluate(s)).collect();
    sort_in_scan_order(&mut evaluations, |e| e);
    evaluations
}

/// What [`scan_order`] looks at, gathered once per entry for a sort.
struct SortKey {
    passed: bool,
    total: f64,
    /// The total's Decimal form, made the first time a near tie needs it.
    decimal: std::cell::OnceCell<rust_decimal::Decimal>,
    /// The symbol's first eight bytes, big-endian, zero-padded: symbols are uppercase letters
    /// and digits (never a zero byte), so these order as the symbols do wherever they differ.
    prefix: u64,
    /// Position before the sort, so that equal entries keep their order.
    index: usize,
}

impl SortKey {
    fn new(evaluation: &PairEvaluation, index: usize) -> Self {
        let bytes = evaluation.symbol.as_str().as_bytes();
        let mut prefix = [0u8; 8];
        let len = bytes.len().min(prefix.len());
        prefix[..len].copy_from_slice(&bytes[..len]);
        Self {
            passed: evaluation.passed(),
            total: evaluation.total,
            decimal: std::cell::OnceCell::new(),
            prefix: u64::from_be_bytes(prefix),
            index,
        }
    }

    /// [`cmp_totals`] with each side's Decimal form made once.
    fn cmp_totals(&self, other: &Self) -> Ordering {
        totals_order(self.total, other.total).unwrap_or_else(|| {
            let decimal = |key: &Self| *key.decimal.get_or_init(|| total_to_decimal(key.total));
            decimal(self).cmp(&decimal(other))
        })
    }
}

/// Sorts `entries` into [`scan_order`], as a stable sort with it would (a full scan sorts
/// thousands of entries: comparing gathered keys and a symbol prefix first, before the
/// symbols themselves, makes that several times cheaper).
fn sort_in_scan_order<T>(entries: &mut Vec<T>, evaluation: impl Fn(&T) -> &PairEvaluation) {
    let mut keyed: Vec<(SortKey, T)> = entries
        .drain(..)
        .enumerate()
        .map(|(index, entry)| (SortKey::new(evaluation(&entry), index), entry))
        .collect();
    keyed.sort_unstable_by(|(a, a_entry), (b, b_entry)| {
        b.passed
            .cmp(&a.passed)
            .then_with(|| {
                if a.passed {
                    b.cmp_totals(a)
                } else {
                    Ordering::Equal
                }
            })
            .then_with(|| a.prefix.cmp(&b.prefix))
            .then_with(|| evaluation(a_entry).symbol.cmp(&evaluation(b_entry).symbol))
            .then_with(|| a.index.cmp(&b.index))
    });
    entries.extend(keyed.into_iter().map(|(_, entry)| entry));
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
            .get(&moved.entry.symbol)
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
            by_symbol.insert(entry.evaluation().symbol.clone(), Arc::new(entry));
        }
        let mut sorted: Vec<Arc<T>> = by_symbol.values().cloned().collect();
        sort_in_scan_order(&mut sorted, |entry| entry.evaluation());
        let qualified = sorted.iter().filter(|e| e.evaluation().passed()).count();
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
        let symbol = &entry.evaluation().symbol;
        let replaced = match self.entries.get_mut(symbol) {
            Some(slot) => Some(std::mem::replace(slot, Arc::clone(&entry))),
            None => {
                self.entries.insert(symbol.clone(), Arc::clone(&entry));
                None
            }
        };
        let previous = replaced.map(|old| {
            let (position, _) = self.ranking.remove(&old).expect("every entry is ranked");
            if old.evaluation().passed() {
                self.qualified -= 1;
            }
            (position, old)
        });
        if entry.evaluation().passed() {
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
        if entry.evaluation().passed() {
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
        .filter(|e| e.passed())
        .filter_map(|e| Some((e.symbol.clone(), e.direction()?)))
        .take(max_pairs as usize)
        .collect()
}

/// Qualified symbols in ranking order, at most `max_pairs`.
pub fn ranked_symbols(evaluations: &[PairEvaluation], max_pairs: u32) -> Vec<Symbol> {
    evaluations
        .iter()
        .filter(|e| e.passed())
        .take(max_pairs as usize)
        .map(|e| e.symbol.clone())
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
        let order: Vec<&str> = evaluations.iter().map(|e| e.symbol.as_str()).collect();
        assert_eq!(order, vec!["BTCUSDT", "ETHUSDT", "AAAUSDT"]);
        let ranked = ranked_symbols(&evaluations, 1);
        assert_eq!(ranked, vec![Symbol::parse("BTCUSDT").unwrap()]);
    }

    fn symbols<'a>(evaluations: impl Iterator<Item = &'a PairEvaluation>) -> Vec<Symbol> {
        evaluations.map(|e| e.symbol.clone()).collect()
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
        assert!(incremental.update(&snapshots[0]).passed());
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
            expected.iter().filter(|e| e.passed()).count()
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
        assert_eq!(incremental.ranking().first().unwrap().symbol, eth.symbol);
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

/// The scan decides, orders and shows exactly what the scan before the fast verdict and score
/// did (the full report, the 2026-12-03 scorer, totals compared as Decimal).
#[cfg(test)]
mod same_as_previous {
    use super::*;
    use crate::market::fixtures;
    use crate::score::previous;
    use crate::types::FundingInterval;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    /// The former `scan`: each symbol's report and breakdown, sorted on them.
    fn previous_scan(
        snapshots: &[MarketSnapshot],
        params: &PairSelectionParams,
    ) -> Vec<(Qualification, ScoreBreakdown)> {
        let scorer = Scorer::new(params);
        let mut evaluations: Vec<(Qualification, ScoreBreakdown)> = snapshots
            .iter()
            .map(|s| (qualify(s, params), previous::score(&scorer, s).0))
            .collect();
        evaluations.sort_by(|(qa, sa), (qb, sb)| {
            qb.passed
                .cmp(&qa.passed)
                .then_with(|| {
                    if qa.passed {
                        sb.total.cmp(&sa.total)
                    } else {
                        Ordering::Equal
                    }
                })
                .then_with(|| sa.symbol.cmp(&sb.symbol))
        });
        evaluations
    }

    fn assert_same_as_previous(snapshots: &[MarketSnapshot], params: &PairSelectionParams) {
        let ours = scan(snapshots, params);
        let theirs = previous_scan(snapshots, params);
        assert_eq!(ours.len(), theirs.len());
        let by_symbol: HashMap<&Symbol, &MarketSnapshot> =
            snapshots.iter().map(|s| (&s.symbol, s)).collect();
        for (rank, (evaluation, (report, breakdown))) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(evaluation.symbol, breakdown.symbol, "rank {rank}");
            assert_eq!(
                evaluation.verdict,
                report.verdict(),
                "{}",
                evaluation.symbol
            );
            assert_eq!(evaluation.score().to_string(), breakdown.total.to_string());
            // the reports made on demand are the ones a scan used to keep
            let snapshot = by_symbol[&evaluation.symbol];
            assert_eq!(&evaluation.qualification(snapshot, params), report);
            let shown = evaluation.breakdown(snapshot, params);
            assert_eq!(format!("{shown:?}"), format!("{breakdown:?}"));
        }
        assert_eq!(
            ranked_pairs(&ours, u32::MAX),
            theirs
                .iter()
                .filter(|(q, _)| q.passed)
                .filter_map(|(q, b)| Some((b.symbol.clone(), q.direction?)))
                .collect::<Vec<_>>()
        );
    }

    /// The synthetic shard of the scanner's benches (`benches/common/mod.rs`), as its engine
    /// hands it to fff-core: funding of both signs on 1/4/8 h intervals, volumes across the
    /// threshold, 1 in 7 without margin, a spot book and 21 settled rates each.
    pub(crate) fn bench_shard(size: usize) -> Vec<MarketSnapshot> {
        (0..size)
            .map(|i| {
                let magnitude = Decimal::new((i % 997) as i64, 6);
                let funding = if i % 3 == 0 { -magnitude } else { magnitude };
                MarketSnapshot {
                    symbol: Symbol::parse(&format!("S{i}USDT")).unwrap(),
                    funding_rate: funding,
                    funding_interval: FundingInterval::from_hours([1, 4, 8][i % 3]).unwrap(),
                    volume_24h_usd: Decimal::from(50_000_000 + (i % 100) * 10_000_000)
                        .min(Decimal::from(2_000_000_000u64)),
                    best_bid: Decimal::new(9_999, 2),
                    best_ask: Decimal::new(99_991 + (i % 40) as i64, 3),
                    open_interest_usd: Decimal::from(900_000_000u64),
                    margin_enabled: i % 7 != 0,
                    borrow_rate_hourly: Decimal::new(833, 8),
                    funding_history: (0..21)
                        .map(|k| funding + Decimal::new(((k + i) % 5) as i64 - 2, 5))
                        .collect(),
                }
            })
            .collect()
    }

    #[test]
    fn the_bench_shard_scans_as_before() {
        let shard = bench_shard(5_000);
        let params = PairSelectionParams::default();
        assert_same_as_previous(&shard, &params);
        let qualified = scan(&shard, &params).iter().filter(|e| e.passed()).count();
        assert!(qualified > 1_000 && qualified < 4_000, "{qualified}");
        // with the persistence horizon on, other pairs pass
        let long = PairSelectionParams {
            max_holding_horizon_hours: 2_160,
            ..params
        };
        assert_same_as_previous(&shard, &long);
    }

    fn arbitrary_snapshot() -> impl Strategy<Value = MarketSnapshot> {
        (
            -3_000i64..3_000,
            prop::sample::select(vec![1u32, 4, 8]),
            prop::sample::select(vec![90i64, 200, 900, 5_000, 20_000]),
            0i64..40,
            any::<bool>(),
            proptest::collection::vec(-3_000i64..3_000, 0..8),
        )
            .prop_map(
                |(funding, interval, volume, spread_ticks, margin, history)| MarketSnapshot {
                    funding_rate: Decimal::new(funding, 7),
                    funding_interval: FundingInterval::from_hours(interval).unwrap(),
                    volume_24h_usd: Decimal::from(volume * 1_000_000),
                    best_bid: Decimal::new(9_999, 2),
                    best_ask: Decimal::new(99_990 + spread_ticks, 3),
                    margin_enabled: margin,
                    funding_history: history.into_iter().map(|h| Decimal::new(h, 7)).collect(),
                    ..fixtures::btc()
                },
            )
    }

    proptest! {
        /// Coarse inputs, so that totals often tie exactly (the same inputs under two symbols).
        #[test]
        fn random_shards_scan_as_before(
            snapshots in proptest::collection::vec(arbitrary_snapshot(), 1..40),
            copies in 1usize..3,
        ) {
            let snapshots: Vec<MarketSnapshot> = snapshots
                .iter()
                .cycle()
                .take(snapshots.len() * copies)
                .enumerate()
                .map(|(i, s)| MarketSnapshot {
                    symbol: Symbol::parse(&format!("S{i}USDT")).unwrap(),
                    ..s.clone()
                })
                .collect();
            assert_same_as_previous(&snapshots, &PairSelectionParams::default());
        }
    }
}

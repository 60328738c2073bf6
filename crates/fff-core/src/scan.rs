//! One scanner pass: qualify and score every snapshot, then rank.
//!
//! Shared by the market-scanner service and the backtester so both pick pairs identically.

use serde::Serialize;

use crate::market::MarketSnapshot;
use crate::params::PairSelectionParams;
use crate::qualify::{Qualification, qualify};
use crate::score::{ScoreBreakdown, score};
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
    PairEvaluation {
        qualification: qualify(snapshot, params),
        score: score(snapshot, params),
    }
}

/// Evaluate every snapshot. Order: qualified pairs by total score (best first, ties by
/// symbol), then the rest by symbol.
pub fn scan(snapshots: &[MarketSnapshot], params: &PairSelectionParams) -> Vec<PairEvaluation> {
    let mut evaluations: Vec<PairEvaluation> =
        snapshots.iter().map(|s| evaluate(s, params)).collect();
    evaluations.sort_by(|a, b| {
        b.qualification
            .passed
            .cmp(&a.qualification.passed)
            .then_with(|| {
                if a.qualification.passed {
                    b.score.total.cmp(&a.score.total)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| a.score.symbol.cmp(&b.score.symbol))
    });
    evaluations
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
}

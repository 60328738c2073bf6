//! The decision interface the replay drives: the fff-core strategy, the baselines and the
//! perfect-foresight bound all implement it, so they share one accounting path.

use fff_core::Direction;
use rust_decimal::Decimal;

use super::book::Book;
use super::market::SymbolState;
use crate::data::Dataset;

/// What a policy sees at a decision instant.
pub struct DecisionContext<'a> {
    pub now_ms: i64,
    pub dataset: &'a Dataset,
    pub market: &'a [SymbolState],
    pub book: &'a Book,
}

/// A change a policy asks for. Symbols not mentioned keep their hedge.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// Hold `notional` (perp-leg USDT) in `direction`; a different direction flips.
    Set {
        symbol: usize,
        direction: Direction,
        notional: Decimal,
    },
    /// Close the hedge.
    Close { symbol: usize },
}

/// Counters a policy reports for the run summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PolicyStats {
    /// Decision passes run.
    pub decisions: u64,
    /// Decision passes while new entries were halted (drawdown or margin tier).
    pub halted_decisions: u64,
    /// Times the drawdown tracker halted new entries.
    pub halts: u64,
    /// Times the hard drawdown limit was reached.
    pub limit_breaches: u64,
    /// Times the drawdown limit's directive (`risk.drawdown_limit_action`) de-risked the book.
    pub limit_actions: u64,
    /// Margin-tier transitions.
    pub tier_changes: u64,
    /// Candidate evaluations (qualification + score) performed.
    pub evaluations: u64,
    /// Qualification filters whose inputs history lacks, with how many evaluations skipped them.
    pub skipped_filters: Vec<(String, u64)>,
    /// Why hedges were closed or flipped (rebalance-table reasons, turnover, risk).
    pub actions_by_reason: std::collections::BTreeMap<String, u64>,
    /// Free-form notes for the report.
    pub notes: Vec<String>,
}

/// A decision maker replayed over history.
pub trait Policy {
    /// Short name used in reports.
    fn name(&self) -> &str;
    /// Hours between decisions.
    fn decision_interval_hours(&self) -> u32;
    /// Orders for this instant.
    fn decide(&mut self, ctx: &DecisionContext<'_>) -> Vec<Order>;
    /// Symbols whose exits ordered by the last [`decide`](Self::decide) are urgent (taker
    /// throughout, no maker-first staging); the rest are staged.
    fn urgent_exits(&self) -> Vec<usize> {
        Vec::new()
    }
    /// Counters for the summary.
    fn stats(&self) -> PolicyStats {
        PolicyStats::default()
    }
}

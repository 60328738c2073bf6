//! One symbol evaluated by fff-core, with the extra market facts a snapshot reports, and the
//! ranking order (the same as [`fff_core::scan`]).

use std::cmp::Ordering;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use fff_core::rates::annualize;
use fff_core::scan::{Evaluator, Ranked, scan_order};
use fff_core::{
    CheckName, Direction, MarketSnapshot, PairEvaluation, PairSelectionParams, Qualification,
    ScoreBreakdown, Symbol,
};
use fff_proto::fff::scanner::v1 as pb;
use rust_decimal::Decimal;

use crate::state::SymbolState;

/// Parameters of the evaluation and of the derived (display) figures.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalParams {
    pub selection: PairSelectionParams,
    /// Days over which a round trip's fees are amortized in `expected_net_apr`.
    pub fee_amortization_days: u32,
    /// Capacity per leg in basis points of the lower 24 h volume.
    pub capacity_volume_bps: u32,
}

impl Default for EvalParams {
    fn default() -> Self {
        Self {
            selection: PairSelectionParams::default(),
            fee_amortization_days: 30,
            capacity_volume_bps: 10,
        }
    }
}

/// Market facts reported alongside the evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct PairFacts {
    pub next_funding_time: Option<DateTime<Utc>>,
    pub mark_price: Decimal,
    pub spot_mid: Option<Decimal>,
    pub spot_taker_fee: Decimal,
    pub perp_taker_fee: Decimal,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A symbol's inputs and fff-core's verdict on them.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub market: MarketSnapshot,
    pub evaluation: PairEvaluation,
    pub facts: PairFacts,
    /// The wire form without its rank, made by the first snapshot that sends it and reused
    /// by every later snapshot and subscriber until the symbol is re-evaluated (it depends on
    /// this evaluation and the engine's fixed parameters only). Boxed: it would double the
    /// size of an entry that a universe reload moves several times per symbol.
    pub(crate) wire: OnceLock<Box<pb::Opportunity>>,
    /// The score in Decimal, as shown and filtered on, made when first asked for (a full
    /// scan ranks on the `f64` total and converts none).
    shown_score: OnceLock<Decimal>,
}

/// Equal inputs and verdict (the cached wire form follows from them).
impl PartialEq for Evaluated {
    fn eq(&self, other: &Self) -> bool {
        self.market == other.market
            && self.evaluation == other.evaluation
            && self.facts == other.facts
    }
}

impl Evaluated {
    /// Qualifies and scores `state` with fff-core.
    pub fn of(state: &SymbolState, params: &EvalParams) -> Self {
        Self::with(state, &Evaluator::new(&params.selection))
    }

    /// [`Evaluated::of`] with an evaluator made once for many symbols.
    pub fn with(state: &SymbolState, evaluator: &Evaluator<'_>) -> Self {
        let market = state.market_snapshot();
        let evaluation = evaluator.evaluate(&market);
        Self {
            market,
            evaluation,
            facts: PairFacts {
                next_funding_time: state.next_funding_time,
                mark_price: state.mark_price,
                spot_mid: state.spot_mid(),
                spot_taker_fee: state.spot_taker_fee,
                perp_taker_fee: state.perp_taker_fee,
                updated_at: state.updated_at,
            },
            wire: OnceLock::new(),
            shown_score: OnceLock::new(),
        }
    }

    pub fn symbol(&self) -> &Symbol {
        &self.evaluation.symbol
    }

    pub fn qualified(&self) -> bool {
        self.evaluation.passed()
    }

    pub fn direction(&self) -> Option<Direction> {
        self.evaluation.direction()
    }

    /// The total score as shown (fff-core's `ScoreBreakdown::total`).
    pub fn score(&self) -> Decimal {
        *self.shown_score.get_or_init(|| self.evaluation.score())
    }

    /// The checks that failed, in report order.
    pub fn failed_checks(&self) -> impl Iterator<Item = CheckName> + '_ {
        self.evaluation.verdict.failed.iter()
    }

    /// Every check with its observed value, threshold and explanation: fff-core's report on
    /// the same inputs, made on demand.
    pub fn qualification(&self, params: &EvalParams) -> Qualification {
        self.evaluation
            .qualification(&self.market, &params.selection)
    }

    /// Every score component in Decimal: fff-core's breakdown of the same inputs, made on
    /// demand.
    pub fn breakdown(&self, params: &EvalParams) -> ScoreBreakdown {
        self.evaluation.breakdown(&self.market, &params.selection)
    }

    /// Funding annualized: the per-period rate times periods per year.
    pub fn funding_apr(&self, params: &EvalParams) -> Decimal {
        let period = params.selection.rate_period_hours;
        annualize(self.market.funding_per_period(period), period)
    }

    /// Annualized borrow cost; zero unless the direction shorts spot.
    pub fn borrow_apr(&self, params: &EvalParams) -> Decimal {
        let period = params.selection.rate_period_hours;
        match self.direction() {
            Some(direction) if direction.borrows() => {
                annualize(self.market.borrow_per_period(period), period)
            }
            _ => Decimal::ZERO,
        }
    }

    /// Net carry annualized, minus one round trip of taker fees on both legs spread over
    /// `fee_amortization_days`.
    pub fn expected_net_apr(&self, params: &EvalParams) -> Decimal {
        let period = params.selection.rate_period_hours;
        let carry = annualize(self.market.net_carry_per_period(period), period);
        let round_trip = (self
            .facts
            .spot_taker_fee
            .saturating_add(self.facts.perp_taker_fee))
        .saturating_mul(Decimal::TWO);
        let fees_per_year = round_trip
            .saturating_mul(Decimal::from(365u32))
            .checked_div(Decimal::from(params.fee_amortization_days.max(1)))
            .unwrap_or(Decimal::MAX);
        carry.saturating_sub(fees_per_year)
    }

    /// `(mark - spot mid) / spot mid`, if the spot book is known.
    pub fn basis(&self) -> Option<Decimal> {
        let mid = self.facts.spot_mid?;
        self.facts.mark_price.checked_sub(mid)?.checked_div(mid)
    }

    /// Suggested notional per leg: a fraction of the thinner venue's 24 h volume.
    pub fn capacity_usdt(&self, params: &EvalParams) -> Decimal {
        self.market
            .volume_24h_usd
            .saturating_mul(Decimal::from(params.capacity_volume_bps))
            / Decimal::from(10_000u32)
    }

    /// Mean of the recorded settled funding rates (per funding interval).
    pub fn funding_rate_mean(&self) -> Option<Decimal> {
        let history = &self.market.funding_history;
        if history.is_empty() {
            return None;
        }
        let sum = history
            .iter()
            .try_fold(Decimal::ZERO, |acc, rate| acc.checked_add(*rate))?;
        sum.checked_div(Decimal::from(history.len()))
    }
}

impl Ranked for Evaluated {
    fn evaluation(&self) -> &PairEvaluation {
        &self.evaluation
    }
}

/// Ranking order of [`fff_core::scan`] ([`scan_order`]): qualified pairs by total score (best
/// first, ties by symbol), then the rest by symbol; a test pins it to `scan`.
pub fn rank_order(a: &Evaluated, b: &Evaluated) -> Ordering {
    scan_order(&a.evaluation, &b.evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::instrument;
    use rust_decimal_macros::dec;

    fn evaluated(symbol: &str, funding: &str, volume: &str) -> Evaluated {
        let mut raw = instrument(symbol, funding);
        raw.spot_quote_volume_24h = volume.to_owned();
        let mut state = SymbolState::from_instrument(&raw, 5).unwrap();
        state.spot_book = Some(crate::state::Book {
            bid: dec!(179.999),
            ask: dec!(180.001),
        });
        for (i, rate) in ["0.0001", "0.0002", "0.00015"].iter().enumerate() {
            state.record_settled(crate::state::Settlement {
                time: DateTime::from_timestamp(i as i64 * 3600, 0).unwrap(),
                rate: rate.parse().unwrap(),
                exact: true,
            });
        }
        Evaluated::of(&state, &EvalParams::default())
    }

    #[test]
    fn ranking_matches_fff_core_scan() {
        let params = EvalParams::default();
        let mut all = [
            evaluated("AAAUSDT", "0.0003", "900000000"),
            evaluated("BBBUSDT", "0.0003", "900000000"), // tie with AAA: symbol order
            evaluated("CCCUSDT", "0.00001", "900000000"), // fails funding
            evaluated("DDDUSDT", "0.0009", "200000000"),
            evaluated("EEEUSDT", "-0.0009", "50000000"), // fails volume
            evaluated("FFFUSDT", "0.0002", "5000000000"),
        ];
        let snapshots: Vec<MarketSnapshot> = all.iter().map(|e| e.market.clone()).collect();
        let expected: Vec<Symbol> = fff_core::scan(&snapshots, &params.selection)
            .into_iter()
            .map(|e| e.symbol)
            .collect();
        all.reverse();
        all.sort_by(rank_order);
        let ours: Vec<Symbol> = all.iter().map(|e| e.symbol().clone()).collect();
        assert_eq!(ours, expected);
        assert!(all[0].qualified() && !all[5].qualified());
    }

    /// What a snapshot shows of each symbol (verdict, failed filters, score) is what
    /// fff-core's full report and breakdown say about the same inputs, on a shard with pairs
    /// in and out, of both signs and 1/4/8 h intervals.
    #[test]
    fn shown_figures_are_fff_core_reports() {
        let params = EvalParams::default();
        let mut shown = Vec::new();
        for i in 0..300usize {
            let funding = format!("{}0.000{:03}", if i % 3 == 0 { "-" } else { "" }, i % 997);
            let mut e = evaluated(&format!("S{i}USDT"), &funding, "900000000");
            if i % 7 == 0 {
                e = {
                    let mut raw = instrument(&format!("S{i}USDT"), &funding);
                    raw.margin_trading_allowed = false;
                    raw.funding_interval_hours = [1, 4, 8][i % 3];
                    Evaluated::of(&SymbolState::from_instrument(&raw, 5).unwrap(), &params)
                };
            }
            let report = fff_core::qualify(&e.market, &params.selection);
            let breakdown = fff_core::score(&e.market, &params.selection);
            assert_eq!(e.qualified(), report.passed);
            assert_eq!(e.direction(), report.direction);
            let failed: Vec<CheckName> = e.failed_checks().collect();
            let reported: Vec<CheckName> = report.failures().map(|c| c.name).collect();
            assert_eq!(failed, reported);
            assert_eq!(e.score().to_string(), breakdown.total.to_string());
            assert_eq!(e.qualification(&params), report);
            assert_eq!(
                format!("{:?}", e.breakdown(&params)),
                format!("{breakdown:?}")
            );
            shown.push(e.qualified());
        }
        assert!(shown.iter().any(|q| *q) && shown.iter().any(|q| !*q));
    }

    #[test]
    fn derived_figures() {
        let params = EvalParams::default();
        let e = evaluated("SOLUSDT", "-0.00012", "400000000");
        // -0.00012 per 4 h = -0.00024 per 8 h = -0.2628 a year
        assert_eq!(e.funding_apr(&params), dec!(-0.2628));
        // 0.00000833 per hour = 0.0729708 a year
        assert_eq!(e.borrow_apr(&params), dec!(0.0729708));
        // carry 0.2628 - 0.0729708 = 0.1898292; fees 2 x 0.0015 over 30 days = 0.0365 a year
        assert_eq!(e.expected_net_apr(&params), dec!(0.1898292) - dec!(0.0365));
        assert_eq!(e.capacity_usdt(&params), dec!(400000));
        assert_eq!(e.basis(), Some(Decimal::ZERO));
        assert_eq!(e.funding_rate_mean(), Some(dec!(0.00015)));
    }
}

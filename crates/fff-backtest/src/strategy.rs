//! The fff strategy, replayed: every decision is made by `fff-core` (qualification, scoring,
//! allocation, minimal turnover, rebalance table, margin tiers, drawdown halt). This module
//! only translates replay state into core inputs and core outputs into orders.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::DateTime;
use fff_core::drawdown::limit_directive;
use fff_core::priority::{ExitCandidate, exit_order};
use fff_core::scan::Evaluator;
use fff_core::{
    Action, CapitalModel, CheckName, Direction, DrawdownEvent, DrawdownTracker, HedgeContext,
    HedgeState, MarginDirective, MarginTier, PairSelectionParams, Reason, RiskParams, SwitchCosts,
    Symbol, SymbolFilters, TierTracker, directive_for,
};
use rust_decimal::Decimal;

mod entries;
pub(crate) mod sizing;

use crate::config::BacktestConfig;
use crate::engine::market::SymbolState;
use crate::engine::policy::{DecisionContext, Order, Policy, PolicyStats};

/// Cached per-symbol evaluation, valid while the symbol's state version is unchanged.
pub(crate) struct Evaluation {
    version: u64,
    /// The hedge that would collect the signal rate (`MarketSnapshot::direction`).
    pub(crate) direction: Option<Direction>,
    /// `MarketSnapshot::net_carry_per_period` at the rate period.
    pub(crate) net_carry: Decimal,
    /// Every check passed except those history cannot evaluate.
    pub(crate) passed: bool,
    /// `fff_core::score`'s total before its Decimal form (`ScoreBreakdown::total`), the
    /// ranking key: [`fff_core::score::cmp_totals`] orders it as that Decimal form.
    pub(crate) total: f64,
}

/// Qualification checks whose inputs history may lack, counted per evaluation that skipped
/// them (reported by name, so the order here does not matter).
const SKIPPABLE: [CheckName; 3] = [
    CheckName::Spread,
    CheckName::OpenInterest,
    CheckName::Volume24h,
];

/// The strategy under test.
pub struct Strategy {
    config: BacktestConfig,
    model: CapitalModel,
    drawdown: DrawdownTracker,
    /// Like the risk service: one tracker on futures margin coverage, one on the cross-margin
    /// level (its own thresholds), the account's tier is the worse of the two.
    futures_tiers: TierTracker,
    cross_tiers: TierTracker,
    cross_params: RiskParams,
    tier: Option<MarginTier>,
    breached: bool,
    /// The drawdown limit's directive for this pass (set in `risk_gate`).
    limit_close: bool,
    limit_cut: Option<Decimal>,
    limit_cut_applied: bool,
    close_label: &'static str,
    /// Symbols whose exits this pass are urgent (basis break, drawdown limit, Red tier).
    urgent: Vec<usize>,
    /// The last pass's [`Strategy::fingerprint`] (empty before the first), and a buffer.
    last_fingerprint: Vec<u128>,
    fingerprint: Vec<u128>,
    /// No exchange filters in history: quantity rounding is left out of the replay.
    filters: SymbolFilters,
    cache: Vec<Option<Evaluation>>,
    /// [`Strategy::symbol_index`], for a market of `indexed` symbols.
    symbol_index: Arc<BTreeMap<Symbol, usize>>,
    indexed: usize,
    /// `[pair_selection]`, shared with the evaluator a decision pass builds from it.
    selection: Arc<PairSelectionParams>,
    stats: PolicyStats,
    /// Evaluations that skipped each of [`SKIPPABLE`].
    skipped: [u64; SKIPPABLE.len()],
    /// Rebalance-table decisions by action label and reason; formatted into
    /// `PolicyStats::actions_by_reason` only in [`Policy::stats`].
    table_counts: Vec<(&'static str, Reason, u64)>,
    evaluations: u64,
}

impl Strategy {
    pub fn new(config: BacktestConfig, model: CapitalModel) -> Self {
        Self {
            drawdown: DrawdownTracker::new(&config.risk),
            futures_tiers: TierTracker::new(),
            cross_tiers: TierTracker::new(),
            cross_params: config.risk.for_cross_margin(),
            tier: None,
            model,
            breached: false,
            limit_close: false,
            limit_cut: None,
            limit_cut_applied: false,
            close_label: "",
            urgent: Vec::new(),
            last_fingerprint: Vec::new(),
            fingerprint: Vec::new(),
            filters: SymbolFilters::unconstrained(),
            selection: Arc::new(config.pair_selection.clone()),
            config,
            cache: Vec::new(),
            symbol_index: Arc::default(),
            indexed: 0,
            stats: PolicyStats::default(),
            skipped: [0; SKIPPABLE.len()],
            table_counts: Vec::new(),
            evaluations: 0,
        }
    }

    /// Whether the check is one whose inputs history does not have (reported, not applied):
    /// spread and open interest always, 24h volume when the data has none.
    fn skipped_check(state: &SymbolState, name: CheckName) -> bool {
        match name {
            CheckName::Spread | CheckName::OpenInterest => true,
            CheckName::Volume24h => state.volume_24h.is_none(),
            _ => false,
        }
    }

    /// The symbol's evaluation, made by `evaluator` (fff-core's scan evaluator: `qualify`'s
    /// verdict and `score`'s total, without their reports) when its state changed.
    pub(crate) fn evaluate<'p>(
        &mut self,
        evaluator: &mut Option<Evaluator<'p>>,
        selection: &'p PairSelectionParams,
        index: usize,
        state: &SymbolState,
    ) -> Option<&Evaluation> {
        if self.cache.len() <= index {
            self.cache.resize_with(index + 1, || None);
        }
        let fresh = self.cache[index]
            .as_ref()
            .is_some_and(|e| e.version == state.version);
        if !fresh {
            let n = self.config.backtest.signal_settlements as usize;
            // Prices only move the (neutral) book fields, so any instant serves here.
            let assume = self.config.backtest.assume_margin_for_unknown_assets;
            let snapshot = state.snapshot(0, n, assume)?;
            // Made for the first symbol of a pass that needs it.
            let evaluation = evaluator
                .get_or_insert_with(|| Evaluator::new(selection))
                .evaluate(&snapshot);
            let passed = evaluation
                .verdict
                .failed
                .iter()
                .all(|name| Self::skipped_check(state, name));
            self.evaluations += 1;
            for (count, name) in self.skipped.iter_mut().zip(SKIPPABLE) {
                if Self::skipped_check(state, name) {
                    *count += 1;
                }
            }
            self.cache[index] = Some(Evaluation {
                version: state.version,
                direction: evaluation.direction(),
                net_carry: snapshot.net_carry_per_period(self.selection.rate_period_hours),
                passed,
                total: evaluation.total,
            });
        }
        self.cache[index].as_ref()
    }

    /// Each symbol's index in the market (the first, should a name repeat), built once: the
    /// market's symbols do not change during a replay.
    pub(crate) fn symbol_index(
        &mut self,
        ctx: &DecisionContext<'_>,
    ) -> Arc<BTreeMap<Symbol, usize>> {
        if self.indexed != ctx.market.len() {
            let mut index = BTreeMap::new();
            for (i, state) in ctx.market.iter().enumerate() {
                if let Some(symbol) = &state.symbol {
                    index.entry(symbol.clone()).or_insert(i);
                }
            }
            self.symbol_index = Arc::new(index);
            self.indexed = ctx.market.len();
        }
        Arc::clone(&self.symbol_index)
    }

    /// The parameters an [`Evaluator`] for this pass reads.
    pub(crate) fn selection(&self) -> Arc<PairSelectionParams> {
        Arc::clone(&self.selection)
    }

    /// Drawdown halt and margin tiers: (entries allowed, close everything, cut fraction).
    fn risk_gate(&mut self, ctx: &DecisionContext<'_>) -> (bool, bool, Option<Decimal>) {
        let mut entries_allowed = true;
        let mut close_all = false;
        let mut cut = None;
        let now = DateTime::from_timestamp_millis(ctx.now_ms).unwrap_or_default();
        if let Ok(status) = self
            .drawdown
            .observe(now, ctx.book.equity(), &self.config.risk)
        {
            if status.event == Some(DrawdownEvent::Halted) {
                self.stats.halts += 1;
            }
            entries_allowed &= !status.entries_halted;
            if status.limit_breached && !self.breached {
                self.stats.limit_breaches += 1;
            }
            self.breached = status.limit_breached;
            // Like the risk service: on the observation that begins a breach of
            // `max_monthly_drawdown`, de-risk once by `risk.drawdown_limit_action` (close all,
            // reduce every hedge, or only halt); the latch keeps entries stopped meanwhile.
            if self.drawdown.limit_breach_began() {
                match limit_directive(&self.config.risk) {
                    MarginDirective::Normal => {}
                    MarginDirective::Reduce { fraction }
                    | MarginDirective::Deleverage { fraction } => {
                        self.stats.limit_actions += 1;
                        self.limit_cut = Some(fraction);
                    }
                    MarginDirective::CloseAll => {
                        self.stats.limit_actions += 1;
                        self.limit_close = true;
                    }
                }
            }
        }
        // Margin tiers as the risk service computes them: the worse of the futures tier
        // (coverage) and the cross-margin tier (level); no positions / loans count as Green.
        let health = ctx.book.wallet_health();
        let futures_tier = match health.futures_coverage {
            Some(coverage) => {
                self.futures_tiers.observe(coverage, &self.config.risk);
                self.futures_tiers.current()
            }
            None => {
                self.futures_tiers = TierTracker::new();
                None
            }
        };
        let cross_tier = match health.margin_level {
            Some(level) => {
                self.cross_tiers.observe(level, &self.cross_params);
                self.cross_tiers.current()
            }
            None => {
                self.cross_tiers = TierTracker::new();
                None
            }
        };
        let tier = futures_tier.max(cross_tier).unwrap_or(MarginTier::Green);
        let previous = self.tier.replace(tier);
        if previous.is_some_and(|p| p != tier) {
            self.stats.tier_changes += 1;
        }
        // Worsening issues the new tier's directive at once (like the risk service).
        if previous.is_none_or(|p| tier > p) {
            match directive_for(tier, &self.config.risk) {
                MarginDirective::Normal => {}
                MarginDirective::Reduce { fraction } | MarginDirective::Deleverage { fraction } => {
                    cut = Some(fraction);
                }
                MarginDirective::CloseAll => close_all = true,
            }
        }
        // Only a healthy (Green) account grows exposure.
        entries_allowed &= tier == MarginTier::Green;
        // The drawdown limit's directive joins the tier's: the stronger one wins.
        self.close_label = if close_all {
            "close: risk (red margin tier)"
        } else {
            "close: drawdown limit (close_all)"
        };
        close_all |= std::mem::take(&mut self.limit_close);
        if let Some(fraction) = self.limit_cut.take() {
            self.limit_cut_applied = true;
            cut = Some(cut.map_or(fraction, |c: Decimal| c.max(fraction)));
        }
        (entries_allowed, close_all, cut)
    }

    /// Writes into `out` what changes whenever market state, the set of hedges or the entry
    /// gate changes: the gate, each symbol's state version and liveness, each hedge's symbol,
    /// direction, quantity and marks (by value: `Decimal::normalize`, so `1.0` and `1.00` are
    /// the same). Compared whole, not hashed, so no two different states can look the same.
    fn fingerprint(ctx: &DecisionContext<'_>, entries_allowed: bool, out: &mut Vec<u128>) {
        let value = |d: Decimal| u128::from_le_bytes(d.normalize().serialize());
        out.clear();
        out.push(u128::from(entries_allowed));
        for state in ctx.market {
            out.push(u128::from(state.version) | u128::from(state.is_live(ctx.now_ms)) << 64);
        }
        out.push(ctx.book.positions.len() as u128);
        for p in &ctx.book.positions {
            let positive = p.direction == Direction::PositiveCarry;
            out.push(p.symbol as u128 | u128::from(positive) << 64);
            out.push(value(p.qty));
            // A new close moves the capital the book ties up against the budget.
            out.push(value(p.perp_price));
            // A new spot close moves the basis the rebalance table checks.
            out.push(value(p.spot_price));
        }
    }

    fn count(&mut self, what: &str, n: u64) {
        if n > 0 {
            *self
                .stats
                .actions_by_reason
                .entry(what.to_string())
                .or_default() += n;
        }
    }

    /// Counts a rebalance-table decision under `"{action}: {reason:?}"` (the label is made
    /// when the stats are read, not on every decision).
    fn count_table(&mut self, action: &'static str, reason: Reason) {
        match self
            .table_counts
            .iter_mut()
            .find(|(a, r, _)| *a == action && *r == reason)
        {
            Some((_, _, n)) => *n += 1,
            None => self.table_counts.push((action, reason, 1)),
        }
    }

    /// `orders` in `fff_core::priority` exit order: expected loss per period (funding paid plus
    /// borrow, on the signal rate and the hourly borrow rate scaled to the rate period)
    /// descending, then notional, then symbol. Orders on symbols not held keep their place
    /// after the held ones.
    fn exit_ordered(&self, ctx: &DecisionContext<'_>, orders: Vec<Order>) -> Vec<Order> {
        let period = self.config.pair_selection.rate_period_hours;
        let signal_n = self.config.backtest.signal_settlements as usize;
        let (held, rest): (Vec<Order>, Vec<Order>) = orders.into_iter().partition(|o| {
            let symbol = match o {
                Order::Close { symbol } | Order::Set { symbol, .. } => *symbol,
            };
            ctx.book.position(symbol).is_some()
        });
        let candidates: Vec<ExitCandidate> = held
            .iter()
            .map(|o| {
                let symbol = match o {
                    Order::Close { symbol } | Order::Set { symbol, .. } => *symbol,
                };
                let state = &ctx.market[symbol];
                let p = ctx.book.position(symbol);
                let interval = fff_core::FundingInterval::from_hours(state.interval_hours)
                    .unwrap_or(fff_core::FundingInterval::EIGHT_HOURS);
                ExitCandidate {
                    symbol: state
                        .symbol
                        .as_ref()
                        .map_or_else(String::new, |s| s.as_str().to_string()),
                    direction: p.map_or(Direction::PositiveCarry, |p| p.direction),
                    notional: p.map_or(Decimal::ZERO, |p| p.notional()),
                    funding_rate: fff_core::rates::normalize_funding_rate(
                        state.signal_rate(signal_n).unwrap_or(Decimal::ZERO),
                        interval,
                        period,
                    ),
                    borrow_rate: fff_core::rates::borrow_rate_for_period(
                        state.borrow_hourly,
                        period,
                    ),
                }
            })
            .collect();
        let mut slots: Vec<Option<Order>> = held.into_iter().map(Some).collect();
        let mut out: Vec<Order> = exit_order(&candidates)
            .into_iter()
            .filter_map(|i| slots[i].take())
            .collect();
        out.extend(rest);
        out
    }

    fn switch_costs(&self) -> SwitchCosts {
        let costs = &self.config.backtest;
        let rate = costs.spot_fee() + costs.futures_fee() + costs.slippage * Decimal::TWO;
        SwitchCosts {
            entry_cost_rate: rate,
            exit_cost_rate: rate,
            horizon_periods: costs.switch_horizon_periods,
        }
    }
}

impl Policy for Strategy {
    fn name(&self) -> &str {
        "fff strategy"
    }

    fn decision_interval_hours(&self) -> u32 {
        self.config.backtest.decision_interval_hours
    }

    fn decide(&mut self, ctx: &DecisionContext<'_>) -> Vec<Order> {
        self.stats.decisions += 1;
        self.urgent.clear();
        let signal_n = self.config.backtest.signal_settlements as usize;
        let (entries_allowed, close_all, cut) = self.risk_gate(ctx);
        let limit_cut = std::mem::take(&mut self.limit_cut_applied);
        if close_all {
            self.count(self.close_label, ctx.book.positions.len() as u64);
            self.urgent = ctx.book.positions.iter().map(|p| p.symbol).collect();
            let closes: Vec<Order> = ctx
                .book
                .positions
                .iter()
                .map(|p| Order::Close { symbol: p.symbol })
                .collect();
            return self.exit_ordered(ctx, closes);
        }
        if !entries_allowed {
            self.stats.halted_decisions += 1;
        }
        // Nothing the pass reads has changed since the last one (no settlement, close or
        // trade, same risk gate): its answer would be the same, so skip the work.
        let mut fingerprint = std::mem::take(&mut self.fingerprint);
        Self::fingerprint(ctx, entries_allowed, &mut fingerprint);
        let unchanged = fingerprint == self.last_fingerprint;
        // The buffers swap: the one just written is the last fingerprint now.
        self.fingerprint = std::mem::replace(&mut self.last_fingerprint, fingerprint);
        if cut.is_none() && unchanged {
            return Vec::new();
        }
        // The rebalancer's decision table for every open hedge.
        let mut orders: BTreeMap<usize, Order> = BTreeMap::new();
        let mut flipped: Vec<usize> = Vec::new();
        for p in &ctx.book.positions {
            let state = &ctx.market[p.symbol];
            let Some(symbol) = state.symbol.clone() else {
                continue;
            };
            let spot_sign = match p.direction {
                Direction::PositiveCarry => Decimal::ONE,
                Direction::NegativeCarry => Decimal::NEGATIVE_ONE,
            };
            // Basis only where both legs have a close of the same day; the perp leg is then
            // marked at that close too.
            let closes = state.same_day_closes(ctx.now_ms);
            let context = HedgeContext {
                spot_price: closes.map(|(spot, _)| spot),
                settlements_against: state.settlements_against(p.direction),
            };
            let hedge = HedgeState {
                symbol,
                direction: p.direction,
                spot_qty: spot_sign * p.qty,
                perp_qty: -spot_sign * p.qty,
                mark_price: closes.map_or(p.perp_price, |(_, perp)| perp),
                funding_rate: state.signal_rate(signal_n).unwrap_or(Decimal::ZERO),
                funding_interval: fff_core::FundingInterval::from_hours(state.interval_hours)
                    .unwrap_or(fff_core::FundingInterval::EIGHT_HOURS),
                borrow_rate_hourly: state.borrow_hourly,
                new_entries_allowed: entries_allowed,
            };
            let decision = fff_core::decide_with(
                &hedge,
                &context,
                &self.filters,
                &self.filters,
                &self.config.rebalance,
                &self.config.pair_selection,
            );
            // Risk exits are not staged: the table's Critical decisions (basis break) and the
            // drawdown limit's cut.
            if decision.priority == fff_core::Priority::Critical || (cut.is_some() && limit_cut) {
                self.urgent.push(p.symbol);
            }
            let notional = match cut {
                Some(fraction) => p.notional() * (Decimal::ONE - fraction),
                None => p.notional(),
            };
            if !matches!(decision.action, Action::None) {
                let name = match decision.action {
                    Action::Flip { .. } => "flip",
                    Action::Close => "close",
                    _ => "adjust",
                };
                self.count_table(name, decision.reason);
            } else if matches!(
                decision.reason,
                Reason::ReversalNotPersisted | Reason::CheaperToHoldThanExit
            ) {
                self.count_table("hold", decision.reason);
            }
            match decision.action {
                Action::Flip { to } => {
                    flipped.push(p.symbol);
                    orders.insert(
                        p.symbol,
                        Order::Set {
                            symbol: p.symbol,
                            direction: to,
                            notional,
                        },
                    );
                }
                Action::Close => {
                    orders.insert(p.symbol, Order::Close { symbol: p.symbol });
                }
                Action::AdjustSmallerLeg { .. } | Action::EmergencyRebalance { .. } => {
                    // Legs are replayed with equal quantities, so drift stays at zero.
                    self.stats
                        .notes
                        .push(format!("unexpected drift on {}", hedge.symbol));
                }
                Action::None if cut.is_some() => {
                    orders.insert(
                        p.symbol,
                        Order::Set {
                            symbol: p.symbol,
                            direction: p.direction,
                            notional,
                        },
                    );
                }
                Action::None => {}
            }
        }
        if entries_allowed {
            self.allocate_entries(ctx, &mut orders, &flipped);
        } else {
            // No entries and no growth, but the book still has to fit the capital budget.
            self.fit_held_to_budget(ctx, &mut orders);
        }
        // Closes first, so the capital they free is there for the entries; among them (and
        // among the cuts of a de-risk) the live exit priority: the costliest to hold first.
        let (closes, sets): (Vec<Order>, Vec<Order>) = orders
            .into_values()
            .partition(|o| matches!(o, Order::Close { .. }));
        let mut out = self.exit_ordered(ctx, closes);
        if cut.is_some() {
            out.extend(self.exit_ordered(ctx, sets));
        } else {
            out.extend(sets);
        }
        out
    }

    fn urgent_exits(&self) -> Vec<usize> {
        self.urgent.clone()
    }

    fn stats(&self) -> PolicyStats {
        let mut stats = self.stats.clone();
        for (action, reason, n) in &self.table_counts {
            *stats
                .actions_by_reason
                .entry(format!("{action}: {reason:?}"))
                .or_default() += n;
        }
        // By name, as a map keyed by the check's name lists them.
        let skipped: BTreeMap<&str, u64> = SKIPPABLE
            .iter()
            .zip(self.skipped)
            .filter(|(_, count)| *count > 0)
            .map(|(name, count)| (name.as_str(), count))
            .collect();
        stats.skipped_filters = skipped
            .into_iter()
            .map(|(name, count)| (name.to_string(), count))
            .collect();
        stats.evaluations = self.evaluations;
        stats
    }
}

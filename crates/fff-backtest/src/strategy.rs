//! The fff strategy, replayed: every decision is made by `fff-core` (qualification, scoring,
//! allocation, minimal turnover, rebalance table, margin tiers, drawdown halt). This module
//! only translates replay state into core inputs and core outputs into orders.

use std::collections::BTreeMap;

use chrono::DateTime;
use fff_core::{
    Action, CapitalModel, CheckName, Direction, DrawdownEvent, DrawdownTracker, HedgeState,
    MarginDirective, MarginTier, MarketSnapshot, RiskParams, ScoreBreakdown, SwitchCosts,
    SymbolFilters, TierTracker, directive_for, qualify, score,
};
use rust_decimal::Decimal;

mod entries;
pub(crate) mod sizing;

use crate::config::BacktestConfig;
use crate::engine::market::SymbolState;
use crate::engine::policy::{DecisionContext, Order, Policy, PolicyStats};

/// Cached per-symbol evaluation, valid while the symbol's state version is unchanged.
struct Evaluation {
    version: u64,
    snapshot: MarketSnapshot,
    passed: bool,
    score: ScoreBreakdown,
}

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
    last_fingerprint: Option<u64>,
    /// No exchange filters in history: quantity rounding is left out of the replay.
    filters: SymbolFilters,
    cache: Vec<Option<Evaluation>>,
    stats: PolicyStats,
    skipped: BTreeMap<&'static str, u64>,
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
            last_fingerprint: None,
            filters: SymbolFilters {
                tick_size: Decimal::ZERO,
                step_size: Decimal::ZERO,
                min_qty: Decimal::ZERO,
                max_qty: Decimal::ZERO,
                market_step_size: Decimal::ZERO,
                min_notional: Decimal::ZERO,
            },
            config,
            cache: Vec::new(),
            stats: PolicyStats::default(),
            skipped: BTreeMap::new(),
            evaluations: 0,
        }
    }

    /// Checks whose inputs history does not have; they are reported, not applied.
    fn skipped_checks(state: &SymbolState) -> Vec<CheckName> {
        let mut skipped = vec![CheckName::Spread, CheckName::OpenInterest];
        if state.volume_24h.is_none() {
            skipped.push(CheckName::Volume24h);
        }
        skipped
    }

    fn evaluate(&mut self, index: usize, state: &SymbolState) -> Option<&Evaluation> {
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
            let params = &self.config.pair_selection;
            let qualification = qualify(&snapshot, params);
            let skipped = Self::skipped_checks(state);
            let passed = qualification
                .checks
                .iter()
                .all(|c| c.passed || skipped.contains(&c.name));
            self.evaluations += 1;
            for name in skipped {
                *self.skipped.entry(name.as_str()).or_default() += 1;
            }
            self.cache[index] = Some(Evaluation {
                version: state.version,
                score: score(&snapshot, params),
                snapshot,
                passed,
            });
        }
        self.cache[index].as_ref()
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
            // Like the risk service, the hard limit is reported, not traded on: the latch
            // (engaged earlier, at the halt threshold) already stops entries.
            if status.limit_breached && !self.breached {
                self.stats.limit_breaches += 1;
            }
            self.breached = status.limit_breached;
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
        (entries_allowed, close_all, cut)
    }

    /// Changes whenever market state, the set of hedges or the entry gate changes.
    fn fingerprint(ctx: &DecisionContext<'_>, entries_allowed: bool) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        entries_allowed.hash(&mut hasher);
        for state in ctx.market {
            state.version.hash(&mut hasher);
            state.is_live(ctx.now_ms).hash(&mut hasher);
        }
        for p in &ctx.book.positions {
            (p.symbol, p.direction == Direction::PositiveCarry).hash(&mut hasher);
            p.qty.hash(&mut hasher);
            // A new close moves the capital the book ties up against the budget.
            p.perp_price.hash(&mut hasher);
        }
        hasher.finish()
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
        let signal_n = self.config.backtest.signal_settlements as usize;
        let (entries_allowed, close_all, cut) = self.risk_gate(ctx);
        if close_all {
            self.count(
                "close: risk (red margin tier)",
                ctx.book.positions.len() as u64,
            );
            return ctx
                .book
                .positions
                .iter()
                .map(|p| Order::Close { symbol: p.symbol })
                .collect();
        }
        if !entries_allowed {
            self.stats.halted_decisions += 1;
        }
        // Nothing the pass reads has changed since the last one (no settlement, close or
        // trade, same risk gate): its answer would be the same, so skip the work.
        let fingerprint = Self::fingerprint(ctx, entries_allowed);
        if cut.is_none() && self.last_fingerprint == Some(fingerprint) {
            return Vec::new();
        }
        self.last_fingerprint = Some(fingerprint);
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
            let hedge = HedgeState {
                symbol,
                direction: p.direction,
                spot_qty: spot_sign * p.qty,
                perp_qty: -spot_sign * p.qty,
                mark_price: p.perp_price,
                funding_rate: state.signal_rate(signal_n).unwrap_or(Decimal::ZERO),
                funding_interval: fff_core::FundingInterval::from_hours(state.interval_hours)
                    .unwrap_or(fff_core::FundingInterval::EIGHT_HOURS),
                borrow_rate_hourly: state.borrow_hourly,
                new_entries_allowed: entries_allowed,
            };
            let decision = fff_core::decide(
                &hedge,
                &self.filters,
                &self.filters,
                &self.config.rebalance,
                &self.config.pair_selection,
            );
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
                self.count(&format!("{name}: {:?}", decision.reason), 1);
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
        // Closes first, so the capital they free is there for the entries.
        let (mut closes, sets): (Vec<Order>, Vec<Order>) = orders
            .into_values()
            .partition(|o| matches!(o, Order::Close { .. }));
        closes.extend(sets);
        closes
    }

    fn stats(&self) -> PolicyStats {
        let mut stats = self.stats.clone();
        stats.skipped_filters = self
            .skipped
            .iter()
            .map(|(name, count)| (name.to_string(), *count))
            .collect();
        stats.evaluations = self.evaluations;
        stats
    }
}

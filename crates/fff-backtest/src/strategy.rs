//! The fff strategy, replayed: every decision is made by `fff-core` (qualification, scoring,
//! allocation, minimal turnover, rebalance table, margin tiers, drawdown halt). This module
//! only translates replay state into core inputs and core outputs into orders.

use std::collections::BTreeMap;

use chrono::DateTime;
use fff_core::{
    Action, CarryPosition, CheckName, Direction, DrawdownEvent, DrawdownTracker, HedgeState,
    MarginDirective, MarketSnapshot, ScoreBreakdown, SwitchCosts, Symbol, SymbolFilters,
    TierTracker, allocate, plan_turnover, qualify, score,
};
use rust_decimal::Decimal;

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
    drawdown: DrawdownTracker,
    tiers: TierTracker,
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
    pub fn new(config: BacktestConfig) -> Self {
        Self {
            drawdown: DrawdownTracker::new(&config.risk),
            tiers: TierTracker::new(),
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
            .observe(now, ctx.book.equity, &self.config.risk)
        {
            if status.event == Some(DrawdownEvent::Halted) {
                self.stats.halts += 1;
            }
            entries_allowed &= !status.entries_halted;
            if status.limit_breached && !self.breached {
                self.stats.limit_breaches += 1;
                close_all = true;
            }
            self.breached = status.limit_breached;
        }
        let maintenance = ctx.book.maintenance_margin();
        if maintenance > Decimal::ZERO {
            let ratio = ctx.book.equity / maintenance;
            if let Some(transition) = self.tiers.observe(ratio, &self.config.risk) {
                self.stats.tier_changes += 1;
                match transition.directive {
                    MarginDirective::Normal => {}
                    MarginDirective::Reduce { fraction }
                    | MarginDirective::Deleverage { fraction } => {
                        cut = Some(fraction);
                    }
                    MarginDirective::CloseAll => close_all = true,
                }
            }
        }
        // Only a healthy (Green) account grows exposure.
        entries_allowed &= self
            .tiers
            .current()
            .is_none_or(|tier| tier == fff_core::MarginTier::Green);
        (entries_allowed, close_all, cut)
    }

    /// Qualify, score, rank, allocate and apply minimal turnover; merges into `orders`.
    fn allocate_entries(
        &mut self,
        ctx: &DecisionContext<'_>,
        orders: &mut BTreeMap<usize, Order>,
        flipped: &[usize],
    ) {
        let period = self.config.pair_selection.rate_period_hours;
        let mut ranked: Vec<(Decimal, usize)> = Vec::new();
        let mut carry: BTreeMap<usize, (Direction, Decimal)> = BTreeMap::new();
        for (index, state) in ctx.market.iter().enumerate() {
            if !state.is_live(ctx.now_ms) {
                continue;
            }
            let Some(eval) = self.evaluate(index, state) else {
                continue;
            };
            let Some(direction) = eval.snapshot.direction() else {
                continue;
            };
            carry.insert(
                index,
                (direction, eval.snapshot.net_carry_per_period(period)),
            );
            let closing = matches!(orders.get(&index), Some(Order::Close { .. }));
            // Entry needs qualification; a held hedge stays a candidate until the rebalance
            // table closes it or minimal turnover hands its slot to a better pair, so a rate
            // hovering at a threshold does not open and close it every settlement.
            let held = ctx.book.position(index).is_some();
            if (eval.passed || held) && !closing {
                ranked.push((eval.score.total, index));
            }
        }
        // Best first; ties by symbol for determinism.
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let symbols: Vec<Symbol> = ranked
            .iter()
            .filter_map(|(_, i)| ctx.market[*i].symbol.clone())
            .collect();
        let index_of = |symbol: &Symbol| {
            ctx.market
                .iter()
                .position(|s| s.symbol.as_ref() == Some(symbol))
        };
        let allocation = match allocate(
            ctx.book.equity,
            &symbols,
            &self.config.capital,
            self.config.pair_selection.max_pairs,
        ) {
            Ok(allocation) => allocation,
            Err(error) => {
                self.stats.notes.push(format!("allocation failed: {error}"));
                return;
            }
        };
        let carry_of = |index: Option<usize>| {
            index
                .and_then(|i| carry.get(&i))
                .map_or(Decimal::ZERO, |c| c.1)
        };
        let proposed: Vec<CarryPosition> = allocation
            .targets
            .iter()
            .map(|t| CarryPosition {
                symbol: t.symbol.clone(),
                notional: t.notional,
                expected_carry: carry_of(index_of(&t.symbol)),
            })
            .collect();
        let held: Vec<CarryPosition> = ctx
            .book
            .positions
            .iter()
            .filter(|p| !matches!(orders.get(&p.symbol), Some(Order::Close { .. })))
            .filter_map(|p| {
                let facing = carry.get(&p.symbol).map_or(Decimal::ZERO, |c| {
                    if c.0 == p.direction || flipped.contains(&p.symbol) {
                        c.1
                    } else {
                        -c.1
                    }
                });
                Some(CarryPosition {
                    symbol: ctx.market[p.symbol].symbol.clone()?,
                    notional: p.notional(),
                    expected_carry: facing,
                })
            })
            .collect();
        let plan = plan_turnover(&held, &proposed, &self.switch_costs());
        let mut lines: Vec<SizedLine> = Vec::new();
        for target in &plan.targets {
            let Some(index) = index_of(&target.symbol) else {
                continue;
            };
            let Some((direction, _)) = carry.get(&index).copied() else {
                continue;
            };
            let current = ctx.book.position(index);
            // A held hedge changes direction only through the rebalance table's flip.
            if let Some(p) = current
                && p.direction != direction
                && !flipped.contains(&index)
            {
                lines.push(SizedLine::keep(index, p.direction, p.notional()));
                continue;
            }
            let held_size = current
                .filter(|p| p.direction == direction)
                .map(|p| p.notional());
            lines.push(SizedLine {
                index,
                direction,
                target: target.notional,
                current: held_size,
                size: held_size.unwrap_or(target.notional),
            });
        }
        let budget = allocation.max_position_notional;
        let cap = allocation.pair_notional_cap;
        // Price moves and funding make the held book drift around the budget; tolerate half
        // the resize band above it, but never into the reserve.
        let capital = &self.config.capital;
        let headroom = ((Decimal::ONE - capital.reserve_ratio)
            .checked_div(capital.target_utilization)
            .unwrap_or(Decimal::ONE)
            - Decimal::ONE)
            .max(Decimal::ZERO);
        let band = self.config.backtest.resize_threshold;
        let slack = (band / Decimal::TWO).min(headroom);
        lazy_resize(&mut lines, budget, cap, band, slack);
        let min_trade = self.config.rebalance.min_trade_usdt;
        let mut targeted = Vec::new();
        for line in &lines {
            targeted.push(line.index);
            let unchanged = line
                .current
                .is_some_and(|c| (c - line.size).abs() < min_trade);
            if unchanged {
                continue;
            }
            orders.insert(
                line.index,
                Order::Set {
                    symbol: line.index,
                    direction: line.direction,
                    notional: line.size,
                },
            );
        }
        for p in &ctx.book.positions {
            if !targeted.contains(&p.symbol)
                && !flipped.contains(&p.symbol)
                && !matches!(orders.get(&p.symbol), Some(Order::Close { .. }))
            {
                self.count("close: dropped by allocation / turnover", 1);
                orders.insert(p.symbol, Order::Close { symbol: p.symbol });
            }
        }
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
                "close: risk (drawdown limit or red margin tier)",
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

/// One hedge of the final plan: what the allocation wants and what is held.
#[derive(Debug, Clone, PartialEq)]
struct SizedLine {
    index: usize,
    direction: Direction,
    /// The allocation's notional for it.
    target: Decimal,
    /// Held notional in the same direction, `None` for entries and flips.
    current: Option<Decimal>,
    /// Notional to hold after this pass.
    size: Decimal,
}

impl SizedLine {
    fn keep(index: usize, direction: Direction, notional: Decimal) -> Self {
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
fn lazy_resize(
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

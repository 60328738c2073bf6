//! Entries: qualify, score, rank, allocate (fff-core's capital model), minimal turnover, then
//! lazy sizing in capital terms.

use std::collections::BTreeMap;

use fff_core::scan::Evaluator;
use fff_core::score::cmp_totals;
use fff_core::{Allocation, CarryPosition, Direction, Symbol, allocate, held_carry, plan_turnover};
use rust_decimal::Decimal;

use super::Strategy;
use super::sizing::{ResizeRule, SizedLine, lazy_resize};
use crate::engine::policy::{DecisionContext, Order};

impl Strategy {
    fn resize_rule(&self, allocation: &Allocation) -> ResizeRule {
        ResizeRule {
            budget: allocation.capital_budget,
            pair_cap: allocation.pair_capital_cap,
            band: self.config.backtest.resize_threshold,
            tolerance: self.config.backtest.budget_tolerance,
        }
    }

    fn unit(&self, direction: Direction) -> Decimal {
        self.model.per_unit(direction).total()
    }

    /// Turns sized lines into orders (changes below `min_trade_usdt` are skipped).
    fn emit(&self, lines: &[SizedLine], orders: &mut BTreeMap<usize, Order>) {
        let min_trade = self.config.rebalance.min_trade_usdt;
        for line in lines {
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
    }

    /// A pass without entries (drawdown halt, margin tier not Green): held hedges, as the
    /// rebalance table and any cut left them, are only trimmed to fit the capital budget.
    pub(super) fn fit_held_to_budget(
        &mut self,
        ctx: &DecisionContext<'_>,
        orders: &mut BTreeMap<usize, Order>,
    ) {
        let allocation = match allocate(ctx.book.equity(), &[], &self.model, 0) {
            Ok(allocation) => allocation,
            Err(error) => {
                self.stats.notes.push(format!("allocation failed: {error}"));
                return;
            }
        };
        let mut lines: Vec<SizedLine> = Vec::new();
        for p in &ctx.book.positions {
            let (direction, notional) = match orders.get(&p.symbol) {
                Some(Order::Close { .. }) => continue,
                Some(Order::Set {
                    direction,
                    notional,
                    ..
                }) => (*direction, *notional),
                None => (p.direction, p.notional()),
            };
            lines.push(SizedLine::keep(
                p.symbol,
                direction,
                self.unit(direction),
                notional,
            ));
        }
        let before: Vec<Decimal> = lines.iter().map(|l| l.size).collect();
        lazy_resize(&mut lines, &self.resize_rule(&allocation));
        let trimmed: Vec<SizedLine> = lines
            .into_iter()
            .zip(before)
            .filter(|(line, size)| line.size != *size)
            .map(|(line, _)| line)
            .collect();
        if !trimmed.is_empty() {
            self.count("adjust: trim to the capital budget", trimmed.len() as u64);
        }
        self.emit(&trimmed, orders);
    }

    /// Qualify, score, rank, allocate and apply minimal turnover; merges into `orders`.
    pub(super) fn allocate_entries(
        &mut self,
        ctx: &DecisionContext<'_>,
        orders: &mut BTreeMap<usize, Order>,
        flipped: &[usize],
    ) {
        let basis_limit = self.config.rebalance.basis_exit_threshold;
        let mut ranked: Vec<(f64, usize, Direction)> = Vec::new();
        let mut carry: BTreeMap<usize, (Direction, Decimal)> = BTreeMap::new();
        let selection = self.selection();
        let mut evaluator: Option<Evaluator<'_>> = None;
        for (index, state) in ctx.market.iter().enumerate() {
            if !state.tradable(ctx.now_ms) {
                continue;
            }
            let Some(eval) = self.evaluate(&mut evaluator, &selection, index, state) else {
                continue;
            };
            let Some(direction) = eval.direction else {
                continue;
            };
            carry.insert(index, (direction, eval.net_carry));
            let closing = matches!(orders.get(&index), Some(Order::Close { .. }));
            // Entry needs qualification; a held hedge stays a candidate until the rebalance
            // table closes it or minimal turnover hands its slot to a better pair, so a rate
            // hovering at a threshold does not open and close it every settlement.
            let held = ctx.book.position(index);
            // No new hedge while the day's closes show a basis the rebalance table would exit
            // on (otherwise a basis exit is re-entered at the next pass).
            let basis_broken = state.basis(ctx.now_ms).is_some_and(|b| b > basis_limit);
            if held.is_none() && basis_broken {
                continue;
            }
            if (eval.passed || held.is_some()) && !closing {
                // Capital is charged for the direction the hedge will face: a held hedge
                // keeps its own unless the rebalance table flips it.
                let facing = match held {
                    Some(p) if !flipped.contains(&index) => p.direction,
                    _ => direction,
                };
                ranked.push((eval.total, index, facing));
            }
        }
        // Best first (as the totals' Decimal forms order); ties by symbol for determinism.
        ranked.sort_by(|a, b| cmp_totals(b.0, a.0).then(a.1.cmp(&b.1)));
        let pairs: Vec<(Symbol, Direction)> = ranked
            .iter()
            .filter_map(|(_, i, d)| Some((ctx.market[*i].symbol.clone()?, *d)))
            .collect();
        let symbol_index = self.symbol_index(ctx);
        let index_of = |symbol: &Symbol| symbol_index.get(symbol).copied();
        let allocation = match allocate(
            ctx.book.equity(),
            &pairs,
            &self.model,
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
                // the carry at the direction it will face (a flip this pass faces the new one)
                let facing = carry
                    .get(&p.symbol)
                    .filter(|c| c.0 == p.direction || flipped.contains(&p.symbol))
                    .map(|c| c.1);
                Some(CarryPosition {
                    symbol: ctx.market[p.symbol].symbol.clone()?,
                    notional: p.notional(),
                    expected_carry: held_carry(facing),
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
                lines.push(SizedLine::keep(
                    index,
                    p.direction,
                    self.unit(p.direction),
                    p.notional(),
                ));
                continue;
            }
            let held_size = current
                .filter(|p| p.direction == direction)
                .map(|p| p.notional());
            lines.push(SizedLine {
                index,
                direction,
                unit: self.unit(direction),
                target: target.notional,
                current: held_size,
                size: held_size.unwrap_or(target.notional),
            });
        }
        lazy_resize(&mut lines, &self.resize_rule(&allocation));
        self.emit(&lines, orders);
        // Held hedges the plan no longer sizes are closed. That includes a hedge the rebalance
        // table flipped: flipped at its old size it would hold capital the allocation gave to
        // others (a flip to negative carry needs more of it), and the next pass would close it.
        let targeted: Vec<usize> = lines.iter().map(|l| l.index).collect();
        for p in &ctx.book.positions {
            if !targeted.contains(&p.symbol)
                && !matches!(orders.get(&p.symbol), Some(Order::Close { .. }))
            {
                if flipped.contains(&p.symbol) {
                    self.count("close: flip dropped by allocation / turnover", 1);
                } else {
                    self.count("close: dropped by allocation / turnover", 1);
                }
                orders.insert(p.symbol, Order::Close { symbol: p.symbol });
            }
        }
    }
}

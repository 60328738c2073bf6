//! Entries: qualify, score, rank, allocate, minimal turnover, then lazy sizing.

use std::collections::BTreeMap;

use fff_core::{CarryPosition, Direction, Symbol, allocate, plan_turnover};
use rust_decimal::Decimal;

use super::Strategy;
use super::sizing::{SizedLine, lazy_resize};
use crate::engine::policy::{DecisionContext, Order};

impl Strategy {
    /// Qualify, score, rank, allocate and apply minimal turnover; merges into `orders`.
    pub(super) fn allocate_entries(
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
}

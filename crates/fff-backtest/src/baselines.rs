//! Yardsticks replayed on the same data and cost model as the strategy:
//! always-on BTCUSDT carry, naive top-1 rotation, and a perfect-foresight bound.

use fff_core::rates::normalize_funding_rate;
use fff_core::{CapitalParams, Direction, FundingInterval, Symbol, allocate};
use rust_decimal::Decimal;

use crate::config::BacktestConfig;
use crate::data::{DAY_MS, HOUR_MS};
use crate::engine::policy::{DecisionContext, Order, Policy};

/// Notional one pair may take when a policy puts everything in a single hedge: the design
/// sizing (`equity * target_utilization * leverage / (1 + buffer)`) without the per-pair cap,
/// computed by `fff_core::allocate`.
fn single_pair_notional(equity: Decimal, symbol: &Symbol, capital: &CapitalParams) -> Decimal {
    let uncapped = CapitalParams {
        max_pair_fraction: capital.target_utilization,
        ..capital.clone()
    };
    allocate(equity, std::slice::from_ref(symbol), &uncapped, 1)
        .ok()
        .and_then(|a| a.targets.first().map(|t| t.notional))
        .unwrap_or(Decimal::ZERO)
}

/// Long spot / short perp BTCUSDT from the first instant it trades, never rotated or flipped.
pub struct AlwaysOnCarry {
    symbol: String,
    capital: CapitalParams,
    entered: bool,
}

impl AlwaysOnCarry {
    pub fn new(symbol: &str, config: &BacktestConfig) -> Self {
        Self {
            symbol: symbol.to_string(),
            capital: config.capital.clone(),
            entered: false,
        }
    }
}

impl Policy for AlwaysOnCarry {
    fn name(&self) -> &str {
        "always-on BTCUSDT carry"
    }

    fn decision_interval_hours(&self) -> u32 {
        1
    }

    fn decide(&mut self, ctx: &DecisionContext<'_>) -> Vec<Order> {
        if self.entered {
            return Vec::new();
        }
        let Some(index) = ctx
            .dataset
            .symbols
            .iter()
            .position(|s| s.symbol == self.symbol)
        else {
            return Vec::new();
        };
        let state = &ctx.market[index];
        let (true, Some(symbol)) = (state.is_live(ctx.now_ms), state.symbol.clone()) else {
            return Vec::new();
        };
        self.entered = true;
        vec![Order::Set {
            symbol: index,
            direction: Direction::PositiveCarry,
            notional: single_pair_notional(ctx.book.equity, &symbol, &self.capital),
        }]
    }
}

/// Once a day, hold only the pair with the highest |last funding| (normalised per period),
/// facing the way that collects it; no filters, no cost awareness.
pub struct TopOneRotation {
    capital: CapitalParams,
    period_hours: u32,
}

impl TopOneRotation {
    pub fn new(config: &BacktestConfig) -> Self {
        Self {
            capital: config.capital.clone(),
            period_hours: config.pair_selection.rate_period_hours,
        }
    }
}

impl Policy for TopOneRotation {
    fn name(&self) -> &str {
        "naive top-1 rotation"
    }

    fn decision_interval_hours(&self) -> u32 {
        24
    }

    fn decide(&mut self, ctx: &DecisionContext<'_>) -> Vec<Order> {
        let mut best: Option<(Decimal, usize, Decimal)> = None;
        for (index, state) in ctx.market.iter().enumerate() {
            let (true, Some(rate)) = (state.is_live(ctx.now_ms), state.signal_rate(1)) else {
                continue;
            };
            let interval = FundingInterval::from_hours(state.interval_hours)
                .unwrap_or(FundingInterval::EIGHT_HOURS);
            let normalised = normalize_funding_rate(rate, interval, self.period_hours);
            if best.is_none_or(|b| normalised.abs() > b.0) {
                best = Some((normalised.abs(), index, rate));
            }
        }
        let mut orders = Vec::new();
        let Some((_, index, rate)) = best else {
            return orders;
        };
        let Some(direction) = Direction::for_funding(rate) else {
            return orders;
        };
        let held = ctx
            .book
            .position(index)
            .is_some_and(|p| p.direction == direction);
        for p in &ctx.book.positions {
            if p.symbol != index {
                orders.push(Order::Close { symbol: p.symbol });
            }
        }
        if !held && let Some(symbol) = ctx.market[index].symbol.clone() {
            // Size after the other hedge is closed: equity barely changes, caps apply.
            orders.push(Order::Set {
                symbol: index,
                direction,
                notional: single_pair_notional(ctx.book.equity, &symbol, &self.capital),
            });
        }
        orders
    }
}

/// Hindsight yardstick: each UTC day, allocate current equity with the strategy's own caps
/// (`fff_core::allocate`) to the pairs whose *realised* funding over the next 24 h, net of
/// borrow, is best. Zero fees and slippage, so it bounds what any daily allocation could have
/// collected. It compounds like the strategy, so compare per-year funding yields (funding /
/// equity at the start of the year), not multi-year totals.
pub struct PerfectForesight {
    capital: CapitalParams,
    max_pairs: u32,
    /// Only pairs the strategy may trade at all (margin filter) are in the bound's universe.
    margin_ok_for_unknown: bool,
}

impl PerfectForesight {
    pub fn new(config: &BacktestConfig) -> Self {
        Self {
            capital: config.capital.clone(),
            max_pairs: config.pair_selection.max_pairs,
            margin_ok_for_unknown: !config.pair_selection.require_margin
                || config.backtest.assume_margin_for_unknown_assets,
        }
    }
}

impl Policy for PerfectForesight {
    fn name(&self) -> &str {
        "perfect foresight (bound)"
    }

    fn decision_interval_hours(&self) -> u32 {
        24
    }

    fn decide(&mut self, ctx: &DecisionContext<'_>) -> Vec<Order> {
        let horizon_end = ctx.now_ms + DAY_MS;
        let mut ranked: Vec<(Decimal, usize, Direction)> = Vec::new();
        for (index, data) in ctx.dataset.symbols.iter().enumerate() {
            if !ctx.market[index].borrow_known && !self.margin_ok_for_unknown {
                continue;
            }
            let start = data.funding.partition_point(|p| p.time_ms < ctx.now_ms);
            let future: Decimal = data.funding[start..]
                .iter()
                .take_while(|p| p.time_ms < horizon_end)
                .map(|p| p.rate)
                .sum();
            let Some(direction) = Direction::for_funding(future) else {
                continue;
            };
            let borrow = if direction.borrows() {
                ctx.market[index].borrow_hourly * Decimal::from(DAY_MS / HOUR_MS)
            } else {
                Decimal::ZERO
            };
            let net = future.abs() - borrow;
            if net > Decimal::ZERO {
                ranked.push((net, index, direction));
            }
        }
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let symbols: Vec<Symbol> = ranked
            .iter()
            .filter_map(|(_, i, _)| ctx.market[*i].symbol.clone())
            .collect();
        let Ok(allocation) = allocate(ctx.book.equity, &symbols, &self.capital, self.max_pairs)
        else {
            return Vec::new();
        };
        let mut orders = Vec::new();
        let mut targeted = Vec::new();
        for target in &allocation.targets {
            let Some(&(_, index, direction)) = ranked
                .iter()
                .find(|(_, i, _)| ctx.market[*i].symbol.as_ref() == Some(&target.symbol))
            else {
                continue;
            };
            targeted.push(index);
            orders.push(Order::Set {
                symbol: index,
                direction,
                notional: target.notional,
            });
        }
        for p in &ctx.book.positions {
            if !targeted.contains(&p.symbol) {
                orders.push(Order::Close { symbol: p.symbol });
            }
        }
        orders
    }
}

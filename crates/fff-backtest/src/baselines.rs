//! Yardsticks replayed on the same data and cost model as the strategy:
//! always-on BTCUSDT carry, naive top-1 rotation, and a perfect-foresight bound.

use fff_core::rates::normalize_funding_rate;
use fff_core::{Allocation, CapitalModel, Direction, FundingInterval, Symbol, allocate};
use rust_decimal::Decimal;

use crate::config::BacktestConfig;
use crate::data::{DAY_MS, HOUR_MS};
use crate::engine::policy::{DecisionContext, Order, Policy};
use crate::strategy::sizing::{ResizeRule, SizedLine, lazy_resize};

/// How a single-pair baseline is sized: fff-core's allocation with the per-pair cap lifted to
/// the whole capital budget (all deployable capital in one pair, both legs paid for), and
/// held sizes reconciled with the strategy's own rule (resize band, budget tolerance).
#[derive(Debug, Clone)]
struct SinglePairSizing {
    model: CapitalModel,
    band: Decimal,
    tolerance: Decimal,
    min_trade: Decimal,
    /// The last [`SinglePairSizing::order`] and its inputs (equity and held notional bit for
    /// bit): the always-on carry asks every hour, mostly with nothing changed.
    last: Option<(SizingKey, Option<Order>)>,
}

/// Equity, pair, direction, held notional.
type SizingKey = ([u8; 16], usize, Direction, Option<[u8; 16]>);

impl SinglePairSizing {
    fn new(config: &BacktestConfig, model: &CapitalModel) -> Self {
        let mut capital = model.params().clone();
        capital.max_pair_fraction = capital.target_utilization;
        let model = CapitalModel::new(&capital, &config.risk).unwrap_or_else(|_| model.clone());
        Self {
            model,
            band: config.backtest.resize_threshold,
            tolerance: config.backtest.budget_tolerance,
            min_trade: config.rebalance.min_trade_usdt,
            last: None,
        }
    }

    fn allocation(
        &self,
        equity: Decimal,
        symbol: &Symbol,
        direction: Direction,
    ) -> Option<Allocation> {
        allocate(equity, &[(symbol.clone(), direction)], &self.model, 1).ok()
    }

    /// The order that enters `symbol` facing `direction`, or keeps a held hedge of `held`
    /// notional within the capital budget; `None` when nothing is to be traded.
    fn order(
        &mut self,
        ctx: &DecisionContext<'_>,
        index: usize,
        symbol: &Symbol,
        direction: Direction,
        held: Option<Decimal>,
    ) -> Option<Order> {
        let equity = ctx.book.equity();
        let key = (
            equity.serialize(),
            index,
            direction,
            held.map(|h| h.serialize()),
        );
        if let Some((last, order)) = &self.last
            && *last == key
        {
            return order.clone();
        }
        let order = self.sized(equity, index, symbol, direction, held);
        self.last = Some((key, order.clone()));
        order
    }

    /// [`SinglePairSizing::order`] at `equity`, computed.
    fn sized(
        &self,
        equity: Decimal,
        index: usize,
        symbol: &Symbol,
        direction: Direction,
        held: Option<Decimal>,
    ) -> Option<Order> {
        let allocation = self.allocation(equity, symbol, direction)?;
        let target = allocation
            .targets
            .first()
            .map_or(Decimal::ZERO, |t| t.notional);
        let mut lines = [SizedLine {
            index,
            direction,
            unit: self.model.per_unit(direction).total(),
            target,
            current: held,
            size: held.unwrap_or(target),
        }];
        lazy_resize(
            &mut lines,
            &ResizeRule {
                budget: allocation.capital_budget,
                pair_cap: allocation.pair_capital_cap,
                band: self.band,
                tolerance: self.tolerance,
            },
        );
        let size = lines[0].size;
        let unchanged = held.is_some_and(|h| (h - size).abs() < self.min_trade);
        (!unchanged && size > Decimal::ZERO).then_some(Order::Set {
            symbol: index,
            direction,
            notional: size,
        })
    }
}

/// Long spot / short perp BTCUSDT from the first instant it is tradable (its perp settles and
/// its spot market is evidenced), never rotated or flipped; its size follows the capital
/// budget like the strategy's hedges.
pub struct AlwaysOnCarry {
    symbol: String,
    sizing: SinglePairSizing,
    /// Where the symbol was found in the dataset last time.
    index: Option<usize>,
}

impl AlwaysOnCarry {
    pub fn new(symbol: &str, config: &BacktestConfig, model: &CapitalModel) -> Self {
        Self {
            symbol: symbol.to_string(),
            sizing: SinglePairSizing::new(config, model),
            index: None,
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
        let names = |i: usize| ctx.dataset.symbols.get(i).map(|s| s.symbol.as_str());
        let cached = self
            .index
            .filter(|&i| names(i) == Some(self.symbol.as_str()));
        let Some(index) = cached.or_else(|| {
            ctx.dataset
                .symbols
                .iter()
                .position(|s| s.symbol == self.symbol)
        }) else {
            return Vec::new();
        };
        self.index = Some(index);
        let state = &ctx.market[index];
        let (true, Some(symbol)) = (state.tradable(ctx.now_ms), state.symbol.clone()) else {
            return Vec::new();
        };
        let held = ctx.book.position(index).map(|p| p.notional());
        self.sizing
            .order(ctx, index, &symbol, Direction::PositiveCarry, held)
            .into_iter()
            .collect()
    }
}

/// Once a day, hold only the pair with the highest |last funding| (normalised per period),
/// facing the way that collects it; no filters, no cost awareness.
pub struct TopOneRotation {
    sizing: SinglePairSizing,
    period_hours: u32,
}

impl TopOneRotation {
    pub fn new(config: &BacktestConfig, model: &CapitalModel) -> Self {
        Self {
            sizing: SinglePairSizing::new(config, model),
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
            let (true, Some(rate)) = (state.tradable(ctx.now_ms), state.signal_rate(1)) else {
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
            .filter(|p| p.direction == direction)
            .map(|p| p.notional());
        for p in &ctx.book.positions {
            if p.symbol != index {
                orders.push(Order::Close { symbol: p.symbol });
            }
        }
        if let Some(symbol) = ctx.market[index].symbol.clone() {
            // Sized before the other hedge is closed: equity barely changes, caps apply.
            orders.extend(self.sizing.order(ctx, index, &symbol, direction, held));
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
    model: CapitalModel,
    max_pairs: u32,
    /// Only pairs the strategy may trade at all (margin filter) are in the bound's universe.
    margin_ok_for_unknown: bool,
}

impl PerfectForesight {
    pub fn new(config: &BacktestConfig, model: &CapitalModel) -> Self {
        Self {
            model: model.clone(),
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
            let state = &ctx.market[index];
            if !state.tradable(ctx.now_ms) || (!state.borrow_known && !self.margin_ok_for_unknown) {
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
        let pairs: Vec<(Symbol, Direction)> = ranked
            .iter()
            .filter_map(|(_, i, d)| Some((ctx.market[*i].symbol.clone()?, *d)))
            .collect();
        let Ok(allocation) = allocate(ctx.book.equity(), &pairs, &self.model, self.max_pairs)
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

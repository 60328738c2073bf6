//! The event loop: hour by hour, check held hedges against the day's adverse extremes and apply
//! that hour's price closes and funding settlements in time order, keep both wallets funded,
//! let the policy decide, fund the wallets again, accrue interest, record a sample.

use fff_core::CapitalModel;
use fff_core::rates::hourly_from_daily;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::book::{Book, PairLedger};
use super::market::SymbolState;
use super::policy::{DecisionContext, Order, Policy, PolicyStats};
use crate::costs::CostModel;
use crate::data::{DAY_MS, Dataset, HOUR_MS};
use crate::error::{Error, Result};

/// Equity beyond this means the data or parameters are implausible; stopping here keeps every
/// later sum far inside `Decimal`'s range (about 7.9e28), so no arithmetic can overflow.
const MAX_EQUITY: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0); // 1e15

/// One hourly point of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HourSample {
    pub time_ms: i64,
    pub equity: f64,
    /// Capital in use (both legs, fff-core's capital model) / equity.
    pub utilization: f64,
    /// Total per-leg notional / equity.
    pub notional_to_equity: f64,
}

/// One UTC day's closing state (money exact).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySample {
    pub time_ms: i64,
    pub equity: Decimal,
    /// Cumulative totals up to this instant.
    pub totals: PairLedger,
    /// Cumulative wallet transfers (count, USDT) up to this instant.
    pub transfers: u64,
    pub transferred: Decimal,
}

/// Everything one replay produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub name: String,
    pub book: Book,
    pub hourly: Vec<HourSample>,
    pub daily: Vec<DaySample>,
    pub stats: PolicyStats,
    /// Funding settlements and price closes replayed (inside the window).
    pub events: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Peak total per-leg notional / equity, hourly after decisions.
    pub max_notional_to_equity: Decimal,
}

/// Sum of every pair's ledger.
pub fn total_ledger(ledgers: &[PairLedger]) -> PairLedger {
    let mut total = PairLedger::default();
    for l in ledgers {
        total.funding += l.funding;
        total.borrow += l.borrow;
        total.usdt_interest += l.usdt_interest;
        total.liquidation += l.liquidation;
        total.liquidations += l.liquidations;
        total.fees += l.fees;
        total.slippage += l.slippage;
        total.basis += l.basis;
        total.turnover += l.turnover;
        total.trades += l.trades;
        total.flips += l.flips;
        total.hours_held += l.hours_held;
        total.settlements += l.settlements;
        total.positive_settlements += l.positive_settlements;
    }
    total
}

/// Hourly borrow rate of `asset` at `time_ms`: config override, else data, else the default.
/// Returns the rate and whether it came from config or data (not the blanket default).
pub fn borrow_hourly(
    dataset: &Dataset,
    costs: &CostModel,
    asset: &str,
    time_ms: i64,
) -> (Decimal, bool) {
    let m = costs.borrow_rate_multiplier;
    if let Some(daily) = costs.borrow_daily_rate.get(asset) {
        return (hourly_from_daily(*daily) * m, true);
    }
    match dataset.borrow.hourly_rate(asset, time_ms) {
        Some(rate) => (rate * m, true),
        None => (
            hourly_from_daily(costs.default_borrow_daily_rate) * m,
            false,
        ),
    }
}

/// Hourly USDT borrow rate at `time_ms`: `borrow_daily_rate.USDT`, else the data, else
/// `default_usdt_borrow_daily_rate`.
pub fn usdt_borrow_hourly(dataset: &Dataset, costs: &CostModel, time_ms: i64) -> Decimal {
    let m = costs.borrow_rate_multiplier;
    if let Some(daily) = costs.borrow_daily_rate.get("USDT") {
        return hourly_from_daily(*daily) * m;
    }
    dataset
        .borrow
        .hourly_rate("USDT", time_ms)
        .unwrap_or_else(|| hourly_from_daily(costs.default_usdt_borrow_daily_rate))
        * m
}

struct Cursor {
    funding: usize,
    spot: usize,
    perp: usize,
}

/// Replays `dataset` through `policy` on an account whose hedges tie up capital as `model`
/// says.
pub fn replay(
    dataset: &Dataset,
    costs: &CostModel,
    model: &CapitalModel,
    policy: &mut dyn Policy,
    mut progress: impl FnMut(u64),
) -> Result<RunOutput> {
    let (first, last) = dataset
        .span_ms()
        .ok_or_else(|| Error::Data("no funding settlements inside the requested window".into()))?;
    let start = dataset
        .range
        .from_ms
        .unwrap_or(first)
        .max(first - first.rem_euclid(HOUR_MS));
    let start = start - start.rem_euclid(HOUR_MS);
    let end = dataset
        .range
        .to_ms
        .unwrap_or(last + HOUR_MS)
        .min(last + HOUR_MS);
    let symbols = &dataset.symbols;
    let mut market: Vec<SymbolState> = symbols
        .iter()
        .map(|s| {
            let (rate, known) = borrow_hourly(dataset, costs, &s.base_asset, start);
            let mut state = SymbolState::new(&s.symbol, rate, known);
            state.spot_listing = s.spot_listing;
            state.assume_spot_market = costs.assume_spot_markets;
            state
        })
        .collect();
    let mut usdt_hourly = usdt_borrow_hourly(dataset, costs, start);
    let mut cursors: Vec<Cursor> = symbols
        .iter()
        .map(|_| Cursor {
            funding: 0,
            spot: 0,
            perp: 0,
        })
        .collect();
    let mut book = Book::new(costs.clone(), model.clone(), symbols.len());
    let mut hourly = Vec::new();
    let mut daily = Vec::new();
    let mut events = 0u64;
    let mut max_notional_to_equity = Decimal::ZERO;
    let interval = i64::from(policy.decision_interval_hours().max(1));
    let mut hour = start;
    let mut last_sample: Option<([[u8; 16]; 3], Decimal, HourSample)> = None;
    // Warm-up: state only (no positions exist yet, so nothing is booked).
    let mut next_event = advance(dataset, &mut market, &mut cursors, &mut book, start, &mut 0);
    while hour < end {
        let next = hour + HOUR_MS;
        // An hour without any close or settlement changes nothing there.
        if next_event < next {
            next_event = advance(
                dataset,
                &mut market,
                &mut cursors,
                &mut book,
                next,
                &mut events,
            );
        }
        if hour.rem_euclid(DAY_MS) == 0 {
            // Hedge-days the liquidation check could not see (no bar of either leg today).
            for p in &book.positions {
                let state = &market[p.symbol];
                let bar_today = |leg: Option<(i64, Decimal)>| leg.is_some_and(|(t, _)| t == hour);
                if !bar_today(state.spot) && !bar_today(state.perp) {
                    book.health.unchecked_days += 1;
                }
            }
            usdt_hourly = usdt_borrow_hourly(dataset, costs, hour);
            for (state, data) in market.iter_mut().zip(symbols) {
                let (rate, known) = borrow_hourly(dataset, costs, &data.base_asset, hour);
                if rate != state.borrow_hourly {
                    state.version += 1;
                }
                state.borrow_hourly = rate;
                state.borrow_known = known;
            }
        }
        if hour.rem_euclid(DAY_MS) == 0 {
            // The day's state at midnight: its closes and settlements in, before the new
            // day's trades (so a trade at 00:00 on 1 January counts in the new year).
            daily.push(day_sample(hour, &book));
            progress(events);
        }
        close_dead_positions(dataset, &market, &mut book, hour);
        // The live executor keeps both sides funded continuously: before decisions (so risk
        // sees the funded account) and after them (entries need their capital at once).
        let (_, settled) = book.fund_wallets_until_settled();
        if (hour / HOUR_MS) % interval == 0 {
            let orders = policy.decide(&DecisionContext {
                now_ms: hour,
                dataset,
                market: &market,
                book: &book,
            });
            let urgent = policy.urgent_exits();
            execute(dataset, &market, &mut book, hour, &orders, &urgent);
            // Without orders the book is as the first call left it: nothing more is due then.
            if !orders.is_empty() || !settled {
                book.fund_wallets();
            }
        }
        book.accrue_interest(|i| market[i].borrow_hourly, usdt_hourly);
        let equity = book.equity();
        if equity.abs() > MAX_EQUITY {
            return Err(Error::Data(format!(
                "{}: equity reached {} usdt at {}; the data or parameters are implausible",
                policy.name(),
                equity.round_dp(0),
                crate::data::format_time(hour)
            )));
        }
        book.observe_health();
        let notional = book.gross_notional();
        let ratio = book.remember_utilization().ratio;
        // Most hours hold the previous hour's figures: reuse the previous conversions then.
        let key = [equity.serialize(), notional.serialize(), ratio.serialize()];
        let (notional_to_equity, sample) = match last_sample {
            Some((last, notional_to_equity, sample)) if last == key => (notional_to_equity, sample),
            _ => {
                let notional_to_equity = if equity > Decimal::ZERO {
                    notional.checked_div(equity).unwrap_or(Decimal::ZERO)
                } else if notional > Decimal::ZERO {
                    // Hedges held on no equity at all: report it, never hide it as 0.
                    Decimal::MAX
                } else {
                    Decimal::ZERO
                };
                let sample = HourSample {
                    time_ms: hour,
                    equity: equity.to_f64().unwrap_or(0.0),
                    utilization: ratio.to_f64().unwrap_or(0.0),
                    notional_to_equity: notional_to_equity.to_f64().unwrap_or(f64::MAX),
                };
                last_sample = Some((key, notional_to_equity, sample));
                (notional_to_equity, sample)
            }
        };
        max_notional_to_equity = max_notional_to_equity.max(notional_to_equity);
        hourly.push(HourSample {
            time_ms: hour,
            ..sample
        });
        hour = next;
    }
    // Close out at the last known prices so every run pays its exit costs.
    let open: Vec<Order> = book
        .positions
        .iter()
        .map(|p| Order::Close { symbol: p.symbol })
        .collect();
    execute(dataset, &market, &mut book, end, &open, &[]);
    daily.push(day_sample(end, &book));
    Ok(RunOutput {
        name: policy.name().to_string(),
        stats: policy.stats(),
        book,
        hourly,
        daily,
        events,
        start_ms: start,
        end_ms: end,
        max_notional_to_equity,
    })
}

fn day_sample(time_ms: i64, book: &Book) -> DaySample {
    DaySample {
        time_ms,
        equity: book.equity(),
        totals: total_ledger(&book.ledgers),
        transfers: book.transfers.count,
        transferred: book.transfers.amount,
    }
}

/// Applies every event before `until` (prices first within a symbol: closes are stamped on
/// the hour, settlements a few ms after it). A held hedge is checked against the high/low of
/// the day that closed before its legs are marked to the closes. Returns when the next event
/// (of any symbol) is due, `i64::MAX` when none is left.
fn advance(
    dataset: &Dataset,
    market: &mut [SymbolState],
    cursors: &mut [Cursor],
    book: &mut Book,
    until: i64,
    events: &mut u64,
) -> i64 {
    /// What one symbol's klines brought in this step.
    #[derive(Default)]
    struct Closed {
        spot: bool,
        perp: bool,
        spot_range: Option<(Decimal, Decimal)>,
        perp_range: Option<(Decimal, Decimal)>,
    }
    let widen = |range: Option<(Decimal, Decimal)>, bar: &crate::data::DailyBar| {
        Some(range.map_or((bar.high, bar.low), |(h, l)| {
            (h.max(bar.high), l.min(bar.low))
        }))
    };
    let mut closed: Vec<Closed> = Vec::with_capacity(dataset.symbols.len());
    for (index, data) in dataset.symbols.iter().enumerate() {
        let cursor = &mut cursors[index];
        let state = &mut market[index];
        let mut c = Closed::default();
        while let Some(bar) = data.spot.get(cursor.spot) {
            let close_ms = bar.open_time_ms + DAY_MS;
            if close_ms >= until {
                break;
            }
            state.spot = Some((close_ms, bar.close));
            c.spot_range = widen(c.spot_range, bar);
            cursor.spot += 1;
            *events += 1;
            c.spot = true;
        }
        while let Some(bar) = data.perp.get(cursor.perp) {
            let close_ms = bar.open_time_ms + DAY_MS;
            if close_ms >= until {
                break;
            }
            state.perp = Some((close_ms, bar.close));
            state.volume_24h = bar.quote_volume;
            c.perp_range = widen(c.perp_range, bar);
            cursor.perp += 1;
            *events += 1;
            c.perp = true;
        }
        if c.perp {
            // New 24h volume; prices alone do not change what qualification reads.
            state.version += 1;
        }
        closed.push(c);
    }
    // The day's extremes came before its closes: every hedge is checked against them with the
    // account as it stood at the previous closes, before any leg is marked.
    for (index, (data, c)) in dataset.symbols.iter().zip(&closed).enumerate() {
        if (c.spot || c.perp)
            && book.check_extremes(
                until - HOUR_MS,
                index,
                &data.symbol,
                c.spot_range,
                c.perp_range,
            )
        {
            book.health.checked_days += 1;
        }
    }
    let mut next_event = i64::MAX;
    for (index, (data, c)) in dataset.symbols.iter().zip(&closed).enumerate() {
        let cursor = &mut cursors[index];
        let state = &mut market[index];
        if c.spot || c.perp {
            // Only legs with a close in this step are marked; a leg whose series ended (or
            // lags) follows the other leg's return instead of showing a fake basis move.
            let spot = state.spot.filter(|_| c.spot).map(|(_, p)| p);
            let perp = state.perp.filter(|_| c.perp).map(|(_, p)| p);
            book.mark_fresh(index, spot, perp);
        }
        while let Some(point) = data.funding.get(cursor.funding) {
            if point.time_ms >= until {
                break;
            }
            if let Some(mark) = point.mark_price {
                state.mark = Some((point.time_ms, mark));
                // Without klines the mark moves both legs alike (no basis is invented).
                if !state.has_fresh_closes(point.time_ms) {
                    book.mark_fresh(index, None, Some(mark));
                }
            }
            book.settle_funding(index, point.rate, point.mark_price);
            state.push_settlement(point.time_ms, point.rate, point.interval_hours);
            cursor.funding += 1;
            *events += 1;
        }
        let close_ms = |bar: &crate::data::DailyBar| bar.open_time_ms + DAY_MS;
        let pending = [
            data.spot.get(cursor.spot).map(close_ms),
            data.perp.get(cursor.perp).map(close_ms),
            data.funding.get(cursor.funding).map(|p| p.time_ms),
        ];
        next_event = pending.into_iter().flatten().fold(next_event, i64::min);
    }
    next_event
}

/// Hedges on perps that stopped settling (delisted or data ended), or whose spot market is no
/// longer evidenced (delisted in the listing file), are closed.
fn close_dead_positions(dataset: &Dataset, market: &[SymbolState], book: &mut Book, now: i64) {
    let dead: Vec<Order> = book
        .positions
        .iter()
        .filter(|p| !market[p.symbol].tradable(now))
        .map(|p| Order::Close { symbol: p.symbol })
        .collect();
    if !dead.is_empty() {
        // The pair is gone: no time to stage the exit.
        let urgent: Vec<usize> = (0..market.len()).collect();
        execute(dataset, market, book, now, &dead, &urgent);
    }
}

fn execute(
    dataset: &Dataset,
    market: &[SymbolState],
    book: &mut Book,
    now: i64,
    orders: &[Order],
    urgent: &[usize],
) {
    for order in orders {
        let (symbol, direction, notional) = match *order {
            Order::Set {
                symbol,
                direction,
                notional,
            } => (symbol, direction, notional.max(Decimal::ZERO)),
            Order::Close { symbol } => match book.position(symbol) {
                Some(p) => (symbol, p.direction, Decimal::ZERO),
                None => continue,
            },
        };
        let Some(data) = dataset.symbols.get(symbol) else {
            continue;
        };
        let prices = market[symbol].exec_prices(now);
        let perp_price = prices
            .map(|(_, perp)| perp)
            .or_else(|| book.position(symbol).map(|p| p.perp_price))
            .unwrap_or(Decimal::ONE);
        let qty = notional.checked_div(perp_price).unwrap_or(Decimal::ZERO);
        book.urgent_exits = urgent.contains(&symbol);
        book.trade_to(now, symbol, &data.symbol, direction, qty, prices);
        book.urgent_exits = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equity_cap_is_one_quadrillion() {
        assert_eq!(MAX_EQUITY, Decimal::from(1_000_000_000_000_000u64));
    }
}

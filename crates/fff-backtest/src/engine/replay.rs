//! The event loop: hour by hour, apply that hour's price closes and funding settlements in
//! time order, let the policy decide, accrue borrow interest, record a sample.

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
    /// Margin capital in use / equity.
    pub utilization: f64,
}

/// One UTC day's closing state (money exact).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySample {
    pub time_ms: i64,
    pub equity: Decimal,
    /// Cumulative totals up to this instant.
    pub totals: PairLedger,
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
    /// Lowest margin ratio (equity / maintenance) seen, when positions were open.
    pub min_margin_ratio: Option<Decimal>,
}

/// Sum of every pair's ledger.
pub fn total_ledger(ledgers: &[PairLedger]) -> PairLedger {
    let mut total = PairLedger::default();
    for l in ledgers {
        total.funding += l.funding;
        total.borrow += l.borrow;
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
    if let Some(daily) = costs.borrow_daily_rate.get(asset) {
        return (hourly_from_daily(*daily), true);
    }
    match dataset.borrow.hourly_rate(asset, time_ms) {
        Some(rate) => (rate, true),
        None => (hourly_from_daily(costs.default_borrow_daily_rate), false),
    }
}

struct Cursor {
    funding: usize,
    spot: usize,
    perp: usize,
}

/// Replays `dataset` through `policy`. `margin_per_notional` converts perp notional to margin
/// capital for the utilization series.
pub fn replay(
    dataset: &Dataset,
    costs: &CostModel,
    margin_per_notional: Decimal,
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
            SymbolState::new(&s.symbol, rate, known)
        })
        .collect();
    let mut cursors: Vec<Cursor> = symbols
        .iter()
        .map(|_| Cursor {
            funding: 0,
            spot: 0,
            perp: 0,
        })
        .collect();
    let mut book = Book::new(costs.clone(), symbols.len());
    let mut hourly = Vec::new();
    let mut daily = Vec::new();
    let mut events = 0u64;
    let mut min_margin_ratio: Option<Decimal> = None;
    let interval = i64::from(policy.decision_interval_hours().max(1));
    let mut hour = start;
    // Warm-up: state only (no positions exist yet, so nothing is booked).
    advance(dataset, &mut market, &mut cursors, &mut book, start, &mut 0);
    while hour < end {
        let next = hour + HOUR_MS;
        advance(
            dataset,
            &mut market,
            &mut cursors,
            &mut book,
            next,
            &mut events,
        );
        if hour.rem_euclid(DAY_MS) == 0 {
            for (state, data) in market.iter_mut().zip(symbols) {
                let (rate, known) = borrow_hourly(dataset, costs, &data.base_asset, hour);
                if rate != state.borrow_hourly {
                    state.version += 1;
                }
                state.borrow_hourly = rate;
                state.borrow_known = known;
            }
        }
        close_dead_positions(dataset, &market, &mut book, hour);
        if (hour / HOUR_MS) % interval == 0 {
            let orders = policy.decide(&DecisionContext {
                now_ms: hour,
                dataset,
                market: &market,
                book: &book,
            });
            execute(dataset, &market, &mut book, hour, &orders);
        }
        book.accrue_borrow(|i| market[i].borrow_hourly);
        if book.equity.abs() > MAX_EQUITY {
            return Err(Error::Data(format!(
                "{}: equity reached {} usdt at {}; the data or parameters are implausible",
                policy.name(),
                book.equity.round_dp(0),
                crate::data::format_time(hour)
            )));
        }
        let margin = book.gross_notional() * margin_per_notional;
        let maintenance = book.maintenance_margin();
        if maintenance > Decimal::ZERO {
            let ratio = book.equity / maintenance;
            min_margin_ratio = Some(min_margin_ratio.map_or(ratio, |m| m.min(ratio)));
        }
        hourly.push(HourSample {
            time_ms: hour,
            equity: book.equity.to_f64().unwrap_or(0.0),
            utilization: margin
                .checked_div(book.equity)
                .and_then(|u| u.to_f64())
                .unwrap_or(0.0),
        });
        if hour.rem_euclid(DAY_MS) == 0 {
            daily.push(DaySample {
                time_ms: hour,
                equity: book.equity,
                totals: total_ledger(&book.ledgers),
            });
            progress(events);
        }
        hour = next;
    }
    // Close out at the last known prices so every run pays its exit costs.
    let open: Vec<Order> = book
        .positions
        .iter()
        .map(|p| Order::Close { symbol: p.symbol })
        .collect();
    execute(dataset, &market, &mut book, end, &open);
    daily.push(DaySample {
        time_ms: end,
        equity: book.equity,
        totals: total_ledger(&book.ledgers),
    });
    Ok(RunOutput {
        name: policy.name().to_string(),
        stats: policy.stats(),
        book,
        hourly,
        daily,
        events,
        start_ms: start,
        end_ms: end,
        min_margin_ratio,
    })
}

/// Applies every event before `until` (prices first within a symbol: closes are stamped on
/// the hour, settlements a few ms after it).
fn advance(
    dataset: &Dataset,
    market: &mut [SymbolState],
    cursors: &mut [Cursor],
    book: &mut Book,
    until: i64,
    events: &mut u64,
) {
    for (index, data) in dataset.symbols.iter().enumerate() {
        let cursor = &mut cursors[index];
        let state = &mut market[index];
        let (mut spot_moved, mut perp_moved) = (false, false);
        while let Some(bar) = data.spot.get(cursor.spot) {
            let closed = bar.open_time_ms + DAY_MS;
            if closed >= until {
                break;
            }
            state.spot = Some((closed, bar.close));
            cursor.spot += 1;
            *events += 1;
            spot_moved = true;
        }
        while let Some(bar) = data.perp.get(cursor.perp) {
            let closed = bar.open_time_ms + DAY_MS;
            if closed >= until {
                break;
            }
            state.perp = Some((closed, bar.close));
            state.volume_24h = bar.quote_volume;
            cursor.perp += 1;
            *events += 1;
            perp_moved = true;
        }
        if perp_moved {
            // New 24h volume; prices alone do not change what qualification reads.
            state.version += 1;
        }
        if spot_moved || perp_moved {
            // Only legs with a close in this step are marked; a leg whose series ended (or
            // lags) follows the other leg's return instead of showing a fake basis move.
            let spot = state.spot.filter(|_| spot_moved).map(|(_, p)| p);
            let perp = state.perp.filter(|_| perp_moved).map(|(_, p)| p);
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
    }
}

/// Hedges on perps that stopped settling (delisted or data ended) are closed.
fn close_dead_positions(dataset: &Dataset, market: &[SymbolState], book: &mut Book, now: i64) {
    let dead: Vec<Order> = book
        .positions
        .iter()
        .filter(|p| !market[p.symbol].is_live(now))
        .map(|p| Order::Close { symbol: p.symbol })
        .collect();
    if !dead.is_empty() {
        execute(dataset, market, book, now, &dead);
    }
}

fn execute(dataset: &Dataset, market: &[SymbolState], book: &mut Book, now: i64, orders: &[Order]) {
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
        book.trade_to(now, symbol, &data.symbol, direction, qty, prices);
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

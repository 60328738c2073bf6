//! Performance statistics of one replay. Money stays `Decimal`; ratios are `f64`.

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::engine::book::PairLedger;
use crate::engine::replay::{DaySample, HourSample, RunOutput, total_ledger};

const DAYS_PER_YEAR: f64 = 365.0;
const MS_PER_YEAR: f64 = 365.25 * 86_400_000.0;

/// Money items and counts over a span.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Flows {
    pub funding_income: Decimal,
    pub borrow_cost: Decimal,
    /// Interest on USDT borrowed for spot buys (0 unless `capital.spot_usdt_borrow`).
    pub usdt_interest: Decimal,
    pub fees: Decimal,
    pub slippage: Decimal,
    pub basis_pnl: Decimal,
    /// Futures margin forfeited to liquidations.
    pub liquidation_loss: Decimal,
    /// Hedges closed by a liquidation (futures or cross margin).
    pub liquidations: u64,
    /// Traded notional, both legs, USDT.
    pub turnover: Decimal,
    /// Hedge changes (open, adjust, close, flip), each trading both legs.
    pub trades: u64,
    pub flips: u64,
    /// Share of funding settlements of held hedges whose funding exceeded the borrow and
    /// trading costs booked on that hedge since its previous settlement.
    pub win_rate: f64,
}

impl Flows {
    fn between(start: &PairLedger, end: &PairLedger) -> Self {
        let settlements = end.settlements - start.settlements;
        let positive = end.positive_settlements - start.positive_settlements;
        Self {
            funding_income: end.funding - start.funding,
            borrow_cost: end.borrow - start.borrow,
            usdt_interest: end.usdt_interest - start.usdt_interest,
            fees: end.fees - start.fees,
            slippage: end.slippage - start.slippage,
            basis_pnl: end.basis - start.basis,
            liquidation_loss: end.liquidation - start.liquidation,
            liquidations: end.liquidations - start.liquidations,
            turnover: end.turnover - start.turnover,
            trades: end.trades - start.trades,
            flips: end.flips - start.flips,
            win_rate: ratio(positive as f64, settlements as f64),
        }
    }
}

/// Statistics of one calendar year (or part of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearMetrics {
    pub year: i32,
    /// Simple return over the part of the year replayed.
    pub return_pct: f64,
    pub max_drawdown: f64,
    /// Largest drawdown inside one calendar month of the year.
    pub worst_month_drawdown: f64,
    pub sharpe: f64,
    pub capital_utilization: f64,
    /// Mean utilization over the hours with at least one hedge held.
    pub invested_utilization: f64,
    /// Share of hours with no hedge held.
    pub idle_share: f64,
    /// Peak total per-leg notional / equity within the year.
    pub max_notional_to_equity: f64,
    /// Wallet transfers within the year.
    pub transfers: u64,
    /// Funding income / equity at the start of the year: comparable across runs of different
    /// size (the foresight bound does not compound).
    pub funding_yield: f64,
    #[serde(flatten)]
    pub flows: Flows,
}

/// Everything `metrics.json` reports for one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub name: String,
    pub start: String,
    pub end: String,
    pub years: f64,
    pub initial_equity: Decimal,
    pub final_equity: Decimal,
    pub total_return: f64,
    /// Compound annual growth rate.
    pub annual_return: f64,
    /// Annualised mean / standard deviation of daily returns (365 days, zero risk-free rate).
    pub sharpe: f64,
    /// Annualised mean daily return / downside deviation (`null` without a losing day).
    pub sortino: Option<f64>,
    /// Largest peak-to-trough equity fall, hourly resolution.
    pub max_drawdown: f64,
    /// Largest drawdown inside one calendar month (peak reset at each month start).
    pub worst_month_drawdown: f64,
    /// Mean capital in use (both legs: spot cash or margin collateral plus perp margin,
    /// fff-core's `CapitalModel::utilization`) / equity, hourly.
    pub capital_utilization: f64,
    /// Mean utilization over the hours with at least one hedge held (a held hedge stands for
    /// "a pair is admitted": history has no separate record of admissions).
    pub invested_utilization: f64,
    /// Share of hours with no hedge held.
    pub idle_share: f64,
    /// Peak total hedged per-leg notional / equity (hourly, after decisions).
    pub max_notional_to_equity: f64,
    /// Lowest futures margin coverage (futures balance / maintenance), hourly and at each
    /// day's adverse extreme of each perp (`null` if never hedged; below 1 = liquidated).
    pub min_futures_margin_coverage: Option<f64>,
    /// Lowest cross-margin level (assets / liabilities), hourly and at daily adverse extremes
    /// (`null` without any borrowed leg).
    pub min_margin_level: Option<f64>,
    /// Transfers between the spot/margin side and the futures wallet (fff-core's policy), and
    /// the USDT they moved.
    pub transfers: u64,
    pub transferred_usdt: Decimal,
    /// Hedge-days checked against a daily high/low, and hedge-days without one (no klines).
    pub checked_hedge_days: u64,
    pub unchecked_hedge_days: u64,
    pub avg_daily_return: f64,
    /// Turnover per year as a multiple of mean equity.
    pub turnover_per_year: f64,
    #[serde(flatten)]
    pub flows: Flows,
    pub per_year: Vec<YearMetrics>,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

fn f(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

fn year_of(time_ms: i64) -> i32 {
    DateTime::<Utc>::from_timestamp_millis(time_ms).map_or(1970, |t| t.year())
}

fn month_of(time_ms: i64) -> (i32, u32) {
    DateTime::<Utc>::from_timestamp_millis(time_ms).map_or((1970, 1), |t| (t.year(), t.month()))
}

fn daily_returns(daily: &[DaySample]) -> Vec<f64> {
    daily
        .windows(2)
        .map(|w| ratio(f(w[1].equity), f(w[0].equity)) - 1.0)
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    ratio(values.iter().sum(), values.len() as f64)
}

/// (annualised Sharpe, annualised Sortino) of daily returns; Sortino is `None` without
/// downside.
pub(crate) fn sharpe_sortino(returns: &[f64]) -> (f64, Option<f64>) {
    if returns.len() < 2 {
        return (0.0, None);
    }
    let m = mean(returns);
    let var = returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (returns.len() - 1) as f64;
    let downside =
        (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / returns.len() as f64).sqrt();
    let annual = DAYS_PER_YEAR.sqrt();
    let sortino = (downside > 0.0).then(|| m / downside * annual);
    (ratio(m, var.sqrt()) * annual, sortino)
}

pub(crate) fn max_drawdown(hourly: &[HourSample]) -> f64 {
    let mut peak = f64::MIN;
    let mut worst: f64 = 0.0;
    for s in hourly {
        peak = peak.max(s.equity);
        if peak > 0.0 {
            worst = worst.max((peak - s.equity) / peak);
        }
    }
    worst
}

pub(crate) fn worst_month_drawdown(hourly: &[HourSample]) -> f64 {
    let mut worst: f64 = 0.0;
    let mut start = 0;
    while start < hourly.len() {
        let month = month_of(hourly[start].time_ms);
        let end = start
            + hourly[start..]
                .iter()
                .take_while(|s| month_of(s.time_ms) == month)
                .count();
        // The month starts from the previous month's closing equity.
        let opening = start.checked_sub(1).map(|i| &hourly[i]);
        let window: Vec<HourSample> = opening
            .into_iter()
            .chain(&hourly[start..end])
            .copied()
            .collect();
        worst = worst.max(max_drawdown(&window));
        start = end.max(start + 1);
    }
    worst
}

fn utilization(hourly: &[HourSample]) -> f64 {
    mean(&hourly.iter().map(|s| s.utilization).collect::<Vec<_>>())
}

/// (mean utilization over hours with a hedge held, share of hours with none).
fn invested(hourly: &[HourSample]) -> (f64, f64) {
    let held: Vec<f64> = hourly
        .iter()
        .filter(|s| s.notional_to_equity > 0.0)
        .map(|s| s.utilization)
        .collect();
    let idle = ratio((hourly.len() - held.len()) as f64, hourly.len() as f64);
    (mean(&held), idle)
}

fn peak_notional_to_equity(hourly: &[HourSample]) -> f64 {
    hourly
        .iter()
        .map(|s| s.notional_to_equity)
        .fold(0.0, f64::max)
}

/// Computes every statistic of `run`.
pub fn compute(run: &RunOutput) -> Metrics {
    let initial = run.book.initial_capital;
    let final_equity = run.book.equity();
    let health = &run.book.health;
    let years = ((run.end_ms - run.start_ms) as f64 / MS_PER_YEAR).max(1.0 / 365.0);
    let total_return = ratio(f(final_equity), f(initial)) - 1.0;
    let growth = ratio(f(final_equity), f(initial));
    let annual_return = if growth > 0.0 {
        growth.powf(1.0 / years) - 1.0
    } else {
        -1.0
    };
    let returns = daily_returns(&run.daily);
    let (sharpe, sortino) = sharpe_sortino(&returns);
    let totals = total_ledger(&run.book.ledgers);
    let flows = Flows::between(&PairLedger::default(), &totals);
    let mean_equity = mean(&run.hourly.iter().map(|s| s.equity).collect::<Vec<_>>());
    Metrics {
        name: run.name.clone(),
        start: crate::data::format_day(run.start_ms),
        end: crate::data::format_day(run.end_ms),
        years,
        initial_equity: initial,
        final_equity,
        total_return,
        annual_return,
        sharpe,
        sortino,
        max_drawdown: max_drawdown(&run.hourly),
        worst_month_drawdown: worst_month_drawdown(&run.hourly),
        capital_utilization: utilization(&run.hourly),
        invested_utilization: invested(&run.hourly).0,
        idle_share: invested(&run.hourly).1,
        max_notional_to_equity: f(run.max_notional_to_equity),
        min_futures_margin_coverage: health.min_futures_coverage.map(f),
        min_margin_level: health.min_margin_level.map(f),
        transfers: run.book.transfers.count,
        transferred_usdt: run.book.transfers.amount,
        checked_hedge_days: health.checked_days,
        unchecked_hedge_days: health.unchecked_days,
        avg_daily_return: mean(&returns),
        turnover_per_year: ratio(f(flows.turnover), mean_equity) / years,
        flows,
        per_year: per_year(run),
    }
}

fn per_year(run: &RunOutput) -> Vec<YearMetrics> {
    let mut years = Vec::new();
    let Some(first) = run.daily.first() else {
        return years;
    };
    let mut start_sample = DaySample {
        time_ms: run.start_ms,
        equity: run.book.initial_capital,
        totals: PairLedger::default(),
        transfers: 0,
        transferred: Decimal::ZERO,
    };
    let mut year = year_of(first.time_ms);
    loop {
        let in_year: Vec<&DaySample> = run
            .daily
            .iter()
            .filter(|d| year_of(d.time_ms) == year)
            .collect();
        let Some(last) = in_year.last() else {
            break;
        };
        // A year closes at the first sample of the next year (00:00 on 1 January).
        let close = run
            .daily
            .iter()
            .find(|d| year_of(d.time_ms) > year)
            .unwrap_or(last);
        let mut samples = vec![start_sample.clone()];
        samples.extend(in_year.iter().map(|d| (*d).clone()));
        if close.time_ms != last.time_ms {
            samples.push(close.clone());
        }
        let hourly: Vec<HourSample> = run
            .hourly
            .iter()
            // The hour at the year's closing midnight is sampled after its trades: it belongs
            // to the next year (daily samples are taken before them).
            .filter(|h| h.time_ms >= start_sample.time_ms && h.time_ms < close.time_ms)
            .copied()
            .collect();
        let (sharpe, _) = sharpe_sortino(&daily_returns(&samples));
        let flows = Flows::between(&start_sample.totals, &close.totals);
        years.push(YearMetrics {
            funding_yield: ratio(f(flows.funding_income), f(start_sample.equity)),
            year,
            return_pct: ratio(f(close.equity), f(start_sample.equity)) - 1.0,
            max_drawdown: max_drawdown(&hourly),
            worst_month_drawdown: worst_month_drawdown(&hourly),
            sharpe,
            capital_utilization: utilization(&hourly),
            invested_utilization: invested(&hourly).0,
            idle_share: invested(&hourly).1,
            max_notional_to_equity: peak_notional_to_equity(&hourly),
            transfers: close.transfers - start_sample.transfers,
            flows,
        });
        if close.time_ms == last.time_ms {
            break;
        }
        start_sample = close.clone();
        year += 1;
    }
    years
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(i: i64, equity: f64) -> HourSample {
        HourSample {
            time_ms: i * 3_600_000,
            equity,
            utilization: 0.5,
            notional_to_equity: 0.4,
        }
    }

    #[test]
    fn invested_utilization_ignores_idle_hours() {
        let mut series = [
            hour(0, 100.0),
            hour(1, 100.0),
            hour(2, 100.0),
            hour(3, 100.0),
        ];
        for idle in [0, 3] {
            series[idle].utilization = 0.0;
            series[idle].notional_to_equity = 0.0;
        }
        series[1].utilization = 0.8;
        series[1].notional_to_equity = 0.6;
        series[2].utilization = 0.6;
        series[2].notional_to_equity = 0.5;
        let (held, idle) = invested(&series);
        assert!((held - 0.7).abs() < 1e-12);
        assert!((idle - 0.5).abs() < 1e-12);
        assert_eq!(invested(&[]), (0.0, 0.0));
    }

    #[test]
    fn drawdown_is_peak_to_trough() {
        let series = [
            hour(0, 100.0),
            hour(1, 110.0),
            hour(2, 99.0),
            hour(3, 120.0),
        ];
        assert!((max_drawdown(&series) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn sharpe_and_sortino_of_daily_returns() {
        let (sharpe, sortino) = sharpe_sortino(&[0.001, 0.002, 0.001, 0.002]);
        assert!(sharpe > 10.0);
        assert_eq!(sortino, None); // no downside: undefined, not infinite
        let (_, sortino) = sharpe_sortino(&[0.002, -0.001]);
        // mean 0.0005, downside sqrt(0.000001 / 2)
        let expected = 0.0005 / (0.000_000_5f64).sqrt() * 365f64.sqrt();
        assert!((sortino.unwrap() - expected).abs() < 1e-9);
    }
}

//! Walk-forward (`--walk-forward TRAIN:TEST`): for each window, pick parameters from a small
//! fixed grid on the training part only, trade the following test part with them from fresh
//! capital, and chain the test parts into one out-of-sample equity curve.
//!
//! Grid ([`GRID`], the shipped defaults first, so ties, e.g. a training part with nothing
//! tradable, keep them): `pair_selection.holding_horizon_hours` (the horizon floor) ∈ {168, 336}
//! × `pair_selection.max_holding_horizon_hours` (the persistence cap) ∈ {off, 720, 2160} ×
//! `pair_selection.admission_margin` ∈ {0.0005, 0.002}. Objective on the training part:
//! CAGR / max(max drawdown, 0.1 %) (return per unit of drawdown; the floor keeps a run without
//! drawdown from dividing by zero).

use std::fmt::Write as _;

use chrono::Datelike;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::data::{DAY_MS, Dataset, format_day};
use crate::engine::replay::HourSample;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, compute, max_drawdown, sharpe_sortino, worst_month_drawdown};
use crate::{Backtest, BacktestConfig};

/// Training and test lengths in days (`365d:90d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkForwardSpec {
    pub train_days: i64,
    pub test_days: i64,
}

impl std::str::FromStr for WalkForwardSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let days = |part: &str| -> Result<i64> {
            let n = part.trim().trim_end_matches('d');
            n.parse::<i64>().ok().filter(|d| *d > 0).ok_or_else(|| {
                Error::Config(format!(
                    "expected TRAIN:TEST in days like 365d:90d, got {text:?}"
                ))
            })
        };
        let (train, test) = text.split_once(':').ok_or_else(|| {
            Error::Config(format!("expected TRAIN:TEST like 365d:90d, got {text:?}"))
        })?;
        Ok(Self {
            train_days: days(train)?,
            test_days: days(test)?,
        })
    }
}

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cell {
    /// `pair_selection.holding_horizon_hours`.
    pub holding_horizon_hours: u32,
    /// `pair_selection.max_holding_horizon_hours` (equal to the floor: persistence off).
    pub max_holding_horizon_hours: u32,
    /// `pair_selection.admission_margin`.
    pub admission_margin: Decimal,
}

const fn cell(floor: u32, cap: u32, margin: Decimal) -> Cell {
    Cell {
        holding_horizon_hours: floor,
        max_holding_horizon_hours: cap,
        admission_margin: margin,
    }
}

/// The parameter grid, defaults first.
pub const GRID: [Cell; 12] = [
    cell(168, 168, dec!(0.002)),
    cell(168, 168, dec!(0.0005)),
    cell(168, 720, dec!(0.002)),
    cell(168, 720, dec!(0.0005)),
    cell(168, 2160, dec!(0.002)),
    cell(168, 2160, dec!(0.0005)),
    cell(336, 336, dec!(0.002)),
    cell(336, 336, dec!(0.0005)),
    cell(336, 720, dec!(0.002)),
    cell(336, 720, dec!(0.0005)),
    cell(336, 2160, dec!(0.002)),
    cell(336, 2160, dec!(0.0005)),
];

/// Floor of the drawdown in the objective.
const DRAWDOWN_FLOOR: f64 = 0.001;

/// Training objective: CAGR / max(max drawdown, 0.1 %).
pub fn objective(m: &Metrics) -> f64 {
    m.annual_return / m.max_drawdown.max(DRAWDOWN_FLOOR)
}

/// One window: its dates, the chosen parameters and the test part's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Window {
    pub train_from_ms: i64,
    pub test_from_ms: i64,
    pub test_to_ms: i64,
    pub cell: Cell,
    pub train_objective: f64,
    pub test_return: f64,
}

/// The walk-forward result: windows and the chained out-of-sample hourly equity (from 1.0).
#[derive(Debug, Clone)]
pub struct WalkForward {
    pub spec: WalkForwardSpec,
    pub windows: Vec<Window>,
    pub equity: Vec<HourSample>,
}

fn with_params(base: &BacktestConfig, cell: Cell) -> BacktestConfig {
    let mut config = base.clone();
    config.pair_selection.holding_horizon_hours = cell.holding_horizon_hours;
    config.pair_selection.max_holding_horizon_hours = cell.max_holding_horizon_hours;
    config.pair_selection.admission_margin = cell.admission_margin;
    config
}

fn restricted(dataset: &Dataset, from_ms: i64, to_ms: i64) -> Dataset {
    let mut d = dataset.clone();
    d.range.from_ms = Some(from_ms);
    d.range.to_ms = Some(to_ms);
    d
}

/// Runs the walk-forward over the dataset's span.
pub fn walk_forward(
    base: &BacktestConfig,
    dataset: &Dataset,
    spec: WalkForwardSpec,
) -> Result<WalkForward> {
    let (first, last) = dataset
        .span_ms()
        .ok_or_else(|| Error::Data("no funding in the window".into()))?;
    let start = first - first.rem_euclid(DAY_MS);
    let end = last + 1;
    let mut windows = Vec::new();
    let mut equity: Vec<HourSample> = Vec::new();
    let mut level = 1.0_f64;
    let mut test_from = start + spec.train_days * DAY_MS;
    while test_from < end {
        let train_from = test_from - spec.train_days * DAY_MS;
        let test_to = (test_from + spec.test_days * DAY_MS).min(end);
        let train = restricted(dataset, train_from, test_from);
        let mut best: Option<(Cell, f64)> = None;
        for params in GRID {
            let run = Backtest::from_config(with_params(base, params)).run(&train)?;
            let score = objective(&compute(&run));
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((params, score));
            }
        }
        let (params, train_objective) = best.unwrap_or((GRID[0], 0.0));
        let test = restricted(dataset, test_from, test_to);
        let run = Backtest::from_config(with_params(base, params)).run(&test)?;
        let initial = run
            .book
            .initial_capital
            .to_string()
            .parse::<f64>()
            .unwrap_or(1.0);
        let mut close = level;
        for h in &run.hourly {
            close = level * h.equity / initial;
            equity.push(HourSample {
                equity: close,
                ..*h
            });
        }
        windows.push(Window {
            train_from_ms: train_from,
            test_from_ms: test_from,
            test_to_ms: test_to,
            cell: params,
            train_objective,
            test_return: close / level - 1.0,
        });
        level = close;
        test_from = test_to;
    }
    Ok(WalkForward {
        spec,
        windows,
        equity,
    })
}

fn year_of(time_ms: i64) -> i32 {
    chrono::DateTime::from_timestamp_millis(time_ms).map_or(1970, |t| t.year())
}

/// (year, return) of a chained hourly curve: each year from the last sample before it (its
/// own first sample for the first year) to its own last sample, so the hour at midnight, sampled
/// after its trades, belongs to the new year.
pub fn yearly_returns(equity: &[HourSample]) -> Vec<(i32, f64)> {
    let mut out: Vec<(i32, f64)> = Vec::new();
    let mut open: Option<(i32, f64)> = None;
    let mut previous: Option<f64> = None;
    for h in equity {
        let y = year_of(h.time_ms);
        match (open, previous) {
            (Some((year, start)), Some(prev)) if year != y => {
                out.push((year, prev / start - 1.0));
                open = Some((y, prev));
            }
            (None, _) => open = Some((y, h.equity)),
            _ => {}
        }
        previous = Some(h.equity);
    }
    if let (Some((year, start)), Some(last)) = (open, equity.last()) {
        out.push((year, last.equity / start - 1.0));
    }
    out
}

/// The walk-forward section: windows with their parameters, and the chained out-of-sample
/// curve per year beside the baselines of the full-period run (`baselines`).
pub fn render(wf: &WalkForward, baselines: &[Metrics]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Walk-forward ({}d train : {}d test)\n\nGrid: `pair_selection.holding_horizon_hours` (horizon floor) ∈ {{168, 336}} × `pair_selection.max_holding_horizon_hours` (persistence cap) ∈ {{off (= the floor), 720, 2160}} × `pair_selection.admission_margin` ∈ {{0.0005, 0.002}}; objective on the training part: CAGR / max(max drawdown, 0.1 %); ties keep the earlier cell (the shipped defaults 168 / off / 0.002 first). Each test part is traded from fresh capital with the chosen cell; the test parts are chained into one out-of-sample curve.\n",
        wf.spec.train_days, wf.spec.test_days
    );
    let daily: Vec<f64> = {
        let closes: Vec<f64> = wf
            .equity
            .iter()
            .filter(|h| h.time_ms.rem_euclid(DAY_MS) == 0)
            .map(|h| h.equity)
            .collect();
        closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
    };
    let (sharpe, _) = sharpe_sortino(&daily);
    let total = wf.equity.last().map_or(0.0, |h| h.equity - 1.0);
    let years = wf
        .equity
        .first()
        .zip(wf.equity.last())
        .map_or(0.0, |(a, b)| {
            (b.time_ms - a.time_ms) as f64 / (365.25 * DAY_MS as f64)
        });
    let cagr = if years > 0.0 {
        (1.0 + total).powf(1.0 / years) - 1.0
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "Chained out-of-sample: {} to {}, total {:.2} %, CAGR {:.2} %, Sharpe {:.2}, max drawdown {:.2} %, worst month drawdown {:.2} %.\n",
        wf.equity
            .first()
            .map_or(String::new(), |h| format_day(h.time_ms)),
        wf.equity
            .last()
            .map_or(String::new(), |h| format_day(h.time_ms)),
        total * 100.0,
        cagr * 100.0,
        sharpe,
        max_drawdown(&wf.equity) * 100.0,
        worst_month_drawdown(&wf.equity) * 100.0
    );
    out.push_str("| year | walk-forward (out of sample) |");
    for b in baselines {
        let _ = write!(out, " {} (full run) |", b.name);
    }
    out.push_str("\n|---|---:|");
    for _ in baselines {
        out.push_str("---:|");
    }
    out.push('\n');
    for (year, ret) in yearly_returns(&wf.equity) {
        let _ = write!(out, "| {year} | {:.2} % |", ret * 100.0);
        for b in baselines {
            let r = b
                .per_year
                .iter()
                .find(|y| y.year == year)
                .map_or("n/a".to_string(), |y| {
                    format!("{:.2} %", y.return_pct * 100.0)
                });
            let _ = write!(out, " {r} |");
        }
        out.push('\n');
    }
    out.push_str("\n| train from | test from | test to | holding_horizon_hours | max_holding_horizon_hours | admission_margin | train objective | test return |\n|---|---|---|---:|---:|---:|---:|---:|\n");
    for w in &wf.windows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} % |",
            format_day(w.train_from_ms),
            format_day(w.test_from_ms),
            format_day(w.test_to_ms),
            w.cell.holding_horizon_hours,
            w.cell.max_holding_horizon_hours,
            w.cell.admission_margin,
            w.train_objective,
            w.test_return * 100.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_starts_with_the_shipped_defaults() {
        let d = fff_core::PairSelectionParams::default();
        assert_eq!(
            GRID[0],
            cell(
                d.holding_horizon_hours,
                d.max_holding_horizon_hours,
                d.admission_margin
            )
        );
    }

    #[test]
    fn spec_parses_days() {
        let spec: WalkForwardSpec = "365d:90d".parse().unwrap();
        assert_eq!((spec.train_days, spec.test_days), (365, 90));
        assert!("365d".parse::<WalkForwardSpec>().is_err());
        assert!("0d:90d".parse::<WalkForwardSpec>().is_err());
    }

    #[test]
    fn yearly_returns_chain_across_the_new_year() {
        let at = |ms: i64, equity: f64| HourSample {
            time_ms: ms,
            equity,
            utilization: 0.0,
            notional_to_equity: 0.0,
        };
        let y2024 = crate::synth::EPOCH_2024_MS;
        let series = [
            at(y2024 - DAY_MS, 1.0),
            at(y2024, 1.1),
            at(y2024 + DAY_MS, 1.21),
        ];
        let years = yearly_returns(&series);
        assert_eq!(years.len(), 2);
        // 2023 is its one sample; 2024 runs from 2023's last sample through midnight.
        assert!(years[0].1.abs() < 1e-12);
        assert!((years[1].1 - 0.21).abs() < 1e-12);
    }
}

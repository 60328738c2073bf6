//! Grid mode: every combination of `--grid` values (on top of `--set`), each replayed on the
//! whole window or on both sides of `--split`, written to `grid.csv`. Runs are independent, so
//! they are spread over the available cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::backtest::Backtest;
use crate::cli::{BacktestArgs, Summary, progress_bar};
use crate::config::{Override, build_config, grid_combinations};
use crate::data::{Dataset, DateRange};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, compute};

const METRIC_COLUMNS: [&str; 23] = [
    "period",
    "start",
    "end",
    "annual_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "worst_month_drawdown",
    "capital_utilization",
    "win_rate",
    "funding_income",
    "borrow_cost",
    "fees",
    "slippage",
    "basis_pnl",
    "trades",
    "final_equity",
    "max_notional_to_equity",
    "min_futures_margin_coverage",
    "min_margin_level",
    "transfers",
    "usdt_interest",
    "liquidations",
];

fn metric_cells(period: &str, m: &Metrics) -> Vec<String> {
    vec![
        period.to_string(),
        m.start.clone(),
        m.end.clone(),
        format!("{:.6}", m.annual_return),
        format!("{:.4}", m.sharpe),
        m.sortino.map_or(String::new(), |s| format!("{s:.4}")),
        format!("{:.6}", m.max_drawdown),
        format!("{:.6}", m.worst_month_drawdown),
        format!("{:.6}", m.capital_utilization),
        format!("{:.6}", m.flows.win_rate),
        m.flows.funding_income.round_dp(2).to_string(),
        m.flows.borrow_cost.round_dp(2).to_string(),
        m.flows.fees.round_dp(2).to_string(),
        m.flows.slippage.round_dp(2).to_string(),
        m.flows.basis_pnl.round_dp(2).to_string(),
        m.flows.trades.to_string(),
        m.final_equity.round_dp(2).to_string(),
        format!("{:.6}", m.max_notional_to_equity),
        m.min_futures_margin_coverage
            .map_or(String::new(), |c| format!("{c:.4}")),
        m.min_margin_level
            .map_or(String::new(), |l| format!("{l:.4}")),
        m.transfers.to_string(),
        m.flows.usdt_interest.round_dp(2).to_string(),
        m.flows.liquidations.to_string(),
    ]
}

/// The window, or both sides of `split`, as named datasets.
fn periods(dataset: &Dataset, split: Option<chrono::NaiveDate>) -> Vec<(&'static str, Dataset)> {
    match split {
        None => vec![("all", dataset.clone())],
        Some(split) => {
            let split_ms = DateRange::from_dates(Some(split), None).from_ms;
            let mut before = dataset.clone();
            before.range.to_ms = split_ms;
            let mut after = dataset.clone();
            after.range.from_ms = split_ms;
            vec![("in_sample", before), ("out_of_sample", after)]
        }
    }
}

/// One finished run: its row (without the combination's values) and its event count.
type Finished = (Vec<String>, u64);

pub(crate) fn run_grid(
    args: &BacktestArgs,
    table: &toml::Table,
    dataset: &Dataset,
    span_days: u64,
    started: Instant,
) -> anyhow::Result<Summary> {
    let combos = grid_combinations(&args.grid);
    // Validate every combination before spending time on any.
    let backtests = combos
        .iter()
        .map(|combo| {
            let mut overrides: Vec<Override> = args.overrides();
            overrides.extend(combo.iter().cloned());
            build_config(table, &overrides).map(Backtest::from_config)
        })
        .collect::<Result<Vec<_>>>()?;
    let periods = periods(dataset, args.split);
    let jobs: Vec<(usize, usize)> = (0..combos.len())
        .flat_map(|c| (0..periods.len()).map(move |p| (c, p)))
        .collect();
    let bar = progress_bar(args, span_days * combos.len() as u64);
    bar.set_message("grid");
    let results: Mutex<Vec<Option<Result<Finished>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(combo, period)) = jobs.get(index) else {
                        break;
                    };
                    let (name, data) = &periods[period];
                    let outcome = backtests[combo]
                        .run_with_progress(data, |_| bar.inc(1))
                        .map(|run| (metric_cells(name, &compute(&run)), run.events));
                    if let Ok(mut slots) = results.lock() {
                        slots[index] = Some(outcome);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let results = results
        .into_inner()
        .map_err(|_| Error::Data("a grid worker panicked".into()))?;
    let path = args.out.join("grid.csv");
    let mut writer = csv::Writer::from_path(&path).map_err(|e| Error::output(&path, e))?;
    let mut header: Vec<String> = args
        .grid
        .iter()
        .map(|a| format!("{}.{}", a.section, a.key))
        .collect();
    header.extend(METRIC_COLUMNS.map(String::from));
    writer
        .write_record(&header)
        .map_err(|e| Error::output(&path, e))?;
    let mut events = 0;
    for (&(combo, _), result) in jobs.iter().zip(results) {
        let (cells, run_events) =
            result.ok_or_else(|| Error::Data("a grid run did not finish".into()))??;
        events += run_events;
        let mut record: Vec<String> = combos[combo].iter().map(|o| o.value.clone()).collect();
        record.extend(cells);
        writer
            .write_record(&record)
            .map_err(|e| Error::output(&path, e))?;
    }
    writer.flush().map_err(|e| Error::io(&path, e))?;
    Ok(Summary {
        out_dir: args.out.clone(),
        metrics: Vec::new(),
        grid_rows: jobs.len(),
        events,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

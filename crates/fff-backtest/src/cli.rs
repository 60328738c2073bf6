//! `fff backtest`: arguments, orchestration and output files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::backtest::Backtest;
use crate::config::{BacktestConfig, GridAxis, Override, build_config, read_config_table};
use crate::data::{DAY_MS, Dataset, DateRange, load_dataset};
use crate::engine::replay::RunOutput;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, compute};
use crate::plot::{Scale, Series, line_chart};
use crate::report::{ReportInput, coverage_notes, render};

/// Arguments of `fff backtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    /// Data directory (funding/, spot_1d/, perp_1d/, borrow/; see docs/BACKTEST.md).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory (created if missing).
    #[arg(long, default_value = "target/backtest")]
    pub out: PathBuf,
    /// First day replayed (UTC, YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Day the replay stops before (UTC, exclusive).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// fff TOML config; its [capital], [risk], [pair_selection], [execution], [rebalance] and
    /// [backtest] sections are read.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one key: section.key=value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<Override>,
    /// Sweep one key: section.key=v1,v2,... (repeatable; the cartesian product is run and
    /// written to grid.csv).
    #[arg(long = "grid", value_name = "SECTION.KEY=V1,V2")]
    pub grid: Vec<GridAxis>,
    /// Report in-sample (before) and out-of-sample (from this day) periods as separate runs.
    #[arg(long)]
    pub split: Option<NaiveDate>,
    /// Trade every symbol with funding as if a Binance spot market existed for it (same as
    /// `--set backtest.assume_spot_markets=true`). Without it a symbol is tradable only while
    /// spot klines or the data's spot_markets.csv show a spot market.
    #[arg(long)]
    pub assume_spot_markets: bool,
    /// Treat base assets absent from the borrow data (and from `borrow_daily_rate`) as
    /// borrowable at `default_borrow_daily_rate` (same as `--set
    /// backtest.assume_margin_for_unknown_assets=true`). Without it they are not shortable:
    /// negative carry on them is refused.
    #[arg(long)]
    pub assume_borrowable: bool,
    /// Multiply every margin borrow rate by this factor (same as `--set
    /// backtest.borrow_rate_multiplier=X`; default 1).
    #[arg(long, value_name = "X")]
    pub borrow_multiplier: Option<rust_decimal::Decimal>,
    /// Walk-forward TRAIN:TEST in days (e.g. `365d:90d`): parameters picked per window on the
    /// training part from a fixed grid, the test parts chained (written to walkforward.md).
    #[arg(long, value_name = "TRAIN:TEST")]
    pub walk_forward: Option<crate::walkforward::WalkForwardSpec>,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl BacktestArgs {
    /// `--set` overrides plus the ones flags stand for.
    pub fn overrides(&self) -> Vec<Override> {
        let mut overrides = self.set.clone();
        if self.assume_spot_markets {
            overrides.push(Override {
                section: "backtest".into(),
                key: "assume_spot_markets".into(),
                value: "true".into(),
            });
        }
        if self.assume_borrowable {
            overrides.push(Override {
                section: "backtest".into(),
                key: "assume_margin_for_unknown_assets".into(),
                value: "true".into(),
            });
        }
        if let Some(multiplier) = self.borrow_multiplier {
            overrides.push(Override {
                section: "backtest".into(),
                key: "borrow_rate_multiplier".into(),
                value: multiplier.to_string(),
            });
        }
        overrides
    }
}

/// What a run produced, for the caller to print.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub out_dir: PathBuf,
    /// Strategy then baselines (single run); empty in grid mode.
    pub metrics: Vec<Metrics>,
    /// Rows written to grid.csv (grid mode).
    pub grid_rows: usize,
    pub events: u64,
    pub elapsed_secs: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for m in &self.metrics {
            writeln!(
                f,
                "{:<28} annual {:>8.2} %  sharpe {:>6.2}  max dd {:>6.2} %  funding {:>12}  fees {:>10}  \
                 max notional/equity {:.3}  liquidations {}",
                m.name,
                m.annual_return * 100.0,
                m.sharpe,
                m.max_drawdown * 100.0,
                m.flows.funding_income.round_dp(2),
                (m.flows.fees + m.flows.slippage).round_dp(2),
                m.max_notional_to_equity,
                m.flows.liquidations
            )?;
        }
        if self.grid_rows > 0 {
            writeln!(f, "{} grid rows", self.grid_rows)?;
        }
        write!(
            f,
            "{} events in {:.2} s; output in {}",
            self.events,
            self.elapsed_secs,
            self.out_dir.display()
        )
    }
}

pub(crate) fn progress_bar(args: &BacktestArgs, days: u64) -> ProgressBar {
    if args.no_progress {
        return ProgressBar::hidden();
    }
    // The stderr target draws nothing when stderr is not a terminal.
    let bar = ProgressBar::with_draw_target(Some(days), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} days ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Runs `fff backtest`.
pub fn run(args: &BacktestArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let table = read_config_table(args.config.as_deref())?;
    let range = DateRange::from_dates(args.from, args.to);
    let dataset = load_dataset(&args.data, range)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let span_days = dataset
        .span_ms()
        .map_or(1, |(a, b)| ((b - a) / DAY_MS + 2) as u64);
    if !args.grid.is_empty() {
        return crate::grid::run_grid(args, &table, &dataset, span_days, started);
    }
    let config = build_config(&table, &args.overrides())?;
    let backtest = Backtest::from_config(config.clone());
    let model = backtest.capital_model()?;
    // Strategy, up to three yardsticks, and the two split runs.
    let replays = 4 + if args.split.is_some() { 2 } else { 0 };
    let bar = progress_bar(args, span_days * replays);
    bar.set_message("replaying");
    let comparison = backtest.compare(&dataset, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let mut runs: Vec<&RunOutput> = vec![&comparison.strategy];
    runs.extend(&comparison.baselines);
    // Half the runs' metrics on a second thread.
    let (first, second) = runs.split_at(runs.len() / 2);
    let metrics: Vec<Metrics> = std::thread::scope(|scope| {
        let later = scope.spawn(|| second.iter().map(|r| compute(r)).collect::<Vec<_>>());
        let mut metrics: Vec<Metrics> = first.iter().map(|r| compute(r)).collect();
        match later.join() {
            Ok(later) => metrics.extend(later),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        metrics
    });
    let split = match args.split {
        Some(split) => Some(split_metrics(&backtest, &dataset, split)?),
        None => None,
    };
    let elapsed_secs = started.elapsed().as_secs_f64();
    let notes = coverage_notes(&dataset, &config);
    let (strategy_metrics, baseline_metrics) = metrics
        .split_first()
        .ok_or_else(|| Error::Data("no run produced metrics".into()))?;
    write_json(
        &args.out.join("metrics.json"),
        &MetricsFile {
            strategy: strategy_metrics,
            baselines: baseline_metrics,
            split: split.as_ref().map(|(a, b, _)| [a, b]),
            data_notes: &notes,
            decisions: &comparison.strategy.stats,
            config: &config,
        },
    )?;
    write_charts(&args.out, &runs)?;
    write_trades(&args.out.join("trades.csv"), &comparison.strategy)?;
    write_equity(&args.out.join("equity.csv"), &runs)?;
    let command = command_line(args);
    let report = render(&ReportInput {
        command: &command,
        dataset: &dataset,
        config: &config,
        strategy: &comparison.strategy,
        metrics: &metrics,
        notes: &notes,
        split: split.as_ref().map(|(a, b, s)| (a, b, s.clone())),
        elapsed_secs,
        capital_model: Some(&model),
    });
    let report_path = args.out.join("report.md");
    std::fs::write(&report_path, report).map_err(|e| Error::io(&report_path, e))?;
    if let Some(spec) = args.walk_forward {
        let wf = crate::walkforward::walk_forward(&config, &dataset, spec)?;
        let path = args.out.join("walkforward.md");
        let text = crate::walkforward::render(&wf, baseline_metrics);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(Summary {
        out_dir: args.out.clone(),
        metrics,
        grid_rows: 0,
        events: runs.iter().map(|r| r.events).sum(),
        elapsed_secs,
    })
}

#[derive(Serialize)]
struct MetricsFile<'a> {
    strategy: &'a Metrics,
    baselines: &'a [Metrics],
    /// In-sample, out-of-sample.
    split: Option<[&'a Metrics; 2]>,
    data_notes: &'a [String],
    decisions: &'a crate::engine::policy::PolicyStats,
    config: &'a BacktestConfig,
}

fn command_line(args: &BacktestArgs) -> String {
    let mut parts = vec![
        "fff backtest".to_string(),
        format!("--data {}", args.data.display()),
        format!("--out {}", args.out.display()),
    ];
    if let Some(from) = args.from {
        parts.push(format!("--from {}", day(from)));
    }
    if let Some(to) = args.to {
        parts.push(format!("--to {}", day(to)));
    }
    if let Some(config) = &args.config {
        parts.push(format!("--config {}", config.display()));
    }
    parts.extend(args.set.iter().map(|o| format!("--set {o}")));
    parts.extend(
        args.grid
            .iter()
            .map(|g| format!("--grid {}.{}={}", g.section, g.key, g.values.join(","))),
    );
    if args.assume_spot_markets {
        parts.push("--assume-spot-markets".to_string());
    }
    if args.assume_borrowable {
        parts.push("--assume-borrowable".to_string());
    }
    if let Some(multiplier) = args.borrow_multiplier {
        parts.push(format!("--borrow-multiplier {multiplier}"));
    }
    if let Some(wf) = args.walk_forward {
        parts.push(format!(
            "--walk-forward {}d:{}d",
            wf.train_days, wf.test_days
        ));
    }
    if let Some(split) = args.split {
        parts.push(format!("--split {}", day(split)));
    }
    parts.join(" ")
}

/// Strategy metrics before and from `split`, each from a fresh account.
fn split_metrics(
    backtest: &Backtest,
    dataset: &Dataset,
    split: NaiveDate,
) -> Result<(Metrics, Metrics, String)> {
    let split_ms = DateRange::from_dates(Some(split), None).from_ms;
    let mut before = dataset.clone();
    before.range.to_ms = split_ms;
    let mut after = dataset.clone();
    after.range.from_ms = split_ms;
    // Two independent replays: one on a second thread.
    let (before_run, after_run) = std::thread::scope(|scope| {
        let later = scope.spawn(|| backtest.run(&after));
        let earlier = backtest.run(&before);
        match later.join() {
            Ok(later) => (earlier, later),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let mut in_sample = compute(&before_run?);
    in_sample.name = format!("in-sample (< {})", day(split));
    let mut out_sample = compute(&after_run?);
    out_sample.name = format!("out-of-sample (>= {})", day(split));
    Ok((in_sample, out_sample, day(split)))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::output(path, e))?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn daily_points(
    run: &RunOutput,
    value: impl Fn(&crate::engine::replay::HourSample) -> f64,
) -> Vec<(i64, f64)> {
    run.hourly
        .iter()
        .filter(|h| h.time_ms.rem_euclid(DAY_MS) == 0)
        .map(|h| (h.time_ms, value(h)))
        .collect()
}

fn write_charts(out: &Path, runs: &[&RunOutput]) -> Result<()> {
    let equity: Vec<Series<'_>> = runs
        .iter()
        .map(|r| Series {
            name: &r.name,
            points: daily_points(r, |h| h.equity),
        })
        .collect();
    line_chart(
        &out.join("equity.svg"),
        "Equity (USDT, log scale)",
        "USDT",
        &equity,
        false,
        Scale::Log,
    )?;
    let drawdown: Vec<Series<'_>> = runs
        .iter()
        .take(runs.len().saturating_sub(1)) // the bound's drawdown says nothing
        .map(|r| {
            let mut peak = f64::MIN;
            let points = r
                .hourly
                .iter()
                .filter_map(|h| {
                    peak = peak.max(h.equity);
                    (h.time_ms.rem_euclid(DAY_MS) == 0).then(|| {
                        (
                            h.time_ms,
                            if peak > 0.0 {
                                -100.0 * (peak - h.equity) / peak
                            } else {
                                0.0
                            },
                        )
                    })
                })
                .collect();
            Series {
                name: &r.name,
                points,
            }
        })
        .collect();
    line_chart(
        &out.join("drawdown.svg"),
        "Drawdown from peak (%)",
        "%",
        &drawdown,
        true,
        Scale::Linear,
    )?;
    let utilization: Vec<Series<'_>> = runs
        .iter()
        .take(1)
        .map(|r| Series {
            name: &r.name,
            points: daily_points(r, |h| h.utilization * 100.0),
        })
        .collect();
    line_chart(
        &out.join("utilization.svg"),
        "Capital utilization, strategy (% of equity tied up by both legs)",
        "%",
        &utilization,
        true,
        Scale::Linear,
    )
}

fn write_trades(path: &Path, run: &RunOutput) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    writer
        .write_record([
            "time",
            "symbol",
            "kind",
            "direction",
            "qty_delta",
            "notional",
            "cost",
        ])
        .map_err(|e| Error::output(path, e))?;
    for t in &run.book.trades {
        writer
            .write_record([
                crate::data::format_time(t.time_ms),
                t.symbol.clone(),
                format!("{:?}", t.kind),
                format!("{:?}", t.direction),
                t.qty_delta.normalize().to_string(),
                t.notional.round_dp(2).to_string(),
                t.cost.round_dp(4).to_string(),
            ])
            .map_err(|e| Error::output(path, e))?;
    }
    writer.flush().map_err(|e| Error::io(path, e))
}

fn write_equity(path: &Path, runs: &[&RunOutput]) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    let mut header = vec!["date".to_string()];
    header.extend(runs.iter().map(|r| r.name.clone()));
    writer
        .write_record(&header)
        .map_err(|e| Error::output(path, e))?;
    let Some(first) = runs.first() else {
        return Ok(());
    };
    for (i, sample) in first.daily.iter().enumerate() {
        let mut record = vec![crate::data::format_day(sample.time_ms)];
        for r in runs {
            record.push(
                r.daily
                    .get(i)
                    .map_or(String::new(), |d| d.equity.round_dp(2).to_string()),
            );
        }
        writer
            .write_record(&record)
            .map_err(|e| Error::output(path, e))?;
    }
    writer.flush().map_err(|e| Error::io(path, e))
}

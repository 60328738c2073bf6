//! Replay throughput (events per second) on generated data, so it runs anywhere.
//!
//! `cargo bench -p fff-backtest --bench replay` (add `--profile dev` for an unoptimised build).
//! Set `FFF_BACKTEST_DATA=/path/to/data` to also time loading a real directory, the strategy
//! and each yardstick on it, the strategy with the yardsticks (`Backtest::compare`, what
//! `fff backtest` replays) and a 64-combination grid spread over the cores like `--grid`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fff_backtest::baselines::{AlwaysOnCarry, PerfectForesight, TopOneRotation};
use fff_backtest::engine::policy::Policy;
use fff_backtest::engine::replay::replay;
use fff_backtest::synth::random_market;
use fff_backtest::{Backtest, BacktestConfig, Dataset, DateRange, load_dataset};
use rust_decimal::Decimal;

/// Best of this many runs (the machine is shared).
const REPEATS: usize = 3;

/// The fastest of [`REPEATS`] runs of `f`, in seconds, and its last result.
fn best_of<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..REPEATS {
        let started = Instant::now();
        last = Some(f());
        best = best.min(started.elapsed().as_secs_f64());
    }
    (best, last.expect("REPEATS > 0"))
}

fn time_run(label: &str, dataset: &Dataset, config: &BacktestConfig) {
    let backtest = Backtest::from_config(config.clone());
    let (strategy_secs, run) = best_of(|| backtest.run(dataset));
    let run = match run {
        Ok(run) => run,
        Err(error) => {
            eprintln!("{label}: {error}");
            return;
        }
    };
    let (compare_secs, comparison) = best_of(|| backtest.compare(dataset, |_| {}));
    let hours = (run.end_ms - run.start_ms) / 3_600_000;
    println!(
        "{label}: {} symbols, {hours} hours, {} events; strategy {:.3} s ({:.0} events/s, {:.0} hours/s); \
         strategy + 3 baselines {:.3} s ({})",
        dataset.symbols.len(),
        run.events,
        strategy_secs,
        run.events as f64 / strategy_secs,
        hours as f64 / strategy_secs,
        compare_secs,
        if comparison.is_ok() { "ok" } else { "failed" },
    );
}

/// Each yardstick alone, as `Backtest::compare` replays them.
fn time_yardsticks(dataset: &Dataset, config: &BacktestConfig) {
    let backtest = Backtest::from_config(config.clone());
    let Ok(model) = backtest.capital_model() else {
        return;
    };
    let costs = &config.backtest;
    let free = costs.without_trading_costs();
    let mut line = Vec::new();
    let mut time = |name: &str, policy: &mut dyn FnMut() -> Box<dyn Policy>, free_costs: bool| {
        let (secs, _) = best_of(|| {
            let mut policy = policy();
            let costs = if free_costs { &free } else { costs };
            replay(dataset, costs, &model, policy.as_mut(), |_| {})
        });
        line.push(format!("{name} {secs:.3} s"));
    };
    time(
        "always-on BTCUSDT",
        &mut || Box::new(AlwaysOnCarry::new("BTCUSDT", config, &model)),
        false,
    );
    time(
        "top-1 rotation",
        &mut || Box::new(TopOneRotation::new(config, &model)),
        false,
    );
    time(
        "perfect foresight",
        &mut || Box::new(PerfectForesight::new(config, &model)),
        true,
    );
    println!("  yardsticks alone: {}", line.join(", "));
}

/// The 64 combinations of the grid axes max_pairs 4/6/8/10, signal_settlements 1/3,
/// resize_threshold 0.05/0.1/0.2/0.3, decision_interval_hours 1/4 (the `fff backtest --grid`
/// measured in docs/BENCHMARKS.md), replayed over the available cores like `--grid`.
fn time_grid(dataset: &Dataset) {
    let mut configs = Vec::new();
    for max_pairs in [4, 6, 8, 10] {
        for signal in [1, 3] {
            for resize in [
                Decimal::new(5, 2),
                Decimal::new(1, 1),
                Decimal::new(2, 1),
                Decimal::new(3, 1),
            ] {
                for interval in [1, 4] {
                    let mut config = BacktestConfig::default();
                    config.pair_selection.max_pairs = max_pairs;
                    config.backtest.signal_settlements = signal;
                    config.backtest.resize_threshold = resize;
                    config.backtest.decision_interval_hours = interval;
                    configs.push(Backtest::from_config(config));
                }
            }
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(backtest) = configs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if backtest.run(dataset).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    println!(
        "  grid of {} combinations on {workers} threads: {:.2} s ({} failed)",
        configs.len(),
        started.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    );
}

fn main() {
    let mut config = BacktestConfig::default();
    // Generated assets have no borrow data; let them count as margin-enabled.
    config.backtest.assume_margin_for_unknown_assets = true;
    for (symbols, days) in [(12, 365), (36, 730)] {
        let dataset = random_market(symbols, days, 7);
        time_run(&format!("generated {symbols}x{days}d"), &dataset, &config);
    }
    if let Ok(dir) = std::env::var("FFF_BACKTEST_DATA") {
        let (secs, dataset) =
            best_of(|| load_dataset(std::path::Path::new(&dir), DateRange::default()));
        match dataset {
            Ok(dataset) => {
                println!("load {dir}: {secs:.3} s");
                let config = BacktestConfig::default();
                time_run(&dir, &dataset, &config);
                time_yardsticks(&dataset, &config);
                time_grid(&dataset);
            }
            Err(error) => eprintln!("load {dir}: {error}"),
        }
    }
}

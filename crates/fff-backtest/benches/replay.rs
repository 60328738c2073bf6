//! Replay throughput (events per second) on generated data, so it runs anywhere.
//!
//! `cargo bench -p fff-backtest --bench replay` (add `--profile dev` for an unoptimised build).
//! Set `FFF_BACKTEST_DATA=/path/to/data` to also time loading and replaying a real directory.

use std::time::Instant;

use fff_backtest::synth::random_market;
use fff_backtest::{Backtest, BacktestConfig, DateRange, load_dataset};

fn time_run(label: &str, dataset: &fff_backtest::Dataset, config: &BacktestConfig) {
    let backtest = Backtest::from_config(config.clone());
    let started = Instant::now();
    let run = match backtest.run(dataset) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("{label}: {error}");
            return;
        }
    };
    let strategy_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let comparison = backtest.compare(dataset, |_| {});
    let compare_secs = started.elapsed().as_secs_f64();
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

fn main() {
    let mut config = BacktestConfig::default();
    // Generated assets have no borrow data; let them count as margin-enabled.
    config.backtest.assume_margin_for_unknown_assets = true;
    for (symbols, days) in [(12, 365), (36, 730)] {
        let dataset = random_market(symbols, days, 7);
        time_run(&format!("generated {symbols}x{days}d"), &dataset, &config);
    }
    if let Ok(dir) = std::env::var("FFF_BACKTEST_DATA") {
        let started = Instant::now();
        match load_dataset(std::path::Path::new(&dir), DateRange::default()) {
            Ok(dataset) => {
                println!("load {dir}: {:.3} s", started.elapsed().as_secs_f64());
                time_run(&dir, &dataset, &BacktestConfig::default());
            }
            Err(error) => eprintln!("load {dir}: {error}"),
        }
    }
}

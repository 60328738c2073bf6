//! Integration tests of fff-backtest on generated data (never /work/shared/data).

mod borrow;
mod capital;
mod cli;
mod context;
mod data;
mod replay;

use fff_backtest::{BacktestConfig, CostModel};
use rust_decimal::Decimal;

/// `config` with zero borrow for `assets` (so margin counts as enabled for them).
fn with_free_borrow(mut config: BacktestConfig, assets: &[&str]) -> BacktestConfig {
    for asset in assets {
        config
            .backtest
            .borrow_daily_rate
            .insert((*asset).to_string(), Decimal::ZERO);
    }
    config
}

/// Default strategy, free trading, zero borrow for `assets`.
fn free_config(assets: &[&str]) -> BacktestConfig {
    let config = BacktestConfig {
        backtest: CostModel::free(),
        ..BacktestConfig::default()
    };
    with_free_borrow(config, assets)
}

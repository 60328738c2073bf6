//! fff-backtest: replays funding, borrow and price history through the same pure decision core
//! (`fff-core`) the live services use, with an explicit cost model, and reports the result
//! next to simple baselines and a perfect-foresight bound.
//!
//! Library entry points: [`load_dataset`], [`Backtest`]; CLI entry point: [`run`] with
//! [`BacktestArgs`].

pub mod backtest;
pub mod baselines;
pub mod cli;
pub mod config;
pub mod costs;
pub mod data;
pub mod engine;
pub mod error;
mod grid;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod strategy;
pub mod synth;
pub mod walkforward;

pub use backtest::{Backtest, Comparison, StrategyParams};
pub use cli::{BacktestArgs, Summary, run};
pub use config::{BacktestConfig, GridAxis, Override};
pub use costs::CostModel;
pub use data::{Dataset, DateRange, load_dataset};
pub use error::{Error, Result};

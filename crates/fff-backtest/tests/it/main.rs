//! Integration tests of fff-backtest on generated data (never /work/shared/data).

mod borrow;
mod capital;
mod cli;
mod context;
mod data;
mod replay;

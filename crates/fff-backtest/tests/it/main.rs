//! Integration tests of fff-backtest on generated data (never /work/shared/data).

mod cli;
mod data;
mod replay;

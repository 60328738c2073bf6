//! Integration tests of fff-backtest on generated data (never /work/shared/data).

mod capital;
mod cli;
mod data;
mod replay;

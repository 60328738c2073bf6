//! Stand-alone `fff backtest` for development: `cargo run -p fff-backtest --example backtest --
//! --data DIR --out DIR`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: fff_backtest::BacktestArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let summary = fff_backtest::run(&cli.args)?;
    println!("{summary}");
    Ok(())
}

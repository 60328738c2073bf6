//! `fff`: one binary for every role. Parses the command line and hands over to the role's
//! library; exit codes: 0 ok, 1 runtime failure, 2 usage error (clap), 64 configuration error.

#[macro_use]
mod stdout;
mod bench;
mod cli;
mod health;
mod role;
mod sim;
mod soak;
mod status;
mod up;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // reqwest/rustls are built without a default provider to keep aws-lc-rs out of the tree.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Gateway(args) => role::main(fff_runtime::Role::Gateway, &args),
        cli::Command::Scanner(mut args) => {
            if let Some(shard) = args.shard.take() {
                args.role.overrides.push(format!("scanner.shard={shard}"));
            }
            role::main(fff_runtime::Role::Scanner, &args.role)
        }
        cli::Command::Executor(args) => role::main(fff_runtime::Role::Executor, &args),
        cli::Command::Risk(args) => role::main(fff_runtime::Role::Risk, &args),
        cli::Command::Rebalancer(args) => role::main(fff_runtime::Role::Rebalancer, &args),
        cli::Command::Sim(args) => sim::main(&args),
        cli::Command::Health(args) => health::main(&args),
        cli::Command::Up(args) => up::main(&args),
        cli::Command::Backtest(args) => backtest(&args),
        cli::Command::Data(cli::DataCommand::Pull(args)) => data_pull(&args),
        cli::Command::Data(cli::DataCommand::Record(args)) => data_record(&args),
        cli::Command::Status(args) => status::main(&args),
        cli::Command::Soak(args) => soak::main(&args),
        cli::Command::Bench(args) => bench::main(&args),
    }
}

/// `fff backtest`: synchronous, no runtime needed.
fn backtest(args: &fff_backtest::BacktestArgs) -> ExitCode {
    match fff_backtest::run(args) {
        Ok(summary) => {
            outln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fff backtest: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `fff data pull`.
fn data_pull(args: &fff_data::PullArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff data pull: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fff_data::pull(args)) {
        Ok(summary) => {
            outln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fff data pull: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `fff data record`: until SIGTERM/Ctrl-C, or one round with `--once`.
fn data_record(args: &fff_data::RecordArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff data record: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = fff_runtime::shutdown::shutdown_signal();
    match runtime.block_on(fff_data::record(args, shutdown)) {
        Ok(summary) => {
            outln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fff data record: {error:#}");
            ExitCode::FAILURE
        }
    }
}

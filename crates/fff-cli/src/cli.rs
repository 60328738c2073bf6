//! Command-line surface of `fff`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Funding Fee Farmer: delta-neutral Binance funding-fee farming.
#[derive(Debug, Parser)]
#[command(name = "fff", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exchange gateway: the only role that talks to Binance (default port 50051).
    Gateway(RoleArgs),
    /// Market scanner: qualifies and ranks funding opportunities (default port 50052).
    Scanner(ScannerArgs),
    /// Executor: capital allocation and order execution (default port 50053).
    Executor(RoleArgs),
    /// Risk monitor: margin tiers, drawdown, directives (default port 50054).
    Risk(RoleArgs),
    /// Rebalancer: drift, flips and closes on a schedule (default port 50055).
    Rebalancer(RoleArgs),
    /// Binance-compatible exchange simulator; prints its base URLs as JSON on the first line.
    Sim(SimArgs),
    /// Replays real Binance history through the decision core, with baselines and a report.
    Backtest(fff_backtest::BacktestArgs),
    /// Historical data for backtests.
    #[command(subcommand)]
    Data(DataCommand),
    /// The whole suite locally: simulator, PostgreSQL, the five roles; Ctrl-C stops it.
    Up(UpArgs),
    /// Positions, funding, borrow, fees, P&L, risk tier and utilisation from the running suite.
    Status(StatusArgs),
    /// Asks a role's grpc.health.v1 whether it is SERVING (exit 0) or not (exit 1); for
    /// container healthchecks and scripts.
    Health(HealthArgs),
    /// Drives a throwaway suite through seeded fault scenarios and checks invariants against
    /// the simulator's records; one JSON summary, exit 1 on any violation.
    Soak(SoakArgs),
    /// Times the order paths at the venue on a throwaway suite (loopback): entries' unhedged
    /// windows and the executor's in-process figures, each role's memory; one JSON report.
    Bench(BenchArgs),
}

/// Options of `fff bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Unhedged windows (entry slices hedged at the venue), and strategy entries (opportunity
    /// to first order), to collect before stopping, after a first round run as a warm-up
    /// (reported apart).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Print only the JSON report (no progress on stderr).
    #[arg(long)]
    pub json: bool,
    /// Run nothing: print the "Latest run" table of docs/BENCHMARKS.md from a saved
    /// `--json` report.
    #[arg(long, value_name = "REPORT.json")]
    pub render: Option<PathBuf>,
    /// Margin-tier rounds after the entry rounds: a price move at the venue into Orange, timed
    /// to the first deleverage order (about 10 s a round).
    #[arg(long, default_value_t = 20)]
    pub tier_rounds: u32,
    /// Scanner rounds at the end: a funding change of a pair not held, timed from its mark on
    /// a gateway StreamMarket client to the scanner's snapshot on a StreamOpportunities client
    /// (about 1 s a round: the venue pushes marks every second).
    #[arg(long, default_value_t = 200)]
    pub scanner_rounds: usize,
    /// Simulated clock speed, as for `fff up`.
    #[arg(long, default_value_t = 60.0)]
    pub accelerate: f64,
    /// Stop after this many minutes even if fewer samples were collected.
    #[arg(long, default_value_t = 20)]
    pub max_minutes: u64,
    /// Working directory of the suite (PostgreSQL, logs); default a new one under the temp dir.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Simulator on N, roles on N+1..N+5, PostgreSQL on N+6; default: a free block.
    #[arg(long, value_name = "N")]
    pub base_port: Option<u16>,
    /// fff TOML configuration passed to every role.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Configuration overrides passed to every role (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Options of `fff soak`.
#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Number of scenarios.
    #[arg(long, default_value_t = 10)]
    pub scenarios: u64,
    /// Run seed; scenario i's seed derives from it and is printed with every violation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only these scenario seeds (repeatable), e.g. one a summary reported.
    #[arg(long, value_name = "SCENARIO_SEED")]
    pub replay: Vec<u64>,
    /// Print only the JSON summary (no progress on stderr).
    #[arg(long)]
    pub json: bool,
    /// Simulated clock speed (360: an hourly funding every 10 s).
    #[arg(long, default_value_t = 360.0)]
    pub accelerate: f64,
    /// Longest wait for the suite to come to rest after a scenario.
    #[arg(long, default_value_t = 30)]
    pub quiesce_secs: u64,
    /// A new violation counts once it persists this long with the suite at rest.
    #[arg(long, default_value_t = 3)]
    pub settle_secs: u64,
    /// Funding and interest older than this (wall seconds) must be in the ledger.
    #[arg(long, default_value_t = 35)]
    pub ledger_lag_secs: u64,
    /// Longest wait for the suite's first hedge before the scenarios start.
    #[arg(long, default_value_t = 240)]
    pub warmup_secs: u64,
    /// Start no new scenario after this many minutes (the summary says how many ran); 0 = no limit.
    #[arg(long, default_value_t = 0)]
    pub max_minutes: u64,
    /// Working directory of the suite (PostgreSQL, logs); default a new one under the temp dir.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Simulator on N, roles on N+1..N+5, PostgreSQL on N+6; default: a free block.
    #[arg(long, value_name = "N")]
    pub base_port: Option<u16>,
    /// fff TOML configuration passed to every role.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Configuration overrides passed to every role (repeatable; win over the soak's own).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Simulator configuration (accounts, symbols).
    #[arg(long, value_name = "FILE")]
    pub sim_config: Option<PathBuf>,
}

/// Options of `fff health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Address of the role to ask.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    pub addr: String,
    /// Service to ask about; empty means the server as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Only check that `--addr` accepts a TCP connection (for the simulator, which speaks
    /// HTTP rather than gRPC health).
    #[arg(long)]
    pub tcp: bool,
}

/// Options of `fff sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Simulator TOML (accounts, symbols, clock, faults); the default paper setup without one.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the first stdout line says which).
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "HOST:PORT")]
    pub listen: SocketAddr,
    /// Run the simulated clock this many times faster than the wall clock (3600 = an hour a second).
    #[arg(long, value_name = "SPEED")]
    pub accelerate: Option<f64>,
}

/// Options of `fff up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// fff TOML configuration passed to every role.
    #[arg(long, short = 'c', env = "FFF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Configuration overrides passed to every role (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Simulator configuration (accounts, symbols, faults).
    #[arg(long, value_name = "FILE")]
    pub sim_config: Option<PathBuf>,
    /// Address of the simulator.
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "HOST:PORT")]
    pub sim_listen: SocketAddr,
    /// Accelerate the simulated clock (3600 = an hour a second: funding every few seconds).
    #[arg(long, value_name = "SPEED")]
    pub accelerate: Option<f64>,
    /// Port of the private PostgreSQL cluster (used when DATABASE_URL is unset).
    #[arg(long, default_value_t = 55432)]
    pub postgres_port: u16,
    /// Move the whole suite: simulator on N, gateway, scanner, executor, risk and rebalancer
    /// on N+1..N+5, private PostgreSQL on N+6.
    #[arg(long, value_name = "N")]
    pub base_port: Option<u16>,
}

/// `fff data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Downloads funding, daily klines and borrow-rate history (REST API or Binance's bulk
    /// archive) into the layout `fff backtest --data` reads; re-running resumes.
    Pull(fff_data::PullArgs),
    /// Long-running collector of open interest, book spreads, predicted funding and borrow
    /// rates (no public history has them); SIGTERM/Ctrl-C stops it, `--once` does one round.
    Record(fff_data::RecordArgs),
}

/// Options of `fff scanner`.
#[derive(Debug, Args)]
pub struct ScannerArgs {
    #[command(flatten)]
    pub role: RoleArgs,
    /// Own the symbols whose stable hash mod N is I (`--shard 1/3`); same as `scanner.shard`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

/// Options every role takes.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// TOML configuration file (see config/fff.example.toml); defaults apply without one.
    #[arg(long, short = 'c', env = "FFF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on; default 127.0.0.1 and the role's port from `server.ports`.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<SocketAddr>,
    /// Override one configuration key, e.g. `--set capital.leverage=4` (repeatable; beats env).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Options of `fff status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// fff TOML configuration (for `services.executor` / `services.risk`).
    #[arg(long, short = 'c', env = "FFF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Executor endpoint (default: the `fff up` running in this directory, else the configuration).
    #[arg(long, value_name = "URL")]
    pub executor: Option<String>,
    /// Risk endpoint (default: the `fff up` running in this directory, else the configuration).
    #[arg(long, value_name = "URL")]
    pub risk: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

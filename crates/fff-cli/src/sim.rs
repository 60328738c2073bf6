//! `fff sim`: the exchange simulator as a process. Its first stdout line is one JSON object
//! mapping each Binance host it stands in for to its base URL, so tests and tools can find it.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use fff_runtime::config::TelemetryConfig;
use fff_runtime::{shutdown, telemetry};
use fff_sim::SimConfig;
use tokio::net::TcpListener;

use crate::cli::SimArgs;
use crate::role::EXIT_CONFIG;

pub fn main(args: &SimArgs) -> ExitCode {
    let config = match &args.config {
        Some(path) => SimConfig::load(path),
        None => Ok(SimConfig::default()),
    };
    let config = config.map(|mut c| {
        if let Some(speed) = args.accelerate {
            c.clock.mode = fff_sim::config::ClockMode::Accelerated;
            c.clock.speed = speed;
        }
        c
    });
    let config = match config.and_then(|c| c.validate().map(|()| c)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fff sim: invalid configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff sim: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fff sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: SimConfig, args: &SimArgs) -> anyhow::Result<()> {
    let telemetry = telemetry::init("sim", &TelemetryConfig::default())
        .context("cannot initialise telemetry")?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let urls = fff_sim::base_urls(listener.local_addr()?);
    let line = serde_json::to_string(&urls)?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }
    let stop = shutdown::on_signals();
    let result = fff_sim::run(config, listener, stop.wait()).await;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("fff sim: telemetry flush failed: {error}");
    }
    result.map_err(Into::into)
}

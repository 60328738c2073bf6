//! `fff <role>`: load and validate the configuration, start telemetry, bind, run the role
//! until SIGTERM/SIGINT, flush telemetry.

use std::process::ExitCode;

use anyhow::Context as _;
use fff_runtime::config::ProcessEnv;
use fff_runtime::{FffConfig, Role, RoleContext, Secrets, auth, metrics, shutdown, telemetry};
use tokio::net::TcpListener;

use crate::cli::RoleArgs;

/// Exit code for a configuration error (EX_CONFIG would be 78; 64 is EX_USAGE, the code the
/// house style reserves for bad configuration).
pub const EXIT_CONFIG: u8 = 64;

pub fn main(role: Role, args: &RoleArgs) -> ExitCode {
    let config = match FffConfig::load(args.config.as_deref(), &ProcessEnv, &args.overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fff {role}: invalid configuration:\n{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff {role}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(role, config, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fff {role}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(role: Role, config: FffConfig, args: &RoleArgs) -> anyhow::Result<()> {
    let telemetry =
        telemetry::init(role.as_str(), &config.telemetry).context("cannot initialise telemetry")?;
    if fff_runtime::grpc::tls::install(&config.tls).context("cannot set up TLS")? {
        tracing::info!(role = role.as_str(), "gRPC over TLS");
    }
    let token = auth::load_or_create_token(&config.auth, &ProcessEnv)
        .context("cannot load the auth token")?;
    let addr = args
        .listen
        .unwrap_or_else(|| config.server.listen_addr(role));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // the metrics endpoint lives as long as the role; binding it is checked before serving
    let metrics = match config.telemetry.metrics_listen {
        Some(metrics_addr) => {
            let metrics_listener = TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {metrics_addr}"))?;
            metrics::gauge_set(
                "fff_up",
                "1 while the role process runs.",
                &[
                    ("role", role.as_str()),
                    ("version", env!("CARGO_PKG_VERSION")),
                ],
                1.0,
            );
            Some(tokio::spawn(metrics::serve(
                metrics_listener,
                std::future::pending(),
            )))
        }
        None => None,
    };
    let context = RoleContext::new(config)
        .with_secrets(Secrets::from_env(&ProcessEnv))
        .with_auth_token(token);
    let stop = shutdown::on_signals();
    let result = match role {
        Role::Gateway => fff_gateway::run(context, listener, stop.wait()).await,
        Role::Scanner => fff_scanner::run(context, listener, stop.wait()).await,
        Role::Executor => fff_executor::run(context, listener, stop.wait()).await,
        Role::Risk => fff_risk::run(context, listener, stop.wait()).await,
        Role::Rebalancer => fff_rebalancer::run(context, listener, stop.wait()).await,
    };
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    // Flush spans even when the role failed: the failure's trace is the one worth keeping.
    if let Err(error) = telemetry.shutdown() {
        eprintln!("fff {role}: telemetry flush failed: {error}");
    }
    result
}

//! `fff status`: positions, funding, borrow, fees, P&L, risk tier, utilisation (fff-core's
//! capital model: both legs' capital / equity), the spot/margin and futures wallets with their
//! margin level and margin coverage, from the running services, as a table or (`--json`) for
//! scripts. Reads only, so no token is needed.

mod render;

use std::path::Path;
use std::process::ExitCode;

use fff_proto::fff::executor::v1 as exec;
use fff_proto::fff::risk::v1 as risk;
use fff_runtime::FffConfig;
use fff_runtime::config::ProcessEnv;
use serde_json::{Value, json};

use crate::cli::StatusArgs;
use crate::role::EXIT_CONFIG;
use crate::up;
use crate::up::endpoints::Endpoints;

/// What the services answered; each part is an error text when its service did not answer.
pub struct Snapshot {
    pub positions: Result<Vec<exec::Position>, String>,
    pub pnl: Result<exec::GetPnlResponse, String>,
    pub allocation: Result<exec::Allocation, String>,
    pub executor: Result<exec::ExecutorStatus, String>,
    pub risk: Result<risk::RiskState, String>,
}

pub fn main(args: &StatusArgs) -> ExitCode {
    let config = match FffConfig::load(args.config.as_deref(), &ProcessEnv, &[]) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fff status: invalid configuration:\n{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(error) = fff_runtime::grpc::tls::install(&config.tls) {
        eprintln!("fff status: {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    // without a configuration of its own, status follows the `fff up` running here, wherever
    // `--base-port` moved it
    let running = args
        .config
        .is_none()
        .then(|| Endpoints::read(Path::new(up::HOME)))
        .flatten()
        .unwrap_or_else(|| Endpoints::of(&config));
    let executor = args.executor.clone().unwrap_or(running.executor);
    let risk = args.risk.clone().unwrap_or(running.risk);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff status: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let snapshot = runtime.block_on(collect(&executor, &risk));
    if args.json {
        outln!("{}", render::json(&snapshot));
    } else {
        out!("{}", render::table(&snapshot));
    }
    if snapshot.positions.is_err() && snapshot.risk.is_err() {
        eprintln!("fff status: neither the executor ({executor}) nor risk ({risk}) answered");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn collect(executor: &str, risk_endpoint: &str) -> Snapshot {
    let exec_client = connect(executor)
        .await
        .map(exec::executor_client::ExecutorClient::new);
    let risk_client = connect(risk_endpoint)
        .await
        .map(risk::risk_client::RiskClient::new);

    let (positions, pnl, allocation, executor_status) = match exec_client {
        Ok(client) => {
            let live = [
                exec::PositionStatus::Opening,
                exec::PositionStatus::Open,
                exec::PositionStatus::Adjusting,
                exec::PositionStatus::Closing,
                exec::PositionStatus::Broken,
            ]
            .map(|s| s as i32)
            .to_vec();
            let positions = client
                .clone()
                .list_positions(exec::ListPositionsRequest {
                    statuses: live,
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().positions)
                .map_err(describe);
            let pnl = client
                .clone()
                .get_pnl(exec::GetPnlRequest::default())
                .await
                .map(tonic::Response::into_inner)
                .map_err(describe);
            let allocation = client
                .clone()
                .get_allocation(exec::GetAllocationRequest {})
                .await
                .map_err(describe)
                .and_then(|r| {
                    r.into_inner()
                        .allocation
                        .ok_or_else(|| "empty answer".into())
                });
            let status = client
                .clone()
                .get_status(exec::GetStatusRequest {})
                .await
                .map_err(describe)
                .and_then(|r| r.into_inner().status.ok_or_else(|| "empty answer".into()));
            (positions, pnl, allocation, status)
        }
        Err(error) => (
            Err(error.clone()),
            Err(error.clone()),
            Err(error.clone()),
            Err(error),
        ),
    };
    let risk_state = match risk_client {
        Ok(mut client) => client
            .get_risk_state(risk::GetRiskStateRequest::default())
            .await
            .map_err(describe)
            .and_then(|r| r.into_inner().state.ok_or_else(|| "empty answer".into())),
        Err(error) => Err(error),
    };
    Snapshot {
        positions,
        pnl,
        allocation,
        executor: executor_status,
        risk: risk_state,
    }
}

async fn connect(endpoint: &str) -> Result<tonic::transport::Channel, String> {
    let endpoint = fff_runtime::grpc::tls::endpoint(endpoint)
        .map_err(|e| format!("invalid endpoint {endpoint}: {e}"))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(5));
    endpoint
        .connect()
        .await
        .map_err(|e| format!("unreachable: {e}"))
}

fn describe(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// `Ok(value)` as JSON, `Err(text)` as `{"error": text}`.
fn part<T>(result: &Result<T, String>, to_json: impl FnOnce(&T) -> Value) -> Value {
    match result {
        Ok(value) => to_json(value),
        Err(error) => json!({ "error": error }),
    }
}

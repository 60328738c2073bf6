//! `fff health`: one grpc.health.v1 Check against a role, for healthchecks without extra tools.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::cli::HealthArgs;

pub fn main(args: &HealthArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff health: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // the role's own `[tls]` (from FFF_TLS__* in a container): a TLS listener is checked
    // over TLS
    if let Ok(config) = fff_runtime::FffConfig::load(None, &fff_runtime::config::ProcessEnv, &[])
        && let Err(error) = fff_runtime::grpc::tls::install(&config.tls)
    {
        eprintln!("fff health: {error}");
        return ExitCode::FAILURE;
    }
    let timeout = Duration::from_millis(args.timeout_ms);
    if args.tcp {
        let connected = runtime.block_on(async {
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(args.addr.as_str())).await
        });
        return match connected {
            Ok(Ok(_)) => {
                outln!("ACCEPTING");
                ExitCode::SUCCESS
            }
            Ok(Err(error)) => {
                eprintln!("fff health: {} refuses connections: {error}", args.addr);
                ExitCode::FAILURE
            }
            Err(_) => {
                eprintln!(
                    "fff health: no connection to {} within {timeout:?}",
                    args.addr
                );
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(async { tokio::time::timeout(timeout, check(args)).await }) {
        Ok(Ok(ServingStatus::Serving)) => {
            outln!("SERVING");
            ExitCode::SUCCESS
        }
        Ok(Ok(status)) => {
            outln!("{}", status.as_str_name());
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("fff health: {error:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "fff health: no answer from {} within {timeout:?}",
                args.addr
            );
            ExitCode::FAILURE
        }
    }
}

/// True when the role at `addr` answers SERVING for `service` ("" = the whole server).
pub async fn is_serving(addr: &str, service: &str) -> bool {
    let probe = tokio::time::timeout(Duration::from_secs(2), status(addr, service));
    matches!(probe.await, Ok(Ok(ServingStatus::Serving)))
}

async fn check(args: &HealthArgs) -> anyhow::Result<ServingStatus> {
    status(&args.addr, &args.service).await
}

async fn status(addr: &str, service: &str) -> anyhow::Result<ServingStatus> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let channel = fff_runtime::grpc::tls::endpoint(&uri)
        .with_context(|| format!("invalid address {addr:?}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .context("health check failed")?;
    Ok(ServingStatus::try_from(response.get_ref().status).unwrap_or(ServingStatus::Unknown))
}

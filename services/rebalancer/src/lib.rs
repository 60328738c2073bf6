//! `fff rebalancer`: periodic hedge maintenance.
//!
//! Every `rebalance.interval_secs` (and on TriggerNow) a run reads the live positions from the
//! executor (ListPositions), prices, funding, borrow rates and filters from the gateway
//! (GetUniverse) and the entry halt from risk (GetRiskState), reviews each position with
//! fff-core's `decide` ([`review`]) and emits the resulting actions on StreamActions, which the
//! executor follows. Health is NOT_SERVING until the executor and the gateway have answered once.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

pub mod actions;
pub mod review;
pub mod runner;
mod service;
pub mod upstreams;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use fff_proto::fff::rebalancer::v1::{
    MUTATING_METHODS, RunTrigger, rebalancer_server::RebalancerServer,
};
use fff_runtime::RoleContext;
use fff_runtime::config::RebalancerConfig;
use fff_runtime::grpc::{GrpcServer, HealthHandle, channel};
use fff_runtime::telemetry::ClientInterceptor;
use tokio::net::TcpListener;
use tokio::time::MissedTickBehavior;

pub use service::RebalancerService;

use crate::runner::{RunRequest, Runner};
use crate::upstreams::{GrpcUpstreams, Upstreams};

/// Serves the rebalancer role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = &context.config;
    let services = &config.services;
    let upstreams = GrpcUpstreams::new(
        channel(&services.executor).context("services.executor is not a valid endpoint")?,
        channel(&services.gateway).context("services.gateway is not a valid endpoint")?,
        channel(&services.risk).context("services.risk is not a valid endpoint")?,
        ClientInterceptor::new(context.auth_token.as_ref())?,
    );
    let runner = Arc::new(Runner::new(
        upstreams,
        config.rebalance.clone(),
        config.pair_selection.clone(),
        config.rebalancer.clone(),
    ));

    let mut server = GrpcServer::new("rebalancer", &config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(
            RebalancerServer::new(RebalancerService::new(runner.clone())),
            MUTATING_METHODS,
        );
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }

    let schedule = tokio::spawn(schedule(
        runner,
        server.health(),
        config.rebalancer.clone(),
        Duration::from_secs(config.rebalance.interval_secs),
    ));
    tracing::info!(
        addr = %listener.local_addr()?,
        executor = %services.executor,
        gateway = %services.gateway,
        "rebalancer starting"
    );
    let result = server.serve(listener, shutdown).await;
    schedule.abort();
    result?;
    Ok(())
}

/// Waits until the upstreams answer once (then SERVING), then runs on the schedule.
async fn schedule<U: Upstreams>(
    runner: Arc<Runner<U>>,
    health: HealthHandle,
    settings: RebalancerConfig,
    interval: Duration,
) {
    wait_for_upstreams(runner.upstreams(), &settings).await;
    health.set_serving().await;
    tracing::info!("executor and gateway answered: rebalancer is serving");
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let run = runner
            .run(RunRequest {
                trigger: RunTrigger::Scheduled,
                reason: String::new(),
                dry_run: false,
                symbols: Vec::new(),
            })
            .await;
        if !run.error.is_empty() {
            tracing::warn!(run_id = %run.run_id, error = %run.error, "scheduled rebalance failed");
        }
    }
}

async fn wait_for_upstreams<U: Upstreams>(upstreams: &U, settings: &RebalancerConfig) {
    let mut delay = Duration::from_millis(settings.reconnect_initial_ms);
    let max = Duration::from_millis(settings.reconnect_max_ms);
    loop {
        let executor = upstreams.live_positions().await;
        let gateway = upstreams.instruments(Vec::new()).await;
        match (executor, gateway) {
            (Ok(_), Ok(_)) => return,
            (executor, gateway) => tracing::warn!(
                executor = ?executor.err().map(|s| s.code()),
                gateway = ?gateway.err().map(|s| s.code()),
                retry_in_ms = delay.as_millis(),
                "waiting for upstreams"
            ),
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2).min(max);
    }
}

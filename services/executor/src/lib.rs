//! `fff executor`: capital allocation and order execution.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.
//!
//! Inside, one [`engine::Engine`] owns the positions (a mutex per symbol serialises their
//! work; order work runs in tracked tasks). Around it, tasks that feed it: start-up
//! reconciliation ([`reconcile`], entries wait for it), the account ledger ([`ledger`]: fills,
//! funding, interest), the strategy loop on the merged scanner view ([`strategy`]), risk
//! directives and rebalancer actions ([`inputs`]), and a periodic `pnl_daily` writer.

mod alerts;
pub mod approval;
pub mod budget;
pub mod engine;
pub mod error;
pub mod exchange;
pub mod ids;
pub mod inputs;
pub mod ledger;
pub mod legs;
pub mod metrics;
pub mod pnl;
pub mod reconcile;
pub(crate) mod service;
pub mod strategy;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use fff_proto::fff::executor::v1::{MUTATING_METHODS, executor_server::ExecutorServer};
use fff_proto::fff::gateway::v1::gateway_client::GatewayClient;
use fff_proto::fff::rebalancer::v1::rebalancer_client::RebalancerClient;
use fff_proto::fff::risk::v1::risk_client::RiskClient;
use fff_proto::fff::scanner::v1 as scan;
use fff_runtime::RoleContext;
use fff_runtime::grpc::{GrpcServer, channel};
use fff_runtime::telemetry::ClientInterceptor;
use fff_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use service::ExecutorService;

use crate::budget::BudgetApprover;
use crate::engine::{Engine, EngineParams};
use crate::exchange::GatewayExchange;
use crate::strategy::PlanCell;

/// Unfinished orders untouched this long have no task following them any more (order
/// follow-up gives up after 10 s).
const STALE_ORDER_AGE: Duration = Duration::from_secs(60);
/// Database vs exchange (perps, spot legs, loans) is compared every this many ticks (a minute).
const RECHECK_EVERY_TICKS: u32 = 6;
/// How often `pnl_daily` is refreshed, stale orders resolved and stalled exits retried.
const PNL_DAILY_EVERY: Duration = Duration::from_secs(10);

/// Serves the executor role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // This role persists; it is not ready until the schema is migrated.
    let url = context
        .secrets
        .database_url
        .as_ref()
        .context("DATABASE_URL is not set: the executor role persists to PostgreSQL")?;
    let store = Store::connect(url.expose(), context.config.database.max_connections)
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    tracing::info!("database migrated");

    let config = &context.config;
    fff_alerts::install(&config.alerts, "executor");
    let interceptor = ClientInterceptor::new(context.auth_token.as_ref())?;
    let gateway =
        GatewayClient::with_interceptor(channel(&config.services.gateway)?, interceptor.clone());
    let risk = RiskClient::with_interceptor(channel(&config.services.risk)?, interceptor.clone());
    let rebalancer =
        RebalancerClient::with_interceptor(channel(&config.services.rebalancer)?, interceptor);
    let exchange = Arc::new(GatewayExchange::new(gateway.clone()));
    let mut params = EngineParams::from_config(
        config.capital.clone(),
        config.execution.clone(),
        &config.risk,
    )?;
    params.max_pairs = config.pair_selection.max_pairs;
    // Binance refuses a signed request older than its recvWindow on arrival: an order the
    // venue does not know after order_timeout is closed as never sent only because it can no
    // longer land. A recvWindow near the timeout voids that (an accelerated simulator, whose
    // clock runs faster than the wall, is the one case where it is harmless).
    if Duration::from_millis(config.exchange.recv_window_ms) + Duration::from_secs(2)
        > params.order_timeout
    {
        tracing::warn!(
            recv_window_ms = config.exchange.recv_window_ms,
            order_timeout_ms = params.order_timeout.as_millis() as u64,
            "exchange.recv_window_ms is close to the executor's order timeout: an order delayed \
             in flight could land after it was closed as never sent"
        );
    }
    let engine = Engine::new(store, exchange, params);
    // no order leaves before this instance holds the writer lease
    engine.set_fenced(true);
    engine
        .restore_run_state()
        .await
        .context("cannot read the kill switch from PostgreSQL")?;
    // entries approved from the budget risk grants ahead; without one, risk is asked
    let approver = Arc::new(BudgetApprover::new(
        risk.clone(),
        engine.params.model.clone(),
    ));
    engine.set_approver(approver.clone());
    let plan = Arc::new(PlanCell::default());

    let endpoints = fff_scanner::merge::resolve_endpoints(&config.services.scanners).await?;
    // cancels its stream tasks when dropped at the end of `run`
    let opportunities =
        fff_scanner::merge::subscribe(endpoints, scan::OpportunityFilter::default());
    let trading = Trading {
        engine: Arc::clone(&engine),
        gateway,
        risk,
        rebalancer,
        approver: approver.clone(),
        view: opportunities.view.clone(),
        plan: Arc::clone(&plan),
        max_pairs: config.pair_selection.max_pairs,
        deleverage_fraction: config.risk.deleverage_fraction,
    };

    let service = ExecutorService::new(Arc::clone(&engine), approver, plan);
    let mut server = GrpcServer::new("executor", &config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(ExecutorServer::new(service), MUTATING_METHODS);
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }
    let health = server.health();
    // NOT_SERVING and no order sent until this instance holds the writer lease
    health.set_not_serving().await;
    let cancel = CancellationToken::new();
    let lease_options = engine.store().connect_options();
    let keeper = tokio::spawn(hold_lease_and_trade(
        trading,
        lease_options,
        health.clone(),
        cancel.clone(),
    ));
    tracing::info!(addr = %listener.local_addr()?, "executor listening");
    let result = server.serve(listener, shutdown).await;

    cancel.cancel();
    let _ = keeper.await;
    engine.drain(config.server.grace_period()).await;
    drop(opportunities);
    // alerts raised during the drain still go out (bounded)
    fff_alerts::flush(Duration::from_secs(3)).await;
    result?;
    Ok(())
}

/// The one-writer lease of this role: a second executor on the same database waits.
const LEASE: &str = "fff-executor";
/// How often the holder checks that its lease session is alive.
const LEASE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// What the trading tasks need; they run only while the lease is held.
struct Trading {
    engine: Arc<Engine>,
    gateway: exchange::GatewayClientT,
    risk: RiskClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            ClientInterceptor,
        >,
    >,
    rebalancer: RebalancerClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            ClientInterceptor,
        >,
    >,
    approver: Arc<BudgetApprover>,
    view: tokio::sync::watch::Receiver<fff_scanner::merge::MergedView>,
    plan: Arc<PlanCell>,
    max_pairs: u32,
    deleverage_fraction: rust_decimal::Decimal,
}

impl Trading {
    /// Starts every task that can send orders; they stop when `cancel` fires.
    fn start(&self, cancel: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        let engine = &self.engine;
        vec![
            tokio::spawn(reconcile_until_done(Arc::clone(engine), cancel.clone())),
            tokio::spawn(ledger::run(
                Arc::clone(engine),
                self.gateway.clone(),
                cancel.clone(),
            )),
            tokio::spawn(inputs::follow_directives(
                Arc::clone(engine),
                self.risk.clone(),
                self.deleverage_fraction,
                cancel.clone(),
            )),
            tokio::spawn(engine::wallets::run(Arc::clone(engine), cancel.clone())),
            tokio::spawn(inputs::follow_actions(
                Arc::clone(engine),
                self.rebalancer.clone(),
                cancel.clone(),
            )),
            tokio::spawn(strategy::run(
                Arc::clone(engine),
                self.approver.clone(),
                self.view.clone(),
                self.max_pairs,
                Arc::clone(&self.plan),
                cancel.clone(),
            )),
            tokio::spawn(book_pnl_daily(Arc::clone(engine), cancel.clone())),
            tokio::spawn(Arc::clone(&self.approver).follow(self.risk.clone(), cancel.clone())),
        ]
    }
}

/// Waits for the writer lease, trades while it is held, and on losing it stops sending
/// orders at once (the engine is fenced before anything else), reports NOT_SERVING and waits
/// for the lease again; a new term starts with reconciliation.
async fn hold_lease_and_trade(
    trading: Trading,
    options: fff_store::PgConnectOptions,
    health: fff_runtime::grpc::HealthHandle,
    cancel: CancellationToken,
) {
    let mut lost_before = false;
    loop {
        let waiting = std::time::Instant::now();
        let mut lease = tokio::select! {
            () = cancel.cancelled() => return,
            lease = fff_store::Lease::acquire(&options, LEASE, LEASE_CHECK_EVERY) => lease,
        };
        tracing::info!(lease = LEASE, "writer lease acquired");
        alerts::lease_acquired(LEASE, waiting.elapsed(), lost_before);
        trading.engine.set_fenced(false);
        let term = cancel.child_token();
        let tasks = trading.start(&term);
        health.set_serving().await;
        let lost = loop {
            tokio::select! {
                () = cancel.cancelled() => break false,
                () = tokio::time::sleep(LEASE_CHECK_EVERY) => {
                    if !lease.alive(LEASE_CHECK_EVERY).await {
                        break true;
                    }
                }
            }
        };
        trading.engine.set_fenced(true);
        term.cancel();
        for task in &tasks {
            task.abort();
        }
        if !lost {
            return;
        }
        tracing::error!(
            lease = LEASE,
            "writer lease lost: stopped sending orders until it is held again"
        );
        alerts::lease_lost(LEASE);
        lost_before = true;
        health.set_not_serving().await;
        trading.engine.mark_unreconciled();
        drop(lease);
    }
}

/// Reconciles with the exchange at start-up, retrying until the gateway answers.
async fn reconcile_until_done(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut delay = Duration::from_millis(250);
    loop {
        match reconcile::reconcile(&engine).await {
            Ok(_) => return,
            Err(err) => tracing::warn!(error = %err, "reconciliation failed; retrying"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Keeps today's `pnl_daily` row of every live position current, resolves orders left with
/// an unknown outcome, and restarts exits that stopped on an error.
async fn book_pnl_daily(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut recheck_every = RECHECK_EVERY_TICKS;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(PNL_DAILY_EVERY) => {}
        }
        if engine.reconcile_report().is_some() {
            recheck_every = recheck_every.saturating_sub(1);
            if recheck_every == 0 {
                recheck_every = RECHECK_EVERY_TICKS;
                if let Err(err) = reconcile::recheck(&engine).await {
                    tracing::warn!(error = %err, "periodic reconciliation failed");
                }
            }
            if let Err(err) = reconcile::sweep_stale_orders(&engine, STALE_ORDER_AGE).await {
                tracing::warn!(error = %err, "stale orders not resolved");
            }
            if let Err(err) = engine.resume_exits().await {
                tracing::warn!(error = %err, "stalled exits not resumed");
            }
        }
        let Ok(live) = engine.live_positions().await else {
            continue;
        };
        for position in live {
            // marks for P&L and the position views (the gateway serves them from its universe)
            if let Ok(instrument) = engine.exchange.instrument(&position.symbol).await {
                engine.set_mark(&position.symbol, instrument.mark_price);
            }
            let mark = engine.mark(&position.symbol);
            if let Err(err) = pnl::book_daily(engine.store(), &position, mark).await {
                tracing::warn!(symbol = %position.symbol, error = %err, "pnl_daily not written");
            }
        }
    }
}

/// Crates the executor's public API speaks in, for callers (the `fff` cross-process tests)
/// that inspect the database without depending on them directly.
#[doc(hidden)]
pub mod reexport {
    pub use fff_store;
    pub use rust_decimal;
}

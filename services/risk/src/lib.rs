//! `fff risk`: the risk monitor: margin tiers, drawdown, directives, entry approvals.
//!
//! Follows the account through the gateway ([`feed`]), maps futures margin coverage and the
//! cross-margin level to tiers with hysteresis ([`monitor`], fff-core's `TierTracker`), keeps the
//! rolling drawdown latch on equity snapshots it persists every `risk_service.
//! snapshot_interval_secs` ([`snapshots`]), and publishes directives with ids and sequence
//! numbers ([`directives`]) on StreamDirectives. Health is NOT_SERVING until the database is
//! migrated and the gateway has answered once.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

pub mod account;
mod alerts;
pub mod approvals;
mod convert;
pub mod directives;
pub mod feed;
pub mod monitor;
mod service;
pub mod snapshots;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use fff_proto::fff::risk::v1::{MUTATING_METHODS, risk_server::RiskServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::{GrpcServer, channel};
use fff_runtime::telemetry::ClientInterceptor;
use fff_store::Store;
use tokio::net::TcpListener;

pub use service::RiskService;

use crate::approvals::Approvals;
use crate::directives::DirectiveLog;
use crate::feed::{FeedSettings, GatewaySource, follow_account};
use crate::monitor::RiskMonitor;
use crate::state::RiskCore;

/// The one-writer lease of this role.
const LEASE: &str = "fff-risk";
/// How often the holder checks its lease session.
const LEASE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Serves the risk role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = &context.config;
    let settings = &config.risk_service;
    let now = Utc::now();
    let monitor = RiskMonitor::new(
        config.risk.clone(),
        config.capital.clone(),
        chrono::Duration::seconds(i64::try_from(settings.directive_ttl_secs).unwrap_or(i64::MAX)),
    )
    .context("invalid [capital]/[risk] parameters for the capital model")?;
    let log = DirectiveLog::new(
        now,
        usize::try_from(settings.directive_history).unwrap_or(usize::MAX),
    );
    // entries need account data no older than ten polls (at least 10 s)
    let max_data_age = chrono::Duration::milliseconds(
        i64::try_from(settings.account_poll_ms.saturating_mul(10)).unwrap_or(i64::MAX),
    )
    .max(chrono::Duration::seconds(10));
    let approvals = Approvals::new(
        chrono::Duration::seconds(i64::try_from(settings.approval_ttl_secs).unwrap_or(i64::MAX)),
        max_data_age,
    );
    let core = Arc::new(RiskCore::new(monitor, log, approvals));
    fff_alerts::install(&config.alerts, "risk");

    let mut server = GrpcServer::new("risk", &config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(
            RiskServer::new(RiskService::new(core.clone())),
            MUTATING_METHODS,
        );
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }

    // This role persists; it is not ready until the schema is migrated.
    let url = context
        .secrets
        .database_url
        .as_ref()
        .context("DATABASE_URL is not set: the risk role persists to PostgreSQL")?;
    let store = Store::connect(url.expose(), config.database.max_connections)
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    let seeded = snapshots::seed_from_store(&store, &core, config.risk.drawdown_window_days, now)
        .await
        .context("cannot read equity history")?;
    tracing::info!(
        snapshots = seeded,
        "database migrated, drawdown history loaded"
    );

    let gateway = GatewaySource::new(
        channel(&config.services.gateway).context("services.gateway is not a valid endpoint")?,
        ClientInterceptor::new(context.auth_token.as_ref())?,
    );
    let settings = FeedSettings {
        poll: Duration::from_millis(settings.account_poll_ms),
        reconnect_initial: Duration::from_millis(settings.reconnect_initial_ms),
        reconnect_max: Duration::from_millis(settings.reconnect_max_ms),
    };
    let snapshot_every = Duration::from_secs(config.risk_service.snapshot_interval_secs);
    let health = server.health();
    let lease_options = store.connect_options();
    // One writer: the feed (which decides tiers and emits directives) and the equity writer
    // run only while this instance holds the lease; a second instance stays NOT_SERVING.
    let keeper = tokio::spawn(async move {
        let mut lost_before = false;
        loop {
            let waiting = std::time::Instant::now();
            let mut lease =
                fff_store::Lease::acquire(&lease_options, LEASE, LEASE_CHECK_EVERY).await;
            tracing::info!(lease = LEASE, "writer lease acquired");
            alerts::lease_acquired(LEASE, waiting.elapsed(), lost_before);
            let feed = tokio::spawn(follow_account(
                gateway.clone(),
                core.clone(),
                health.clone(),
                settings,
            ));
            let writer = tokio::spawn(snapshots::snapshot_loop(
                store.clone(),
                core.clone(),
                snapshot_every,
            ));
            while lease.alive(LEASE_CHECK_EVERY).await {
                tokio::time::sleep(LEASE_CHECK_EVERY).await;
            }
            feed.abort();
            writer.abort();
            health.set_not_serving().await;
            tracing::error!(
                lease = LEASE,
                "writer lease lost: stopped deciding until it is held again"
            );
            alerts::lease_lost(LEASE);
            lost_before = true;
        }
    });

    tracing::info!(addr = %listener.local_addr()?, gateway = %config.services.gateway, "risk starting");
    let result = server.serve(listener, shutdown).await;
    keeper.abort();
    // alerts raised just before the shutdown still go out (bounded)
    fff_alerts::flush(Duration::from_secs(3)).await;
    result?;
    Ok(())
}

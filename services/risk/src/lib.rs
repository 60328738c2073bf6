//! `fff risk`: the risk monitor: margin tiers, drawdown, directives, entry approvals.
//!
//! Follows the account through the gateway ([`feed`]) and re-values the last snapshot at every
//! streamed mark price of what it holds ([`marks`], [`revalue`]), maps futures margin coverage
//! and the cross-margin level to tiers with hysteresis ([`monitor`], fff-core's `TierTracker`), keeps the
//! rolling drawdown latch on equity snapshots it persists every `risk_service.
//! snapshot_interval_secs` ([`snapshots`]), and publishes directives with ids and sequence
//! numbers ([`directives`]) on StreamDirectives. Health is NOT_SERVING until the database is
//! migrated, this instance holds the writer lease and the gateway has answered once.
//!
//! One writer per account: a PostgreSQL advisory lock (fff-store `Lease`) plus a fencing epoch
//! (`lease_fences`). Directives, their acks, the monitor's latched tiers and approvals are
//! stored before they take effect ([`state`]) and reloaded at each lease term's start, so a
//! restart continues the sequence and does not cut a tier it already cut.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

pub mod account;
mod alerts;
pub mod approvals;
mod budget_stream;
mod convert;
pub mod directives;
pub mod feed;
pub mod marks;
pub mod monitor;
mod persist;
pub mod revalue;
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
use crate::feed::{AccountSource, FeedSettings, GatewaySource, follow_account};
use crate::marks::follow_marks;
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
    let gateway = GatewaySource::new(
        channel(&context.config.services.gateway)
            .context("services.gateway is not a valid endpoint")?,
        ClientInterceptor::new(context.auth_token.as_ref())?,
    );
    run_with_source(context, gateway, listener, shutdown).await
}

/// [`run`] with the account read from `source` instead of the configured gateway (tests).
#[doc(hidden)]
pub async fn run_with_source<S: AccountSource + Clone>(
    context: RoleContext,
    source: S,
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
    let history = usize::try_from(settings.directive_history).unwrap_or(usize::MAX);
    let log = DirectiveLog::new(now, history);
    // entries need account data no older than ten polls (at least 10 s)
    let max_data_age = chrono::Duration::milliseconds(
        i64::try_from(settings.account_poll_ms.saturating_mul(10)).unwrap_or(i64::MAX),
    )
    .max(chrono::Duration::seconds(10));
    let approvals = Approvals::new(
        chrono::Duration::seconds(i64::try_from(settings.approval_ttl_secs).unwrap_or(i64::MAX)),
        max_data_age,
    );

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
    tracing::info!("database migrated");
    let core = Arc::new(RiskCore::persistent(monitor, log, approvals, store.clone()));
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

    let term = Term {
        store,
        core,
        source,
        health: server.health(),
        feed: FeedSettings {
            poll: Duration::from_millis(settings.account_poll_ms),
            reconnect_initial: Duration::from_millis(settings.reconnect_initial_ms),
            reconnect_max: Duration::from_millis(settings.reconnect_max_ms),
        },
        snapshot_every: Duration::from_secs(settings.snapshot_interval_secs),
        history,
        window_days: config.risk.drawdown_window_days,
    };
    // NOT_SERVING (and nothing decided, approved or acknowledged) until this instance holds
    // the writer lease and the gateway has answered
    term.health.set_not_serving().await;
    let keeper = tokio::spawn(hold_lease_and_decide(term));

    tracing::info!(addr = %listener.local_addr()?, gateway = %config.services.gateway, "risk starting");
    let result = server.serve(listener, shutdown).await;
    // dropping the lease session releases the lock for a standby instance
    keeper.abort();
    let _ = keeper.await;
    // alerts raised just before the shutdown still go out (bounded)
    fff_alerts::flush(Duration::from_secs(3)).await;
    result?;
    Ok(())
}

/// What a lease term runs.
struct Term<S> {
    store: Store,
    core: Arc<RiskCore>,
    source: S,
    health: fff_runtime::grpc::HealthHandle,
    feed: FeedSettings,
    snapshot_every: Duration,
    history: usize,
    window_days: u32,
}

/// One writer per account (the lease is a lock in the account's database): waits for the
/// lease, starts a term (new fencing epoch, state reloaded from PostgreSQL), runs the feed
/// (which decides tiers and issues directives) and the equity writer while the lease is held;
/// on losing it ends the term before anything else (nothing more is decided, approved or
/// acknowledged), reports NOT_SERVING and waits for the lease again.
async fn hold_lease_and_decide<S: AccountSource + Clone>(term: Term<S>) {
    let options = term.store.connect_options();
    let holder = format!("fff risk pid {}", std::process::id());
    let mut lost_before = false;
    loop {
        let waiting = std::time::Instant::now();
        let mut lease = fff_store::Lease::acquire(&options, LEASE, LEASE_CHECK_EVERY).await;
        let now = Utc::now();
        let started = match term.store.advance_fence(LEASE, &holder, now).await {
            Ok(fence) => {
                let epoch = fence.epoch;
                term.core
                    .start_term(fence, term.history, term.window_days, now)
                    .await
                    .map(|issued| (epoch, issued.len()))
            }
            Err(error) => Err(error.into()),
        };
        let (epoch, restored) = match started {
            Ok(started) => started,
            Err(error) => {
                term.core.end_term();
                tracing::error!(%error, "risk state not restored; lease released, retrying");
                drop(lease);
                tokio::time::sleep(LEASE_CHECK_EVERY).await;
                continue;
            }
        };
        tracing::info!(
            lease = LEASE,
            epoch,
            restored_directives = restored,
            "writer lease acquired, state restored"
        );
        alerts::lease_acquired(LEASE, waiting.elapsed(), lost_before);
        let feed = tokio::spawn(follow_account(
            term.source.clone(),
            term.core.clone(),
            term.health.clone(),
            term.feed,
        ));
        let marks = tokio::spawn(follow_marks(
            term.source.clone(),
            term.core.clone(),
            term.feed,
        ));
        let writer = tokio::spawn(snapshots::snapshot_loop(
            term.store.clone(),
            term.core.clone(),
            term.snapshot_every,
        ));
        while lease.alive(LEASE_CHECK_EVERY).await && term.core.is_leased() {
            tokio::time::sleep(LEASE_CHECK_EVERY).await;
        }
        // first: nothing more is decided, approved or acknowledged
        term.core.end_term();
        feed.abort();
        marks.abort();
        writer.abort();
        term.health.set_not_serving().await;
        tracing::error!(
            lease = LEASE,
            "writer lease lost: stopped deciding until it is held again"
        );
        alerts::lease_lost(LEASE);
        lost_before = true;
        drop(lease);
    }
}

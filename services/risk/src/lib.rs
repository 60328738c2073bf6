//! `fff risk`: the risk monitor: margin tiers, drawdown, directives.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

mod service;

use std::future::Future;

use anyhow::Context as _;
use fff_proto::fff::risk::v1::{MUTATING_METHODS, risk_server::RiskServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::GrpcServer;
use fff_store::Store;
use tokio::net::TcpListener;

pub use service::RiskService;

/// Serves the risk role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut server = GrpcServer::new("risk", &context.config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(RiskServer::new(RiskService), MUTATING_METHODS);
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
    let store = Store::connect(url.expose(), context.config.database.max_connections)
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    tracing::info!("database migrated");

    let health = server.health();
    health.set_serving().await;
    tracing::info!(addr = %listener.local_addr()?, "risk serving");
    server.serve(listener, shutdown).await?;
    Ok(())
}

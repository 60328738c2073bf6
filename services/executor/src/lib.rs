//! `fff executor`: the executor: capital allocation and order execution.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

pub mod engine;
pub mod error;
pub mod exchange;
pub mod ids;
pub mod legs;
pub mod metrics;
pub mod reconcile;
mod service;

use std::future::Future;

use anyhow::Context as _;
use fff_proto::fff::executor::v1::{MUTATING_METHODS, executor_server::ExecutorServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::GrpcServer;
use fff_store::Store;
use tokio::net::TcpListener;

pub use service::ExecutorService;

/// Serves the executor role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut server = GrpcServer::new("executor", &context.config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(ExecutorServer::new(ExecutorService), MUTATING_METHODS);
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
        .context("DATABASE_URL is not set: the executor role persists to PostgreSQL")?;
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
    tracing::info!(addr = %listener.local_addr()?, "executor serving");
    server.serve(listener, shutdown).await?;
    Ok(())
}

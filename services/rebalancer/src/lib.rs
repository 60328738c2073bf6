//! `fff rebalancer`: the rebalancer: drift, flips and closes on a schedule.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

mod service;

use std::future::Future;

use fff_proto::fff::rebalancer::v1::{MUTATING_METHODS, rebalancer_server::RebalancerServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::GrpcServer;
use tokio::net::TcpListener;

pub use service::RebalancerService;

/// Serves the rebalancer role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut server = GrpcServer::new("rebalancer", &context.config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(RebalancerServer::new(RebalancerService), MUTATING_METHODS);
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }

    let health = server.health();
    health.set_serving().await;
    tracing::info!(addr = %listener.local_addr()?, "rebalancer serving");
    server.serve(listener, shutdown).await?;
    Ok(())
}

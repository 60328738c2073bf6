//! `fff gateway`: the exchange gateway: the only role that talks to Binance and holds its keys.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

mod service;

use std::future::Future;

use fff_proto::fff::gateway::v1::{MUTATING_METHODS, gateway_server::GatewayServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::GrpcServer;
use tokio::net::TcpListener;

pub use service::GatewayService;

/// Serves the gateway role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut server = GrpcServer::new("gateway", &context.config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(GatewayServer::new(GatewayService), MUTATING_METHODS);
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }

    let health = server.health();
    health.set_serving().await;
    tracing::info!(addr = %listener.local_addr()?, "gateway serving");
    server.serve(listener, shutdown).await?;
    Ok(())
}

//! `fff scanner`: the market scanner: qualifies and ranks funding opportunities.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

mod service;

use std::future::Future;

use fff_proto::fff::scanner::v1::{MUTATING_METHODS, scanner_server::ScannerServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::GrpcServer;
use tokio::net::TcpListener;

pub use service::ScannerService;

/// Serves the scanner role on `listener` until `shutdown` resolves.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut server = GrpcServer::new("scanner", &context.config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
        .add_service(ScannerServer::new(ScannerService), MUTATING_METHODS);
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    } else {
        tracing::warn!("no auth token configured: mutating RPCs are refused");
    }

    let health = server.health();
    health.set_serving().await;
    tracing::info!(addr = %listener.local_addr()?, "scanner serving");
    server.serve(listener, shutdown).await?;
    Ok(())
}

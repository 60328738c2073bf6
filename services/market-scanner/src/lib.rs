//! `fff scanner`: the market scanner: qualifies and ranks funding opportunities.
//!
//! Data flow: [`feed`] follows the gateway (universe + market stream) and forwards events to
//! the engine task, which applies each to [`engine::Engine`] (fff-core evaluation of the touched
//! symbol at once), ranks after every batch and publishes snapshots on watch channels that the
//! [`ScannerService`] handlers read. [`merge`] is the client side for sharded deployments.
//!
//! The binary is a thin shim over [`run`]; tests call it with a port-0 listener and a oneshot
//! shutdown.

pub mod engine;
mod error;
pub mod evaluation;
pub mod explain;
pub mod feed;
pub mod filter;
pub mod merge;
mod runner;
mod service;
pub mod shard;
pub mod snapshot;
pub mod state;

use std::future::Future;

use fff_proto::fff::scanner::v1::{MUTATING_METHODS, scanner_server::ScannerServer};
use fff_runtime::RoleContext;
use fff_runtime::grpc::GrpcServer;
use tokio::net::TcpListener;

pub use error::{Error, Result};
pub use runner::{Scanner, ScannerOptions};
pub use service::{ScannerService, SnapshotWatch};

/// Serves the scanner role on `listener` until `shutdown` resolves. Health stays NOT_SERVING
/// until the first universe from the gateway (`services.gateway`) is loaded.
pub async fn run(
    context: RoleContext,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = &context.config;
    let options = ScannerOptions::from_config(config);
    let shard = options.shard;
    let mut server = GrpcServer::new("scanner", &config.server)
        .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET);
    let scanner = Scanner::start(options, server.health());
    server = server.add_service(ScannerServer::new(scanner.service()), MUTATING_METHODS);
    if let Some(token) = context.auth_token.clone() {
        server = server.auth_token(token);
    }
    tracing::info!(
        addr = %listener.local_addr()?,
        shard = %shard,
        gateway = %config.services.gateway,
        "scanner starting"
    );
    let result = server.serve(listener, shutdown).await;
    scanner.stop().await;
    result?;
    Ok(())
}

//! Everything the fff roles share at runtime: layered config, secrets, auth, the gRPC server
//! builder (health, reflection, auth, tracing, graceful shutdown), shutdown signals and
//! telemetry. A role's `run(config, listener, shutdown)` is built from these pieces.

pub mod auth;
pub mod config;
mod error;
pub mod grpc;
pub mod metrics;
pub mod role;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

pub use config::{FffConfig, Role, Secrets, default_port};
pub use error::{Error, Result};
pub use role::RoleContext;
pub use secret::{Secret, SecretString};

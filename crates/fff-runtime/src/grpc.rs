//! The one gRPC server builder every role uses: health, reflection (v1 and v1alpha, since
//! grpcurl 1.8 speaks only v1alpha), bearer auth on mutating methods, one trace span per
//! request, and graceful shutdown bounded by a grace period.
//!
//! ```ignore
//! let server = GrpcServer::new("executor", &cfg.server)
//!     .auth_token(token)
//!     .file_descriptor_set(fff_proto::FILE_DESCRIPTOR_SET)
//!     .add_service(ExecutorServer::new(svc), fff_proto::executor::v1::MUTATING_METHODS);
//! let health = server.health();
//! tokio::spawn(async move { wait_for_dependencies().await; health.set_serving().await });
//! server.serve(listener, shutdown).await?;
//! ```

mod health;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::{Channel, Server};
use tower::Service;

use crate::auth::AuthLayer;
use crate::config::ServerConfig;
use crate::error::Result;
use crate::secret::SecretString;
use crate::telemetry::server_span;

pub use health::HealthHandle;

/// Services every role mounts besides its own, listed by reflection.
const REFLECTED_INFRASTRUCTURE: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Builder and runner for one role's gRPC server.
pub struct GrpcServer {
    role: String,
    grace_period: Duration,
    request_timeout: Option<Duration>,
    routes: RoutesBuilder,
    services: Vec<String>,
    mutating: Vec<String>,
    descriptor_sets: Vec<&'static [u8]>,
    token: Option<SecretString>,
    health: HealthHandle,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("role", &self.role)
            .field("services", &self.services)
            .field("mutating", &self.mutating)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// A server for `role` (used in logs) with the health service mounted, NOT_SERVING.
    pub fn new(role: impl Into<String>, config: &ServerConfig) -> Self {
        let (health, health_service) = HealthHandle::new();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Self {
            role: role.into(),
            grace_period: config.grace_period(),
            request_timeout: config.request_timeout(),
            routes,
            services: Vec::new(),
            mutating: Vec::new(),
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET],
            token: None,
            health,
        }
    }

    /// The token mutating methods require. Without one they are all refused (fail closed).
    #[must_use]
    pub fn auth_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// An encoded `FileDescriptorSet` served by reflection (the role's proto crate constant).
    #[must_use]
    pub fn file_descriptor_set(mut self, encoded: &'static [u8]) -> Self {
        self.descriptor_sets.push(encoded);
        self
    }

    /// Mounts a generated tonic server; `mutating_methods` are its full method paths
    /// (`/fff.executor.v1.Executor/PlaceOrder`) that need the bearer token. Its health status
    /// (by service name) follows [`HealthHandle`].
    #[must_use]
    pub fn add_service<S>(mut self, service: S, mutating_methods: &[&str]) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.services.push(S::NAME.to_owned());
        self.mutating_methods(mutating_methods)
    }

    /// Marks more method paths as mutating (e.g. for services mounted by other means).
    #[must_use]
    pub fn mutating_methods(mut self, methods: &[&str]) -> Self {
        self.mutating
            .extend(methods.iter().map(|m| (*m).to_owned()));
        self
    }

    /// The readiness switch; clone it into whatever checks the role's dependencies.
    pub fn health(&self) -> HealthHandle {
        self.health.clone()
    }

    /// Serves on `listener` until `shutdown` resolves; then reports NOT_SERVING, stops
    /// accepting, lets in-flight RPCs finish and returns after at most the grace period
    /// (connections still open then are abandoned to the runtime's shutdown).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<()> {
        let mut routes = self.routes;
        let mut reflection_v1 = tonic_reflection::server::Builder::configure();
        let mut reflection_v1alpha = tonic_reflection::server::Builder::configure();
        for set in &self.descriptor_sets {
            reflection_v1 = reflection_v1.register_encoded_file_descriptor_set(set);
            reflection_v1alpha = reflection_v1alpha.register_encoded_file_descriptor_set(set);
        }
        // The descriptor set describes every fff service; list only what this role serves.
        let listed = self
            .services
            .iter()
            .map(String::as_str)
            .chain(REFLECTED_INFRASTRUCTURE);
        for name in listed {
            reflection_v1 = reflection_v1.with_service_name(name);
            reflection_v1alpha = reflection_v1alpha.with_service_name(name);
        }
        routes.add_service(reflection_v1.build_v1()?);
        routes.add_service(reflection_v1alpha.build_v1alpha()?);
        let routes: Routes = routes.routes().prepare();

        self.health.register(self.services.clone()).await;
        let auth = AuthLayer::new(self.token, self.mutating);
        let local_addr = listener.local_addr().ok();

        let mut builder = Server::builder().trace_fn(server_span);
        if let Some(tls) = tls::server_config() {
            builder = builder.tls_config(tls)?;
        }
        if let Some(timeout) = self.request_timeout {
            builder = builder.timeout(timeout);
        }
        let draining = CancellationToken::new();
        let signal = {
            let health = self.health.clone();
            let draining = draining.clone();
            let role = self.role.clone();
            async move {
                shutdown.await;
                tracing::info!(role = %role, "grpc server shutting down");
                health.begin_shutdown().await;
                draining.cancel();
            }
        };
        // TCP_NODELAY on every accepted connection (tonic sets it only for listeners it binds
        // itself): with Nagle's algorithm an answer split over frames waited for a delayed
        // ACK, about 40 ms on loopback, between a perp's fill and its hedge (`fff bench`).
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let serve = builder
            .layer(auth)
            .serve_with_incoming_shutdown(routes, incoming, signal);
        tracing::info!(
            role = %self.role,
            addr = %local_addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
            services = ?self.services,
            "grpc server listening"
        );
        let grace_period = self.grace_period;
        let deadline = async {
            draining.cancelled().await;
            tokio::time::sleep(grace_period).await;
        };
        tokio::select! {
            result = serve => {
                result?;
                tracing::info!(role = %self.role, "grpc server stopped");
            }
            () = deadline => {
                tracing::warn!(
                    role = %self.role,
                    grace_period_ms = grace_period.as_millis(),
                    "grace period over, abandoning open connections"
                );
            }
        }
        Ok(())
    }
}

/// A lazily connecting channel to another role (`http://127.0.0.1:50053`); wrap it with
/// `XClient::with_interceptor(channel, ClientInterceptor::new(Some(&token))?)`. Must be called
/// inside a tokio runtime.
pub fn channel(endpoint: &str) -> Result<Channel> {
    Ok(tls::endpoint(endpoint)?.connect_lazy())
}

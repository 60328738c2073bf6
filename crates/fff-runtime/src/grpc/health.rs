//! Readiness over `grpc.health.v1`: the overall status ("") and every role service start
//! NOT_SERVING, flip to SERVING when the role says its dependencies are ready, and go back to
//! NOT_SERVING for good when shutdown begins.

use std::sync::Arc;

use tokio::sync::Mutex;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

/// Cloneable readiness switch for one server.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    reporter: HealthReporter,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    serving: bool,
    shutting_down: bool,
    /// Service names besides "" whose status follows the switch; known once serving starts.
    services: Vec<String>,
}

impl HealthHandle {
    pub(crate) fn new() -> (Self, HealthServer<HealthService>) {
        let reporter = HealthReporter::new();
        let service = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        let handle = Self {
            reporter,
            state: Arc::new(Mutex::new(State::default())),
        };
        (handle, service)
    }

    /// Reports SERVING; call once the role's dependencies (database, exchange, peers) answer.
    /// Ignored after shutdown has begun.
    pub async fn set_serving(&self) {
        let mut state = self.state.lock().await;
        if state.shutting_down {
            return;
        }
        state.serving = true;
        self.publish(&state).await;
    }

    /// Reports NOT_SERVING, e.g. while a dependency is down; `set_serving` may follow.
    pub async fn set_not_serving(&self) {
        let mut state = self.state.lock().await;
        state.serving = false;
        self.publish(&state).await;
    }

    pub async fn is_serving(&self) -> bool {
        self.state.lock().await.serving
    }

    /// Registers the served names and publishes the current status before the first accept.
    pub(crate) async fn register(&self, services: Vec<String>) {
        let mut state = self.state.lock().await;
        state.services = services;
        self.publish(&state).await;
    }

    /// NOT_SERVING from now on.
    pub(crate) async fn begin_shutdown(&self) {
        let mut state = self.state.lock().await;
        state.shutting_down = true;
        state.serving = false;
        self.publish(&state).await;
    }

    async fn publish(&self, state: &State) {
        let status = if state.serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        for name in &state.services {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

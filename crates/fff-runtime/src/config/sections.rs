//! The runtime's own config sections: where roles live, how they serve, log, authenticate and
//! reach the database. Strategy sections live in `fff_core::params`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use fff_core::params::ParamError;
use serde::{Deserialize, Serialize};

use super::role::{Role, default_endpoint, default_port};

fn error(key: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// `[services]`: gRPC endpoints clients use to reach each role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    pub gateway: String,
    pub executor: String,
    pub risk: String,
    pub rebalancer: String,
    /// One endpoint per scanner shard.
    pub scanners: Vec<String>,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            gateway: default_endpoint(Role::Gateway),
            executor: default_endpoint(Role::Executor),
            risk: default_endpoint(Role::Risk),
            rebalancer: default_endpoint(Role::Rebalancer),
            scanners: vec![default_endpoint(Role::Scanner)],
        }
    }
}

impl ServicesConfig {
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        let singles = [
            ("services.gateway", &self.gateway),
            ("services.executor", &self.executor),
            ("services.risk", &self.risk),
            ("services.rebalancer", &self.rebalancer),
        ];
        for (key, endpoint) in singles {
            errors.extend(check_endpoint(key, endpoint));
        }
        if self.scanners.is_empty() {
            errors.push(error(
                "services.scanners",
                "must list at least one endpoint",
            ));
        }
        for (i, endpoint) in self.scanners.iter().enumerate() {
            errors.extend(check_endpoint(&format!("services.scanners[{i}]"), endpoint));
        }
        errors
    }
}

/// An endpoint must be an absolute `http://` or `https://` URI with a host.
fn check_endpoint(key: &str, endpoint: &str) -> Option<ParamError> {
    let problem = match endpoint.parse::<http::Uri>() {
        Err(e) => format!("invalid uri {endpoint:?}: {e}"),
        Ok(uri) if !matches!(uri.scheme_str(), Some("http" | "https")) => {
            format!("{endpoint:?} must start with http:// or https://")
        }
        Ok(uri) if uri.host().is_none_or(str::is_empty) => format!("{endpoint:?} has no host"),
        Ok(_) => return None,
    };
    Some(error(key, problem))
}

/// `[server.ports]`: the port each role listens on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortsConfig {
    pub gateway: u16,
    pub scanner: u16,
    pub executor: u16,
    pub risk: u16,
    pub rebalancer: u16,
}

impl Default for PortsConfig {
    fn default() -> Self {
        Self {
            gateway: default_port(Role::Gateway),
            scanner: default_port(Role::Scanner),
            executor: default_port(Role::Executor),
            risk: default_port(Role::Risk),
            rebalancer: default_port(Role::Rebalancer),
        }
    }
}

impl PortsConfig {
    pub fn port(&self, role: Role) -> u16 {
        match role {
            Role::Gateway => self.gateway,
            Role::Scanner => self.scanner,
            Role::Executor => self.executor,
            Role::Risk => self.risk,
            Role::Rebalancer => self.rebalancer,
        }
    }
}

/// `[server]`: how a role's gRPC server listens and shuts down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Bind address; loopback by default, `0.0.0.0` in containers.
    pub host: IpAddr,
    pub ports: PortsConfig,
    /// Time allowed for in-flight RPCs to finish after shutdown starts.
    pub grace_period_ms: u64,
    /// Deadline for a unary RPC (until response headers of a stream); 0 disables it.
    pub request_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: PortsConfig::default(),
            grace_period_ms: 10_000,
            request_timeout_ms: 30_000,
        }
    }
}

impl ServerConfig {
    pub fn listen_addr(&self, role: Role) -> SocketAddr {
        SocketAddr::new(self.host, self.ports.port(role))
    }

    pub fn grace_period(&self) -> Duration {
        Duration::from_millis(self.grace_period_ms)
    }

    pub fn request_timeout(&self) -> Option<Duration> {
        (self.request_timeout_ms > 0).then(|| Duration::from_millis(self.request_timeout_ms))
    }

    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        if self.grace_period_ms == 0 {
            errors.push(error("server.grace_period_ms", "must be positive"));
        }
        // Port 0 (pick any) may repeat; real ports must not, or the all-in-one node fails to bind.
        for (i, a) in Role::ALL.iter().enumerate() {
            for b in &Role::ALL[i + 1..] {
                let port = self.ports.port(*a);
                if port != 0 && port == self.ports.port(*b) {
                    errors.push(error(
                        &format!("server.ports.{b}"),
                        format!("port {port} is also used by server.ports.{a}"),
                    ));
                }
            }
        }
        errors
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
    /// Pretty when stdout is a terminal, JSON otherwise.
    #[default]
    Auto,
}

/// `[telemetry]`: logs and traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// `EnvFilter` directives; `RUST_LOG` wins when set.
    pub log_filter: String,
    /// OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; `OTEL_EXPORTER_OTLP_ENDPOINT` wins.
    /// Unset: no trace export.
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces sampled; a sampled parent is always followed.
    pub sample_ratio: f64,
    /// Service name in traces; unset: `OTEL_SERVICE_NAME`, else the role name (`executor`).
    pub service_name: Option<String>,
    /// Address of the Prometheus `/metrics` endpoint, e.g. `0.0.0.0:9464`; unset: none.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Auto,
            log_filter: "info".to_owned(),
            otlp_endpoint: None,
            sample_ratio: 1.0,
            service_name: None,
            metrics_listen: None,
        }
    }
}

impl TelemetryConfig {
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log_filter) {
            errors.push(error(
                "telemetry.log_filter",
                format!("invalid filter: {e}"),
            ));
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            errors.extend(check_endpoint("telemetry.otlp_endpoint", endpoint));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            errors.push(error(
                "telemetry.sample_ratio",
                format!("must be in [0, 1], got {}", self.sample_ratio),
            ));
        }
        if self
            .service_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            errors.push(error("telemetry.service_name", "must not be empty"));
        }
        errors
    }
}

/// `[auth]`: where the bearer token for mutating RPCs comes from. The token itself is never in
/// TOML: `FFF_AUTH_TOKEN`, else this file, else `./.fff/auth-token` (created if missing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub token_file: Option<PathBuf>,
}

/// `[database]`: connection pool settings. The URL comes only from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    /// Idle connections are closed after this long; 0 keeps them.
    pub idle_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout_ms: 5_000,
            idle_timeout_ms: 600_000,
        }
    }
}

impl DatabaseConfig {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout_ms > 0).then(|| Duration::from_millis(self.idle_timeout_ms))
    }

    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        if self.max_connections == 0 {
            errors.push(error("database.max_connections", "must be positive"));
        }
        if self.min_connections > self.max_connections {
            errors.push(error(
                "database.min_connections",
                format!(
                    "must not exceed database.max_connections ({})",
                    self.max_connections
                ),
            ));
        }
        if self.acquire_timeout_ms == 0 {
            errors.push(error("database.acquire_timeout_ms", "must be positive"));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(ServicesConfig::default().validate().is_empty());
        assert!(ServerConfig::default().validate().is_empty());
        assert!(TelemetryConfig::default().validate().is_empty());
        assert!(DatabaseConfig::default().validate().is_empty());
    }

    #[test]
    fn bad_values_name_their_keys() {
        let services = ServicesConfig {
            gateway: "127.0.0.1:50051".into(),
            scanners: vec!["http://a:1".into(), "ftp://b".into()],
            ..ServicesConfig::default()
        };
        let keys: Vec<_> = services.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["services.gateway", "services.scanners[1]"]);

        let mut server = ServerConfig::default();
        server.ports.risk = server.ports.executor;
        let errors = server.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "server.ports.risk");

        let telemetry = TelemetryConfig {
            sample_ratio: 1.5,
            log_filter: "info,[".into(),
            ..TelemetryConfig::default()
        };
        let keys: Vec<_> = telemetry.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["telemetry.log_filter", "telemetry.sample_ratio"]);

        let database = DatabaseConfig {
            min_connections: 20,
            ..DatabaseConfig::default()
        };
        assert_eq!(database.validate()[0].key, "database.min_connections");
    }
}

//! Environment access behind a trait, so tests never touch the process environment.

use std::collections::BTreeMap;

/// Prefix of config keys set through the environment: `FFF_<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "FFF_";
/// Separator between nesting levels in an env key.
pub const ENV_NESTING: &str = "__";

/// Every environment variable fff reads outside the `FFF_<SECTION>__<KEY>` scheme.
pub mod vars {
    /// PostgreSQL connection URL (secret).
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// Bearer token for mutating RPCs (secret); wins over `auth.token_file`.
    pub const FFF_AUTH_TOKEN: &str = "FFF_AUTH_TOKEN";
    /// Path of the TOML config file, read by the CLI.
    pub const FFF_CONFIG: &str = "FFF_CONFIG";
    /// Binance API key (secret).
    pub const BINANCE_API_KEY: &str = "BINANCE_API_KEY";
    /// Binance API secret (secret).
    pub const BINANCE_API_SECRET: &str = "BINANCE_API_SECRET";
    /// Log filter; wins over `telemetry.log_filter`.
    pub const RUST_LOG: &str = "RUST_LOG";
    /// OTLP/gRPC collector endpoint; wins over `telemetry.otlp_endpoint`.
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// Service name reported in traces; `telemetry.service_name` wins over it.
    pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

    /// Names above that start with `FFF_` but are not config keys.
    pub const FFF_NON_CONFIG: &[&str] = &[FFF_AUTH_TOKEN, FFF_CONFIG];
}

/// A read-only view of environment variables.
pub trait EnvSource {
    /// The value of `name`, if set and valid unicode.
    fn var(&self, name: &str) -> Option<String>;
    /// Every variable, used to find `FFF_*` config keys.
    fn vars(&self) -> Vec<(String, String)>;

    /// Like [`EnvSource::var`], with empty values treated as unset.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.trim().is_empty())
    }
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }
}

/// A fixed map of variables, for tests and embedding.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub BTreeMap<String, String>);

impl MapEnv {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }
}

impl<const N: usize> From<[(&str, &str); N]> for MapEnv {
    fn from(pairs: [(&str, &str); N]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl EnvSource for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

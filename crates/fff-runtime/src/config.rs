//! Typed configuration, layered and validated once, with every problem reported together.
//!
//! Order (later wins): defaults -> TOML file -> env `FFF_<SECTION>__<KEY>` -> CLI overrides
//! `section.key=value`. Env and override values are TOML values (`0.2`, `true`, `["a"]`), or
//! raw text where the key is a string. Unknown keys are errors in every layer. Secrets never
//! come from TOML: see [`Secrets`].

mod alerts;
mod env;
mod error;
mod exchange;
mod layers;
mod risk_service;
mod role;
mod scanner;
mod sections;
mod tls;

use std::path::{Path, PathBuf};

use fff_core::params::{
    CapitalParams, ExecutionParams, PairSelectionParams, ParamError, RebalanceParams, RiskParams,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::secret::SecretString;

pub use alerts::{AlertFormat, AlertSeverity, AlertsConfig};
pub use env::{ENV_NESTING, ENV_PREFIX, EnvSource, MapEnv, ProcessEnv, vars};
pub use error::{ConfigError, ConfigIssue, Origin};
pub use exchange::{ExchangeConfig, ExchangeVenue};
pub use risk_service::{RebalancerConfig, RiskServiceConfig};
pub use role::{Role, UnknownRole, default_endpoint, default_port};
pub use scanner::{ScannerConfig, ShardSpec};
pub use sections::{
    AuthConfig, DatabaseConfig, LogFormat, PortsConfig, ServerConfig, ServicesConfig,
    TelemetryConfig,
};
pub use tls::TlsConfig;

/// The whole configuration of every role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FffConfig {
    pub capital: CapitalParams,
    pub risk: RiskParams,
    pub pair_selection: PairSelectionParams,
    pub execution: ExecutionParams,
    pub rebalance: RebalanceParams,
    pub services: ServicesConfig,
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub database: DatabaseConfig,
    pub exchange: ExchangeConfig,
    pub scanner: ScannerConfig,
    pub risk_service: RiskServiceConfig,
    pub rebalancer: RebalancerConfig,
    pub alerts: AlertsConfig,
    pub tls: TlsConfig,
}

/// Secrets, read only from the environment (see [`vars`]); empty values count as unset.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub database_url: Option<SecretString>,
    pub auth_token: Option<SecretString>,
    pub binance_api_key: Option<SecretString>,
    pub binance_api_secret: Option<SecretString>,
}

impl Secrets {
    pub fn from_env(env: &dyn EnvSource) -> Self {
        let get = |name| env.non_empty(name).map(SecretString::new);
        Self {
            database_url: get(vars::DATABASE_URL),
            auth_token: get(vars::FFF_AUTH_TOKEN),
            binance_api_key: get(vars::BINANCE_API_KEY),
            binance_api_secret: get(vars::BINANCE_API_SECRET),
        }
    }
}

impl FffConfig {
    /// Loads defaults, then `file` (if given; it must exist), then `FFF_*` env keys, then
    /// `section.key=value` overrides, and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: &dyn EnvSource,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let mut sources = Vec::new();
        let mut issues = Vec::new();
        if let Some(path) = file {
            let origin = Origin::File(path.to_owned());
            match std::fs::read_to_string(path) {
                Ok(text) => sources.push((text, origin)),
                Err(e) => issues.push(ConfigIssue::Source {
                    origin,
                    message: format!("cannot read config file: {e}"),
                }),
            }
        }
        let file_layer = sources
            .first()
            .map(|(text, origin)| (text.as_str(), origin));
        Loader::new(issues).run(file_layer, env, overrides)
    }

    /// Loads from TOML text (no env, no overrides); `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let origin = Origin::File(origin.to_owned());
        Loader::new(Vec::new()).run(Some((text, &origin)), &MapEnv::new(), &[])
    }

    /// Every violation of every section's rules.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = self.capital.validate();
        errors.extend(self.risk.validate());
        errors.extend(self.pair_selection.validate());
        errors.extend(self.execution.validate());
        errors.extend(self.rebalance.validate());
        errors.extend(self.services.validate());
        errors.extend(self.server.validate());
        errors.extend(self.telemetry.validate());
        errors.extend(self.database.validate());
        errors.extend(self.exchange.validate());
        errors.extend(self.scanner.validate());
        errors.extend(self.risk_service.validate());
        errors.extend(self.rebalancer.validate());
        errors.extend(self.alerts.validate());
        errors.extend(self.tls.validate());
        errors
    }

    /// Every known key, including optional ones that defaults leave unset.
    fn schema() -> Value {
        let mut sample = FffConfig::default();
        sample.telemetry.otlp_endpoint = Some(String::new());
        sample.telemetry.service_name = Some(String::new());
        sample.telemetry.metrics_listen = Some(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        sample.auth.token_file = Some(PathBuf::new());
        sample.exchange = ExchangeConfig::schema_sample();
        sample.alerts = AlertsConfig::schema_sample();
        Value::try_from(sample).unwrap_or_else(|_| Value::Table(Table::new()))
    }
}

/// One loading run: collects issues and remembers which layer set each key.
struct Loader {
    schema: Value,
    tree: Table,
    origins: Vec<(String, Origin)>,
    issues: Vec<ConfigIssue>,
}

impl Loader {
    fn new(issues: Vec<ConfigIssue>) -> Self {
        Self {
            schema: FffConfig::schema(),
            tree: Table::new(),
            origins: Vec::new(),
            issues,
        }
    }

    fn run(
        mut self,
        file: Option<(&str, &Origin)>,
        env: &dyn EnvSource,
        overrides: &[String],
    ) -> Result<FffConfig, ConfigError> {
        if let Some((text, origin)) = file {
            self.add_file(text, origin);
        }
        self.add_env(env);
        for text in overrides {
            self.add_override(text);
        }
        // unknown keys were dropped from the tree and each section is validated on its own, so
        // one bad value does not hide problems elsewhere
        if let Some(config) = self.build()
            && self.issues.is_empty()
        {
            return Ok(config);
        }
        Err(ConfigError {
            issues: self.issues,
        })
    }

    fn add_file(&mut self, text: &str, origin: &Origin) {
        let mut table = match toml::from_str::<Table>(text) {
            Ok(table) => table,
            Err(e) => {
                let message = format!("invalid toml: {}", e.message());
                self.issues.push(ConfigIssue::Source {
                    origin: origin.clone(),
                    message,
                });
                return;
            }
        };
        for path in layers::unknown_keys(&self.schema, &table, &[]) {
            layers::remove(&mut table, &path);
            self.issues.push(ConfigIssue::UnknownKey {
                key: path.join("."),
                origin: origin.clone(),
            });
        }
        // secrets come from the environment only (the house rule for every secret)
        for key in alerts::SECRET_KEYS {
            let Some(path) = layers::split_path(key) else {
                continue;
            };
            let present = table
                .get(&path[0])
                .and_then(Value::as_table)
                .is_some_and(|section| section.contains_key(&path[1]));
            if present {
                layers::remove(&mut table, &path);
                self.issues.push(ConfigIssue::Invalid {
                    key: (*key).to_owned(),
                    message: alerts::secret_in_file_message(key),
                    origin: Some(origin.clone()),
                });
            }
        }
        for (path, _) in layers::leaf_paths(&table, "") {
            self.origins.push((path, origin.clone()));
        }
        layers::merge(&mut self.tree, table);
    }

    fn add_env(&mut self, env: &dyn EnvSource) {
        let mut entries = env.vars();
        entries.sort();
        let sections: Vec<String> = self
            .schema
            .as_table()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for (name, raw) in entries {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if vars::FFF_NON_CONFIG.contains(&name.as_str()) {
                continue;
            }
            if !rest.contains(ENV_NESTING) {
                // FFF_CAPITAL_RESERVE_RATIO looks like a config key with one underscore too few.
                let lower = rest.to_ascii_lowercase();
                if sections.iter().any(|s| lower.starts_with(&format!("{s}_"))) {
                    self.issues.push(ConfigIssue::UnknownKey {
                        key: lower,
                        origin: Origin::Env(format!(
                            "{name} (nested keys use {ENV_NESTING}: FFF_<SECTION>__<KEY>)"
                        )),
                    });
                }
                continue;
            }
            let path: Vec<String> = rest
                .split(ENV_NESTING)
                .map(str::to_ascii_lowercase)
                .collect();
            self.set(path, &raw, Origin::Env(name.clone()));
        }
    }

    fn add_override(&mut self, text: &str) {
        // a secret's value must not reach an error message
        let origin = Origin::Override(alerts::redact_override(text));
        let parsed = text
            .split_once('=')
            .and_then(|(key, value)| Some((layers::split_path(key)?, value.trim())));
        match parsed {
            Some((path, value)) => self.set(path, value, origin),
            None => self.issues.push(ConfigIssue::Source {
                origin,
                message: "override must look like section.key=value".to_owned(),
            }),
        }
    }

    /// Sets one env/override value after checking its key against the schema.
    fn set(&mut self, path: Vec<String>, raw: &str, origin: Origin) {
        let key = path.join(".");
        let expected = layers::lookup(&self.schema, &path);
        // a key must name a leaf (or a whole table given as an inline table)
        if path.iter().any(String::is_empty) || expected.is_none() {
            self.issues.push(ConfigIssue::UnknownKey { key, origin });
            return;
        }
        let mut value = layers::parse_value(raw, expected);
        if let (Value::Table(table), Some(expected)) = (&mut value, expected) {
            for unknown in layers::unknown_keys(expected, table, &[]) {
                layers::remove(table, &unknown);
                self.issues.push(ConfigIssue::UnknownKey {
                    key: format!("{key}.{}", unknown.join(".")),
                    origin: origin.clone(),
                });
            }
        }
        layers::insert(&mut self.tree, &path, value);
        self.origins.push((key, origin));
    }

    /// The origin of the last layer that set `key` or a key inside it.
    fn origin_of(&self, key: &str) -> Option<Origin> {
        self.origins
            .iter()
            .rev()
            .find(|(k, _)| k == key || k.starts_with(&format!("{key}.")))
            .map(|(_, origin)| origin.clone())
    }

    /// Every section is attempted, so type errors in several sections are all reported.
    fn build(&mut self) -> Option<FffConfig> {
        let capital = self.section("capital", CapitalParams::validate);
        let risk = self.section("risk", RiskParams::validate);
        let pair_selection = self.section("pair_selection", PairSelectionParams::validate);
        let execution = self.section("execution", ExecutionParams::validate);
        let rebalance = self.section("rebalance", RebalanceParams::validate);
        let services = self.section("services", ServicesConfig::validate);
        let server = self.section("server", ServerConfig::validate);
        let telemetry = self.section("telemetry", TelemetryConfig::validate);
        let auth = self.section("auth", |_: &AuthConfig| Vec::new());
        let database = self.section("database", DatabaseConfig::validate);
        let exchange = self.section("exchange", ExchangeConfig::validate);
        let scanner = self.section("scanner", ScannerConfig::validate);
        let risk_service = self.section("risk_service", RiskServiceConfig::validate);
        let rebalancer = self.section("rebalancer", RebalancerConfig::validate);
        let alerts = self.section("alerts", AlertsConfig::validate);
        let tls = self.section("tls", TlsConfig::validate);
        Some(FffConfig {
            capital: capital?,
            risk: risk?,
            pair_selection: pair_selection?,
            execution: execution?,
            rebalance: rebalance?,
            services: services?,
            server: server?,
            telemetry: telemetry?,
            auth: auth?,
            database: database?,
            exchange: exchange?,
            scanner: scanner?,
            risk_service: risk_service?,
            rebalancer: rebalancer?,
            alerts: alerts?,
            tls: tls?,
        })
    }

    /// Deserializes and validates one section. On a type error, each user-set key is tried alone
    /// on top of the defaults so the error can name the key (and layer) at fault.
    fn section<T: DeserializeOwned + Default>(
        &mut self,
        name: &str,
        validate: impl Fn(&T) -> Vec<ParamError>,
    ) -> Option<T> {
        let table = match self.tree.get(name) {
            None => return Some(T::default()),
            Some(Value::Table(table)) => table.clone(),
            Some(other) => {
                self.issues.push(ConfigIssue::Invalid {
                    key: name.to_owned(),
                    message: format!("expected a table, got a {}", other.type_str()),
                    origin: self.origin_of(name),
                });
                return None;
            }
        };
        let whole_error = match Value::Table(table.clone()).try_into::<T>() {
            Ok(section) => {
                self.report_invalid(validate(&section));
                return Some(section);
            }
            Err(e) => e.to_string(),
        };
        let mut pinpointed = false;
        for (path, value) in layers::leaf_paths(&table, name) {
            let Some(segments) = layers::split_path(&path) else {
                continue;
            };
            let mut alone = Table::new();
            layers::insert(&mut alone, &segments[1..], value);
            if let Err(e) = Value::Table(alone).try_into::<T>() {
                pinpointed = true;
                self.issues.push(ConfigIssue::Invalid {
                    origin: self.origin_of(&path),
                    key: path,
                    message: clean_message(&e.to_string()),
                });
            }
        }
        if !pinpointed {
            self.issues.push(ConfigIssue::Invalid {
                key: name.to_owned(),
                message: clean_message(&whole_error),
                origin: self.origin_of(name),
            });
        }
        None
    }

    fn report_invalid(&mut self, errors: Vec<ParamError>) {
        for error in errors {
            let origin = self.origin_of(&error.key);
            self.issues.push(ConfigIssue::Invalid {
                key: error.key,
                message: error.message,
                origin,
            });
        }
    }
}

/// Serde messages from a `toml::Value` end with a newline and sometimes a key note; one line is
/// enough because the key is reported separately.
fn clean_message(message: &str) -> String {
    message.trim().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests;

//! `[risk_service]` and `[rebalancer]`: how the risk and rebalancer roles follow their upstreams.
//! The strategy thresholds themselves live in `[risk]` and `[rebalance]` (fff-core).

use fff_core::params::ParamError;
use serde::{Deserialize, Serialize};

/// `[risk_service]`: account polling, equity snapshots, directive lifetime, reconnects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskServiceConfig {
    /// Equity snapshots are written to PostgreSQL this often, in seconds (60).
    pub snapshot_interval_secs: u64,
    /// GetAccount is re-read this often even without account events, in ms (1000). Between
    /// snapshots risk re-values the positions at every streamed mark price; the snapshot brings
    /// what no mark shows (fills, transfers, funding, interest).
    pub account_poll_ms: u64,
    /// A cut directive (REDUCE, EMERGENCY_DELEVERAGE, CLOSE_ALL) expires after this many seconds;
    /// risk issues a fresh one if the tier still calls for it (300).
    pub directive_ttl_secs: u64,
    /// Directives kept in memory for ListDirectives and replay (10 000).
    pub directive_history: u32,
    /// An approval is void after this many seconds (60).
    pub approval_ttl_secs: u64,
    /// First reconnect delay after the gateway fails, doubled up to the maximum, in ms (250).
    pub reconnect_initial_ms: u64,
    /// Longest reconnect delay, in ms (10 000).
    pub reconnect_max_ms: u64,
}

impl Default for RiskServiceConfig {
    fn default() -> Self {
        Self {
            snapshot_interval_secs: 60,
            account_poll_ms: 1000,
            directive_ttl_secs: 300,
            directive_history: 10_000,
            approval_ttl_secs: 60,
            reconnect_initial_ms: 250,
            reconnect_max_ms: 10_000,
        }
    }
}

impl RiskServiceConfig {
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = positive(
            "risk_service",
            &[
                ("snapshot_interval_secs", self.snapshot_interval_secs),
                ("account_poll_ms", self.account_poll_ms),
                ("directive_ttl_secs", self.directive_ttl_secs),
                ("directive_history", u64::from(self.directive_history)),
                ("approval_ttl_secs", self.approval_ttl_secs),
                ("reconnect_initial_ms", self.reconnect_initial_ms),
            ],
        );
        errors.extend(backoff_order(
            "risk_service",
            self.reconnect_initial_ms,
            self.reconnect_max_ms,
        ));
        errors
    }
}

/// `[rebalancer]`: action lifetime and reconnects (the schedule is `rebalance.interval_secs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebalancerConfig {
    /// An emitted action is stale after this many seconds; the executor skips it (120).
    pub action_ttl_secs: u64,
    /// Market data older than this (seconds) is not used; the position is SKIPPED (120).
    pub max_data_age_secs: u64,
    /// Actions kept in memory for StreamActions replay (1000).
    pub action_history: u32,
    /// Timeout of each upstream call during a run, in ms (5000).
    pub upstream_timeout_ms: u64,
    /// First retry delay while the upstreams have never answered, doubled up to the max (250).
    pub reconnect_initial_ms: u64,
    /// Longest retry delay, in ms (10 000).
    pub reconnect_max_ms: u64,
}

impl Default for RebalancerConfig {
    fn default() -> Self {
        Self {
            action_ttl_secs: 120,
            max_data_age_secs: 120,
            action_history: 1000,
            upstream_timeout_ms: 5000,
            reconnect_initial_ms: 250,
            reconnect_max_ms: 10_000,
        }
    }
}

impl RebalancerConfig {
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = positive(
            "rebalancer",
            &[
                ("action_ttl_secs", self.action_ttl_secs),
                ("max_data_age_secs", self.max_data_age_secs),
                ("action_history", u64::from(self.action_history)),
                ("upstream_timeout_ms", self.upstream_timeout_ms),
                ("reconnect_initial_ms", self.reconnect_initial_ms),
            ],
        );
        errors.extend(backoff_order(
            "rebalancer",
            self.reconnect_initial_ms,
            self.reconnect_max_ms,
        ));
        errors
    }
}

fn positive(section: &str, values: &[(&str, u64)]) -> Vec<ParamError> {
    values
        .iter()
        .filter(|(_, value)| *value == 0)
        .map(|(key, _)| ParamError {
            key: format!("{section}.{key}"),
            message: "must be positive".to_owned(),
        })
        .collect()
}

fn backoff_order(section: &str, initial: u64, max: u64) -> Option<ParamError> {
    (max < initial).then(|| ParamError {
        key: format!("{section}.reconnect_max_ms"),
        message: format!("must be at least {section}.reconnect_initial_ms ({initial})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(RiskServiceConfig::default().validate().is_empty());
        assert!(RebalancerConfig::default().validate().is_empty());
    }

    #[test]
    fn zero_and_inverted_values_name_their_keys() {
        let risk = RiskServiceConfig {
            snapshot_interval_secs: 0,
            reconnect_max_ms: 1,
            ..RiskServiceConfig::default()
        };
        let keys: Vec<_> = risk.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "risk_service.snapshot_interval_secs",
                "risk_service.reconnect_max_ms"
            ]
        );
        let rebalancer = RebalancerConfig {
            action_ttl_secs: 0,
            ..RebalancerConfig::default()
        };
        let keys: Vec<_> = rebalancer.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["rebalancer.action_ttl_secs"]);
    }
}

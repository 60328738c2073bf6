//! `[scanner]`: how the market scanner follows the gateway, publishes and shards.

use fff_core::params::ParamError;
use serde::{Deserialize, Serialize};

/// `[scanner]`: scan cadence, gateway reconnects and the shard this replica owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerConfig {
    /// A snapshot is published at least this often, even when the ranking did not change (60).
    pub scan_interval_secs: u64,
    /// `"I/N"`: this replica owns the symbols whose stable hash mod N is I ("0/1" = all).
    pub shard: String,
    /// Settled funding rates kept per symbol for the stability score (21 = 7 days of 8 h).
    pub funding_history_len: u32,
    /// The universe (borrow rates, margin flags, statuses) is re-read this often (300).
    pub universe_refresh_secs: u64,
    /// First reconnect delay after the gateway stream fails, doubled up to the maximum (250).
    pub reconnect_initial_ms: u64,
    /// Longest reconnect delay (10 000).
    pub reconnect_max_ms: u64,
    /// Holding period over which round-trip fees are amortized in `expected_net_apr` (30).
    pub fee_amortization_days: u32,
    /// Suggested capacity per leg, in basis points of the lower 24 h quote volume (10 = 0.1 %).
    pub capacity_volume_bps: u32,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        Self {
            scan_interval_secs: 60,
            shard: "0/1".to_owned(),
            funding_history_len: 21,
            universe_refresh_secs: 300,
            reconnect_initial_ms: 250,
            reconnect_max_ms: 10_000,
            fee_amortization_days: 30,
            capacity_volume_bps: 10,
        }
    }
}

/// A parsed `scanner.shard`: replica `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl ShardSpec {
    /// Parses `"I/N"` with `0 <= I < N`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (index, count) = raw
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("must look like \"I/N\" (e.g. \"0/3\"), got {raw:?}"))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("shard index must be a non-negative integer, got {raw:?}"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("shard count must be a positive integer, got {raw:?}"))?;
        if count == 0 || index >= count {
            return Err(format!("need 0 <= I < N, got {raw:?}"));
        }
        Ok(Self { index, count })
    }
}

impl ScannerConfig {
    /// The validated shard; `validate` reports a bad value, so this falls back to "0/1" only for
    /// configurations that skipped validation.
    pub fn shard_spec(&self) -> ShardSpec {
        ShardSpec::parse(&self.shard).unwrap_or(ShardSpec { index: 0, count: 1 })
    }

    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        let mut fail = |key: &str, message: String| {
            errors.push(ParamError {
                key: format!("scanner.{key}"),
                message,
            });
        };
        if let Err(message) = ShardSpec::parse(&self.shard) {
            fail("shard", message);
        }
        for (key, value) in [
            ("scan_interval_secs", self.scan_interval_secs),
            ("universe_refresh_secs", self.universe_refresh_secs),
            ("reconnect_initial_ms", self.reconnect_initial_ms),
            ("funding_history_len", u64::from(self.funding_history_len)),
            (
                "fee_amortization_days",
                u64::from(self.fee_amortization_days),
            ),
        ] {
            if value == 0 {
                fail(key, "must be positive".to_owned());
            }
        }
        if self.reconnect_max_ms < self.reconnect_initial_ms {
            fail(
                "reconnect_max_ms",
                format!(
                    "must be at least scanner.reconnect_initial_ms ({})",
                    self.reconnect_initial_ms
                ),
            );
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(ScannerConfig::default().validate().is_empty());
        assert_eq!(
            ScannerConfig::default().shard_spec(),
            ShardSpec { index: 0, count: 1 }
        );
    }

    #[test]
    fn shard_must_be_index_of_count() {
        assert_eq!(
            ShardSpec::parse("2/3").unwrap(),
            ShardSpec { index: 2, count: 3 }
        );
        for bad in ["3/3", "0/0", "1", "-1/3", "a/3", "1/b", ""] {
            let config = ScannerConfig {
                shard: bad.to_owned(),
                ..ScannerConfig::default()
            };
            let keys: Vec<_> = config.validate().into_iter().map(|e| e.key).collect();
            assert_eq!(keys, ["scanner.shard"], "{bad:?}");
        }
    }

    #[test]
    fn shard_comes_from_env_and_overrides() {
        use crate::config::{FffConfig, MapEnv};
        let env = MapEnv::new().with("FFF_SCANNER__SHARD", "1/3");
        let config = FffConfig::load(None, &env, &[]).unwrap();
        assert_eq!(
            config.scanner.shard_spec(),
            ShardSpec { index: 1, count: 3 }
        );
        let overridden = FffConfig::load(None, &env, &["scanner.shard=2/3".to_owned()]).unwrap();
        assert_eq!(overridden.scanner.shard, "2/3");
        let bad = MapEnv::new().with("FFF_SCANNER__SHARD", "3/3");
        let error = FffConfig::load(None, &bad, &[]).unwrap_err().to_string();
        assert!(error.contains("scanner.shard"), "{error}");
    }

    #[test]
    fn zero_intervals_are_rejected() {
        let config = ScannerConfig {
            scan_interval_secs: 0,
            reconnect_max_ms: 1,
            ..ScannerConfig::default()
        };
        let keys: Vec<_> = config.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            ["scanner.scan_interval_secs", "scanner.reconnect_max_ms"]
        );
    }
}

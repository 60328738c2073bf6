//! `[exchange]`: which Binance the gateway talks to and how hard it may push it. The API key and
//! secret are secrets: they come from `BINANCE_API_KEY` / `BINANCE_API_SECRET` or from
//! `credentials_file`, never from TOML.

use std::path::PathBuf;

use fff_core::params::ParamError;
use serde::{Deserialize, Serialize};

/// The venue family; URLs default per venue and can be overridden key by key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeVenue {
    /// The fff simulator (paper trading); the default, so a fresh install never trades real money.
    #[default]
    Sim,
    /// Binance spot testnet and USDⓈ-M demo trading.
    Testnet,
    /// Real Binance.
    Mainnet,
}

impl ExchangeVenue {
    /// Testnet and mainnet hold real keys; the gateway checks their restrictions at start-up.
    pub fn is_live(self) -> bool {
        !matches!(self, ExchangeVenue::Sim)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeVenue::Sim => "sim",
            ExchangeVenue::Testnet => "testnet",
            ExchangeVenue::Mainnet => "mainnet",
        }
    }
}

/// `[exchange]` settings (read by the gateway only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeConfig {
    pub venue: ExchangeVenue,
    /// Venue `sim`: file holding the JSON line `fff sim` prints first (its base URLs).
    pub sim_urls_file: Option<PathBuf>,
    /// File with the API key on its first line and the secret on its second (a mounted
    /// secret); used when `BINANCE_API_KEY` / `BINANCE_API_SECRET` are unset.
    pub credentials_file: Option<PathBuf>,
    /// Base URL overrides, one per Binance host (same names as the `fff sim` JSON line).
    pub spot_rest: Option<String>,
    pub futures_rest: Option<String>,
    pub futures_ws: Option<String>,
    pub spot_ws_api: Option<String>,
    pub margin_risk_ws: Option<String>,
    /// How often the instrument universe (rules, funding, volumes, borrow rates) is re-read.
    pub universe_refresh_secs: u64,
    /// GetAccount answers from a snapshot no older than this (ms).
    pub account_max_age_ms: u64,
    /// Orders sent per second at most, across venues (a FIFO queue, on top of Binance's limits).
    pub orders_per_second: u32,
    /// Per-request timeout (ms); an order that times out has an unknown outcome.
    pub request_timeout_ms: u64,
    /// `recvWindow` of signed requests (ms, 1..=60000).
    pub recv_window_ms: u64,
    /// Percent of each request-weight window kept for orders and the reads that settle them
    /// (order status, trades, balances, income); market data and history polls stop short of it.
    pub trading_weight_reserve_pct: u32,
    /// Events buffered per StreamMarket / StreamAccount subscriber before it is dropped as slow.
    pub subscriber_buffer: usize,
    /// How often spot book tickers are polled (ms); the connector streams only futures books.
    pub spot_book_poll_ms: u64,
    /// How often 24 h statistics and open interest are re-read (ms).
    pub stats_poll_ms: u64,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            venue: ExchangeVenue::Sim,
            sim_urls_file: None,
            credentials_file: None,
            spot_rest: None,
            futures_rest: None,
            futures_ws: None,
            spot_ws_api: None,
            margin_risk_ws: None,
            universe_refresh_secs: 300,
            account_max_age_ms: 3_000,
            orders_per_second: 10,
            request_timeout_ms: 10_000,
            recv_window_ms: 5_000,
            trading_weight_reserve_pct: 20,
            subscriber_buffer: 1_024,
            spot_book_poll_ms: 1_000,
            stats_poll_ms: 15_000,
        }
    }
}

fn error(key: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl ExchangeConfig {
    pub fn validate(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        let positive = [
            ("exchange.universe_refresh_secs", self.universe_refresh_secs),
            ("exchange.account_max_age_ms", self.account_max_age_ms),
            ("exchange.request_timeout_ms", self.request_timeout_ms),
            ("exchange.spot_book_poll_ms", self.spot_book_poll_ms),
            ("exchange.stats_poll_ms", self.stats_poll_ms),
        ];
        for (key, value) in positive {
            if value == 0 {
                errors.push(error(key, "must be greater than 0"));
            }
        }
        if self.orders_per_second == 0 {
            errors.push(error(
                "exchange.orders_per_second",
                "must be greater than 0",
            ));
        }
        if self.subscriber_buffer == 0 {
            errors.push(error(
                "exchange.subscriber_buffer",
                "must be greater than 0",
            ));
        }
        if !(1..=60_000).contains(&self.recv_window_ms) {
            errors.push(error("exchange.recv_window_ms", "must be within 1..=60000"));
        }
        if self.trading_weight_reserve_pct > 90 {
            errors.push(error(
                "exchange.trading_weight_reserve_pct",
                "must be within 0..=90",
            ));
        }
        for (key, url) in self.url_overrides() {
            if let Some(url) = url
                && !has_scheme(url)
            {
                errors.push(error(
                    &format!("exchange.{key}"),
                    format!("{url:?} must start with http://, https://, ws:// or wss://"),
                ));
            }
        }
        errors
    }

    /// `(key, override)` for each Binance host.
    pub fn url_overrides(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("spot_rest", self.spot_rest.as_deref()),
            ("futures_rest", self.futures_rest.as_deref()),
            ("futures_ws", self.futures_ws.as_deref()),
            ("spot_ws_api", self.spot_ws_api.as_deref()),
            ("margin_risk_ws", self.margin_risk_ws.as_deref()),
        ]
    }

    /// Every optional key set, so the loader's schema knows them.
    pub(crate) fn schema_sample() -> Self {
        Self {
            sim_urls_file: Some(PathBuf::new()),
            credentials_file: Some(PathBuf::new()),
            spot_rest: Some(String::new()),
            futures_rest: Some(String::new()),
            futures_ws: Some(String::new()),
            spot_ws_api: Some(String::new()),
            margin_risk_ws: Some(String::new()),
            ..Self::default()
        }
    }
}

fn has_scheme(url: &str) -> bool {
    ["http://", "https://", "ws://", "wss://"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_paper_trading_and_valid() {
        let config = ExchangeConfig::default();
        assert_eq!(config.venue, ExchangeVenue::Sim);
        assert!(!config.venue.is_live());
        assert_eq!(config.account_max_age_ms, 3_000);
        assert_eq!(config.orders_per_second, 10);
        assert!(config.validate().is_empty());
    }

    #[test]
    fn bad_values_name_their_keys() {
        let config = ExchangeConfig {
            orders_per_second: 0,
            recv_window_ms: 70_000,
            spot_rest: Some("api.binance.com".into()),
            ..ExchangeConfig::default()
        };
        let keys: Vec<String> = config.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "exchange.orders_per_second",
                "exchange.recv_window_ms",
                "exchange.spot_rest"
            ]
        );
    }

    #[test]
    fn venue_parses_lowercase() {
        let config: ExchangeConfig = toml::from_str("venue = \"mainnet\"").unwrap();
        assert!(config.venue.is_live());
        assert!(toml::from_str::<ExchangeConfig>("venue = \"Mainnet\"").is_err());
    }
}

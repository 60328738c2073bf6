//! Starting fff-sim in-process and pointing the connector at it through its base-URL JSON.

use std::time::Duration;

use fff_binance::rest::RestConfig;
use fff_binance::ws::WsConfig;
use fff_binance::{BinanceUrls, Credentials, RestClient};
use fff_sim::config::{ClockConfig, ClockMode};
use fff_sim::{PAPER_API_KEY, PAPER_API_SECRET, SimConfig, SimHandle};

/// 2026-01-01T00:00:00Z, an 8 h funding boundary.
pub const START: i64 = 1_767_225_600_000;
pub const HOUR: i64 = 3_600_000;

/// Simulated time moves only when the test advances it.
pub fn manual() -> SimConfig {
    SimConfig {
        clock: ClockConfig {
            mode: ClockMode::Manual,
            speed: 1.0,
            start_ms: Some(START),
        },
        ..SimConfig::default()
    }
}

pub async fn start(config: SimConfig) -> (SimHandle, RestClient) {
    fff_binance::install_crypto_provider();
    let sim = fff_sim::spawn(config).await.unwrap();
    // The simulator's JSON line (with its extra `admin` key) is the connector's configuration.
    let line = serde_json::to_string(&sim.urls).unwrap();
    let urls = BinanceUrls::from_json(&line).unwrap();
    let config = RestConfig {
        timeout: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(10),
        ..RestConfig::default()
    };
    let client = RestClient::new(
        urls,
        Some(Credentials::new(PAPER_API_KEY, PAPER_API_SECRET)),
        config,
    )
    .unwrap();
    (sim, client)
}

pub fn fast_ws() -> WsConfig {
    WsConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..WsConfig::default()
    }
}

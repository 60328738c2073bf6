//! Base URLs. Pure configuration: the simulator, testnet and mainnet differ only here.

use serde::{Deserialize, Serialize};

/// Where each Binance surface lives. Field names match the JSON object the simulator prints as its
/// first stdout line (unknown keys such as `admin` are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinanceUrls {
    /// Spot and margin REST (`/api/v3`, `/sapi/v1`), e.g. `https://api.binance.com`.
    pub spot_rest: String,
    /// USDⓈ-M futures REST (`/fapi`), e.g. `https://fapi.binance.com`.
    pub futures_rest: String,
    /// USDⓈ-M futures streams root; the client appends `/market`, `/public`, `/private`.
    pub futures_ws: String,
    /// Spot WebSocket API endpoint (spot and margin user data), e.g. `wss://ws-api.binance.com:443/ws-api/v3`.
    pub spot_ws_api: String,
    /// Margin risk stream root; the client appends `/ws/<listenKey>`.
    pub margin_risk_ws: String,
}

impl BinanceUrls {
    /// Production endpoints.
    pub fn mainnet() -> Self {
        Self {
            spot_rest: "https://api.binance.com".to_string(),
            futures_rest: "https://fapi.binance.com".to_string(),
            futures_ws: "wss://fstream.binance.com".to_string(),
            spot_ws_api: "wss://ws-api.binance.com:443/ws-api/v3".to_string(),
            margin_risk_ws: "wss://margin-stream.binance.com".to_string(),
        }
    }

    /// Binance's test networks (spot testnet, USDⓈ-M demo trading). Binance runs no margin testnet:
    /// the margin risk stream URL is the production one and `/sapi` calls fail on the spot testnet.
    pub fn testnet() -> Self {
        Self {
            spot_rest: "https://testnet.binance.vision".to_string(),
            futures_rest: "https://demo-fapi.binance.com".to_string(),
            futures_ws: "wss://fstream.binancefuture.com".to_string(),
            spot_ws_api: "wss://ws-api.testnet.binance.vision/ws-api/v3".to_string(),
            margin_risk_ws: "wss://margin-stream.binance.com".to_string(),
        }
    }

    /// Parses the simulator's first stdout line.
    pub fn from_json(line: &str) -> crate::Result<Self> {
        serde_json::from_str(line.trim())
            .map_err(|err| crate::Error::Config(format!("invalid base url json: {err}")))
    }

    pub(crate) fn trimmed(value: &str) -> &str {
        value.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simulator_line_ignoring_unknown_keys() {
        let line = r#"{"spot_rest":"http://127.0.0.1:4000","futures_rest":"http://127.0.0.1:4000","futures_ws":"ws://127.0.0.1:4000","spot_ws_api":"ws://127.0.0.1:4000/ws-api/v3","margin_risk_ws":"ws://127.0.0.1:4000","admin":"http://127.0.0.1:4000/admin"}"#;
        let urls = BinanceUrls::from_json(line).unwrap();
        assert_eq!(urls.spot_ws_api, "ws://127.0.0.1:4000/ws-api/v3");
        assert_eq!(urls.futures_rest, "http://127.0.0.1:4000");
    }

    #[test]
    fn mainnet_round_trips_through_json() {
        let json = serde_json::to_string(&BinanceUrls::mainnet()).unwrap();
        assert_eq!(
            BinanceUrls::from_json(&json).unwrap(),
            BinanceUrls::mainnet()
        );
        assert_ne!(BinanceUrls::testnet(), BinanceUrls::mainnet());
    }
}

//! Resolves `[exchange]` plus the secrets into what the connector needs: base URLs and
//! credentials. Nothing here logs a secret.

use std::path::Path;
use std::time::Duration;

use fff_binance::rest::RestConfig;
use fff_binance::{BinanceUrls, Credentials};
use fff_runtime::Secrets;
use fff_runtime::config::{ExchangeConfig, ExchangeVenue};

use crate::error::{Error, Result};

/// Everything the gateway needs to reach the exchange.
#[derive(Debug, Clone)]
pub struct ExchangeSettings {
    pub venue: ExchangeVenue,
    pub urls: BinanceUrls,
    pub credentials: Credentials,
    pub rest: RestConfig,
}

impl ExchangeSettings {
    pub fn resolve(config: &ExchangeConfig, secrets: &Secrets) -> Result<Self> {
        let urls = resolve_urls(config)?;
        let credentials = resolve_credentials(config, secrets)?;
        let rest = RestConfig {
            recv_window_ms: config.recv_window_ms,
            timeout: Duration::from_millis(config.request_timeout_ms),
            trading_reserve_pct: config.trading_weight_reserve_pct,
            // The simulator accepts wall-clock timestamps; its (possibly accelerated) server time
            // would make every signature stale. Binance itself is always signed against its clock.
            sync_server_time: config.venue.is_live(),
            ..RestConfig::default()
        };
        Ok(Self {
            venue: config.venue,
            urls,
            credentials,
            rest,
        })
    }
}

fn resolve_urls(config: &ExchangeConfig) -> Result<BinanceUrls> {
    let base = match config.venue {
        ExchangeVenue::Mainnet => Some(BinanceUrls::mainnet()),
        ExchangeVenue::Testnet => Some(BinanceUrls::testnet()),
        ExchangeVenue::Sim => match &config.sim_urls_file {
            Some(path) => Some(read_sim_urls(path)?),
            None => None,
        },
    };
    let overrides = config.url_overrides();
    let mut urls = match base {
        Some(urls) => urls,
        None => {
            // sim without a URL file: every host must be given explicitly
            let missing: Vec<&str> = overrides
                .iter()
                .filter(|(_, url)| url.is_none())
                .map(|(key, _)| *key)
                .collect();
            if !missing.is_empty() {
                return Err(Error::config(format!(
                    "venue sim needs exchange.sim_urls_file (the first line `fff sim` prints) \
                     or every base url; missing: exchange.{}",
                    missing.join(", exchange.")
                )));
            }
            BinanceUrls {
                spot_rest: String::new(),
                futures_rest: String::new(),
                futures_ws: String::new(),
                spot_ws_api: String::new(),
                margin_risk_ws: String::new(),
            }
        }
    };
    for (key, url) in overrides {
        let Some(url) = url else { continue };
        let slot = match key {
            "spot_rest" => &mut urls.spot_rest,
            "futures_rest" => &mut urls.futures_rest,
            "futures_ws" => &mut urls.futures_ws,
            "spot_ws_api" => &mut urls.spot_ws_api,
            _ => &mut urls.margin_risk_ws,
        };
        *slot = url.to_owned();
    }
    Ok(urls)
}

fn read_sim_urls(path: &Path) -> Result<BinanceUrls> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read exchange.sim_urls_file {}: {e}",
            path.display()
        ))
    })?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    BinanceUrls::from_json(line)
        .map_err(|e| Error::config(format!("exchange.sim_urls_file {}: {e}", path.display())))
}

/// Env first, then the mounted file; the simulator's paper account when trading on paper.
fn resolve_credentials(config: &ExchangeConfig, secrets: &Secrets) -> Result<Credentials> {
    match (&secrets.binance_api_key, &secrets.binance_api_secret) {
        (Some(key), Some(secret)) => {
            return Ok(Credentials::new(
                key.expose().clone(),
                secret.expose().clone(),
            ));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::config(
                "set both BINANCE_API_KEY and BINANCE_API_SECRET, or neither",
            ));
        }
        (None, None) => {}
    }
    if let Some(path) = &config.credentials_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read exchange.credentials_file {}: {e}",
                path.display()
            ))
        })?;
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        return match (lines.next(), lines.next()) {
            (Some(key), Some(secret)) => Ok(Credentials::new(key, secret)),
            _ => Err(Error::config(format!(
                "exchange.credentials_file {} must hold the api key and the secret on two lines",
                path.display()
            ))),
        };
    }
    if config.venue == ExchangeVenue::Sim {
        return Ok(Credentials::new(PAPER_API_KEY, PAPER_API_SECRET));
    }
    Err(Error::config(format!(
        "venue {} needs BINANCE_API_KEY and BINANCE_API_SECRET (or exchange.credentials_file)",
        config.venue.as_str()
    )))
}

/// The simulator's documented default paper account (fff-sim README); public by design.
pub const PAPER_API_KEY: &str = "fff-paper-key";
pub const PAPER_API_SECRET: &str = "fff-paper-secret";

#[cfg(test)]
mod tests {
    use super::*;
    use fff_runtime::secret::SecretString;

    fn sim_config(file: &Path) -> ExchangeConfig {
        ExchangeConfig {
            sim_urls_file: Some(file.to_owned()),
            ..ExchangeConfig::default()
        }
    }

    #[test]
    fn sim_urls_come_from_the_sim_line_and_overrides_win() {
        let dir = std::env::temp_dir().join(format!("fff-gw-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("urls.json");
        std::fs::write(
            &file,
            r#"{"spot_rest":"http://127.0.0.1:9","futures_rest":"http://127.0.0.1:9","futures_ws":"ws://127.0.0.1:9","spot_ws_api":"ws://127.0.0.1:9/ws-api/v3","margin_risk_ws":"ws://127.0.0.1:9","admin":"http://127.0.0.1:9/admin"}"#,
        )
        .unwrap();
        let mut config = sim_config(&file);
        config.futures_rest = Some("http://127.0.0.1:10".into());
        let settings = ExchangeSettings::resolve(&config, &Secrets::default()).unwrap();
        assert_eq!(settings.urls.spot_rest, "http://127.0.0.1:9");
        assert_eq!(settings.urls.futures_rest, "http://127.0.0.1:10");
        // paper account when no key is configured on the simulator
        assert_eq!(settings.credentials.api_key(), PAPER_API_KEY);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mounted_credentials_file_is_used_when_the_env_has_no_key() {
        let dir = std::env::temp_dir().join(format!("fff-gw-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("binance");
        std::fs::write(&file, "file-key\nfile-secret\n").unwrap();
        let config = ExchangeConfig {
            venue: ExchangeVenue::Testnet,
            credentials_file: Some(file.clone()),
            ..ExchangeConfig::default()
        };
        let settings = ExchangeSettings::resolve(&config, &Secrets::default()).unwrap();
        assert_eq!(settings.credentials.api_key(), "file-key");
        std::fs::write(&file, "only-a-key\n").unwrap();
        let err = ExchangeSettings::resolve(&config, &Secrets::default()).unwrap_err();
        assert!(err.to_string().contains("two lines"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paper_account_is_the_simulators() {
        assert_eq!(PAPER_API_KEY, fff_sim::PAPER_API_KEY);
        assert_eq!(PAPER_API_SECRET, fff_sim::PAPER_API_SECRET);
    }

    #[test]
    fn sim_without_urls_names_the_missing_keys() {
        let config = ExchangeConfig {
            spot_rest: Some("http://x".into()),
            ..ExchangeConfig::default()
        };
        let err = ExchangeSettings::resolve(&config, &Secrets::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exchange.futures_rest"), "{text}");
        assert!(!text.contains("exchange.spot_rest"), "{text}");
    }

    #[test]
    fn live_venues_need_a_key_and_never_print_it() {
        let config = ExchangeConfig {
            venue: ExchangeVenue::Mainnet,
            ..ExchangeConfig::default()
        };
        assert!(ExchangeSettings::resolve(&config, &Secrets::default()).is_err());
        let secrets = Secrets {
            binance_api_key: Some(SecretString::from("live-key-123456")),
            binance_api_secret: Some(SecretString::from("very-secret-value")),
            ..Secrets::default()
        };
        let settings = ExchangeSettings::resolve(&config, &secrets).unwrap();
        assert_eq!(settings.urls, BinanceUrls::mainnet());
        let shown = format!("{settings:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(!shown.contains("live-key-123456"), "{shown}");
    }
}

//! Simulator configuration (TOML/serde). Every section has defaults, so an empty file is valid.

mod universe;

use std::collections::BTreeMap;
use std::path::PathBuf;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Key of the default paper account (used when the config defines no accounts).
pub const PAPER_API_KEY: &str = "fff-paper-key";
/// Secret of the default paper account. Not a secret: it only opens the local simulator.
pub const PAPER_API_SECRET: &str = "fff-paper-secret";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random process (prices, funding noise, faults).
    pub seed: u64,
    pub accounts: Vec<AccountConfig>,
    /// Listings; empty means the built-in synthetic universe ([`default_symbols`]).
    pub symbols: Vec<SymbolConfig>,
    /// Margin asset parameters; assets not listed get [`AssetConfig::fallback`].
    pub assets: Vec<AssetConfig>,
    pub clock: ClockConfig,
    pub fees: FeeConfig,
    pub faults: FaultConfig,
    pub limits: LimitConfig,
    pub market: MarketConfig,
    /// Directory with `funding/<SYMBOL>.csv`, `spot_1d/`, `perp_1d/` (see README); optional.
    pub replay_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            accounts: Vec::new(),
            symbols: Vec::new(),
            assets: Vec::new(),
            clock: ClockConfig::default(),
            fees: FeeConfig::default(),
            faults: FaultConfig::default(),
            limits: LimitConfig::default(),
            market: MarketConfig::default(),
            replay_dir: None,
        }
    }
}

impl SimConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: Self = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        Self::from_toml(&std::fs::read_to_string(path)?)
    }

    /// Collects every problem at once.
    pub fn validate(&self) -> Result<()> {
        let mut errs = Vec::new();
        for s in &self.symbols {
            if s.price <= Decimal::ZERO {
                errs.push(format!("symbol {}: price must be positive", s.name()));
            }
            if let Some(p) = &s.perp
                && !matches!(p.funding_interval_hours, 1 | 2 | 4 | 8)
            {
                errs.push(format!(
                    "symbol {}: funding_interval_hours must be 1, 2, 4 or 8",
                    s.name()
                ));
            }
        }
        let mut keys = std::collections::HashSet::new();
        for a in &self.accounts {
            if !keys.insert(a.api_key.clone()) {
                errs.push(format!("account {}: duplicate api_key", a.name));
            }
        }
        if self.clock.speed <= 0.0 && self.clock.mode == ClockMode::Accelerated {
            errs.push("clock.speed must be positive".into());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(errs.join("; ")))
        }
    }

    pub fn effective_accounts(&self) -> Vec<AccountConfig> {
        if self.accounts.is_empty() {
            vec![AccountConfig::paper()]
        } else {
            self.accounts.clone()
        }
    }

    pub fn effective_symbols(&self) -> Vec<SymbolConfig> {
        if self.symbols.is_empty() {
            default_symbols()
        } else {
            self.symbols.clone()
        }
    }

    pub fn asset(&self, asset: &str) -> AssetConfig {
        self.assets
            .iter()
            .find(|a| a.asset == asset)
            .cloned()
            .or_else(|| {
                universe::default_assets()
                    .into_iter()
                    .find(|a| a.asset == asset)
            })
            .unwrap_or_else(|| AssetConfig::fallback(asset))
    }
}

pub use universe::default_symbols;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub name: String,
    pub api_key: String,
    pub api_secret: String,
    #[serde(default)]
    pub spot: BTreeMap<String, Decimal>,
    #[serde(default)]
    pub margin: BTreeMap<String, Decimal>,
    #[serde(default)]
    pub futures: BTreeMap<String, Decimal>,
    /// What `GET /sapi/v1/account/apiRestrictions` reports for this key.
    #[serde(default)]
    pub api_restrictions: ApiRestrictionsConfig,
}

/// Permission flags of an account's API key (Binance's `apiRestrictions` fields). Withdrawals
/// are off by default, as a key for a trading bot should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiRestrictionsConfig {
    pub ip_restrict: bool,
    pub enable_reading: bool,
    pub enable_spot_and_margin_trading: bool,
    pub enable_margin: bool,
    pub enable_futures: bool,
    pub enable_withdrawals: bool,
    pub enable_internal_transfer: bool,
    pub permits_universal_transfer: bool,
    pub enable_vanilla_options: bool,
    pub enable_portfolio_margin_trading: bool,
}

impl Default for ApiRestrictionsConfig {
    fn default() -> Self {
        Self {
            ip_restrict: false,
            enable_reading: true,
            enable_spot_and_margin_trading: true,
            enable_margin: true,
            enable_futures: true,
            enable_withdrawals: false,
            enable_internal_transfer: false,
            permits_universal_transfer: true,
            enable_vanilla_options: false,
            enable_portfolio_margin_trading: false,
        }
    }
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("name", &self.name)
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AccountConfig {
    /// The documented paper account: 100,000 USDT in each of spot, cross margin and futures.
    pub fn paper() -> Self {
        let usdt = || BTreeMap::from([("USDT".to_string(), dec!(100000))]);
        Self {
            name: "paper".into(),
            api_key: PAPER_API_KEY.into(),
            api_secret: PAPER_API_SECRET.into(),
            spot: usdt(),
            margin: usdt(),
            futures: usdt(),
            api_restrictions: ApiRestrictionsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    pub base: String,
    #[serde(default = "usdt")]
    pub quote: String,
    /// Starting index price.
    pub price: Decimal,
    /// Annualised volatility of the price path (a statistic, hence f64).
    #[serde(default = "default_vol")]
    pub volatility: f64,
    pub spot: Option<SpotListing>,
    pub perp: Option<PerpListing>,
    /// Cross-margin trading enabled for the spot pair.
    #[serde(default)]
    pub margin: bool,
}

fn usdt() -> String {
    "USDT".into()
}
fn default_vol() -> f64 {
    0.6
}

impl SymbolConfig {
    pub fn name(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotListing {
    pub tick_size: Decimal,
    pub step_size: Decimal,
    pub min_notional: Decimal,
    /// 24h quote volume (USDT).
    pub volume_24h: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerpListing {
    pub tick_size: Decimal,
    pub step_size: Decimal,
    pub min_notional: Decimal,
    pub volume_24h: Decimal,
    pub funding_interval_hours: u32,
    /// Mean funding rate per interval (fraction).
    pub funding_rate: Decimal,
    #[serde(default = "default_cap")]
    pub funding_cap: Decimal,
    #[serde(default = "default_floor")]
    pub funding_floor: Decimal,
    #[serde(default = "default_lev")]
    pub max_leverage: u32,
    #[serde(default = "default_mmr")]
    pub maint_margin_rate: Decimal,
    /// Open interest in base units.
    pub open_interest: Decimal,
}

fn default_cap() -> Decimal {
    dec!(0.02)
}
fn default_floor() -> Decimal {
    dec!(-0.02)
}
fn default_lev() -> u32 {
    50
}
fn default_mmr() -> Decimal {
    dec!(0.005)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub asset: String,
    /// Daily borrow rate (the hourly rate charged is this / 24).
    pub daily_interest_rate: Decimal,
    #[serde(default = "yes")]
    pub borrowable: bool,
    /// Max borrow per account (asset units).
    pub borrow_limit: Decimal,
    /// Lendable inventory across the venue; borrowing beyond it gives -3045.
    pub inventory: Decimal,
}

fn yes() -> bool {
    true
}

impl AssetConfig {
    pub fn fallback(asset: &str) -> Self {
        Self {
            asset: asset.to_string(),
            daily_interest_rate: dec!(0.0003),
            borrowable: true,
            borrow_limit: dec!(1000000),
            inventory: dec!(100000000),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Wall-clock time (optionally shifted to `start_ms`).
    Real,
    /// `speed` simulated ms per wall ms.
    Accelerated,
    /// Time moves only through `POST /admin/clock/advance`.
    Manual,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    pub mode: ClockMode,
    pub speed: f64,
    /// Simulated start time (epoch ms); default: wall time at start.
    pub start_ms: Option<i64>,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            mode: ClockMode::Real,
            speed: 3600.0,
            start_ms: None,
        }
    }
}

/// Binance VIP0 by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeeConfig {
    pub spot_maker: Decimal,
    pub spot_taker: Decimal,
    pub futures_maker: Decimal,
    pub futures_taker: Decimal,
}

impl Default for FeeConfig {
    fn default() -> Self {
        Self {
            spot_maker: dec!(0.001),
            spot_taker: dec!(0.001),
            futures_maker: dec!(0.0002),
            futures_taker: dec!(0.0005),
        }
    }
}

/// Fault knobs; all can also be changed at run time via `POST /admin/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Probability that an order is rejected (-2010 spot/margin, -1008 futures).
    pub reject_rate: f64,
    /// Probability that a taker order fills only half of what the book offers.
    pub partial_fill_rate: f64,
    /// Added latency per HTTP request.
    pub latency_ms: u64,
    /// Every request answers 429 while set.
    pub rate_limit_storm: bool,
    /// Close every WebSocket this often (wall seconds); 0 = never.
    pub ws_disconnect_every_secs: u64,
    /// Shift of the server clock against the simulated time (ms).
    pub clock_skew_ms: i64,
    /// Assets whose lendable inventory is exhausted (-3045).
    pub borrow_unavailable: Vec<String>,
    /// Probability that a spot or cross-margin order (only) is rejected (-2010): the hedge
    /// venue failing while futures trade.
    pub spot_reject_rate: f64,
    /// Every REST request answers 418 (IP banned) while set (see `faults.rs`).
    pub ban_storm: bool,
    /// `Retry-After` of the injected 418, seconds (at least 1).
    pub ban_retry_after_secs: u64,
    /// Probability that an executed order's response is lost: 503 `-1007`, status unknown.
    pub unknown_status_rate: f64,
    /// Universal transfers (`POST /sapi/v1/asset/transfer`) refused while set (`-1000`, as
    /// during a wallet maintenance): a hedge's two wallets cannot be rebalanced.
    pub transfers_suspended: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitConfig {
    pub spot_weight_per_minute: u32,
    pub futures_weight_per_minute: u32,
    /// IP-weighted SAPI endpoints (Binance: 12,000 a minute per IP).
    pub sapi_weight_per_minute: u32,
    /// UID-weighted SAPI endpoints (margin orders, borrow/repay, universal transfers, listen
    /// keys/tokens; Binance: 180,000 a minute per account).
    pub sapi_uid_weight_per_minute: u32,
    pub spot_orders_per_10s: u32,
    pub spot_orders_per_day: u32,
    pub futures_orders_per_10s: u32,
    pub futures_orders_per_minute: u32,
    /// 429s answered to one IP (within the minute) before it is banned with 418.
    pub ban_after_violations: u32,
    pub ban_secs: u64,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            spot_weight_per_minute: 6000,
            futures_weight_per_minute: 2400,
            sapi_weight_per_minute: 12000,
            sapi_uid_weight_per_minute: 180_000,
            spot_orders_per_10s: 50,
            spot_orders_per_day: 160000,
            futures_orders_per_10s: 300,
            futures_orders_per_minute: 1200,
            ban_after_violations: 5,
            ban_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketConfig {
    /// Price-path step (simulated ms); long clock jumps use 1-minute steps.
    pub step_ms: i64,
    /// Quoted spread in basis points of the price.
    pub spread_bps: Decimal,
    /// Number of book levels on each side.
    pub depth_levels: u32,
    /// Distance between levels in basis points.
    pub level_bps: Decimal,
    /// Notional (USDT) at the best level; deeper levels grow linearly.
    pub level_notional: Decimal,
    /// Standard deviation of funding noise per interval (fraction); 0 keeps rates fixed.
    pub funding_noise: Decimal,
    /// Spot-perp basis noise (bps, standard deviation of the mean-reverting basis).
    pub basis_noise_bps: Decimal,
    /// Wall-clock period of pushed market streams (ms).
    pub stream_ms: u64,
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            step_ms: 1000,
            spread_bps: dec!(1),
            depth_levels: 20,
            level_bps: dec!(1),
            level_notional: dec!(50000),
            funding_noise: dec!(0.00002),
            basis_noise_bps: dec!(2),
            stream_ms: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_default_and_valid() {
        let cfg = SimConfig::from_toml("").unwrap();
        assert_eq!(cfg.effective_accounts()[0].api_key, PAPER_API_KEY);
        assert!(cfg.effective_symbols().len() >= 10);
    }

    #[test]
    fn rejects_bad_interval_and_unknown_field() {
        let bad = r#"
[[symbols]]
base = "BTC"
price = "100"
[symbols.perp]
tick_size = "0.1"
step_size = "0.001"
min_notional = "5"
volume_24h = "1"
funding_interval_hours = 3
funding_rate = "0.0001"
open_interest = "1"
"#;
        assert!(SimConfig::from_toml(bad).is_err());
        assert!(SimConfig::from_toml("nope = 1").is_err());
    }

    #[test]
    fn example_file_loads() {
        let cfg = SimConfig::from_toml(include_str!("../sim.example.toml")).unwrap();
        assert_eq!(cfg.clock.mode, ClockMode::Accelerated);
        assert_eq!(cfg.effective_accounts()[0].spot["BTC"], dec!(0.5));
        let doge = &cfg.effective_symbols()[1];
        assert_eq!(doge.perp.as_ref().unwrap().funding_interval_hours, 1);
        assert_eq!(cfg.asset("DOGE").daily_interest_rate, dec!(0.0003));
    }

    #[test]
    fn debug_hides_secret() {
        let s = format!("{:?}", AccountConfig::paper());
        assert!(!s.contains(PAPER_API_SECRET));
    }
}

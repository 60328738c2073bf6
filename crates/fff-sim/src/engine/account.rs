//! Per-account wallets: spot, cross margin, USD-M futures (single-asset mode, one-way positions).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::config::{AccountConfig, ApiRestrictionsConfig};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Balance {
    pub free: Decimal,
    pub locked: Decimal,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarginBalance {
    pub free: Decimal,
    pub locked: Decimal,
    pub borrowed: Decimal,
    pub interest: Decimal,
}

impl MarginBalance {
    pub fn net(&self) -> Decimal {
        self.free + self.locked - self.borrowed - self.interest
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Position {
    /// Signed: + long, - short.
    pub amt: Decimal,
    pub entry: Decimal,
    /// Accumulated realized PnL (pre-fee).
    pub realized: Decimal,
    pub update_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarginType {
    Cross,
    Isolated,
}

#[derive(Debug, Clone)]
pub struct Income {
    pub symbol: String,
    pub kind: &'static str,
    pub income: Decimal,
    pub asset: String,
    pub time: i64,
    pub tran_id: i64,
    pub trade_id: String,
}

#[derive(Debug, Clone)]
pub struct LoanRecord {
    pub kind: &'static str,
    pub asset: String,
    pub amount: Decimal,
    pub interest: Decimal,
    pub principal: Decimal,
    pub time: i64,
    pub tx_id: i64,
    /// "MANUAL" or "AUTO" (order side effect).
    pub source: &'static str,
}

#[derive(Debug, Clone)]
pub struct InterestRecord {
    pub asset: String,
    pub principal: Decimal,
    pub interest: Decimal,
    pub rate: Decimal,
    pub kind: &'static str,
    pub time: i64,
    pub tx_id: i64,
}

/// One `POST /sapi/v1/asset/transfer`, as `GET /sapi/v1/asset/transfer` lists it.
#[derive(Debug, Clone)]
pub struct TransferRecord {
    /// `MAIN_UMFUTURE`, `UMFUTURE_MAIN`, `MAIN_MARGIN`, …
    pub kind: String,
    pub asset: String,
    pub amount: Decimal,
    pub time: i64,
    pub tran_id: i64,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: usize,
    pub name: String,
    pub api_key: String,
    pub(crate) secret: String,
    pub spot: BTreeMap<String, Balance>,
    pub margin: BTreeMap<String, MarginBalance>,
    /// Futures wallet balance per margin asset (USDT).
    pub futures: BTreeMap<String, Decimal>,
    pub positions: BTreeMap<String, Position>,
    pub leverage: BTreeMap<String, u32>,
    pub margin_type: BTreeMap<String, MarginType>,
    pub income: Vec<Income>,
    pub loans: Vec<LoanRecord>,
    pub interest: Vec<InterestRecord>,
    pub transfers: Vec<TransferRecord>,
    pub margin_status: &'static str,
    pub liquidations: u32,
    pub margin_call_sent: bool,
    pub update_time: i64,
    pub api_restrictions: ApiRestrictionsConfig,
    /// When the key was "created" (the simulator's start).
    pub created_ms: i64,
}

impl Account {
    pub fn new(id: usize, cfg: &AccountConfig, now: i64) -> Self {
        let spot = cfg
            .spot
            .iter()
            .map(|(a, v)| {
                (
                    a.clone(),
                    Balance {
                        free: *v,
                        locked: Decimal::ZERO,
                    },
                )
            })
            .collect();
        let margin = cfg
            .margin
            .iter()
            .map(|(a, v)| {
                (
                    a.clone(),
                    MarginBalance {
                        free: *v,
                        ..Default::default()
                    },
                )
            })
            .collect();
        Self {
            id,
            name: cfg.name.clone(),
            api_key: cfg.api_key.clone(),
            secret: cfg.api_secret.clone(),
            spot,
            margin,
            futures: cfg.futures.clone(),
            positions: BTreeMap::new(),
            leverage: BTreeMap::new(),
            margin_type: BTreeMap::new(),
            income: Vec::new(),
            loans: Vec::new(),
            interest: Vec::new(),
            transfers: Vec::new(),
            margin_status: "NORMAL",
            liquidations: 0,
            margin_call_sent: false,
            update_time: now,
            api_restrictions: cfg.api_restrictions.clone(),
            created_ms: now,
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn leverage_of(&self, symbol: &str) -> u32 {
        self.leverage.get(symbol).copied().unwrap_or(20)
    }

    pub fn wallet(&self, asset: &str) -> Decimal {
        self.futures.get(asset).copied().unwrap_or_default()
    }

    pub fn spot_bal(&mut self, asset: &str) -> &mut Balance {
        self.spot.entry(asset.to_string()).or_default()
    }

    pub fn margin_bal(&mut self, asset: &str) -> &mut MarginBalance {
        self.margin.entry(asset.to_string()).or_default()
    }
}

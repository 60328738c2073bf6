//! Endpoints generic clients call while loading a venue, answered for a venue that has spot,
//! cross margin and USDⓈ-M futures only: the wallet's coin list (`capital/config/getall`, which
//! ccxt's `load_markets` reads once keys are set), isolated margin pairs (none) and coin-M
//! `exchangeInfo` (no listings). Deposits and withdrawals are not simulated, so no coin has a
//! network and none can be deposited or withdrawn.

use axum::http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::params::Req;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::Exchange;
use crate::engine::events::d8;

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    if method != Method::GET {
        return None;
    }
    Some(match path {
        "/sapi/v1/capital/config/getall" => spec(10, Sec::Signed, all_coins),
        "/sapi/v1/margin/isolated/allPairs" => spec(10, Sec::Key, |_, _| Ok(json!([]))),
        "/dapi/v1/ping" => spec(1, Sec::None, |_, _| Ok(json!({}))),
        "/dapi/v1/time" => spec(1, Sec::None, |ex, _| {
            Ok(json!({"serverTime": ex.now + ex.faults.clock_skew_ms}))
        }),
        "/dapi/v1/exchangeInfo" => spec(1, Sec::None, coin_margined_exchange_info),
        _ => return None,
    })
}

/// Every asset of a spot listing plus any the account holds, sorted.
fn wallet_assets(ex: &Exchange, account: usize) -> Vec<String> {
    let mut assets: Vec<String> = ex
        .markets
        .values()
        .filter(|m| m.spot.is_some())
        .flat_map(|m| [m.base.clone(), m.quote.clone()])
        .chain(
            ex.accounts
                .get(account)
                .into_iter()
                .flat_map(|a| a.spot.keys().cloned()),
        )
        .collect();
    assets.sort();
    assets.dedup();
    assets
}

/// `GET /sapi/v1/capital/config/getall`: one row per coin, balances from the spot wallet.
fn all_coins(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let account = r.account()?;
    let zero = d8(Decimal::ZERO);
    let rows: Vec<Value> = wallet_assets(ex, account)
        .into_iter()
        .map(|asset| {
            let (free, locked) = ex.accounts[account]
                .spot
                .get(&asset)
                .map_or((Decimal::ZERO, Decimal::ZERO), |b| (b.free, b.locked));
            json!({
                "coin": asset, "name": asset, "depositAllEnable": false, "withdrawAllEnable": false,
                "free": d8(free), "locked": d8(locked), "freeze": zero, "withdrawing": zero,
                "ipoing": zero, "ipoable": zero, "storage": zero, "isLegalMoney": false,
                "trading": true, "networkList": []
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// `GET /dapi/v1/exchangeInfo`: Binance's shape with no coin-M listing.
fn coin_margined_exchange_info(ex: &mut Exchange, _r: &Req) -> Result<Value, ApiError> {
    let l = &ex.cfg.limits;
    Ok(json!({
        "exchangeFilters": [],
        "rateLimits": [
            {"interval": "MINUTE", "intervalNum": 1, "limit": l.futures_weight_per_minute, "rateLimitType": "REQUEST_WEIGHT"},
            {"interval": "MINUTE", "intervalNum": 1, "limit": l.futures_orders_per_minute, "rateLimitType": "ORDERS"}
        ],
        "serverTime": ex.now,
        "symbols": [],
        "timezone": "UTC"
    }))
}

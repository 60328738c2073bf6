//! Wallet and venue endpoints generic clients call (ccxt's `load_markets` with keys,
//! `fetch_status`, `fetch_trading_fee(s)`, `fetch_transfers`), answered for a venue that has
//! spot, cross margin and USDⓈ-M futures only: the coin list (`capital/config/getall`), isolated
//! margin pairs (none), coin-M `exchangeInfo` (no listings), system status, spot trade fees and
//! the universal-transfer history. Deposits and withdrawals are not simulated, so no coin has a
//! network and none can be deposited or withdrawn.

use axum::http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::params::Req;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::Exchange;
use crate::engine::events::{d8, ds};

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    if method != Method::GET {
        return None;
    }
    Some(match path {
        "/sapi/v1/capital/config/getall" => spec(10, Sec::Signed, all_coins),
        "/sapi/v1/margin/isolated/allPairs" => spec(10, Sec::Key, |_, _| Ok(json!([]))),
        "/sapi/v1/system/status" => spec(1, Sec::None, |_, _| {
            Ok(json!({"status": 0, "msg": "normal"}))
        }),
        "/sapi/v1/asset/tradeFee" => spec(1, Sec::Signed, trade_fee),
        "/sapi/v1/asset/transfer" => spec(1, Sec::Signed, transfer_history),
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

/// `GET /sapi/v1/asset/tradeFee`: the spot fee rates per listing (VIP0 from `[fees]`).
fn trade_fee(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let want = r.get("symbol");
    let f = &ex.cfg.fees;
    let rows: Vec<Value> = ex
        .markets
        .values()
        .filter(|m| m.spot.is_some() && want.is_none_or(|w| w == m.symbol))
        .map(|m| json!({"symbol": m.symbol, "makerCommission": ds(f.spot_maker), "takerCommission": ds(f.spot_taker)}))
        .collect();
    if want.is_some() && rows.is_empty() {
        return Err(ApiError::invalid_symbol());
    }
    Ok(Value::Array(rows))
}

const DAY_MS: i64 = 86_400_000;

/// `GET /sapi/v1/asset/transfer`: the account's transfers of one `type`, newest first, within
/// `startTime`..`endTime` (default: the last 7 days), paged by `current` (from 1) and `size`
/// (default 10, max 100).
fn transfer_history(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let kind = r.req("type")?;
    let end = r.int("endTime")?.unwrap_or(ex.now);
    let start = r.int("startTime")?.unwrap_or(end - 7 * DAY_MS);
    let current = r.int("current")?.unwrap_or(1).max(1);
    let size = r.int("size")?.unwrap_or(10).clamp(1, 100);
    let mut rows: Vec<&crate::engine::account::TransferRecord> = ex.accounts[r.account()?]
        .transfers
        .iter()
        .filter(|t| t.kind == kind && (start..=end).contains(&t.time))
        .collect();
    rows.reverse();
    let total = rows.len();
    let skip = usize::try_from((current - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    let page: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(usize::try_from(size).unwrap_or(10))
        .map(|t| json!({"asset": t.asset, "amount": d8(t.amount), "type": t.kind, "status": "CONFIRMED", "tranId": t.tran_id, "timestamp": t.time}))
        .collect();
    if total == 0 {
        return Ok(json!({"total": 0}));
    }
    Ok(json!({"total": total, "rows": page}))
}

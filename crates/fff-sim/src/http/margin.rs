//! Cross margin and wallet endpoints (`/sapi/v1/*`).

use axum::http::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::params::Req;
use super::spot;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::events::d8;
use crate::engine::history::{LISTING_MS, daily_borrow_rate};
use crate::engine::margin::{LIQUIDATION_BAR, MARGIN_CALL_BAR, NORMAL_BAR};
use crate::engine::{Exchange, KeyKind, Venue};

const HOUR: i64 = 3_600_000;

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    let p = path.strip_prefix("/sapi/v1/")?;
    let s = |w, h| spec(w, Sec::Signed, h);
    // UID-weighted (their own per-account budget; Binance's and the gateway's classification)
    let u = |w, sec, h| Spec {
        uid: true,
        ..spec(w, sec, h)
    };
    Some(match (method.as_str(), p) {
        ("POST", "margin/order") => Spec {
            order: true,
            weight_borrow: 1500,
            ..u(6, Sec::Signed, |ex, r| {
                isolated_guard(r).and_then(|_| spot::place(ex, r, Venue::Margin))
            })
        },
        ("GET", "margin/order") => s(10, |ex, r| spot::query(ex, r, Venue::Margin)),
        ("DELETE", "margin/order") => s(10, |ex, r| spot::cancel(ex, r, Venue::Margin)),
        ("GET", "margin/openOrders") => s(10, |ex, r| spot::open_orders(ex, r, Venue::Margin)),
        ("DELETE", "margin/openOrders") => s(1, |ex, r| spot::cancel_all(ex, r, Venue::Margin)),
        ("GET", "margin/allOrders") => s(200, |ex, r| spot::all_orders(ex, r, Venue::Margin)),
        ("GET", "margin/myTrades") => s(10, |ex, r| spot::my_trades(ex, r, Venue::Margin)),
        ("GET", "margin/account") => s(10, account),
        ("GET", "margin/allPairs") => spec(1, Sec::Key, all_pairs),
        ("GET", "margin/allAssets") => spec(1, Sec::Key, all_assets),
        ("GET", "margin/crossMarginData") => s(5, cross_margin_data),
        ("GET", "margin/next-hourly-interest-rate") => s(100, next_hourly),
        ("GET", "margin/interestRateHistory") => s(1, rate_history),
        ("GET", "margin/interestHistory") => s(1, interest_history),
        ("POST", "margin/borrow-repay") => u(1500, Sec::Signed, borrow_repay),
        ("GET", "margin/borrow-repay") => s(10, loan_records),
        ("POST", "margin/loan") => u(3000, Sec::Signed, |ex, r| legacy(ex, r, "BORROW")),
        ("POST", "margin/repay") => u(3000, Sec::Signed, |ex, r| legacy(ex, r, "REPAY")),
        ("GET", "margin/maxBorrowable") => s(50, max_borrowable),
        ("GET", "margin/tradeCoeff") => s(10, |_, _| {
            Ok(
                json!({"normalBar": NORMAL_BAR.to_string(), "marginCallBar": MARGIN_CALL_BAR.to_string(), "forceLiquidationBar": LIQUIDATION_BAR.to_string()}),
            )
        }),
        ("POST", "asset/transfer") => u(900, Sec::Signed, |ex, r| {
            let tx = ex.transfer(
                r.account()?,
                r.req("type")?,
                r.req("asset")?,
                r.req_dec("amount")?,
            )?;
            Ok(json!({"tranId": tx}))
        }),
        ("POST", "userListenToken") => u(1, Sec::Key, |ex, r| {
            let validity = r
                .int("validity")?
                .unwrap_or(86_400_000)
                .clamp(1, 86_400_000);
            let (token, exp) = ex.listen_key(r.account()?, KeyKind::ListenToken, validity);
            Ok(json!({"token": token, "expirationTime": exp}))
        }),
        ("POST", "margin/listen-key") => u(1, Sec::Key, |ex, r| {
            let (k, _) = ex.listen_key(r.account()?, KeyKind::MarginRisk, 60 * 60_000);
            Ok(json!({"listenKey": k}))
        }),
        ("PUT", "margin/listen-key") => {
            u(1, Sec::Key, |ex, r| keepalive(ex, r, KeyKind::MarginRisk))
        }
        ("DELETE", "margin/listen-key") => u(3000, Sec::Key, |ex, r| {
            close_key(ex, r, KeyKind::MarginRisk)
        }),
        _ => return None,
    })
}

pub fn keepalive(ex: &mut Exchange, r: &Req, kind: KeyKind) -> Result<Value, ApiError> {
    let account = r.account()?;
    let now = crate::clock::wall_ms();
    let given = r.get("listenKey").map(str::to_string);
    let entry = ex
        .listen_keys
        .iter_mut()
        .find(|(k, v)| v.0 == account && v.1 == kind && given.as_ref().is_none_or(|g| g == *k));
    match entry {
        Some((k, v)) => {
            v.2 = now + 60 * 60_000;
            Ok(json!({"listenKey": k}))
        }
        None => Err(ApiError::bad(-1125, "This listenKey does not exist.")),
    }
}

pub fn close_key(ex: &mut Exchange, r: &Req, kind: KeyKind) -> Result<Value, ApiError> {
    let account = r.account()?;
    ex.listen_keys
        .retain(|_, v| !(v.0 == account && v.1 == kind));
    Ok(json!({}))
}

fn isolated_guard(r: &Req) -> Result<(), ApiError> {
    if r.get("isIsolated")
        .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
    {
        return Err(ApiError::bad(-3003, "Margin account does not exist."));
    }
    Ok(())
}

fn account(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let id = r.account()?;
    let (assets, liab) = ex.margin_totals(id);
    let btc = ex.usdt_price("BTC").max(dec!(0.00000001));
    let level = ex.margin_level(id);
    let a = &ex.accounts[id];
    let user_assets: Vec<Value> = a
        .margin
        .iter()
        .map(|(asset, b)| json!({"asset": asset, "borrowed": d8(b.borrowed), "free": d8(b.free), "interest": d8(b.interest), "locked": d8(b.locked), "netAsset": d8(b.net())}))
        .collect();
    Ok(json!({
        "created": true, "borrowEnabled": true, "marginLevel": d8(level), "collateralMarginLevel": d8(level),
        "totalAssetOfBtc": d8((assets / btc).round_dp(8)), "totalLiabilityOfBtc": d8((liab / btc).round_dp(8)),
        "totalNetAssetOfBtc": d8(((assets - liab) / btc).round_dp(8)), "TotalCollateralValueInUSDT": d8(assets.round_dp(8)),
        "totalOpenOrderLossInUSDT": d8(Decimal::ZERO), "tradeEnabled": level > LIQUIDATION_BAR, "transferInEnabled": true,
        "transferOutEnabled": level > dec!(2), "accountType": "MARGIN_1", "userAssets": user_assets
    }))
}

fn all_pairs(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let want = r.get("symbol");
    let rows: Vec<Value> = ex
        .markets
        .values()
        .enumerate()
        .filter(|(_, m)| m.margin && m.spot.is_some() && want.is_none_or(|w| w == m.symbol))
        .map(|(i, m)| json!({"base": m.base, "id": 351_637_150_141_315_840i64 + i as i64, "isBuyAllowed": true, "isMarginTrade": true, "isSellAllowed": true, "quote": m.quote, "symbol": m.symbol}))
        .collect();
    if want.is_some() && rows.is_empty() {
        return Err(ApiError::invalid_symbol());
    }
    Ok(Value::Array(rows))
}

fn margin_assets(ex: &Exchange) -> Vec<String> {
    let mut v: Vec<String> = ex
        .markets
        .values()
        .filter(|m| m.spot.is_some())
        .flat_map(|m| [m.base.clone(), m.quote.clone()])
        .collect();
    v.sort();
    v.dedup();
    v
}

fn all_assets(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let want = r.get("asset");
    Ok(Value::Array(
        margin_assets(ex)
            .into_iter()
            .filter(|a| want.is_none_or(|w| w == a))
            .map(|a| {
                let c = ex.cfg.asset(&a);
                json!({"assetFullName": a, "assetName": a, "isBorrowable": c.borrowable, "isMortgageable": true, "userMinBorrow": d8(Decimal::ZERO), "userMinRepay": d8(Decimal::ZERO)})
            })
            .collect(),
    ))
}

fn cross_margin_data(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let want = r.get("coin");
    Ok(Value::Array(
        margin_assets(ex)
            .into_iter()
            .filter(|a| want.is_none_or(|w| w == a))
            .map(|a| {
                let c = ex.cfg.asset(&a);
                let pairs: Vec<&str> = ex.markets.values().filter(|m| m.margin && (m.base == a || m.quote == a)).map(|m| m.symbol.as_str()).collect();
                json!({"vipLevel": 0, "coin": a, "transferIn": true, "borrowable": c.borrowable, "dailyInterest": d8(c.daily_interest_rate),
                    "yearlyInterest": (c.daily_interest_rate * dec!(365)).round_dp(4).to_string(), "borrowLimit": c.borrow_limit.normalize().to_string(), "marginablePairs": pairs})
            })
            .collect(),
    ))
}

fn next_hourly(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let assets = r.req("assets")?;
    Ok(Value::Array(
        assets.split(',').take(20).map(|a| json!({"asset": a, "nextHourlyInterestRate": d8(ex.cfg.asset(a).daily_interest_rate / dec!(24))})).collect(),
    ))
}

/// Hourly rows, newest first (at most 100, range at most 30 days): the configured rate since the
/// start (the one charged), a deterministic day-by-day variation of it before.
fn rate_history(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let asset = r.req("asset")?;
    if !margin_assets(ex).iter().any(|a| a == asset) {
        return Err(ApiError::bad(-3027, "Not a valid margin asset."));
    }
    let end = r.int("endTime")?.unwrap_or(ex.now);
    let start = r
        .int("startTime")?
        .unwrap_or(end.saturating_sub(7 * 24 * HOUR))
        .max(end.saturating_sub(30 * 24 * HOUR));
    let rate = ex.cfg.asset(asset).daily_interest_rate;
    let end = end.clamp(0, 1 << 45).min(ex.now);
    let start = start.max(LISTING_MS.min(ex.start_ms));
    let mut t = end.div_euclid(HOUR) * HOUR;
    let mut rows = Vec::new();
    while t >= start && rows.len() < 100 {
        let daily = daily_borrow_rate(rate, asset, t, ex.start_ms);
        rows.push(
            json!({"asset": asset, "dailyInterestRate": d8(daily), "timestamp": t, "vipLevel": 0}),
        );
        t -= HOUR;
    }
    Ok(Value::Array(rows))
}

fn page<T>(rows: Vec<T>, r: &Req) -> Result<(Vec<T>, usize), ApiError> {
    let total = rows.len();
    let size = r.int("size")?.unwrap_or(10).clamp(1, 100) as usize;
    let current = r.int("current")?.unwrap_or(1).max(1) as usize;
    Ok((
        rows.into_iter()
            .skip((current - 1) * size)
            .take(size)
            .collect(),
        total,
    ))
}

fn in_range(t: i64, r: &Req, now: i64) -> Result<bool, ApiError> {
    let end = r.int("endTime")?.unwrap_or(now);
    let start = r
        .int("startTime")?
        .unwrap_or(end.saturating_sub(7 * 24 * HOUR));
    Ok(t >= start && t <= end)
}

fn interest_history(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let a = &ex.accounts[r.account()?];
    let asset = r.get("asset");
    let mut rows = Vec::new();
    for i in a.interest.iter().rev() {
        if asset.is_none_or(|x| x == i.asset) && in_range(i.time, r, ex.now)? {
            rows.push(json!({"txId": i.tx_id, "interestAccuredTime": i.time, "asset": i.asset, "rawAsset": i.asset, "principal": d8(i.principal),
                "interest": d8(i.interest), "interestRate": d8(i.rate), "type": i.kind}));
        }
    }
    let (rows, total) = page(rows, r)?;
    Ok(json!({"rows": rows, "total": total}))
}

fn loan_records(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let kind = r.req("type")?;
    let a = &ex.accounts[r.account()?];
    let asset = r.get("asset");
    let tx = r.int("txId")?;
    let mut rows = Vec::new();
    for l in a.loans.iter().rev() {
        if l.kind == kind
            && asset.is_none_or(|x| x == l.asset)
            && tx.is_none_or(|t| t == l.tx_id)
            && (tx.is_some() || in_range(l.time, r, ex.now)?)
        {
            rows.push(json!({"type": l.source, "amount": d8(l.amount), "asset": l.asset, "interest": d8(l.interest), "principal": d8(l.principal),
                "status": "CONFIRMED", "timestamp": l.time, "txId": l.tx_id}));
        }
    }
    let (rows, total) = page(rows, r)?;
    Ok(json!({"rows": rows, "total": total}))
}

fn borrow_repay(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    isolated_guard(r)?;
    if r.get("isIsolated").is_none() {
        return Err(ApiError::mandatory("isIsolated"));
    }
    legacy(ex, r, r.req("type")?)
}

fn legacy(ex: &mut Exchange, r: &Req, kind: &str) -> Result<Value, ApiError> {
    let account = r.account()?;
    let asset = r.req("asset")?;
    let amount = r.req_dec("amount")?;
    let tx = match kind {
        "BORROW" => ex.borrow(account, asset, amount, "MANUAL")?,
        "REPAY" => ex.repay(account, asset, amount, "MANUAL")?,
        _ => return Err(ApiError::illegal("type")),
    };
    Ok(json!({"tranId": tx}))
}

fn max_borrowable(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let (amount, limit) = ex.max_borrowable(r.account()?, r.req("asset")?);
    Ok(json!({"amount": d8(amount), "borrowLimit": limit.normalize().to_string()}))
}

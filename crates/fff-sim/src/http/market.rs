//! Public market data: spot `/api/v3/*` and futures `/fapi/v1/*`.

use axum::http::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::params::Req;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::Exchange;
use crate::engine::events::{d8, ds};
use crate::engine::market::Market;

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    if method != Method::GET {
        return None;
    }
    let all = |w: u32, wa: u32, h| Spec {
        weight_all: wa,
        ..spec(w, Sec::None, h)
    };
    Some(match path {
        "/api/v3/ping" | "/fapi/v1/ping" => spec(1, Sec::None, |_, _| Ok(json!({}))),
        "/api/v3/time" | "/fapi/v1/time" => spec(1, Sec::None, |ex, _| {
            Ok(json!({"serverTime": ex.now + ex.faults.clock_skew_ms}))
        }),
        "/api/v3/exchangeInfo" => spec(20, Sec::None, spot_exchange_info),
        "/api/v3/depth" => spec(5, Sec::None, |ex, r| depth(ex, r, false)),
        "/api/v3/ticker/24hr" => all(2, 80, |ex, r| ticker(ex, r, false)),
        "/api/v3/ticker/bookTicker" => all(2, 4, |ex, r| book_ticker(ex, r, false)),
        "/api/v3/ticker/price" => all(2, 4, |ex, r| price_ticker(ex, r, false)),
        "/api/v3/avgPrice" => spec(2, Sec::None, |ex, r| {
            let m = ex.market(r.req("symbol")?)?;
            Ok(json!({"mins": 5, "price": d8(m.index_price()), "closeTime": ex.now}))
        }),
        "/fapi/v1/exchangeInfo" => spec(1, Sec::None, futures_exchange_info),
        "/fapi/v1/depth" => spec(5, Sec::None, |ex, r| depth(ex, r, true)),
        "/fapi/v1/ticker/24hr" => all(1, 40, |ex, r| ticker(ex, r, true)),
        "/fapi/v1/ticker/bookTicker" => all(2, 5, |ex, r| book_ticker(ex, r, true)),
        "/fapi/v1/ticker/price" => all(1, 2, |ex, r| price_ticker(ex, r, true)),
        "/fapi/v1/premiumIndex" => all(1, 10, premium_index),
        "/fapi/v1/fundingInfo" => spec(1, Sec::None, funding_info),
        "/fapi/v1/openInterest" => spec(1, Sec::None, open_interest),
        _ => return None,
    })
}

/// Markets selected by `symbol` / `symbols` (JSON array); all listed on the venue otherwise.
pub fn select<'a>(
    ex: &'a Exchange,
    r: &Req,
    perp: bool,
) -> Result<(Vec<&'a Market>, bool), ApiError> {
    let listed = |m: &&Market| {
        if perp {
            m.perp.is_some()
        } else {
            m.spot.is_some()
        }
    };
    if let Some(s) = r.get("symbol") {
        let m = ex
            .markets
            .get(s)
            .filter(listed)
            .ok_or_else(ApiError::invalid_symbol)?;
        return Ok((vec![m], true));
    }
    if let Some(list) = r.get("symbols") {
        let names: Vec<String> =
            serde_json::from_str(list).map_err(|_| ApiError::illegal("symbols"))?;
        let ms = names
            .iter()
            .map(|n| {
                ex.markets
                    .get(n)
                    .filter(listed)
                    .ok_or_else(ApiError::invalid_symbol)
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((ms, false));
    }
    Ok((ex.markets.values().filter(listed).collect(), false))
}

fn one_or_many(items: Vec<Value>, single: bool) -> Value {
    if single {
        items.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(items)
    }
}

fn spot_exchange_info(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let (ms, _) = select(ex, r, false)?;
    let symbols: Vec<Value> = ms
        .iter()
        .filter_map(|m| {
            let s = m.spot.as_ref()?;
            let perms = if m.margin { json!([["SPOT", "MARGIN"]]) } else { json!([["SPOT"]]) };
            Some(json!({
                "symbol": m.symbol, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
                "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": false, "ocoAllowed": false, "otoAllowed": false, "opoAllowed": false,
                "quoteOrderQtyMarketAllowed": true, "allowTrailingStop": false, "cancelReplaceAllowed": false,
                "amendAllowed": false, "pegInstructionsAllowed": false,
                "isSpotTradingAllowed": true, "isMarginTradingAllowed": m.margin,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": d8(s.tick_size), "maxPrice": "1000000.00000000", "tickSize": d8(s.tick_size)},
                    {"filterType": "LOT_SIZE", "minQty": d8(s.step_size), "maxQty": "9000000.00000000", "stepSize": d8(s.step_size)},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": d8(s.step_size), "maxQty": "9000000.00000000", "stepSize": d8(s.step_size)},
                    {"filterType": "NOTIONAL", "minNotional": d8(s.min_notional), "applyMinToMarket": true,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
                ],
                "permissions": [], "permissionSets": perms,
                "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"]
            }))
        })
        .collect();
    let l = &ex.cfg.limits;
    Ok(json!({
        "timezone": "UTC", "serverTime": ex.now,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": l.spot_weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": l.spot_orders_per_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": l.spot_orders_per_day}
        ],
        "exchangeFilters": [], "symbols": symbols
    }))
}

fn futures_exchange_info(ex: &mut Exchange, _r: &Req) -> Result<Value, ApiError> {
    let symbols: Vec<Value> = ex
        .markets
        .values()
        .filter_map(|m| {
            let p = m.perp.as_ref()?;
            Some(json!({
                "symbol": m.symbol, "pair": m.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000i64,
                "onboardDate": 1569398400000i64, "status": "TRADING",
                "maintMarginPercent": ds(p.maint_margin_rate * dec!(100)), "requiredMarginPercent": ds(dec!(100) / Decimal::from(p.max_leverage)),
                "baseAsset": m.base, "quoteAsset": m.quote, "marginAsset": "USDT",
                "pricePrecision": p.tick_size.normalize().scale(), "quantityPrecision": p.step_size.normalize().scale(),
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
                "settlePlan": 0, "triggerProtect": "0.0500",
                "filters": [
                    {"filterType": "PRICE_FILTER", "maxPrice": "1000000", "minPrice": ds(p.tick_size), "tickSize": ds(p.tick_size)},
                    {"filterType": "LOT_SIZE", "maxQty": "1000000000", "minQty": ds(p.step_size), "stepSize": ds(p.step_size)},
                    {"filterType": "MARKET_LOT_SIZE", "maxQty": "100000000", "minQty": ds(p.step_size), "stepSize": ds(p.step_size)},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MIN_NOTIONAL", "notional": ds(p.min_notional)},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"}
                ],
                "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
                "liquidationFee": "0.010000", "marketTakeBound": "0.05"
            }))
        })
        .collect();
    let l = &ex.cfg.limits;
    Ok(json!({
        "exchangeFilters": [],
        "rateLimits": [
            {"interval": "MINUTE", "intervalNum": 1, "limit": l.futures_weight_per_minute, "rateLimitType": "REQUEST_WEIGHT"},
            {"interval": "MINUTE", "intervalNum": 1, "limit": l.futures_orders_per_minute, "rateLimitType": "ORDERS"}
        ],
        "serverTime": ex.now,
        "assets": [{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "0"}],
        "symbols": symbols, "timezone": "UTC"
    }))
}

fn depth(ex: &mut Exchange, r: &Req, perp: bool) -> Result<Value, ApiError> {
    let (ms, _) = select(
        ex,
        &Req {
            params: vec![("symbol".into(), r.req("symbol")?.into())],
            ..Default::default()
        },
        perp,
    )?;
    let m = ms[0];
    let limit = r
        .int("limit")?
        .unwrap_or(if perp { 500 } else { 100 })
        .clamp(1, 5000) as usize;
    let (bids, asks) = m.book(perp, &ex.cfg.market);
    let side = |lv: &[(Decimal, Decimal)]| -> Vec<Value> {
        lv.iter()
            .take(limit)
            .map(|(p, q)| json!([d8(*p), d8(*q)]))
            .collect()
    };
    let mut v = json!({"lastUpdateId": m.update_id, "bids": side(&bids), "asks": side(&asks)});
    if perp {
        v["E"] = json!(ex.now);
        v["T"] = json!(ex.now);
    }
    Ok(v)
}

fn ticker(ex: &mut Exchange, r: &Req, perp: bool) -> Result<Value, ApiError> {
    let (ms, single) = select(ex, r, perp)?;
    let items = ms
        .iter()
        .map(|m| {
            let (open, hi, lo) = m.day_stats();
            let last = if perp { m.mark_price() } else { m.index_price() };
            let vol_q = if perp { m.perp.as_ref().map(|p| p.volume_24h) } else { m.spot.as_ref().map(|s| s.volume_24h) }.unwrap_or_default();
            let vol = (vol_q / last.max(dec!(0.00000001))).round_dp(8);
            let change = last - open;
            let pct = if open.is_zero() { Decimal::ZERO } else { (change / open * dec!(100)).round_dp(3) };
            let (bids, asks) = m.book(perp, &ex.cfg.market);
            let mut v = json!({
                "symbol": m.symbol, "priceChange": d8(change), "priceChangePercent": format!("{:.3}", pct),
                "weightedAvgPrice": d8(((open + last) / dec!(2)).round_dp(8)), "lastPrice": d8(last), "lastQty": d8(bids.first().map(|b| b.1).unwrap_or_default()),
                "openPrice": d8(open), "highPrice": d8(hi), "lowPrice": d8(lo), "volume": d8(vol), "quoteVolume": d8(vol_q),
                "openTime": ex.now - 86_400_000, "closeTime": ex.now, "firstId": 1, "lastId": m.update_id, "count": m.update_id
            });
            if !perp {
                v["prevClosePrice"] = json!(d8(open));
                v["bidPrice"] = json!(d8(bids.first().map(|b| b.0).unwrap_or_default()));
                v["bidQty"] = json!(d8(bids.first().map(|b| b.1).unwrap_or_default()));
                v["askPrice"] = json!(d8(asks.first().map(|b| b.0).unwrap_or_default()));
                v["askQty"] = json!(d8(asks.first().map(|b| b.1).unwrap_or_default()));
            }
            v
        })
        .collect();
    Ok(one_or_many(items, single))
}

fn book_ticker(ex: &mut Exchange, r: &Req, perp: bool) -> Result<Value, ApiError> {
    let (ms, single) = select(ex, r, perp)?;
    let items = ms
        .iter()
        .map(|m| {
            let (bids, asks) = m.book(perp, &ex.cfg.market);
            let (b, a) = (bids.first().copied().unwrap_or_default(), asks.first().copied().unwrap_or_default());
            let mut v = json!({"symbol": m.symbol, "bidPrice": d8(b.0), "bidQty": d8(b.1), "askPrice": d8(a.0), "askQty": d8(a.1)});
            if perp {
                v["time"] = json!(ex.now);
            }
            v
        })
        .collect();
    Ok(one_or_many(items, single))
}

fn price_ticker(ex: &mut Exchange, r: &Req, perp: bool) -> Result<Value, ApiError> {
    let (ms, single) = select(ex, r, perp)?;
    let items = ms
        .iter()
        .map(|m| {
            let p = if perp {
                m.mark_price()
            } else {
                m.index_price()
            };
            let mut v = json!({"symbol": m.symbol, "price": d8(p)});
            if perp {
                v["time"] = json!(ex.now);
            }
            v
        })
        .collect();
    Ok(one_or_many(items, single))
}

pub fn premium_json(m: &Market, now: i64) -> Value {
    json!({
        "symbol": m.symbol, "markPrice": d8(m.mark_price()), "indexPrice": d8(m.index_price()),
        "estimatedSettlePrice": d8(m.index_price()), "lastFundingRate": d8(m.funding_rate),
        "interestRate": "0.00010000", "nextFundingTime": m.next_funding, "time": now
    })
}

fn premium_index(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let (ms, single) = select(ex, r, true)?;
    Ok(one_or_many(
        ms.iter().map(|m| premium_json(m, ex.now)).collect(),
        single,
    ))
}

/// Binance lists only symbols with adjusted settings; the simulator lists every perp so the
/// interval is never guessed (8h symbols included).
fn funding_info(ex: &mut Exchange, _r: &Req) -> Result<Value, ApiError> {
    Ok(Value::Array(
        ex.markets
            .values()
            .filter_map(|m| {
                let p = m.perp.as_ref()?;
                Some(json!({"symbol": m.symbol, "adjustedFundingRateCap": d8(p.funding_cap), "adjustedFundingRateFloor": d8(p.funding_floor),
                    "fundingIntervalHours": p.funding_interval_hours, "disclaimer": false}))
            })
            .collect(),
    ))
}

fn open_interest(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let symbol = r.req("symbol")?;
    let m = ex
        .markets
        .get(symbol)
        .filter(|m| m.perp.is_some())
        .ok_or_else(ApiError::invalid_symbol)?;
    let users: Decimal = ex
        .accounts
        .iter()
        .filter_map(|a| a.positions.get(symbol))
        .map(|p| p.amt.abs())
        .sum();
    let oi = m.perp.as_ref().map(|p| p.open_interest).unwrap_or_default() + users;
    Ok(json!({"openInterest": ds(oi), "symbol": symbol, "time": ex.now}))
}

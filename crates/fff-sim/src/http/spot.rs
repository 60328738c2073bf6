//! Spot account and order endpoints (`/api/v3/*`, SIGNED).

use axum::http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::params::Req;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::events::d8;
use crate::engine::orders::NewOrder;
use crate::engine::{Exchange, OrdType, Order, Side, SideEffect, Tif, Venue};

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    let order = |w: u32, h| Spec {
        order: true,
        ..spec(w, Sec::Signed, h)
    };
    Some(match (method.as_str(), path) {
        ("POST", "/api/v3/order") => order(1, |ex, r| place(ex, r, Venue::Spot)),
        ("POST", "/api/v3/order/test") => spec(1, Sec::Signed, |ex, r| {
            let o = parse_new_order(r, false)?;
            ex.market(&o.symbol)?;
            Ok(json!({}))
        }),
        ("GET", "/api/v3/order") => spec(4, Sec::Signed, |ex, r| query(ex, r, Venue::Spot)),
        ("DELETE", "/api/v3/order") => spec(1, Sec::Signed, |ex, r| cancel(ex, r, Venue::Spot)),
        ("GET", "/api/v3/openOrders") => Spec {
            weight_all: 80,
            ..spec(6, Sec::Signed, |ex, r| open_orders(ex, r, Venue::Spot))
        },
        ("DELETE", "/api/v3/openOrders") => {
            spec(1, Sec::Signed, |ex, r| cancel_all(ex, r, Venue::Spot))
        }
        ("GET", "/api/v3/allOrders") => {
            spec(20, Sec::Signed, |ex, r| all_orders(ex, r, Venue::Spot))
        }
        ("GET", "/api/v3/myTrades") => spec(20, Sec::Signed, |ex, r| my_trades(ex, r, Venue::Spot)),
        ("GET", "/api/v3/account") => spec(20, Sec::Signed, account),
        ("GET", "/api/v3/account/commission") => spec(20, Sec::Signed, commission),
        _ => return None,
    })
}

pub fn parse_new_order(r: &Req, futures: bool) -> Result<NewOrder, ApiError> {
    let symbol = r.req("symbol")?.to_string();
    let side = Side::parse(r.req("side")?).ok_or_else(|| ApiError::bad(-1117, "Invalid side."))?;
    let kind = match r.req("type")? {
        "LIMIT" => OrdType::Limit,
        "MARKET" => OrdType::Market,
        "LIMIT_MAKER" if !futures => OrdType::LimitMaker,
        "STOP" | "STOP_MARKET" | "TAKE_PROFIT" | "TAKE_PROFIT_MARKET" | "TRAILING_STOP_MARKET"
            if futures =>
        {
            return Err(ApiError::bad(
                -4120,
                "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
            ));
        }
        _ => return Err(ApiError::bad(-1116, "Invalid orderType.")),
    };
    let tif = match (kind, r.get("timeInForce")) {
        (OrdType::Limit, None) => return Err(ApiError::mandatory("timeInForce")),
        (_, Some(t)) => Tif::parse(t)
            .filter(|t| futures || *t != Tif::Gtx)
            .ok_or_else(|| ApiError::bad(-1115, "Invalid timeInForce."))?,
        (_, None) => Tif::Gtc,
    };
    let side_effect = match r.get("sideEffectType") {
        Some(s) => SideEffect::parse(s).ok_or_else(|| ApiError::illegal("sideEffectType"))?,
        None => SideEffect::None,
    };
    if let Some(c) = r.get("newClientOrderId")
        && (c.len() > 36
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ".:/_-".contains(ch)))
    {
        return Err(if futures {
            ApiError::bad(-4015, "Client order id is not valid.")
        } else {
            ApiError::illegal("newClientOrderId")
        });
    }
    Ok(NewOrder {
        symbol,
        side,
        kind,
        tif,
        qty: r.dec("quantity")?,
        quote_qty: r.dec("quoteOrderQty")?,
        price: r.dec("price")?,
        client_id: r.get("newClientOrderId").map(str::to_string),
        reduce_only: r.bool("reduceOnly"),
        side_effect,
        auto_repay_at_cancel: !r
            .get("autoRepayAtCancel")
            .is_some_and(|v| v.eq_ignore_ascii_case("false")),
    })
}

/// RESULT-level fields shared by spot and margin order responses.
pub fn order_result(o: &Order) -> Value {
    json!({
        "symbol": o.symbol, "orderId": o.id, "orderListId": -1, "clientOrderId": o.client_id,
        "transactTime": o.update_time, "price": d8(o.price), "origQty": d8(o.orig_qty),
        "executedQty": d8(o.executed_qty), "origQuoteOrderQty": d8(o.quote_order_qty),
        "cummulativeQuoteQty": d8(o.cum_quote), "status": o.status.as_str(), "timeInForce": o.tif.as_str(),
        "type": o.kind.as_str(), "side": o.side.as_str(), "workingTime": o.time, "selfTradePreventionMode": "NONE"
    })
}

/// Margin order bodies carry `isIsolated` and lack the spot-only list/quote/working fields.
fn margin_shape(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        for k in ["orderListId", "origQuoteOrderQty", "workingTime"] {
            obj.remove(k);
        }
        obj.insert("isIsolated".into(), json!(false));
    }
}

pub fn order_response(o: &Order, resp_type: Option<&str>) -> Value {
    let default_full = matches!(o.kind, OrdType::Market | OrdType::Limit);
    let kind = resp_type.unwrap_or(if default_full { "FULL" } else { "ACK" });
    let mut v = match kind {
        "ACK" => {
            json!({"symbol": o.symbol, "orderId": o.id, "orderListId": -1, "clientOrderId": o.client_id, "transactTime": o.time})
        }
        _ => order_result(o),
    };
    if kind == "FULL" {
        v["fills"] = Value::Array(
            o.fills
                .iter()
                .map(|f| json!({"price": d8(f.price), "qty": d8(f.qty), "commission": d8(f.commission), "commissionAsset": f.commission_asset, "tradeId": f.trade_id}))
                .collect(),
        );
    }
    if o.venue == Venue::Margin {
        margin_shape(&mut v);
        if let Some((asset, amt)) = &o.borrowed {
            // The documented example carries this one as a JSON number.
            v["marginBuyBorrowAmount"] = d8(*amt)
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or(Value::Null);
            v["marginBuyBorrowAsset"] = json!(asset);
        }
    }
    v
}

pub fn order_status(o: &Order) -> Value {
    let mut v = order_result(o);
    let obj = v.as_object_mut();
    if let Some(obj) = obj {
        obj.remove("transactTime");
        obj.insert("stopPrice".into(), json!(d8(Decimal::ZERO)));
        obj.insert("icebergQty".into(), json!(d8(Decimal::ZERO)));
        obj.insert("time".into(), json!(o.time));
        obj.insert("updateTime".into(), json!(o.update_time));
        obj.insert("isWorking".into(), json!(true));
    }
    if o.venue == Venue::Margin {
        margin_shape(&mut v);
    }
    v
}

pub fn place(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let req = parse_new_order(r, false)?;
    let id = ex.place_spot(r.account()?, venue, req)?;
    Ok(order_response(&ex.orders[&id], r.get("newOrderRespType")))
}

pub fn query(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    let o = ex.find_order(
        r.account()?,
        venue,
        symbol,
        r.int("orderId")?,
        r.get("origClientOrderId"),
    )?;
    Ok(order_status(o))
}

pub fn cancel(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let symbol = r.req("symbol")?;
    let id = ex.cancel(
        r.account()?,
        venue,
        symbol,
        r.int("orderId")?,
        r.get("origClientOrderId"),
    )?;
    let o = &ex.orders[&id];
    let mut v = order_result(o);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("workingTime");
        obj.insert("origClientOrderId".into(), json!(o.client_id));
        obj.insert(
            "clientOrderId".into(),
            json!(r.get("newClientOrderId").unwrap_or(&o.client_id)),
        );
    }
    if venue == Venue::Margin {
        margin_shape(&mut v);
    }
    Ok(v)
}

pub fn open_orders(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.get("symbol");
    if let Some(s) = symbol {
        ex.market(s)?;
    }
    Ok(Value::Array(
        ex.orders
            .values()
            .filter(|o| {
                o.account == account
                    && o.venue == venue
                    && o.status.is_open()
                    && symbol.is_none_or(|s| o.symbol == s)
            })
            .map(order_status)
            .collect(),
    ))
}

pub fn cancel_all(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.req("symbol")?.to_string();
    ex.market(&symbol)?;
    let ids: Vec<i64> = ex
        .orders
        .values()
        .filter(|o| {
            o.account == account && o.venue == venue && o.symbol == symbol && o.status.is_open()
        })
        .map(|o| o.id)
        .collect();
    let mut out = Vec::new();
    for id in ids {
        ex.cancel(account, venue, &symbol, Some(id), None)?;
        let mut v = order_result(&ex.orders[&id]);
        v["origClientOrderId"] = json!(ex.orders[&id].client_id);
        out.push(v);
    }
    Ok(Value::Array(out))
}

pub fn all_orders(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    let limit = r.int("limit")?.unwrap_or(500).clamp(1, 1000) as usize;
    let rows: Vec<Value> = ex
        .orders
        .values()
        .filter(|o| o.account == account && o.venue == venue && o.symbol == symbol)
        .map(order_status)
        .collect();
    let skip = rows.len().saturating_sub(limit);
    Ok(Value::Array(rows.into_iter().skip(skip).collect()))
}

pub fn my_trades(ex: &mut Exchange, r: &Req, venue: Venue) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    let mut rows = Vec::new();
    for o in ex
        .orders
        .values()
        .filter(|o| o.account == account && o.venue == venue && o.symbol == symbol)
    {
        for f in &o.fills {
            rows.push(json!({
                "symbol": o.symbol, "id": f.trade_id, "orderId": o.id, "orderListId": -1, "price": d8(f.price), "qty": d8(f.qty),
                "quoteQty": d8(f.price * f.qty), "commission": d8(f.commission), "commissionAsset": f.commission_asset,
                "time": f.time, "isBuyer": o.side == Side::Buy, "isMaker": f.maker, "isBestMatch": true, "isIsolated": false
            }));
        }
    }
    Ok(Value::Array(rows))
}

fn bps(v: Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    (v * Decimal::from(10_000)).to_i64().unwrap_or(0)
}

fn account(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let a = &ex.accounts[r.account()?];
    let omit = r.bool("omitZeroBalances");
    let f = &ex.cfg.fees;
    let balances: Vec<Value> = a
        .spot
        .iter()
        .filter(|(_, b)| !omit || !(b.free + b.locked).is_zero())
        .map(|(asset, b)| json!({"asset": asset, "free": d8(b.free), "locked": d8(b.locked)}))
        .collect();
    Ok(json!({
        "makerCommission": bps(f.spot_maker), "takerCommission": bps(f.spot_taker), "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": d8(f.spot_maker), "taker": d8(f.spot_taker), "buyer": d8(Decimal::ZERO), "seller": d8(Decimal::ZERO)},
        "canTrade": true, "canWithdraw": true, "canDeposit": true, "brokered": false, "requireSelfTradePrevention": false,
        "preventSor": false, "updateTime": ex.now, "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
        "uid": 100_000 + a.id
    }))
}

fn commission(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    let f = &ex.cfg.fees;
    let z = d8(Decimal::ZERO);
    Ok(json!({
        "symbol": symbol,
        "standardCommission": {"maker": d8(f.spot_maker), "taker": d8(f.spot_taker), "buyer": z, "seller": z},
        "specialCommission": {"maker": z, "taker": z, "buyer": z, "seller": z},
        "taxCommission": {"maker": z, "taker": z, "buyer": z, "seller": z},
        // `discount` is the fraction taken off when paying in BNB (not simulated: BNB burn is off).
        "discount": {"enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "BNB", "discount": "0.25000000"}
    }))
}

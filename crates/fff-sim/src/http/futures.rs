//! USD-M futures private endpoints (`/fapi/v1|v2|v3/*`).

use axum::http::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::margin::{close_key, keepalive};
use super::params::Req;
use super::spot::parse_new_order;
use super::{Sec, Spec, spec};
use crate::ApiError;
use crate::engine::account::MarginType;
use crate::engine::events::{d8, ds};
use crate::engine::futures::{MARGIN_ASSET, PositionRisk};
use crate::engine::{Exchange, KeyKind, Order, Side, Venue};

pub fn route(method: &Method, path: &str) -> Option<Spec> {
    let s = |w, h| spec(w, Sec::Signed, h);
    Some(match (method.as_str(), path) {
        ("POST", "/fapi/v1/order") => Spec {
            order: true,
            ..s(1, place)
        },
        ("POST", "/fapi/v1/batchOrders") => Spec {
            order: true,
            ..s(5, batch)
        },
        ("GET", "/fapi/v1/order") => s(1, query),
        ("DELETE", "/fapi/v1/order") => s(1, cancel),
        ("GET", "/fapi/v1/openOrders") => Spec {
            weight_all: 40,
            ..s(1, open_orders)
        },
        ("DELETE", "/fapi/v1/allOpenOrders") => s(1, cancel_all),
        ("GET", "/fapi/v1/allOrders") => s(5, all_orders),
        ("GET", "/fapi/v1/userTrades") => s(5, user_trades),
        ("POST", "/fapi/v1/leverage") => s(1, |ex, r| {
            let symbol = r.req("symbol")?;
            let lev: u32 = r
                .req("leverage")?
                .parse()
                .map_err(|_| ApiError::bad(-4028, "Invalid leverage"))?;
            let max = ex.set_leverage(r.account()?, symbol, lev)?;
            Ok(json!({"leverage": lev, "maxNotionalValue": max.to_string(), "symbol": symbol}))
        }),
        ("POST", "/fapi/v1/marginType") => s(1, |ex, r| {
            let kind = match r.req("marginType")? {
                "ISOLATED" => MarginType::Isolated,
                "CROSSED" => MarginType::Cross,
                _ => return Err(ApiError::illegal("marginType")),
            };
            ex.set_margin_type(r.account()?, r.req("symbol")?, kind)?;
            Ok(json!({"code": 200, "msg": "success"}))
        }),
        ("GET", "/fapi/v1/positionSide/dual") => {
            s(30, |_, _| Ok(json!({"dualSidePosition": false})))
        }
        ("POST", "/fapi/v1/positionSide/dual") => s(1, |_, r| {
            // One-way mode only: asking for hedge mode is refused like a blocked change.
            if r.req("dualSidePosition")? == "false" {
                Err(ApiError::bad(-4059, "No need to change position side."))
            } else {
                Err(ApiError::bad(
                    -4068,
                    "The position side cannot be changed if there exists position.",
                ))
            }
        }),
        ("GET", "/fapi/v2/account") => s(5, |ex, r| account(ex, r, 2)),
        ("GET", "/fapi/v3/account") => s(5, |ex, r| account(ex, r, 3)),
        ("GET", "/fapi/v2/balance") | ("GET", "/fapi/v3/balance") => s(5, balance),
        ("GET", "/fapi/v2/positionRisk") => s(5, |ex, r| position_risk(ex, r, 2)),
        ("GET", "/fapi/v3/positionRisk") => s(5, |ex, r| position_risk(ex, r, 3)),
        ("GET", "/fapi/v1/income") => s(30, income),
        ("GET", "/fapi/v1/leverageBracket") => s(1, leverage_bracket),
        ("GET", "/fapi/v1/symbolConfig") => s(5, symbol_config),
        // One-way, single-asset, VIP0: what ccxt's `fetch_trading_fees` (linear) reads.
        ("GET", "/fapi/v1/accountConfig") => s(5, |ex, r| {
            let a = &ex.accounts[r.account()?];
            Ok(
                json!({"feeTier": 0, "canTrade": true, "canDeposit": true, "canWithdraw": true, "dualSidePosition": false,
                "updateTime": a.update_time, "multiAssetsMargin": false, "tradeGroupId": -1}),
            )
        }),
        ("GET", "/fapi/v1/commissionRate") => s(20, |ex, r| {
            let symbol = r.req("symbol")?;
            ex.market(symbol)?;
            let f = &ex.cfg.fees;
            Ok(
                json!({"symbol": symbol, "makerCommissionRate": ds(f.futures_maker), "takerCommissionRate": ds(f.futures_taker), "rpiCommissionRate": "0"}),
            )
        }),
        ("POST", "/fapi/v1/listenKey") => spec(1, Sec::Key, |ex, r| {
            let (k, _) = ex.listen_key(r.account()?, KeyKind::Futures, 60 * 60_000);
            Ok(json!({"listenKey": k}))
        }),
        ("PUT", "/fapi/v1/listenKey") => {
            spec(1, Sec::Key, |ex, r| keepalive(ex, r, KeyKind::Futures))
        }
        ("DELETE", "/fapi/v1/listenKey") => {
            spec(1, Sec::Key, |ex, r| close_key(ex, r, KeyKind::Futures))
        }
        _ => return None,
    })
}

pub fn order_json(o: &Order) -> Value {
    json!({
        "clientOrderId": o.client_id, "cumQty": ds(o.executed_qty), "cumQuote": ds(o.cum_quote), "executedQty": ds(o.executed_qty),
        "orderId": o.id, "avgPrice": ds(o.avg_price().round_dp(8)), "origQty": ds(o.orig_qty), "price": ds(o.price),
        "reduceOnly": o.reduce_only, "side": o.side.as_str(), "positionSide": "BOTH", "status": o.status.as_str(),
        "stopPrice": "0", "closePosition": false, "symbol": o.symbol, "time": o.time, "timeInForce": o.tif.as_str(),
        "type": o.kind.as_str(), "origType": o.kind.as_str(), "updateTime": o.update_time, "workingType": "CONTRACT_PRICE",
        "priceProtect": false, "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0
    })
}

fn place_one(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    if r.get("positionSide").is_some_and(|p| p != "BOTH") {
        return Err(ApiError::bad(
            -4061,
            "Order's position side does not match user's setting.",
        ));
    }
    let req = parse_new_order(r, true)?;
    let id = ex.place_futures(r.account()?, req)?;
    let mut v = order_json(&ex.orders[&id]);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("time");
    }
    Ok(v)
}

fn place(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    place_one(ex, r)
}

fn batch(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let list: Vec<serde_json::Map<String, Value>> = serde_json::from_str(r.req("batchOrders")?)
        .map_err(|_| ApiError::illegal("batchOrders"))?;
    if list.len() > 5 {
        return Err(ApiError::bad(
            -1102,
            "Mandatory parameter 'batchOrders' was not sent, was empty/null, or malformed.",
        ));
    }
    let account = r.account;
    Ok(Value::Array(
        list.into_iter()
            .map(|m| {
                let params = m
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect();
                let sub = Req {
                    params,
                    account,
                    ..Default::default()
                };
                place_one(ex, &sub).unwrap_or_else(|e| json!({"code": e.code, "msg": e.msg}))
            })
            .collect(),
    ))
}

fn query(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    Ok(order_json(ex.find_order(
        r.account()?,
        Venue::Futures,
        symbol,
        r.int("orderId")?,
        r.get("origClientOrderId"),
    )?))
}

fn cancel(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let id = ex.cancel(
        r.account()?,
        Venue::Futures,
        r.req("symbol")?,
        r.int("orderId")?,
        r.get("origClientOrderId"),
    )?;
    Ok(order_json(&ex.orders[&id]))
}

fn open_orders(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
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
                    && o.venue == Venue::Futures
                    && o.status.is_open()
                    && symbol.is_none_or(|s| o.symbol == s)
            })
            .map(order_json)
            .collect(),
    ))
}

fn cancel_all(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.req("symbol")?.to_string();
    ex.market(&symbol)?;
    let ids: Vec<i64> = ex
        .orders
        .values()
        .filter(|o| {
            o.account == account
                && o.venue == Venue::Futures
                && o.symbol == symbol
                && o.status.is_open()
        })
        .map(|o| o.id)
        .collect();
    for id in ids {
        ex.cancel(account, Venue::Futures, &symbol, Some(id), None)?;
    }
    Ok(json!({"code": 200, "msg": "The operation of cancel all open order is done."}))
}

fn all_orders(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    let limit = r.int("limit")?.unwrap_or(500).clamp(1, 1000) as usize;
    let rows: Vec<Value> = ex
        .orders
        .values()
        .filter(|o| o.account == account && o.venue == Venue::Futures && o.symbol == symbol)
        .map(order_json)
        .collect();
    let skip = rows.len().saturating_sub(limit);
    Ok(Value::Array(rows.into_iter().skip(skip).collect()))
}

fn user_trades(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let account = r.account()?;
    let symbol = r.req("symbol")?;
    ex.market(symbol)?;
    let mut rows = Vec::new();
    for o in ex
        .orders
        .values()
        .filter(|o| o.account == account && o.venue == Venue::Futures && o.symbol == symbol)
    {
        for f in &o.fills {
            rows.push(json!({
                "buyer": o.side == Side::Buy, "commission": d8(f.commission), "commissionAsset": f.commission_asset, "id": f.trade_id,
                "maker": f.maker, "orderId": o.id, "price": ds(f.price), "qty": ds(f.qty), "quoteQty": ds(f.price * f.qty),
                "realizedPnl": d8(f.realized_pnl), "side": o.side.as_str(), "positionSide": "BOTH", "symbol": o.symbol, "time": f.time
            }));
        }
    }
    Ok(Value::Array(rows))
}

fn asset_json(ex: &Exchange, account: usize) -> Value {
    let t = ex.futures_totals(account);
    json!({
        "asset": MARGIN_ASSET, "walletBalance": d8(t.wallet), "unrealizedProfit": d8(t.unrealized), "marginBalance": d8(t.margin_balance),
        "maintMargin": d8(t.maint_margin), "initialMargin": d8(t.initial_margin), "positionInitialMargin": d8(t.position_im),
        "openOrderInitialMargin": d8(t.open_order_im), "crossWalletBalance": d8(t.wallet), "crossUnPnl": d8(t.unrealized),
        "availableBalance": d8(t.available), "maxWithdrawAmount": d8(t.available.min(t.wallet)), "updateTime": ex.now
    })
}

fn account(ex: &mut Exchange, r: &Req, version: u8) -> Result<Value, ApiError> {
    let id = r.account()?;
    let t = ex.futures_totals(id);
    let risks = ex.position_risks(id);
    let positions: Vec<Value> = risks
        .iter()
        .map(|p| {
            let mut v = json!({"symbol": p.symbol, "positionSide": "BOTH", "positionAmt": ds(p.amt), "unrealizedProfit": d8(p.unrealized),
                "isolatedMargin": "0", "notional": d8(p.notional), "isolatedWallet": "0", "initialMargin": d8(p.initial_margin + p.open_order_margin),
                "maintMargin": d8(p.maint_margin), "updateTime": p.update_time});
            if version == 2 {
                v["leverage"] = json!(p.leverage.to_string());
                v["entryPrice"] = json!(ds(p.entry));
                v["isolated"] = json!(false);
                v["positionInitialMargin"] = json!(d8(p.initial_margin));
                v["openOrderInitialMargin"] = json!(d8(p.open_order_margin));
                v["maxNotional"] = json!("1000000");
                v["bidNotional"] = json!("0");
                v["askNotional"] = json!("0");
            }
            v
        })
        .collect();
    let mut v = json!({
        "totalInitialMargin": d8(t.initial_margin), "totalMaintMargin": d8(t.maint_margin), "totalWalletBalance": d8(t.wallet),
        "totalUnrealizedProfit": d8(t.unrealized), "totalMarginBalance": d8(t.margin_balance), "totalPositionInitialMargin": d8(t.position_im),
        "totalOpenOrderInitialMargin": d8(t.open_order_im), "totalCrossWalletBalance": d8(t.wallet), "totalCrossUnPnl": d8(t.unrealized),
        "availableBalance": d8(t.available), "maxWithdrawAmount": d8(t.available.min(t.wallet)),
        "assets": [asset_json(ex, id)], "positions": positions
    });
    if version == 2 {
        v["feeTier"] = json!(0);
        v["feeBurn"] = json!(false);
        v["canTrade"] = json!(true);
        v["canDeposit"] = json!(true);
        v["canWithdraw"] = json!(true);
        v["updateTime"] = json!(0);
        v["multiAssetsMargin"] = json!(false);
        v["tradeGroupId"] = json!(-1);
        if let Some(a) = v["assets"].get_mut(0) {
            a["marginAvailable"] = json!(true);
        }
    }
    Ok(v)
}

fn balance(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let id = r.account()?;
    let t = ex.futures_totals(id);
    Ok(json!([{
        "accountAlias": "SgsR", "asset": MARGIN_ASSET, "balance": d8(t.wallet), "crossWalletBalance": d8(t.wallet),
        "crossUnPnl": d8(t.unrealized), "availableBalance": d8(t.available), "maxWithdrawAmount": d8(t.available.min(t.wallet)),
        "marginAvailable": true, "updateTime": ex.now
    }]))
}

/// Cross-margin liquidation price of one position if it were the only one.
fn liq_price(p: &PositionRisk, wallet: Decimal, mmr: Decimal) -> Decimal {
    if p.amt.is_zero() {
        return Decimal::ZERO;
    }
    // wallet + amt*(L - entry) = |amt|*L*mmr
    let denom = p.amt - p.amt.abs() * mmr;
    if denom.is_zero() {
        return Decimal::ZERO;
    }
    ((p.amt * p.entry - wallet) / denom)
        .max(Decimal::ZERO)
        .round_dp(8)
}

fn position_risk(ex: &mut Exchange, r: &Req, version: u8) -> Result<Value, ApiError> {
    let id = r.account()?;
    let symbol = r.get("symbol");
    if let Some(s) = symbol {
        ex.market(s)?;
    }
    let wallet = ex.accounts[id].wallet(MARGIN_ASSET);
    let risks: Vec<PositionRisk> = if version == 2 {
        ex.markets
            .values()
            .filter(|m| m.perp.is_some())
            .filter_map(|m| ex.position_risk(id, &m.symbol))
            .collect()
    } else {
        ex.position_risks(id)
    };
    Ok(Value::Array(
        risks
            .iter()
            .filter(|p| symbol.is_none_or(|s| s == p.symbol))
            .map(|p| {
                let mmr = ex.markets.get(&p.symbol).and_then(|m| m.perp.as_ref()).map(|x| x.maint_margin_rate).unwrap_or(dec!(0.005));
                let liq = liq_price(p, wallet, mmr);
                if version == 2 {
                    json!({"entryPrice": ds(p.entry), "breakEvenPrice": ds(p.entry), "marginType": "cross", "isAutoAddMargin": "false",
                        "isolatedMargin": "0.00000000", "leverage": p.leverage.to_string(), "liquidationPrice": d8(liq), "markPrice": d8(p.mark),
                        "maxNotionalValue": "1000000", "positionAmt": ds(p.amt), "notional": d8(p.notional), "isolatedWallet": "0",
                        "symbol": p.symbol, "unRealizedProfit": d8(p.unrealized), "positionSide": "BOTH", "updateTime": p.update_time})
                } else {
                    json!({"symbol": p.symbol, "positionSide": "BOTH", "positionAmt": ds(p.amt), "entryPrice": ds(p.entry), "breakEvenPrice": ds(p.entry),
                        "markPrice": d8(p.mark), "unRealizedProfit": d8(p.unrealized), "liquidationPrice": d8(liq), "isolatedMargin": "0",
                        "notional": d8(p.notional), "marginAsset": MARGIN_ASSET, "isolatedWallet": "0", "initialMargin": d8(p.initial_margin + p.open_order_margin),
                        "maintMargin": d8(p.maint_margin), "positionInitialMargin": d8(p.initial_margin), "openOrderInitialMargin": d8(p.open_order_margin),
                        "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": p.update_time})
                }
            })
            .collect(),
    ))
}

fn income(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let a = &ex.accounts[r.account()?];
    let symbol = r.get("symbol");
    let kind = r.get("incomeType");
    let end = r.int("endTime")?.unwrap_or(ex.now);
    let start = r
        .int("startTime")?
        .unwrap_or(end.saturating_sub(7 * 24 * 3_600_000));
    let limit = r.int("limit")?.unwrap_or(100).clamp(1, 1000) as usize;
    let page = r.int("page")?.unwrap_or(1).max(1) as usize;
    let rows: Vec<Value> = a
        .income
        .iter()
        .filter(|i| symbol.is_none_or(|s| s == i.symbol) && kind.is_none_or(|k| k == i.kind) && i.time >= start && i.time <= end)
        .skip((page - 1) * limit)
        .take(limit)
        .map(|i| json!({"symbol": i.symbol, "incomeType": i.kind, "income": d8(i.income), "asset": i.asset, "info": i.kind, "time": i.time, "tranId": i.tran_id, "tradeId": i.trade_id}))
        .collect();
    Ok(Value::Array(rows))
}

/// One bracket per symbol: the configured max leverage and maintenance rate.
fn leverage_bracket(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let want = r.get("symbol");
    if let Some(s) = want {
        ex.market(s)?;
    }
    let rows: Vec<Value> = ex
        .markets
        .values()
        .filter(|m| want.is_none_or(|w| w == m.symbol))
        .filter_map(|m| {
            let p = m.perp.as_ref()?;
            Some(json!({"symbol": m.symbol, "brackets": [{"bracket": 1, "initialLeverage": p.max_leverage, "notionalCap": 50_000_000 / p.max_leverage,
                "notionalFloor": 0, "maintMarginRatio": p.maint_margin_rate.to_string().parse::<f64>().unwrap_or(0.0), "cum": 0.0}]}))
        })
        .collect();
    Ok(if want.is_some() {
        rows.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(rows)
    })
}

/// `GET /fapi/v1/symbolConfig`: the account's leverage and margin type per perp (ccxt's
/// `fetch_leverage(s)` reads it; v3 `positionRisk` no longer carries leverage).
fn symbol_config(ex: &mut Exchange, r: &Req) -> Result<Value, ApiError> {
    let want = r.get("symbol");
    if let Some(s) = want {
        ex.market(s)?;
    }
    let a = &ex.accounts[r.account()?];
    let rows: Vec<Value> = ex
        .markets
        .values()
        .filter(|m| m.perp.is_some() && want.is_none_or(|w| w == m.symbol))
        .map(|m| {
            let lev = a.leverage_of(&m.symbol);
            let margin_type = match a.margin_type.get(&m.symbol) {
                Some(MarginType::Isolated) => "ISOLATED",
                _ => "CROSSED",
            };
            // Same one-bracket model as `POST /fapi/v1/leverage`: 50M at 1x.
            json!({"symbol": m.symbol, "marginType": margin_type, "isAutoAddMargin": "false", "leverage": lev,
                "maxNotionalValue": (50_000_000u64 / u64::from(lev.max(1))).to_string()})
        })
        .collect();
    Ok(Value::Array(rows))
}

//! The venue's own records for checks against a client's books (the soak test's invariants):
//! every order by client order id with its fills and their times, funding income and interest
//! charges with their transaction ids (amounts as the REST endpoints publish them), balances,
//! loans, perp positions and prices.
//!
//! `GET /admin/records?account=NAME_OR_KEY&since_order=N` lists the orders with id >= N (all by
//! default), so a poller re-reads only what can still change: from its oldest open order on.
//! `GET /admin/state` carries the same order records (a superset of its older fields) and the
//! prices.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::engine::events::d8;
use crate::engine::{Exchange, Order};

/// The account index of `sel` (name or API key); the first account without one.
pub fn account_id(ex: &Exchange, sel: Option<&str>) -> Result<usize, ApiError> {
    match sel {
        None => Ok(0),
        Some(s) => ex
            .accounts
            .iter()
            .position(|a| a.name == s || a.api_key == s)
            .ok_or_else(ApiError::bad_key),
    }
}

/// `GET /admin/records`.
pub fn records(
    ex: &mut Exchange,
    sel: Option<&str>,
    query: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let id = account_id(ex, sel)?;
    let since = query
        .get("since_order")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let a = &ex.accounts[id];
    let orders: Vec<Value> = ex
        .orders
        .range(since..)
        .filter(|(_, o)| o.account == id)
        .map(|(_, o)| order_record(o))
        .collect();
    let funding: Vec<Value> = a
        .income
        .iter()
        .filter(|i| i.kind == "FUNDING_FEE")
        .map(|i| {
            json!({"symbol": i.symbol, "asset": i.asset, "income": d8(i.income), "time": i.time, "tranId": i.tran_id})
        })
        .collect();
    let interest: Vec<Value> = a
        .interest
        .iter()
        .map(|i| {
            json!({"asset": i.asset, "interest": d8(i.interest), "principal": d8(i.principal), "type": i.kind, "time": i.time, "txId": i.tx_id})
        })
        .collect();
    let mut balances = Map::new();
    for (asset, b) in &a.spot {
        balances.insert(
            asset.clone(),
            json!({"spot": d8(b.free + b.locked), "margin": "0.00000000", "borrowed": "0.00000000", "interest": "0.00000000"}),
        );
    }
    for (asset, b) in &a.margin {
        let entry = balances
            .entry(asset.clone())
            .or_insert_with(|| json!({"spot": "0.00000000"}));
        entry["margin"] = json!(d8(b.free + b.locked));
        entry["borrowed"] = json!(d8(b.borrowed));
        entry["interest"] = json!(d8(b.interest));
    }
    let positions: Map<String, Value> = a
        .positions
        .iter()
        .filter(|(_, p)| !p.amt.is_zero())
        .map(|(s, p)| (s.clone(), json!(p.amt.normalize().to_string())))
        .collect();
    Ok(json!({
        "now": ex.now,
        "nextOrderId": ex.orders.keys().next_back().map_or(1, |k| k + 1),
        "orders": orders,
        "funding": funding,
        "interest": interest,
        "balances": balances,
        "positions": positions,
        "markets": markets(ex),
        "liquidations": a.liquidations,
    }))
}

/// Adds the order records (replacing the older, shorter order objects) and prices to
/// `GET /admin/state`.
pub fn extend_state(ex: &Exchange, id: usize, state: &mut Value) {
    let orders: Vec<Value> = ex
        .orders
        .values()
        .filter(|o| o.account == id)
        .map(order_record)
        .collect();
    state["orders"] = Value::Array(orders);
    state["markets"] = markets(ex);
}

fn markets(ex: &Exchange) -> Value {
    let map: Map<String, Value> = ex
        .markets
        .iter()
        .map(|(s, m)| {
            (
                s.clone(),
                json!({"base": m.base, "indexPrice": d8(m.index_price()), "markPrice": d8(m.mark_price()), "fundingRate": d8(m.funding_rate)}),
            )
        })
        .collect();
    Value::Object(map)
}

fn order_record(o: &Order) -> Value {
    json!({"orderId": o.id, "venue": format!("{:?}", o.venue), "symbol": o.symbol, "clientOrderId": o.client_id,
        "side": o.side.as_str(), "type": o.kind.as_str(), "timeInForce": o.tif.as_str(), "status": o.status.as_str(),
        "price": d8(o.price), "origQty": d8(o.orig_qty), "executedQty": d8(o.executed_qty), "cumQuote": d8(o.cum_quote),
        "reduceOnly": o.reduce_only, "time": o.time, "updateTime": o.update_time, "receivedUs": o.received_us, "matchedUs": o.matched_us,
        "fills": o.fills.iter().map(|f| json!({"price": d8(f.price), "qty": d8(f.qty), "commission": d8(f.commission),
            "commissionAsset": f.commission_asset, "maker": f.maker, "tradeId": f.trade_id, "time": f.time})).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::config::SimConfig;
    use crate::engine::orders::NewOrder;

    #[test]
    fn an_order_record_carries_its_wall_clock_arrival() {
        // a simulated clock at 0: the arrival stamp is the wall clock, not simulated time
        let mut ex = Exchange::new(SimConfig::default(), 0).unwrap();
        let before = crate::clock::wall_us();
        let order = NewOrder {
            symbol: "BTCUSDT".into(),
            side: crate::engine::Side::Buy,
            kind: crate::engine::OrdType::Market,
            tif: crate::engine::Tif::Gtc,
            qty: Some(dec!(0.001)),
            quote_qty: None,
            price: None,
            client_id: Some("fff1-Se0r0".into()),
            reduce_only: false,
            side_effect: crate::engine::SideEffect::None,
            auto_repay_at_cancel: true,
        };
        ex.place_spot(0, crate::engine::Venue::Margin, order)
            .unwrap();
        let after = crate::clock::wall_us();
        let body = records(&mut ex, None, &HashMap::new()).unwrap();
        let received = body["orders"][0]["receivedUs"].as_i64().unwrap();
        let matched = body["orders"][0]["matchedUs"].as_i64().unwrap();
        assert!(
            before <= received && received <= matched && matched <= after,
            "{received} {matched}"
        );
        assert_eq!(body["orders"][0]["time"], json!(0));
    }
}

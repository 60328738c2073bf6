//! User-data event payloads, shaped like Binance's stream documentation.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::futures::MARGIN_ASSET;
use super::{Exchange, Fill, Order, Side};

pub fn d8(v: Decimal) -> String {
    format!("{:.8}", v)
}

pub fn ds(v: Decimal) -> String {
    v.normalize().to_string()
}

pub fn execution_report(o: &Order, x: &str, fill: Option<&Fill>, now: i64) -> Value {
    let (l, lp, n, na, t, m) = match fill {
        Some(f) => (
            f.qty,
            f.price,
            f.commission,
            Value::from(f.commission_asset.clone()),
            f.trade_id,
            f.maker,
        ),
        None => (
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            Value::Null,
            -1,
            false,
        ),
    };
    json!({
        "e": "executionReport", "E": now, "s": o.symbol, "c": o.client_id, "S": o.side.as_str(),
        "o": o.kind.as_str(), "f": o.tif.as_str(), "q": d8(o.orig_qty), "p": d8(o.price),
        "P": d8(Decimal::ZERO), "F": d8(Decimal::ZERO), "g": -1, "C": "", "x": x, "X": o.status.as_str(),
        "r": "NONE", "i": o.id, "l": d8(l), "z": d8(o.executed_qty), "L": d8(lp), "n": d8(n), "N": na,
        "T": now, "t": t, "I": now, "w": o.status.is_open(), "m": m, "M": false, "O": o.time,
        "Z": d8(o.cum_quote), "Y": d8(l * lp), "Q": d8(o.quote_order_qty), "W": o.time, "V": "NONE"
    })
}

pub fn outbound_account_position(rows: &[(String, Decimal, Decimal)], now: i64) -> Value {
    let b: Vec<Value> = rows
        .iter()
        .map(|(a, f, l)| json!({"a": a, "f": d8(*f), "l": d8(*l)}))
        .collect();
    json!({"e": "outboundAccountPosition", "E": now, "u": now, "B": b})
}

pub fn order_trade_update(o: &Order, x: &str, fill: Option<&Fill>, now: i64) -> Value {
    let (l, lp, n, t, m, rp) = match fill {
        Some(f) => (
            f.qty,
            f.price,
            f.commission,
            f.trade_id,
            f.maker,
            f.realized_pnl,
        ),
        None => (
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            0,
            false,
            Decimal::ZERO,
        ),
    };
    let (bids, asks) = if o.status.is_open() {
        let n = o.remaining() * o.price;
        if o.side == Side::Buy {
            (n, Decimal::ZERO)
        } else {
            (Decimal::ZERO, n)
        }
    } else {
        (Decimal::ZERO, Decimal::ZERO)
    };
    json!({
        "e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
        "o": {
            "s": o.symbol, "c": o.client_id, "S": o.side.as_str(), "o": o.kind.as_str(), "f": o.tif.as_str(),
            "q": ds(o.orig_qty), "p": ds(o.price), "ap": ds(o.avg_price()), "sp": "0", "x": x,
            "X": o.status.as_str(), "i": o.id, "l": ds(l), "z": ds(o.executed_qty), "L": ds(lp),
            "N": MARGIN_ASSET, "n": ds(n), "T": now, "t": t, "b": ds(bids), "a": ds(asks), "m": m,
            "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": o.kind.as_str(), "ps": "BOTH", "cp": false,
            "rp": ds(rp), "pP": false, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0"
        }
    })
}

/// ACCOUNT_UPDATE with the USDT balance and the listed positions; `bc` = balance change
/// excluding PnL and commission (the funding amount for FUNDING_FEE).
pub fn account_update(
    ex: &Exchange,
    account: usize,
    reason: &str,
    symbols: &[String],
    bc: Decimal,
) -> Value {
    let a = &ex.accounts[account];
    let wb = a.wallet(MARGIN_ASSET);
    let positions: Vec<Value> = symbols
        .iter()
        .filter_map(|s| ex.position_risk(account, s))
        .map(|r| {
            let cr = a.positions.get(&r.symbol).map(|p| p.realized).unwrap_or_default();
            json!({"s": r.symbol, "pa": ds(r.amt), "ep": ds(r.entry), "bep": ds(r.entry), "cr": ds(cr),
                "up": d8(r.unrealized), "mt": "cross", "iw": "0", "ps": "BOTH"})
        })
        .collect();
    json!({
        "e": "ACCOUNT_UPDATE", "E": ex.now, "T": ex.now,
        "a": {"m": reason, "B": [{"a": MARGIN_ASSET, "wb": d8(wb), "cw": d8(wb), "bc": d8(bc)}], "P": positions}
    })
}

pub fn margin_call(ex: &Exchange, account: usize) -> Value {
    let p: Vec<Value> = ex
        .position_risks(account)
        .into_iter()
        .filter(|r| !r.amt.is_zero())
        .map(|r| {
            json!({"s": r.symbol, "ps": "BOTH", "pa": ds(r.amt), "mt": "CROSSED", "iw": "0",
            "mp": ds(r.mark), "up": d8(r.unrealized), "mm": d8(r.maint_margin)})
        })
        .collect();
    json!({"e": "MARGIN_CALL", "E": ex.now, "cw": d8(ex.accounts[account].wallet(MARGIN_ASSET)), "p": p})
}

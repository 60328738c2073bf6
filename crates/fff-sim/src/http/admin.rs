//! Admin JSON endpoints for tests and demos: clock, faults, funding, shocks, account state.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Sim;
use crate::ApiError;
use crate::config::FaultConfig;
use crate::engine::Exchange;
use crate::engine::events::d8;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Body {
    ms: Option<i64>,
    hours: Option<i64>,
    symbol: Option<String>,
    rate: Option<Decimal>,
    flip: bool,
    pct: Option<Decimal>,
    account: Option<String>,
}

/// The longest single clock advance (a year).
const MAX_ADVANCE_MS: i64 = 366 * 24 * 3_600_000;

pub async fn handle(
    State(sim): State<Arc<Sim>>,
    Path(rest): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    method: Method,
    body: Bytes,
) -> Response {
    let b: Body = if body.is_empty() {
        Body::default()
    } else {
        serde_json::from_slice(&body).unwrap_or_default()
    };
    let account_sel = b.account.clone().or_else(|| q.get("account").cloned());
    let result: Result<Value, ApiError> = match (method.as_str(), rest.as_str()) {
        ("GET", "clock") => Ok(json!({"now": sim.clock.now_ms(), "serverTime": sim.server_time()})),
        ("POST", "clock/advance") => {
            let ms = b.ms.or(b.hours.map(|h| h.saturating_mul(3_600_000))).or_else(|| q.get("ms").and_then(|v| v.parse().ok())).unwrap_or(0);
            // a year at most per call: the engine steps through every hour it skips
            if !(0..=MAX_ADVANCE_MS).contains(&ms) {
                Err(ApiError::bad(-1100, format!("ms must be between 0 and {MAX_ADVANCE_MS} (one year) per advance, got {ms}")))
            } else {
                sim.clock.advance(ms);
                Ok(sim.with(|ex| json!({"now": ex.now})))
            }
        }
        ("GET", "faults") => Ok(sim.with(|ex| serde_json::to_value(&ex.faults).unwrap_or(Value::Null))),
        ("POST", "faults") => {
            let merged = sim.with(|ex| {
                let mut cur = serde_json::to_value(&ex.faults).unwrap_or(Value::Null);
                if let (Some(c), Ok(Value::Object(patch))) = (cur.as_object_mut(), serde_json::from_slice::<Value>(&body)) {
                    c.extend(patch);
                }
                serde_json::from_value::<FaultConfig>(cur).map(|f| {
                    ex.faults = f;
                    serde_json::to_value(&ex.faults).unwrap_or(Value::Null)
                })
            });
            merged.map_err(|e| ApiError::bad(-1, format!("bad faults: {e}")))
        }
        ("POST", "funding") => sim.with(|ex| {
            let symbol = b.symbol.clone().unwrap_or_default();
            ex.set_funding(&symbol, b.rate, b.flip).map(|r| json!({"symbol": symbol, "fundingRate": d8(r)}))
        }),
        ("POST", "shock") => sim
            .with(|ex| {
                let symbol = b.symbol.clone().unwrap_or_default();
                let m = ex.markets.get_mut(&symbol).ok_or_else(ApiError::invalid_symbol)?;
                m.shock(b.pct.unwrap_or_default());
                Ok(json!({"symbol": symbol, "indexPrice": d8(m.index_price()), "markPrice": d8(m.mark_price())}))
            })
            .inspect(|_| sim.books_moved(vec![b.symbol.clone().unwrap_or_default()])),
        // the venue closes every perp of the account at the mark, as its liquidation engine (or an
        // auto-deleverage) would: for testing how a client learns of a perp it did not close
        ("POST", "liquidate") => sim.with(|ex| {
            let id = account_index(ex, account_sel.as_deref())?;
            let before = ex.accounts[id].liquidations;
            let now = ex.now;
            ex.liquidate(id, now);
            Ok(json!({"liquidated": ex.accounts[id].liquidations - before}))
        }),
        ("POST", "ws/disconnect") => {
            sim.kick_websockets();
            Ok(json!({"ok": true}))
        }
        ("GET", "accounts") => Ok(sim.with(|ex| json!(ex.accounts.iter().map(|a| json!({"name": a.name, "apiKey": a.api_key})).collect::<Vec<_>>()))),
        ("GET", "state") => sim.with(|ex| state(ex, account_sel.as_deref())),
        ("GET", "records") => sim.with(|ex| super::records::records(ex, account_sel.as_deref(), &q)),
        _ => return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "unknown admin endpoint"}))).into_response(),
    };
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => super::error_response(&e, Vec::new()),
    }
}

/// The account named (by name or API key) in `sel`; the first one when none is.
pub(super) fn account_index(ex: &Exchange, sel: Option<&str>) -> Result<usize, ApiError> {
    match sel {
        None => Ok(0),
        Some(s) => ex
            .accounts
            .iter()
            .position(|a| a.name == s || a.api_key == s)
            .ok_or_else(ApiError::bad_key),
    }
}

fn state(ex: &mut Exchange, sel: Option<&str>) -> Result<Value, ApiError> {
    let id = account_index(ex, sel)?;
    let totals = ex.futures_totals(id);
    let level = ex.margin_level(id);
    let a = &ex.accounts[id];
    let mut state = json!({
        "name": a.name, "now": ex.now,
        "spot": a.spot.iter().map(|(k, b)| (k.clone(), json!({"free": d8(b.free), "locked": d8(b.locked)}))).collect::<serde_json::Map<_, _>>(),
        "margin": a.margin.iter().map(|(k, b)| (k.clone(), json!({"free": d8(b.free), "locked": d8(b.locked), "borrowed": d8(b.borrowed), "interest": d8(b.interest)}))).collect::<serde_json::Map<_, _>>(),
        "marginLevel": d8(level), "marginStatus": a.margin_status,
        "futures": {"walletBalance": d8(totals.wallet), "unrealizedProfit": d8(totals.unrealized), "marginBalance": d8(totals.margin_balance),
            "maintMargin": d8(totals.maint_margin), "availableBalance": d8(totals.available)},
        "positions": a.positions.iter().filter(|(_, p)| !p.amt.is_zero()).map(|(s, p)| json!({"symbol": s, "positionAmt": p.amt.to_string(), "entryPrice": p.entry.to_string()})).collect::<Vec<_>>(),
        "liquidations": a.liquidations,
        "income": a.income.iter().map(|i| json!({"symbol": i.symbol, "incomeType": i.kind, "income": d8(i.income), "time": i.time})).collect::<Vec<_>>(),
        "interest": a.interest.iter().map(|i| json!({"asset": i.asset, "interest": d8(i.interest), "type": i.kind, "time": i.time})).collect::<Vec<_>>()
    });
    // orders (by client order id, with fill times) and prices
    super::records::extend_state(ex, id, &mut state);
    Ok(state)
}

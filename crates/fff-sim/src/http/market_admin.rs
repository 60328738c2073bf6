//! Admin knobs on a listing's prices that `/admin/shock` cannot express (tests of the strategy's
//! rules across processes):
//!
//! * `POST /admin/basis {"symbol","pct":"2"}`: the perp (mark) trades `pct` % away from the
//!   index (the spot book's mid); the index does not move. The basis then reverts towards the
//!   funding-implied premium as the clock runs (time constant ten simulated minutes), so a test
//!   that needs the divergence to last posts it again.
//! * `POST /admin/shocks {"shocks":[{"symbol","pct"}, ..]}`: several `/admin/shock` moves at
//!   one simulated instant, so no client sees the account between them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Sim;
use crate::ApiError;
use crate::engine::events::d8;

#[derive(Debug, Deserialize)]
pub struct Move {
    symbol: String,
    pct: Decimal,
}

#[derive(Debug, Deserialize)]
pub struct Moves {
    shocks: Vec<Move>,
}

/// `POST /admin/basis`.
pub async fn basis(State(sim): State<Arc<Sim>>, Json(body): Json<Move>) -> Response {
    // the engine clamps the basis to +-50 % as it steps
    let basis = (body.pct / dec!(100)).clamp(dec!(-0.5), dec!(0.5));
    let result = sim.with(|ex| {
        let market = ex
            .markets
            .get_mut(&body.symbol)
            .filter(|m| m.perp.is_some())
            .ok_or_else(ApiError::invalid_symbol)?;
        market.basis = basis;
        Ok(json!({"symbol": body.symbol, "indexPrice": d8(market.index_price()), "markPrice": d8(market.mark_price())}))
    });
    answer(result)
}

/// `POST /admin/shocks`: every symbol is checked before any price moves.
pub async fn shocks(State(sim): State<Arc<Sim>>, Json(body): Json<Moves>) -> Response {
    let result = sim.with(|ex| {
        if body.shocks.iter().any(|s| !ex.markets.contains_key(&s.symbol)) {
            return Err(ApiError::invalid_symbol());
        }
        let mut moved = Vec::new();
        for shock in &body.shocks {
            if let Some(market) = ex.markets.get_mut(&shock.symbol) {
                market.shock(shock.pct);
                // `atUs`: the wall-clock microsecond of the move, on the clock of the orders'
                // `receivedUs` (a reaction is timed from here to the venue)
                moved.push(json!({"symbol": shock.symbol, "indexPrice": d8(market.index_price()), "markPrice": d8(market.mark_price()), "atUs": crate::clock::wall_us()}));
            }
        }
        Ok(Value::Array(moved))
    });
    if result.is_ok() {
        sim.books_moved(body.shocks.iter().map(|s| s.symbol.clone()).collect());
    }
    answer(result)
}

fn answer(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => super::error_response(&error, Vec::new()),
    }
}

//! Admin knobs on a listing's prices that `/admin/shock` cannot express (tests of the strategy's
//! rules across processes):
//!
//! * `POST /admin/basis {"symbol","pct":"2"}`: the perp (mark) trades `pct` % away from the
//!   index (the spot book's mid); the index does not move. The basis then reverts towards the
//!   funding-implied premium as the clock runs (time constant ten simulated minutes), so a test
//!   that needs the divergence to last posts it again.
//! * `POST /admin/shocks {"shocks":[{"symbol","pct"}, ..]}`: several `/admin/shock` moves at
//!   one simulated instant, so no client sees the account between them.
//! * `POST /admin/shock_coverage {"account","coverage":"2.5"}`: moves every perp the account
//!   holds against it (shorts up, longs down, by one fraction) until its futures margin
//!   coverage (margin balance / maintenance margin) is `coverage`, sized and applied under the
//!   venue's lock, so no transfer or fill lands between the sizing and the move (a move sized
//!   from a state read went far below Orange when a transfer landed in between). No move when
//!   the coverage is already at or below the target.

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

#[derive(Debug, Deserialize)]
pub struct CoverageTarget {
    account: Option<String>,
    coverage: Decimal,
}

/// Sizing rounds of `/admin/shock_coverage`: each re-reads the account after the last move,
/// so a maintenance bracket crossed on the way is corrected for.
const COVERAGE_ROUNDS: usize = 4;
/// Close enough to the target coverage.
const COVERAGE_SLACK: Decimal = dec!(0.01);

/// `POST /admin/shock_coverage`. The answer lists each symbol's total move (`pct`, which
/// `/admin/shocks` can undo), the coverage reached and `atUs`, the wall-clock microsecond of
/// the first move (the clock of the orders' `receivedUs`).
pub async fn shock_coverage(
    State(sim): State<Arc<Sim>>,
    Json(body): Json<CoverageTarget>,
) -> Response {
    let target = body.coverage;
    let result = sim.with(|ex| {
        if target <= Decimal::ZERO {
            return Err(ApiError::bad(-1100, "coverage must be above 0".to_owned()));
        }
        let account = super::admin::account_index(ex, body.account.as_deref())?;
        let coverage = |ex: &crate::engine::Exchange| {
            let totals = ex.futures_totals(account);
            totals.margin_balance.checked_div(totals.maint_margin)
        };
        let mut factors: Vec<(String, Decimal)> = Vec::new();
        let mut at_us = None;
        for _ in 0..COVERAGE_ROUNDS {
            let Some(now) = coverage(ex) else { break };
            if (now - target).abs() <= COVERAGE_SLACK || (factors.is_empty() && now <= target) {
                break;
            }
            // balance - notional * x = target * (maint_short * (1 + x) + maint_long * (1 - x))
            let risks: Vec<_> = ex
                .position_risks(account)
                .into_iter()
                .filter(|r| !r.amt.is_zero())
                .collect();
            let totals = ex.futures_totals(account);
            let notional: Decimal = risks.iter().map(|r| r.notional.abs()).sum();
            let short_maint: Decimal = risks
                .iter()
                .filter(|r| r.amt < Decimal::ZERO)
                .map(|r| r.maint_margin)
                .sum();
            let long_maint = totals.maint_margin - short_maint;
            let Some(x) = (totals.margin_balance - target * totals.maint_margin)
                .checked_div(notional + target * (short_maint - long_maint))
            else {
                break;
            };
            let x = x.clamp(dec!(-0.5), dec!(0.9));
            at_us.get_or_insert_with(crate::clock::wall_us);
            for risk in &risks {
                let pct = if risk.amt < Decimal::ZERO { x } else { -x } * dec!(100);
                if let Some(market) = ex.markets.get_mut(&risk.symbol) {
                    market.shock(pct);
                }
                let factor = Decimal::ONE + pct / dec!(100);
                match factors.iter_mut().find(|(s, _)| *s == risk.symbol) {
                    Some((_, total)) => *total *= factor,
                    None => factors.push((risk.symbol.clone(), factor)),
                }
            }
        }
        let moves: Vec<Value> = factors
            .iter()
            .map(|(symbol, factor)| json!({"symbol": symbol, "pct": d8((factor - Decimal::ONE) * dec!(100))}))
            .collect();
        let symbols: Vec<String> = factors.into_iter().map(|(s, _)| s).collect();
        Ok((json!({"moves": moves, "coverage": coverage(ex).map(d8), "atUs": at_us}), symbols))
    });
    let result = result.map(|(answer, symbols)| {
        if !symbols.is_empty() {
            sim.books_moved(symbols);
        }
        answer
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

//! Tier rounds of `fff bench`: a price move at the venue that takes the futures margin coverage
//! into Orange, timed to the first deleverage order the venue receives after it.
//!
//! With the strategy's hedges held, one `POST /admin/shocks` moves every held perp against the
//! account (shorts up, longs down) by the fraction that lands the coverage (margin balance /
//! maintenance margin) at [`TARGET`]; the venue stamps the move (`atUs`) on the clock of the
//! orders' `receivedUs`. Measured: that stamp to the first reduction order (`-Pd<n>` / `-Sd<n>`,
//! the executor's answer to risk's EMERGENCY_DELEVERAGE) at the venue. Top-up entries that
//! happen to arrive first are not counted. The prices are then moved back, risk returns to Green
//! and resumes entries, and the strategy tops the halved hedges up for the next round.

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::Value;

use crate::soak::suite::SoakSuite;
use crate::soak::venue::VenueRecords;

/// Futures margin coverage a round's move aims for: inside Orange (2-3 at the defaults), a
/// margin away from Red (2) and from the venue's liquidation (1).
const TARGET: Decimal = Decimal::from_parts(25, 0, 0, false, 1);
/// Longest wait for the first reduction after a move.
const REDUCE_WAIT: Duration = Duration::from_secs(10);
/// How often the venue's records are read while waiting (the measurement is the venue's own
/// stamps; this only bounds the wait's cost).
const POLL: Duration = Duration::from_millis(20);

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|s| Decimal::from_str(s).ok())
        .unwrap_or_default()
}

/// One move per held perp, all against the account (shorts up, longs down, by the same x),
/// sized so that the coverage lands at [`TARGET`]:
/// `balance - notional * x = TARGET * (maint_short * (1 + x) + maint_long * (1 - x))`, each
/// side's maintenance its share of the total by notional (the same rate). A long's maintenance
/// shrinks with its price: counted as growing, the moves landed at 2.9-3.3 instead of 2.5.
/// `None` when nothing is held or the coverage is already at or below the target.
pub(super) fn orange_moves(state: &Value) -> Option<Vec<(String, Decimal)>> {
    let futures = &state["futures"];
    let balance = dec(&futures["marginBalance"]);
    let maint = dec(&futures["maintMargin"]);
    if maint <= Decimal::ZERO {
        return None;
    }
    let (mut notional, mut short_notional) = (Decimal::ZERO, Decimal::ZERO);
    let mut sides = Vec::new();
    for position in state["positions"].as_array().into_iter().flatten() {
        let symbol = position["symbol"].as_str().unwrap_or_default().to_owned();
        let amount = dec(&position["positionAmt"]);
        if amount.is_zero() {
            continue;
        }
        let value = amount.abs() * dec(&state["markets"][&symbol]["markPrice"]);
        notional += value;
        if amount < Decimal::ZERO {
            short_notional += value;
        }
        sides.push((symbol, amount < Decimal::ZERO));
    }
    let short_maint = maint * short_notional.checked_div(notional)?;
    let long_maint = maint - short_maint;
    let x =
        (balance - TARGET * maint).checked_div(notional + TARGET * (short_maint - long_maint))?;
    if sides.is_empty() || x <= Decimal::ZERO || x >= Decimal::ONE {
        return None;
    }
    let pct = x * Decimal::ONE_HUNDRED;
    Some(
        sides
            .into_iter()
            .map(|(symbol, short)| (symbol, if short { pct } else { -pct }.round_dp(4)))
            .collect(),
    )
}

/// The moves that undo `moves` (a move of p % is undone by 100 / (1 + p/100) - 100 %).
fn undo(moves: &[(String, Decimal)]) -> Vec<(String, Decimal)> {
    moves
        .iter()
        .map(|(symbol, pct)| {
            let factor = Decimal::ONE + pct / Decimal::ONE_HUNDRED;
            let back = (Decimal::ONE / factor - Decimal::ONE) * Decimal::ONE_HUNDRED;
            (symbol.clone(), back.round_dp(4))
        })
        .collect()
}

/// Whether `client_order_id` is a reduction ordered by a risk directive.
fn is_reduction(client_order_id: &str) -> bool {
    ["-Pd", "-Sd"]
        .iter()
        .any(|step| client_order_id.contains(step))
}

/// How one tier round went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Round {
    /// Microseconds from the move to the first reduction at the venue.
    Reaction(i64),
    /// Moved, but no reduction came within [`REDUCE_WAIT`]: reported, never dropped.
    NoReduction,
    /// Nothing held, or the coverage already at or below the target: no move.
    NotMoved,
}

/// One tier round.
pub(super) async fn round(suite: &SoakSuite, records: &mut VenueRecords) -> anyhow::Result<Round> {
    let state = suite.venue.state().await?;
    let Some(moves) = orange_moves(&state) else {
        return Ok(Round::NotMoved);
    };
    suite.venue.refresh(records).await?;
    let before = records.next_order_id;
    let moved_at = suite.venue.shocks(&moves).await?;
    let deadline = Instant::now() + REDUCE_WAIT;
    let reaction = loop {
        suite.venue.refresh(records).await?;
        let first = records
            .orders
            .range(before..)
            .map(|(_, o)| o)
            .find(|o| is_reduction(&o.client_order_id));
        if let Some(order) = first {
            break Round::Reaction(order.received_us - moved_at);
        }
        if Instant::now() >= deadline {
            break Round::NoReduction;
        }
        tokio::time::sleep(POLL).await;
    };
    // let the deleverage finish before the prices go back
    let quiet_deadline = Instant::now() + REDUCE_WAIT;
    while Instant::now() < quiet_deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        suite.venue.refresh(records).await?;
        if !records.orders.values().any(|o| o.is_open()) && super::settled(suite, records).await? {
            break;
        }
    }
    suite.venue.shocks(&undo(&moves)).await?;
    Ok(reaction)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::*;

    #[test]
    fn moves_land_the_coverage_at_the_target_against_each_side() {
        // balance 1 000, maintenance 20 (coverage 50); a short and a long of 5 000 each
        let state = json!({
            "futures": {"marginBalance": "1000", "maintMargin": "20"},
            "positions": [
                {"symbol": "BTCUSDT", "positionAmt": "-0.05"},
                {"symbol": "SOLUSDT", "positionAmt": "25"},
                {"symbol": "ETHUSDT", "positionAmt": "0"},
            ],
            "markets": {
                "BTCUSDT": {"markPrice": "100000"},
                "SOLUSDT": {"markPrice": "200"},
            },
        });
        let moves = orange_moves(&state).unwrap();
        // maintenance 10 a side: x = (1000 - 50) / (10000 + 2.5 * 0) = 9.5 %; after it the
        // balance is 1000 - 950 = 50 and the maintenance 10 * 1.095 + 10 * 0.905 = 20: 2.5
        assert_eq!(
            moves,
            [
                ("BTCUSDT".to_owned(), dec!(9.5)),
                ("SOLUSDT".to_owned(), dec!(-9.5)),
            ]
        );
        // back: 1 / 1.095 - 1 = -8.6758 %; 1 / 0.905 - 1 = +10.4972 %
        assert_eq!(
            undo(&moves),
            [
                ("BTCUSDT".to_owned(), dec!(-8.6758)),
                ("SOLUSDT".to_owned(), dec!(10.4972)),
            ]
        );
        // shorts only: the whole maintenance grows, x = 950 / (5000 + 50) = 18.8119 %
        let shorts = json!({
            "futures": {"marginBalance": "1000", "maintMargin": "20"},
            "positions": [{"symbol": "BTCUSDT", "positionAmt": "-0.05"}],
            "markets": {"BTCUSDT": {"markPrice": "100000"}},
        });
        assert_eq!(
            orange_moves(&shorts).unwrap(),
            [("BTCUSDT".to_owned(), dec!(18.8119))]
        );
        // already at the target or nothing held: no move
        let low = json!({"futures": {"marginBalance": "50", "maintMargin": "20"},
            "positions": [{"symbol": "BTCUSDT", "positionAmt": "-0.05"}],
            "markets": {"BTCUSDT": {"markPrice": "100000"}}});
        assert_eq!(orange_moves(&low), None);
        let flat = json!({"futures": {"marginBalance": "1000", "maintMargin": "0"}});
        assert_eq!(orange_moves(&flat), None);
    }

    #[test]
    fn only_risk_reductions_count() {
        assert!(is_reduction("fff12-Pd0"));
        assert!(is_reduction("fff12-Sd3"));
        assert!(!is_reduction("fff12-Pe4"));
        assert!(!is_reduction("fff12-Se4r0"));
        assert!(!is_reduction("fff12-Px0"));
    }
}

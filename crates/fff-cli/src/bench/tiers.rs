//! Tier rounds of `fff bench`: a price move at the venue that takes the futures margin coverage
//! into Orange, timed to the first deleverage order the venue receives after it.
//!
//! With the strategy's hedges held, one `POST /admin/shock_coverage` moves every held perp
//! against the account (shorts up, longs down) by the fraction that lands the coverage (margin
//! balance / maintenance margin) at [`TARGET`]. The venue sizes the move under its own lock:
//! sized here from a state read, a move once went far below Orange (and the venue liquidated
//! the account) because the wallet keeper's transfer out of the futures wallet landed between
//! the read and the move. The venue stamps the move (`atUs`) on the clock of the orders'
//! `receivedUs`. Measured: that stamp to the first reduction order (`-Pd<n>` / `-Sd<n>`,
//! the executor's answer to risk's EMERGENCY_DELEVERAGE) at the venue. Top-up entries that
//! happen to arrive first are not counted. The prices are then moved back, risk returns to Green
//! and resumes entries, and the strategy tops the halved hedges up for the next round.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;

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
    suite.venue.refresh(records).await?;
    let before = records.next_order_id;
    let (moves, moved_at) = suite.venue.shock_to_coverage(TARGET).await?;
    let Some(moved_at) = moved_at.filter(|_| !moves.is_empty()) else {
        return Ok(Round::NotMoved);
    };
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

    use super::*;

    #[test]
    fn a_move_is_undone_by_its_inverse() {
        let moves = [
            ("BTCUSDT".to_owned(), dec!(9.5)),
            ("SOLUSDT".to_owned(), dec!(-9.5)),
        ];
        // 1 / 1.095 - 1 = -8.6758 %; 1 / 0.905 - 1 = +10.4972 %
        assert_eq!(
            undo(&moves),
            [
                ("BTCUSDT".to_owned(), dec!(-8.6758)),
                ("SOLUSDT".to_owned(), dec!(10.4972)),
            ]
        );
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

//! Store/engine values -> wire messages, and request validation helpers.

use fff_core::Direction;
use fff_proto::FieldError;
use fff_proto::convert::{datetime_to_timestamp, decimal_to_string, optional_decimal_to_string};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1 as pb;
use fff_store::{Position, PositionState};
use rust_decimal::Decimal;

use crate::engine::{Engine, EngineEvent, RunState};
use crate::legs::core_direction;
use crate::pnl::Breakdown;

pub fn status(position: &Position, max_drift: Decimal) -> pb::PositionStatus {
    match position.state {
        PositionState::Opening => pb::PositionStatus::Opening,
        PositionState::Open | PositionState::Rebalancing
            if position
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("broken"))
                && drift(position) > max_drift =>
        {
            pb::PositionStatus::Broken
        }
        PositionState::Open => pb::PositionStatus::Open,
        PositionState::Rebalancing => pb::PositionStatus::Adjusting,
        PositionState::Closing => pb::PositionStatus::Closing,
        PositionState::Closed => pb::PositionStatus::Closed,
        PositionState::Failed => pb::PositionStatus::Failed,
    }
}

pub fn state_filter(status: pb::PositionStatus) -> Vec<PositionState> {
    match status {
        pb::PositionStatus::Opening => vec![PositionState::Opening],
        pb::PositionStatus::Open | pb::PositionStatus::Broken => vec![PositionState::Open],
        pb::PositionStatus::Adjusting => vec![PositionState::Rebalancing],
        pb::PositionStatus::Closing => vec![PositionState::Closing],
        pb::PositionStatus::Closed => vec![PositionState::Closed],
        pb::PositionStatus::Failed => vec![PositionState::Failed],
        pb::PositionStatus::Unspecified => PositionState::ALL.to_vec(),
    }
}

/// Signed (spot, perp) quantities.
pub fn signed(position: &Position) -> (Decimal, Decimal) {
    match core_direction(position.direction) {
        Direction::PositiveCarry => (position.spot_qty, -position.perp_qty),
        Direction::NegativeCarry => (-position.spot_qty, position.perp_qty),
    }
}

pub fn drift(position: &Position) -> Decimal {
    let (spot, perp) = signed(position);
    fff_core::delta_drift(spot, perp)
}

/// The spot leg the account holds: the books count what the buys bought, the venue keeps
/// the commission a buy paid in the coin (0.1 % at the default tier), so a long leg holds
/// that much less and a short one owes that much more. Terminal positions show the books.
pub fn held_spot_qty(position: &Position, base_commission: Decimal) -> Decimal {
    if position.state.is_terminal() || base_commission <= Decimal::ZERO {
        return position.spot_qty;
    }
    match core_direction(position.direction) {
        Direction::PositiveCarry => (position.spot_qty - base_commission).max(Decimal::ZERO),
        Direction::NegativeCarry => position.spot_qty + base_commission,
    }
}

#[allow(clippy::too_many_arguments)]
fn leg(
    venue: common::Venue,
    side: common::Side,
    qty: Decimal,
    target: Decimal,
    entry: Option<Decimal>,
    mark: Option<Decimal>,
    borrowed: Decimal,
    long: bool,
) -> pb::Leg {
    let unrealized = match (entry, mark) {
        (Some(entry), Some(mark)) => {
            let per_unit = if long { mark - entry } else { entry - mark };
            decimal_to_string((per_unit * qty).round_dp(8))
        }
        _ => String::new(),
    };
    pb::Leg {
        venue: venue as i32,
        side: side as i32,
        quantity: decimal_to_string(qty),
        target_quantity: decimal_to_string(target),
        avg_entry_price: optional_decimal_to_string(entry),
        mark_price: optional_decimal_to_string(mark),
        notional: mark
            .map(|m| decimal_to_string((qty * m).round_dp(8)))
            .unwrap_or_default(),
        borrowed: decimal_to_string(borrowed),
        unrealized_pnl: unrealized,
    }
}

pub fn position(engine: &Engine, position: &Position, pnl: Option<&Breakdown>) -> pb::Position {
    let direction = core_direction(position.direction);
    let mark = engine.mark(&position.symbol);
    let target_qty = mark
        .filter(|m| *m > Decimal::ZERO)
        .map(|m| (position.target_notional / m).round_dp(8))
        .unwrap_or_default();
    let (spot_side, perp_side) = match direction {
        Direction::PositiveCarry => (common::Side::Buy, common::Side::Sell),
        Direction::NegativeCarry => (common::Side::Sell, common::Side::Buy),
    };
    let borrowed = if direction.borrows() {
        position.spot_qty
    } else {
        Decimal::ZERO
    };
    let held = held_spot_qty(
        position,
        pnl.map_or(Decimal::ZERO, |p| p.spot_base_commission),
    );
    let spot_leg = leg(
        common::Venue::SpotMargin,
        spot_side,
        held,
        target_qty,
        position.spot_entry_price,
        mark,
        borrowed,
        spot_side == common::Side::Buy,
    );
    let perp_leg = leg(
        common::Venue::UsdmPerp,
        perp_side,
        position.perp_qty,
        target_qty,
        position.perp_entry_price,
        mark,
        Decimal::ZERO,
        perp_side == common::Side::Buy,
    );
    // net delta and drift as the account holds them (the spot leg net of its commission)
    let held_position = Position {
        spot_qty: held,
        ..position.clone()
    };
    let (spot, perp) = signed(&held_position);
    let annotation = engine.annotation(position.id);
    let pnl = pnl.cloned().unwrap_or_default();
    pb::Position {
        position_id: position.id.to_string(),
        symbol: position.symbol.clone(),
        direction: common::Direction::from(direction) as i32,
        status: status(position, engine.params().execution.max_entry_leg_drift) as i32,
        spot_leg: Some(spot_leg),
        perp_leg: Some(perp_leg),
        target_notional: decimal_to_string(position.target_notional),
        leverage: u32::try_from(position.leverage).unwrap_or(0),
        net_delta: decimal_to_string(spot + perp),
        drift: decimal_to_string(drift(&held_position).round_dp(8)),
        funding_net: decimal_to_string(pnl.funding_actual()),
        borrow_interest: decimal_to_string(-pnl.borrow_interest),
        fees: decimal_to_string(-(pnl.fees_spot + pnl.fees_perp)),
        realized_pnl: decimal_to_string(pnl.realized()),
        unrealized_pnl: decimal_to_string(pnl.unrealized),
        opened_by: annotation.opened_by.unwrap_or(pb::Initiator::Unspecified) as i32,
        open_reason: annotation.open_reason,
        close_reason: position
            .last_error
            .clone()
            .filter(|_| position.state.is_terminal())
            .unwrap_or(annotation.close_reason),
        approval_id: annotation.approval_id,
        flipped_from_position_id: annotation
            .flipped_from
            .map(|id| id.to_string())
            .unwrap_or_default(),
        opened_at: datetime_to_timestamp(position.opened_at.unwrap_or(position.created_at)),
        closed_at: position.closed_at.and_then(datetime_to_timestamp),
        updated_at: datetime_to_timestamp(position.updated_at),
        opportunity_received_at: annotation
            .opportunity_received_at
            .and_then(datetime_to_timestamp),
    }
}

pub fn breakdown(b: &Breakdown) -> pb::PnlBreakdown {
    pb::PnlBreakdown {
        funding_received: decimal_to_string(b.funding_received),
        funding_paid: decimal_to_string(b.funding_paid),
        borrow_interest: decimal_to_string(b.borrow_interest),
        fees_spot: decimal_to_string(b.fees_spot),
        fees_perp: decimal_to_string(b.fees_perp),
        basis_pnl_spot: decimal_to_string(b.basis_spot),
        basis_pnl_perp: decimal_to_string(b.basis_perp),
        realized: decimal_to_string(b.realized()),
        unrealized: decimal_to_string(b.unrealized),
        net: decimal_to_string(b.net()),
        funding_expected: decimal_to_string(b.funding_expected),
        funding_actual: decimal_to_string(b.funding_actual()),
        funding_discrepancy: decimal_to_string(b.funding_discrepancy),
        liquidation_fees: decimal_to_string(b.liquidation_fees),
    }
}

pub fn run_state(engine: &Engine, state: &RunState, live: usize) -> pb::ExecutorStatus {
    let (reconciliation_mismatches, entries_blocked_symbols) = engine.mismatch_view();
    pb::ExecutorStatus {
        reconciliation_mismatches,
        entries_blocked_symbols,
        paused: state.paused,
        reason: state.reason.clone(),
        changed_by: state.changed_by.clone(),
        changed_at: state.changed_at.and_then(datetime_to_timestamp),
        entries_halted_by_risk: state.entries_halted_by_risk,
        live_positions: u32::try_from(live).unwrap_or(u32::MAX),
    }
}

pub fn event(engine: &Engine, event: &EngineEvent) -> pb::PositionEvent {
    pb::PositionEvent {
        kind: event.kind as i32,
        position: Some(position(engine, &event.position, None)),
        initiator: event.initiator as i32,
        detail: event.detail.clone(),
        amount: optional_decimal_to_string(event.amount),
        client_order_id: event.client_order_id.clone().unwrap_or_default(),
    }
}

/// `request_id`: 1-64 characters.
pub fn request_id(raw: &str) -> Result<(), FieldError> {
    if raw.is_empty() {
        return Err(FieldError::missing("request_id"));
    }
    if raw.chars().count() > 64 {
        return Err(FieldError::invalid(
            "request_id",
            "must be at most 64 characters",
        ));
    }
    Ok(())
}

pub fn reason(raw: &str) -> Result<(), FieldError> {
    if raw.trim().is_empty() {
        return Err(FieldError::missing("reason"));
    }
    Ok(())
}

pub fn position_id(field: &str, raw: &str) -> Result<i64, FieldError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| FieldError::invalid(field, "not a position id"))
}

#[cfg(test)]
mod held_tests {
    use chrono::Utc;
    use rust_decimal_macros::dec;

    use super::*;

    fn position(direction: fff_store::Direction, state: PositionState) -> Position {
        Position {
            id: 1,
            symbol: "XRPUSDT".into(),
            direction,
            state,
            spot_qty: dec!(26415.3),
            spot_entry_price: None,
            perp_qty: dec!(26415.3),
            perp_entry_price: None,
            target_notional: dec!(60000),
            leverage: 3,
            opened_at: None,
            closed_at: None,
            last_error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    /// `fff status` showed a long XRP leg of 26,415.3 while the venue held 26,388.88: the
    /// buys paid 26.42 XRP of commission in the coin.
    #[test]
    fn a_long_leg_is_shown_net_of_the_commission_its_buys_paid_in_the_coin() {
        let long = position(fff_store::Direction::LongSpotShortPerp, PositionState::Open);
        assert_eq!(held_spot_qty(&long, dec!(26.42)), dec!(26388.88));
        let short = position(fff_store::Direction::ShortSpotLongPerp, PositionState::Open);
        assert_eq!(held_spot_qty(&short, dec!(0.5)), dec!(26415.8));
        let closed = position(
            fff_store::Direction::LongSpotShortPerp,
            PositionState::Closed,
        );
        assert_eq!(held_spot_qty(&closed, dec!(26.42)), dec!(26415.3));
        assert_eq!(held_spot_qty(&long, Decimal::ZERO), dec!(26415.3));
    }
}

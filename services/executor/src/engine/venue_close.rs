//! A perp the venue closed without an order of ours: a liquidation, an auto-deleverage or a
//! delisting settlement. Binance announces it on the futures user stream as an
//! ORDER_TRADE_UPDATE of its own order (execution type `CALCULATED` for a liquidation; client
//! ids `autoclose-…`, `adl_autoclose`, `settlement_autoclose-…`). The order is booked on the
//! live position of its symbol, so its legs, P&L and the reconciliation count it, and the spot
//! leg it hedged, now naked, is closed at once.

use std::sync::Arc;

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::Initiator;
use fff_proto::fff::gateway::v1 as gw;
use fff_store::{Leg, OrderIntent, OrderType, Position, SideEffect, Venue};

use super::orders::update_from;
use super::{Engine, Urgency};
use crate::error::{ExecutorError, Result};
use crate::legs::{SignedLegs, core_direction};

#[cfg(test)]
#[test]
fn one_liquidation_of_several_symbols_is_several_rows() {
    let order = |symbol: &str, id: u64| gw::Order {
        symbol: symbol.into(),
        client_order_id: "autoclose-1796477533843".into(),
        exchange_order_id: id,
        ..gw::Order::default()
    };
    assert_eq!(row_id(&order("DOGEUSDT", 81)), "autoclose-1796477533843.81");
    assert_ne!(
        row_id(&order("DOGEUSDT", 81)),
        row_id(&order("XRPUSDT", 82))
    );
    let long = gw::Order {
        client_order_id: "settlement_autoclose-1796477533843".into(),
        ..order("XRPUSDT", 123_456_789_012)
    };
    assert_eq!(row_id(&long).len(), 36);
    assert!(row_id(&long).ends_with(".123456789012"));
}

/// Whether `order` is the venue's own close of a perp (never one of ours: our ids never start
/// with these prefixes).
pub(crate) fn is_venue_close(order: &gw::Order, execution_type: &str) -> bool {
    let id = order.client_order_id.as_str();
    order.venue == common::Venue::UsdmPerp as i32
        && (execution_type == "CALCULATED"
            || id.starts_with("autoclose-")
            || id.starts_with("adl_autoclose")
            || id.starts_with("settlement_autoclose"))
}

/// The books' id of a venue close: the venue's client id is not unique (one liquidation
/// closes every symbol under the same `autoclose-<time>`), its order id is unique per symbol,
/// so the row is keyed by both (36 characters at most, as every client order id).
fn row_id(order: &gw::Order) -> String {
    let suffix = format!(".{}", order.exchange_order_id);
    let keep = 36usize.saturating_sub(suffix.len());
    let prefix: String = order.client_order_id.chars().take(keep).collect();
    format!("{prefix}{suffix}")
}

impl Engine {
    /// Books the venue's close of a perp on the live position of its symbol and starts the
    /// exit of what is left (the naked spot leg, and any perp a partial liquidation left).
    /// Returns the position, or `None` when no live position holds the symbol or nothing
    /// executed. A replayed event books nothing twice (the order is keyed by its client id).
    pub(crate) async fn venue_closed_perp(
        self: &Arc<Self>,
        order: &gw::Order,
    ) -> Result<Option<Position>> {
        let report = crate::exchange::report_from_wire(order)
            .map_err(|e| ExecutorError::Internal(e.to_string()))?;
        if report.executed_qty.is_zero() {
            return Ok(None);
        }
        // booked already (a replayed event, a later report of the same order): it belongs to
        // the position it was booked on, never to one opened on the symbol since
        let row_id = row_id(order);
        if let Some(booked) = self.store.get_order(&row_id).await? {
            if !booked.status.is_terminal() {
                self.store
                    .update_order(&row_id, &update_from(&report))
                    .await?;
            }
            return Ok(None);
        }
        let Some(position) = self.store.live_position(&order.symbol).await? else {
            tracing::warn!(symbol = %order.symbol, client_order_id = %order.client_order_id, executed = %report.executed_qty, "the venue closed a perp no live position of ours holds");
            return Ok(None);
        };
        let side = match common::Side::try_from(order.side) {
            Ok(common::Side::Buy) => fff_store::Side::Buy,
            Ok(common::Side::Sell) => fff_store::Side::Sell,
            _ => {
                return Err(ExecutorError::Internal(format!(
                    "venue close {} of {} has no side",
                    order.client_order_id, order.symbol
                )));
            }
        };
        let quantity = fff_proto::convert::parse_optional_decimal("quantity", &order.quantity)
            .ok()
            .flatten()
            .unwrap_or(report.executed_qty)
            .max(report.executed_qty);
        let inserted = self
            .store
            .insert_order_intent(&OrderIntent {
                client_order_id: row_id.clone(),
                position_id: Some(position.id),
                venue: Venue::Usdm,
                leg: Leg::Perp,
                symbol: order.symbol.clone(),
                side,
                order_type: OrderType::Liquidation,
                time_in_force: None,
                qty: quantity,
                price: None,
                reduce_only: true,
                side_effect: SideEffect::NoSideEffect,
            })
            .await?;
        self.store
            .update_order(&row_id, &update_from(&report))
            .await?;
        if !inserted.created {
            return Ok(Some(position));
        }
        let message = format!(
            "perp closed by the venue ({}: {} {} at {}): the spot leg it hedged is closed",
            order.client_order_id,
            order.symbol,
            report.executed_qty,
            report
                .avg_price
                .map_or_else(|| "?".to_owned(), |p| p.to_string()),
        );
        tracing::error!(symbol = %position.symbol, position_id = position.id, %message, "liquidated at the venue");
        crate::alerts::perp_closed_by_venue(&position.symbol, position.id, &message);
        let engine = Arc::clone(self);
        let (id, symbol, direction) = (
            position.id,
            position.symbol.clone(),
            core_direction(position.direction),
        );
        self.spawn("venue close", async move {
            let position = {
                let _guard = engine.lock_symbol(&symbol).await;
                let legs = SignedLegs::from_orders(direction, &engine.position_orders(id).await?);
                engine
                    .store
                    .update_position_legs(id, &legs.to_store())
                    .await?;
                let Some(now) = engine.store.get_position(id).await? else {
                    return Ok(());
                };
                if now.state.is_terminal() {
                    return Ok(());
                }
                engine
                    .store
                    .set_position_state(id, now.state, Some(&message))
                    .await?
            };
            engine
                .close(
                    &position,
                    Urgency::Immediate,
                    Initiator::Reconciliation,
                    "perp closed by the venue",
                )
                .await?;
            Ok(())
        });
        Ok(Some(position))
    }
}

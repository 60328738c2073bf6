//! Resizing a live position: one-leg trades (drift repair, rebalancer actions) and
//! proportional reductions of both legs (risk directives).

use std::sync::Arc;

use fff_core::filters::floor_to_step;
use fff_core::{Direction, Side, Venue};
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_store::{Order, Position, PositionState};
use rust_decimal::Decimal;

use super::Engine;
use super::entry::spot_side_effect;
use super::orders::intent_for;
use crate::error::Result;
use crate::exchange::{OrderKind, OrderRequest};
use crate::ids::{Step, client_order_id};
use crate::legs::{SignedLegs, core_direction, leg_of};

/// One leg trade requested from outside (rebalancer action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegOrder {
    pub venue: Venue,
    pub side: Side,
    pub qty: Decimal,
}

impl Engine {
    /// Trades one leg of position `id` at market; perp trades that shrink the leg are
    /// reduce-only, spot trades borrow/repay per direction. Refreshes the stored legs.
    pub(crate) async fn trade_leg(
        &self,
        id: i64,
        direction: Direction,
        symbol: &str,
        venue: Venue,
        side: Side,
        qty: Decimal,
    ) -> Result<Order> {
        let step = self.next_step(id).await?;
        let (reduce_only, side_effect) = match venue {
            Venue::UsdmPerp => (
                side != direction.perp_entry_side(),
                fff_store::SideEffect::NoSideEffect,
            ),
            Venue::SpotMargin => (
                false,
                spot_side_effect(direction, side, self.params.capital.spot_usdt_borrow),
            ),
        };
        let order = self
            .execute(
                id,
                OrderRequest {
                    client_order_id: client_order_id(id, leg_of(venue), Step::Adjust(step)),
                    venue,
                    symbol: symbol.to_owned(),
                    side,
                    kind: OrderKind::Market,
                    qty,
                    reduce_only,
                    side_effect,
                },
            )
            .await?;
        self.refresh_legs(id).await?;
        Ok(order)
    }

    /// Recomputes the stored leg sizes from the position's orders.
    pub(crate) async fn refresh_legs(&self, id: i64) -> Result<Option<Position>> {
        let Some(position) = self.store.get_position(id).await? else {
            return Ok(None);
        };
        if position.state.is_terminal() {
            return Ok(Some(position));
        }
        let legs = SignedLegs::from_orders(
            core_direction(position.direction),
            &self.position_orders(id).await?,
        );
        Ok(Some(
            self.store
                .update_position_legs(id, &legs.to_store())
                .await?,
        ))
    }

    /// Applies a rebalancer leg order to a live position (serialised with other work on it).
    pub async fn apply_leg_order(
        self: &Arc<Self>,
        position: &Position,
        order: LegOrder,
        initiator: Initiator,
        detail: &str,
    ) -> Result<()> {
        let _guard = self.lock_symbol(&position.symbol).await;
        let Some(current) = self.store.get_position(position.id).await? else {
            return Ok(());
        };
        if !matches!(current.state, PositionState::Open) {
            tracing::info!(symbol = %current.symbol, state = %current.state, "leg order skipped");
            return Ok(());
        }
        let direction = core_direction(current.direction);
        // The action was computed from a review that may predate trades since (a repeated
        // action, a directive): never trade more than what evens the legs out now.
        let legs = SignedLegs::from_orders(direction, &self.position_orders(current.id).await?);
        let needed = fff_core::smaller_leg_adjustment(legs.spot, legs.perp)
            .filter(|a| a.venue == order.venue && a.side == order.side)
            .map_or(Decimal::ZERO, |a| a.qty);
        let qty = order.qty.min(needed);
        if qty <= Decimal::ZERO {
            tracing::info!(symbol = %current.symbol, "leg order no longer needed");
            return Ok(());
        }
        let rebalancing = self
            .store
            .set_position_state(current.id, PositionState::Rebalancing, None)
            .await?;
        let result = self
            .trade_leg(
                current.id,
                direction,
                &current.symbol,
                order.venue,
                order.side,
                qty,
            )
            .await;
        let open = self
            .store
            .set_position_state(rebalancing.id, PositionState::Open, None)
            .await?;
        self.emit(PositionEventKind::Adjusted, &open, initiator, detail);
        result.map(|_| ())
    }

    /// Cuts both legs of a live position by `fraction` (0 < fraction < 1): perp first
    /// (reduce-only), then spot by exactly what the perp sold.
    pub async fn reduce(
        self: &Arc<Self>,
        position: &Position,
        fraction: Decimal,
        initiator: Initiator,
        detail: &str,
    ) -> Result<()> {
        let _guard = self.lock_symbol(&position.symbol).await;
        // the position, its orders and the instrument at once: a risk cut is timed from the
        // price move to its first order (the instrument's gateway round trip used to follow the
        // two PostgreSQL reads)
        let (current, orders, instrument) = tokio::join!(
            self.store.get_position(position.id),
            self.position_orders(position.id),
            self.exchange.instrument(&position.symbol),
        );
        let Some(current) = current?.filter(|p| p.state == PositionState::Open) else {
            return Ok(());
        };
        let (orders, instrument) = (orders?, instrument?);
        let step = fff_core::filters::common_step(
            instrument.spot.effective_step().unwrap_or(Decimal::ZERO),
            instrument.perp.effective_step().unwrap_or(Decimal::ZERO),
        )
        .unwrap_or(Decimal::ZERO);
        let direction = core_direction(current.direction);
        let legs = SignedLegs::from_orders(direction, &orders);
        let base = legs.perp.abs().min(legs.spot.abs());
        let qty = floor_to_step(base * fraction, step);
        if qty <= Decimal::ZERO {
            return Ok(());
        }
        // the step number is the order count (as `next_step` reads it), taken from the rows
        // just read under the symbol lock: one PostgreSQL round trip less before a cut
        let n = u32::try_from(orders.len()).unwrap_or(u32::MAX);
        let perp_request = OrderRequest {
            client_order_id: client_order_id(current.id, fff_store::Leg::Perp, Step::Reduce(n)),
            venue: Venue::UsdmPerp,
            symbol: current.symbol.clone(),
            side: direction.perp_entry_side().opposite(),
            kind: OrderKind::Market,
            qty,
            reduce_only: true,
            side_effect: fff_store::SideEffect::NoSideEffect,
        };
        // the REBALANCING state and the perp's intent are two commits at once, not one after
        // the other: a risk cut is timed from the price move to this order
        self.check_fence()?;
        let intent = [intent_for(current.id, &perp_request)];
        let (moved, written) = tokio::join!(
            self.store
                .set_position_state(current.id, PositionState::Rebalancing, None),
            self.store.insert_order_intents(&intent),
        );
        let fresh = match written {
            Ok(rows) => rows.first().is_some_and(|w| w.created),
            Err(err) => {
                moved?;
                return Err(err.into());
            }
        };
        if let Err(err) = moved {
            if fresh {
                self.expire_never_sent(
                    &perp_request.client_order_id,
                    "its position could not be marked REBALANCING",
                )
                .await?;
            }
            return Err(err.into());
        }
        let perp = if fresh {
            self.execute_written_ahead(current.id, perp_request, None, true)
                .await?
        } else {
            // a row under this id already (a bug or a replay): the usual path looks it up
            self.execute(current.id, perp_request).await?
        };
        let spot_qty = floor_to_step(
            perp.executed_qty,
            instrument.spot.effective_step().unwrap_or(Decimal::ZERO),
        );
        if spot_qty > Decimal::ZERO {
            let side = direction.spot_entry_side().opposite();
            self.execute(
                current.id,
                OrderRequest {
                    client_order_id: client_order_id(
                        current.id,
                        fff_store::Leg::Spot,
                        Step::Reduce(n),
                    ),
                    venue: Venue::SpotMargin,
                    symbol: current.symbol.clone(),
                    side,
                    kind: OrderKind::Market,
                    qty: spot_qty,
                    reduce_only: false,
                    side_effect: spot_side_effect(
                        direction,
                        side,
                        self.params.capital.spot_usdt_borrow,
                    ),
                },
            )
            .await?;
        }
        self.refresh_legs(current.id).await?;
        let open = self
            .store
            .set_position_state(current.id, PositionState::Open, None)
            .await?;
        tracing::info!(symbol = %open.symbol, %fraction, %qty, "position reduced");
        self.emit(PositionEventKind::Adjusted, &open, initiator, detail);
        Ok(())
    }
}

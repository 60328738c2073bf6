//! Exit of one hedged position: the perp first (limit IOC within the slippage tolerance when
//! not urgent, market for the rest), then the spot leg (sell what is held, or buy back the
//! borrowed base asset with auto-repay), then any loan and interest left is repaid.

use std::sync::Arc;
use std::time::Duration;

use fff_core::filters::{ceil_to_step, floor_to_step};
use fff_core::{Direction, PriceRounding, Side, Venue};
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_store::{Leg, Position, PositionState};
use rust_decimal::Decimal;

use super::Engine;
use super::entry::spot_side_effect;
use crate::error::{ExecutorError, Result};
use crate::exchange::{InstrumentInfo, OrderKind, OrderRequest};
use crate::ids::{Step, client_order_id};
use crate::legs::{SignedLegs, core_direction};

/// How aggressively to exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Limit IOC within the slippage tolerance first, market for the rest.
    Normal,
    /// Same as normal (IOC never rests, so there is no timeout to shorten).
    High,
    /// Market orders on both legs at once.
    Immediate,
}

impl Engine {
    pub(crate) async fn run_exit(
        self: &Arc<Self>,
        id: i64,
        urgency: Urgency,
        initiator: Initiator,
    ) -> Result<Position> {
        let Some(position) = self.store.get_position(id).await? else {
            return Err(ExecutorError::NotFound(format!("position {id} not found")));
        };
        let _guard = self.lock_symbol(&position.symbol).await;
        let Some(position) = self.store.get_position(id).await? else {
            return Err(ExecutorError::NotFound(format!("position {id} not found")));
        };
        if position.state.is_terminal() {
            return Ok(position);
        }
        let position = self
            .store
            .set_position_state(id, PositionState::Closing, None)
            .await?;
        let instrument = self.exchange.instrument(&position.symbol).await?;
        self.set_mark(&position.symbol, instrument.mark_price);
        let direction = core_direction(position.direction);

        let last_error = self
            .close_perp(&position, direction, &instrument, urgency)
            .await?;
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        if !legs.perp.is_zero() {
            // Never sell the spot leg while the perp is still open: that would leave the perp
            // naked. The position stays CLOSING; the exit is retried (see resume_exits).
            self.store
                .update_position_legs(id, &legs.to_store())
                .await?;
            let message = format!(
                "exit incomplete: perp {} left: {}",
                legs.perp,
                last_error.unwrap_or_default()
            );
            tracing::error!(symbol = %position.symbol, %message, "exit stopped before the spot leg");
            self.store
                .set_position_state(id, PositionState::Closing, Some(&message))
                .await?;
            return Err(ExecutorError::Internal(message));
        }
        self.close_spot(&position, direction, &instrument).await?;

        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        self.store
            .update_position_legs(id, &legs.to_store())
            .await?;
        let closed = self
            .store
            .set_position_state(id, PositionState::Closed, None)
            .await?;
        tracing::info!(symbol = %closed.symbol, position_id = id, "position closed");
        self.emit(PositionEventKind::Closed, &closed, initiator, "closed");
        Ok(closed)
    }

    /// Closes the perp leg (limit IOC first unless immediate, then market with retries);
    /// returns the last order error when something is left.
    async fn close_perp(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        urgency: Urgency,
    ) -> Result<Option<String>> {
        let id = position.id;
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        let qty = legs.perp.abs();
        if qty.is_zero() {
            return Ok(None);
        }
        let side = if legs.perp > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let mut remaining = qty;
        let mut last_error = None;
        if urgency != Urgency::Immediate && self.params.execution.exit_prefer_limit {
            let tolerance = self.params.execution.slippage_tolerance;
            // the worst price we accept, rounded towards the mark
            let (limit, rounding) = match side {
                Side::Sell => (
                    instrument.mark_price * (Decimal::ONE - tolerance),
                    PriceRounding::Up,
                ),
                Side::Buy => (
                    instrument.mark_price * (Decimal::ONE + tolerance),
                    PriceRounding::Down,
                ),
            };
            let price = instrument.perp.round_price(limit, rounding);
            if price > Decimal::ZERO {
                let n = self.next_step(id).await?;
                let order = self
                    .execute(
                        id,
                        perp_exit(
                            id,
                            n,
                            &position.symbol,
                            side,
                            qty,
                            OrderKind::LimitIoc(price),
                        ),
                    )
                    .await?;
                remaining -= order.executed_qty;
            }
        }
        for attempt in 0..=self.params.execution.hedge_max_retries {
            if remaining <= Decimal::ZERO {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(
                    self.params.execution.hedge_retry_delay_ms,
                ))
                .await;
            }
            let n = self.next_step(id).await?;
            let order = self
                .execute(
                    id,
                    perp_exit(id, n, &position.symbol, side, remaining, OrderKind::Market),
                )
                .await?;
            remaining -= order.executed_qty;
            if order.executed_qty.is_zero() {
                last_error = order.error.clone().or(Some(order.status.to_string()));
            }
        }
        Ok(last_error)
    }

    async fn close_spot(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
    ) -> Result<()> {
        let id = position.id;
        let step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        let account = self.exchange.account().await.ok();
        let asset = account
            .as_ref()
            .and_then(|a| a.margin.get(&instrument.base_asset).cloned())
            .unwrap_or_default();
        let (side, qty) = if legs.spot > Decimal::ZERO {
            // fees taken in the base asset leave less than was bought: sell what is there
            let held = if account.is_some() {
                legs.spot.min(asset.free)
            } else {
                legs.spot
            };
            (Side::Sell, floor_to_step(held, step))
        } else if legs.spot < Decimal::ZERO {
            // buy back the loan and its interest; auto-repay settles it from the proceeds
            let owed = (asset.borrowed + asset.interest).max(-legs.spot);
            (Side::Buy, ceil_to_step(owed, step))
        } else {
            (Side::Buy, Decimal::ZERO)
        };
        if qty > Decimal::ZERO && qty >= instrument.spot.min_qty {
            let n = self.next_step(id).await?;
            self.execute(
                id,
                OrderRequest {
                    client_order_id: client_order_id(id, Leg::Spot, Step::Exit(n)),
                    venue: Venue::SpotMargin,
                    symbol: position.symbol.clone(),
                    side,
                    kind: OrderKind::Market,
                    qty,
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
        if direction.borrows() {
            self.repay_leftover(id, &instrument.base_asset).await;
        }
        Ok(())
    }

    /// Repays whatever loan of `asset` is left and can be covered by the free balance.
    async fn repay_leftover(&self, id: i64, asset: &str) {
        let Ok(account) = self.exchange.account().await else {
            return;
        };
        let Some(balance) = account.margin.get(asset) else {
            return;
        };
        let owed = balance.borrowed + balance.interest;
        let amount = owed.min(balance.free);
        if amount <= Decimal::ZERO {
            return;
        }
        let request_id = format!("fff{id}-repay");
        if let Err(err) = self.exchange.repay(asset, amount, &request_id).await {
            tracing::warn!(asset, %amount, error = %err, "repay after exit failed");
        }
    }
}

fn perp_exit(
    id: i64,
    n: u32,
    symbol: &str,
    side: Side,
    qty: Decimal,
    kind: OrderKind,
) -> OrderRequest {
    OrderRequest {
        client_order_id: client_order_id(id, Leg::Perp, Step::Exit(n)),
        venue: Venue::UsdmPerp,
        symbol: symbol.to_owned(),
        side,
        kind,
        qty,
        reduce_only: true,
        side_effect: fff_store::SideEffect::NoSideEffect,
    }
}

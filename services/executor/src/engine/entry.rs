//! Entry of one hedged position: cross margin + leverage on the perp, then per TWAP slice the
//! perp order first and, as soon as it has filled, the spot hedge of exactly the filled
//! quantity (bounded retries). A hedge that cannot be completed unwinds the unhedged perp at
//! once. After the slices both legs are checked against the entry drift limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fff_core::filters::floor_to_step;
use fff_core::{Direction, Side, Venue, size_legs, twap_slices};
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_store::{Leg, Order, PositionState, SideEffect};
use rust_decimal::Decimal;

use super::Engine;
use crate::error::{ExecutorError, Result};
use crate::exchange::{InstrumentInfo, OrderKind, OrderRequest};
use crate::ids::{Step, client_order_id};
use crate::legs::{SignedLegs, core_direction};

/// Why the slicing loop stopped early.
#[derive(Debug)]
enum Stop {
    HedgeFailed(String),
    Slippage(Decimal),
    Interrupted(String),
}

/// Side effect of a spot order on cross margin: trades that open exposure borrow what the free
/// balance lacks (the base asset for a short, USDT for a levered buy); trades that reduce it
/// repay loans from the proceeds.
pub(crate) fn spot_side_effect(direction: Direction, side: Side) -> SideEffect {
    if side == direction.spot_entry_side() {
        SideEffect::MarginBuy
    } else {
        SideEffect::AutoRepay
    }
}

impl Engine {
    pub(crate) async fn run_entry(self: &Arc<Self>, id: i64, initiator: Initiator) -> Result<()> {
        let Some(position) = self.store.get_position(id).await? else {
            return Err(ExecutorError::NotFound(format!("position {id} not found")));
        };
        let _guard = self.lock_symbol(&position.symbol).await;
        let symbol = position.symbol.clone();
        let direction = core_direction(position.direction);
        let prepared = async {
            let instrument = self.exchange.instrument(&symbol).await?;
            if !instrument.tradable {
                return Err(ExecutorError::FailedPrecondition(format!(
                    "{symbol} is not trading on both venues"
                )));
            }
            let leverage = u32::try_from(position.leverage).unwrap_or(1);
            self.exchange.prepare_perp(&symbol, leverage).await?;
            let sizes = size_legs(
                position.target_notional,
                instrument.mark_price,
                &instrument.spot,
                &instrument.perp,
            )?;
            Ok::<_, ExecutorError>((instrument, sizes))
        }
        .await;
        let (instrument, sizes) = match prepared {
            Ok(ok) => ok,
            Err(err) => {
                let failed = self
                    .store
                    .set_position_state(id, PositionState::Failed, Some(&err.to_string()))
                    .await?;
                self.emit(
                    PositionEventKind::Failed,
                    &failed,
                    initiator,
                    err.to_string(),
                );
                return Err(err);
            }
        };
        self.set_mark(&symbol, instrument.mark_price);
        let slices = twap_slices(
            sizes.perp_qty,
            instrument.mark_price,
            sizes.step,
            &self.params.execution,
        );
        let stop = match self
            .enter_slices(id, direction, &instrument, sizes.step, &slices)
            .await
        {
            Ok(stop) => stop,
            Err(err) => {
                // Unknown outcome mid-entry. Exposure may exist, so the position stays live
                // (never terminal with a leg open): drift repair and reconciliation handle it.
                let message = format!("broken: entry interrupted: {err}");
                let failed = self
                    .store
                    .set_position_state(id, PositionState::Open, Some(&message))
                    .await?;
                self.emit(PositionEventKind::Broken, &failed, initiator, message);
                return Err(err);
            }
        };
        if let Err(err) = self
            .verify_drift(id, direction, &instrument, sizes.step)
            .await
        {
            // the legs are recorded as they are; drift repair continues from the rebalancer
            tracing::error!(symbol = %symbol, error = %err, "entry drift repair failed");
        }
        self.finish_entry(id, initiator, stop).await
    }

    async fn enter_slices(
        &self,
        id: i64,
        direction: Direction,
        instrument: &InstrumentInfo,
        step: Decimal,
        slices: &[Decimal],
    ) -> Result<Option<Stop>> {
        let interval = Duration::from_millis(self.params.execution.twap_slice_interval_ms);
        for (index, qty) in slices.iter().enumerate() {
            let slice = u32::try_from(index).unwrap_or(u32::MAX);
            if index > 0 {
                if let Some(block) = self.slice_block() {
                    return Ok(Some(Stop::Interrupted(block)));
                }
                let state = self.store.get_position(id).await?.map(|p| p.state);
                if state != Some(PositionState::Opening) {
                    return Ok(Some(Stop::Interrupted(format!("position is {state:?}"))));
                }
                tokio::time::sleep(interval).await;
            }
            // Slippage is measured per slice against the mark when the slice is sent: across a
            // long TWAP the price's own drift is not execution cost.
            let reference = if index == 0 {
                instrument.mark_price
            } else {
                match self.exchange.instrument(&instrument.symbol).await {
                    Ok(fresh) => fresh.mark_price,
                    Err(_) => instrument.mark_price,
                }
            };
            if let Some(origin) = self.take_origin(id) {
                self.metrics.opportunity_to_order.record(origin.elapsed());
            }
            let perp = self
                .execute(
                    id,
                    OrderRequest {
                        client_order_id: client_order_id(id, Leg::Perp, Step::Entry(slice)),
                        venue: Venue::UsdmPerp,
                        symbol: instrument.symbol.clone(),
                        side: direction.perp_entry_side(),
                        kind: OrderKind::Market,
                        qty: *qty,
                        reduce_only: false,
                        side_effect: SideEffect::NoSideEffect,
                    },
                )
                .await?;
            let filled_at = Instant::now();
            if perp.executed_qty <= Decimal::ZERO {
                let reason = perp
                    .error
                    .clone()
                    .unwrap_or_else(|| perp.status.to_string());
                return Ok(Some(Stop::HedgeFailed(format!(
                    "perp entry not filled: {reason}"
                ))));
            }
            let hedged = self
                .hedge(id, slice, direction, instrument, &perp, filled_at)
                .await?;
            let naked = floor_to_step(perp.executed_qty - hedged, step);
            if naked > Decimal::ZERO {
                self.unwind(id, slice, direction, instrument, naked, filled_at)
                    .await?;
                return Ok(Some(Stop::HedgeFailed(format!(
                    "spot hedge incomplete: {hedged} of {} hedged, {naked} unwound",
                    perp.executed_qty
                ))));
            }
            if let Some(avg) = perp.avg_price
                && reference > Decimal::ZERO
            {
                let slippage = ((avg - reference) / reference).abs();
                if slippage > self.params.execution.slippage_tolerance {
                    return Ok(Some(Stop::Slippage(slippage)));
                }
            }
        }
        Ok(None)
    }

    /// Spot orders until `perp.executed_qty` is mirrored or the retries run out; returns the
    /// quantity hedged.
    async fn hedge(
        &self,
        id: i64,
        slice: u32,
        direction: Direction,
        instrument: &InstrumentInfo,
        perp: &Order,
        filled_at: Instant,
    ) -> Result<Decimal> {
        let side = direction.spot_entry_side();
        let step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
        let mut hedged = Decimal::ZERO;
        let retries = self.params.execution.hedge_max_retries;
        for attempt in 0..=retries {
            let remaining = floor_to_step(perp.executed_qty - hedged, step);
            if remaining <= Decimal::ZERO {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(
                    self.params.execution.hedge_retry_delay_ms,
                ))
                .await;
            }
            let order = self
                .execute_timed(
                    id,
                    OrderRequest {
                        client_order_id: client_order_id(
                            id,
                            Leg::Spot,
                            Step::Hedge(slice, attempt),
                        ),
                        venue: Venue::SpotMargin,
                        symbol: instrument.symbol.clone(),
                        side,
                        kind: OrderKind::Market,
                        qty: remaining,
                        reduce_only: false,
                        side_effect: spot_side_effect(direction, side),
                    },
                    (attempt == 0).then_some(filled_at),
                )
                .await?;
            hedged += order.executed_qty;
            if order.executed_qty < remaining {
                tracing::warn!(
                    symbol = %instrument.symbol,
                    attempt,
                    status = %order.status,
                    error = order.error.as_deref().unwrap_or(""),
                    "spot hedge short"
                );
            }
        }
        Ok(hedged)
    }

    /// Closes `qty` of the perp entry at market (reduce-only), retrying what does not fill.
    async fn unwind(
        &self,
        id: i64,
        slice: u32,
        direction: Direction,
        instrument: &InstrumentInfo,
        qty: Decimal,
        filled_at: Instant,
    ) -> Result<()> {
        self.metrics.unwind_window.record(filled_at.elapsed());
        tracing::error!(symbol = %instrument.symbol, %qty, "hedge failed: unwinding the perp leg");
        let step = instrument.perp.effective_step().unwrap_or(Decimal::ZERO);
        let mut remaining = qty;
        // more attempts than the hedge had: leaving a naked leg is worse than a few more orders
        for attempt in 0..=self.params.execution.hedge_max_retries.saturating_mul(2) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(
                    self.params.execution.hedge_retry_delay_ms,
                ))
                .await;
            }
            let order = self
                .execute(
                    id,
                    OrderRequest {
                        client_order_id: client_order_id(
                            id,
                            Leg::Perp,
                            Step::Unwind(slice, attempt),
                        ),
                        venue: Venue::UsdmPerp,
                        symbol: instrument.symbol.clone(),
                        side: direction.perp_entry_side().opposite(),
                        kind: OrderKind::Market,
                        qty: remaining,
                        reduce_only: true,
                        side_effect: SideEffect::NoSideEffect,
                    },
                )
                .await?;
            remaining = floor_to_step(remaining - order.executed_qty, step);
            if remaining <= Decimal::ZERO {
                return Ok(());
            }
        }
        Err(ExecutorError::Internal(format!(
            "unwind of {qty} left {remaining} open"
        )))
    }

    /// If the legs differ by more than `max_entry_leg_drift`, trades the smaller leg.
    pub(crate) async fn verify_drift(
        &self,
        id: i64,
        direction: Direction,
        instrument: &InstrumentInfo,
        step: Decimal,
    ) -> Result<()> {
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        let drift = legs.drift();
        if drift <= self.params.execution.max_entry_leg_drift {
            return Ok(());
        }
        let Some(adjustment) = fff_core::smaller_leg_adjustment(legs.spot, legs.perp) else {
            return Ok(());
        };
        let qty = floor_to_step(adjustment.qty, step);
        if qty <= Decimal::ZERO {
            return Ok(());
        }
        tracing::warn!(symbol = %instrument.symbol, %drift, %qty, "entry legs drifted; adjusting");
        self.trade_leg(
            id,
            direction,
            &instrument.symbol,
            adjustment.venue,
            adjustment.side,
            qty,
        )
        .await?;
        Ok(())
    }

    async fn finish_entry(&self, id: i64, initiator: Initiator, stop: Option<Stop>) -> Result<()> {
        let Some(position) = self.store.get_position(id).await? else {
            return Ok(());
        };
        let direction = core_direction(position.direction);
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        let position = self
            .store
            .update_position_legs(id, &legs.to_store())
            .await?;
        let detail = match &stop {
            None => "entry complete".to_owned(),
            Some(Stop::HedgeFailed(m)) => m.clone(),
            Some(Stop::Slippage(s)) => format!("entry paused: slippage {s} beyond tolerance"),
            Some(Stop::Interrupted(m)) => format!("entry stopped: {m}"),
        };
        if position.state == PositionState::Closing {
            return Ok(()); // an exit was requested meanwhile; it runs next
        }
        let hedged = !legs.perp.is_zero() && !legs.spot.is_zero();
        if hedged {
            let open = self
                .store
                .set_position_state(id, PositionState::Open, None)
                .await?;
            tracing::info!(symbol = %open.symbol, position_id = id, %detail, "position open");
            self.emit(PositionEventKind::Opened, &open, initiator, detail);
        } else if legs.perp.is_zero() && legs.spot.is_zero() {
            let failed = self
                .store
                .set_position_state(id, PositionState::Failed, Some(&detail))
                .await?;
            tracing::warn!(symbol = %failed.symbol, position_id = id, %detail, "entry failed");
            self.emit(PositionEventKind::Failed, &failed, initiator, detail);
        } else {
            // a leg is open without its hedge: keep the position live so it can be repaired
            let message = format!("broken: one leg left after entry: {detail}");
            let failed = self
                .store
                .set_position_state(id, PositionState::Open, Some(&message))
                .await?;
            tracing::error!(symbol = %failed.symbol, position_id = id, %message, "naked leg");
            self.emit(PositionEventKind::Broken, &failed, initiator, message);
        }
        Ok(())
    }
}

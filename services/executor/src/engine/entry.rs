//! Entry of one hedged position: cross margin + leverage on the perp, then per TWAP slice the
//! perp order first and, as soon as it has filled, the spot hedge of exactly the filled
//! quantity (bounded retries). The slice's perp and first hedge intents are committed together
//! before the perp is sent, so the hedge leaves on the perp's answer without a database write. A hedge that cannot be completed unwinds the unhedged perp at
//! once. After the slices both legs are checked against the entry drift limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fff_core::filters::floor_to_step;
use fff_core::{Direction, Side, Venue, size_legs, twap_slices};
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_store::{Leg, Position, PositionState, SideEffect};
use rust_decimal::Decimal;

use super::Engine;
use super::orders::{Answer, intent_for};
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

/// Side effect of a spot order on cross margin. A short spot leg borrows its base asset
/// (`MARGIN_BUY` on a sell). A long spot leg is paid in cash (`NO_SIDE_EFFECT`: the capital
/// model funds it, and Binance rejects the order rather than borrowing USDT if the cash is not
/// there) unless `capital.spot_usdt_borrow` allows borrowing USDT. Trades that reduce exposure
/// repay loans from the proceeds.
pub(crate) fn spot_side_effect(direction: Direction, side: Side, usdt_borrow: bool) -> SideEffect {
    if side != direction.spot_entry_side() {
        SideEffect::AutoRepay
    } else if direction == Direction::NegativeCarry || usdt_borrow {
        SideEffect::MarginBuy
    } else {
        SideEffect::NoSideEffect
    }
}

/// How an entry run relates to its position.
#[derive(Debug, Clone, Copy, PartialEq)]
enum EntryKind {
    /// The first entry of a new position (OPENING), to its target notional.
    Initial,
    /// Growing an OPEN position back toward its target (its first entry stopped early), up
    /// to `up_to` per-leg notional.
    TopUp { up_to: Decimal },
}

/// Fees and slippage a spot buy may cost beyond its notional (cash checked before the perp).
const CASH_HEADROOM: Decimal = Decimal::from_parts(1005, 0, 0, false, 3);

/// Who funds the wallets before an entry.
#[derive(Debug, Clone, Default)]
pub enum Funding {
    /// The entry checks the wallets itself (serialised with every other wallet check).
    #[default]
    Check,
    /// Done for the entry's batch (the pairs of one scanner snapshot, while they asked risk):
    /// the account it judged, or `None` when it moved money (the entry reads it again).
    Done(Option<Box<crate::exchange::AccountView>>),
}

impl Engine {
    /// The first entry of `position`, just created (its row is not read again: one
    /// PostgreSQL round trip less between the opportunity and its order).
    pub(crate) async fn run_entry(
        self: &Arc<Self>,
        position: Position,
        initiator: Initiator,
        funding: Funding,
    ) -> Result<()> {
        self.enter(
            position.id,
            initiator,
            EntryKind::Initial,
            Some(position),
            funding,
        )
        .await
    }

    /// Spawns the top-up of an open position to `up_to` per-leg notional. What it adds is
    /// decided under the symbol's lock from the legs held then, so top-ups planned while an
    /// earlier one ran do not add their part again.
    pub fn top_up(self: &Arc<Self>, id: i64, up_to: Decimal) {
        let engine = Arc::clone(self);
        self.spawn("top-up", async move {
            engine
                .enter(
                    id,
                    Initiator::Strategy,
                    EntryKind::TopUp { up_to },
                    None,
                    Funding::Check,
                )
                .await
        });
    }

    async fn enter(
        self: &Arc<Self>,
        id: i64,
        initiator: Initiator,
        kind: EntryKind,
        known: Option<Position>,
        funding: Funding,
    ) -> Result<()> {
        let position = match known {
            Some(position) => position,
            None => self
                .store
                .get_position(id)
                .await?
                .ok_or_else(|| ExecutorError::NotFound(format!("position {id} not found")))?,
        };
        let _guard = self.lock_symbol(&position.symbol).await;
        let symbol = position.symbol.clone();
        let direction = core_direction(position.direction);
        let (notional, first_slice) = match kind {
            EntryKind::Initial => (position.target_notional, 0),
            EntryKind::TopUp { up_to } => {
                // re-read under the lock: an exit or a repair may have started meanwhile, or
                // another top-up may have grown the legs since this one was planned
                let Some(current) = self
                    .store
                    .get_position(id)
                    .await?
                    .filter(|p| p.state == PositionState::Open)
                else {
                    return Ok(());
                };
                let price = self
                    .mark(&symbol)
                    .or(current.perp_entry_price)
                    .or(current.spot_entry_price)
                    .unwrap_or_default();
                let held = current.spot_qty.abs().min(current.perp_qty.abs()) * price;
                let add = (up_to - held).trunc_with_scale(2);
                if add <= Decimal::ZERO {
                    return Ok(());
                }
                (add, self.next_entry_slice(id).await?)
            }
        };
        let prepared = async {
            let ahead = match kind {
                EntryKind::Initial => self.instruments_ahead.take(&symbol, Instant::now()),
                EntryKind::TopUp { .. } => None,
            };
            let (instrument, lendable_ahead) = match ahead {
                Some(ahead) => (ahead.instrument, ahead.lendable),
                None => (self.exchange.instrument(&symbol).await?, None),
            };
            if !instrument.tradable {
                return Err(ExecutorError::FailedPrecondition(format!(
                    "{symbol} is not trading on both venues"
                )));
            }
            // the funding may have turned since the scan that ranked the pair
            if Direction::for_funding(instrument.funding_rate).is_some_and(|d| d != direction) {
                return Err(ExecutorError::FailedPrecondition(format!(
                    "{symbol} funding {} no longer pays {direction:?}",
                    instrument.funding_rate
                )));
            }
            let leverage = u32::try_from(position.leverage).unwrap_or(1);
            if kind == EntryKind::Initial {
                self.prepare_perp(&symbol, leverage).await?;
            }
            let sizes = size_legs(
                notional,
                instrument.mark_price,
                &instrument.spot,
                &instrument.perp,
            )?;
            let leverage = Decimal::from(position.leverage.max(1));
            self.check_funds(
                &instrument,
                direction,
                &sizes,
                leverage,
                funding,
                lendable_ahead,
            )
            .await?;
            Ok::<_, ExecutorError>((instrument, sizes))
        }
        .await;
        let (instrument, sizes) = match prepared {
            Ok(ok) => ok,
            Err(err) => {
                self.prepared.forget(&symbol);
                let wait = self.cooldowns.failed(&symbol, Instant::now());
                tracing::warn!(symbol = %symbol, error = %err, retry_in_ms = wait.as_millis() as u64, "entry not started");
                if kind == EntryKind::Initial {
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
                }
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
            .enter_slices(id, direction, &instrument, sizes.step, &slices, first_slice)
            .await
        {
            Ok(stop) => stop,
            Err(err) => {
                // Unknown outcome mid-entry. Exposure may exist, so the position stays live
                // (never terminal with a leg open): drift repair and reconciliation handle it.
                // Its legs are what its orders executed so far: left at their value before the
                // entry, the books hid a filled hedge from status, risk and the rebalancer
                // until the next exit (soak 2026-12-05: 16,553 DOGE short shown as nothing).
                let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
                self.store
                    .update_position_legs(id, &legs.to_store())
                    .await?;
                let message = format!("broken: entry interrupted: {err}");
                let failed = self
                    .store
                    .set_position_state(id, PositionState::Open, Some(&message))
                    .await?;
                self.emit(PositionEventKind::Broken, &failed, initiator, message);
                self.prepared.forget(&symbol);
                self.cooldowns.failed(&symbol, Instant::now());
                return Err(err);
            }
        };
        match &stop {
            None => self.cooldowns.succeeded(&symbol),
            Some(Stop::Slippage(_)) => {
                self.cooldowns.paused(&symbol, Instant::now());
            }
            Some(_) => {
                // a refused order may be the venue's settings: set them again next time
                self.prepared.forget(&symbol);
                self.cooldowns.failed(&symbol, Instant::now());
            }
        }
        if let Err(err) = self
            .verify_drift(id, direction, &instrument, sizes.step)
            .await
        {
            // the legs are recorded as they are; drift repair continues from the rebalancer
            tracing::error!(symbol = %symbol, error = %err, "entry drift repair failed");
        }
        self.finish_entry(id, initiator, stop).await
    }

    /// Sets `symbol`'s margin type (cross) and `leverage` unless that was done less than
    /// [`prepared::REFRESH`](super::prepared::REFRESH) ago. The strategy calls it while a pair
    /// asks risk, so a first entry in a symbol does not wait two more REST calls for it.
    /// Reads `symbol`'s instrument for the entry that follows its approval, and for a short
    /// spot leg the coin cross margin lends (see `InstrumentsAhead` in `prepared.rs`); a failed
    /// read is left to the entry's own.
    pub(crate) async fn read_instrument_ahead(&self, symbol: &str, direction: Direction) {
        let Ok(instrument) = self.exchange.instrument(symbol).await else {
            return;
        };
        let lendable = match direction {
            Direction::NegativeCarry => self
                .exchange
                .max_borrowable(&instrument.base_asset)
                .await
                .ok(),
            Direction::PositiveCarry => None,
        };
        self.instruments_ahead.put(
            super::prepared::ReadAhead {
                instrument,
                lendable,
            },
            Instant::now(),
        );
    }

    /// Sets margin type and leverage in the background on those of `symbols` (the head of the
    /// ranking) not set yet, one task at a time: a pair's first entry then does not wait two
    /// venue calls for them (the slowest entries of `fff bench` were first entries).
    pub(crate) fn prepare_ahead(self: &Arc<Self>, symbols: &[&str]) {
        let leverage = self.params.leverage;
        let now = Instant::now();
        let todo: Vec<String> = symbols
            .iter()
            .filter(|symbol| !self.prepared.is_fresh(symbol, leverage, now))
            .map(|symbol| (*symbol).to_owned())
            .collect();
        if todo.is_empty() || !self.prepared.start_ahead() {
            return;
        }
        let engine = Arc::clone(self);
        self.spawn("prepare-ahead", async move {
            for symbol in todo {
                if let Err(err) = engine.prepare_perp(&symbol, leverage).await {
                    tracing::debug!(symbol, error = %err, "perp settings not set ahead; the entry sets them");
                }
            }
            engine.prepared.end_ahead();
            Ok(())
        });
    }

    pub(crate) async fn prepare_perp(&self, symbol: &str, leverage: u32) -> Result<()> {
        if !self.prepared.is_fresh(symbol, leverage, Instant::now()) {
            self.exchange.prepare_perp(symbol, leverage).await?;
            self.prepared.remember(symbol, leverage, Instant::now());
        }
        Ok(())
    }

    /// The slice index after the last entry slice this position sent (client order ids are
    /// per slice, so a top-up continues the numbering).
    async fn next_entry_slice(&self, id: i64) -> Result<u32> {
        let prefix = format!("fff{id}-Pe");
        let next = self
            .position_orders(id)
            .await?
            .iter()
            .filter_map(|o| o.client_order_id.strip_prefix(&prefix))
            .filter_map(|rest| rest.parse::<u32>().ok())
            .max()
            .map_or(0, |last| last.saturating_add(1));
        Ok(next)
    }

    /// Before the perp order: the spot side must be able to carry the hedge without borrowing
    /// USDT (cash for a long spot leg; lendable coin and collateral for a short one) and the
    /// futures wallet its margin. Transfers between the wallets first if one side is short.
    async fn check_funds(
        &self,
        instrument: &InstrumentInfo,
        direction: Direction,
        sizes: &fff_core::LegSizes,
        leverage: Decimal,
        funding: Funding,
        lendable_ahead: Option<Decimal>,
    ) -> Result<()> {
        let (notional, spot_qty) = (sizes.notional, sizes.spot_qty);
        let seen = match funding {
            Funding::Done(seen) => seen.map(|account| *account),
            Funding::Check => {
                let pending = self.params.model.hedge_capital(notional, direction)?;
                match self.fund_wallets_seen(pending).await {
                    Ok((_, seen)) => seen,
                    Err(err) => {
                        tracing::warn!(error = %err, "wallet funding before entry failed");
                        None
                    }
                }
            }
        };
        // the view the wallet check judged, unless it moved money (then read again)
        let account = match seen {
            Some(account) => account,
            None => self.exchange.account().await?,
        };
        let usdt_free = account.margin.get("USDT").map_or(Decimal::ZERO, |a| a.free);
        match direction {
            Direction::PositiveCarry if !self.params.capital.spot_usdt_borrow => {
                let cash = notional * CASH_HEADROOM;
                if usdt_free < cash {
                    return Err(ExecutorError::FailedPrecondition(format!(
                        "cross margin holds {usdt_free} USDT, the spot leg needs {cash}"
                    )));
                }
            }
            Direction::PositiveCarry => {}
            Direction::NegativeCarry => {
                let lendable = match lendable_ahead {
                    Some(lendable) => lendable,
                    None => self.exchange.max_borrowable(&instrument.base_asset).await?,
                };
                if lendable < spot_qty {
                    return Err(ExecutorError::FailedPrecondition(format!(
                        "cross margin lends {lendable} {}, the short needs {spot_qty}",
                        instrument.base_asset
                    )));
                }
            }
        }
        // initial margin at the position's leverage (the buffer is the wallet plan's job)
        let margin = notional / leverage;
        let available = account.wallets.futures_available;
        if available < margin {
            return Err(ExecutorError::FailedPrecondition(format!(
                "futures wallet has {available} USDT available, the perp needs {margin} of margin"
            )));
        }
        Ok(())
    }

    async fn enter_slices(
        &self,
        id: i64,
        direction: Direction,
        instrument: &InstrumentInfo,
        step: Decimal,
        slices: &[Decimal],
        first_slice: u32,
    ) -> Result<Option<Stop>> {
        let interval = Duration::from_millis(self.params.execution.twap_slice_interval_ms);
        for (index, qty) in slices.iter().enumerate() {
            let slice = first_slice.saturating_add(u32::try_from(index).unwrap_or(u32::MAX));
            if index > 0 {
                // the checks follow the pause: a halt or an exit that came during it stops the
                // next slice (checked before it, a CLOSE_ALL waited a whole slice and its exit
                // queued behind one more entry slice on the symbol)
                tokio::time::sleep(interval).await;
            }
            // the first slice too: a top-up decided before a CLOSE_ALL must not add to a hedge
            // whose exit is queued behind the others
            if let Some(block) = self.slice_block() {
                return Ok(Some(Stop::Interrupted(block)));
            }
            if index > 0 {
                let state = self.store.get_position(id).await?.map(|p| p.state);
                // OPENING for a first entry, OPEN for a top-up; anything else (an exit) stops it
                if !matches!(state, Some(PositionState::Opening | PositionState::Open)) {
                    return Ok(Some(Stop::Interrupted(format!("position is {state:?}"))));
                }
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
            let perp_request = OrderRequest {
                client_order_id: client_order_id(id, Leg::Perp, Step::Entry(slice)),
                venue: Venue::UsdmPerp,
                symbol: instrument.symbol.clone(),
                side: direction.perp_entry_side(),
                kind: OrderKind::Market,
                qty: *qty,
                reduce_only: false,
                side_effect: SideEffect::NoSideEffect,
            };
            // the hedge's first order is committed with the perp's, sized to the whole slice
            // (it is sent for what the perp fills): one commit before the perp, none between
            // its fill and the hedge
            let spot_step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
            let bound = floor_to_step(*qty, spot_step);
            let hedge_first = self.hedge_request(id, slice, 0, direction, instrument, bound);
            let claim =
                (bound > Decimal::ZERO).then(|| self.ahead.claim(&hedge_first.client_order_id));
            if claim.is_some() {
                self.check_fence()?;
                let written = self
                    .store
                    .insert_order_intents(&[
                        intent_for(id, &perp_request),
                        intent_for(id, &hedge_first),
                    ])
                    .await?;
                if !written.iter().all(|w| w.created) {
                    // slice ids are fresh per position: a row already there is a bug, and
                    // sending on top of it could double an order
                    return Err(ExecutorError::FailedPrecondition(format!(
                        "entry slice {slice} of position {id} was written before"
                    )));
                }
            }
            if let Some(origin) = self.take_origin(id) {
                self.metrics.opportunity_to_order.record(origin.elapsed());
            }
            let answer = if claim.is_some() {
                // the gateway sends the hedge on the perp's fill, sized as `hedge` sizes it
                let hedge = (spot_step > Decimal::ZERO).then_some((&hedge_first, spot_step));
                self.send_ahead(id, perp_request, hedge).await?
            } else {
                Answer::Followed(self.execute(id, perp_request).await?)
            };
            let (perp, filled_at, hedged) = match answer {
                Answer::Final {
                    report,
                    recorded,
                    hedge_sent,
                } => {
                    let filled_at = Instant::now();
                    // the hedge first (the gateway sent it on the fill; this follows it to its
                    // answer), the perp's row after it: both intents were committed before
                    // the send, and a commit in the same millisecond competes for the cores
                    // the hedge's send needs. The row is written even if the hedge failed,
                    // before that error goes up.
                    let hedged = self
                        .hedge(
                            id,
                            slice,
                            direction,
                            instrument,
                            report.executed_qty,
                            filled_at,
                            claim.as_ref().map(|claim| (claim, !hedge_sent)),
                        )
                        .await;
                    let perp = recorded.await;
                    (perp?, filled_at, Some(hedged?))
                }
                Answer::Followed(perp) => (perp, Instant::now(), None),
            };
            if perp.executed_qty <= Decimal::ZERO {
                if claim.is_some() {
                    self.expire_never_sent(
                        &hedge_first.client_order_id,
                        "its perp slice did not fill",
                    )
                    .await?;
                }
                let reason = perp
                    .error
                    .clone()
                    .unwrap_or_else(|| perp.status.to_string());
                return Ok(Some(Stop::HedgeFailed(format!(
                    "perp entry not filled: {reason}"
                ))));
            }
            let hedged = match hedged {
                Some(hedged) => hedged,
                None => {
                    self.hedge(
                        id,
                        slice,
                        direction,
                        instrument,
                        perp.executed_qty,
                        filled_at,
                        // the gateway may have sent it on a fill this answer did not show
                        claim.as_ref().map(|claim| (claim, false)),
                    )
                    .await?
                }
            };
            drop(claim);
            let naked = floor_to_step(perp.executed_qty - hedged, step);
            if naked > Decimal::ZERO {
                let unwound = self
                    .unwind(id, slice, direction, instrument, naked, filled_at)
                    .await;
                crate::alerts::hedge_failed(
                    &instrument.symbol,
                    perp.executed_qty,
                    hedged,
                    naked,
                    unwound.as_ref().err().map(|e| e as &dyn std::fmt::Display),
                );
                unwound?;
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

    /// The spot order of hedge attempt `attempt` of entry slice `slice`, for `qty`.
    fn hedge_request(
        &self,
        id: i64,
        slice: u32,
        attempt: u32,
        direction: Direction,
        instrument: &InstrumentInfo,
        qty: Decimal,
    ) -> OrderRequest {
        let side = direction.spot_entry_side();
        OrderRequest {
            client_order_id: client_order_id(id, Leg::Spot, Step::Hedge(slice, attempt)),
            venue: Venue::SpotMargin,
            symbol: instrument.symbol.clone(),
            side,
            kind: OrderKind::Market,
            qty,
            reduce_only: false,
            side_effect: spot_side_effect(direction, side, self.params.capital.spot_usdt_borrow),
        }
    }

    /// Spot orders until `perp_filled` is mirrored or the retries run out; returns the
    /// quantity hedged. `ahead` holds the first attempt's intent when it was committed with
    /// the perp, and whether it is still fresh (the gateway was not asked to send it, or
    /// answered that it did not): it is sent without a write, or closed as never sent if
    /// nothing is left to hedge.
    #[allow(clippy::too_many_arguments)]
    async fn hedge(
        &self,
        id: i64,
        slice: u32,
        direction: Direction,
        instrument: &InstrumentInfo,
        perp_filled: Decimal,
        filled_at: Instant,
        ahead: Option<(&super::ahead::Claim<'_>, bool)>,
    ) -> Result<Decimal> {
        let step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
        let mut hedged = Decimal::ZERO;
        let mut first_sent = false;
        let retries = self.params.execution.hedge_max_retries;
        for attempt in 0..=retries {
            let remaining = floor_to_step(perp_filled - hedged, step);
            if remaining <= Decimal::ZERO {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(
                    self.params.execution.hedge_retry_delay_ms,
                ))
                .await;
            }
            let request = self.hedge_request(id, slice, attempt, direction, instrument, remaining);
            let order = if attempt == 0 && ahead.is_some() {
                first_sent = true;
                let fresh = ahead.is_some_and(|(_, fresh)| fresh);
                self.execute_written_ahead(id, request, Some(filled_at), fresh)
                    .await?
            } else {
                self.execute_timed(id, request, (attempt == 0).then_some(filled_at))
                    .await?
            };
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
        if let Some((claim, _)) = ahead
            && !first_sent
        {
            // the perp filled less than one spot step: the written-ahead hedge is not sent
            self.expire_never_sent(claim.client_order_id(), "nothing of its perp to hedge")
                .await?;
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

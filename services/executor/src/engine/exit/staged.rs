//! The staged (maker-first) part of a normal exit: both legs reduced in matched slices, each
//! slice resting a post-only order per leg (`LIMIT_MAKER` on cross margin, `LIMIT` + `GTX` on
//! USDⓈ-M) at that leg's own best price on its side (the gateway's book; the mark without one),
//! rounded to the passive side, for up to `exit_limit_timeout_ms`, then the
//! unfilled rest taken (IOC/market), the lagging leg first. A leg whose maker order filled
//! completely does not wait for the timeout: the other leg follows at once, so the legs never
//! differ by more than one slice. Post-only orders are written as intents before they are sent,
//! like every order, and always cancelled (and their final fill read) before the rest is taken.

use std::time::{Duration, Instant};

use fff_core::filters::{common_step, floor_to_step};
use fff_core::{Direction, PriceRounding, Side, SymbolFilters, Venue, twap_slices};
use fff_store::{Leg, OrderIntent, OrderStatus, OrderType, OrderUpdate, Position, TimeInForce};
use rust_decimal::Decimal;

use super::{ExitPlan, LegTrade, tradable};
use crate::engine::Engine;
use crate::engine::entry::spot_side_effect;
use crate::engine::orders::update_from;
use crate::error::{ExecutorError, Result};
use crate::exchange::{Books, ExchangeError, InstrumentInfo, MakerOrder, OrderReport, Quote};
use crate::ids::{Step, client_order_id};
use crate::legs::{SignedLegs, leg_of, store_side, store_venue};

/// How often a resting post-only order is looked at.
const MAKER_POLL: Duration = Duration::from_millis(100);
/// A cancel that could not be sent is sent again this long after (at most a fifth of the
/// order timeout, so a few tries fit in it).
const CANCEL_RETRY: Duration = Duration::from_millis(500);
/// How many times a post-only order refused at once (it would have taken: the book moved
/// since the gateway last saw it) is re-priced from a fresh book before the leg is left to
/// the taker fallback, and the pause before each (the gateway polls spot books, every second
/// by default: its view can be that old).
const MAKER_REPRICES: u32 = 3;
const MAKER_REPRICE_PAUSE: Duration = Duration::from_millis(250);
/// How far behind its own side of the book a re-priced post-only order goes on its first
/// re-price, as a fraction of the price (5 bp), doubling on each further one: a book that
/// moved past the gateway's view moved by more than a tick.
const MAKER_REPRICE_STEP: Decimal = Decimal::from_parts(5, 0, 0, false, 4);

/// The post-only price: the mark rounded to the tick away from the other side of the book
/// (up for a sell, down for a buy), so the order joins the queue rather than crossing.
pub(super) fn passive_price(filters: &SymbolFilters, mark: Decimal, side: Side) -> Decimal {
    let rounding = match side {
        Side::Sell => PriceRounding::Up,
        Side::Buy => PriceRounding::Down,
    };
    filters.round_price(mark, rounding)
}

/// The post-only price of one leg: that leg's own best price on the order's side (the ask for
/// a sell, the bid for a buy: joining the queue, never crossing), rounded to the tick away from
/// the other side; the mark when the gateway has no book for the venue.
pub(super) fn maker_price(
    filters: &SymbolFilters,
    book: Option<Quote>,
    mark: Decimal,
    side: Side,
) -> Decimal {
    let reference = match (book, side) {
        (Some(quote), Side::Sell) if quote.is_sane() => quote.ask,
        (Some(quote), Side::Buy) if quote.is_sane() => quote.bid,
        _ => mark,
    };
    passive_price(filters, reference, side)
}

/// Slice quantities of a staged exit: the matched part of both legs in TWAP slices; the last
/// slice of each leg also takes what that leg has beyond the matched part (fee dust on a long
/// spot leg, interest on a short one), so the slices close the plan exactly. Empty when the
/// matched part cannot be traded on both venues.
pub(super) fn staged_slices(
    plan: &ExitPlan,
    instrument: &InstrumentInfo,
    params: &fff_core::ExecutionParams,
) -> Vec<(Decimal, Decimal)> {
    let mark = instrument.mark_price;
    let steps = (
        instrument.perp.effective_step(),
        instrument.spot.effective_step(),
    );
    let Some(step) = (match steps {
        (Some(perp), Some(spot)) => common_step(perp, spot),
        _ => None,
    }) else {
        return Vec::new();
    };
    let matched = floor_to_step(plan.perp_qty.min(plan.spot_qty), step);
    if mark <= Decimal::ZERO
        || !tradable(Leg::Perp, &instrument.perp, matched, mark)
        || !tradable(Leg::Spot, &instrument.spot, matched, mark)
    {
        return Vec::new();
    }
    let mut slices: Vec<(Decimal, Decimal)> = twap_slices(matched, mark, step, params)
        .into_iter()
        .map(|q| (q, q))
        .collect();
    if let Some(last) = slices.last_mut() {
        last.0 += plan.perp_qty - matched;
        last.1 += plan.spot_qty - matched;
    }
    slices
}

/// A post-only order of a slice and what is known of it.
#[derive(Debug, Clone)]
struct Resting {
    order: MakerOrder,
    status: OrderStatus,
    executed: Decimal,
}

impl Resting {
    fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    fn is_filled(&self) -> bool {
        self.executed >= self.order.qty
    }
}

/// One leg of a staged-exit slice: its quantity and how much of it has executed.
#[derive(Debug, Clone, Copy)]
struct SliceLeg {
    leg: Leg,
    side: Side,
    qty: Decimal,
    done: Decimal,
}

impl SliceLeg {
    fn left(&self) -> Decimal {
        self.qty - self.done
    }

    fn can_trade(&self, instrument: &InstrumentInfo, qty: Decimal) -> bool {
        let filters = match self.leg {
            Leg::Perp => &instrument.perp,
            Leg::Spot => &instrument.spot,
        };
        tradable(self.leg, filters, qty, instrument.mark_price)
    }
}

impl Engine {
    /// The staged (maker-first) part of a normal exit: matched slices on both legs. Stops with
    /// an error when a slice could not be completed; the legs then differ by at most one slice.
    pub(super) async fn staged_exit(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        plan: &ExitPlan,
    ) -> Result<()> {
        let slices = staged_slices(plan, instrument, &self.params.execution);
        let count = slices.len();
        for (index, (perp_qty, spot_qty)) in slices.into_iter().enumerate() {
            // price every slice off a fresh mark
            let fresh;
            let instrument = if index == 0 {
                instrument
            } else {
                fresh = self.exchange.instrument(&position.symbol).await?;
                self.set_mark(&position.symbol, fresh.mark_price);
                &fresh
            };
            tracing::info!(
                symbol = %position.symbol,
                slice = index,
                slices = count,
                %perp_qty,
                %spot_qty,
                "staged exit slice"
            );
            // each leg's post-only order is priced from its own book (the spot book sits away
            // from the perp's mark by the basis); without one, from the mark
            let books = match self.exchange.books(&position.symbol).await {
                Ok(books) => books,
                Err(err) => {
                    tracing::warn!(symbol = %position.symbol, error = %err, "no book from the gateway; pricing post-only orders from the mark");
                    Books::default()
                }
            };
            self.exit_slice(
                position,
                direction,
                instrument,
                &books,
                plan,
                (perp_qty, spot_qty),
            )
            .await?;
            let legs =
                SignedLegs::from_orders(direction, &self.position_orders(position.id).await?);
            self.store
                .update_position_legs(position.id, &legs.to_store())
                .await?;
        }
        Ok(())
    }

    /// One slice: post-only orders on both legs, rest, cancel, take the rest (lagging leg
    /// first). Errors when a leg could not be brought to its slice quantity.
    async fn exit_slice(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        books: &Books,
        plan: &ExitPlan,
        (perp_qty, spot_qty): (Decimal, Decimal),
    ) -> Result<()> {
        let id = position.id;
        let mark = instrument.mark_price;
        let perp_order = MakerOrder {
            client_order_id: String::new(),
            venue: Venue::UsdmPerp,
            symbol: position.symbol.clone(),
            side: plan.perp_side,
            price: maker_price(&instrument.perp, books.perp, mark, plan.perp_side),
            qty: perp_qty,
            reduce_only: true,
            side_effect: fff_store::SideEffect::NoSideEffect,
        };
        let spot_order = MakerOrder {
            client_order_id: String::new(),
            venue: Venue::SpotMargin,
            symbol: position.symbol.clone(),
            side: plan.spot_side,
            price: maker_price(&instrument.spot, books.spot, mark, plan.spot_side),
            qty: spot_qty,
            reduce_only: false,
            side_effect: spot_side_effect(
                direction,
                plan.spot_side,
                self.params.capital.spot_usdt_borrow,
            ),
        };
        let mut perp = self
            .post_repriced(id, perp_order, &instrument.perp, mark)
            .await?;
        let mut spot = match self
            .post_repriced(id, spot_order, &instrument.spot, mark)
            .await
        {
            Ok(spot) => spot,
            Err(err) => {
                if let Err(cancel_err) = self.withdraw(&mut perp).await {
                    tracing::error!(error = %cancel_err, "perp post-only order not withdrawn");
                }
                return Err(err);
            }
        };

        // rest until both are done, one has filled completely, or the timeout
        let deadline =
            Instant::now() + Duration::from_millis(self.params.execution.exit_limit_timeout_ms);
        loop {
            let both_done = perp.is_terminal() && spot.is_terminal();
            let one_filled = perp.is_filled() != spot.is_filled();
            let now = Instant::now();
            if both_done || one_filled || now >= deadline {
                break;
            }
            tokio::time::sleep(MAKER_POLL.min(deadline - now)).await;
            for resting in [&mut perp, &mut spot] {
                if !resting.is_terminal()
                    && let Err(err) = self.refresh(resting).await
                {
                    tracing::debug!(error = %err, "post-only order lookup failed; retrying");
                }
            }
        }
        let withdrawn = self.withdraw(&mut perp).await;
        let withdrawn_spot = self.withdraw(&mut spot).await;
        withdrawn?;
        withdrawn_spot?;
        tracing::info!(
            symbol = %position.symbol,
            perp_maker = %perp.executed,
            spot_maker = %spot.executed,
            "post-only orders of the slice done"
        );

        // the lagging leg (more left) first; the other follows only as far as it got
        let perp_leg = SliceLeg {
            leg: Leg::Perp,
            side: plan.perp_side,
            qty: perp_qty,
            done: perp.executed,
        };
        let spot_leg = SliceLeg {
            leg: Leg::Spot,
            side: plan.spot_side,
            qty: spot_qty,
            done: spot.executed,
        };
        let (mut first, mut second) = if perp_leg.left() >= spot_leg.left() {
            (perp_leg, spot_leg)
        } else {
            (spot_leg, perp_leg)
        };
        let first_target = first.qty;
        let first_error = self
            .follow_up(position, direction, instrument, &mut first, first_target)
            .await?;
        let first_complete = !first.can_trade(instrument, first.left());
        // while the first leg is short, the second goes no further than the first got
        let second_target = if first_complete {
            second.qty
        } else {
            second.qty.min(first.done)
        };
        let second_error = self
            .follow_up(position, direction, instrument, &mut second, second_target)
            .await?;
        if first_complete && !second.can_trade(instrument, second.left()) {
            return Ok(());
        }
        let (perp_left, spot_left) = match first.leg {
            Leg::Perp => (first.left(), second.left()),
            Leg::Spot => (second.left(), first.left()),
        };
        Err(ExecutorError::Internal(format!(
            "exit slice incomplete: perp {perp_left}, spot {spot_left} left: {}",
            first_error.or(second_error).unwrap_or_default()
        )))
    }

    /// Takes liquidity on one leg of a slice up to `target` executed (a staged exit prefers
    /// limits: the perp goes limit IOC within the tolerance first); returns the last refusal.
    async fn follow_up(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        leg: &mut SliceLeg,
        target: Decimal,
    ) -> Result<Option<String>> {
        let qty = target - leg.done;
        if !leg.can_trade(instrument, qty) {
            return Ok(None);
        }
        let trade = LegTrade {
            leg: leg.leg,
            side: leg.side,
            qty,
            limit_first: leg.leg == Leg::Perp,
        };
        let taken = self.take(position, direction, instrument, trade).await?;
        leg.done += taken.executed;
        Ok(taken.last_error)
    }

    /// Places a post-only order; one refused at once with nothing filled (it would have taken
    /// liquidity: the venue's book moved past the gateway's view of it) is placed again under a
    /// new id, priced from a fresh book and further behind its own side each time
    /// ([`MAKER_REPRICE_STEP`]), a bounded number of times. Returns the last one.
    async fn post_repriced(
        &self,
        id: i64,
        mut order: MakerOrder,
        filters: &SymbolFilters,
        mark: Decimal,
    ) -> Result<Resting> {
        let mut resting = self.post_maker(id, order.clone()).await?;
        for attempt in 1..=MAKER_REPRICES {
            let refused = resting.is_terminal() && resting.executed.is_zero();
            if !refused {
                break;
            }
            tokio::time::sleep(MAKER_REPRICE_PAUSE).await;
            let books = self.exchange.books(&order.symbol).await.unwrap_or_default();
            let quote = match order.venue {
                Venue::SpotMargin => books.spot,
                Venue::UsdmPerp => books.perp,
            };
            let reference = match (quote, order.side) {
                (Some(quote), Side::Sell) if quote.is_sane() => quote.ask,
                (Some(quote), Side::Buy) if quote.is_sane() => quote.bid,
                _ => mark,
            };
            let away = reference * MAKER_REPRICE_STEP * Decimal::from(1u32 << (attempt - 1));
            let priced = match order.side {
                Side::Sell => maker_price(filters, None, reference + away, order.side),
                Side::Buy => maker_price(filters, None, reference - away, order.side),
            };
            // and always at least a tick further than the refused price
            order.price = match order.side {
                Side::Sell => priced.max(order.price + filters.tick_size),
                Side::Buy => priced.min(order.price - filters.tick_size),
            };
            if order.price <= Decimal::ZERO {
                break;
            }
            tracing::info!(
                symbol = %order.symbol,
                venue = ?order.venue,
                price = %order.price,
                attempt,
                "post-only order refused at once; re-priced from a fresh book"
            );
            resting = self.post_maker(id, order.clone()).await?;
        }
        Ok(resting)
    }

    /// Writes the intent, then places the post-only order; a venue refusal comes back as a
    /// terminal order, an unknown outcome is resolved by client order id.
    async fn post_maker(&self, id: i64, mut order: MakerOrder) -> Result<Resting> {
        let n = self.next_step(id).await?;
        let leg = leg_of(order.venue);
        order.client_order_id = client_order_id(id, leg, Step::ExitMaker(n));
        let intent = OrderIntent {
            client_order_id: order.client_order_id.clone(),
            position_id: Some(id),
            venue: store_venue(order.venue),
            leg,
            symbol: order.symbol.clone(),
            side: store_side(order.side),
            order_type: OrderType::LimitMaker,
            // what the venue receives: LIMIT_MAKER on spot, LIMIT + GTX on USDⓈ-M
            time_in_force: (order.venue == Venue::UsdmPerp).then_some(TimeInForce::Gtx),
            qty: order.qty,
            price: Some(order.price),
            reduce_only: order.reduce_only,
            side_effect: order.side_effect,
        };
        let inserted = self.store.insert_order_intent(&intent).await?;
        let mut resting = Resting {
            status: inserted.row.status,
            executed: inserted.row.executed_qty,
            order,
        };
        if resting.is_terminal() {
            return Ok(resting);
        }
        if !inserted.created
            && let Some(report) = self
                .exchange
                .get_order(
                    resting.order.venue,
                    &resting.order.symbol,
                    &resting.order.client_order_id,
                )
                .await?
        {
            // sent before: follow it, do not send again
            self.record(&mut resting, &report).await?;
            return Ok(resting);
        }
        match self.exchange.place_maker(&resting.order).await {
            Ok(report) => {
                self.record(&mut resting, &report).await?;
                if resting.status == OrderStatus::Rejected || resting.status == OrderStatus::Expired
                {
                    tracing::info!(
                        client_order_id = %resting.order.client_order_id,
                        reason = report.reject_reason.as_deref().unwrap_or_default(),
                        "post-only order refused"
                    );
                }
            }
            Err(ExchangeError::Rejected(reason)) => {
                tracing::warn!(client_order_id = %resting.order.client_order_id, %reason, "post-only order rejected");
                let update = OrderUpdate {
                    error: Some(reason),
                    ..OrderUpdate::status(OrderStatus::Rejected)
                };
                let row = self
                    .store
                    .update_order(&resting.order.client_order_id, &update)
                    .await?
                    .into_row();
                resting.status = row.status;
                resting.executed = row.executed_qty;
            }
            Err(ExchangeError::Unknown(reason)) => {
                tracing::warn!(client_order_id = %resting.order.client_order_id, %reason, "post-only order outcome unknown; asking the gateway");
                let update = OrderUpdate {
                    error: Some(reason.clone()),
                    ..OrderUpdate::status(OrderStatus::Unknown)
                };
                self.store
                    .update_order(&resting.order.client_order_id, &update)
                    .await?;
                let deadline = Instant::now() + self.params.order_timeout;
                loop {
                    if Instant::now() >= deadline {
                        if crate::engine::orders::refused_before_sending(&reason) {
                            // never sent: closed as such, the slice takes the rest instead
                            let row = self
                                .expire_never_sent(&resting.order.client_order_id, &reason)
                                .await?;
                            resting.status = row.status;
                            resting.executed = row.executed_qty;
                            break;
                        }
                        self.settle_unknown_maker(&mut resting, &reason).await?;
                        break;
                    }
                    tokio::time::sleep(MAKER_POLL).await;
                    match self.refresh(&mut resting).await {
                        Ok(true) => break,
                        Ok(false) => {}
                        Err(err) => tracing::debug!(error = %err, "get_order failed; retrying"),
                    }
                }
            }
        }
        Ok(resting)
    }

    /// Settles a post-only order whose outcome stayed unknown past the order timeout and that
    /// no look-up found, as market orders are settled: a cancel the venue refuses as unknown
    /// means it never arrived (closed EXPIRED, nothing executed); one it finds is followed as a
    /// resting order. A cancel that itself fails (a ban still running) is tried again, bounded.
    /// Failing the exit instead left the row UNKNOWN until the stale-order sweep a minute later
    /// (soak, seed 12566863806630931338).
    async fn settle_unknown_maker(&self, resting: &mut Resting, reason: &str) -> Result<()> {
        let (venue, symbol, id) = (
            resting.order.venue,
            resting.order.symbol.clone(),
            resting.order.client_order_id.clone(),
        );
        for pause in crate::engine::orders::SETTLE_RETRY_PAUSES {
            match self.exchange.cancel_order(venue, &symbol, &id).await {
                Err(ExchangeError::Rejected(why)) => {
                    let row = self.store.get_order(&id).await?;
                    let untouched = row.as_ref().is_none_or(|row| {
                        row.exchange_order_id.is_none() && row.executed_qty.is_zero()
                    });
                    if untouched {
                        let why = format!("not at the venue after the timeout ({reason}): {why}");
                        let row = self.expire_never_sent(&id, &why).await?;
                        resting.status = row.status;
                        resting.executed = row.executed_qty;
                        return Ok(());
                    }
                }
                Err(err) => {
                    tracing::warn!(client_order_id = %id, error = %err, "cancel of a post-only order with an unknown outcome failed; retrying");
                }
                Ok(()) => {}
            }
            if let Ok(true) = self.refresh(resting).await {
                return Ok(());
            }
            tokio::time::sleep(pause).await;
        }
        Err(ExecutorError::Exchange(ExchangeError::Unknown(
            reason.to_owned(),
        )))
    }

    /// Looks the order up and records it; false if the exchange does not know it (yet).
    async fn refresh(&self, resting: &mut Resting) -> Result<bool> {
        let Some(report) = self
            .exchange
            .get_order(
                resting.order.venue,
                &resting.order.symbol,
                &resting.order.client_order_id,
            )
            .await?
        else {
            return Ok(false);
        };
        self.record(resting, &report).await?;
        Ok(true)
    }

    /// Stores `report`; the stored row (never moved backwards) is the truth kept in `resting`.
    async fn record(&self, resting: &mut Resting, report: &OrderReport) -> Result<()> {
        let row = self
            .store
            .update_order(&resting.order.client_order_id, &update_from(report))
            .await?
            .into_row();
        resting.status = row.status;
        resting.executed = row.executed_qty;
        Ok(())
    }

    /// Cancels a resting order and waits (bounded) until the exchange reports it terminal, so
    /// its executed quantity is final before the rest is taken elsewhere.
    async fn withdraw(&self, resting: &mut Resting) -> Result<()> {
        if resting.is_terminal() {
            return Ok(());
        }
        let (venue, symbol, id) = (
            resting.order.venue,
            resting.order.symbol.clone(),
            resting.order.client_order_id.clone(),
        );
        let deadline = Instant::now() + self.params.order_timeout;
        // a cancel the gateway could not send (its lease lost for a moment, a 429 pause) is sent
        // again while the order still rests: left alone it may fill after this exit has moved
        // on, and the exit would sell the same coins twice
        let mut cancel_due = Some(Instant::now());
        // the venue's answer when it refused the cancel: the order ended, or never arrived
        let mut refused: Option<String> = None;
        loop {
            if cancel_due.is_some_and(|due| Instant::now() >= due) {
                cancel_due = match self.exchange.cancel_order(venue, &symbol, &id).await {
                    Ok(_) => None,
                    Err(ExchangeError::Rejected(why)) => {
                        // the venue answered: sending it again gets the same answer; the
                        // look-up below says whether the order ended or never arrived
                        refused = Some(why);
                        None
                    }
                    Err(err) => {
                        // it may have filled or ended meanwhile: the lookup below says which
                        tracing::warn!(client_order_id = %id, error = %err, "cancel of a post-only order failed");
                        Some(Instant::now() + CANCEL_RETRY.min(self.params.order_timeout / 5))
                    }
                };
            }
            match self.refresh(resting).await {
                Ok(_) if resting.is_terminal() => return Ok(()),
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "get_order failed; retrying"),
            }
            if Instant::now() >= deadline {
                // an order whose send had no answer, that the venue refuses to cancel as
                // unknown and never listed, a whole order timeout later, never arrived (as
                // market orders are settled); left UNKNOWN it failed the exit (soak, seed
                // 13529996182183367047)
                if let Some(why) = &refused
                    && matches!(
                        resting.status,
                        OrderStatus::Unknown | OrderStatus::Intent | OrderStatus::Sent
                    )
                    && resting.executed.is_zero()
                {
                    let untouched = self.store.get_order(&id).await?.is_none_or(|row| {
                        row.exchange_order_id.is_none() && row.executed_qty.is_zero()
                    });
                    if untouched {
                        let row = self
                            .expire_never_sent(
                                &id,
                                &format!("not at the venue after the timeout: {why}"),
                            )
                            .await?;
                        resting.status = row.status;
                        resting.executed = row.executed_qty;
                        return Ok(());
                    }
                }
                return Err(ExecutorError::Exchange(ExchangeError::Unknown(format!(
                    "post-only order {id} still {} after cancel",
                    resting.status
                ))));
            }
            tokio::time::sleep(MAKER_POLL).await;
        }
    }
}

//! Exit of one hedged position.
//!
//! How the orders meet the book depends on the urgency:
//!
//! - [`Urgency::Normal`] with `execution.exit_prefer_limit`: a **staged exit** ([`staged`]):
//!   matched slices on both legs, each resting a post-only order per leg at its own book's best
//!   price on its side (the mark without a book) rounded to the passive side for up to `execution.exit_limit_timeout_ms`, then the unfilled rest taken
//!   (perp limit IOC within the slippage tolerance then market, spot market), lagging leg first.
//! - [`Urgency::High`]: no resting orders; the perp goes limit IOC within the slippage
//!   tolerance, then market.
//! - [`Urgency::Immediate`]: market orders at once.
//!
//! Then, whatever is left: the perp first, then the spot leg (sell what is held, or buy back the
//! borrowed base asset and its interest with auto-repay; never while the perp is still open),
//! then any loan left is repaid. The position is CLOSED only when the legs' executed quantities
//! say both are flat; otherwise it stays CLOSING with the reason and the exit is retried
//! ([`Engine::resume_exits`]).

mod staged;

use std::sync::Arc;
use std::time::Duration;

use fff_core::filters::{ceil_to_step, floor_to_step};
use fff_core::{Direction, PriceRounding, Side, SymbolFilters, Venue};
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_store::{Leg, Position, PositionState};
use rust_decimal::Decimal;

use super::Engine;
use super::entry::spot_side_effect;

/// Over-buy when covering a loan shortfall, for the commission charged in the base asset.
const LOAN_COVER_HEADROOM: Decimal = Decimal::from_parts(101, 0, 0, false, 2);
/// How many times an account snapshot that contradicts the exit's own fills (the gateway's
/// cache may predate them by `exchange.account_max_age_ms`, 3 s by default, more while its
/// stream is down) is read again, [`SNAPSHOT_REREAD_PAUSE`] apart.
const SNAPSHOT_REREADS: u32 = 4;
const SNAPSHOT_REREAD_PAUSE: Duration = Duration::from_secs(1);
/// Exits of one position that may end with the venue still holding a leg before the position
/// is flagged broken (`last_error` "broken: …", an alert) and no longer resumed on its own.
pub(crate) const EXIT_VENUE_ATTEMPTS: u32 = 3;
use crate::error::{ExecutorError, Result};
use crate::exchange::{InstrumentInfo, MarginAsset, OrderKind, OrderRequest};
use crate::ids::{Step, client_order_id};
use crate::legs::{SignedLegs, core_direction};

/// How aggressively to exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Staged: post-only (maker) orders on both legs in matched slices, each resting up to
    /// `exit_limit_timeout_ms`, then IOC/market for the rest (with `exit_prefer_limit`;
    /// otherwise as [`Urgency::High`]). Rebalancer and strategy closes, operator closes.
    Normal,
    /// Prompt, nothing rests: perp limit IOC within the slippage tolerance, then market. Flips
    /// and resumed exits.
    High,
    /// Market orders on both legs at once: risk directives (reduce, emergency deleverage,
    /// close all) and operator emergency closes.
    Immediate,
}

/// What the exit has to trade on each leg, fixed when the exit (or its retry) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExitPlan {
    pub perp_side: Side,
    /// Perp quantity to close (the whole leg).
    pub perp_qty: Decimal,
    pub spot_side: Side,
    /// Spot quantity to trade, on the spot step: what is held of a long leg (fees taken in
    /// the base asset leave less than was bought), or what is owed with interest for a short.
    pub spot_qty: Decimal,
}

/// Most of what a long spot leg bought that base-asset commissions can have taken (0.5 %,
/// five times Binance's VIP 0 spot taker fee).
/// Longest wait, when an exit follows its entry's last buys closely, for their fills to be
/// booked so the spot leg is sold net of its commission exactly (soak: 605 DOGE left long by
/// an exit 0.3 s after the last buy, on the bound below).
const FILL_BOOKING_WAIT: Duration = Duration::from_secs(2);
const FILL_BOOKING_POLL: Duration = Duration::from_millis(50);
const COMMISSION_TRIM_BOUND: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

impl ExitPlan {
    /// `asset` is the cross-margin balance of the base asset, `None` if the account is unknown.
    #[cfg(test)]
    pub(crate) fn new(legs: &SignedLegs, asset: Option<&MarginAsset>, spot_step: Decimal) -> Self {
        Self::with_fees(legs, asset, spot_step, None)
    }

    /// As [`ExitPlan::new`], with the commission the spot leg's buys paid in the base asset
    /// when every one of their fills is booked: the leg's holding is then known exactly, and a
    /// snapshot older than the last buys cannot make the exit sell less than that.
    pub(crate) fn with_fees(
        legs: &SignedLegs,
        asset: Option<&MarginAsset>,
        spot_step: Decimal,
        base_fees: Option<Decimal>,
    ) -> Self {
        let perp_side = if legs.perp > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let (spot_side, spot_qty) = if legs.spot > Decimal::ZERO {
            // The free balance only trims what base-asset commissions took (a fraction of a
            // percent of everything bought: of what is left after a partial exit, it can be
            // several percent). A balance far below the leg is a snapshot older than the
            // entry's fills (the gateway's account view can lag by seconds): trusting it would
            // leave the spot leg behind while the perp is closed.
            //
            // Uneven legs (an entry whose books missed a fill) sell what the venue holds, up to
            // what the perp hedges: the perp is closed in full, and spot left beyond it would be
            // a naked long.
            //
            // With every buy's fills booked, the holding is the leg net of their commissions in
            // the coin: the bound below sold 0.4 % short of it on a snapshot 0.4 s older than
            // the entry's last buys (soak: 449 DOGE left long after the exit, seed
            // 472099354023154587).
            let least = match base_fees {
                Some(fees) => legs.spot - fees,
                None => legs.spot - legs.spot_bought.max(legs.spot) * COMMISSION_TRIM_BOUND,
            };
            let most = legs.spot.max(legs.perp.abs());
            let held = match asset {
                Some(asset) => most.min(asset.free.max(least)),
                None => legs.spot,
            };
            (
                Side::Sell,
                floor_to_step(held.max(Decimal::ZERO), spot_step),
            )
        } else if legs.spot < Decimal::ZERO {
            // buy back what the loan and its interest exceed the free base asset by;
            // auto-repay settles it from the proceeds. A MARGIN_BUY sell borrows its whole
            // quantity when placed, so one that filled in part leaves the unsold rest free
            // against the loan: buying the whole loan back would over-buy by that rest and
            // leave it as a naked long once the loan is repaid.
            //
            // The books' short is what must be bought at least; the snapshot adds what the
            // buy-backs' commissions (taken in the coin) and the interest left owed. A snapshot
            // showing more predates this position's own buy-backs (the gateway's view lags the
            // fills by seconds): trusting it bought a 75,332 DOGE loan back twice when a
            // second exit followed one that had bought most of it (soak: +70,364 DOGE naked).
            let books = -legs.spot;
            let allowance = legs.spot_bought * COMMISSION_TRIM_BOUND
                + asset.map(|a| a.interest).unwrap_or_default();
            let owed = asset
                .map(|a| a.borrowed + a.interest - a.free)
                .unwrap_or_default()
                .min(books + allowance)
                .max(books);
            (Side::Buy, ceil_to_step(owed, spot_step))
        } else {
            (Side::Buy, Decimal::ZERO)
        };
        Self {
            perp_side,
            perp_qty: legs.perp.abs(),
            spot_side,
            spot_qty,
        }
    }

    /// Spot traded towards the plan between `start` and `now` (never negative).
    pub(crate) fn spot_done(&self, start: &SignedLegs, now: &SignedLegs) -> Decimal {
        let moved = match self.spot_side {
            Side::Sell => start.spot - now.spot,
            Side::Buy => now.spot - start.spot,
        };
        moved.max(Decimal::ZERO)
    }
}

/// Whether an order of `qty` can be placed under `filters` (perp exits are reduce-only, which
/// the venue exempts from the minimum notional; spot orders are not).
pub(crate) fn tradable(leg: Leg, filters: &SymbolFilters, qty: Decimal, price: Decimal) -> bool {
    if qty <= Decimal::ZERO || qty < filters.min_qty {
        return false;
    }
    match leg {
        Leg::Perp => true,
        Leg::Spot => filters.min_notional <= Decimal::ZERO || qty * price >= filters.min_notional,
    }
}

/// Liquidity to take on one leg.
#[derive(Debug, Clone, Copy)]
struct LegTrade {
    leg: Leg,
    side: Side,
    qty: Decimal,
    /// A perp limit IOC within the slippage tolerance before market orders.
    limit_first: bool,
}

/// What taking liquidity on one leg achieved.
#[derive(Debug, Clone, Default)]
struct Taken {
    executed: Decimal,
    last_error: Option<String>,
}

/// The venue's answer to a reduce-only order with nothing to reduce on its side.
fn reduce_only_refused(error: &str) -> bool {
    error.contains("-2022")
}

impl Engine {
    /// Why the perp our books hold (`ours`, signed) is gone at the venue: `Some` only when
    /// every read of the account, [`SNAPSHOT_REREAD_PAUSE`] apart, shows no position on the
    /// symbol (a snapshot may lag the venue; an unreadable account proves nothing).
    async fn perp_gone_at_venue(&self, symbol: &str, ours: Decimal) -> Option<String> {
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(SNAPSHOT_REREAD_PAUSE).await;
            }
            let account = self.account_as_booked().await.ok()?;
            let venue = account
                .perp_positions
                .get(symbol)
                .copied()
                .unwrap_or_default();
            if !venue.is_zero() {
                return None;
            }
        }
        Some(format!(
            "perp gone at the venue (liquidated, or closed outside fff): our books hold {ours}, \
             the venue none"
        ))
    }

    /// Commission the position's spot buys paid in `base_asset`, from their booked fills;
    /// `None` while any buy's fills are not all booked yet (the stream or the backfill is
    /// behind). When the earlier buys are booked and only the latest lag (an exit right after
    /// an entry), it waits for them up to [`FILL_BOOKING_WAIT`]: the stream books a fill within
    /// milliseconds, the backfill within a second or two.
    async fn booked_base_commission(&self, id: i64, base_asset: &str) -> Result<Option<Decimal>> {
        let deadline = tokio::time::Instant::now() + FILL_BOOKING_WAIT;
        let position = [(id, base_asset.to_owned())];
        loop {
            let Some(charges) = self.store.spot_base_charges(&position).await?.pop() else {
                return Ok(None);
            };
            if charges.unbooked_buys == 0 {
                return Ok(Some(charges.commission));
            }
            // nothing booked at all: no ledger is keeping up (or none runs); do not wait
            if charges.booked_buys == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(FILL_BOOKING_POLL).await;
        }
    }

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

        let start = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        // as of every account event the ledger has seen: a cached snapshot from before the
        // last fills (a top-up's) would sell less than is held
        let account = self.account_as_booked().await.ok();
        let asset = account.map(|a| {
            a.margin
                .get(&instrument.base_asset)
                .cloned()
                .unwrap_or_default()
        });
        let spot_step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
        let base_fees = if start.spot > Decimal::ZERO && urgency != Urgency::Immediate {
            self.booked_base_commission(id, &instrument.base_asset)
                .await?
        } else {
            None
        };
        let plan = ExitPlan::with_fees(&start, asset.as_ref(), spot_step, base_fees);

        if urgency == Urgency::Normal
            && self.params.execution.exit_prefer_limit
            && self.params.execution.exit_limit_timeout_ms > 0
            && let Err(err) = self
                .staged_exit(&position, direction, &instrument, &plan)
                .await
        {
            // a perp with nothing left to reduce is settled by the taker path below
            if !reduce_only_refused(&err.to_string()) {
                return Err(self.exit_stopped(&position, direction, err).await);
            }
        }

        let last_error = self
            .close_perp(&position, direction, &instrument, urgency)
            .await?;
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        // A perp our books hold that the venue refuses to reduce and no longer holds was taken
        // without an order of ours (a liquidation or auto-deleverage, or a close outside fff):
        // the spot leg it hedged is naked, so that leg is closed alone.
        let perp_gone =
            if !legs.perp.is_zero() && last_error.as_deref().is_some_and(reduce_only_refused) {
                self.perp_gone_at_venue(&position.symbol, legs.perp).await
            } else {
                None
            };
        if let Some(message) = &perp_gone {
            tracing::error!(symbol = %position.symbol, position_id = id, %message, "closing the spot leg alone");
            crate::alerts::repair_failed(&position.symbol, id, message);
        }
        if perp_gone.is_none() && !legs.perp.is_zero() {
            // Never trade the spot leg below what still hedges the perp: that would leave the
            // perp naked. But the part of the spot leg whose perp is already closed is naked
            // itself: bring the spot leg down to the perp left, so the legs stay matched while
            // the position stays CLOSING and the exit is retried (see resume_exits).
            self.match_spot_to_perp_left(&position, direction, &instrument, &plan, &legs)
                .await?;
            let message = format!(
                "exit incomplete: perp {} left: {}",
                legs.perp,
                last_error.unwrap_or_default()
            );
            tracing::error!(symbol = %position.symbol, %message, "exit stopped before the spot leg");
            return Err(self
                .exit_stopped(&position, direction, ExecutorError::Internal(message))
                .await);
        }
        let spot_left = self
            .close_spot(&position, direction, &instrument, &plan, &start)
            .await?;
        if let Some((left, last_error)) = spot_left {
            // the spot leg is not flat: CLOSED would hide an open (or borrowed) spot position
            let message = format!(
                "exit incomplete: spot {left} left to {}: {}",
                match plan.spot_side {
                    Side::Buy => "buy back",
                    Side::Sell => "sell",
                },
                last_error.unwrap_or_default()
            );
            tracing::error!(symbol = %position.symbol, %message, "exit stopped on the spot leg");
            return Err(self
                .exit_stopped(&position, direction, ExecutorError::Internal(message))
                .await);
        }

        // CLOSED only when the venue agrees that both legs are flat: the books may have
        // missed a fill (an order left unknown that did execute)
        if let Some((left, size)) = self
            .venue_legs_left(&position.symbol, direction, &instrument)
            .await
        {
            let attempts = self.count_venue_left(id, size);
            let message = if attempts >= EXIT_VENUE_ATTEMPTS {
                let message = format!(
                    "broken: exit incomplete after {attempts} attempts: the venue still holds {left}"
                );
                crate::alerts::repair_failed(&position.symbol, id, &message);
                message
            } else {
                format!("exit incomplete: the venue still holds {left}")
            };
            tracing::error!(symbol = %position.symbol, position_id = id, %message, "position not closed");
            return Err(self
                .exit_stopped(&position, direction, ExecutorError::Internal(message))
                .await);
        }
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        self.store
            .update_position_legs(id, &legs.to_store())
            .await?;
        let closed = self
            .store
            .set_position_state(id, PositionState::Closed, perp_gone.as_deref())
            .await?;
        self.forget_venue_left(id);
        self.exit_retries.forget(id);
        tracing::info!(symbol = %closed.symbol, position_id = id, "position closed");
        self.emit(PositionEventKind::Closed, &closed, initiator, "closed");
        Ok(closed)
    }

    /// Records where a stopped exit left the legs and why; the position stays CLOSING (retried
    /// by `resume_exits`). Returns `err` for the caller to propagate.
    async fn exit_stopped(
        &self,
        position: &Position,
        direction: Direction,
        err: ExecutorError,
    ) -> ExecutorError {
        let id = position.id;
        let stop = self.exit_retries.stopped(id, std::time::Instant::now());
        if stop.alert {
            tracing::error!(
                symbol = %position.symbol,
                position_id = id,
                failures = stop.failures,
                retry_in_secs = stop.wait.as_secs(),
                error = %err,
                "exit keeps failing: retries back off"
            );
            crate::alerts::exit_stuck(&position.symbol, id, stop.failures, stop.wait, &err);
        }
        let recorded = async {
            let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
            self.store
                .update_position_legs(id, &legs.to_store())
                .await?;
            self.store
                .set_position_state(id, PositionState::Closing, Some(&err.to_string()))
                .await?;
            Ok::<_, ExecutorError>(())
        }
        .await;
        if let Err(store_err) = recorded {
            tracing::error!(position_id = id, error = %store_err, "cannot record a stopped exit");
        }
        err
    }

    /// Takes liquidity for `trade.qty` on one leg: a perp limit IOC within the slippage
    /// tolerance first if asked, then market orders, retried, for the rest. Returns what
    /// executed and the last refusal.
    async fn take(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        trade: LegTrade,
    ) -> Result<Taken> {
        let LegTrade {
            leg,
            side,
            qty,
            limit_first,
        } = trade;
        let id = position.id;
        let filters = match leg {
            Leg::Perp => &instrument.perp,
            Leg::Spot => &instrument.spot,
        };
        let mark = instrument.mark_price;
        let request = |n: u32, qty: Decimal, kind: OrderKind| match leg {
            Leg::Perp => OrderRequest {
                client_order_id: client_order_id(id, Leg::Perp, Step::Exit(n)),
                venue: Venue::UsdmPerp,
                symbol: position.symbol.clone(),
                side,
                kind,
                qty,
                reduce_only: true,
                side_effect: fff_store::SideEffect::NoSideEffect,
            },
            Leg::Spot => OrderRequest {
                client_order_id: client_order_id(id, Leg::Spot, Step::Exit(n)),
                venue: Venue::SpotMargin,
                symbol: position.symbol.clone(),
                side,
                kind,
                qty,
                reduce_only: false,
                side_effect: spot_side_effect(
                    direction,
                    side,
                    self.params.capital.spot_usdt_borrow,
                ),
            },
        };
        let mut taken = Taken::default();
        let mut remaining = qty;
        if leg == Leg::Perp && limit_first {
            let tolerance = self.params.execution.slippage_tolerance;
            // the worst price we accept, rounded towards the mark
            let (limit, rounding) = match side {
                Side::Sell => (mark * (Decimal::ONE - tolerance), PriceRounding::Up),
                Side::Buy => (mark * (Decimal::ONE + tolerance), PriceRounding::Down),
            };
            let price = filters.round_price(limit, rounding);
            if price > Decimal::ZERO {
                let n = self.next_step(id).await?;
                let order = self
                    .execute(id, request(n, remaining, OrderKind::LimitIoc(price)))
                    .await?;
                remaining -= order.executed_qty;
                taken.executed += order.executed_qty;
            }
        }
        for attempt in 0..=self.params.execution.hedge_max_retries {
            if !tradable(leg, filters, remaining, mark) {
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
                .execute(id, request(n, remaining, OrderKind::Market))
                .await?;
            remaining -= order.executed_qty;
            taken.executed += order.executed_qty;
            if order.executed_qty.is_zero() {
                taken.last_error = order.error.clone().or(Some(order.status.to_string()));
            }
        }
        Ok(taken)
    }

    /// After a partial perp close: trades the spot leg down to the perp quantity left (on the
    /// spot step, never below it), so what the perp no longer hedges is not left naked.
    async fn match_spot_to_perp_left(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        plan: &ExitPlan,
        legs: &SignedLegs,
    ) -> Result<()> {
        let step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
        let excess = floor_to_step(legs.spot.abs() - legs.perp.abs(), step);
        if !tradable(Leg::Spot, &instrument.spot, excess, instrument.mark_price) {
            return Ok(());
        }
        tracing::warn!(symbol = %position.symbol, perp_left = %legs.perp, spot = %legs.spot, %excess, "perp only partly closed; matching the spot leg to it");
        let trade = LegTrade {
            leg: Leg::Spot,
            side: plan.spot_side,
            qty: excess,
            limit_first: false,
        };
        self.take(position, direction, instrument, trade).await?;
        Ok(())
    }

    /// Closes what is left of the perp leg; returns the last order error when something is left.
    async fn close_perp(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        urgency: Urgency,
    ) -> Result<Option<String>> {
        let legs = SignedLegs::from_orders(direction, &self.position_orders(position.id).await?);
        let qty = legs.perp.abs();
        if qty.is_zero() {
            return Ok(None);
        }
        let side = if legs.perp > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let trade = LegTrade {
            leg: Leg::Perp,
            side,
            qty,
            limit_first: urgency != Urgency::Immediate && self.params.execution.exit_prefer_limit,
        };
        let taken = self.take(position, direction, instrument, trade).await?;
        Ok(taken.last_error)
    }

    /// Trades what is left of the plan's spot quantity (market, retried), then repays any loan
    /// left. Returns the quantity still to trade and the last order error when the leg is not
    /// flat (more than the venue's minimum is left).
    async fn close_spot(
        &self,
        position: &Position,
        direction: Direction,
        instrument: &InstrumentInfo,
        plan: &ExitPlan,
        start: &SignedLegs,
    ) -> Result<Option<(Decimal, Option<String>)>> {
        let id = position.id;
        let legs = SignedLegs::from_orders(direction, &self.position_orders(id).await?);
        let mut left = (plan.spot_qty - plan.spot_done(start, &legs)).max(Decimal::ZERO);
        let mut last_error = None;
        if tradable(Leg::Spot, &instrument.spot, left, instrument.mark_price) {
            let trade = LegTrade {
                leg: Leg::Spot,
                side: plan.spot_side,
                qty: left,
                limit_first: false,
            };
            let taken = self.take(position, direction, instrument, trade).await?;
            left -= taken.executed;
            last_error = taken.last_error;
        }
        // settle the whole old side: any loan of the base asset (a short's principal and
        // interest, or one left behind by an earlier failed exit), and USDT borrowed for a
        // long spot leg when that is allowed
        self.repay_leftover(id, &instrument.base_asset).await;
        if direction.borrows()
            && !tradable(Leg::Spot, &instrument.spot, left, instrument.mark_price)
        {
            let orders = self.position_orders(id).await?;
            let legs = SignedLegs::from_orders(direction, &orders);
            // what this attempt bought back, or all the position's buy-backs: a resumed exit
            // whose earlier attempt bought the loan back left only its commission owed, and
            // must still cover it (bounded by what was bought, not by this attempt's nothing)
            let bought_before: Decimal = orders
                .iter()
                .filter(|o| o.leg == Leg::Spot && o.side == fff_store::Side::Buy)
                .map(|o| o.executed_qty)
                .sum();
            let bought = plan.spot_done(start, &legs).max(bought_before);
            self.cover_loan_shortfall(id, direction, instrument, bought)
                .await?;
        }
        if self.params.capital.spot_usdt_borrow {
            self.repay_leftover(id, "USDT").await;
        }
        Ok(
            tradable(Leg::Spot, &instrument.spot, left, instrument.mark_price)
                .then_some((left, last_error)),
        )
    }

    /// A buy-back pays its commission in the base asset, so it receives a little less than it
    /// bought and a sliver of the loan stays owed with nothing free to repay it. Buys what is
    /// missing (with headroom for that commission, at least the venue's minimum order) and
    /// repays, so no loan of the old side is left behind; bounded.
    ///
    /// What can be missing after buying back `bought` is known from the exit's own fills:
    /// commission (at most [`COMMISSION_TRIM_BOUND`] of it) and interest. A snapshot showing
    /// more predates the buy-back (the gateway's cached account lags the fills): it is read
    /// again, and never acted on: buying the whole loan again would leave a naked long of the
    /// position's size. A loan really left is caught by the venue check before CLOSED.
    async fn cover_loan_shortfall(
        &self,
        id: i64,
        direction: Direction,
        instrument: &InstrumentInfo,
        bought: Decimal,
    ) -> Result<()> {
        let asset = instrument.base_asset.as_str();
        // what this call bought: a second pass may read a snapshot cached from before the
        // first buy, which would buy the same shortfall again (soak: twice, 60-140 ms apart)
        let mut covered = Decimal::ZERO;
        for _ in 0..2 {
            let mut rereads = 0;
            let (missing, cap) = loop {
                let account = self.exchange.account().await?;
                let Some(balance) = account.margin.get(asset) else {
                    return Ok(());
                };
                let missing = balance.borrowed + balance.interest - balance.free;
                let cap = bought * COMMISSION_TRIM_BOUND + balance.interest;
                if missing <= cap || rereads >= SNAPSHOT_REREADS {
                    break (missing, cap);
                }
                rereads += 1;
                tokio::time::sleep(SNAPSHOT_REREAD_PAUSE).await;
            };
            let missing = missing - covered;
            if missing <= Decimal::ZERO {
                return Ok(());
            }
            if missing > cap {
                tracing::warn!(asset, %missing, %bought, %cap, "the account still shows more loan than the buy-back can have left; not buying on it");
                return Ok(());
            }
            let step = instrument.spot.effective_step().unwrap_or(Decimal::ZERO);
            let price = instrument.mark_price;
            // 1 % headroom covers the commission charged in the base asset
            let mut qty = ceil_to_step(missing * LOAN_COVER_HEADROOM, step);
            if price > Decimal::ZERO && qty * price < instrument.spot.min_notional {
                qty = ceil_to_step(
                    instrument.spot.min_notional / price * LOAN_COVER_HEADROOM,
                    step,
                );
            }
            qty = qty.max(instrument.spot.min_qty);
            tracing::warn!(asset, %missing, %qty, "loan left after the buy-back; buying the shortfall");
            let order = self
                .trade_leg(
                    id,
                    direction,
                    &instrument.symbol,
                    Venue::SpotMargin,
                    Side::Buy,
                    qty,
                )
                .await?;
            self.repay_leftover(id, asset).await;
            if order.executed_qty >= qty {
                // bought with the commission's headroom: covered
                return Ok(());
            }
            covered += order.executed_qty;
        }
        Ok(())
    }

    /// What the venue still holds of the position's legs after an exit, `None` when flat
    /// within a step: the symbol's perp position, and for a borrowing direction the loan of
    /// the base asset (fff is its only borrower). A long spot leg cannot be told from other
    /// holdings of the base asset and is checked from the orders only. A snapshot that is not
    /// flat is read again (it may predate the exit's fills), bounded.
    async fn venue_legs_left(
        &self,
        symbol: &str,
        direction: Direction,
        instrument: &InstrumentInfo,
    ) -> Option<(String, Decimal)> {
        let dust = |filters: &SymbolFilters| {
            filters
                .effective_step()
                .unwrap_or(Decimal::ZERO)
                .max(filters.min_qty)
        };
        // (what is held, its size in base units: perp plus loan; unknown counts as none)
        let mut left = (String::new(), Decimal::ZERO);
        for attempt in 0..=SNAPSHOT_REREADS {
            if attempt > 0 {
                tokio::time::sleep(SNAPSHOT_REREAD_PAUSE).await;
            }
            let account = match self.account_as_booked().await {
                Ok(account) => account,
                Err(err) => {
                    left = (
                        format!("an unknown position (account unavailable: {err})"),
                        Decimal::ZERO,
                    );
                    continue;
                }
            };
            let mut held = Vec::new();
            let mut size = Decimal::ZERO;
            let perp = account
                .perp_positions
                .get(symbol)
                .copied()
                .unwrap_or_default();
            if !perp.is_zero() && perp.abs() >= dust(&instrument.perp) {
                held.push(format!("perp {perp}"));
                size += perp.abs();
            }
            if direction.borrows()
                && let Some(balance) = account.margin.get(&instrument.base_asset)
            {
                let loan = balance.borrowed + balance.interest;
                if loan > dust(&instrument.spot) {
                    held.push(format!("a {} loan of {loan}", instrument.base_asset));
                    size += loan;
                }
            }
            if held.is_empty() {
                return None;
            }
            left = (held.join(" and "), size);
        }
        Some(left)
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
        // a fresh id per attempt: the amount is re-read each time, so a repeated repay can
        // never exceed what is owed
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let request_id = format!("fff{id}-repay-{asset}-{stamp}");
        if let Err(err) = self.exchange.repay(asset, amount, &request_id).await {
            tracing::warn!(asset, %amount, error = %err, "repay after exit failed");
        }
    }
}

#[cfg(test)]
#[path = "exit_tests.rs"]
mod tests;

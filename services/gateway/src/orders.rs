//! Order placement, cancellation and lookup against the venue, idempotent by client order id.
//!
//! PlaceOrder never sends a second order for an id: a known id is answered from the book; an
//! id the book does not know (e.g. after a gateway restart) is first looked up at the venue,
//! unless the caller marks it `first_send` (its intent was just created, so never sent);
//! an id whose last attempt had an unknown outcome is looked up again and only re-sent once the
//! venue cannot accept the earlier attempt any more (its recvWindow has passed). The send runs
//! in a spawned task, so a caller hanging up mid-request cannot lose the outcome.

pub mod book;
mod manage;
pub mod request;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fff_binance::filters::{FilterError, OrderDraft};
use fff_binance::models::OrderKind;
use fff_binance::orders::Market;
use fff_binance::rest::{FuturesOrderRequest, MarginOrderRequest, OrderRef, PositionSide};
use fff_binance::{Error as BinanceError, Outcome, RestClient};
use fff_proto::FieldError;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use tonic::Status;
use tracing::Instrument;

use crate::convert::{now_ms, order_from_futures, order_from_spot, ts};
use crate::error::exchange_status;
use crate::market::MarketHub;
use crate::throttle::OrderQueue;
use crate::universe::Universe;
use book::{AfterLookup, Decision, OrderBook, Record, after_not_found, decide};
use request::{HedgeOnFill, ValidOrder};

/// How often an unknown outcome is looked up before answering PENDING.
const RESOLVE_ATTEMPTS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(800)];

#[derive(Debug)]
pub struct Orders {
    rest: RestClient,
    universe: Arc<RwLock<Universe>>,
    market: Arc<MarketHub>,
    pub book: OrderBook,
    queue: OrderQueue,
    recv_window_ms: i64,
    /// Whether this instance holds the gateway's writer lease (always, without a database):
    /// checked again right before an order leaves, after the rate-limit queue's wait.
    writer: Arc<AtomicBool>,
}

/// Which account a venue's orders live in: the spot legs trade on cross margin.
fn market_of(venue: common::Venue) -> Market {
    match venue {
        common::Venue::UsdmPerp => Market::Futures,
        _ => Market::Margin,
    }
}

/// The executed quantity of an order whose answer is final (nothing more will fill) with a
/// fill: what a hedge on fill is sized for.
fn final_fill(order: &pb::Order) -> Option<rust_decimal::Decimal> {
    // a rejected order has filled nothing
    let done = book::has_ended(order);
    let filled = order.executed_qty.parse::<rust_decimal::Decimal>().ok()?;
    (done && filled > rust_decimal::Decimal::ZERO).then_some(filled)
}

fn is_unknown_order(err: &BinanceError) -> bool {
    matches!(
        err,
        BinanceError::Api {
            code: -2011 | -2013,
            ..
        }
    )
}

/// The venue says the client id is already taken: the order exists there.
fn is_duplicate(err: &BinanceError) -> bool {
    match err {
        BinanceError::Api { code: -4116, .. } => true,
        BinanceError::Api {
            code: -2010, msg, ..
        } => msg.contains("Duplicate"),
        _ => false,
    }
}

fn filter_status(err: &FilterError) -> Status {
    let field = match err {
        FilterError::NonPositivePrice { .. }
        | FilterError::PriceBelowMin { .. }
        | FilterError::PriceAboveMax { .. } => "price",
        FilterError::MissingReferencePrice => {
            return Status::unavailable(
                "no reference price yet to check the market order's notional",
            );
        }
        _ => "quantity",
    };
    FieldError::invalid(field, err).into()
}

impl Orders {
    pub fn new(
        rest: RestClient,
        universe: Arc<RwLock<Universe>>,
        market: Arc<MarketHub>,
        orders_per_second: u32,
        recv_window_ms: u64,
    ) -> Self {
        Self {
            rest,
            universe,
            market,
            book: OrderBook::default(),
            queue: OrderQueue::per_second(orders_per_second),
            recv_window_ms: i64::try_from(recv_window_ms).unwrap_or(60_000),
            writer: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The flag saying whether this instance may send (the writer lease is held).
    pub fn writer_flag(&self) -> Arc<AtomicBool> {
        self.writer.clone()
    }

    /// Places `order` once; returns the order, whether nothing new was sent, and whether its
    /// `hedge_on_fill` was sent.
    pub async fn place(
        self: &Arc<Self>,
        mut order: ValidOrder,
    ) -> Result<(pb::Order, bool, bool), Status> {
        let hedge = order.hedge_on_fill.take();
        let guard = self.book.lock_id(&order.client_order_id).await;
        let this = self.clone();
        // lookup and send outlive a caller that hangs up; the id stays locked until recorded
        let started = std::time::Instant::now();
        // the exchange call stays in the caller's trace
        let task = tokio::spawn(
            async move {
                let result = this.place_locked(order).await;
                // the hedge leaves before this answer goes back; its id is locked first, so
                // the caller's own PlaceOrder for it waits for that send and is answered
                // from the book
                let hedge_sent = match (&result, hedge) {
                    (Ok((placed, false)), Some(hedge)) => this.send_hedge(placed, *hedge).await,
                    _ => false,
                };
                drop(guard);
                result.map(|(order, duplicate)| (order, duplicate, hedge_sent))
            }
            .instrument(tracing::Span::current()),
        );
        let result = task
            .await
            .map_err(|e| Status::internal(format!("order task failed: {e}")))?;
        fff_runtime::metrics::histogram_observe(
            "fff_gateway_order_latency_seconds",
            "PlaceOrder latency (gateway to exchange and back), by outcome.",
            &[("outcome", if result.is_ok() { "ok" } else { "error" })],
            started.elapsed().as_secs_f64(),
        );
        crate::weight::export_window_usage(self.rest.limiters());
        result
    }

    /// Sends `hedge` sized for `placed`'s fill when `placed` is final with one; true if sent
    /// (whatever the venue answers: the caller follows the id either way).
    async fn send_hedge(self: &Arc<Self>, placed: &pb::Order, hedge: HedgeOnFill) -> bool {
        let Some(order) = final_fill(placed).and_then(|filled| hedge.sized_for(filled)) else {
            return false;
        };
        let guard = self.book.lock_id(&order.client_order_id).await;
        let span = tracing::info_span!("hedge_on_fill", client_order_id = %order.client_order_id);
        let this = self.clone();
        tokio::spawn(
            async move {
                match this.place_locked(order).await {
                    Ok((order, _)) => {
                        tracing::info!(status = order.status, "hedge on fill answered")
                    }
                    Err(status) => {
                        tracing::warn!(error = %status.message(), "hedge on fill failed")
                    }
                }
                drop(guard);
            }
            .instrument(span),
        );
        // run the hedge up to its request before this answer goes on: the new task waits in
        // this worker's next-task slot, which no other worker may take
        tokio::task::yield_now().await;
        true
    }

    /// [`Orders::place`] with the id's lock held.
    async fn place_locked(&self, order: ValidOrder) -> Result<(pb::Order, bool), Status> {
        let fingerprint = order.fingerprint();
        let pending = match decide(self.book.get(&order.client_order_id).as_ref(), &fingerprint) {
            Decision::Answer(known) => return Ok((known, true)),
            Decision::Conflict => {
                return Err(Status::already_exists(format!(
                    "client_order_id {:?} was already used for a different order",
                    order.client_order_id
                )));
            }
            Decision::Lookup { pending } => pending,
        };
        if pending.is_none() && order.first_send {
            // the caller's intent for this id was just created: nobody can have sent it, and
            // a venue lookup would sit on the hedge's path (a duplicate answer still resolves
            // by lookup in `send`)
            let checked = self.check_filters(&order)?;
            return self
                .send(checked, fingerprint)
                .await
                .map(|order| (order, false));
        }
        match self
            .lookup(order.venue, &order.symbol, &order.client_order_id)
            .await
        {
            Ok(Some(found)) => {
                if pending.is_none() {
                    self.book.put(Record {
                        order: order.pending_order(ts(now_ms())),
                        fingerprint: Some(fingerprint),
                        sent_at_ms: None,
                    });
                }
                return Ok((self.book.observe(&found), true));
            }
            Ok(None) => {
                if after_not_found(pending.as_ref(), now_ms(), self.recv_window_ms)
                    == AfterLookup::StillPending
                    && let Some(pending) = pending
                {
                    return Ok((pending.order, true));
                }
            }
            Err(err) => {
                return match pending {
                    Some(pending) => Ok((pending.order, true)),
                    None => Err(exchange_status(&err)),
                };
            }
        }
        let checked = self.check_filters(&order)?;
        self.send(checked, fingerprint)
            .await
            .map(|order| (order, false))
    }

    /// Applies the symbol's venue filters; the request must already be on the grid.
    fn check_filters(&self, order: &ValidOrder) -> Result<ValidOrder, Status> {
        let universe = self.universe.read().unwrap_or_else(|p| p.into_inner());
        let listing = universe.get(&order.symbol).ok_or_else(|| {
            Status::from(FieldError::invalid(
                "symbol",
                "not in the gateway's universe",
            ))
        })?;
        let perp = order.venue == common::Venue::UsdmPerp;
        let filters = if perp {
            &listing.perp_filters
        } else {
            &listing.spot_filters
        };
        let limit_price = match order.kind {
            OrderKind::Limit { price, .. } => Some(price),
            OrderKind::Market => None,
        };
        let reference_price = if perp {
            self.market.mark_price(&order.symbol).or_else(|| {
                self.market
                    .mid_price(&order.symbol, common::Venue::UsdmPerp)
            })
        } else {
            self.market
                .mid_price(&order.symbol, common::Venue::SpotMargin)
                .or_else(|| self.market.mark_price(&order.symbol))
        };
        let checked = filters
            .check(&OrderDraft {
                side: order.side,
                qty: order.qty,
                limit_price,
                reference_price,
                reduce_only: order.reduce_only,
            })
            .map_err(|e| filter_status(&e))?;
        if checked.qty != order.qty {
            return Err(FieldError::invalid(
                "quantity",
                format!("{} is not a multiple of the step size", order.qty),
            )
            .into());
        }
        if checked.price != limit_price {
            return Err(FieldError::invalid(
                "price",
                format!(
                    "{} is not a multiple of the tick size",
                    limit_price.unwrap_or_default()
                ),
            )
            .into());
        }
        Ok(order.clone())
    }

    async fn send(&self, order: ValidOrder, fingerprint: String) -> Result<pb::Order, Status> {
        // visible (PENDING) and withdrawable by a cancel while it waits for its turn
        self.book.put_queued(Record {
            order: order.pending_order(ts(now_ms())),
            fingerprint: Some(fingerprint.clone()),
            sent_at_ms: None,
        });
        // only orders that open exposure pass the order queue (see `throttle`)
        if !order.closes_exposure() {
            self.queue.acquire().await;
        }
        // the lease can be lost while the order waited for its turn: nothing is sent then
        if !self.writer.load(Ordering::Acquire) {
            self.book.forget(&order.client_order_id);
            return Err(Status::unavailable(crate::lease::NOT_HELD));
        }
        let sent_at = now_ms();
        let mut pending = order.pending_order(ts(sent_at));
        let claimed = self.book.claim_send(Record {
            order: pending.clone(),
            fingerprint: Some(fingerprint.clone()),
            sent_at_ms: Some(sent_at),
        });
        if !claimed {
            // cancelled while queued (the caller closed the intent): never sent
            tracing::info!(client_order_id = %order.client_order_id, "order withdrawn before it was sent");
            return self
                .book
                .get(&order.client_order_id)
                .map(|r| r.order)
                .ok_or_else(|| Status::aborted("order withdrawn before it was sent"));
        }
        let result = match order.venue {
            common::Venue::UsdmPerp => {
                let request = FuturesOrderRequest {
                    symbol: order.symbol.clone(),
                    side: order.side,
                    kind: order.kind,
                    qty: order.qty,
                    client_order_id: order.client_order_id.clone(),
                    reduce_only: order.reduce_only,
                    position_side: PositionSide::Both,
                };
                self.rest
                    .futures_new_order(&request)
                    .await
                    .map(|o| order_from_futures(&o))
            }
            _ => {
                let request = MarginOrderRequest {
                    symbol: order.symbol.clone(),
                    side: order.side,
                    kind: order.kind,
                    qty: order.qty,
                    client_order_id: order.client_order_id.clone(),
                    side_effect: order.side_effect.unwrap_or_default(),
                    auto_repay_at_cancel: false,
                };
                self.rest
                    .margin_new_order(&request)
                    .await
                    .map(|o| order_from_spot(Market::Margin, &o))
            }
        };
        let err = match result {
            Ok(placed) => return Ok(self.book.observe(&placed)),
            Err(err) => err,
        };
        match err.outcome() {
            Outcome::Rejected if !is_duplicate(&err) => {
                tracing::info!(client_order_id = %order.client_order_id, error = %err, "order rejected");
                pending.status = common::OrderStatus::Rejected as i32;
                pending.reject_reason = match &err {
                    BinanceError::Api { code, msg, .. } => format!("{code} {msg}"),
                    other => other.to_string(),
                };
                self.book.put(Record {
                    order: pending.clone(),
                    fingerprint: Some(fingerprint),
                    sent_at_ms: Some(sent_at),
                });
                Ok(pending)
            }
            Outcome::NotSent => {
                self.book.forget(&order.client_order_id);
                Err(exchange_status(&err))
            }
            _ => {
                tracing::warn!(client_order_id = %order.client_order_id, error = %err, "order outcome unknown, resolving");
                for delay in RESOLVE_ATTEMPTS {
                    tokio::time::sleep(delay).await;
                    if let Ok(Some(found)) = self
                        .lookup(order.venue, &order.symbol, &order.client_order_id)
                        .await
                    {
                        return Ok(self.book.observe(&found));
                    }
                }
                Ok(pending)
            }
        }
    }

    /// The venue's view of an order by client id; `None` if the venue does not know it.
    async fn lookup(
        &self,
        venue: common::Venue,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<pb::Order>, BinanceError> {
        self.query(
            venue,
            symbol,
            &OrderRef::ClientOrderId(client_order_id.to_owned()),
        )
        .await
    }

    pub(crate) async fn query(
        &self,
        venue: common::Venue,
        symbol: &str,
        reference: &OrderRef,
    ) -> Result<Option<pb::Order>, BinanceError> {
        let found = match market_of(venue) {
            Market::Futures => self
                .rest
                .futures_query_order(symbol, reference)
                .await
                .map(|o| order_from_futures(&o)),
            market => self
                .rest
                .margin_query_order(symbol, reference)
                .await
                .map(|o| order_from_spot(market, &o)),
        };
        match found {
            Ok(order) => Ok(Some(order)),
            Err(err) if is_unknown_order(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Looks up every PENDING order at the venue (after a user-stream gap, whose events may
    /// have carried their outcome).
    pub async fn reconcile_pending(&self) {
        for record in self.book.pending() {
            let order = &record.order;
            let venue = common::Venue::try_from(order.venue).unwrap_or(common::Venue::UsdmPerp);
            match self
                .lookup(venue, &order.symbol, &order.client_order_id)
                .await
            {
                Ok(Some(found)) => {
                    self.book.observe(&found);
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(
                    client_order_id = %order.client_order_id,
                    error = %err,
                    "pending order lookup failed"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn filter_errors_name_the_field() {
        let status = filter_status(&FilterError::PriceBelowMin {
            price: Decimal::ONE,
            min: Decimal::TWO,
        });
        assert!(status.message().contains("`price`"), "{status:?}");
        let status = filter_status(&FilterError::NotionalBelowMin {
            notional: Decimal::ONE,
            min: Decimal::TEN,
        });
        assert!(status.message().contains("`quantity`"), "{status:?}");
        assert!(is_duplicate(&BinanceError::Api {
            status: 400,
            code: -2010,
            msg: "Duplicate order sent.".into()
        }));
        assert!(!is_duplicate(&BinanceError::Api {
            status: 400,
            code: -2010,
            msg: "Account has insufficient balance".into()
        }));
    }
}

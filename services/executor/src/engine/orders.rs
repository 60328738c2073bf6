//! Sending one order crash-safely: intent committed to PostgreSQL first, then the gateway call,
//! then the outcome recorded. An ambiguous outcome is resolved by asking the gateway for the
//! client order id, never by sending a second, different order.

use std::time::{Duration, Instant};

use fff_store::{Order, OrderIntent, OrderStatus, OrderType, OrderUpdate, TimeInForce};
use rust_decimal::Decimal;
use tracing::Instrument as _;

use super::Engine;
use crate::error::{ExecutorError, Result};
use crate::exchange::{ExchangeError, OrderKind, OrderReport, OrderRequest};

/// First wait before asking the gateway again about an order that is not terminal; it doubles
/// up to [`POLL_MAX`]. A market order is nearly always terminal in its first answer; one that
/// is not (an unknown outcome, a resting remainder) costs the venue a lookup per poll, and
/// fixed 100 ms polls of a few such orders used a quarter of the futures weight in the soak.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(1);

/// The wait before poll `n` (0-based) of one order.
fn poll_delay(n: u32) -> Duration {
    POLL_INTERVAL
        .saturating_mul(2u32.saturating_pow(n.min(8)))
        .min(POLL_MAX)
}
/// Pauses between the cancels that settle an order whose outcome stayed unknown (a Binance
/// ban's `Retry-After` is seconds; about 13 s in all).
pub(crate) const SETTLE_RETRY_PAUSES: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(6),
];

/// How many times a step whose order never reached the venue (refused by a 429/418) is sent
/// again, each time with a new client order id.
const NEVER_SENT_RETRIES: u32 = 3;
/// Pause before such a retry, times the attempt (the limiter's `Retry-After` is running).
const NEVER_SENT_BACKOFF: Duration = Duration::from_millis(500);
/// How the `error` of an order closed as never sent begins.
pub(crate) const NEVER_SENT: &str = "never sent";

/// Whether the gateway's answer says the order was refused before it was sent: its rate
/// limiter holding orders back while a 429/418 `Retry-After` runs, or its local request budget
/// (the gateway reports those without "outcome unknown"; an order it did send and lost the
/// answer of always carries it).
pub(crate) fn refused_before_sending(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    !reason.contains("outcome unknown")
        && ["rate limited", "ip banned", "request budget exhausted"]
            .iter()
            .any(|refusal| reason.contains(refusal))
}

/// Whether `order` was closed as never sent (and can be sent again under a new id).
pub(crate) fn was_never_sent(order: &Order) -> bool {
    order.status == OrderStatus::Expired
        && order.executed_qty.is_zero()
        && order
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with(NEVER_SENT))
}

/// The id of the `attempt`-th resend of a never-sent order, `None` if it would exceed
/// Binance's 36 characters. Deterministic, like every id: a restart resumes the same chain.
fn resend_id(base: &str, attempt: u32) -> Option<String> {
    let id = format!("{base}n{attempt}");
    (id.len() <= 36).then_some(id)
}

pub(crate) fn update_from(report: &OrderReport) -> OrderUpdate {
    OrderUpdate {
        status: report.status,
        exchange_order_id: report.exchange_order_id,
        executed_qty: Some(report.executed_qty),
        avg_price: report.avg_price,
        error: report.reject_reason.clone(),
    }
}

/// The intent row for `request`.
pub(crate) fn intent_for(position_id: i64, request: &OrderRequest) -> OrderIntent {
    let (order_type, time_in_force, price) = match request.kind {
        OrderKind::Market => (OrderType::Market, None, None),
        OrderKind::LimitIoc(price) => (OrderType::Limit, Some(TimeInForce::Ioc), Some(price)),
    };
    OrderIntent {
        client_order_id: request.client_order_id.clone(),
        position_id: Some(position_id),
        venue: crate::legs::store_venue(request.venue),
        leg: crate::legs::leg_of(request.venue),
        symbol: request.symbol.clone(),
        side: crate::legs::store_side(request.side),
        order_type,
        time_in_force,
        qty: request.qty,
        price,
        reduce_only: request.reduce_only,
        side_effect: request.side_effect,
    }
}

/// Whether an order's intent was committed ahead of its send, and by whom it may have been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    /// Not written ahead: the send commits its intent first.
    No,
    /// Written ahead and never sent by anyone.
    Fresh,
    /// Written ahead, and the gateway was asked to send it on its perp's fill: it may be at the
    /// venue already (the gateway answers it from its book, or looks it up after a restart).
    Asked,
}

/// The venue's answer to [`Engine::send_ahead`].
pub(crate) enum Answer<'a> {
    /// Final with a fill: act on `report`, then await `recorded` (it writes the order's row).
    Final {
        report: OrderReport,
        recorded: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Order>> + Send + 'a>>,
        /// The gateway sent the hedge passed along (follow it; never send it as new).
        hedge_sent: bool,
    },
    /// Anything else, already followed to its end and recorded.
    Followed(Order),
}

/// The span of one order's send, parent of the gateway's.
fn order_span(request: &OrderRequest) -> tracing::Span {
    tracing::info_span!(
        "order",
        symbol = %request.symbol,
        client_order_id = %request.client_order_id,
        leg = ?crate::legs::leg_of(request.venue),
        side = ?request.side,
        qty = %request.qty,
    )
}

impl Engine {
    /// Commits the intent, sends it, and waits (bounded) for a terminal state. Returns the
    /// stored order; a definite rejection is a REJECTED row, not an error. Errors mean the
    /// outcome is still unknown (the row stays UNKNOWN for reconciliation) or the store failed.
    pub(crate) async fn execute(&self, position_id: i64, request: OrderRequest) -> Result<Order> {
        self.execute_timed(position_id, request, None).await
    }

    /// [`Engine::execute`] that records `since.elapsed()` into the unhedged-window samples at
    /// the moment the order leaves for the gateway (intent already committed).
    ///
    /// An order that never reached the venue (refused by a 429/418 before matching, see
    /// [`Engine::expire_never_sent`]) is sent again with a new client order id, a bounded number
    /// of times; the last never-sent row is returned if every attempt was refused.
    pub(crate) async fn execute_timed(
        &self,
        position_id: i64,
        request: OrderRequest,
        since: Option<Instant>,
    ) -> Result<Order> {
        self.execute_attempts(position_id, request, since, Ahead::No)
            .await
    }

    /// [`Engine::execute_timed`] for an order whose intent was committed ahead (with the perp
    /// it hedges, [`Store::insert_order_intents`](fff_store::Store::insert_order_intents)) and
    /// never sent: no PostgreSQL round trip before the gateway call. `request.qty` may be
    /// below the intent's (an upper bound); the row is lowered to it once the order is sent.
    /// `fresh`: no one can have sent it yet (false once the gateway was asked to send it on
    /// its perp's fill, or may have been).
    pub(crate) async fn execute_written_ahead(
        &self,
        position_id: i64,
        request: OrderRequest,
        since: Option<Instant>,
        fresh: bool,
    ) -> Result<Order> {
        let ahead = if fresh { Ahead::Fresh } else { Ahead::Asked };
        self.execute_attempts(position_id, request, since, ahead)
            .await
    }

    async fn execute_attempts(
        &self,
        position_id: i64,
        request: OrderRequest,
        since: Option<Instant>,
        ahead: Ahead,
    ) -> Result<Order> {
        let order = self
            .execute_traced(position_id, request.clone(), since, ahead)
            .await?;
        self.resend_never_sent(position_id, request, since, order)
            .await
    }

    /// Sends `request` again under a new id while its last attempt (`order`) was never sent,
    /// at most [`NEVER_SENT_RETRIES`] times; returns the last attempt's row.
    async fn resend_never_sent(
        &self,
        position_id: i64,
        mut request: OrderRequest,
        since: Option<Instant>,
        mut order: Order,
    ) -> Result<Order> {
        let base = request.client_order_id.clone();
        let mut attempt = 0;
        loop {
            if !was_never_sent(&order) || attempt >= NEVER_SENT_RETRIES {
                return Ok(order);
            }
            attempt += 1;
            let Some(id) = resend_id(&base, attempt) else {
                return Ok(order);
            };
            tracing::warn!(
                client_order_id = %order.client_order_id,
                resend = %id,
                "order never reached the venue; sending it again under a new id"
            );
            tokio::time::sleep(NEVER_SENT_BACKOFF * attempt).await;
            request.client_order_id = id;
            // only the first attempt's intent was written ahead; a resend has a new id
            order = self
                .execute_traced(position_id, request.clone(), since, Ahead::No)
                .await?;
        }
    }

    /// Sends a written-ahead order whose size is its intent's (a perp entry slice) and returns
    /// the venue's first answer before writing it when that answer is final with a fill: the
    /// caller acts on the fill (follows or sends the hedge, whose intent was committed with
    /// this one), then awaits `Answer::Final::recorded` to write the row. `hedge` (the hedge
    /// at its largest and its step) asks the gateway to send it on the fill itself. Any other
    /// answer is followed to its end the usual way, and resent under a new id if it never
    /// reached the venue.
    pub(crate) async fn send_ahead(
        &self,
        position_id: i64,
        request: OrderRequest,
        hedge: Option<(&OrderRequest, Decimal)>,
    ) -> Result<Answer<'_>> {
        let span = order_span(&request);
        self.check_fence()?;
        let placed = match hedge {
            Some((hedge, step)) => {
                self.exchange
                    .place_first_hedged(&request, hedge, step)
                    .instrument(span.clone())
                    .await
            }
            None => self
                .exchange
                .place_first(&request)
                .instrument(span.clone())
                .await
                .map(|report| (report, false)),
        };
        let (placed, hedge_sent) = match placed {
            Ok((report, hedge_sent)) => (Ok(report), hedge_sent),
            Err(err) => (Err(err), false),
        };
        match placed {
            Ok(report) if report.status.is_terminal() && report.executed_qty > Decimal::ZERO => {
                let update = update_from(&report);
                let recorded = Box::pin(
                    async move {
                        Ok(self
                            .store
                            .update_order(&request.client_order_id, &update)
                            .await?
                            .into_row())
                    }
                    .instrument(span),
                );
                Ok(Answer::Final {
                    report,
                    recorded,
                    hedge_sent,
                })
            }
            placed => {
                let order = self
                    .settle_placed(&request, placed)
                    .instrument(span)
                    .await?;
                self.resend_never_sent(position_id, request, None, order)
                    .await
                    .map(Answer::Followed)
            }
        }
    }

    async fn execute_traced(
        &self,
        position_id: i64,
        request: OrderRequest,
        since: Option<Instant>,
        ahead: Ahead,
    ) -> Result<Order> {
        let span = order_span(&request);
        let order = self
            .execute_inner(position_id, &request, since, ahead)
            .instrument(span)
            .await;
        if ahead != Ahead::No && order.is_ok() {
            // after the send, off the hedge's path: the row was written with the perp's size
            self.store
                .lower_order_qty(&request.client_order_id, request.qty)
                .await?;
        }
        order
    }

    async fn execute_inner(
        &self,
        position_id: i64,
        request: &OrderRequest,
        since: Option<Instant>,
        ahead: Ahead,
    ) -> Result<Order> {
        self.check_fence()?;
        // an intent created by this call (or written ahead and checked created) was never sent
        let mut first_send = ahead == Ahead::Fresh;
        if ahead == Ahead::No {
            let inserted = self
                .store
                .insert_order_intent(&intent_for(position_id, request))
                .await?;
            first_send = inserted.created;
            let row = inserted.row;
            if row.status.is_terminal() {
                return Ok(row);
            }
            if !inserted.created
                && let Some(report) = self
                    .exchange
                    .get_order(request.venue, &request.symbol, &request.client_order_id)
                    .await?
            {
                // sent before (by us or a previous process): follow it, do not send again
                return self.follow(request, report).await;
            }
        }
        // the lease may have been lost since the intent was written: the intent stays unsent
        // and reconciliation expires it
        self.check_fence()?;
        if let Some(since) = since {
            self.metrics.unhedged_window.record(since.elapsed());
        }
        let placed = if first_send {
            self.exchange.place_first(request).await
        } else {
            self.exchange.place_order(request).await
        };
        self.settle_placed(request, placed).await
    }

    /// Records and follows the gateway's answer to a sent order until it is terminal.
    async fn settle_placed(
        &self,
        request: &OrderRequest,
        placed: std::result::Result<OrderReport, ExchangeError>,
    ) -> Result<Order> {
        match placed {
            Ok(report) => self.follow(request, report).await,
            Err(ExchangeError::Rejected(reason)) => {
                tracing::warn!(%reason, "order rejected");
                let update = OrderUpdate {
                    error: Some(reason),
                    ..OrderUpdate::status(OrderStatus::Rejected)
                };
                Ok(self
                    .store
                    .update_order(&request.client_order_id, &update)
                    .await?
                    .into_row())
            }
            Err(ExchangeError::Unknown(reason)) => {
                tracing::warn!(%reason, "order outcome unknown; asking the gateway");
                let update = OrderUpdate {
                    error: Some(reason.clone()),
                    ..OrderUpdate::status(OrderStatus::Unknown)
                };
                self.store
                    .update_order(&request.client_order_id, &update)
                    .await?;
                self.resolve_unknown(request, reason).await
            }
        }
    }

    /// Polls GetOrder for an order whose send outcome is unknown.
    async fn resolve_unknown(&self, request: &OrderRequest, reason: String) -> Result<Order> {
        let deadline = Instant::now() + self.params.order_timeout;
        let mut polls = 0;
        while Instant::now() < deadline {
            let wait = poll_delay(polls).min(deadline.saturating_duration_since(Instant::now()));
            polls += 1;
            tokio::time::sleep(wait).await;
            match self
                .exchange
                .get_order(request.venue, &request.symbol, &request.client_order_id)
                .await
            {
                Ok(Some(report)) => return self.follow(request, report).await,
                Ok(None) => {}
                Err(err) => tracing::debug!(error = %err, "get_order failed; retrying"),
            }
        }
        if refused_before_sending(&reason) {
            // the gateway never sent it and the venue does not know it: it never will
            return self
                .expire_never_sent(&request.client_order_id, &reason)
                .await;
        }
        // no answer at all (a lost response, a gateway killed mid-call): after the whole
        // timeout, longer than the recvWindow within which the venue could still accept the
        // request, an order the venue does not know never will be
        self.settle_unknown(request, &reason).await
    }

    /// Settles an order whose outcome stayed unknown past its timeout and that no look-up
    /// found: cancels it (the gateway withdraws one still waiting in its queue); a venue that
    /// does not know it means nothing executed, and the row is closed as EXPIRED; a cancel
    /// that itself fails (a 418 ban or 429 storm still running) is tried again, bounded.
    /// Leaving the row UNKNOWN would abandon the entry, top-up or exit under way until the
    /// stale-order sweep a minute later.
    async fn settle_unknown(&self, request: &OrderRequest, reason: &str) -> Result<Order> {
        for pause in SETTLE_RETRY_PAUSES {
            match self
                .exchange
                .cancel_order(request.venue, &request.symbol, &request.client_order_id)
                .await
            {
                Err(ExchangeError::Rejected(why)) => {
                    let row = self.store.get_order(&request.client_order_id).await?;
                    let untouched = row.as_ref().is_none_or(|row| {
                        row.exchange_order_id.is_none() && row.executed_qty.is_zero()
                    });
                    if untouched {
                        return self
                            .expire_never_sent(
                                &request.client_order_id,
                                &format!("not at the venue after the timeout ({reason}): {why}"),
                            )
                            .await;
                    }
                }
                Err(err) => {
                    tracing::warn!(client_order_id = %request.client_order_id, error = %err, "cancel of an order with an unknown outcome failed; retrying");
                }
                Ok(()) => {}
            }
            // the cancel found it (or an answer came meanwhile): follow it to its end
            if let Ok(Some(report)) = self
                .exchange
                .get_order(request.venue, &request.symbol, &request.client_order_id)
                .await
            {
                // boxed: `follow` settles through here in turn
                return Box::pin(self.follow(request, report)).await;
            }
            tokio::time::sleep(pause).await;
        }
        Err(ExecutorError::Exchange(ExchangeError::Unknown(
            reason.to_owned(),
        )))
    }

    /// Closes an order that never reached the venue as EXPIRED with nothing executed, as
    /// start-up reconciliation does; returns the stored row (which keeps any state the venue
    /// reported meanwhile: rows never move backwards).
    pub(crate) async fn expire_never_sent(
        &self,
        client_order_id: &str,
        why: &str,
    ) -> Result<Order> {
        tracing::warn!(%client_order_id, %why, "order never reached the venue; closed as EXPIRED");
        let update = OrderUpdate {
            error: Some(format!("{NEVER_SENT}: {why}")),
            executed_qty: Some(Decimal::ZERO),
            ..OrderUpdate::status(OrderStatus::Expired)
        };
        Ok(self
            .store
            .update_order(client_order_id, &update)
            .await?
            .into_row())
    }

    /// Records `report` and waits until the order is terminal; cancels it at the deadline.
    async fn follow(&self, request: &OrderRequest, mut report: OrderReport) -> Result<Order> {
        let deadline = Instant::now() + self.params.order_timeout;
        let mut cancelled = false;
        let mut polls = 0;
        loop {
            let row = self
                .store
                .update_order(&request.client_order_id, &update_from(&report))
                .await?
                .into_row();
            if row.status.is_terminal() {
                return Ok(row);
            }
            if Instant::now() >= deadline {
                if cancelled {
                    return Err(ExecutorError::Exchange(ExchangeError::Unknown(format!(
                        "order {} still {} after cancel",
                        request.client_order_id, row.status
                    ))));
                }
                // market/IOC orders should never rest; bound our exposure to one that does
                cancelled = true;
                match self
                    .exchange
                    .cancel_order(request.venue, &request.symbol, &request.client_order_id)
                    .await
                {
                    // The venue does not know an order the gateway left PENDING (a 429/418
                    // answer counts as an unknown outcome): after the whole timeout it was
                    // refused before matching. Binance refuses a request older than its
                    // recvWindow, and the gateway answers PENDING only after its own lookups,
                    // so with recv_window_ms below order_timeout (10 s; 5 s by default) it can
                    // no longer arrive.
                    Err(ExchangeError::Rejected(reason))
                        if row.status == OrderStatus::Unknown
                            && row.exchange_order_id.is_none()
                            && row.executed_qty.is_zero() =>
                    {
                        return self
                            .expire_never_sent(
                                &request.client_order_id,
                                &format!("not at the venue after the timeout: {reason}"),
                            )
                            .await;
                    }
                    Err(ExchangeError::Rejected(_)) => {}
                    // the cancel itself refused (a ban or storm still running): an order the
                    // venue never acknowledged is settled with retries, not left UNKNOWN
                    Err(err)
                        if row.status == OrderStatus::Unknown
                            && row.exchange_order_id.is_none()
                            && row.executed_qty.is_zero() =>
                    {
                        tracing::warn!(error = %err, "cancel of a lingering order failed; settling it");
                        return self
                            .settle_unknown(request, &format!("cancel failed: {err}"))
                            .await;
                    }
                    Err(err) => tracing::warn!(error = %err, "cancel of a lingering order failed"),
                    Ok(()) => {}
                }
            }
            // past the deadline (a cancel sent) the next look comes soon
            let wait = poll_delay(polls).min(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(POLL_INTERVAL),
            );
            polls += 1;
            tokio::time::sleep(wait).await;
            if let Some(next) = self
                .exchange
                .get_order(request.venue, &request.symbol, &request.client_order_id)
                .await?
            {
                report = next;
            }
        }
    }

    /// Orders of a position, in creation order.
    pub(crate) async fn position_orders(&self, position_id: i64) -> Result<Vec<Order>> {
        Ok(self.store.list_position_orders(position_id).await?)
    }

    /// A fresh step number: the count of the position's orders so far (intents included), so
    /// ids stay deterministic given the database, also across restarts.
    pub(crate) async fn next_step(&self, position_id: i64) -> Result<u32> {
        let count = self.position_orders(position_id).await?.len();
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod poll_tests {
    use super::*;

    #[test]
    fn polls_back_off_from_100_ms_to_a_second() {
        let waits: Vec<u128> = (0..7).map(|n| poll_delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(poll_delay(u32::MAX), POLL_MAX);
    }
}

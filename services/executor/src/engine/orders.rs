//! Sending one order crash-safely: intent committed to PostgreSQL first, then the gateway call,
//! then the outcome recorded. An ambiguous outcome is resolved by asking the gateway for the
//! client order id, never by sending a second, different order.

use std::time::{Duration, Instant};

use fff_store::{Order, OrderIntent, OrderStatus, OrderType, OrderUpdate, TimeInForce};
use tracing::Instrument as _;

use super::Engine;
use crate::error::{ExecutorError, Result};
use crate::exchange::{ExchangeError, OrderKind, OrderReport, OrderRequest};

const POLL_INTERVAL: Duration = Duration::from_millis(100);

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

impl Engine {
    /// Commits the intent, sends it, and waits (bounded) for a terminal state. Returns the
    /// stored order; a definite rejection is a REJECTED row, not an error. Errors mean the
    /// outcome is still unknown (the row stays UNKNOWN for reconciliation) or the store failed.
    pub(crate) async fn execute(&self, position_id: i64, request: OrderRequest) -> Result<Order> {
        self.execute_timed(position_id, request, None).await
    }

    /// [`Engine::execute`] that records `since.elapsed()` into the unhedged-window samples at
    /// the moment the order leaves for the gateway (intent already committed).
    pub(crate) async fn execute_timed(
        &self,
        position_id: i64,
        request: OrderRequest,
        since: Option<Instant>,
    ) -> Result<Order> {
        let span = tracing::info_span!(
            "order",
            symbol = %request.symbol,
            client_order_id = %request.client_order_id,
            leg = ?crate::legs::leg_of(request.venue),
            side = ?request.side,
            qty = %request.qty,
        );
        self.execute_inner(position_id, request, since)
            .instrument(span)
            .await
    }

    async fn execute_inner(
        &self,
        position_id: i64,
        request: OrderRequest,
        since: Option<Instant>,
    ) -> Result<Order> {
        self.check_fence()?;
        let inserted = self
            .store
            .insert_order_intent(&intent_for(position_id, &request))
            .await?;
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
            return self.follow(&request, report).await;
        }
        // the lease may have been lost since the intent was written: the intent stays unsent
        // and reconciliation expires it
        self.check_fence()?;
        if let Some(since) = since {
            self.metrics.unhedged_window.record(since.elapsed());
        }
        match self.exchange.place_order(&request).await {
            Ok(report) => self.follow(&request, report).await,
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
                self.resolve_unknown(&request, reason).await
            }
        }
    }

    /// Polls GetOrder for an order whose send outcome is unknown.
    async fn resolve_unknown(&self, request: &OrderRequest, reason: String) -> Result<Order> {
        let deadline = Instant::now() + self.params.order_timeout;
        while Instant::now() < deadline {
            tokio::time::sleep(POLL_INTERVAL).await;
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
        Err(ExecutorError::Exchange(ExchangeError::Unknown(reason)))
    }

    /// Records `report` and waits until the order is terminal; cancels it at the deadline.
    async fn follow(&self, request: &OrderRequest, mut report: OrderReport) -> Result<Order> {
        let deadline = Instant::now() + self.params.order_timeout;
        let mut cancelled = false;
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
                if let Err(err) = self
                    .exchange
                    .cancel_order(request.venue, &request.symbol, &request.client_order_id)
                    .await
                {
                    tracing::warn!(error = %err, "cancel of a lingering order failed");
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
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

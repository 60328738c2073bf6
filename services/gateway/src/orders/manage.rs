//! Cancel, lookup and listing of orders at the venue; every answer also updates the book.

use fff_binance::orders::Market;
use fff_binance::rest::OrderRef;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use tonic::Status;

use super::{Orders, is_unknown_order, market_of};
use crate::convert::{order_from_futures, order_from_spot};
use crate::error::exchange_status;

impl Orders {
    /// GetOrder: the book's state unless PENDING or unknown, else the venue's.
    pub async fn get(
        &self,
        venue: common::Venue,
        symbol: &str,
        reference: OrderRef,
    ) -> Result<pb::Order, Status> {
        let record = match &reference {
            OrderRef::ClientOrderId(id) => self.book.get(id),
            OrderRef::OrderId(_) => None,
        };
        if let Some(record) = &record
            && record.order.status != common::OrderStatus::Pending as i32
        {
            return Ok(record.order.clone());
        }
        match self.query(venue, symbol, &reference).await {
            Ok(Some(order)) => Ok(self.book.observe(&order)),
            Ok(None) => match record {
                Some(record) => Ok(record.order),
                None => Err(Status::not_found("no such order on the venue")),
            },
            Err(err) => match record {
                Some(record) => Ok(record.order),
                None => Err(exchange_status(&err)),
            },
        }
    }

    pub async fn cancel(
        &self,
        venue: common::Venue,
        symbol: &str,
        reference: OrderRef,
    ) -> Result<pb::Order, Status> {
        // still waiting in the rate-limit queue: withdrawn here, it never reaches the venue
        if let OrderRef::ClientOrderId(id) = &reference
            && let Some(withdrawn) = self.book.withdraw_queued(id)
        {
            return Ok(withdrawn);
        }
        let cancelled = match market_of(venue) {
            Market::Futures => self
                .rest
                .futures_cancel_order(symbol, &reference)
                .await
                .map(|o| order_from_futures(&o)),
            market => self
                .rest
                .margin_cancel_order(symbol, &reference)
                .await
                .map(|o| order_from_spot(market, &o)),
        };
        match cancelled {
            Ok(order) => Ok(self.book.observe(&order)),
            Err(err) if is_unknown_order(&err) => {
                // already terminal (filled or cancelled) or never existed: say which
                match self.query(venue, symbol, &reference).await {
                    Ok(Some(order)) => Ok(self.book.observe(&order)),
                    Ok(None) => Err(Status::not_found("no such order on the venue")),
                    Err(err) => Err(exchange_status(&err)),
                }
            }
            Err(err) => Err(exchange_status(&err)),
        }
    }

    /// Working orders of `venue` (or both), optionally one symbol, oldest first.
    pub async fn open_orders(
        &self,
        venue: common::Venue,
        symbol: Option<&str>,
    ) -> Result<Vec<pb::Order>, Status> {
        let mut orders = Vec::new();
        if venue != common::Venue::UsdmPerp {
            let spot = self
                .rest
                .margin_open_orders(symbol)
                .await
                .map_err(|e| exchange_status(&e))?;
            orders.extend(spot.iter().map(|o| order_from_spot(Market::Margin, o)));
        }
        if venue != common::Venue::SpotMargin {
            let perp = self
                .rest
                .futures_open_orders(symbol)
                .await
                .map_err(|e| exchange_status(&e))?;
            orders.extend(perp.iter().map(order_from_futures));
        }
        let mut orders: Vec<pb::Order> = orders.iter().map(|o| self.book.observe(o)).collect();
        orders.sort_by_key(|o| {
            (
                o.created_at.map_or((0, 0), |t| (t.seconds, t.nanos)),
                o.exchange_order_id,
            )
        });
        Ok(orders)
    }

    /// Cancels each working order of the symbol (the connector has no cancel-all endpoint).
    pub async fn cancel_all(
        &self,
        venue: common::Venue,
        symbol: &str,
    ) -> Result<Vec<pb::Order>, Status> {
        let open = self.open_orders(venue, Some(symbol)).await?;
        let mut cancelled = Vec::new();
        for order in open {
            let reference = OrderRef::OrderId(i64::try_from(order.exchange_order_id).unwrap_or(0));
            match self.cancel(venue, symbol, reference).await {
                Ok(order) if order.status == common::OrderStatus::Canceled as i32 => {
                    cancelled.push(order)
                }
                Ok(_) => {}
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => return Err(status),
            }
        }
        Ok(cancelled)
    }
}

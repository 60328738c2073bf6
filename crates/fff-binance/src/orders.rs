//! One view of an order whatever the venue, built from REST responses and stream events, and the
//! lookup that settles an order whose placement had an unknown outcome.

use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::models::futures::FuturesOrder;
use crate::models::spot::SpotOrder;
use crate::models::stream::{ExecutionReport, FuturesOrderUpdate};
use crate::models::{OrderStatus, Side};
use crate::rest::{OrderRef, RestClient};

/// Where an order lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Market {
    Spot,
    /// Cross margin.
    Margin,
    /// USDⓈ-M futures.
    Futures,
}

/// The state of one order as Binance last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub market: Market,
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    /// `None` only for ACK responses, which carry no status.
    pub status: Option<OrderStatus>,
    pub side: Option<Side>,
    pub orig_qty: Option<Decimal>,
    pub executed_qty: Decimal,
    /// Quote amount filled so far (`cummulativeQuoteQty` / `cumQuote` / `Z`).
    pub cum_quote: Option<Decimal>,
    pub avg_price: Option<Decimal>,
}

impl OrderState {
    pub fn from_spot(market: Market, order: &SpotOrder) -> Self {
        // A cancel response's `clientOrderId` is the cancel's own id; the order's is the original one.
        let client_order_id = order
            .orig_client_order_id
            .clone()
            .unwrap_or_else(|| order.client_order_id.clone());
        Self {
            market,
            symbol: order.symbol.clone(),
            order_id: order.order_id,
            client_order_id,
            status: order.status,
            side: order.side,
            orig_qty: order.orig_qty,
            executed_qty: order.executed_qty.unwrap_or_default(),
            cum_quote: order.cummulative_quote_qty,
            avg_price: order.avg_price(),
        }
    }

    pub fn from_futures(order: &FuturesOrder) -> Self {
        Self {
            market: Market::Futures,
            symbol: order.symbol.clone(),
            order_id: order.order_id,
            client_order_id: order.client_order_id.clone(),
            status: Some(order.status),
            side: Some(order.side),
            orig_qty: Some(order.orig_qty),
            executed_qty: order.executed_qty,
            cum_quote: order.cum_quote,
            avg_price: (!order.executed_qty.is_zero()).then_some(order.avg_price),
        }
    }

    /// From a spot or margin `executionReport` (`market` says which account the stream belongs to).
    pub fn from_execution_report(market: Market, report: &ExecutionReport) -> Self {
        let client_order_id = if report.orig_client_order_id.is_empty() {
            report.client_order_id.clone()
        } else {
            report.orig_client_order_id.clone()
        };
        Self {
            market,
            symbol: report.symbol.clone(),
            order_id: report.order_id,
            client_order_id,
            status: Some(report.status),
            side: Some(report.side),
            orig_qty: Some(report.orig_qty),
            executed_qty: report.cum_filled_qty,
            cum_quote: Some(report.cum_quote_qty),
            avg_price: report.cum_quote_qty.checked_div(report.cum_filled_qty),
        }
    }

    /// From the `o` object of `ORDER_TRADE_UPDATE`.
    pub fn from_futures_update(update: &FuturesOrderUpdate) -> Self {
        Self {
            market: Market::Futures,
            symbol: update.symbol.clone(),
            order_id: update.order_id,
            client_order_id: update.client_order_id.clone(),
            status: Some(update.status),
            side: Some(update.side),
            orig_qty: Some(update.orig_qty),
            executed_qty: update.cum_filled_qty,
            cum_quote: None,
            avg_price: (!update.cum_filled_qty.is_zero()).then_some(update.avg_price),
        }
    }
}

/// What a lookup by client order id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Found(OrderState),
    /// Binance does not know the order (`-2013`). Only conclusive once the request's `recvWindow`
    /// has passed since it was signed: until then a delayed request can still be accepted.
    NotFound,
}

impl RestClient {
    /// Settles an order whose placement ended in [`crate::Outcome::Unknown`] by looking it up by the
    /// client order id it was sent with. Reads are retried inside; errors other than "no such order"
    /// are returned as they are.
    pub async fn resolve_order(
        &self,
        market: Market,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Resolution> {
        let order = OrderRef::ClientOrderId(client_order_id.to_string());
        let found = match market {
            Market::Spot => self
                .query_order(symbol, &order)
                .await
                .map(|o| OrderState::from_spot(market, &o)),
            Market::Margin => self
                .margin_query_order(symbol, &order)
                .await
                .map(|o| OrderState::from_spot(market, &o)),
            Market::Futures => self
                .futures_query_order(symbol, &order)
                .await
                .map(|o| OrderState::from_futures(&o)),
        };
        match found {
            Ok(state) => Ok(Resolution::Found(state)),
            Err(Error::Api { code: -2013, .. }) => Ok(Resolution::NotFound),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use crate::models::stream::{AccountEvent, FuturesUserEvent};
    use rust_decimal_macros::dec;

    #[test]
    fn builds_states_from_every_source() {
        let full: SpotOrder = fixture::parse("api_v3_order_POST_FULL.json");
        let state = OrderState::from_spot(Market::Spot, &full);
        assert_eq!(state.avg_price, Some(dec!(1)));
        let cancel: SpotOrder = fixture::parse("api_v3_order_DELETE.json");
        assert_eq!(
            OrderState::from_spot(Market::Spot, &cancel).client_order_id,
            "myOrder1"
        );
        let futures: FuturesOrder = fixture::parse("fapi_v1_order_POST.json");
        let state = OrderState::from_futures(&futures);
        assert_eq!(state.avg_price, None);
        assert_eq!(state.status, Some(OrderStatus::New));

        let envelope: serde_json::Value = fixture::parse("wsapi_event_executionReport.json");
        let AccountEvent::ExecutionReport(report) =
            serde_json::from_value(envelope["event"].clone()).unwrap()
        else {
            panic!("not an execution report")
        };
        let state = OrderState::from_execution_report(Market::Margin, &report);
        assert_eq!(state.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");
        assert_eq!(state.avg_price, None, "nothing filled yet");

        let FuturesUserEvent::OrderTradeUpdate(update) =
            fixture::parse("ws_fapi_ORDER_TRADE_UPDATE.json")
        else {
            panic!("not an order update")
        };
        let state = OrderState::from_futures_update(&update.order);
        assert_eq!(state.order_id, 8886774);
        assert_eq!(state.executed_qty, Decimal::ZERO);
    }
}

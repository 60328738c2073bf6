//! Spot endpoints (`/api/v3`) and the key-permission check (`/sapi/v1/account/apiRestrictions`).

use reqwest::Method;
use rust_decimal::Decimal;

use super::{Endpoint, Host, Params, RestClient, Security};
use crate::error::{Error, Result};
use crate::filters::{OrderDraft, SymbolFilters};
use crate::limiter::{Cost, Scope};
use crate::models::spot::{AccountTrade, SpotAccount, SpotExchangeInfo, SpotOrder};
use crate::models::{
    ApiRestrictions, BookTicker, Depth, Kline, KlineInterval, OrderKind, ServerTime, Side,
    Ticker24h, TimeInForce,
};

const fn get(path: &'static str, security: Security, weight: u32) -> Endpoint {
    Endpoint::new(
        Method::GET,
        Host::Spot,
        path,
        security,
        Scope::Spot,
        Cost::weight(weight),
    )
}

/// Which order a query or cancel refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    OrderId(i64),
    ClientOrderId(String),
}

impl OrderRef {
    pub(crate) fn apply(&self, params: Params) -> Params {
        match self {
            OrderRef::OrderId(id) => params.push("orderId", id),
            OrderRef::ClientOrderId(id) => params.push("origClientOrderId", id),
        }
    }
}

/// A spot order. `client_order_id` is mandatory: it is how an order with an unknown outcome is found
/// again ([`RestClient::query_order`] with [`OrderRef::ClientOrderId`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotOrderRequest {
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub client_order_id: String,
}

impl SpotOrderRequest {
    /// Rounds price to the tick (in the caller's favour) and floors qty to the step, then checks
    /// min/max and notional. `reference_price` prices MARKET orders for the notional check.
    pub fn apply_filters(
        mut self,
        filters: &SymbolFilters,
        reference_price: Option<Decimal>,
    ) -> Result<Self> {
        let limit_price = match self.kind {
            OrderKind::Limit { price, .. } => Some(price),
            OrderKind::Market => None,
        };
        let checked = filters.check(&OrderDraft {
            side: self.side,
            qty: self.qty,
            limit_price,
            reference_price,
            reduce_only: false,
        })?;
        self.qty = checked.qty;
        if let (OrderKind::Limit { tif, .. }, Some(price)) = (self.kind, checked.price) {
            self.kind = OrderKind::Limit { price, tif };
        }
        Ok(self)
    }

    pub(crate) fn params(&self) -> Result<Params> {
        validate_client_order_id(&self.client_order_id)?;
        let mut params = Params::new()
            .push("symbol", &self.symbol)
            .push("side", self.side.as_str());
        params = match self.kind {
            // spot has no GTX: its post-only order is the LIMIT_MAKER type, without timeInForce
            OrderKind::Limit {
                price,
                tif: TimeInForce::Gtx,
            } => params
                .push("type", "LIMIT_MAKER")
                .push("price", price.normalize()),
            OrderKind::Limit { price, tif } => params
                .push("type", "LIMIT")
                .push("timeInForce", tif.as_str())
                .push("price", price.normalize()),
            OrderKind::Market => params.push("type", "MARKET"),
        };
        Ok(params
            .push("quantity", self.qty.normalize())
            .push("newClientOrderId", &self.client_order_id)
            // FULL carries the fills (price, commission) of MARKET/LIMIT orders.
            .push("newOrderRespType", "FULL"))
    }
}

/// Binance accepts `^[\.A-Z\:/a-z0-9_-]{1,36}$` (futures); spot takes the same set.
pub(crate) fn validate_client_order_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 36
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "client order id {id:?} must match [.A-Za-z0-9:/_-]{{1,36}}"
        )))
    }
}

fn depth_weight(limit: u32) -> u32 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

impl RestClient {
    /// `GET /api/v3/time`.
    pub async fn time(&self) -> Result<ServerTime> {
        self.send(&get("/api/v3/time", Security::Public, 1), Params::new())
            .await
    }

    /// `GET /api/v3/exchangeInfo`; also loads the spot rate limits into the limiter.
    pub async fn exchange_info(&self) -> Result<SpotExchangeInfo> {
        let info: SpotExchangeInfo = self
            .send(
                &get("/api/v3/exchangeInfo", Security::Public, 20).background(),
                Params::new(),
            )
            .await?;
        if !info.rate_limits.is_empty() {
            self.limiters().spot.set_limits(&info.rate_limits);
        }
        Ok(info)
    }

    /// `GET /api/v3/ticker/24hr?symbol=`.
    pub async fn ticker_24hr(&self, symbol: &str) -> Result<Ticker24h> {
        self.send(
            &get("/api/v3/ticker/24hr", Security::Public, 2),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `GET /api/v3/ticker/24hr` for every symbol (weight 80).
    pub async fn tickers_24hr(&self) -> Result<Vec<Ticker24h>> {
        self.send(
            &get("/api/v3/ticker/24hr", Security::Public, 80).background(),
            Params::new(),
        )
        .await
    }

    /// `GET /api/v3/ticker/bookTicker?symbol=`.
    pub async fn book_ticker(&self, symbol: &str) -> Result<BookTicker> {
        self.send(
            &get("/api/v3/ticker/bookTicker", Security::Public, 2),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `GET /api/v3/ticker/bookTicker` for every symbol.
    pub async fn book_tickers(&self) -> Result<Vec<BookTicker>> {
        self.send(
            &get("/api/v3/ticker/bookTicker", Security::Public, 4).background(),
            Params::new(),
        )
        .await
    }

    /// `GET /api/v3/depth`.
    pub async fn depth(&self, symbol: &str, limit: u32) -> Result<Depth> {
        self.send(
            &get("/api/v3/depth", Security::Public, depth_weight(limit)),
            Params::new().push("symbol", symbol).push("limit", limit),
        )
        .await
    }

    /// `GET /api/v3/klines` (max 1000 rows per call).
    pub async fn klines(
        &self,
        symbol: &str,
        interval: KlineInterval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<Kline>> {
        self.send(
            &get("/api/v3/klines", Security::Public, 2).background(),
            Params::new()
                .push("symbol", symbol)
                .push("interval", interval.as_str())
                .opt("startTime", start_time)
                .opt("endTime", end_time)
                .opt("limit", limit),
        )
        .await
    }

    /// `POST /api/v3/order`. Sent exactly once; an [`Error::Unknown`] must be resolved with
    /// [`RestClient::query_order`] by client order id.
    pub async fn new_order(&self, order: &SpotOrderRequest) -> Result<SpotOrder> {
        let endpoint = Endpoint::new(
            Method::POST,
            Host::Spot,
            "/api/v3/order",
            Security::Signed,
            Scope::Spot,
            Cost::order(1),
        );
        self.send(&endpoint, order.params()?).await
    }

    /// `GET /api/v3/myTrades` (weight 20, 5 with an order id): the account's executions on
    /// `symbol`, oldest first; one order's with `order_id`, else from `start_time`.
    pub async fn my_trades(
        &self,
        symbol: &str,
        order_id: Option<i64>,
        start_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<AccountTrade>> {
        let weight = if order_id.is_some() { 5 } else { 20 };
        self.send(
            &get("/api/v3/myTrades", Security::Signed, weight),
            Params::new()
                .push("symbol", symbol)
                .opt("orderId", order_id)
                .opt("startTime", start_time)
                .opt("limit", limit),
        )
        .await
    }

    /// `GET /api/v3/order`.
    pub async fn query_order(&self, symbol: &str, order: &OrderRef) -> Result<SpotOrder> {
        self.send(
            &get("/api/v3/order", Security::Signed, 4),
            order.apply(Params::new().push("symbol", symbol)),
        )
        .await
    }

    /// `DELETE /api/v3/order` (not retried: a repeat would report `-2011` for a cancelled order).
    pub async fn cancel_order(&self, symbol: &str, order: &OrderRef) -> Result<SpotOrder> {
        let endpoint = Endpoint::new(
            Method::DELETE,
            Host::Spot,
            "/api/v3/order",
            Security::Signed,
            Scope::Spot,
            Cost::weight(1),
        );
        self.send(&endpoint, order.apply(Params::new().push("symbol", symbol)))
            .await
    }

    /// `GET /api/v3/openOrders` (weight 6 with a symbol, 80 without).
    pub async fn open_orders(&self, symbol: Option<&str>) -> Result<Vec<SpotOrder>> {
        let weight = if symbol.is_some() { 6 } else { 80 };
        self.send(
            &get("/api/v3/openOrders", Security::Signed, weight),
            Params::new().opt("symbol", symbol),
        )
        .await
    }

    /// `GET /api/v3/account`.
    pub async fn account(&self, omit_zero_balances: bool) -> Result<SpotAccount> {
        self.send(
            &get("/api/v3/account", Security::Signed, 20),
            Params::new().push("omitZeroBalances", omit_zero_balances),
        )
        .await
    }

    /// `GET /sapi/v1/account/apiRestrictions`: what the configured key may do.
    pub async fn api_restrictions(&self) -> Result<ApiRestrictions> {
        let endpoint = Endpoint::new(
            Method::GET,
            Host::Spot,
            "/sapi/v1/account/apiRestrictions",
            Security::Signed,
            Scope::SapiIp,
            Cost::weight(1).in_background(),
        );
        self.send(&endpoint, Params::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{RawFilter, Venue};
    use rust_decimal_macros::dec;

    #[test]
    fn limit_order_params_are_filtered_and_normalised() {
        let filters = SymbolFilters::from_raw(
            Venue::Spot,
            &[
                RawFilter::Price {
                    min_price: dec!(0.01),
                    max_price: dec!(1000000),
                    tick_size: dec!(0.01),
                },
                RawFilter::LotSize {
                    min_qty: dec!(0.00001),
                    max_qty: dec!(9000),
                    step_size: dec!(0.00001),
                },
            ],
        );
        let order = SpotOrderRequest {
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            kind: OrderKind::Limit {
                price: dec!(65000.129),
                tif: TimeInForce::Gtc,
            },
            qty: dec!(0.0123456),
            client_order_id: "fff-1".into(),
        }
        .apply_filters(&filters, None)
        .unwrap();
        let params = order.params().unwrap().0;
        let get = |k: &str| params.iter().find(|(key, _)| key == k).unwrap().1.clone();
        assert_eq!(get("price"), "65000.12");
        assert_eq!(get("quantity"), "0.01234");
        assert_eq!(get("newClientOrderId"), "fff-1");
    }

    #[test]
    fn post_only_spot_orders_are_limit_maker_without_time_in_force() {
        let kind = OrderKind::Limit {
            price: dec!(65000.10),
            tif: TimeInForce::Gtx,
        };
        let spot = SpotOrderRequest {
            symbol: "BTCUSDT".into(),
            side: Side::Sell,
            kind,
            qty: dec!(0.010),
            client_order_id: "fff-2".into(),
        }
        .params()
        .unwrap()
        .0;
        let get = |k: &str| spot.iter().find(|(key, _)| key == k).map(|p| p.1.clone());
        assert_eq!(get("type").as_deref(), Some("LIMIT_MAKER"));
        assert_eq!(get("price").as_deref(), Some("65000.1"));
        assert_eq!(get("timeInForce"), None);
    }

    #[test]
    fn client_order_id_is_validated() {
        assert!(validate_client_order_id("x-HNA2TXFJ:1/a_b-c.d").is_ok());
        assert!(validate_client_order_id("").is_err());
        assert!(validate_client_order_id("has space").is_err());
        assert!(validate_client_order_id(&"a".repeat(37)).is_err());
    }
}

//! USDⓈ-M futures endpoints (`/fapi`).

use reqwest::Method;
use rust_decimal::Decimal;

use super::spot::{OrderRef, validate_client_order_id};
use super::{Endpoint, Host, Params, RestClient, Security};
use crate::error::Result;
use crate::filters::{OrderDraft, SymbolFilters};
use crate::limiter::{Cost, Scope};
use crate::models::futures::{
    FundingInfo, FundingRateRecord, FuturesAccount, FuturesCommissionRate, FuturesExchangeInfo,
    FuturesOrder, FuturesTrade, IncomeRecord, LeverageChange, MarginType, OpenInterest,
    PositionMode, PositionRisk, PremiumIndex,
};
use crate::models::margin::ListenKey;
use crate::models::{
    BookTicker, CodeMsg, Depth, Kline, KlineInterval, OrderKind, ServerTime, Side, Ticker24h,
};

const fn fapi(method: Method, path: &'static str, security: Security, weight: u32) -> Endpoint {
    Endpoint::new(
        method,
        Host::Futures,
        path,
        security,
        Scope::Futures,
        Cost::weight(weight),
    )
}

/// `positionSide`: BOTH in one-way mode, LONG/SHORT in hedge mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionSide {
    #[default]
    Both,
    Long,
    Short,
}

impl PositionSide {
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSide::Both => "BOTH",
            PositionSide::Long => "LONG",
            PositionSide::Short => "SHORT",
        }
    }
}

/// A LIMIT or MARKET futures order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuturesOrderRequest {
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub client_order_id: String,
    /// Only in one-way mode (Binance rejects it in hedge mode).
    pub reduce_only: bool,
    pub position_side: PositionSide,
}

impl FuturesOrderRequest {
    /// Futures filter rules (measured from min price/qty; reduce-only waives the min notional).
    /// `mark_price` prices MARKET orders for the notional check.
    pub fn apply_filters(
        mut self,
        filters: &SymbolFilters,
        mark_price: Option<Decimal>,
    ) -> Result<Self> {
        let limit_price = match self.kind {
            OrderKind::Limit { price, .. } => Some(price),
            OrderKind::Market => None,
        };
        let checked = filters.check(&OrderDraft {
            side: self.side,
            qty: self.qty,
            limit_price,
            reference_price: mark_price,
            reduce_only: self.reduce_only,
        })?;
        self.qty = checked.qty;
        if let (OrderKind::Limit { tif, .. }, Some(price)) = (self.kind, checked.price) {
            self.kind = OrderKind::Limit { price, tif };
        }
        Ok(self)
    }

    fn params(&self) -> Result<Params> {
        validate_client_order_id(&self.client_order_id)?;
        let mut params = Params::new()
            .push("symbol", &self.symbol)
            .push("side", self.side.as_str())
            .push("positionSide", self.position_side.as_str());
        params = match self.kind {
            OrderKind::Limit { price, tif } => params
                .push("type", "LIMIT")
                .push("timeInForce", tif.as_str())
                .push("price", price.normalize()),
            OrderKind::Market => params.push("type", "MARKET"),
        };
        params = params
            .push("quantity", self.qty.normalize())
            .push("newClientOrderId", &self.client_order_id)
            // RESULT returns the final state of a MARKET order (futures has no FULL).
            .push("newOrderRespType", "RESULT");
        if self.reduce_only {
            params = params.push("reduceOnly", "true");
        }
        Ok(params)
    }
}

fn depth_weight(limit: u32) -> u32 {
    match limit {
        0..=50 => 2,
        51..=100 => 5,
        101..=500 => 10,
        _ => 20,
    }
}

impl RestClient {
    /// `GET /fapi/v1/time`.
    pub async fn futures_time(&self) -> Result<ServerTime> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/time", Security::Public, 1),
            Params::new(),
        )
        .await
    }

    /// `GET /fapi/v1/exchangeInfo`; also loads the futures rate limits into the limiter.
    pub async fn futures_exchange_info(&self) -> Result<FuturesExchangeInfo> {
        let info: FuturesExchangeInfo = self
            .send(
                &fapi(Method::GET, "/fapi/v1/exchangeInfo", Security::Public, 1).background(),
                Params::new(),
            )
            .await?;
        if !info.rate_limits.is_empty() {
            self.limiters().futures.set_limits(&info.rate_limits);
        }
        Ok(info)
    }

    /// `GET /fapi/v1/fundingInfo`: adjusted caps/floors and funding intervals (others are 8h).
    pub async fn funding_info(&self) -> Result<Vec<FundingInfo>> {
        // Weight 0 on the IP budget, but it shares a 500 / 5 min limit with fundingRate.
        self.send(
            &fapi(Method::GET, "/fapi/v1/fundingInfo", Security::Public, 1).background(),
            Params::new(),
        )
        .await
    }

    /// `GET /fapi/v1/premiumIndex?symbol=`.
    pub async fn premium_index(&self, symbol: &str) -> Result<PremiumIndex> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/premiumIndex", Security::Public, 1),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `GET /fapi/v1/premiumIndex` for every symbol (weight 10).
    pub async fn premium_indexes(&self) -> Result<Vec<PremiumIndex>> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/premiumIndex", Security::Public, 10).background(),
            Params::new(),
        )
        .await
    }

    /// `GET /fapi/v1/fundingRate` history (ascending; max 1000 rows).
    pub async fn funding_rate_history(
        &self,
        symbol: Option<&str>,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<FundingRateRecord>> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/fundingRate", Security::Public, 1).background(),
            Params::new()
                .opt("symbol", symbol)
                .opt("startTime", start_time)
                .opt("endTime", end_time)
                .opt("limit", limit),
        )
        .await
    }

    /// `GET /fapi/v1/openInterest`.
    pub async fn open_interest(&self, symbol: &str) -> Result<OpenInterest> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/openInterest", Security::Public, 1).background(),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `GET /fapi/v1/ticker/24hr?symbol=`.
    pub async fn futures_ticker_24hr(&self, symbol: &str) -> Result<Ticker24h> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/ticker/24hr", Security::Public, 1),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `GET /fapi/v1/ticker/24hr` for every symbol (weight 40).
    pub async fn futures_tickers_24hr(&self) -> Result<Vec<Ticker24h>> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/ticker/24hr", Security::Public, 40).background(),
            Params::new(),
        )
        .await
    }

    /// `GET /fapi/v1/ticker/bookTicker?symbol=`.
    pub async fn futures_book_ticker(&self, symbol: &str) -> Result<BookTicker> {
        self.send(
            &fapi(
                Method::GET,
                "/fapi/v1/ticker/bookTicker",
                Security::Public,
                2,
            ),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `GET /fapi/v1/ticker/bookTicker` for every symbol.
    pub async fn futures_book_tickers(&self) -> Result<Vec<BookTicker>> {
        self.send(
            &fapi(
                Method::GET,
                "/fapi/v1/ticker/bookTicker",
                Security::Public,
                5,
            )
            .background(),
            Params::new(),
        )
        .await
    }

    /// `GET /fapi/v1/depth` (`limit` ∈ 5, 10, 20, 50, 100, 500, 1000).
    pub async fn futures_depth(&self, symbol: &str, limit: u32) -> Result<Depth> {
        self.send(
            &fapi(
                Method::GET,
                "/fapi/v1/depth",
                Security::Public,
                depth_weight(limit),
            ),
            Params::new().push("symbol", symbol).push("limit", limit),
        )
        .await
    }

    /// `GET /fapi/v1/klines` (weight 5 for up to 1000 rows).
    pub async fn futures_klines(
        &self,
        symbol: &str,
        interval: KlineInterval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<Kline>> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/klines", Security::Public, 5).background(),
            Params::new()
                .push("symbol", symbol)
                .push("interval", interval.as_str())
                .opt("startTime", start_time)
                .opt("endTime", end_time)
                .opt("limit", limit),
        )
        .await
    }

    /// `POST /fapi/v1/order`. Sent exactly once; resolve an unknown outcome with
    /// [`RestClient::futures_query_order`] by client order id.
    pub async fn futures_new_order(&self, order: &FuturesOrderRequest) -> Result<FuturesOrder> {
        let endpoint =
            fapi(Method::POST, "/fapi/v1/order", Security::Signed, 0).with_cost(Cost::order(0));
        self.send(&endpoint, order.params()?).await
    }

    /// `GET /fapi/v1/order`.
    pub async fn futures_query_order(
        &self,
        symbol: &str,
        order: &OrderRef,
    ) -> Result<FuturesOrder> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/order", Security::Signed, 1),
            order.apply(Params::new().push("symbol", symbol)),
        )
        .await
    }

    /// `DELETE /fapi/v1/order`.
    pub async fn futures_cancel_order(
        &self,
        symbol: &str,
        order: &OrderRef,
    ) -> Result<FuturesOrder> {
        self.send(
            &fapi(Method::DELETE, "/fapi/v1/order", Security::Signed, 1),
            order.apply(Params::new().push("symbol", symbol)),
        )
        .await
    }

    /// `GET /fapi/v1/openOrders` (weight 1 with a symbol, 40 without).
    pub async fn futures_open_orders(&self, symbol: Option<&str>) -> Result<Vec<FuturesOrder>> {
        let weight = if symbol.is_some() { 1 } else { 40 };
        self.send(
            &fapi(Method::GET, "/fapi/v1/openOrders", Security::Signed, weight),
            Params::new().opt("symbol", symbol),
        )
        .await
    }

    /// `GET /fapi/v3/account`.
    pub async fn futures_account(&self) -> Result<FuturesAccount> {
        self.send(
            &fapi(Method::GET, "/fapi/v3/account", Security::Signed, 5),
            Params::new(),
        )
        .await
    }

    /// `GET /fapi/v3/positionRisk` (only symbols with a position or open order).
    pub async fn position_risk(&self, symbol: Option<&str>) -> Result<Vec<PositionRisk>> {
        self.send(
            &fapi(Method::GET, "/fapi/v3/positionRisk", Security::Signed, 5),
            Params::new().opt("symbol", symbol),
        )
        .await
    }

    /// `POST /fapi/v1/leverage`.
    pub async fn set_leverage(&self, symbol: &str, leverage: u32) -> Result<LeverageChange> {
        self.send(
            &fapi(Method::POST, "/fapi/v1/leverage", Security::Signed, 1),
            Params::new()
                .push("symbol", symbol)
                .push("leverage", leverage),
        )
        .await
    }

    /// `POST /fapi/v1/marginType`. Already set answers `-4046`, which callers may treat as success.
    pub async fn set_margin_type(&self, symbol: &str, margin_type: MarginType) -> Result<CodeMsg> {
        self.send(
            &fapi(Method::POST, "/fapi/v1/marginType", Security::Signed, 1),
            Params::new()
                .push("symbol", symbol)
                .push("marginType", margin_type.as_str()),
        )
        .await
    }

    /// `GET /fapi/v1/positionSide/dual`.
    pub async fn position_mode(&self) -> Result<PositionMode> {
        self.send(
            &fapi(
                Method::GET,
                "/fapi/v1/positionSide/dual",
                Security::Signed,
                30,
            ),
            Params::new(),
        )
        .await
    }

    /// `POST /fapi/v1/positionSide/dual` (`true` = hedge mode). Already set answers `-4059`.
    pub async fn set_position_mode(&self, dual_side: bool) -> Result<CodeMsg> {
        self.send(
            &fapi(
                Method::POST,
                "/fapi/v1/positionSide/dual",
                Security::Signed,
                1,
            ),
            Params::new().push("dualSidePosition", dual_side),
        )
        .await
    }

    /// `GET /fapi/v1/income` (e.g. `income_type = Some("FUNDING_FEE")`).
    pub async fn income(
        &self,
        symbol: Option<&str>,
        income_type: Option<&str>,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<IncomeRecord>> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/income", Security::Signed, 30),
            Params::new()
                .opt("symbol", symbol)
                .opt("incomeType", income_type)
                .opt("startTime", start_time)
                .opt("endTime", end_time)
                .opt("limit", limit),
        )
        .await
    }

    /// `GET /fapi/v1/userTrades` (weight 5): the account's executions on `symbol`, oldest
    /// first; one order's with `order_id`, else from `start_time` (a window spans ≤ 7 days).
    pub async fn futures_user_trades(
        &self,
        symbol: &str,
        order_id: Option<i64>,
        start_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<FuturesTrade>> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/userTrades", Security::Signed, 5),
            Params::new()
                .push("symbol", symbol)
                .opt("orderId", order_id)
                .opt("startTime", start_time)
                .opt("limit", limit),
        )
        .await
    }

    /// `GET /fapi/v1/commissionRate`.
    pub async fn futures_commission_rate(&self, symbol: &str) -> Result<FuturesCommissionRate> {
        self.send(
            &fapi(Method::GET, "/fapi/v1/commissionRate", Security::Signed, 20).background(),
            Params::new().push("symbol", symbol),
        )
        .await
    }

    /// `POST /fapi/v1/listenKey` (returns the active key if there is one).
    pub async fn create_futures_listen_key(&self) -> Result<ListenKey> {
        self.send(
            &fapi(Method::POST, "/fapi/v1/listenKey", Security::ApiKey, 1),
            Params::new(),
        )
        .await
    }

    /// `PUT /fapi/v1/listenKey` keepalive (`-1125` means: create a new one).
    pub async fn keepalive_futures_listen_key(&self) -> Result<serde_json::Value> {
        self.send(
            &fapi(Method::PUT, "/fapi/v1/listenKey", Security::ApiKey, 1),
            Params::new(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn reduce_only_market_order_params() {
        let order = FuturesOrderRequest {
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            qty: dec!(0.0100),
            client_order_id: "fff-close-1".into(),
            reduce_only: true,
            position_side: PositionSide::Both,
        };
        let params = order.params().unwrap().0;
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("quantity").as_deref(), Some("0.01"));
        assert_eq!(get("reduceOnly").as_deref(), Some("true"));
        assert_eq!(get("type").as_deref(), Some("MARKET"));
        assert_eq!(get("price"), None);
    }
}

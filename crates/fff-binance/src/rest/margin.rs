//! Cross-margin endpoints (`/sapi/v1/margin/*`, `/sapi/v1/userListenToken`). Everything here is cross
//! margin (`isIsolated=FALSE`); the farmer does not use isolated margin.

use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;

use super::spot::OrderRef;
use super::{Endpoint, Host, Params, RestClient, Security};
use crate::error::Result;
use crate::filters::{OrderDraft, SymbolFilters};
use crate::limiter::{Cost, Scope};
use crate::models::margin::{
    BorrowRepay, BorrowRepayPage, InterestHistoryPage, InterestRateRecord, ListenKey, ListenToken,
    MarginAccount, MarginPair, MaxBorrowable, NextHourlyInterestRate, SideEffect, TranId,
};
use crate::models::spot::{AccountTrade, SpotOrder};
use crate::models::{OrderKind, Side, TimeInForce};

const fn sapi(
    method: Method,
    path: &'static str,
    security: Security,
    scope: Scope,
    weight: u32,
) -> Endpoint {
    Endpoint::new(
        method,
        Host::Spot,
        path,
        security,
        scope,
        Cost::weight(weight),
    )
}

/// A cross-margin order; `side_effect` decides auto-borrow / auto-repay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginOrderRequest {
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub client_order_id: String,
    pub side_effect: SideEffect,
    /// Repay a borrow made by this order if it is cancelled (Binance default `true`).
    pub auto_repay_at_cancel: bool,
}

impl MarginOrderRequest {
    /// Same rules as spot: margin trades on the spot engine with spot filters.
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

    fn params(&self) -> Result<Params> {
        super::spot::validate_client_order_id(&self.client_order_id)?;
        let mut params = Params::new()
            .push("symbol", &self.symbol)
            .push("isIsolated", "FALSE")
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
            .push("newOrderRespType", "FULL")
            .push("sideEffectType", self.side_effect.as_str())
            .push("autoRepayAtCancel", self.auto_repay_at_cancel))
    }
}

impl RestClient {
    /// `POST /sapi/v1/margin/order` (weight 6 UID, 1500 when it may borrow). Sent exactly once.
    pub async fn margin_new_order(&self, order: &MarginOrderRequest) -> Result<SpotOrder> {
        let endpoint = sapi(
            Method::POST,
            "/sapi/v1/margin/order",
            Security::Signed,
            Scope::SapiUid,
            0,
        )
        .with_cost(Cost::order(order.side_effect.order_weight()));
        self.send(&endpoint, order.params()?).await
    }

    /// `GET /sapi/v1/margin/order`.
    pub async fn margin_query_order(&self, symbol: &str, order: &OrderRef) -> Result<SpotOrder> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/order",
            Security::Signed,
            Scope::SapiIp,
            10,
        );
        let params = Params::new()
            .push("symbol", symbol)
            .push("isIsolated", "FALSE");
        self.send(&endpoint, order.apply(params)).await
    }

    /// `DELETE /sapi/v1/margin/order`.
    pub async fn margin_cancel_order(&self, symbol: &str, order: &OrderRef) -> Result<SpotOrder> {
        let endpoint = sapi(
            Method::DELETE,
            "/sapi/v1/margin/order",
            Security::Signed,
            Scope::SapiIp,
            10,
        );
        let params = Params::new()
            .push("symbol", symbol)
            .push("isIsolated", "FALSE");
        self.send(&endpoint, order.apply(params)).await
    }

    /// `GET /sapi/v1/margin/openOrders`.
    pub async fn margin_open_orders(&self, symbol: Option<&str>) -> Result<Vec<SpotOrder>> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/openOrders",
            Security::Signed,
            Scope::SapiIp,
            10,
        );
        let params = Params::new()
            .opt("symbol", symbol)
            .push("isIsolated", "FALSE");
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/margin/account`.
    pub async fn margin_account(&self) -> Result<MarginAccount> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/account",
            Security::Signed,
            Scope::SapiIp,
            10,
        );
        self.send(&endpoint, Params::new()).await
    }

    /// `GET /sapi/v1/margin/allPairs` (API key only).
    pub async fn margin_all_pairs(&self) -> Result<Vec<MarginPair>> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/allPairs",
            Security::ApiKey,
            Scope::SapiIp,
            1,
        )
        .background();
        self.send(&endpoint, Params::new()).await
    }

    /// `GET /sapi/v1/margin/next-hourly-interest-rate` for up to 20 assets (weight 100).
    pub async fn margin_next_hourly_interest_rate(
        &self,
        assets: &[&str],
    ) -> Result<Vec<NextHourlyInterestRate>> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/next-hourly-interest-rate",
            Security::Signed,
            Scope::SapiIp,
            100,
        )
        .background();
        let params = Params::new()
            .push("assets", assets.join(","))
            .push("isIsolated", "FALSE");
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/margin/interestRateHistory` (daily rates; default last 7 days).
    pub async fn margin_interest_rate_history(
        &self,
        asset: &str,
        start_time: Option<i64>,
        end_time: Option<i64>,
    ) -> Result<Vec<InterestRateRecord>> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/interestRateHistory",
            Security::Signed,
            Scope::SapiIp,
            1,
        )
        .background();
        let params = Params::new()
            .push("asset", asset)
            .opt("startTime", start_time)
            .opt("endTime", end_time);
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/margin/interestHistory` (weight 1 IP): cross-margin interest charges,
    /// newest first, `size` (≤ 100) per page `current` (from 1); the venue's default window is
    /// the last 7 days, and a window may span at most 30.
    pub async fn margin_interest_history(
        &self,
        asset: Option<&str>,
        start_time: Option<i64>,
        end_time: Option<i64>,
        current: u32,
        size: u32,
    ) -> Result<InterestHistoryPage> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/interestHistory",
            Security::Signed,
            Scope::SapiIp,
            1,
        );
        let params = Params::new()
            .opt("asset", asset)
            .opt("startTime", start_time)
            .opt("endTime", end_time)
            .push("current", current.max(1))
            .push("size", size.clamp(1, 100));
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/margin/myTrades` (weight 10 IP): the account's cross-margin executions on
    /// `symbol`, oldest first; one order's with `order_id`, else from `start_time`.
    pub async fn margin_my_trades(
        &self,
        symbol: &str,
        order_id: Option<i64>,
        start_time: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<AccountTrade>> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/myTrades",
            Security::Signed,
            Scope::SapiIp,
            10,
        );
        let params = Params::new()
            .push("symbol", symbol)
            .push("isIsolated", "FALSE")
            .opt("orderId", order_id)
            .opt("startTime", start_time)
            .opt("limit", limit);
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/margin/maxBorrowable`.
    pub async fn margin_max_borrowable(&self, asset: &str) -> Result<MaxBorrowable> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/maxBorrowable",
            Security::Signed,
            Scope::SapiIp,
            50,
        );
        self.send(&endpoint, Params::new().push("asset", asset))
            .await
    }

    /// `POST /sapi/v1/margin/borrow-repay` (weight 1500 UID). Not retried: check
    /// [`RestClient::margin_borrow_repay_history`] after an unknown outcome.
    pub async fn margin_borrow_repay(
        &self,
        asset: &str,
        amount: Decimal,
        kind: BorrowRepay,
    ) -> Result<TranId> {
        let endpoint = sapi(
            Method::POST,
            "/sapi/v1/margin/borrow-repay",
            Security::Signed,
            Scope::SapiUid,
            1500,
        );
        let params = Params::new()
            .push("asset", asset)
            .push("isIsolated", "FALSE")
            .push("amount", amount.normalize())
            .push("type", kind.as_str());
        self.send(&endpoint, params).await
    }

    /// `GET /sapi/v1/margin/borrow-repay` records (newest first).
    pub async fn margin_borrow_repay_history(
        &self,
        kind: BorrowRepay,
        asset: Option<&str>,
        start_time: Option<i64>,
    ) -> Result<BorrowRepayPage> {
        let endpoint = sapi(
            Method::GET,
            "/sapi/v1/margin/borrow-repay",
            Security::Signed,
            Scope::SapiIp,
            10,
        );
        let params = Params::new()
            .push("type", kind.as_str())
            .opt("asset", asset)
            .opt("startTime", start_time);
        self.send(&endpoint, params).await
    }

    /// `POST /sapi/v1/userListenToken` (USER_STREAM: API key, no signature): token for
    /// `userDataStream.subscribe.listenToken`, the cross-margin trade data feed since the margin
    /// listenKeys were switched off on 2026-02-20.
    pub async fn create_margin_listen_token(
        &self,
        validity: Option<Duration>,
    ) -> Result<ListenToken> {
        let endpoint = sapi(
            Method::POST,
            "/sapi/v1/userListenToken",
            Security::ApiKey,
            Scope::SapiUid,
            1,
        );
        let validity_ms = validity.map(|v| u64::try_from(v.as_millis()).unwrap_or(u64::MAX));
        self.send(&endpoint, Params::new().opt("validity", validity_ms))
            .await
    }

    /// `POST /sapi/v1/margin/listen-key` for the margin risk stream (API key only).
    pub async fn create_margin_risk_listen_key(&self) -> Result<ListenKey> {
        let endpoint = sapi(
            Method::POST,
            "/sapi/v1/margin/listen-key",
            Security::ApiKey,
            Scope::SapiUid,
            1,
        );
        self.send(&endpoint, Params::new()).await
    }

    /// `PUT /sapi/v1/margin/listen-key` (extends validity by 60 minutes).
    pub async fn keepalive_margin_risk_listen_key(
        &self,
        listen_key: &str,
    ) -> Result<serde_json::Value> {
        let endpoint = sapi(
            Method::PUT,
            "/sapi/v1/margin/listen-key",
            Security::ApiKey,
            Scope::SapiUid,
            1,
        );
        self.send(&endpoint, Params::new().push("listenKey", listen_key))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::TimeInForce;
    use rust_decimal_macros::dec;

    #[test]
    fn post_only_margin_orders_are_limit_maker_without_time_in_force() {
        let params = MarginOrderRequest {
            symbol: "BTCUSDT".into(),
            side: Side::Sell,
            kind: OrderKind::Limit {
                price: dec!(65000.10),
                tif: TimeInForce::Gtx,
            },
            qty: dec!(0.010),
            client_order_id: "fff-3".into(),
            side_effect: SideEffect::AutoRepay,
            auto_repay_at_cancel: false,
        }
        .params()
        .unwrap()
        .0;
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|p| p.1.clone());
        assert_eq!(get("type").as_deref(), Some("LIMIT_MAKER"));
        assert_eq!(get("price").as_deref(), Some("65000.1"));
        assert_eq!(get("timeInForce"), None);
        assert_eq!(get("sideEffectType").as_deref(), Some("AUTO_REPAY"));
    }
}

//! Spot (`/api/v3`) wire structs. Margin orders share [`SpotOrder`]: they run on the spot engine.

use rust_decimal::Decimal;
use serde::Deserialize;

use super::de;
use super::{OrderStatus, Side};
use crate::filters::RawFilter;
use crate::limiter::RateLimit;

/// `GET /api/v3/exchangeInfo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotExchangeInfo {
    pub server_time: i64,
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<SpotSymbol>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotSymbol {
    pub symbol: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub base_asset_precision: u32,
    pub quote_asset_precision: u32,
    #[serde(default)]
    pub order_types: Vec<String>,
    #[serde(default)]
    pub is_spot_trading_allowed: bool,
    #[serde(default)]
    pub is_margin_trading_allowed: bool,
    #[serde(default)]
    pub filters: Vec<RawFilter>,
    #[serde(default)]
    pub permission_sets: Vec<Vec<String>>,
}

/// One fill of a FULL order response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: i64,
}

/// Any spot or margin order response: POST (ACK/RESULT/FULL), GET, DELETE, open orders. Fields absent
/// in the ACK form are optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotOrder {
    pub symbol: String,
    #[serde(deserialize_with = "de::id")]
    pub order_id: i64,
    #[serde(default)]
    pub order_list_id: Option<i64>,
    pub client_order_id: String,
    /// On cancel responses: the id of the cancelled order (`clientOrderId` is then the cancel's id).
    #[serde(default)]
    pub orig_client_order_id: Option<String>,
    #[serde(default)]
    pub transact_time: Option<i64>,
    #[serde(default)]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub orig_qty: Option<Decimal>,
    #[serde(default)]
    pub executed_qty: Option<Decimal>,
    #[serde(default)]
    pub cummulative_quote_qty: Option<Decimal>,
    #[serde(default)]
    pub status: Option<OrderStatus>,
    #[serde(default)]
    pub time_in_force: Option<String>,
    #[serde(rename = "type", default)]
    pub order_type: Option<String>,
    #[serde(default)]
    pub side: Option<Side>,
    #[serde(default)]
    pub time: Option<i64>,
    #[serde(default)]
    pub update_time: Option<i64>,
    #[serde(default)]
    pub is_working: Option<bool>,
    #[serde(default)]
    pub is_isolated: Option<bool>,
    #[serde(default)]
    pub fills: Vec<Fill>,
    /// Margin only, present when the order borrowed (`sideEffectType` MARGIN_BUY / AUTO_BORROW_REPAY).
    #[serde(default)]
    pub margin_buy_borrow_amount: Option<Decimal>,
    #[serde(default)]
    pub margin_buy_borrow_asset: Option<String>,
}

impl SpotOrder {
    /// Average fill price (`cummulativeQuoteQty / executedQty`), if anything filled.
    pub fn avg_price(&self) -> Option<Decimal> {
        let executed = self.executed_qty?;
        let quote = self.cummulative_quote_qty?;
        if executed.is_zero() {
            return None;
        }
        quote.checked_div(executed)
    }

    /// Total commission per asset from the FULL response's fills.
    pub fn commissions(&self) -> Vec<(String, Decimal)> {
        let mut out: Vec<(String, Decimal)> = Vec::new();
        for fill in &self.fills {
            match out
                .iter_mut()
                .find(|(asset, _)| *asset == fill.commission_asset)
            {
                // a garbage payload must not panic: totals saturate instead of overflowing
                Some((_, total)) => *total = total.saturating_add(fill.commission),
                None => out.push((fill.commission_asset.clone(), fill.commission)),
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommissionRates {
    pub maker: Decimal,
    pub taker: Decimal,
    pub buyer: Decimal,
    pub seller: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SpotBalance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

/// `GET /api/v3/account`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotAccount {
    pub commission_rates: CommissionRates,
    pub can_trade: bool,
    pub can_withdraw: bool,
    pub can_deposit: bool,
    pub update_time: i64,
    pub account_type: String,
    pub balances: Vec<SpotBalance>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub uid: Option<i64>,
}

impl SpotAccount {
    pub fn balance(&self, asset: &str) -> Option<&SpotBalance> {
        self.balances.iter().find(|b| b.asset == asset)
    }
}

/// `GET /api/v3/myTrades` and `GET /sapi/v1/margin/myTrades` rows: one execution of one of
/// the account's orders. No client order id: match on `order_id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountTrade {
    pub symbol: String,
    /// Trade id, unique per symbol (the stream's `t`).
    pub id: i64,
    pub order_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    #[serde(default)]
    pub quote_qty: Option<Decimal>,
    pub commission: Decimal,
    #[serde(default)]
    pub commission_asset: Option<String>,
    pub time: i64,
    pub is_buyer: bool,
    pub is_maker: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use rust_decimal_macros::dec;

    /// Found by `prop_models::payloads_with_a_garbage_leaf_never_panic`: two fills whose
    /// commissions overflow a Decimal when added panicked.
    #[test]
    fn commissions_that_overflow_saturate_instead_of_panicking() {
        let huge = "79228162514264337593543950335";
        let order: SpotOrder = serde_json::from_str(&format!(
            r#"{{"symbol":"BTCUSDT","orderId":1,"clientOrderId":"x","fills":[
                {{"price":"1","qty":"1","commission":"{huge}","commissionAsset":"BTC","tradeId":1}},
                {{"price":"1","qty":"1","commission":"{huge}","commissionAsset":"BTC","tradeId":2}}]}}"#
        ))
        .unwrap();
        assert_eq!(order.commissions(), vec![("BTC".to_owned(), Decimal::MAX)]);
    }

    #[test]
    fn parses_account_trades_of_spot_and_margin() {
        // the documented row (GET /api/v3/myTrades), and the simulator's margin row
        let rows: Vec<AccountTrade> = serde_json::from_str(
            r#"[{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,
                "price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",
                "commission":"10.10000000","commissionAsset":"BNB","time":1499865549590,
                "isBuyer":true,"isMaker":false,"isBestMatch":true},
               {"symbol":"SOLUSDT","id":7,"orderId":9,"price":"150.1","qty":"0.5",
                "commission":"0","commissionAsset":"","time":1,"isBuyer":false,
                "isMaker":true,"isIsolated":false}]"#,
        )
        .unwrap();
        assert_eq!(rows[0].id, 28457);
        assert_eq!(rows[0].order_id, 100234);
        assert_eq!(rows[0].qty, dec!(12));
        assert_eq!(rows[0].commission_asset.as_deref(), Some("BNB"));
        assert!(rows[0].is_buyer && !rows[0].is_maker);
        assert_eq!(rows[1].quote_qty, None);
        // a malformed number is an error, never a zero
        assert!(
            serde_json::from_str::<Vec<AccountTrade>>(
                r#"[{"symbol":"X","id":1,"orderId":1,"price":"1x","qty":"1","commission":"0","time":1,"isBuyer":true,"isMaker":true}]"#
            )
            .is_err()
        );
    }

    #[test]
    fn parses_exchange_info_with_filters_and_margin_flag() {
        // The populated doc example (the WS-API `result`; the REST body has the same schema).
        let info: SpotExchangeInfo = fixture::parse("api_v3_exchangeInfo.json");
        assert_eq!(info.rate_limits.len(), 4);
        let bnb = &info.symbols[0];
        assert!(bnb.is_margin_trading_allowed);
        assert_eq!(bnb.filters.len(), 2);
    }

    #[test]
    fn parses_order_responses() {
        let ack: SpotOrder = fixture::parse("api_v3_order_POST_ACK.json");
        assert_eq!(ack.order_id, 28);
        assert_eq!(ack.status, None);
        let result: SpotOrder = fixture::parse("api_v3_order_POST_RESULT.json");
        assert_eq!(result.status, Some(OrderStatus::Filled));
        let full: SpotOrder = fixture::parse("api_v3_order_POST_FULL.json");
        assert_eq!(full.fills.len(), 5);
        assert_eq!(full.avg_price(), Some(dec!(1)));
        assert_eq!(
            full.commissions(),
            vec![("USDT".to_string(), dec!(39.98300000))]
        );
        let get: SpotOrder = fixture::parse("api_v3_order_GET.json");
        assert_eq!(get.is_working, Some(true));
        let cancel: SpotOrder = fixture::parse("api_v3_order_DELETE.json");
        assert_eq!(cancel.orig_client_order_id.as_deref(), Some("myOrder1"));
        assert_eq!(cancel.status, Some(OrderStatus::Canceled));
    }

    #[test]
    fn parses_account() {
        let account: SpotAccount = fixture::parse("api_v3_account.json");
        assert_eq!(account.commission_rates.taker, dec!(0.0015));
        assert_eq!(account.balance("LTC").unwrap().free, dec!(4763368.68006011));
    }
}

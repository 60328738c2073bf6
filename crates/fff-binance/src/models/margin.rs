//! Cross-margin (`/sapi/v1/margin/*`) wire structs. Orders use [`super::spot::SpotOrder`].

use rust_decimal::Decimal;
use serde::Deserialize;

/// `sideEffectType` of a margin order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SideEffect {
    #[default]
    NoSideEffect,
    /// Borrow what is missing when the order executes (short spot leg: SELL with MARGIN_BUY).
    MarginBuy,
    /// Repay the liability with the proceeds (closing BUY of a short).
    AutoRepay,
    AutoBorrowRepay,
}

impl SideEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            SideEffect::NoSideEffect => "NO_SIDE_EFFECT",
            SideEffect::MarginBuy => "MARGIN_BUY",
            SideEffect::AutoRepay => "AUTO_REPAY",
            SideEffect::AutoBorrowRepay => "AUTO_BORROW_REPAY",
        }
    }

    /// Binance weighs borrowing orders 1500 (UID) instead of 6.
    pub(crate) fn order_weight(self) -> u32 {
        match self {
            SideEffect::MarginBuy | SideEffect::AutoBorrowRepay => 1500,
            SideEffect::NoSideEffect | SideEffect::AutoRepay => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginUserAsset {
    pub asset: String,
    pub borrowed: Decimal,
    pub free: Decimal,
    pub interest: Decimal,
    pub locked: Decimal,
    pub net_asset: Decimal,
}

/// `GET /sapi/v1/margin/account`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginAccount {
    #[serde(default)]
    pub created: Option<bool>,
    pub borrow_enabled: bool,
    pub margin_level: Decimal,
    #[serde(default)]
    pub collateral_margin_level: Option<Decimal>,
    pub total_asset_of_btc: Decimal,
    pub total_liability_of_btc: Decimal,
    pub total_net_asset_of_btc: Decimal,
    pub trade_enabled: bool,
    pub transfer_in_enabled: bool,
    pub transfer_out_enabled: bool,
    #[serde(default)]
    pub account_type: Option<String>,
    pub user_assets: Vec<MarginUserAsset>,
}

impl MarginAccount {
    pub fn asset(&self, asset: &str) -> Option<&MarginUserAsset> {
        self.user_assets.iter().find(|a| a.asset == asset)
    }
}

/// `GET /sapi/v1/margin/allPairs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginPair {
    pub id: i64,
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub is_margin_trade: bool,
    pub is_buy_allowed: bool,
    pub is_sell_allowed: bool,
    #[serde(default)]
    pub delist_time: Option<i64>,
}

/// `GET /sapi/v1/margin/next-hourly-interest-rate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextHourlyInterestRate {
    pub asset: String,
    pub next_hourly_interest_rate: Decimal,
}

/// `GET /sapi/v1/margin/interestRateHistory`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterestRateRecord {
    pub asset: String,
    pub daily_interest_rate: Decimal,
    pub timestamp: i64,
    pub vip_level: i32,
}

/// `GET /sapi/v1/margin/maxBorrowable`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaxBorrowable {
    pub amount: Decimal,
    #[serde(default)]
    pub borrow_limit: Option<Decimal>,
}

/// `BORROW` or `REPAY` for `POST /sapi/v1/margin/borrow-repay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorrowRepay {
    Borrow,
    Repay,
}

impl BorrowRepay {
    pub fn as_str(self) -> &'static str {
        match self {
            BorrowRepay::Borrow => "BORROW",
            BorrowRepay::Repay => "REPAY",
        }
    }
}

/// `{"tranId": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranId {
    pub tran_id: i64,
}

/// `GET /sapi/v1/margin/borrow-repay` rows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BorrowRepayRecord {
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: Decimal,
    pub asset: String,
    pub interest: Decimal,
    pub principal: Decimal,
    pub status: String,
    pub timestamp: i64,
    pub tx_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BorrowRepayPage {
    pub rows: Vec<BorrowRepayRecord>,
    pub total: i64,
}

/// `POST /sapi/v1/userListenToken`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenToken {
    pub token: String,
    pub expiration_time: i64,
}

/// `{"listenKey": …}` from the futures and margin-risk listen-key endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenKey {
    pub listen_key: String,
}

/// `GET /sapi/v1/margin/interestHistory` row: one interest charge (`type` PERIODIC hourly,
/// ON_BORROW at borrow time, `*_CONVERTED` when paid in BNB). `tx_id` identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterestHistoryRecord {
    pub tx_id: i64,
    /// Binance spells it so.
    pub interest_accured_time: i64,
    pub asset: String,
    #[serde(default)]
    pub raw_asset: Option<String>,
    pub principal: Decimal,
    pub interest: Decimal,
    pub interest_rate: Decimal,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub isolated_symbol: Option<String>,
}

/// A page of [`InterestHistoryRecord`]s, newest first; `total` counts every page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InterestHistoryPage {
    pub rows: Vec<InterestHistoryRecord>,
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use crate::models::spot::SpotOrder;
    use crate::models::{OrderStatus, Side};
    use rust_decimal_macros::dec;

    #[test]
    fn parses_interest_history_with_ids_beyond_f64() {
        let page: InterestHistoryPage = fixture::parse("sapi_v1_margin_interestHistory.json");
        assert_eq!(page.total, 1);
        let row = &page.rows[0];
        // 2^53 < txId: parsed exactly, not through f64
        assert_eq!(row.tx_id, 1352286576452864727);
        assert_eq!(row.interest_accured_time, 1672160400000);
        assert_eq!(row.interest, dec!(0.00024995));
        assert_eq!(row.kind, "ON_BORROW");
    }

    #[test]
    fn parses_margin_account_and_pairs() {
        let account: MarginAccount = fixture::parse("sapi_v1_margin_account.json");
        assert_eq!(account.margin_level, dec!(11.64405625));
        let bnb = account.asset("BNB").unwrap();
        assert_eq!(bnb.free - bnb.borrowed - bnb.interest, bnb.net_asset);
        let pairs: Vec<MarginPair> = fixture::parse("sapi_v1_margin_allPairs.json");
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[1].delist_time, Some(1704973040));
        assert_eq!(pairs[0].id, 351637150141315861);
    }

    #[test]
    fn parses_interest_and_borrow_endpoints() {
        let next: Vec<NextHourlyInterestRate> =
            fixture::parse("sapi_v1_margin_next-hourly-interest-rate.json");
        assert_eq!(next[1].next_hourly_interest_rate, dec!(0.00000578));
        let hist: Vec<InterestRateRecord> =
            fixture::parse("sapi_v1_margin_interestRateHistory.json");
        assert_eq!(hist[0].daily_interest_rate, dec!(0.00025));
        let max: MaxBorrowable = fixture::parse("sapi_v1_margin_maxBorrowable.json");
        assert_eq!(max.borrow_limit, Some(dec!(60)));
        let tran: TranId = fixture::parse("sapi_v1_margin_borrow-repay_POST.json");
        assert_eq!(tran.tran_id, 100000001);
        let page: BorrowRepayPage = fixture::parse("sapi_v1_margin_borrow-repay_GET.json");
        assert_eq!(page.rows[0].principal, dec!(13.98133333));
        let token: ListenToken = fixture::parse("sapi_v1_userListenToken_POST.json");
        assert_eq!(token.expiration_time, 1758792204196);
        let key: ListenKey = fixture::parse("sapi_v1_margin_listen-key_POST.json");
        assert!(key.listen_key.starts_with("T3ee"));
        let futures_key: ListenKey = fixture::parse("fapi_v1_listenKey_POST.json");
        assert_eq!(futures_key.listen_key.len(), 64);
        let kept: ListenKey = fixture::parse("fapi_v1_listenKey_PUT.json");
        assert!(kept.listen_key.starts_with("3HBn"));
    }

    #[test]
    fn parses_margin_orders() {
        let ack: SpotOrder = fixture::parse("sapi_v1_margin_order_POST_ACK.json");
        assert_eq!(ack.is_isolated, Some(true));
        let result: SpotOrder = fixture::parse("sapi_v1_margin_order_POST_RESULT.json");
        assert_eq!(result.order_id, 26769564559);
        let full: SpotOrder = fixture::parse("sapi_v1_margin_order_POST_FULL.json");
        assert_eq!(full.margin_buy_borrow_amount, Some(dec!(5)));
        assert_eq!(full.margin_buy_borrow_asset.as_deref(), Some("BTC"));
        let get: SpotOrder = fixture::parse("sapi_v1_margin_order_GET.json");
        assert_eq!(get.side, Some(Side::Sell));
        // The doc prints the cancelled order's id as a string here.
        let cancel: SpotOrder = fixture::parse("sapi_v1_margin_order_DELETE.json");
        assert_eq!(cancel.order_id, 28);
        assert_eq!(cancel.status, Some(OrderStatus::Canceled));
    }
}

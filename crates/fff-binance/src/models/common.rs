//! Types shared by spot, margin and futures.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    New,
    PendingNew,
    PartiallyFilled,
    Filled,
    Canceled,
    PendingCancel,
    Rejected,
    Expired,
    ExpiredInMatch,
    #[serde(other)]
    Unknown,
}

impl OrderStatus {
    /// No further fills can happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
                | OrderStatus::ExpiredInMatch
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    #[serde(rename = "GTC")]
    Gtc,
    #[serde(rename = "IOC")]
    Ioc,
    #[serde(rename = "FOK")]
    Fok,
    /// Futures post-only.
    #[serde(rename = "GTX")]
    Gtx,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
            TimeInForce::Gtx => "GTX",
        }
    }
}

/// LIMIT or MARKET: the only order types the farmer sends (futures conditional types live on the
/// Algo service since 2025-12 and are rejected with `-4120` on `/fapi/v1/order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    Limit { price: Decimal, tif: TimeInForce },
    Market,
}

/// `{"serverTime": …}` from `/api/v3/time` and `/fapi/v1/time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub server_time: i64,
}

/// Binance's error body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorBody {
    pub code: i64,
    pub msg: String,
}

/// `{"code": 200, "msg": "success"}` returned by futures settings endpoints.
pub type CodeMsg = ApiErrorBody;

/// One price level `[price, qty]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Level(pub Decimal, pub Decimal);

impl Level {
    pub fn price(&self) -> Decimal {
        self.0
    }
    pub fn qty(&self) -> Decimal {
        self.1
    }
}

/// `GET /api/v3/depth` and `GET /fapi/v1/depth` (futures adds `E`/`T`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Depth {
    pub last_update_id: u64,
    #[serde(rename = "E", default)]
    pub event_time: Option<i64>,
    #[serde(rename = "T", default)]
    pub transaction_time: Option<i64>,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// `GET …/ticker/bookTicker` (futures adds `time`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookTicker {
    pub symbol: String,
    pub bid_price: Decimal,
    pub bid_qty: Decimal,
    pub ask_price: Decimal,
    pub ask_qty: Decimal,
    #[serde(default)]
    pub time: Option<i64>,
}

/// `GET …/ticker/24hr` (FULL form; spot adds bid/ask fields, futures omits them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticker24h {
    pub symbol: String,
    pub price_change: Decimal,
    pub price_change_percent: Decimal,
    pub weighted_avg_price: Decimal,
    pub last_price: Decimal,
    #[serde(default)]
    pub last_qty: Option<Decimal>,
    #[serde(default)]
    pub bid_price: Option<Decimal>,
    #[serde(default)]
    pub ask_price: Option<Decimal>,
    pub open_price: Decimal,
    pub high_price: Decimal,
    pub low_price: Decimal,
    pub volume: Decimal,
    pub quote_volume: Decimal,
    pub open_time: i64,
    pub close_time: i64,
    pub count: u64,
}

/// One kline row. Binance sends an array:
/// `[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "KlineRow")]
pub struct Kline {
    pub open_time: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub close_time: i64,
    pub quote_volume: Decimal,
    pub trades: u64,
    pub taker_buy_base_volume: Decimal,
    pub taker_buy_quote_volume: Decimal,
}

#[derive(Deserialize)]
struct KlineRow(
    i64,
    Decimal,
    Decimal,
    Decimal,
    Decimal,
    Decimal,
    i64,
    Decimal,
    u64,
    Decimal,
    Decimal,
    serde::de::IgnoredAny,
);

impl From<KlineRow> for Kline {
    fn from(row: KlineRow) -> Self {
        Kline {
            open_time: row.0,
            open: row.1,
            high: row.2,
            low: row.3,
            close: row.4,
            volume: row.5,
            close_time: row.6,
            quote_volume: row.7,
            trades: row.8,
            taker_buy_base_volume: row.9,
            taker_buy_quote_volume: row.10,
        }
    }
}

/// Kline intervals Binance accepts on spot and futures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KlineInterval {
    M1,
    M5,
    M15,
    M30,
    H1,
    H4,
    H8,
    D1,
}

impl KlineInterval {
    pub fn as_str(self) -> &'static str {
        match self {
            KlineInterval::M1 => "1m",
            KlineInterval::M5 => "5m",
            KlineInterval::M15 => "15m",
            KlineInterval::M30 => "30m",
            KlineInterval::H1 => "1h",
            KlineInterval::H4 => "4h",
            KlineInterval::H8 => "8h",
            KlineInterval::D1 => "1d",
        }
    }
}

/// `GET /sapi/v1/account/apiRestrictions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRestrictions {
    pub ip_restrict: bool,
    pub create_time: i64,
    #[serde(default)]
    pub enable_reading: bool,
    #[serde(default)]
    pub enable_spot_and_margin_trading: bool,
    #[serde(default)]
    pub enable_margin: bool,
    #[serde(default)]
    pub enable_futures: bool,
    #[serde(default)]
    pub enable_withdrawals: bool,
    #[serde(default)]
    pub enable_internal_transfer: bool,
    #[serde(default)]
    pub permits_universal_transfer: bool,
}

impl ApiRestrictions {
    /// The farmer needs read + spot/margin + futures trading and must refuse keys that can withdraw.
    pub fn fit_for_farming(&self) -> bool {
        self.enable_reading
            && self.enable_spot_and_margin_trading
            && self.enable_margin
            && self.enable_futures
            && !self.enable_withdrawals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_time_depth_and_tickers() {
        assert_eq!(
            fixture::parse::<ServerTime>("api_v3_time.json").server_time,
            1499827319559
        );
        let depth: Depth = fixture::parse("fapi_v1_depth.json");
        assert_eq!(depth.bids[0].price(), dec!(4));
        assert_eq!(depth.asks[0].qty(), dec!(12));
        assert_eq!(depth.transaction_time, Some(1589436922959));
        let spot_depth: Depth = fixture::parse("api_v3_depth.json");
        assert_eq!(spot_depth.last_update_id, 1027024);
        let book: Vec<BookTicker> = fixture::parse("api_v3_ticker_bookTicker_array.json");
        assert_eq!(book[1].ask_price, dec!(100000));
        let fbook: BookTicker = fixture::parse("fapi_v1_ticker_bookTicker.json");
        assert_eq!(fbook.time, Some(1589437530011));
        let t: Ticker24h = fixture::parse("api_v3_ticker_24hr.json");
        assert_eq!(t.bid_price, Some(dec!(4)));
        let ft: Vec<Ticker24h> = fixture::parse("fapi_v1_ticker_24hr_array.json");
        assert_eq!(ft[0].count, 76);
        assert_eq!(ft[0].bid_price, None);
    }

    #[test]
    fn parses_kline_rows() {
        let spot: Vec<Kline> = fixture::parse("api_v3_klines.json");
        assert_eq!(spot[0].close, dec!(0.015771));
        assert_eq!(spot[0].trades, 308);
        assert_eq!(spot[0].close_time, 1499644799999);
        // Futures rows carry a number in the last ("ignore") column.
        let futures: Vec<Kline> = fixture::parse("fapi_v1_klines.json");
        assert_eq!(futures[0].taker_buy_quote_volume, dec!(28.46694368));
    }

    #[test]
    fn parses_api_restrictions() {
        let r: ApiRestrictions = fixture::parse("sapi_v1_account_apiRestrictions.json");
        assert!(r.enable_reading && !r.enable_withdrawals);
        // The doc example key cannot trade spot/margin or futures, so it is not fit for farming.
        assert!(!r.fit_for_farming());
        let trading = ApiRestrictions {
            enable_spot_and_margin_trading: true,
            enable_margin: true,
            enable_futures: true,
            ..r
        };
        assert!(trading.fit_for_farming());
    }

    #[test]
    fn parses_error_body() {
        let err: ApiErrorBody = fixture::parse("error_invalid_symbol.json");
        assert_eq!((err.code, err.msg.as_str()), (-1121, "Invalid symbol."));
    }

    #[test]
    fn unknown_status_does_not_fail_parsing() {
        let s: OrderStatus = serde_json::from_str("\"PENDING_SOMETHING_NEW\"").unwrap();
        assert_eq!(s, OrderStatus::Unknown);
        assert!(
            serde_json::from_str::<OrderStatus>("\"EXPIRED_IN_MATCH\"")
                .unwrap()
                .is_final()
        );
    }
}

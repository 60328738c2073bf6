//! WebSocket payloads: futures market streams, futures user data, spot/margin user data (WS API) and
//! the margin risk stream. Binance's one-letter keys are mapped to readable names.

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{OrderStatus, Side};

/// `<symbol>@markPrice[@1s]` / `!markPrice@arr[@1s]` item (route `/market`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarkPriceUpdate {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "p")]
    pub mark_price: Decimal,
    /// Mark price moving average (added 2026-03-16).
    #[serde(rename = "ap", default)]
    pub mark_price_avg: Option<Decimal>,
    #[serde(rename = "i")]
    pub index_price: Decimal,
    #[serde(rename = "P")]
    pub estimated_settle_price: Decimal,
    #[serde(rename = "r")]
    pub funding_rate: Decimal,
    #[serde(rename = "T")]
    pub next_funding_time: i64,
}

/// `<symbol>@bookTicker` (route `/public`; spot's version lacks `e`/`E`/`T`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BookTickerUpdate {
    #[serde(rename = "u")]
    pub update_id: u64,
    #[serde(rename = "E", default)]
    pub event_time: Option<i64>,
    #[serde(rename = "T", default)]
    pub transaction_time: Option<i64>,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "b")]
    pub bid_price: Decimal,
    #[serde(rename = "B")]
    pub bid_qty: Decimal,
    #[serde(rename = "a")]
    pub ask_price: Decimal,
    #[serde(rename = "A")]
    pub ask_qty: Decimal,
}

/// The `o` object of `ORDER_TRADE_UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FuturesOrderUpdate {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "c")]
    pub client_order_id: String,
    #[serde(rename = "S")]
    pub side: Side,
    #[serde(rename = "o")]
    pub order_type: String,
    #[serde(rename = "f")]
    pub time_in_force: String,
    #[serde(rename = "q")]
    pub orig_qty: Decimal,
    #[serde(rename = "p")]
    pub price: Decimal,
    #[serde(rename = "ap")]
    pub avg_price: Decimal,
    /// Execution type: NEW, CANCELED, CALCULATED (liquidation), EXPIRED, TRADE, AMENDMENT.
    #[serde(rename = "x")]
    pub execution_type: String,
    #[serde(rename = "X")]
    pub status: OrderStatus,
    #[serde(rename = "i")]
    pub order_id: i64,
    #[serde(rename = "l")]
    pub last_filled_qty: Decimal,
    #[serde(rename = "z")]
    pub cum_filled_qty: Decimal,
    #[serde(rename = "L")]
    pub last_filled_price: Decimal,
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    #[serde(rename = "n", default)]
    pub commission: Option<Decimal>,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "t")]
    pub trade_id: i64,
    #[serde(rename = "m")]
    pub is_maker: bool,
    #[serde(rename = "R")]
    pub reduce_only: bool,
    #[serde(rename = "ps")]
    pub position_side: String,
    #[serde(rename = "rp")]
    pub realized_profit: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderTradeUpdate {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "o")]
    pub order: FuturesOrderUpdate,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountUpdateBalance {
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "wb")]
    pub wallet_balance: Decimal,
    #[serde(rename = "cw")]
    pub cross_wallet_balance: Decimal,
    /// Balance change except PnL and commission (the funding amount on FUNDING_FEE events).
    #[serde(rename = "bc")]
    pub balance_change: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountUpdatePosition {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "pa")]
    pub position_amt: Decimal,
    #[serde(rename = "ep")]
    pub entry_price: Decimal,
    #[serde(rename = "bep", default)]
    pub break_even_price: Option<Decimal>,
    #[serde(rename = "cr")]
    pub accumulated_realized: Decimal,
    #[serde(rename = "up")]
    pub unrealized_pnl: Decimal,
    #[serde(rename = "mt")]
    pub margin_type: String,
    #[serde(rename = "iw")]
    pub isolated_wallet: Decimal,
    #[serde(rename = "ps")]
    pub position_side: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountUpdateData {
    /// Reason: ORDER, FUNDING_FEE, DEPOSIT, WITHDRAW, …
    #[serde(rename = "m")]
    pub reason: String,
    #[serde(rename = "B", default)]
    pub balances: Vec<AccountUpdateBalance>,
    /// Absent or empty for cross-margin funding fees.
    #[serde(rename = "P", default)]
    pub positions: Vec<AccountUpdatePosition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountUpdate {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "a")]
    pub data: AccountUpdateData,
}

impl AccountUpdate {
    pub fn is_funding_fee(&self) -> bool {
        self.data.reason == "FUNDING_FEE"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarginCallPosition {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "ps")]
    pub position_side: String,
    #[serde(rename = "pa")]
    pub position_amt: Decimal,
    #[serde(rename = "mt")]
    pub margin_type: String,
    #[serde(rename = "mp")]
    pub mark_price: Decimal,
    #[serde(rename = "up")]
    pub unrealized_pnl: Decimal,
    #[serde(rename = "mm")]
    pub maint_margin: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarginCall {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "cw", default)]
    pub cross_wallet_balance: Option<Decimal>,
    #[serde(rename = "p", default)]
    pub positions: Vec<MarginCallPosition>,
}

/// Events on the futures `/private` route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "e")]
pub enum FuturesUserEvent {
    #[serde(rename = "ORDER_TRADE_UPDATE")]
    OrderTradeUpdate(Box<OrderTradeUpdate>),
    #[serde(rename = "ACCOUNT_UPDATE")]
    AccountUpdate(AccountUpdate),
    #[serde(rename = "MARGIN_CALL")]
    MarginCall(MarginCall),
    #[serde(rename = "listenKeyExpired")]
    ListenKeyExpired {
        #[serde(rename = "E")]
        event_time: i64,
    },
    /// ACCOUNT_CONFIG_UPDATE, TRADE_LITE, ALGO_UPDATE, … (not used by fff).
    #[serde(other)]
    Other,
}

/// `executionReport` (spot and margin share the payload).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecutionReport {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "c")]
    pub client_order_id: String,
    #[serde(rename = "S")]
    pub side: Side,
    #[serde(rename = "o")]
    pub order_type: String,
    #[serde(rename = "f")]
    pub time_in_force: String,
    #[serde(rename = "q")]
    pub orig_qty: Decimal,
    #[serde(rename = "p")]
    pub price: Decimal,
    /// Client id of the order being cancelled (on cancels), else empty.
    #[serde(rename = "C", default)]
    pub orig_client_order_id: String,
    /// NEW, CANCELED, REPLACED, REJECTED, TRADE, EXPIRED, TRADE_PREVENTION.
    #[serde(rename = "x")]
    pub execution_type: String,
    #[serde(rename = "X")]
    pub status: OrderStatus,
    #[serde(rename = "r")]
    pub reject_reason: String,
    #[serde(rename = "i")]
    pub order_id: i64,
    #[serde(rename = "l")]
    pub last_filled_qty: Decimal,
    #[serde(rename = "z")]
    pub cum_filled_qty: Decimal,
    #[serde(rename = "L")]
    pub last_filled_price: Decimal,
    #[serde(rename = "n")]
    pub commission: Decimal,
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "t")]
    pub trade_id: i64,
    #[serde(rename = "m")]
    pub is_maker: bool,
    #[serde(rename = "O")]
    pub created_time: i64,
    #[serde(rename = "Z")]
    pub cum_quote_qty: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountBalance {
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "f")]
    pub free: Decimal,
    #[serde(rename = "l")]
    pub locked: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutboundAccountPosition {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "u")]
    pub last_update_time: i64,
    #[serde(rename = "B")]
    pub balances: Vec<AccountBalance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BalanceUpdate {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "d")]
    pub delta: Decimal,
    #[serde(rename = "T")]
    pub clear_time: i64,
}

/// Spot or margin account events from the WebSocket API (payload of `{"subscriptionId", "event"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "e")]
pub enum AccountEvent {
    #[serde(rename = "executionReport")]
    ExecutionReport(Box<ExecutionReport>),
    #[serde(rename = "outboundAccountPosition")]
    OutboundAccountPosition(OutboundAccountPosition),
    #[serde(rename = "balanceUpdate")]
    BalanceUpdate(BalanceUpdate),
    /// The subscription ended (e.g. listen token expired); resubscribe.
    #[serde(rename = "eventStreamTerminated")]
    EventStreamTerminated {
        #[serde(rename = "E")]
        event_time: i64,
    },
    /// listStatus and anything newer.
    #[serde(other)]
    Other,
}

/// `MARGIN_LEVEL_STATUS_CHANGE` on the margin risk stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarginLevelStatusChange {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "l")]
    pub margin_level: Decimal,
    /// e.g. NORMAL, MARGIN_CALL, PRE_LIQUIDATION, FORCE_LIQUIDATION.
    #[serde(rename = "s")]
    pub status: String,
}

/// `USER_LIABILITY_CHANGE` on the margin risk stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserLiabilityChange {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "a")]
    pub asset: String,
    /// e.g. BORROW, REPAY, INTEREST.
    #[serde(rename = "t")]
    pub kind: String,
    #[serde(rename = "p")]
    pub principal: Decimal,
    #[serde(rename = "i")]
    pub interest: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "e")]
pub enum MarginRiskEvent {
    #[serde(rename = "MARGIN_LEVEL_STATUS_CHANGE")]
    MarginLevelStatusChange(MarginLevelStatusChange),
    #[serde(rename = "USER_LIABILITY_CHANGE")]
    UserLiabilityChange(UserLiabilityChange),
    #[serde(rename = "listenKeyExpired")]
    ListenKeyExpired {
        #[serde(rename = "E")]
        event_time: i64,
    },
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_market_stream_payloads() {
        let mark: MarkPriceUpdate = fixture::parse("ws_fapi_markPriceUpdate.json");
        assert_eq!(mark.funding_rate, dec!(0.00038167));
        assert_eq!(mark.mark_price_avg, Some(dec!(11794.15)));
        let all: Vec<MarkPriceUpdate> = fixture::parse("ws_fapi_markPrice_arr.json");
        assert_eq!(all[0].next_funding_time, 1562306400000);
        let book: BookTickerUpdate = fixture::parse("ws_fapi_bookTicker.json");
        assert_eq!(book.ask_qty, dec!(40.66));
        let spot_book: BookTickerUpdate = fixture::parse("ws_spot_bookTicker.json");
        assert_eq!(spot_book.event_time, None);
    }

    #[test]
    fn parses_futures_user_events() {
        let order: FuturesUserEvent = fixture::parse("ws_fapi_ORDER_TRADE_UPDATE.json");
        let FuturesUserEvent::OrderTradeUpdate(order) = order else {
            panic!("{order:?}")
        };
        assert_eq!(order.order.order_id, 8886774);
        assert_eq!(order.order.status, OrderStatus::New);
        let account: FuturesUserEvent = fixture::parse("ws_fapi_ACCOUNT_UPDATE.json");
        let FuturesUserEvent::AccountUpdate(account) = account else {
            panic!("{account:?}")
        };
        assert_eq!(account.data.positions.len(), 3);
        assert!(!account.is_funding_fee());
        let call: FuturesUserEvent = fixture::parse("ws_fapi_MARGIN_CALL.json");
        assert!(
            matches!(call, FuturesUserEvent::MarginCall(ref c) if c.positions[0].maint_margin == dec!(1.614445))
        );
        let expired: FuturesUserEvent = fixture::parse("ws_fapi_listenKeyExpired.json");
        assert!(matches!(expired, FuturesUserEvent::ListenKeyExpired { .. }));
    }

    #[test]
    fn funding_fee_account_update_without_positions() {
        // The docs' rule (cross funding: balances only) applied to the ACCOUNT_UPDATE schema; both an
        // absent and an empty `P` must parse.
        for raw in [
            r#"{"e":"ACCOUNT_UPDATE","E":1,"T":1,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"999.5","cw":"999.5","bc":"-0.5"}],"P":[]}}"#,
            r#"{"e":"ACCOUNT_UPDATE","E":1,"T":1,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"999.5","cw":"999.5","bc":"-0.5"}]}}"#,
        ] {
            let FuturesUserEvent::AccountUpdate(update) = serde_json::from_str(raw).unwrap() else {
                panic!("not an account update")
            };
            assert!(update.is_funding_fee());
            assert_eq!(update.data.balances[0].balance_change, dec!(-0.5));
        }
    }

    #[test]
    fn parses_account_events_from_ws_api_envelopes() {
        for (name, check) in [
            ("wsapi_event_executionReport.json", "executionReport"),
            (
                "wsapi_event_outboundAccountPosition.json",
                "outboundAccountPosition",
            ),
            ("wsapi_event_balanceUpdate.json", "balanceUpdate"),
            (
                "wsapi_event_eventStreamTerminated.json",
                "eventStreamTerminated",
            ),
            ("wsapi_event_listStatus.json", "other"),
        ] {
            let envelope: serde_json::Value = fixture::parse(name);
            let event: AccountEvent = serde_json::from_value(envelope["event"].clone()).unwrap();
            let kind = match event {
                AccountEvent::ExecutionReport(r) => {
                    assert_eq!(r.order_id, 4293153);
                    assert_eq!(r.commission_asset, None);
                    "executionReport"
                }
                AccountEvent::OutboundAccountPosition(p) => {
                    assert_eq!(p.balances[0].free, dec!(10000));
                    "outboundAccountPosition"
                }
                AccountEvent::BalanceUpdate(b) => {
                    assert_eq!(b.delta, dec!(100));
                    "balanceUpdate"
                }
                AccountEvent::EventStreamTerminated { .. } => "eventStreamTerminated",
                AccountEvent::Other => "other",
            };
            assert_eq!(kind, check, "{name}");
        }
        let raw: AccountEvent = fixture::parse("ws_spot_executionReport_raw.json");
        assert!(matches!(raw, AccountEvent::ExecutionReport(_)));
    }

    #[test]
    fn parses_margin_risk_events() {
        let level: MarginRiskEvent = fixture::parse("ws_margin_MARGIN_LEVEL_STATUS_CHANGE.json");
        assert!(
            matches!(level, MarginRiskEvent::MarginLevelStatusChange(ref l) if l.margin_level == dec!(1.1) && l.status == "MARGIN_CALL")
        );
        let liability: MarginRiskEvent = fixture::parse("ws_margin_USER_LIABILITY_CHANGE.json");
        assert!(
            matches!(liability, MarginRiskEvent::UserLiabilityChange(ref l) if l.principal == dec!(0.000001))
        );
    }
}

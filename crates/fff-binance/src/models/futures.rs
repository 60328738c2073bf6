//! USDⓈ-M futures (`/fapi`) wire structs.

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{OrderStatus, Side};
use crate::filters::RawFilter;
use crate::limiter::RateLimit;

/// `GET /fapi/v1/exchangeInfo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesExchangeInfo {
    pub server_time: i64,
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<FuturesSymbol>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesSymbol {
    pub symbol: String,
    pub pair: String,
    pub contract_type: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub margin_asset: String,
    #[serde(default)]
    pub onboard_date: Option<i64>,
    #[serde(default)]
    pub filters: Vec<RawFilter>,
    #[serde(default)]
    pub order_types: Vec<String>,
    #[serde(default)]
    pub liquidation_fee: Option<Decimal>,
    #[serde(default)]
    pub market_take_bound: Option<Decimal>,
}

/// `GET /fapi/v1/fundingInfo`: only symbols whose cap/floor/interval were adjusted are listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FundingInfo {
    pub symbol: String,
    pub adjusted_funding_rate_cap: Decimal,
    pub adjusted_funding_rate_floor: Decimal,
    pub funding_interval_hours: u32,
}

/// `GET /fapi/v1/premiumIndex`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PremiumIndex {
    pub symbol: String,
    pub mark_price: Decimal,
    pub index_price: Decimal,
    pub estimated_settle_price: Decimal,
    /// The running estimate of the current period's rate; the value at `next_funding_time` settles.
    pub last_funding_rate: Decimal,
    pub interest_rate: Decimal,
    pub next_funding_time: i64,
    pub time: i64,
}

/// `GET /fapi/v1/fundingRate` rows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FundingRateRecord {
    pub symbol: String,
    pub funding_rate: Decimal,
    pub funding_time: i64,
    #[serde(default)]
    pub mark_price: Option<Decimal>,
}

/// `GET /fapi/v1/openInterest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInterest {
    pub symbol: String,
    pub open_interest: Decimal,
    pub time: i64,
}

/// Any futures order response (POST, GET, DELETE, open orders).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesOrder {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    #[serde(default)]
    pub cum_quote: Option<Decimal>,
    pub avg_price: Decimal,
    pub status: OrderStatus,
    pub side: Side,
    #[serde(default)]
    pub position_side: Option<String>,
    #[serde(default)]
    pub reduce_only: bool,
    #[serde(default)]
    pub close_position: bool,
    #[serde(rename = "type")]
    pub order_type: String,
    #[serde(default)]
    pub orig_type: Option<String>,
    pub time_in_force: String,
    #[serde(default)]
    pub time: Option<i64>,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesAssetBalance {
    pub asset: String,
    pub wallet_balance: Decimal,
    pub unrealized_profit: Decimal,
    pub margin_balance: Decimal,
    pub maint_margin: Decimal,
    pub initial_margin: Decimal,
    pub cross_wallet_balance: Decimal,
    pub available_balance: Decimal,
    pub max_withdraw_amount: Decimal,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesAccountPosition {
    pub symbol: String,
    pub position_side: String,
    pub position_amt: Decimal,
    pub unrealized_profit: Decimal,
    pub isolated_margin: Decimal,
    pub notional: Decimal,
    pub initial_margin: Decimal,
    pub maint_margin: Decimal,
    pub update_time: i64,
}

/// `GET /fapi/v3/account`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesAccount {
    pub total_initial_margin: Decimal,
    pub total_maint_margin: Decimal,
    pub total_wallet_balance: Decimal,
    pub total_unrealized_profit: Decimal,
    pub total_margin_balance: Decimal,
    pub total_cross_wallet_balance: Decimal,
    pub available_balance: Decimal,
    pub max_withdraw_amount: Decimal,
    pub assets: Vec<FuturesAssetBalance>,
    pub positions: Vec<FuturesAccountPosition>,
}

impl FuturesAccount {
    /// Cross margin ratio `totalMaintMargin / totalMarginBalance`; liquidation at 1.
    pub fn margin_ratio(&self) -> Option<Decimal> {
        if self.total_margin_balance <= Decimal::ZERO {
            return None;
        }
        self.total_maint_margin
            .checked_div(self.total_margin_balance)
    }
}

/// `GET /fapi/v3/positionRisk`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionRisk {
    pub symbol: String,
    pub position_side: String,
    /// Signed: positive long, negative short.
    pub position_amt: Decimal,
    pub entry_price: Decimal,
    #[serde(default)]
    pub break_even_price: Option<Decimal>,
    pub mark_price: Decimal,
    pub un_realized_profit: Decimal,
    pub liquidation_price: Decimal,
    pub notional: Decimal,
    #[serde(default)]
    pub margin_asset: Option<String>,
    #[serde(default)]
    pub initial_margin: Option<Decimal>,
    #[serde(default)]
    pub maint_margin: Option<Decimal>,
    #[serde(default)]
    pub adl: Option<i32>,
    pub update_time: i64,
}

/// `POST /fapi/v1/leverage`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeverageChange {
    pub symbol: String,
    pub leverage: u32,
    pub max_notional_value: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarginType {
    Isolated,
    Crossed,
}

impl MarginType {
    pub fn as_str(self) -> &'static str {
        match self {
            MarginType::Isolated => "ISOLATED",
            MarginType::Crossed => "CROSSED",
        }
    }
}

/// `GET /fapi/v1/positionSide/dual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionMode {
    /// `true` = hedge mode, `false` = one-way.
    pub dual_side_position: bool,
}

/// `GET /fapi/v1/income` rows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomeRecord {
    pub symbol: String,
    pub income_type: String,
    /// Signed: negative = paid.
    pub income: Decimal,
    pub asset: String,
    #[serde(default)]
    pub info: String,
    pub time: i64,
    pub tran_id: i64,
    #[serde(default)]
    pub trade_id: String,
}

impl IncomeRecord {
    pub fn is_funding_fee(&self) -> bool {
        self.income_type == "FUNDING_FEE"
    }
}

/// `GET /fapi/v1/commissionRate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesCommissionRate {
    pub symbol: String,
    pub maker_commission_rate: Decimal,
    pub taker_commission_rate: Decimal,
}

/// `GET /fapi/v1/userTrades` rows: one execution of one of the account's orders.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturesTrade {
    pub symbol: String,
    /// Trade id, unique per symbol (the stream's `t`).
    pub id: i64,
    pub order_id: i64,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    #[serde(default)]
    pub quote_qty: Option<Decimal>,
    #[serde(default)]
    pub realized_pnl: Option<Decimal>,
    pub commission: Decimal,
    #[serde(default)]
    pub commission_asset: Option<String>,
    pub time: i64,
    pub maker: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use crate::models::{CodeMsg, ServerTime};
    use rust_decimal_macros::dec;

    #[test]
    fn parses_user_trades() {
        let rows: Vec<FuturesTrade> = serde_json::from_str(
            r#"[{"buyer":false,"commission":"-0.07819010","commissionAsset":"USDT","id":698759,
                "maker":false,"orderId":25851813,"price":"7819.01","qty":"0.002",
                "quoteQty":"15.63802","realizedPnl":"-0.91539999","side":"SELL",
                "positionSide":"SHORT","symbol":"BTCUSDT","time":1569514978020}]"#,
        )
        .unwrap();
        assert_eq!(rows[0].id, 698759);
        assert_eq!(rows[0].order_id, 25851813);
        assert_eq!(rows[0].side, Side::Sell);
        assert_eq!(rows[0].commission, dec!(-0.07819010));
        assert_eq!(rows[0].realized_pnl, Some(dec!(-0.91539999)));
    }

    #[test]
    fn parses_exchange_info_and_funding_info() {
        let info: FuturesExchangeInfo = fixture::parse("fapi_v1_exchangeInfo.json");
        assert_eq!(info.rate_limits[0].limit, 2400);
        let blz = &info.symbols[0];
        assert_eq!(blz.contract_type, "PERPETUAL");
        assert_eq!(blz.liquidation_fee, Some(dec!(0.01)));
        assert_eq!(blz.filters.len(), 6);
        let funding: Vec<FundingInfo> = fixture::parse("fapi_v1_fundingInfo.json");
        assert_eq!(funding[0].funding_interval_hours, 8);
        assert_eq!(funding[0].adjusted_funding_rate_floor, dec!(-0.025));
        let time: ServerTime = fixture::parse("fapi_v1_time.json");
        assert!(time.server_time > 0);
    }

    #[test]
    fn parses_market_data() {
        let premium: PremiumIndex = fixture::parse("fapi_v1_premiumIndex.json");
        assert_eq!(premium.last_funding_rate, dec!(0.00038246));
        let all: Vec<PremiumIndex> = fixture::parse("fapi_v1_premiumIndex_array.json");
        assert_eq!(all[0].next_funding_time, 1597392000000);
        let rates: Vec<FundingRateRecord> = fixture::parse("fapi_v1_fundingRate.json");
        assert_eq!(rates[0].funding_rate, dec!(-0.0375));
        let oi: OpenInterest = fixture::parse("fapi_v1_openInterest.json");
        assert_eq!(oi.open_interest, dec!(10659.509));
    }

    #[test]
    fn parses_orders() {
        let placed: FuturesOrder = fixture::parse("fapi_v1_order_POST.json");
        assert_eq!(placed.order_id, 22542179);
        assert_eq!(placed.status, OrderStatus::New);
        assert!(!placed.reduce_only);
        let got: FuturesOrder = fixture::parse("fapi_v1_order_GET.json");
        assert_eq!(got.time, Some(1579276756075));
        let cancelled: FuturesOrder = fixture::parse("fapi_v1_order_DELETE.json");
        assert_eq!(cancelled.status, OrderStatus::Canceled);
    }

    #[test]
    fn parses_account_positions_and_settings() {
        let account: FuturesAccount = fixture::parse("fapi_v3_account.json");
        assert_eq!(account.positions[0].position_amt, dec!(1));
        assert_eq!(account.margin_ratio(), Some(Decimal::ZERO));
        let multi: FuturesAccount = fixture::parse("fapi_v3_account_multi_assets.json");
        assert!(!multi.assets.is_empty());
        let risk: Vec<PositionRisk> = fixture::parse("fapi_v3_positionRisk.json");
        assert_eq!(risk[0].adl, Some(2));
        let hedge: Vec<PositionRisk> = fixture::parse("fapi_v3_positionRisk_hedge.json");
        assert_eq!(hedge[1].position_amt, dec!(-1));
        let lev: LeverageChange = fixture::parse("fapi_v1_leverage_POST.json");
        assert_eq!(lev.leverage, 21);
        let ok: CodeMsg = fixture::parse("fapi_v1_marginType_POST.json");
        assert_eq!(ok.code, 200);
        let ok: CodeMsg = fixture::parse("fapi_v1_positionSide_dual_POST.json");
        assert_eq!(ok.msg, "success");
        let income: Vec<IncomeRecord> = fixture::parse("fapi_v1_income.json");
        assert_eq!(income[1].trade_id, "2059192");
        assert!(!income[0].is_funding_fee());
        let fee: FuturesCommissionRate = fixture::parse("fapi_v1_commissionRate.json");
        assert_eq!(fee.taker_commission_rate, dec!(0.0004));
    }
}

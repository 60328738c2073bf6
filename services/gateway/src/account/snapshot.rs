//! Builds the wire account view from the venue's REST snapshots (pure).

use fff_binance::models::futures::{FuturesAccount, PositionRisk};
use fff_binance::models::margin::MarginAccount;
use fff_binance::models::spot::SpotAccount;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;

use crate::convert::{dec, opt_ts, ts};

/// The four REST answers an account snapshot is made of.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotParts<'a> {
    pub spot: &'a SpotAccount,
    /// `None` where the venue has no cross margin (Binance's testnets): margin fields stay empty.
    pub margin: Option<&'a MarginAccount>,
    pub futures: &'a FuturesAccount,
    pub positions: &'a [PositionRisk],
}

/// `price(asset)` values one unit of `asset` in USDT (None = unknown, left out of the equity).
pub fn build_account(
    parts: &SnapshotParts<'_>,
    price: &dyn Fn(&str) -> Option<Decimal>,
    stream_sequence: u64,
    as_of_ms: i64,
) -> pb::Account {
    let mut equity = Decimal::ZERO;
    let spot_balances = parts
        .spot
        .balances
        .iter()
        .map(|b| {
            if let Some(p) = price(&b.asset) {
                equity += (b.free + b.locked) * p;
            }
            pb::SpotBalance {
                asset: b.asset.clone(),
                free: dec(b.free),
                locked: dec(b.locked),
            }
        })
        .collect();
    let btc = price("BTC");
    let no_assets = Vec::new();
    let margin_assets = parts.margin.map_or(&no_assets, |m| &m.user_assets);
    let margin_balances = margin_assets
        .iter()
        .map(|a| pb::MarginBalance {
            asset: a.asset.clone(),
            free: dec(a.free),
            locked: dec(a.locked),
            borrowed: dec(a.borrowed),
            interest: dec(a.interest),
            net_asset: dec(a.net_asset),
        })
        .collect();
    // per-asset net values are exact where prices are known; the BTC totals are the fallback
    let margin_net: Option<Decimal> = margin_assets
        .iter()
        .filter(|a| !a.net_asset.is_zero())
        .map(|a| price(&a.asset).map(|p| a.net_asset * p))
        .sum();
    equity += margin_net
        .or_else(|| Some(parts.margin?.total_net_asset_of_btc * btc?))
        .unwrap_or_default();
    let margin_usdt = |field: fn(&MarginAccount) -> Decimal| {
        parts
            .margin
            .zip(btc)
            .map(|(m, b)| dec(field(m) * b))
            .unwrap_or_default()
    };
    let futures = parts.futures;
    equity += futures.total_margin_balance;
    let futures_balances = futures
        .assets
        .iter()
        .map(|a| pb::FuturesBalance {
            asset: a.asset.clone(),
            wallet_balance: dec(a.wallet_balance),
            unrealized_pnl: dec(a.unrealized_profit),
            margin_balance: dec(a.margin_balance),
            available_balance: dec(a.available_balance),
            max_withdraw: dec(a.max_withdraw_amount),
        })
        .collect();
    let positions = parts
        .positions
        .iter()
        .filter(|p| !p.position_amt.is_zero())
        .map(|p| pb::PerpPosition {
            symbol: p.symbol.clone(),
            position_amt: dec(p.position_amt),
            entry_price: dec(p.entry_price),
            mark_price: dec(p.mark_price),
            unrealized_pnl: dec(p.un_realized_profit),
            notional: dec(p.notional),
            leverage: 0,
            margin_type: 0,
            liquidation_price: dec(p.liquidation_price),
            maint_margin: dec(p.maint_margin.unwrap_or_default()),
            updated_at: opt_ts(Some(p.update_time)),
        })
        .collect();
    pb::Account {
        spot_balances,
        margin_balances,
        futures_balances,
        positions,
        margin_level: parts
            .margin
            .map(|m| dec(m.margin_level))
            .unwrap_or_default(),
        margin_total_asset_usdt: margin_usdt(|m| m.total_asset_of_btc),
        margin_total_liability_usdt: margin_usdt(|m| m.total_liability_of_btc),
        futures_margin_ratio: dec(futures.margin_ratio().unwrap_or_default()),
        futures_maint_margin_usdt: dec(futures.total_maint_margin),
        futures_margin_balance_usdt: dec(futures.total_margin_balance),
        futures_available_usdt: dec(futures.available_balance),
        total_equity_usdt: dec(equity),
        margin_borrow_enabled: parts.margin.is_some_and(|m| m.borrow_enabled),
        margin_trade_enabled: parts.margin.is_some_and(|m| m.trade_enabled),
        // the futures account answer carries no trade flag; reaching it signed is the evidence
        futures_trade_enabled: true,
        stream_sequence,
        as_of: Some(ts(as_of_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec as d;
    use serde_json::json;

    #[test]
    fn values_every_wallet_and_keeps_only_open_positions() {
        let spot: SpotAccount = serde_json::from_value(json!({
            "commissionRates": {"maker": "0.001", "taker": "0.001", "buyer": "0", "seller": "0"},
            "canTrade": true, "canWithdraw": false, "canDeposit": true, "updateTime": 1,
            "accountType": "SPOT", "balances": [
                {"asset": "USDT", "free": "100", "locked": "0"},
                {"asset": "BTC", "free": "0.5", "locked": "0.5"},
                {"asset": "XYZ", "free": "7", "locked": "0"}]}))
        .unwrap();
        let margin: MarginAccount = serde_json::from_value(json!({
            "borrowEnabled": true, "marginLevel": "2.5", "totalAssetOfBtc": "1",
            "totalLiabilityOfBtc": "0.4", "totalNetAssetOfBtc": "0.6", "tradeEnabled": true,
            "transferInEnabled": true, "transferOutEnabled": true, "userAssets": [
                {"asset": "BTC", "borrowed": "0.4", "free": "1", "interest": "0", "locked": "0", "netAsset": "0.6"}]})).unwrap();
        let futures: FuturesAccount = serde_json::from_value(json!({
            "totalInitialMargin": "10", "totalMaintMargin": "5", "totalWalletBalance": "1000",
            "totalUnrealizedProfit": "0", "totalMarginBalance": "1000", "totalCrossWalletBalance": "1000",
            "availableBalance": "990", "maxWithdrawAmount": "990", "assets": [], "positions": []})).unwrap();
        let positions: Vec<PositionRisk> = serde_json::from_value(json!([
            {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "-0.5", "entryPrice": "60000",
             "markPrice": "60000", "unRealizedProfit": "0", "liquidationPrice": "90000", "notional": "-30000", "updateTime": 5},
            {"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "0", "entryPrice": "0",
             "markPrice": "3000", "unRealizedProfit": "0", "liquidationPrice": "0", "notional": "0", "updateTime": 5}])).unwrap();
        let price = |asset: &str| match asset {
            "USDT" => Some(d!(1)),
            "BTC" => Some(d!(60000)),
            _ => None,
        };
        let account = build_account(
            &SnapshotParts {
                spot: &spot,
                margin: Some(&margin),
                futures: &futures,
                positions: &positions,
            },
            &price,
            42,
            1_000,
        );
        assert_eq!(account.positions.len(), 1);
        assert_eq!(account.futures_margin_ratio, "0.005");
        assert_eq!(account.margin_total_liability_usdt, "24000.0");
        // 100 + 1 BTC spot + 0.6 BTC net margin + 1000 futures; XYZ has no price
        assert_eq!(
            account.total_equity_usdt.parse::<Decimal>().unwrap(),
            d!(97100)
        );
        assert_eq!(account.stream_sequence, 42);
    }
}

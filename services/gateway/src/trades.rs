//! ListTrades: the account's executions of one symbol from the venue's trade history
//! (`/sapi/v1/margin/myTrades` for cross margin, `/fapi/v1/userTrades` for USDⓈ-M), as the
//! stream's `Fill`s, so the executor can book the ones its account stream missed.

use fff_binance::RestClient;
use fff_binance::models::Side;
use fff_binance::models::futures::FuturesTrade;
use fff_binance::models::spot::AccountTrade;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use tonic::Status;

use crate::convert::{dec, opt_dec, side_to_pb, ts};
use crate::error::exchange_status;

/// Default and largest number of executions per call (the venue's own limits).
const DEFAULT_LIMIT: u32 = 500;
const MAX_LIMIT: u32 = 1000;

pub fn limit(raw: u32) -> u32 {
    match raw {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// Executions of `symbol` (one order's when `order_id` is set), oldest first.
pub async fn trades(
    rest: &RestClient,
    venue: common::Venue,
    symbol: &str,
    order_id: Option<i64>,
    start_ms: Option<i64>,
    limit: u32,
) -> Result<pb::ListTradesResponse, Status> {
    let mut fills: Vec<pb::Fill> = match venue {
        common::Venue::UsdmPerp => rest
            .futures_user_trades(symbol, order_id, start_ms, Some(limit))
            .await
            .map_err(|e| exchange_status(&e))?
            .iter()
            .map(futures_fill)
            .collect(),
        _ => rest
            .margin_my_trades(symbol, order_id, start_ms, Some(limit))
            .await
            .map_err(|e| exchange_status(&e))?
            .iter()
            .map(account_fill)
            .collect(),
    };
    // the venue filters already; a venue (or simulator) that ignores a filter must not make
    // another order's trades look like this one's
    fills.retain(|f| {
        f.symbol == symbol
            && order_id.is_none_or(|id| u64::try_from(id).is_ok_and(|id| id == f.exchange_order_id))
            && start_ms.is_none_or(|start| {
                f.traded_at
                    .is_some_and(|t| t.seconds * 1000 + i64::from(t.nanos / 1_000_000) >= start)
            })
    });
    fills.sort_by_key(|f| {
        (
            f.traded_at.map_or((0, 0), |t| (t.seconds, t.nanos)),
            f.trade_id,
        )
    });
    fills.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(pb::ListTradesResponse { fills })
}

fn futures_fill(t: &FuturesTrade) -> pb::Fill {
    pb::Fill {
        symbol: t.symbol.clone(),
        client_order_id: String::new(),
        exchange_order_id: u64::try_from(t.order_id).unwrap_or(0),
        trade_id: u64::try_from(t.id).unwrap_or(0),
        side: side_to_pb(t.side) as i32,
        price: dec(t.price),
        quantity: dec(t.qty),
        quote_quantity: dec(t.quote_qty.unwrap_or_else(|| (t.price * t.qty).normalize())),
        commission: dec(t.commission),
        commission_asset: t.commission_asset.clone().unwrap_or_default(),
        is_maker: t.maker,
        realized_pnl: opt_dec(t.realized_pnl),
        traded_at: Some(ts(t.time)),
    }
}

fn account_fill(t: &AccountTrade) -> pb::Fill {
    let side = if t.is_buyer { Side::Buy } else { Side::Sell };
    pb::Fill {
        symbol: t.symbol.clone(),
        client_order_id: String::new(),
        exchange_order_id: u64::try_from(t.order_id).unwrap_or(0),
        trade_id: u64::try_from(t.id).unwrap_or(0),
        side: side_to_pb(side) as i32,
        price: dec(t.price),
        quantity: dec(t.qty),
        quote_quantity: dec(t.quote_qty.unwrap_or_else(|| (t.price * t.qty).normalize())),
        commission: dec(t.commission),
        commission_asset: t.commission_asset.clone().unwrap_or_default(),
        is_maker: t.is_maker,
        realized_pnl: String::new(),
        traded_at: Some(ts(t.time)),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn venue_trades_become_fills() {
        let perp = futures_fill(&FuturesTrade {
            symbol: "BTCUSDT".into(),
            id: 7,
            order_id: 9,
            side: Side::Sell,
            price: dec!(100),
            qty: dec!(0.5),
            quote_qty: None,
            realized_pnl: Some(dec!(-1)),
            commission: dec!(0.02),
            commission_asset: Some("USDT".into()),
            time: 1_700_000_000_123,
            maker: true,
        });
        assert_eq!((perp.trade_id, perp.exchange_order_id), (7, 9));
        assert_eq!(perp.side, common::Side::Sell as i32);
        assert_eq!(perp.quote_quantity, "50");
        assert_eq!(perp.realized_pnl, "-1");
        assert_eq!(perp.traded_at, Some(ts(1_700_000_000_123)));
        let spot = account_fill(&AccountTrade {
            symbol: "SOLUSDT".into(),
            id: 3,
            order_id: 4,
            price: dec!(150),
            qty: dec!(2),
            quote_qty: Some(dec!(300)),
            commission: dec!(0.002),
            commission_asset: Some("SOL".into()),
            time: 5,
            is_buyer: true,
            is_maker: false,
        });
        assert_eq!(spot.side, common::Side::Buy as i32);
        assert_eq!(
            (spot.quantity.as_str(), spot.commission_asset.as_str()),
            ("2", "SOL")
        );
        assert_eq!(limit(0), 500);
        assert_eq!(limit(5000), 1000);
    }
}

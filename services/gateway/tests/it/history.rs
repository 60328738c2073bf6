//! ListTrades and ListInterest against the simulator: the venue's own records of executions and
//! interest charges, with the ids the stream's events carry, so a missed event can be booked later.

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::harness::{authed, client, start};

fn sum(fills: &[pb::Fill]) -> Decimal {
    fills
        .iter()
        .map(|f| f.quantity.parse::<Decimal>().unwrap())
        .sum()
}

#[tokio::test]
async fn list_trades_gives_an_orders_executions_with_the_streams_trade_ids() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let place =
        |id: &str, venue: common::Venue, effect: common::MarginSideEffect| pb::PlaceOrderRequest {
            client_order_id: id.into(),
            venue: venue as i32,
            symbol: "ETHUSDT".into(),
            side: common::Side::Sell as i32,
            r#type: common::OrderType::Market as i32,
            quantity: "0.1000".into(),
            margin_side_effect: effect as i32,
            ..Default::default()
        };
    let mut placed = Vec::new();
    for (id, venue, effect) in [
        (
            "it-trades-1",
            common::Venue::SpotMargin,
            common::MarginSideEffect::MarginBuy,
        ),
        (
            "it-trades-2",
            common::Venue::UsdmPerp,
            common::MarginSideEffect::Unspecified,
        ),
        (
            "it-trades-3",
            common::Venue::UsdmPerp,
            common::MarginSideEffect::Unspecified,
        ),
    ] {
        let order = client
            .place_order(authed(place(id, venue, effect)))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(
            order.status,
            common::OrderStatus::Filled as i32,
            "{order:?}"
        );
        placed.push((venue, order));
    }
    for (venue, order) in &placed {
        let trades = client
            .list_trades(pb::ListTradesRequest {
                venue: *venue as i32,
                symbol: "ETHUSDT".into(),
                exchange_order_id: order.exchange_order_id,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!trades.fills.is_empty(), "{order:?}");
        // exactly this order's executions, adding up to what it executed
        assert!(
            trades
                .fills
                .iter()
                .all(|f| f.exchange_order_id == order.exchange_order_id
                    && f.side == common::Side::Sell as i32
                    && f.trade_id > 0
                    && f.traded_at.is_some()),
            "{trades:?}"
        );
        assert_eq!(
            sum(&trades.fills),
            order.executed_qty.parse::<Decimal>().unwrap()
        );
        // the same ids as the venue's executions (what the stream reports as `t`)
        let venue_ids: Vec<u64> = running.sim.with_exchange(|ex| {
            ex.orders
                .values()
                .filter(|o| o.client_id == order.client_order_id)
                .flat_map(|o| o.fills.iter().map(|f| u64::try_from(f.trade_id).unwrap()))
                .collect()
        });
        let ids: Vec<u64> = trades.fills.iter().map(|f| f.trade_id).collect();
        assert_eq!(ids, venue_ids);
    }
    // every order of the symbol on the venue, oldest first
    let all = client
        .list_trades(pb::ListTradesRequest {
            venue: common::Venue::UsdmPerp as i32,
            symbol: "ETHUSDT".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sum(&all.fills), dec!(0.2));
    // garbage is refused, naming the field
    for bad in [
        pb::ListTradesRequest {
            symbol: "ETHUSDT".into(),
            ..Default::default()
        },
        pb::ListTradesRequest {
            venue: common::Venue::UsdmPerp as i32,
            symbol: "eth usdt".into(),
            ..Default::default()
        },
        pb::ListTradesRequest {
            venue: common::Venue::UsdmPerp as i32,
            symbol: "ETHUSDT".into(),
            exchange_order_id: u64::MAX,
            ..Default::default()
        },
    ] {
        let status = client.list_trades(bad).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
}

#[tokio::test]
async fn list_interest_gives_every_charge_once_with_its_txid_across_pages() {
    let running = start().await;
    let mut client = client(running.addr).await;
    for (asset, amount) in [("BTC", "0.01"), ("ETH", "0.1")] {
        client
            .borrow(authed(pb::BorrowRequest {
                asset: asset.into(),
                amount: amount.into(),
                request_id: format!("it-interest-{asset}"),
                intent_id: String::new(),
            }))
            .await
            .unwrap();
    }
    // an ON_BORROW charge each, then one per asset at every full hour
    running.sim.advance(3 * 3_600_000);
    let venue: Vec<(i64, String, Decimal)> = running.sim.with_exchange(|ex| {
        ex.accounts[0]
            .interest
            .iter()
            .map(|i| (i.tx_id, i.asset.clone(), i.interest))
            .collect()
    });
    assert!(venue.len() >= 6, "{venue:?}");
    // small pages: the charges of one hour (BTC and ETH) are never split across two
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_interest(pb::ListInterestRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for r in &page.records {
            assert!(!r.kind.is_empty() && r.time.is_some(), "{r:?}");
            seen.push((
                r.tx_id.parse::<i64>().unwrap(),
                r.asset.clone(),
                r.interest.parse::<Decimal>().unwrap(),
            ));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = venue.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
    // one asset only
    let btc = client
        .list_interest(pb::ListInterestRequest {
            asset: "BTC".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!btc.records.is_empty() && btc.records.iter().all(|r| r.asset == "BTC"));
    let bad = client
        .list_interest(pb::ListInterestRequest {
            asset: "btc!".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}

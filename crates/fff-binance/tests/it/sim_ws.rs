//! Every WebSocket stream of the connector against fff-sim over real WebSocket connections.

use std::time::Duration;

use fff_binance::models::margin::{BorrowRepay, SideEffect};
use fff_binance::models::stream::{AccountEvent, FuturesUserEvent, MarginRiskEvent};
use fff_binance::models::{OrderKind, Side};
use fff_binance::rest::{FuturesOrderRequest, MarginOrderRequest, PositionSide, SpotOrderRequest};
use fff_binance::ws::{
    MarketEvent, MarketStream, StreamEvent, StreamHandle, subscribe_futures_user,
    subscribe_margin_account, subscribe_margin_risk, subscribe_market, subscribe_spot_account,
};
use fff_sim::SimConfig;
use rust_decimal_macros::dec;

use crate::sim::{HOUR, fast_ws, manual, start};

/// Waits (at most 10 s) for an event matching `pred`, returning everything seen up to it.
async fn until<E: std::fmt::Debug>(
    handle: &mut StreamHandle<E>,
    pred: impl Fn(&StreamEvent<E>) -> bool,
) -> Vec<StreamEvent<E>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, handle.recv()).await {
            Ok(Some(event)) => {
                let hit = pred(&event);
                seen.push(event);
                if hit {
                    return seen;
                }
            }
            Ok(None) => panic!("stream ended: {seen:?}"),
            Err(_) => panic!("timed out; saw {seen:?}"),
        }
    }
}

async fn connected<E: std::fmt::Debug>(handle: &mut StreamHandle<E>) {
    until(handle, |e| matches!(e, StreamEvent::Connected)).await;
}

#[tokio::test]
async fn market_streams_deliver_mark_prices_and_book_tickers_and_survive_disconnects() {
    let (sim, client) = start(SimConfig::default()).await;
    let streams = [
        MarketStream::AllMarkPrices,
        MarketStream::BookTicker {
            symbol: "BTCUSDT".into(),
        },
    ];
    let mut handle = subscribe_market(client.urls(), &streams, fast_ws());
    let seen = until(
        &mut handle,
        |e| matches!(e, StreamEvent::Data(MarketEvent::MarkPrice(m)) if m.symbol == "BTCUSDT"),
    )
    .await;
    assert!(matches!(seen[0], StreamEvent::Connected));
    until(
        &mut handle,
        |e| matches!(e, StreamEvent::Data(MarketEvent::BookTicker(b)) if b.symbol == "BTCUSDT"),
    )
    .await;

    sim.disconnect_websockets();
    until(&mut handle, |e| matches!(e, StreamEvent::Gap { .. })).await;
    until(&mut handle, |e| matches!(e, StreamEvent::Reconnected)).await;
    until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(MarketEvent::MarkPrice(_)))
    })
    .await;
}

#[tokio::test]
async fn futures_user_stream_reports_orders_and_funding_fees() {
    let (sim, client) = start(manual()).await;
    let mut handle = subscribe_futures_user(client.clone(), fast_ws());
    connected(&mut handle).await;
    let order = FuturesOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-ws-perp-1".into(),
        reduce_only: false,
        position_side: PositionSide::Both,
    };
    client.futures_new_order(&order).await.unwrap();
    until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(FuturesUserEvent::OrderTradeUpdate(u)) if u.order.client_order_id == "fff-ws-perp-1")
    })
    .await;
    until(&mut handle, |e| matches!(e, StreamEvent::Data(FuturesUserEvent::AccountUpdate(u)) if u.data.reason == "ORDER")).await;

    sim.advance(8 * HOUR + 1000);
    let seen = until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(FuturesUserEvent::AccountUpdate(u)) if u.is_funding_fee())
    })
    .await;
    let Some(StreamEvent::Data(FuturesUserEvent::AccountUpdate(funding))) = seen.last() else {
        unreachable!()
    };
    assert_eq!(funding.data.balances[0].asset, "USDT");
}

#[tokio::test]
async fn spot_account_stream_reports_execution_and_balances() {
    let (_sim, client) = start(manual()).await;
    let mut handle = subscribe_spot_account(client.clone(), fast_ws()).unwrap();
    connected(&mut handle).await;
    // `Connected` comes only after the WS API confirmed the subscription.
    let order = SpotOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-ws-spot-1".into(),
    };
    client.new_order(&order).await.unwrap();
    until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(AccountEvent::ExecutionReport(r)) if r.client_order_id == "fff-ws-spot-1")
    })
    .await;
    until(&mut handle, |e| {
        matches!(
            e,
            StreamEvent::Data(AccountEvent::OutboundAccountPosition(_))
        )
    })
    .await;
}

#[tokio::test]
async fn margin_account_stream_uses_a_listen_token() {
    let (_sim, client) = start(manual()).await;
    let mut handle = subscribe_margin_account(client.clone(), fast_ws()).unwrap();
    connected(&mut handle).await;
    let order = MarginOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-ws-margin-1".into(),
        side_effect: SideEffect::MarginBuy,
        auto_repay_at_cancel: false,
    };
    client.margin_new_order(&order).await.unwrap();
    until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(AccountEvent::ExecutionReport(r)) if r.client_order_id == "fff-ws-margin-1")
    })
    .await;
}

#[tokio::test]
async fn margin_risk_stream_reports_liability_changes() {
    let (_sim, client) = start(manual()).await;
    let mut handle = subscribe_margin_risk(client.clone(), fast_ws());
    connected(&mut handle).await;
    client
        .margin_borrow_repay("BTC", dec!(0.01), BorrowRepay::Borrow)
        .await
        .unwrap();
    until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(MarginRiskEvent::UserLiabilityChange(c)) if c.asset == "BTC")
    })
    .await;
}

#[tokio::test]
async fn margin_listen_token_is_renewed_before_it_expires() {
    let (_sim, client) = start(SimConfig::default()).await;
    let cfg = fff_binance::ws::WsConfig {
        listen_token_validity: Duration::from_secs(3),
        listen_token_renew_before: Duration::from_secs(2),
        ..fast_ws()
    };
    let mut handle = subscribe_margin_account(client.clone(), cfg).unwrap();
    connected(&mut handle).await;
    // Past the first token's expiry: the renewed subscription must still deliver, without a gap.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let order = MarginOrderRequest {
        symbol: "ETHUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Market,
        qty: dec!(0.1),
        client_order_id: "fff-ws-renewed-1".into(),
        side_effect: SideEffect::NoSideEffect,
        auto_repay_at_cancel: false,
    };
    client.margin_new_order(&order).await.unwrap();
    let seen = until(&mut handle, |e| {
        matches!(e, StreamEvent::Data(AccountEvent::ExecutionReport(r)) if r.client_order_id == "fff-ws-renewed-1")
    })
    .await;
    assert!(
        !seen.iter().any(|e| matches!(e, StreamEvent::Gap { .. })),
        "{seen:?}"
    );
}

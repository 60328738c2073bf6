//! PlaceOrder with `hedge_on_fill`: the gateway sends the hedge the moment its perp fills,
//! sized to the fill, and the caller's own PlaceOrder for the hedge is answered from the book.

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;

use crate::harness::{authed, client, sim_orders_with, start};

fn perp_sell(id: &str, r#type: common::OrderType, price: &str) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        client_order_id: id.into(),
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Sell as i32,
        r#type: r#type as i32,
        time_in_force: if price.is_empty() {
            0
        } else {
            common::TimeInForce::Gtc as i32
        },
        quantity: "0.010".into(),
        price: price.into(),
        first_send: true,
        ..Default::default()
    }
}

fn spot_buy(id: &str, quantity: &str) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        client_order_id: id.into(),
        venue: common::Venue::SpotMargin as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Buy as i32,
        r#type: common::OrderType::Market as i32,
        quantity: quantity.into(),
        margin_side_effect: common::MarginSideEffect::NoSideEffect as i32,
        ..Default::default()
    }
}

fn with_hedge(
    mut order: pb::PlaceOrderRequest,
    hedge: pb::PlaceOrderRequest,
) -> pb::PlaceOrderRequest {
    order.hedge_on_fill = Some(Box::new(pb::HedgeOnFill {
        order: Some(Box::new(pb::PlaceOrderRequest {
            first_send: true,
            ..hedge
        })),
        step: "0.001".into(),
    }));
    order
}

#[tokio::test]
async fn a_filled_perp_sends_its_hedge_at_once_and_the_callers_hedge_finds_it() {
    let running = start().await;
    let mut client = client(running.addr).await;
    // the hedge's bound is above the fill: it is sent for the fill, not the bound
    let perp = with_hedge(
        perp_sell("it-hof-p1", common::OrderType::Market, ""),
        spot_buy("it-hof-s1", "0.0150"),
    );
    let placed = client.place_order(authed(perp)).await.unwrap().into_inner();
    let order = placed.order.unwrap();
    assert_eq!(
        order.status,
        common::OrderStatus::Filled as i32,
        "{order:?}"
    );
    assert!(placed.hedge_sent);

    // the caller's hedge, sized as the gateway sized it, is the order already sent
    let hedge = client
        .place_order(authed(spot_buy("it-hof-s1", "0.010")))
        .await
        .unwrap()
        .into_inner();
    assert!(hedge.duplicate, "{hedge:?}");
    let hedge = hedge.order.unwrap();
    assert_eq!(
        hedge.status,
        common::OrderStatus::Filled as i32,
        "{hedge:?}"
    );
    assert_eq!(
        hedge.executed_qty.parse::<Decimal>().unwrap(),
        Decimal::new(10, 3)
    );
    assert_eq!(sim_orders_with(&running.sim, "it-hof-s1"), 1);
    let (perp_at, hedge_at) = running.sim.with_exchange(|ex| {
        let at = |id: &str| {
            ex.orders
                .values()
                .find(|o| o.client_id == id)
                .map(|o| o.received_us)
                .unwrap()
        };
        (at("it-hof-p1"), at("it-hof-s1"))
    });
    assert!(hedge_at >= perp_at);

    // a different size for the same id is a different order: refused, nothing sent
    let conflict = client
        .place_order(authed(spot_buy("it-hof-s1", "0.015")))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), tonic::Code::AlreadyExists);
    assert_eq!(sim_orders_with(&running.sim, "it-hof-s1"), 1);
}

#[tokio::test]
async fn no_hedge_leaves_for_an_order_that_rests_or_was_sent_before() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let mark: Decimal = crate::orders::btc_mark(&mut client).await.parse().unwrap();
    let far = (mark * Decimal::TWO).round_dp(1).to_string();
    let resting = with_hedge(
        perp_sell("it-hof-p2", common::OrderType::Limit, &far),
        spot_buy("it-hof-s2", "0.010"),
    );
    let placed = client
        .place_order(authed(resting.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        placed.order.unwrap().status,
        common::OrderStatus::New as i32
    );
    assert!(!placed.hedge_sent);
    // asked again: answered from the book, still nothing of the hedge
    let again = client
        .place_order(authed(resting))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate && !again.hedge_sent);
    assert_eq!(sim_orders_with(&running.sim, "it-hof-s2"), 0);

    // a fill below one step of the hedge sends nothing either
    let mut tiny = with_hedge(
        perp_sell("it-hof-p3", common::OrderType::Market, ""),
        spot_buy("it-hof-s3", "0.010"),
    );
    tiny.hedge_on_fill.as_mut().unwrap().step = "1".into();
    let placed = client.place_order(authed(tiny)).await.unwrap().into_inner();
    assert_eq!(
        placed.order.unwrap().status,
        common::OrderStatus::Filled as i32
    );
    assert!(!placed.hedge_sent);
    assert_eq!(sim_orders_with(&running.sim, "it-hof-s3"), 0);
}

#[tokio::test]
async fn a_malformed_hedge_is_refused_naming_its_field_and_nothing_is_sent() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let mut bad_step = with_hedge(
        perp_sell("it-hof-p4", common::OrderType::Market, ""),
        spot_buy("it-hof-s4", "0.010"),
    );
    bad_step.hedge_on_fill.as_mut().unwrap().step = "0".into();
    let refused = client.place_order(authed(bad_step)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("hedge_on_fill.step"),
        "{refused:?}"
    );

    let bad_order = with_hedge(
        perp_sell("it-hof-p4", common::OrderType::Market, ""),
        spot_buy("it-hof-s4", "-1"),
    );
    let refused = client.place_order(authed(bad_order)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("hedge_on_fill.order") && refused.message().contains("quantity"),
        "{refused:?}"
    );
    assert_eq!(sim_orders_with(&running.sim, "it-hof-p4"), 0);
}

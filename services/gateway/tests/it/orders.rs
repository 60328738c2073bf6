//! PlaceOrder is idempotent by client order id, also across an unknown (timed-out) outcome.

use std::time::Duration;

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use fff_runtime::Secrets;
use fff_sim::config::FaultConfig;
use tokio_stream::StreamExt as _;

use crate::harness::{authed, client, gateway_for, sim_orders_with, start};

fn resting_sell(client_order_id: &str, mark: &str) -> pb::PlaceOrderRequest {
    // far above the market so it rests: 2 x mark on the 0.1 tick
    let mark: rust_decimal::Decimal = mark.parse().unwrap();
    let price = (mark * rust_decimal::Decimal::TWO).round_dp(1);
    pb::PlaceOrderRequest {
        client_order_id: client_order_id.into(),
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Sell as i32,
        r#type: common::OrderType::Limit as i32,
        time_in_force: common::TimeInForce::Gtc as i32,
        quantity: "0.010".into(),
        price: price.to_string(),
        ..Default::default()
    }
}

pub(crate) async fn btc_mark(
    client: &mut pb::gateway_client::GatewayClient<tonic::transport::Channel>,
) -> String {
    let universe = client
        .get_universe(pb::GetUniverseRequest {
            symbols: vec!["BTCUSDT".into()],
            include_non_trading: true,
        })
        .await
        .unwrap()
        .into_inner();
    universe.instruments[0].mark_price.clone()
}

#[tokio::test]
async fn same_client_order_id_yields_one_order_even_after_a_timeout() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let mark = btc_mark(&mut client).await;

    let request = resting_sell("it-idem-1", &mark);
    let first = client
        .place_order(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    let order = first.order.unwrap();
    assert!(!first.duplicate);
    assert_eq!(order.status, common::OrderStatus::New as i32);
    assert!(order.exchange_order_id > 0);
    let again = client
        .place_order(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(
        again.order.unwrap().exchange_order_id,
        order.exchange_order_id
    );
    assert_eq!(sim_orders_with(&running.sim, "it-idem-1"), 1);

    // the same id for a different order is refused
    let mut other = request.clone();
    other.quantity = "0.020".into();
    let conflict = client.place_order(authed(other)).await.unwrap_err();
    assert_eq!(conflict.code(), tonic::Code::AlreadyExists);

    // a caller timeout: the venue is slow (below the connector's 1 s timeout), the caller
    // gives up after 800 ms, the gateway finishes the placement anyway
    running.sim.set_faults(FaultConfig {
        latency_ms: 600,
        ..FaultConfig::default()
    });
    let timed_out = resting_sell("it-idem-2", &mark);
    let mut impatient = authed(timed_out.clone());
    impatient.set_timeout(Duration::from_millis(800));
    let gave_up = client.place_order(impatient).await.unwrap_err();
    assert!(
        matches!(
            gave_up.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{gave_up:?}"
    );
    running.sim.set_faults(FaultConfig::default());
    let retried = client
        .place_order(authed(timed_out.clone()))
        .await
        .unwrap()
        .into_inner();
    let settled = retried.order.unwrap();
    assert!(
        retried.duplicate,
        "the first attempt went through: nothing new sent"
    );
    assert_eq!(
        settled.status,
        common::OrderStatus::New as i32,
        "{settled:?}"
    );
    let third = client
        .place_order(authed(timed_out))
        .await
        .unwrap()
        .into_inner();
    assert!(third.duplicate);
    assert_eq!(sim_orders_with(&running.sim, "it-idem-2"), 1);

    // the venue slower than the connector's timeout: the id cannot even be looked up, so
    // nothing is sent and the caller may retry
    running.sim.set_faults(FaultConfig {
        latency_ms: 1_500,
        ..FaultConfig::default()
    });
    let unreachable = resting_sell("it-idem-3", &mark);
    let refused = client
        .place_order(authed(unreachable.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    running.sim.set_faults(FaultConfig::default());
    let placed = client
        .place_order(authed(unreachable))
        .await
        .unwrap()
        .into_inner();
    assert!(!placed.duplicate);
    assert_eq!(sim_orders_with(&running.sim, "it-idem-3"), 1);

    // the book answers GetOrder and CancelOrder
    let reference = pb::OrderRef {
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        id: Some(pb::order_ref::Id::ClientOrderId("it-idem-1".into())),
    };
    let cancelled = client
        .cancel_order(authed(pb::CancelOrderRequest {
            order: Some(reference.clone()),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cancelled.order.unwrap().status,
        common::OrderStatus::Canceled as i32
    );
    let open = client
        .list_open_orders(pb::ListOpenOrdersRequest {
            venue: common::Venue::UsdmPerp as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = open
        .orders
        .iter()
        .map(|o| o.client_order_id.as_str())
        .collect();
    assert_eq!(ids, ["it-idem-2", "it-idem-3"]);

    // lookup by exchange id, then the kill-switch helper
    let by_id = client
        .get_order(pb::GetOrderRequest {
            order: Some(pb::OrderRef {
                venue: common::Venue::UsdmPerp as i32,
                symbol: "BTCUSDT".into(),
                id: Some(pb::order_ref::Id::ExchangeOrderId(
                    open.orders[0].exchange_order_id,
                )),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_id.order.unwrap().client_order_id, "it-idem-2");
    let all = client
        .cancel_all_orders(authed(pb::CancelAllOrdersRequest {
            venue: common::Venue::UsdmPerp as i32,
            symbol: "BTCUSDT".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.orders.len(), 2);
    assert!(
        all.orders
            .iter()
            .all(|o| o.status == common::OrderStatus::Canceled as i32)
    );
}

#[tokio::test]
async fn off_grid_and_malformed_orders_are_refused_before_sending() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let mark = btc_mark(&mut client).await;
    let mut off_tick = resting_sell("it-bad-1", &mark);
    off_tick.price = format!("{}.05", off_tick.price.split('.').next().unwrap());
    let err = client.place_order(authed(off_tick)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("`price`"), "{}", err.message());
    let mut off_step = resting_sell("it-bad-2", &mark);
    off_step.quantity = "0.0105".into();
    let err = client.place_order(authed(off_step)).await.unwrap_err();
    assert!(err.message().contains("`quantity`"), "{}", err.message());
    assert_eq!(sim_orders_with(&running.sim, "it-bad-1"), 0);
    assert_eq!(sim_orders_with(&running.sim, "it-bad-2"), 0);
}

#[tokio::test]
async fn a_market_fill_reaches_stream_account_and_get_account() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let mut events = client
        .stream_account(pb::StreamAccountRequest {
            venues: vec![common::Venue::UsdmPerp as i32],
            symbols: vec!["BTCUSDT".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let buy = pb::PlaceOrderRequest {
        client_order_id: "it-fill-1".into(),
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Buy as i32,
        r#type: common::OrderType::Market as i32,
        quantity: "0.005".into(),
        ..Default::default()
    };
    let placed = client.place_order(authed(buy)).await.unwrap().into_inner();
    assert_eq!(
        placed.order.unwrap().status,
        common::OrderStatus::Filled as i32
    );
    let mut saw_fill = false;
    let mut saw_filled_update = false;
    while !(saw_fill && saw_filled_update) {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("account events arrive")
            .unwrap()
            .unwrap();
        match event.event {
            Some(pb::stream_account_response::Event::Fill(fill)) => {
                assert_eq!(fill.client_order_id, "it-fill-1");
                saw_fill = true;
            }
            Some(pb::stream_account_response::Event::OrderUpdate(update)) => {
                let order = update.order.unwrap();
                saw_filled_update |= order.status == common::OrderStatus::Filled as i32;
            }
            _ => {}
        }
    }
    // GetAccount answers from a cache at most account_max_age_ms (1 s here) old
    let as_of = |a: &pb::GetAccountResponse| a.account.as_ref().unwrap().as_of.unwrap();
    let first = client
        .get_account(pb::GetAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    let cached = client
        .get_account(pb::GetAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(as_of(&first), as_of(&cached), "served from the cache");
    // a follower of the events asks for a snapshot that includes the event it saw: a fill
    // after the cached snapshot makes that a venue read, while other callers keep the cache
    let sell = pb::PlaceOrderRequest {
        client_order_id: "it-fill-2".into(),
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Sell as i32,
        r#type: common::OrderType::Market as i32,
        quantity: "0.002".into(),
        ..Default::default()
    };
    client.place_order(authed(sell)).await.unwrap();
    let fill_sequence = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("account events arrive")
            .unwrap()
            .unwrap();
        if matches!(&event.event, Some(pb::stream_account_response::Event::Fill(f)) if f.client_order_id == "it-fill-2")
        {
            break event.sequence;
        }
    };
    let amount = |a: &pb::GetAccountResponse| {
        let account = a.account.as_ref().unwrap();
        let position = account.positions.iter().find(|p| p.symbol == "BTCUSDT");
        position.map(|p| p.position_amt.parse::<rust_decimal::Decimal>().unwrap())
    };
    let cached = client
        .get_account(pb::GetAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        as_of(&cached),
        as_of(&first),
        "no sequence asked: the cache"
    );
    let after = client
        .get_account(pb::GetAccountRequest {
            after_sequence: fill_sequence,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(after.account.as_ref().unwrap().stream_sequence >= fill_sequence);
    assert_eq!(amount(&after), Some(rust_decimal_macros::dec!(0.003)));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let fresh = client
        .get_account(pb::GetAccountRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_ne!(as_of(&fresh), as_of(&first), "re-read after the max age");
    let account = fresh.account.unwrap();
    let position = account
        .positions
        .iter()
        .find(|p| p.symbol == "BTCUSDT")
        .expect("position after the fill");
    assert_eq!(
        position
            .position_amt
            .parse::<rust_decimal::Decimal>()
            .unwrap(),
        rust_decimal_macros::dec!(0.003)
    );
}

#[tokio::test]
async fn spot_legs_trade_on_cross_margin_and_short_with_auto_borrow() {
    let running = start().await;
    let mut client = client(running.addr).await;
    let order =
        |id: &str, side: common::Side, effect: common::MarginSideEffect| pb::PlaceOrderRequest {
            client_order_id: id.into(),
            venue: common::Venue::SpotMargin as i32,
            symbol: "ETHUSDT".into(),
            side: side as i32,
            r#type: common::OrderType::Market as i32,
            quantity: "0.1000".into(),
            margin_side_effect: effect as i32,
            ..Default::default()
        };
    let long = client
        .place_order(authed(order(
            "it-spot-1",
            common::Side::Buy,
            common::MarginSideEffect::NoSideEffect,
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(long.status, common::OrderStatus::Filled as i32, "{long:?}");
    assert_eq!(long.venue, common::Venue::SpotMargin as i32);
    let short = client
        .place_order(authed(order(
            "it-spot-2",
            common::Side::Sell,
            common::MarginSideEffect::MarginBuy,
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        short.status,
        common::OrderStatus::Filled as i32,
        "{short:?}"
    );
    let max = client
        .get_max_borrowable(pb::GetMaxBorrowableRequest {
            asset: "ETH".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(max.amount.parse::<rust_decimal::Decimal>().unwrap() > rust_decimal::Decimal::ZERO);
}

#[tokio::test]
async fn a_restarted_gateway_finds_the_order_at_the_venue_instead_of_sending_it_again() {
    let running = start().await;
    let mut first = client(running.addr).await;
    let mark = btc_mark(&mut first).await;
    let request = resting_sell("it-restart-1", &mark);
    let placed = first
        .place_order(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!placed.duplicate);

    // a second gateway knows nothing in memory: it must ask the venue first
    let (addr, _stop) = gateway_for(&running.sim, Secrets::default()).await;
    let mut second = client(addr).await;
    let again = second
        .place_order(authed(request))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(
        again.order.unwrap().exchange_order_id,
        placed.order.unwrap().exchange_order_id
    );
    assert_eq!(sim_orders_with(&running.sim, "it-restart-1"), 1);
}

fn post_only(
    client_order_id: &str,
    venue: common::Venue,
    side: common::Side,
    order_type: common::OrderType,
    time_in_force: common::TimeInForce,
    price: rust_decimal::Decimal,
) -> pb::PlaceOrderRequest {
    let spot = venue == common::Venue::SpotMargin;
    pb::PlaceOrderRequest {
        client_order_id: client_order_id.into(),
        venue: venue as i32,
        symbol: "BTCUSDT".into(),
        side: side as i32,
        r#type: order_type as i32,
        time_in_force: time_in_force as i32,
        quantity: "0.010".into(),
        price: price.to_string(),
        margin_side_effect: if spot {
            common::MarginSideEffect::NoSideEffect as i32
        } else {
            0
        },
        ..Default::default()
    }
}

/// The simulator's order for `client_order_id`: (type, time in force, status).
fn sim_order(running: &crate::harness::Running, client_order_id: &str) -> (String, String, String) {
    running.sim.with_exchange(|ex| {
        let order = ex
            .orders
            .values()
            .find(|o| o.client_id == client_order_id)
            .expect("the simulator has the order");
        (
            order.kind.as_str().to_owned(),
            order.tif.as_str().to_owned(),
            format!("{:?}", order.status),
        )
    })
}

#[tokio::test]
async fn perp_post_only_orders_rest_or_are_refused_and_never_take() {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    let running = start().await;
    let mut client = client(running.addr).await;
    let mark: Decimal = btc_mark(&mut client).await.parse().unwrap();
    let (above, below) = (
        (mark * dec!(1.01)).round_dp(1),
        (mark * dec!(0.99)).round_dp(1),
    );

    // LIMIT_MAKER on USDⓈ-M goes out as LIMIT + GTX; away from the book it rests
    let resting = client
        .place_order(authed(post_only(
            "it-maker-1",
            common::Venue::UsdmPerp,
            common::Side::Sell,
            common::OrderType::LimitMaker,
            common::TimeInForce::Unspecified,
            above,
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        resting.status,
        common::OrderStatus::New as i32,
        "{resting:?}"
    );
    assert_eq!(resting.r#type, common::OrderType::LimitMaker as i32);
    assert_eq!(resting.price.parse::<Decimal>().unwrap(), above);
    assert_eq!(
        sim_order(&running, "it-maker-1"),
        ("LIMIT".into(), "GTX".into(), "New".into())
    );

    // LIMIT with time in force GTX is the same post-only order
    let gtx = client
        .place_order(authed(post_only(
            "it-maker-2",
            common::Venue::UsdmPerp,
            common::Side::Buy,
            common::OrderType::Limit,
            common::TimeInForce::Gtx,
            (mark * dec!(0.98)).round_dp(1),
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(gtx.status, common::OrderStatus::New as i32, "{gtx:?}");
    assert_eq!(sim_order(&running, "it-maker-2").1, "GTX");

    // one that would take (a sell below the bid) is refused by the venue: a REJECTED order
    // with the venue's reason, not an RPC error, and nothing filled
    let crossing = client
        .place_order(authed(post_only(
            "it-maker-3",
            common::Venue::UsdmPerp,
            common::Side::Sell,
            common::OrderType::LimitMaker,
            common::TimeInForce::Unspecified,
            below,
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        crossing.status,
        common::OrderStatus::Rejected as i32,
        "{crossing:?}"
    );
    assert!(crossing.reject_reason.contains("-5022"), "{crossing:?}");
    assert_eq!(
        crossing.executed_qty.parse::<Decimal>().unwrap(),
        Decimal::ZERO
    );
    assert_eq!(sim_orders_with(&running.sim, "it-maker-3"), 0);
    let looked_up = client
        .get_order(pb::GetOrderRequest {
            order: Some(pb::OrderRef {
                venue: common::Venue::UsdmPerp as i32,
                symbol: "BTCUSDT".into(),
                id: Some(pb::order_ref::Id::ClientOrderId("it-maker-3".into())),
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(looked_up.status, common::OrderStatus::Rejected as i32);
    // a retry of the refused id is answered from the book, nothing new is sent
    let again = client
        .place_order(authed(post_only(
            "it-maker-3",
            common::Venue::UsdmPerp,
            common::Side::Sell,
            common::OrderType::LimitMaker,
            common::TimeInForce::Unspecified,
            below,
        )))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);

    // the resting ones cancel like any limit order; no position was opened
    for id in ["it-maker-1", "it-maker-2"] {
        let cancelled = client
            .cancel_order(authed(pb::CancelOrderRequest {
                order: Some(pb::OrderRef {
                    venue: common::Venue::UsdmPerp as i32,
                    symbol: "BTCUSDT".into(),
                    id: Some(pb::order_ref::Id::ClientOrderId(id.into())),
                }),
            }))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(cancelled.status, common::OrderStatus::Canceled as i32);
        assert_eq!(
            cancelled.executed_qty.parse::<Decimal>().unwrap(),
            Decimal::ZERO
        );
    }
    let perp: Decimal = running.sim.with_exchange(|ex| {
        ex.accounts
            .iter()
            .filter_map(|a| a.positions.get("BTCUSDT"))
            .map(|p| p.amt)
            .sum()
    });
    assert_eq!(perp, Decimal::ZERO);
}

#[tokio::test]
async fn spot_post_only_orders_rest_or_are_refused_and_never_take() {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;
    let running = start().await;
    let mut client = client(running.addr).await;
    let mark: Decimal = btc_mark(&mut client).await.parse().unwrap();
    // buy the base first so a sell can rest
    let bought = client
        .place_order(authed(pb::PlaceOrderRequest {
            client_order_id: "it-maker-spot-0".into(),
            venue: common::Venue::SpotMargin as i32,
            symbol: "BTCUSDT".into(),
            side: common::Side::Buy as i32,
            r#type: common::OrderType::Market as i32,
            quantity: "0.020".into(),
            margin_side_effect: common::MarginSideEffect::NoSideEffect as i32,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        bought.status,
        common::OrderStatus::Filled as i32,
        "{bought:?}"
    );
    let resting = client
        .place_order(authed(post_only(
            "it-maker-spot-1",
            common::Venue::SpotMargin,
            common::Side::Sell,
            common::OrderType::LimitMaker,
            common::TimeInForce::Unspecified,
            (mark * dec!(1.01)).round_dp(2),
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        resting.status,
        common::OrderStatus::New as i32,
        "{resting:?}"
    );
    assert_eq!(resting.r#type, common::OrderType::LimitMaker as i32);
    assert_eq!(sim_order(&running, "it-maker-spot-1").0, "LIMIT_MAKER");
    let crossing = client
        .place_order(authed(post_only(
            "it-maker-spot-2",
            common::Venue::SpotMargin,
            common::Side::Sell,
            common::OrderType::LimitMaker,
            common::TimeInForce::Unspecified,
            (mark * dec!(0.99)).round_dp(2),
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        crossing.status,
        common::OrderStatus::Rejected as i32,
        "{crossing:?}"
    );
    assert!(crossing.reject_reason.contains("-2010"), "{crossing:?}");
    assert_eq!(sim_orders_with(&running.sim, "it-maker-spot-2"), 0);
    let cancelled = client
        .cancel_order(authed(pb::CancelOrderRequest {
            order: Some(pb::OrderRef {
                venue: common::Venue::SpotMargin as i32,
                symbol: "BTCUSDT".into(),
                id: Some(pb::order_ref::Id::ClientOrderId("it-maker-spot-1".into())),
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(cancelled.status, common::OrderStatus::Canceled as i32);
}

/// An order waiting in the gateway's order-rate queue is visible as PENDING (a caller
/// resolving an unknown outcome must not conclude "never sent" and close its intent while
/// the gateway can still send it), and a cancel withdraws it: it never reaches the venue.
#[tokio::test]
async fn a_queued_order_is_pending_and_a_cancel_withdraws_it_before_it_is_sent() {
    let sim = fff_sim::spawn(fff_sim::config::SimConfig::default())
        .await
        .unwrap();
    let mut config = crate::harness::config_for(&sim);
    // one order a second: the third of three sent at once waits about 2 s for its turn
    config.exchange.orders_per_second = 1;
    let (addr, _stop) = crate::harness::gateway_with(config, Secrets::default()).await;
    let mut gateway = client(addr).await;
    let mark = btc_mark(&mut gateway).await;
    let mut sends = Vec::new();
    for id in ["it-queue-1", "it-queue-2", "it-queue-3"] {
        let mut caller = gateway.clone();
        let request = resting_sell(id, &mark);
        sends.push(tokio::spawn(async move {
            caller.place_order(authed(request)).await
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let order_ref = |id: &str| pb::OrderRef {
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        id: Some(pb::order_ref::Id::ClientOrderId(id.into())),
    };
    let queued = gateway
        .get_order(pb::GetOrderRequest {
            order: Some(order_ref("it-queue-3")),
        })
        .await
        .expect("a queued order is known")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(queued.status, common::OrderStatus::Pending as i32);
    let withdrawn = gateway
        .cancel_order(authed(pb::CancelOrderRequest {
            order: Some(order_ref("it-queue-3")),
        }))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(withdrawn.status, common::OrderStatus::Expired as i32);
    assert_eq!(withdrawn.executed_qty, "0");
    let answers: Vec<_> = futures_join(sends).await;
    assert_eq!(
        answers[2].status,
        common::OrderStatus::Expired as i32,
        "{:?}",
        answers[2]
    );
    // the first two were sent; the withdrawn one never, also not by a retry of its id
    assert_eq!(sim_orders_with(&sim, "it-queue-1"), 1);
    assert_eq!(sim_orders_with(&sim, "it-queue-2"), 1);
    let retried = gateway
        .place_order(authed(resting_sell("it-queue-3", &mark)))
        .await
        .unwrap()
        .into_inner();
    assert!(retried.duplicate);
    assert_eq!(sim_orders_with(&sim, "it-queue-3"), 0);
}

async fn futures_join(
    sends: Vec<
        tokio::task::JoinHandle<Result<tonic::Response<pb::PlaceOrderResponse>, tonic::Status>>,
    >,
) -> Vec<pb::Order> {
    let mut orders = Vec::new();
    for send in sends {
        orders.push(send.await.unwrap().unwrap().into_inner().order.unwrap());
    }
    orders
}

//! Tests of [`super`].

mod stub_gateway;

use super::*;
use crate::engine::tests::{open_settled, rig};
use backfill::{Backfill, Scan};
use fff_core::Direction;
use fff_proto::fff::gateway::v1::gateway_client::GatewayClient;
use fff_runtime::telemetry::ClientInterceptor;
use rust_decimal_macros::dec;
use stub_gateway::StubGateway;

#[tokio::test]
async fn fills_and_funding_are_booked_once() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let spot = orders
        .iter()
        .find(|o| o.leg == fff_store::Leg::Spot)
        .unwrap();
    let fill = gw::Fill {
        symbol: "BTCUSDT".into(),
        client_order_id: spot.client_order_id.clone(),
        trade_id: 77,
        price: "100".into(),
        quantity: "10".into(),
        commission: "0.01".into(),
        commission_asset: "BTC".into(),
        ..gw::Fill::default()
    };
    let venue = common::Venue::SpotMargin as i32;
    assert!(
        book_fill(&rig.engine, venue, &fill, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !book_fill(&rig.engine, venue, &fill, Utc::now())
            .await
            .unwrap()
    );
    let foreign = gw::Fill {
        client_order_id: "web-123".into(),
        ..fill.clone()
    };
    assert!(
        !book_fill(&rig.engine, venue, &foreign, Utc::now())
            .await
            .unwrap()
    );
    let fees = rig.store.position_cash_pnl(position.id).await.unwrap().fees;
    assert_eq!(fees, dec!(1), "base-asset fee valued at the fill price");

    // no gateway to ask for the settlement mark: booked without an expectation
    let client = GatewayClient::with_interceptor(
        fff_runtime::grpc::channel("http://127.0.0.1:9").unwrap(),
        ClientInterceptor::default(),
    );
    let record = gw::IncomeRecord {
        income_id: "555".into(),
        kind: gw::IncomeKind::FundingFee as i32,
        symbol: "BTCUSDT".into(),
        asset: "USDT".into(),
        amount: "0.1".into(),
        ..gw::IncomeRecord::default()
    };
    assert!(book_funding(&rig.engine, &client, &record).await.unwrap());
    assert!(!book_funding(&rig.engine, &client, &record).await.unwrap());
    // a payment from before the position existed is booked, but not to it
    let old = gw::IncomeRecord {
        income_id: "554".into(),
        time: Some(prost_types::Timestamp {
            seconds: 1_600_000_000,
            nanos: 0,
        }),
        ..record.clone()
    };
    assert!(book_funding(&rig.engine, &client, &old).await.unwrap());
    let funding = rig.store.list_position_funding(position.id).await.unwrap();
    assert_eq!(funding.len(), 1);
    assert_eq!(funding[0].amount, dec!(0.1));
    assert_eq!(funding[0].tran_id, 555);
}

#[test]
fn a_streamed_fee_with_its_income_id_is_its_income_record() {
    let fee = gw::FundingFee {
        symbol: "BTCUSDT".into(),
        asset: "USDT".into(),
        amount: "-0.25".into(),
        funding_time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        income_id: "777".into(),
        ..gw::FundingFee::default()
    };
    let record = funding_record(&fee).unwrap();
    assert_eq!(
        (
            record.income_id.as_str(),
            record.symbol.as_str(),
            record.amount.as_str()
        ),
        ("777", "BTCUSDT", "-0.25")
    );
    assert_eq!(record.kind, gw::IncomeKind::FundingFee as i32);
    assert_eq!(record.time, fee.funding_time);
    // the gateway's lookup failed: only the wallet change, left to the income poll
    let bare = gw::FundingFee {
        symbol: String::new(),
        income_id: String::new(),
        ..fee
    };
    assert!(funding_record(&bare).is_none());
}

#[tokio::test]
async fn perp_held_at_a_settlement() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let before = position.created_at - chrono::Duration::hours(1);
    let after = Utc::now() + chrono::Duration::hours(1);
    assert_eq!(perp_at(&orders, after), dec!(-10));
    // nothing recorded yet at that time: the largest position held stands in
    assert_eq!(perp_at(&orders, before), dec!(-10));
    rig.engine
        .run_exit(
            position.id,
            crate::engine::Urgency::Immediate,
            Initiator::Operator,
        )
        .await
        .unwrap();
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    // booked after the exit: the position held before it
    assert_eq!(perp_at(&orders, after), dec!(-10));
}

#[tokio::test]
async fn malformed_money_is_an_error_and_third_asset_fees_are_valued() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let perp = orders
        .iter()
        .find(|o| o.leg == fff_store::Leg::Perp)
        .unwrap();
    let venue = common::Venue::UsdmPerp as i32;
    let fill = gw::Fill {
        symbol: "BTCUSDT".into(),
        client_order_id: perp.client_order_id.clone(),
        trade_id: 91,
        price: "100".into(),
        quantity: "10".into(),
        commission: "1x5".into(),
        commission_asset: "USDT".into(),
        ..gw::Fill::default()
    };
    // a malformed fee is refused, not booked as a free trade
    let err = book_fill(&rig.engine, venue, &fill, Utc::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("commission"), "{err}");
    assert_eq!(
        rig.store.position_cash_pnl(position.id).await.unwrap().fees,
        dec!(0)
    );
    // a fee charged in BNB is valued at BNB's USDT mark (the fake marks every symbol at 100)
    let bnb = gw::Fill {
        commission: "0.002".into(),
        commission_asset: "BNB".into(),
        ..fill
    };
    assert!(
        book_fill(&rig.engine, venue, &bnb, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        rig.store.position_cash_pnl(position.id).await.unwrap().fees,
        dec!(0.2)
    );
    // a malformed funding amount is an error too
    let client = GatewayClient::with_interceptor(
        fff_runtime::grpc::channel("http://127.0.0.1:9").unwrap(),
        ClientInterceptor::default(),
    );
    let record = gw::IncomeRecord {
        income_id: "556".into(),
        kind: gw::IncomeKind::FundingFee as i32,
        symbol: "BTCUSDT".into(),
        asset: "USDT".into(),
        amount: "ten".into(),
        ..gw::IncomeRecord::default()
    };
    assert!(book_funding(&rig.engine, &client, &record).await.is_err());
}

/// The venue's record of one execution of `order` (as ListTrades gives it: no client order id).
fn venue_trade(order: &fff_store::Order, trade_id: u64, qty: &str) -> gw::Fill {
    gw::Fill {
        symbol: order.symbol.clone(),
        client_order_id: String::new(),
        exchange_order_id: u64::try_from(order.exchange_order_id.unwrap()).unwrap(),
        trade_id,
        price: "100".into(),
        quantity: qty.into(),
        commission: "0.01".into(),
        commission_asset: "USDT".into(),
        traded_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        ..gw::Fill::default()
    }
}

fn booked(fills: &[fff_store::Fill]) -> Decimal {
    fills.iter().map(|f| f.qty).sum()
}

#[tokio::test]
async fn fills_the_stream_missed_are_backfilled_once_and_only_gaps_are_queried() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let leg = |leg| {
        orders
            .iter()
            .find(|o| o.leg == leg && o.executed_qty > Decimal::ZERO)
            .unwrap()
            .clone()
    };
    let (spot, perp) = (leg(fff_store::Leg::Spot), leg(fff_store::Leg::Perp));
    assert_eq!(spot.executed_qty, dec!(10));
    assert_eq!(perp.executed_qty, dec!(10));
    let gateway = StubGateway::start().await;
    let client = gateway.client();
    // the venue executed the spot order in two trades; the stream delivered neither (say the
    // gateway was down) and the perp's trades are not in the venue's history yet
    *gateway.history.trades.lock().unwrap() =
        vec![venue_trade(&spot, 601, "4"), venue_trade(&spot, 602, "6")];
    let mut backfill = Backfill::new();
    backfill.stream_grace = Duration::ZERO;
    let gaps = backfill.gaps(&rig.engine, Scan::Full).await.unwrap();
    let mut gap_ids: Vec<i64> = gaps.iter().map(|g| g.order.id).collect();
    gap_ids.sort();
    let mut expected = vec![spot.id, perp.id];
    expected.sort();
    assert_eq!(gap_ids, expected, "{gaps:?}");
    assert_eq!(
        backfill
            .fills(&rig.engine, &client, Scan::Full)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        gateway.history.trade_calls(),
        2,
        "one query per order with a gap"
    );
    let spot_fills = rig.store.list_order_fills(spot.id).await.unwrap();
    assert_eq!(booked(&spot_fills), dec!(10));
    assert!(
        spot_fills
            .iter()
            .all(|f| f.venue == fff_store::Venue::Margin)
    );
    assert_eq!(
        spot_fills[0].traded_at.timestamp(),
        1_700_000_000,
        "booked at the venue's trade time"
    );

    // the stream's late delivery of a backfilled trade books nothing more
    let late = gw::Fill {
        client_order_id: spot.client_order_id.clone(),
        ..venue_trade(&spot, 601, "4")
    };
    assert!(
        !book_fill(
            &rig.engine,
            common::Venue::SpotMargin as i32,
            &late,
            Utc::now()
        )
        .await
        .unwrap()
    );
    // the stream delivers one of the perp's trades, the venue lists both later
    let streamed = gw::Fill {
        client_order_id: perp.client_order_id.clone(),
        ..venue_trade(&perp, 701, "3")
    };
    assert!(
        book_fill(
            &rig.engine,
            common::Venue::UsdmPerp as i32,
            &streamed,
            Utc::now()
        )
        .await
        .unwrap()
    );
    gateway
        .history
        .trades
        .lock()
        .unwrap()
        .extend([venue_trade(&perp, 701, "3"), venue_trade(&perp, 702, "7")]);
    // the perp's gap stayed open last time: it is not asked about again at once
    assert_eq!(
        backfill
            .fills(&rig.engine, &client, Scan::Full)
            .await
            .unwrap(),
        0
    );
    assert_eq!(gateway.history.trade_calls(), 2, "a stuck order waits");
    // once its retry is due, only the missing trade is booked
    let mut fresh = Backfill::new();
    fresh.stream_grace = Duration::ZERO;
    assert_eq!(
        fresh
            .fills(&rig.engine, &client, Scan::Recent)
            .await
            .unwrap(),
        1
    );
    assert_eq!(gateway.history.trade_calls(), 3);
    let perp_fills = rig.store.list_order_fills(perp.id).await.unwrap();
    assert_eq!(booked(&perp_fills), dec!(10));
    assert!(perp_fills.iter().all(|f| f.venue == fff_store::Venue::Usdm));
    // nothing left: no venue query at all
    assert_eq!(
        fresh.fills(&rig.engine, &client, Scan::Full).await.unwrap(),
        0
    );
    assert_eq!(gateway.history.trade_calls(), 3);
    // an order changed a moment ago is left to the stream
    let mut patient = Backfill::new();
    patient.stream_grace = Duration::from_secs(3600);
    assert!(
        patient
            .gaps(&rig.engine, Scan::Full)
            .await
            .unwrap()
            .is_empty()
    );
}

/// One order whose trades the gateway cannot list (a 429 pause on its venue) does not hold back
/// the other orders' gaps, and it is asked again at the next scan, not after a back-off.
#[tokio::test]
async fn an_order_whose_trades_cannot_be_read_does_not_hold_back_the_others() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let leg = |leg| {
        orders
            .iter()
            .find(|o| o.leg == leg && o.executed_qty > Decimal::ZERO)
            .unwrap()
            .clone()
    };
    let (spot, perp) = (leg(fff_store::Leg::Spot), leg(fff_store::Leg::Perp));
    let gateway = StubGateway::start().await;
    let client = gateway.client();
    *gateway.history.trades.lock().unwrap() =
        vec![venue_trade(&spot, 601, "10"), venue_trade(&perp, 701, "10")];
    let mut backfill = Backfill::new();
    backfill.stream_grace = Duration::ZERO;
    // the first order's venue refuses, whichever leg comes first; the other is booked all the same
    let first = backfill.gaps(&rig.engine, Scan::Recent).await.unwrap()[0]
        .order
        .clone();
    let other = if first.id == spot.id { &perp } else { &spot };
    let venue = |o: &fff_store::Order| match o.venue {
        fff_store::Venue::Usdm => common::Venue::UsdmPerp as i32,
        _ => common::Venue::SpotMargin as i32,
    };
    *gateway.history.refused_venues.lock().unwrap() = vec![venue(&first)];
    let result = backfill.fills(&rig.engine, &client, Scan::Recent).await;
    assert!(result.is_err(), "a refused query is reported");
    assert_eq!(
        booked(&rig.store.list_order_fills(other.id).await.unwrap()),
        dec!(10),
        "the other order's gap is closed in the same pass"
    );
    assert_eq!(
        booked(&rig.store.list_order_fills(first.id).await.unwrap()),
        Decimal::ZERO
    );
    // the refusal ends: the next scan (no back-off) books the rest
    gateway.history.refused_venues.lock().unwrap().clear();
    backfill
        .fills(&rig.engine, &client, Scan::Recent)
        .await
        .unwrap();
    for order in [&spot, &perp] {
        assert_eq!(
            booked(&rig.store.list_order_fills(order.id).await.unwrap()),
            dec!(10)
        );
    }
}

/// A resting order whose task has gone (its cancel refused while the gateway had lost its
/// writer lease; soak, seed 4065577437062263220) is filled at the venue: the account stream's
/// order report moves its row at once, so the resumed exit plans from what the venue did, and
/// an older report arriving after it does not move the row back.
#[tokio::test]
async fn an_order_report_on_the_account_stream_updates_an_order_nobody_follows() {
    use crate::engine::orders::intent_for;
    use crate::exchange::{OrderKind, OrderRequest};
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let request = OrderRequest {
        client_order_id: format!("fff{}-Sm7", position.id),
        venue: fff_core::Venue::SpotMargin,
        symbol: "BTCUSDT".into(),
        side: fff_core::Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(10),
        reduce_only: false,
        side_effect: fff_store::SideEffect::AutoRepay,
    };
    rig.store
        .insert_order_intent(&intent_for(position.id, &request))
        .await
        .unwrap();
    rig.store
        .update_order(
            &request.client_order_id,
            &fff_store::OrderUpdate {
                exchange_order_id: Some(4242),
                ..fff_store::OrderUpdate::status(fff_store::OrderStatus::Acked)
            },
        )
        .await
        .unwrap();
    let report = |status: common::OrderStatus, executed: &str| gw::StreamAccountResponse {
        venue: common::Venue::SpotMargin as i32,
        event: Some(gw::stream_account_response::Event::OrderUpdate(
            gw::OrderUpdate {
                order: Some(gw::Order {
                    venue: common::Venue::SpotMargin as i32,
                    symbol: "BTCUSDT".into(),
                    client_order_id: request.client_order_id.clone(),
                    exchange_order_id: 4242,
                    status: status as i32,
                    quantity: "10".into(),
                    executed_qty: executed.into(),
                    avg_price: "100".into(),
                    ..gw::Order::default()
                }),
                execution_type: "TRADE".into(),
            },
        )),
        ..gw::StreamAccountResponse::default()
    };
    let gateway = StubGateway::start().await;
    *gateway.history.account_events.lock().unwrap() = vec![
        report(common::OrderStatus::Filled, "10"),
        // a late report of the order's earlier state
        report(common::OrderStatus::New, "0"),
        // and one of an order that is not ours
        gw::StreamAccountResponse {
            event: Some(gw::stream_account_response::Event::OrderUpdate(
                gw::OrderUpdate {
                    order: Some(gw::Order {
                        client_order_id: "web_manual_1".into(),
                        status: common::OrderStatus::Filled as i32,
                        executed_qty: "1".into(),
                        ..gw::Order::default()
                    }),
                    execution_type: "TRADE".into(),
                },
            )),
            ..gw::StreamAccountResponse::default()
        },
    ];
    let cancel = CancellationToken::new();
    let ledger = tokio::spawn(run(
        Arc::clone(&rig.engine),
        gateway.client(),
        cancel.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        let row = rig
            .store
            .get_order(&request.client_order_id)
            .await
            .unwrap()
            .unwrap();
        if row.status == fff_store::OrderStatus::Filled || std::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // the later, older report had its chance to move the row back
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rig
        .store
        .get_order(&request.client_order_id)
        .await
        .unwrap()
        .unwrap();
    cancel.cancel();
    let _ = ledger.await;
    assert_eq!(row.status, fff_store::OrderStatus::Filled, "{row:?}");
    assert_eq!(
        (after.status, after.executed_qty),
        (fff_store::OrderStatus::Filled, dec!(10))
    );
    assert!(rig.store.get_order("web_manual_1").await.unwrap().is_none());
}

fn charge(tx_id: &str, asset: &str, interest: &str, seconds: i64) -> gw::InterestRecord {
    gw::InterestRecord {
        tx_id: tx_id.into(),
        asset: asset.into(),
        interest: interest.into(),
        principal: "10".into(),
        interest_rate: "0.00004".into(),
        kind: "PERIODIC".into(),
        time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
    }
}

#[tokio::test]
async fn interest_is_booked_once_by_the_venues_txid_and_the_ledger_runs_the_catch_up_at_start() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::NegativeCarry).await;
    let t0 = Utc::now().timestamp();
    // booked by an earlier build from the stream event: a made-up id and no rate
    rig.store
        .insert_borrow_interest(&fff_store::NewBorrowInterest {
            tx_id: 1_000_000_000_000_123,
            asset: "BTC".into(),
            position_id: Some(position.id),
            amount: dec!(0.0004),
            amount_quote: dec!(0.04),
            interest_rate: None,
            principal: None,
            interest_type: "PERIODIC".into(),
            charged_at: Utc.timestamp_opt(t0, 0).single().unwrap(),
        })
        .await
        .unwrap();
    let gateway = StubGateway::start().await;
    // newest first; the oldest is the legacy row's charge, the middle one has the same amount an
    // hour later (a charge of its own), the newest was charged while the executor was down
    *gateway.history.interest.lock().unwrap() = vec![
        // a dust loan's charge rounded to nothing: listed by the venue, so booked as 0
        charge("9004", "BTC", "0", t0 + 7200),
        charge("9003", "BTC", "0.0005", t0 + 7200),
        charge("9002", "BTC", "0.0004", t0 + 3600),
        charge("9001", "BTC", "0.0004", t0),
    ];
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let spot = orders
        .iter()
        .find(|o| o.leg == fff_store::Leg::Spot && o.executed_qty > Decimal::ZERO)
        .unwrap()
        .clone();
    *gateway.history.trades.lock().unwrap() = vec![venue_trade(&spot, 801, "10")];

    // the ledger's task books both soon after it starts (the fill once the order is past the
    // stream's grace: the books are checked every second)
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(rig.engine.clone(), gateway.client(), cancel.clone()));
    let store = rig.store.clone();
    let spot_id = spot.id;
    let interest = fff_testkit::wait_for(Duration::from_secs(20), || async {
        let fills = store.list_order_fills(spot_id).await.ok()?;
        let rows = store.list_position_interest(position.id).await.ok()?;
        (rows.len() == 4 && booked(&fills) == dec!(10)).then_some(rows)
    })
    .await;
    cancel.cancel();
    let _ = task.await;
    if interest.is_err() {
        panic!(
            "interest and the missed fill not booked at start-up: fills {:?}, interest {:?}, orders {:?}",
            rig.store.list_order_fills(spot_id).await,
            rig.store.list_position_interest(position.id).await,
            rig.store.list_position_orders(position.id).await,
        );
    }
    let rows = interest.unwrap();
    let mut ids: Vec<i64> = rows.iter().map(|r| r.tx_id).collect();
    ids.sort();
    assert_eq!(ids, vec![9002, 9003, 9004, 1_000_000_000_000_123]);
    let newest = rows.iter().find(|r| r.tx_id == 9003).unwrap();
    assert_eq!(newest.amount, dec!(0.0005));
    assert_eq!(newest.interest_rate, Some(dec!(0.00004)));
    assert_eq!(newest.charged_at.timestamp(), t0 + 7200);

    // polling again books nothing twice
    let mut backfill = Backfill::new();
    assert_eq!(
        backfill
            .interest(&rig.engine, &gateway.client())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        rig.store
            .list_position_interest(position.id)
            .await
            .unwrap()
            .len(),
        4
    );
}

/// The venue liquidates the perp of a hedge (bench 2026-12-05: three perps liquidated, the
/// books kept them and nothing acted): the ORDER_TRADE_UPDATE of its `autoclose-` order is
/// booked on the position as a LIQUIDATION order, the naked spot leg is closed at once, the
/// venue's clearance fee (INSURANCE_CLEAR income) is booked on it and counted in its P&L, and a
/// replay of the event or a re-read of the income books nothing twice.
#[tokio::test]
async fn a_perp_the_venue_liquidated_is_booked_and_its_naked_spot_leg_closed() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let perp = position.perp_qty;
    assert!(perp > Decimal::ZERO);
    // the venue closed the short perp itself
    rig.fake.with(|s| {
        s.perp.insert("BTCUSDT".into(), Decimal::ZERO);
    });
    let venue_order = gw::Order {
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        client_order_id: "autoclose-1764930000000".into(),
        exchange_order_id: 9001,
        side: common::Side::Buy as i32,
        status: common::OrderStatus::Filled as i32,
        quantity: perp.to_string(),
        executed_qty: perp.to_string(),
        avg_price: "130".into(),
        reduce_only: true,
        ..gw::Order::default()
    };
    let liquidation = gw::StreamAccountResponse {
        venue: common::Venue::UsdmPerp as i32,
        event: Some(gw::stream_account_response::Event::OrderUpdate(
            gw::OrderUpdate {
                order: Some(venue_order.clone()),
                execution_type: "CALCULATED".into(),
            },
        )),
        ..gw::StreamAccountResponse::default()
    };
    let gateway = StubGateway::start().await;
    *gateway.history.account_events.lock().unwrap() = vec![liquidation.clone(), liquidation];
    let fee = gw::IncomeRecord {
        income_id: "9002".into(),
        kind: gw::IncomeKind::InsuranceClear as i32,
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        asset: "USDT".into(),
        amount: "-13".into(),
        time: fff_proto::convert::datetime_to_timestamp(Utc::now()),
        info: "INSURANCE_CLEAR".into(),
    };
    *gateway.history.income.lock().unwrap() = vec![fee];
    let cancel = CancellationToken::new();
    let ledger = tokio::spawn(run(
        Arc::clone(&rig.engine),
        gateway.client(),
        cancel.clone(),
    ));
    let closed = fff_testkit::wait_for(Duration::from_secs(10), || async {
        let charged = !rig
            .store
            .list_position_charges(position.id)
            .await
            .ok()?
            .is_empty();
        rig.store
            .get_position(position.id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state == fff_store::PositionState::Closed && charged)
    })
    .await;
    cancel.cancel();
    let _ = ledger.await;
    let closed = closed.expect("the position is closed and its clearance fee booked");
    let (pnl, _) = crate::pnl::position_pnl(&rig.store, &closed, None, Default::default())
        .await
        .unwrap();
    assert_eq!(pnl.liquidation_fees, dec!(-13));
    let without_fee = crate::pnl::Breakdown {
        liquidation_fees: Decimal::ZERO,
        ..pnl.clone()
    };
    assert_eq!(pnl.realized(), without_fee.realized() - dec!(13));
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let venue_orders: Vec<_> = orders
        .iter()
        .filter(|o| o.order_type == fff_store::OrderType::Liquidation)
        .collect();
    assert_eq!(venue_orders.len(), 1, "{orders:?}");
    let booked = venue_orders[0];
    assert_eq!(
        (booked.leg, booked.side, booked.status, booked.executed_qty),
        (
            fff_store::Leg::Perp,
            fff_store::Side::Buy,
            fff_store::OrderStatus::Filled,
            perp
        )
    );
    // no perp order of ours after it: the spot leg alone was sold, and the venue holds nothing
    assert!(
        !orders
            .iter()
            .any(|o| o.leg == fff_store::Leg::Perp && o.id > booked.id),
        "{orders:?}"
    );
    assert_eq!(
        rig.fake.with(|s| (s.spot["BTCUSDT"], s.perp["BTCUSDT"])),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert_eq!(
        (closed.spot_qty, closed.perp_qty),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert!(
        closed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("perp closed by the venue")),
        "{closed:?}"
    );
    // the same report again once a new hedge holds the symbol: it stays booked on the old one
    rig.fake.with(|s| {
        s.spot.remove("BTCUSDT");
        s.perp.remove("BTCUSDT");
    });
    let next = open_settled(&rig, Direction::PositiveCarry).await;
    assert_ne!(next.id, position.id);
    assert!(
        rig.engine
            .venue_closed_perp(&venue_order)
            .await
            .unwrap()
            .is_none()
    );
    let next_orders = rig.store.list_position_orders(next.id).await.unwrap();
    assert!(
        !next_orders
            .iter()
            .any(|o| o.order_type == fff_store::OrderType::Liquidation),
        "{next_orders:?}"
    );
    // the whole income history read again: the fee stays once, on the liquidated hedge
    let mut cursor = None;
    let kind = gw::IncomeKind::InsuranceClear;
    let booked = poll_income(&rig.engine, &gateway.client(), kind, &mut cursor).await;
    assert_eq!(booked.unwrap(), 0);
    let charges = rig.store.list_position_charges(position.id).await.unwrap();
    assert_eq!(
        charges
            .iter()
            .map(|c| (c.tran_id, c.amount))
            .collect::<Vec<_>>(),
        vec![(9002, dec!(-13))]
    );
    assert!(
        rig.store
            .list_position_charges(next.id)
            .await
            .unwrap()
            .is_empty()
    );
}

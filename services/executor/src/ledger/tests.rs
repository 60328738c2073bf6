//! Tests of [`super`].

use super::*;
use crate::engine::tests::{rig, settled};
use fff_core::Direction;
use fff_proto::fff::gateway::v1::gateway_client::GatewayClient;
use fff_runtime::telemetry::ClientInterceptor;
use rust_decimal_macros::dec;

#[tokio::test]
async fn fills_and_funding_are_booked_once() {
    let rig = rig().await;
    let position = rig
        .engine
        .open(
            "BTCUSDT",
            Direction::PositiveCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    let position = settled(&rig.store, position.id).await;
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

#[tokio::test]
async fn perp_held_at_a_settlement() {
    let rig = rig().await;
    let position = rig
        .engine
        .open(
            "BTCUSDT",
            Direction::PositiveCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    let position = settled(&rig.store, position.id).await;
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

#[test]
fn interest_ids_differ_per_asset_and_time() {
    let at = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap();
    assert_ne!(interest_tx_id("BTC", at), interest_tx_id("ETH", at));
    assert_ne!(
        interest_tx_id("BTC", at),
        interest_tx_id("BTC", at + chrono::Duration::milliseconds(1))
    );
    assert_eq!(interest_tx_id("BTC", at), interest_tx_id("BTC", at));
}

#[tokio::test]
async fn malformed_money_is_an_error_and_third_asset_fees_are_valued() {
    let rig = rig().await;
    let position = rig
        .engine
        .open(
            "BTCUSDT",
            Direction::PositiveCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    let position = settled(&rig.store, position.id).await;
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

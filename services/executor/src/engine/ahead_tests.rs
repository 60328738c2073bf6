//! The hedge's intent written with its perp's (issue 13, unhedged window): one commit before
//! the perp, none between its fill and the hedge, and nothing left behind when the hedge is
//! not sent.

use std::time::Duration;

use fff_core::{Direction, Venue};
use fff_store::{Leg, OrderStatus, PositionState};
use rust_decimal_macros::dec;

use super::orders::intent_for;
use super::tests::{open_settled, rig};
use crate::exchange::{OrderKind, OrderRequest};
use crate::ids::{Step, client_order_id};

#[tokio::test]
async fn the_hedge_intent_is_committed_with_the_perp_before_the_perp_is_sent() {
    let rig = rig().await;
    // half the perp fills: the hedge written for the whole slice is sent for the half
    rig.fake.with(|s| {
        s.partial.insert(Venue::UsdmPerp, dec!(0.5));
    });
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    let perp_id = client_order_id(position.id, Leg::Perp, Step::Entry(0));
    let hedge_id = client_order_id(position.id, Leg::Spot, Step::Hedge(0, 0));
    let perp = rig.store.get_order(&perp_id).await.unwrap().unwrap();
    let hedge = rig.store.get_order(&hedge_id).await.unwrap().unwrap();
    // PostgreSQL's now() is the transaction's start: equal only when written in one commit
    assert_eq!(perp.created_at, hedge.created_at);
    assert_eq!(perp.executed_qty, dec!(5));
    assert_eq!(hedge.status, OrderStatus::Filled);
    assert_eq!((hedge.qty, hedge.executed_qty), (dec!(5), dec!(5)));
    let sent = rig.fake.with(|s| s.orders.clone());
    assert_eq!(sent[1].client_order_id, hedge_id);
    assert_eq!(sent[1].qty, dec!(5));
    assert!(rig.store.list_unfinished_orders().await.unwrap().is_empty());
    assert_eq!(rig.engine.metrics().unhedged_window.len(), 1);
}

#[tokio::test]
async fn a_perp_slice_that_does_not_fill_closes_its_written_ahead_hedge() {
    let rig = rig().await;
    rig.fake.with(|s| s.reject_venue.push(Venue::UsdmPerp));
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Failed);
    let hedge_id = client_order_id(position.id, Leg::Spot, Step::Hedge(0, 0));
    let hedge = rig.store.get_order(&hedge_id).await.unwrap().unwrap();
    assert_eq!(hedge.status, OrderStatus::Expired);
    assert!(super::orders::was_never_sent(&hedge), "{hedge:?}");
    assert_eq!(rig.fake.order_count(Venue::SpotMargin), 0);
    assert!(rig.store.list_unfinished_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn reconciliation_leaves_a_held_hedge_intent_to_its_entry() {
    let rig = rig().await;
    let position = super::tests::bare_position(&rig.store).await;
    let hedge = OrderRequest {
        client_order_id: client_order_id(position.id, Leg::Spot, Step::Hedge(0, 0)),
        venue: Venue::SpotMargin,
        symbol: "BTCUSDT".into(),
        side: fff_core::Side::Buy,
        kind: OrderKind::Market,
        qty: dec!(10),
        reduce_only: false,
        side_effect: fff_store::SideEffect::NoSideEffect,
    };
    let claim = rig.engine.ahead.claim(&hedge.client_order_id);
    rig.store
        .insert_order_intents(&[intent_for(position.id, &hedge)])
        .await
        .unwrap();
    // an entry still about to send it: the sweep must not close it as never sent
    crate::reconcile::sweep_stale_orders(&rig.engine, Duration::ZERO)
        .await
        .unwrap();
    let row = rig
        .store
        .get_order(&hedge.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderStatus::Intent);
    // the entry gone without sending it (an error, a lost lease): the sweep settles it
    drop(claim);
    crate::reconcile::sweep_stale_orders(&rig.engine, Duration::ZERO)
        .await
        .unwrap();
    let row = rig
        .store
        .get_order(&hedge.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderStatus::Expired);
    assert_eq!(rig.fake.order_count(Venue::SpotMargin), 0);
}

//! Tests of [`super`].

use std::time::Duration;

use fff_core::Direction;
use fff_proto::fff::risk::v1::risk_client::RiskClient;
use fff_store::PositionState;
use fff_testkit::wait_until;
use rust_decimal_macros::dec;

use super::*;
use crate::engine::tests::{rig, settled};

/// Acks go to a closed port: they fail (and are logged), which is what a test needs.
fn risk_client() -> RiskClientT {
    RiskClient::with_interceptor(
        fff_runtime::grpc::channel("http://127.0.0.1:9").unwrap(),
        ClientInterceptor::default(),
    )
}

fn directive(kind: risk::DirectiveKind, fraction: &str) -> risk::Directive {
    risk::Directive {
        directive_id: "d1".into(),
        sequence: 1,
        kind: kind as i32,
        reduce_fraction: fraction.into(),
        reason: "test".into(),
        ..risk::Directive::default()
    }
}

async fn open_two(engine: &Arc<Engine>) -> Vec<Position> {
    let mut out = Vec::new();
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let p = engine
            .open(
                symbol,
                Direction::PositiveCarry,
                dec!(1000),
                None,
                Initiator::Operator,
                "t",
            )
            .await
            .unwrap();
        out.push(settled(engine.store(), p.id).await);
    }
    out
}

#[tokio::test]
async fn reduce_directive_cuts_every_position_once() {
    let rig = rig().await;
    let positions = open_two(&rig.engine).await;
    let reduce = directive(risk::DirectiveKind::Reduce, "0.25");
    apply_directive(
        &rig.engine,
        &risk_client(),
        reduce.clone(),
        false,
        dec!(0.5),
    )
    .await;
    let store = rig.store.clone();
    wait_until(Duration::from_secs(10), || async {
        let mut done = true;
        for p in &positions {
            let now = store.get_position(p.id).await.unwrap().unwrap();
            done &= now.perp_qty == dec!(7.5) && now.spot_qty == dec!(7.5);
        }
        done
    })
    .await
    .unwrap();
    // the same directive replayed after a reconnect is not applied twice
    apply_directive(&rig.engine, &risk_client(), reduce, true, dec!(0.5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = rig
        .store
        .get_position(positions[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.perp_qty, dec!(7.5));
}

#[tokio::test]
async fn close_all_halts_entries_and_flattens_everything_even_when_paused() {
    let rig = rig().await;
    let positions = open_two(&rig.engine).await;
    rig.engine.set_paused(true, "operator pause", "test");
    apply_directive(
        &rig.engine,
        &risk_client(),
        directive(risk::DirectiveKind::CloseAll, ""),
        false,
        dec!(0.5),
    )
    .await;
    let store = rig.store.clone();
    wait_until(Duration::from_secs(10), || async {
        let mut closed = true;
        for p in &positions {
            closed &=
                store.get_position(p.id).await.unwrap().unwrap().state == PositionState::Closed;
        }
        closed
    })
    .await
    .unwrap();
    assert!(rig.engine.run_state().entries_halted_by_risk);
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), dec!(0));
    // resume lifts the risk halt (the operator pause stays)
    apply_directive(
        &rig.engine,
        &risk_client(),
        directive(risk::DirectiveKind::Resume, ""),
        false,
        dec!(0.5),
    )
    .await;
    assert!(!rig.engine.run_state().entries_halted_by_risk);
    assert!(rig.engine.entry_block().unwrap().contains("paused"));
}

#[tokio::test]
async fn rebalancer_adjustment_trades_the_named_leg_at_most_to_neutral() {
    let rig = rig().await;
    let positions = open_two(&rig.engine).await;
    let id = positions[0].id;
    // the perp grew by 1 (say a partial exit elsewhere): spot must buy 1 to be neutral
    rig.engine
        .trade_leg(
            id,
            Direction::PositiveCarry,
            "BTCUSDT",
            Venue::UsdmPerp,
            Side::Sell,
            dec!(1),
        )
        .await
        .unwrap();
    let action = rb::Action {
        action_id: "a1".into(),
        kind: rb::ActionKind::AdjustSpot as i32,
        symbol: "BTCUSDT".into(),
        position_id: id.to_string(),
        venue: common::Venue::SpotMargin as i32,
        side: common::Side::Buy as i32,
        quantity: "2".into(),
        ..rb::Action::default()
    };
    apply_action(&rig.engine, action.clone()).await;
    let store = rig.store.clone();
    wait_until(Duration::from_secs(10), || async {
        store.get_position(id).await.unwrap().unwrap().spot_qty == dec!(11)
    })
    .await
    .unwrap();
    // the same action again (a second review before ours landed) trades nothing
    let spot_orders = rig.fake.order_count(Venue::SpotMargin);
    apply_action(&rig.engine, action).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.fake.order_count(Venue::SpotMargin), spot_orders);
    let open = rig.store.get_position(id).await.unwrap().unwrap();
    assert_eq!(open.state, PositionState::Open);
    assert_eq!((open.spot_qty, open.perp_qty), (dec!(11), dec!(11)));
}

//! Tests of [`super`].

use std::time::Duration;

use fff_core::Direction;
use fff_proto::convert::datetime_to_timestamp;
use fff_proto::fff::risk::v1::risk_client::RiskClient;
use fff_store::{Instrument, NewBorrowInterest, PositionState};
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

/// An `instruments` row with `hours` between funding settlements.
fn instrument_row(symbol: &str, hours: i32) -> Instrument {
    Instrument {
        symbol: symbol.into(),
        base_asset: symbol.trim_end_matches("USDT").into(),
        quote_asset: "USDT".into(),
        spot_tick_size: dec!(0.01),
        spot_step_size: dec!(0.001),
        spot_min_qty: dec!(0.001),
        spot_min_notional: dec!(5),
        perp_tick_size: dec!(0.01),
        perp_step_size: dec!(0.001),
        perp_min_qty: dec!(0.001),
        perp_min_notional: dec!(5),
        spot_trading_enabled: true,
        perp_trading_enabled: true,
        cross_margin_enabled: true,
        base_borrowable: true,
        funding_interval_hours: hours,
    }
}

#[tokio::test]
async fn close_all_exits_the_costliest_position_first() {
    let rig = rig().await;
    // opened in this order (funding 0: no sign check at entry)
    let mut positions = Vec::new();
    for (symbol, direction, notional) in [
        ("BTCUSDT", Direction::PositiveCarry, dec!(1000)),
        ("ETHUSDT", Direction::PositiveCarry, dec!(3000)),
        ("SOLUSDT", Direction::NegativeCarry, dec!(2000)),
    ] {
        let p = rig
            .engine
            .open(symbol, direction, notional, None, Initiator::Operator, "t")
            .await
            .unwrap();
        positions.push(settled(rig.engine.store(), p.id).await);
    }
    assert!(positions.iter().all(|p| p.state == PositionState::Open));
    // funding turns to -0.02 % per interval: the shorts pay, the long perp earns
    rig.fake.with(|s| s.funding_rate = dec!(-0.0002));
    // ETH settles hourly: -0.16 % per 8 h on 3000 = 4.8 lost per 8 h
    rig.store
        .upsert_instruments(&[instrument_row("ETHUSDT", 1)])
        .await
        .unwrap();
    // SOL's borrow costs 0.01 % an hour = 0.08 % per 8 h: 2000 x (0.08 % - 0.02 %) = 1.2
    rig.store
        .insert_borrow_interest(&NewBorrowInterest {
            tx_id: 1,
            asset: "SOL".into(),
            position_id: Some(positions[2].id),
            amount: dec!(0.002),
            amount_quote: dec!(0.2),
            interest_rate: Some(dec!(0.0001)),
            principal: Some(dec!(20)),
            interest_type: "PERIODIC".into(),
            charged_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    // BTC (interval unknown: the rate as it is): 1000 x 0.02 % = 0.2
    let before = rig.fake.with(|s| s.orders.len());
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
    // the exits run at once, so their orders interleave: the first order of each is in order
    let mut exits: Vec<String> = Vec::new();
    for symbol in rig.fake.with(|s| {
        s.orders[before..]
            .iter()
            .map(|o| o.symbol.clone())
            .collect::<Vec<_>>()
    }) {
        if !exits.contains(&symbol) {
            exits.push(symbol);
        }
    }
    assert_eq!(exits, vec!["ETHUSDT", "SOLUSDT", "BTCUSDT"]);
}

/// A close-all does not wait for one exit to end before the next starts: with the first
/// position's exit held up (its symbol busy), the others are closed meanwhile. Run one after
/// the other, a Red tier's later positions stayed open while the first exit checked its loan,
/// and the venue liquidated them.
#[tokio::test]
async fn close_all_does_not_wait_for_one_exit_before_the_next() {
    let rig = rig().await;
    let positions = open_two(&rig.engine).await;
    let first = in_exit_order(&rig.engine, positions.clone()).await[0].clone();
    let busy = rig.engine.lock_symbol(&first.symbol).await;
    apply_directive(
        &rig.engine,
        &risk_client(),
        directive(risk::DirectiveKind::CloseAll, ""),
        false,
        dec!(0.5),
    )
    .await;
    let store = rig.store.clone();
    let others: Vec<i64> = positions
        .iter()
        .filter(|p| p.id != first.id)
        .map(|p| p.id)
        .collect();
    wait_until(Duration::from_secs(10), || async {
        let mut closed = true;
        for id in &others {
            closed &=
                store.get_position(*id).await.unwrap().unwrap().state == PositionState::Closed;
        }
        closed
    })
    .await
    .expect("the other positions close while the first exit waits");
    assert_ne!(
        store.get_position(first.id).await.unwrap().unwrap().state,
        PositionState::Closed
    );
    drop(busy);
    wait_until(Duration::from_secs(10), || async {
        store.get_position(first.id).await.unwrap().unwrap().state == PositionState::Closed
    })
    .await
    .expect("the first position closes once its symbol is free");
}

fn action(id: &str, priority: rb::ActionPriority) -> rb::Action {
    rb::Action {
        action_id: id.into(),
        priority: priority as i32,
        ..rb::Action::default()
    }
}

#[test]
fn actions_are_served_highest_priority_first_in_arrival_order() {
    use rb::ActionPriority::{Critical, High, Low, Normal, Unspecified};
    let batch = vec![
        action("normal-1", Normal),
        action("critical", Critical),
        action("unset", Unspecified),
        action("high-1", High),
        action("low", Low),
        action("high-2", High),
        action("normal-2", Normal),
    ];
    let ids: Vec<String> = by_priority(batch)
        .into_iter()
        .map(|a| a.action_id)
        .collect();
    assert_eq!(
        ids,
        vec![
            "critical", "high-1", "high-2", "normal-1", "unset", "normal-2", "low"
        ]
    );
}

#[tokio::test]
async fn an_expired_action_is_skipped() {
    let rig = rig().await;
    let positions = open_two(&rig.engine).await;
    let now = chrono::Utc::now();
    let close = |position: &Position, expires| rb::Action {
        action_id: format!("close-{}", position.symbol),
        kind: rb::ActionKind::Close as i32,
        symbol: position.symbol.clone(),
        position_id: position.id.to_string(),
        priority: rb::ActionPriority::High as i32,
        expires_at: datetime_to_timestamp(expires),
        ..rb::Action::default()
    };
    apply_actions(
        &rig.engine,
        vec![
            close(&positions[0], now - chrono::Duration::seconds(1)),
            close(&positions[1], now + chrono::Duration::seconds(60)),
        ],
        now,
    )
    .await;
    let closed = settled(rig.engine.store(), positions[1].id).await;
    assert_eq!(closed.state, PositionState::Closed);
    let kept = rig
        .store
        .get_position(positions[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.state, PositionState::Open);
}

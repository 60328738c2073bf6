//! Spot legs and loans are reconciled like perps, and a mismatch blocks entries on its symbol.

use fff_core::Direction;
use fff_proto::fff::executor::v1::Initiator;
use fff_store::PositionState;
use rust_decimal_macros::dec;

use super::*;
use crate::engine::Urgency;
use crate::engine::tests::{book_spot_buys, open_settled, rig, settled};

#[tokio::test]
async fn a_missing_spot_leg_or_a_forgotten_loan_is_a_mismatch_that_blocks_entries() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    assert!(recheck(&rig.engine).await.unwrap().is_empty());
    // quiet since before the next look (a symbol just traded is judged on a later one)
    tokio::time::sleep(ACCOUNT_SETTLE).await;

    // the spot leg vanished at the venue, and a SOL loan nobody owes is left behind
    rig.fake.with(|s| {
        s.spot.insert("BTCUSDT".into(), dec!(0));
        s.spot.insert("SOLUSDT".into(), dec!(-3));
    });
    let mismatches = recheck(&rig.engine).await.unwrap();
    assert!(
        mismatches.iter().any(|m| m.starts_with("BTCUSDT spot")),
        "{mismatches:?}"
    );
    assert!(
        mismatches.iter().any(|m| m.starts_with("SOLUSDT loan")),
        "{mismatches:?}"
    );
    // no new entry on those symbols; other symbols still trade
    let refused = rig
        .engine
        .open(
            "SOLUSDT",
            Direction::NegativeCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("differ"), "{refused}");
    assert!(rig.engine.symbol_block("ETHUSDT").is_none());
    // GetStatus (and so `fff status`) shows them
    let status = crate::service::convert::run_state(&rig.engine, &rig.engine.run_state(), 1);
    assert_eq!(status.reconciliation_mismatches, mismatches);
    assert_eq!(
        status.entries_blocked_symbols,
        vec!["BTCUSDT".to_owned(), "SOLUSDT".to_owned()]
    );
    // exits stay allowed
    rig.engine
        .close(&position, Urgency::Immediate, Initiator::Operator, "t")
        .await
        .unwrap();
    // once the venue agrees again the block lifts
    rig.fake.with(|s| {
        s.spot.remove("SOLUSDT");
    });
    let _ = settled(&rig.store, position.id).await;
    let left = recheck(&rig.engine).await.unwrap();
    assert!(!left.iter().any(|m| m.starts_with("SOLUSDT")), "{left:?}");
    assert!(rig.engine.symbol_block("SOLUSDT").is_none());
}

#[tokio::test]
async fn a_symbol_traded_during_the_look_is_judged_on_a_later_one() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    assert!(recheck(&rig.engine).await.unwrap().is_empty());
    // an exit is filling (the symbol's lock is held) and the account view already differs
    // from the books: no verdict on this look
    let working = rig.engine.lock_symbol(&position.symbol).await;
    rig.fake.with(|s| {
        s.spot.insert("BTCUSDT".into(), dec!(0));
    });
    assert!(recheck(&rig.engine).await.unwrap().is_empty());
    assert!(rig.engine.symbol_block("BTCUSDT").is_none());
    // quiet since before the look, the difference stands
    drop(working);
    tokio::time::sleep(ACCOUNT_SETTLE + Duration::from_millis(100)).await;
    let mismatches = recheck(&rig.engine).await.unwrap();
    assert!(
        mismatches.iter().any(|m| m.starts_with("BTCUSDT spot")),
        "{mismatches:?}"
    );
    // and a look while it trades again keeps the block it found
    let _working = rig.engine.lock_symbol(&position.symbol).await;
    let kept = recheck(&rig.engine).await.unwrap();
    assert_eq!(kept, mismatches);
    assert!(rig.engine.symbol_block("BTCUSDT").is_some());
}

#[test]
fn coin_no_order_could_trade_is_not_a_spot_mismatch() {
    // a loan-shortfall buy's headroom left 0.00627 SOL (about 0.9 USDT, under the 5 USDT
    // minimum notional at 150: 0.0333 SOL); the books' leg is 0
    let tight = SPOT_TOLERANCE;
    assert!(!spot_differs(
        dec!(0),
        dec!(0.00627211),
        tight,
        dec!(0.0333)
    ));
    assert!(!spot_differs(dec!(0), dec!(-0.0333), tight, dec!(0.0333)));
    assert!(spot_differs(dec!(0), dec!(0.034), tight, dec!(0.0333)));
    // booked charges known: 0.1 % of the larger side; some not booked yet: 2 %
    assert!(!spot_differs(dec!(100), dec!(99.95), tight, dec!(0.001)));
    assert!(spot_differs(dec!(100), dec!(99.8), tight, dec!(0.001)));
    let loose = SPOT_TOLERANCE_UNBOOKED;
    assert!(!spot_differs(dec!(100), dec!(98.5), loose, dec!(0.001)));
    assert!(spot_differs(dec!(100), dec!(97), loose, dec!(0.001)));
    // no step known: only the relative tolerance
    assert!(spot_differs(dec!(0), dec!(0.00062), tight, dec!(0)));
    assert!(!spot_differs(dec!(0), dec!(0), tight, dec!(0)));
}

#[test]
fn commission_and_interest_in_the_coin_lower_the_net_holding_the_books_expect() {
    let mut long = BookedSpot::new("BTCUSDT");
    long.leg = dec!(10);
    long.charged = dec!(0.01);
    assert_eq!(long.expected(), (dec!(9.99), SPOT_TOLERANCE));
    // a short owes its interest and the coin its buy-backs paid as commission
    let mut short = BookedSpot::new("SOLUSDT");
    short.leg = dec!(-50);
    short.charged = dec!(0.02) + dec!(0.003);
    short.unbooked = true;
    assert_eq!(short.expected(), (dec!(-50.023), SPOT_TOLERANCE_UNBOOKED));
}

/// Commission paid in the coin piles up in a long-lived hedge that is cut and bought back
/// often (bench: 45 tier rounds took DOGE 2.7 % below the books). The reconciliation takes
/// the booked commission off the books' leg, so that is no mismatch, and it judges what is
/// left with a 0.1 % tolerance, so a real shortfall of one percent is one.
#[tokio::test]
async fn commission_paid_in_the_coin_is_no_spot_mismatch_but_a_real_shortfall_is() {
    let rig = rig().await;
    // as much commission as many buy-backs would have paid
    rig.fake.with(|s| s.base_fee_rate = dec!(0.03));
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    assert_eq!(rig.fake.with(|s| s.spot["BTCUSDT"]), dec!(9.7));
    book_spot_buys(&rig, position.id, dec!(0.03)).await;
    tokio::time::sleep(ACCOUNT_SETTLE).await;
    let clean = recheck(&rig.engine).await.unwrap();
    assert!(clean.is_empty(), "{clean:?}");

    // one percent more gone at the venue than the books explain (above the 0.05 BTC that
    // no order could trade at the 5 USDT minimum)
    rig.fake.with(|s| {
        s.spot.insert("BTCUSDT".into(), dec!(9.6));
    });
    let mismatches = recheck(&rig.engine).await.unwrap();
    assert!(
        mismatches
            .iter()
            .any(|m| m.starts_with("BTCUSDT spot") && m.contains("= 9.70")),
        "{mismatches:?}"
    );
    assert!(rig.engine.symbol_block("BTCUSDT").is_some());
}

/// An entry interrupted after its perp filled, whose hedge is rejected again at restart: the
/// repair unwinds the perp (bounded) instead of leaving it naked or calling it repaired.
#[tokio::test]
async fn a_hedge_that_keeps_failing_at_restart_unwinds_the_perp() {
    let rig = rig().await;
    let position = crate::engine::tests::bare_position(&rig.store).await;
    rig.engine
        .trade_leg(
            position.id,
            Direction::PositiveCarry,
            "BTCUSDT",
            fff_core::Venue::UsdmPerp,
            fff_core::Side::Sell,
            dec!(10),
        )
        .await
        .unwrap();
    rig.fake
        .with(|s| s.reject_venue.push(fff_core::Venue::SpotMargin));
    let report = reconcile(&rig.engine).await.unwrap();
    assert_eq!(report.positions_repaired, 0, "{}", report.summary());
    assert_eq!(report.positions_failed, 1, "{}", report.summary());
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), dec!(0));
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!(after.state, PositionState::Failed);
    // bounded: three hedge attempts, then the unwind
    assert_eq!(rig.fake.order_count(fff_core::Venue::SpotMargin), 3);
}

/// A risk cut interrupted after its perp leg: the repair cuts the spot leg to match instead
/// of growing the perp back to what risk took away.
#[tokio::test]
async fn a_repair_never_regrows_a_leg_that_risk_reduced() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::PositiveCarry).await;
    assert_eq!((position.spot_qty, position.perp_qty), (dec!(10), dec!(10)));
    // risk's reduction: the perp half went out, then the process died
    let cut = crate::exchange::OrderRequest {
        client_order_id: crate::ids::client_order_id(
            position.id,
            fff_store::Leg::Perp,
            crate::ids::Step::Reduce(0),
        ),
        venue: fff_core::Venue::UsdmPerp,
        symbol: "BTCUSDT".into(),
        side: fff_core::Side::Buy,
        kind: crate::exchange::OrderKind::Market,
        qty: dec!(5),
        reduce_only: true,
        side_effect: fff_store::SideEffect::NoSideEffect,
    };
    rig.engine.execute(position.id, cut).await.unwrap();
    let report = reconcile(&rig.engine).await.unwrap();
    assert_eq!(report.positions_repaired, 1, "{}", report.summary());
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!((after.spot_qty, after.perp_qty), (dec!(5), dec!(5)));
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), dec!(-5));
}

/// Closing a short spot leg: the buy-back pays its commission in the coin, so it leaves a
/// sliver of the loan owed; the exit buys the shortfall and no loan is forgotten.
#[tokio::test]
async fn a_closed_short_leaves_no_loan_behind() {
    let rig = rig().await;
    let position = open_settled(&rig, Direction::NegativeCarry).await;
    rig.fake.with(|s| s.base_fee_rate = dec!(0.001));
    rig.engine
        .close(&position, Urgency::Immediate, Initiator::Operator, "t")
        .await
        .unwrap();
    let closed = settled(&rig.store, position.id).await;
    assert_eq!(closed.state, PositionState::Closed, "{closed:?}");
    let account = rig.engine.exchange.account().await.unwrap();
    let btc = account.margin.get("BTC").cloned().unwrap_or_default();
    assert_eq!(btc.borrowed, dec!(0), "loan left: {btc:?}");
    assert!(recheck(&rig.engine).await.unwrap().is_empty());
}

/// At restart an intent the gateway still answers PENDING for (it got a 429/418, or holds
/// the order in its queue) while the venue never saw it: the cancel finds no such order, so
/// the intent is closed as never sent. It used to fail the whole reconciliation, retried
/// every few seconds, with entries and exit resumption waiting on it.
#[tokio::test]
async fn an_intent_the_gateway_calls_pending_and_the_venue_never_saw_is_closed_at_restart() {
    let rig = rig().await;
    let position = crate::engine::tests::bare_position(&rig.store).await;
    let id = crate::ids::client_order_id(
        position.id,
        fff_store::Leg::Perp,
        crate::ids::Step::Entry(0),
    );
    rig.store
        .insert_order_intent(&fff_store::OrderIntent {
            client_order_id: id.clone(),
            position_id: Some(position.id),
            venue: fff_store::Venue::Usdm,
            leg: fff_store::Leg::Perp,
            symbol: "BTCUSDT".into(),
            side: fff_store::Side::Sell,
            order_type: fff_store::OrderType::Market,
            time_in_force: None,
            qty: dec!(10),
            price: None,
            reduce_only: false,
            side_effect: fff_store::SideEffect::NoSideEffect,
        })
        .await
        .unwrap();
    rig.fake.with(|s| {
        s.gateway_pending.insert(id.clone());
    });
    let report = reconcile(&rig.engine).await.unwrap();
    assert_eq!(report.orders_never_sent, 1, "{}", report.summary());
    let row = rig.store.get_order(&id).await.unwrap().unwrap();
    assert_eq!(row.status, fff_store::OrderStatus::Expired);
    assert!(row.executed_qty.is_zero());

    // the same, but the request was only delayed (the executor died with it in flight) and
    // reaches the venue a moment after the cancel found nothing: it is recorded as filled,
    // never closed as never sent (that would orphan its fill)
    let late = crate::ids::client_order_id(
        position.id,
        fff_store::Leg::Perp,
        crate::ids::Step::Entry(1),
    );
    rig.store
        .insert_order_intent(&fff_store::OrderIntent {
            client_order_id: late.clone(),
            position_id: Some(position.id),
            venue: fff_store::Venue::Usdm,
            leg: fff_store::Leg::Perp,
            symbol: "BTCUSDT".into(),
            side: fff_store::Side::Sell,
            order_type: fff_store::OrderType::Market,
            time_in_force: None,
            qty: dec!(10),
            price: None,
            reduce_only: false,
            side_effect: fff_store::SideEffect::NoSideEffect,
        })
        .await
        .unwrap();
    rig.fake.with(|s| {
        s.gateway_pending.insert(late.clone());
        s.lands_after = Some((late.clone(), 2, dec!(10)));
    });
    reconcile(&rig.engine).await.unwrap();
    let row = rig.store.get_order(&late).await.unwrap().unwrap();
    assert_eq!(row.status, fff_store::OrderStatus::Filled, "{row:?}");
    assert_eq!(row.executed_qty, dec!(10));
}

/// The comparison reads an account snapshot that includes every account stream event the
/// ledger has seen (the gateway re-reads the venue for it): a cached snapshot taken before
/// fills the books hold would differ by them, now that the spot tolerance is 0.1 %.
#[tokio::test]
async fn the_comparison_reads_the_account_as_of_the_events_the_ledger_has_seen() {
    let rig = rig().await;
    rig.engine.saw_account_event(41);
    rig.engine.saw_account_event(42);
    rig.engine.saw_account_event(7);
    assert!(recheck(&rig.engine).await.unwrap().is_empty());
    assert_eq!(rig.fake.with(|s| s.account_sequences.clone()), vec![42]);
}

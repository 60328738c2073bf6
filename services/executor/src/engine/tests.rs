//! Engine behaviour against a real PostgreSQL (fff-testkit) and the scripted fake exchange.

use std::sync::Arc;
use std::time::Duration;

use fff_core::{CapitalParams, Direction, ExecutionParams, Venue};
use fff_proto::fff::executor::v1::Initiator;
use fff_store::{Leg, OrderStatus, Position, PositionState, Store};
use fff_testkit::{TestDb, test_database, wait_for};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{Engine, EngineParams, Urgency};
use crate::exchange::fake::FakeExchange;
use crate::exchange::{Exchange, OrderKind, OrderRequest};
use crate::ids::{Step, client_order_id};
use crate::legs::{SignedLegs, core_direction};

pub(crate) struct Rig {
    pub engine: Arc<Engine>,
    pub fake: Arc<FakeExchange>,
    pub store: Store,
    _db: TestDb,
}

pub(crate) async fn rig() -> Rig {
    rig_with(ExecutionParams {
        hedge_retry_delay_ms: 1,
        twap_slice_interval_ms: 1,
        exit_limit_timeout_ms: 200,
        ..ExecutionParams::default()
    })
    .await
}

pub(crate) async fn rig_with(execution: ExecutionParams) -> Rig {
    let db = test_database().await.unwrap();
    let store = Store::connect(db.url(), 4).await.unwrap();
    store.migrate().await.unwrap();
    let fake = Arc::new(FakeExchange::new(dec!(100), dec!(100000)));
    let mut params =
        EngineParams::from_config(CapitalParams::default(), execution, &Default::default())
            .unwrap();
    params.order_timeout = Duration::from_millis(300);
    let exchange: Arc<dyn Exchange> = fake.clone();
    let engine = Engine::new(store.clone(), exchange, params);
    engine.mark_reconciled();
    Rig {
        engine,
        fake,
        store,
        _db: db,
    }
}

/// An operator's 1 000 USDT BTCUSDT hedge in `direction`, opened and waited for until settled.
pub(crate) async fn open_settled(rig: &Rig, direction: Direction) -> Position {
    let position = rig
        .engine
        .open(
            "BTCUSDT",
            direction,
            dec!(1000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    settled(&rig.store, position.id).await
}

pub(crate) async fn settled(store: &Store, id: i64) -> Position {
    wait_for(Duration::from_secs(10), || async {
        store
            .get_position(id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state != PositionState::Opening && p.state != PositionState::Closing)
    })
    .await
    .unwrap()
}

/// Books every spot buy's fill of the position with `rate` commission paid in BTC, as the
/// ledger does from the venue's trades.
pub(crate) async fn book_spot_buys(rig: &Rig, id: i64, rate: Decimal) {
    for order in rig.store.list_position_orders(id).await.unwrap() {
        if order.leg != fff_store::Leg::Spot
            || order.side != fff_store::Side::Buy
            || order.executed_qty.is_zero()
        {
            continue;
        }
        rig.store
            .insert_fill(&fff_store::NewFill {
                order_id: order.id,
                venue: fff_store::Venue::Margin,
                symbol: order.symbol.clone(),
                trade_id: order.id,
                side: order.side,
                qty: order.executed_qty,
                price: dec!(100),
                fee: order.executed_qty * rate,
                fee_asset: "BTC".into(),
                fee_quote: order.executed_qty * rate * dec!(100),
                is_maker: false,
                traded_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
    }
}

/// A 1 000 USDT BTCUSDT positive-carry position row with no orders: the state a crash leaves
/// when an entry had only just begun.
pub(crate) async fn bare_position(store: &Store) -> Position {
    store
        .create_position(&fff_store::NewPosition {
            symbol: "BTCUSDT".into(),
            direction: fff_store::Direction::LongSpotShortPerp,
            target_notional: dec!(1000),
            leverage: 5,
        })
        .await
        .unwrap()
}

async fn open(rig: &Rig, notional: Decimal, direction: Direction) -> Position {
    let position = rig
        .engine
        .open(
            "BTCUSDT",
            direction,
            notional,
            None,
            Initiator::Operator,
            "test",
        )
        .await
        .unwrap();
    settled(&rig.store, position.id).await
}

async fn legs(rig: &Rig, position: &Position) -> SignedLegs {
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    SignedLegs::from_orders(core_direction(position.direction), &orders)
}

#[tokio::test]
async fn entry_hedges_perp_fill_with_spot() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    assert_eq!(position.perp_qty, dec!(10));
    assert_eq!(position.spot_qty, dec!(10));
    let legs = legs(&rig, &position).await;
    assert_eq!((legs.spot, legs.perp), (dec!(10), dec!(-10)));
    // futures first, then the hedge; one order each; both FILLED in the database
    let sent = rig.fake.with(|s| s.orders.clone());
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].venue, Venue::UsdmPerp);
    assert_eq!(sent[1].venue, Venue::SpotMargin);
    // the long spot leg is paid in cash: no USDT borrowing
    assert_eq!(sent[1].side_effect, fff_store::SideEffect::NoSideEffect);
    for order in rig.store.list_position_orders(position.id).await.unwrap() {
        assert_eq!(order.status, OrderStatus::Filled);
    }
    assert_eq!(rig.engine.metrics().unhedged_window.len(), 1);
}

#[tokio::test]
async fn negative_carry_borrows_the_spot_leg() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::NegativeCarry).await;
    assert_eq!(position.state, PositionState::Open);
    let sent = rig.fake.with(|s| s.orders.clone());
    assert_eq!(sent[0].side, fff_core::Side::Buy);
    assert_eq!(sent[1].side, fff_core::Side::Sell);
    assert_eq!(sent[1].side_effect, fff_store::SideEffect::MarginBuy);
    let legs = legs(&rig, &position).await;
    assert_eq!((legs.spot, legs.perp), (dec!(-10), dec!(10)));
}

#[tokio::test]
async fn an_entry_without_the_cash_for_its_spot_leg_sends_nothing_and_cools_down() {
    let rig = rig().await;
    // 500 USDT in cross margin for a 1000 USDT spot buy; nothing to transfer from elsewhere
    rig.fake.with(|s| {
        s.usdt_free = dec!(500);
        s.wallets.margin_net_equity = dec!(500);
        s.wallets.futures_margin_balance = dec!(300);
        s.wallets.futures_available = dec!(300);
        s.wallets.futures_max_withdraw = dec!(0);
    });
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Failed);
    assert!(
        position
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("spot leg needs"),
        "{position:?}"
    );
    assert_eq!(rig.fake.with(|s| s.orders.len()), 0);
    assert!(
        rig.engine
            .cooldowns
            .remaining("BTCUSDT", std::time::Instant::now())
            .is_some()
    );
}

#[tokio::test]
async fn a_short_side_of_the_account_is_funded_by_transfer_before_the_entry() {
    let rig = rig().await;
    // cross margin is empty, the futures wallet holds everything
    rig.fake.with(|s| {
        s.usdt_free = dec!(0);
        s.wallets.margin_net_equity = dec!(0);
        s.wallets.futures_margin_balance = dec!(100000);
        s.wallets.futures_max_withdraw = dec!(100000);
    });
    let funded = rig
        .engine
        .fund_wallets(
            rig.engine
                .params
                .model
                .hedge_capital(dec!(1000), Direction::PositiveCarry)
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(funded.from, fff_core::WalletSide::Futures);
    let transfers = rig.fake.with(|s| s.transfers.clone());
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].2, crate::exchange::Wallet::UsdmFutures);
    assert_eq!(transfers[0].3, crate::exchange::Wallet::CrossMargin);
    // 1000 of cash + its share of the free equity
    assert!(transfers[0].1 > dec!(1000));
}

#[tokio::test]
async fn the_pairs_of_one_snapshot_are_funded_by_one_transfer_for_them_all() {
    let rig = rig().await;
    rig.fake.with(|s| {
        s.usdt_free = dec!(0);
        s.wallets.margin_net_equity = dec!(0);
        s.wallets.futures_margin_balance = dec!(100000);
        s.wallets.futures_max_withdraw = dec!(100000);
    });
    let pair = |symbol: &str| {
        (
            fff_core::Symbol::parse(symbol).unwrap(),
            Direction::PositiveCarry,
            dec!(1000),
        )
    };
    let (btc, eth) = (pair("BTCUSDT"), pair("ETHUSDT"));
    let funding = crate::strategy::batch_funding(&rig.engine, &[&btc, &eth]).await;
    // money moved: each entry reads the account again
    assert!(matches!(funding, super::Funding::Done(None)), "{funding:?}");
    let transfers = rig.fake.with(|s| s.transfers.clone());
    assert_eq!(transfers.len(), 1);
    // both spot legs' cash (and a share of the free equity) in one move
    assert!(transfers[0].1 > dec!(2000), "{transfers:?}");
    assert_eq!(
        rig.fake.with(|s| s.orders.len()),
        0,
        "funding sends no order"
    );
    // nothing to fund: each entry checks for itself
    assert!(matches!(
        crate::strategy::batch_funding(&rig.engine, &[]).await,
        super::Funding::Check
    ));
}

#[tokio::test]
async fn an_entry_whose_funding_turned_is_refused_before_the_perp() {
    let rig = rig().await;
    rig.fake.with(|s| s.funding_rate = dec!(-0.0002));
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Failed);
    assert_eq!(rig.fake.with(|s| s.orders.len()), 0);
}

#[tokio::test]
async fn a_short_that_cannot_be_borrowed_is_refused_before_the_perp() {
    let rig = rig().await;
    rig.fake.with(|s| s.max_borrowable = Some(dec!(3)));
    let position = open(&rig, dec!(1000), Direction::NegativeCarry).await;
    assert_eq!(position.state, PositionState::Failed);
    assert!(
        position
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("lends")
    );
    assert_eq!(rig.fake.with(|s| s.orders.len()), 0);
}

#[tokio::test]
async fn a_top_up_continues_the_slice_numbering_and_grows_both_legs() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    rig.engine.top_up(position.id, dec!(1500));
    let grown = wait_for(Duration::from_secs(10), || async {
        rig.store
            .get_position(position.id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.perp_qty == dec!(15))
    })
    .await
    .unwrap();
    assert_eq!(grown.state, PositionState::Open);
    assert_eq!(grown.spot_qty, dec!(15));
    let ids: Vec<String> = rig
        .fake
        .with(|s| s.orders.iter().map(|o| o.client_order_id.clone()).collect());
    assert!(
        ids.contains(&client_order_id(position.id, Leg::Perp, Step::Entry(1))),
        "{ids:?}"
    );
}

#[tokio::test]
async fn a_top_up_sends_nothing_while_a_close_all_runs() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    let sent = rig.fake.with(|s| s.orders.len());
    // a close-all whose exits are staggered: this hedge's exit has not started yet, and a
    // RESUME (the account out of Red) does not lift the block
    rig.engine
        .close_alls
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    rig.engine.set_risk_halt(false, "margin recovered");
    assert_eq!(
        rig.engine.entry_block().as_deref(),
        Some("a close-all is running")
    );
    rig.engine.top_up(position.id, dec!(1500));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.fake.with(|s| s.orders.len()), sent);
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!((after.perp_qty, after.spot_qty), (dec!(10), dec!(10)));
    rig.engine
        .close_alls
        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(rig.engine.entry_block(), None);
}

#[tokio::test]
async fn top_ups_planned_while_one_runs_do_not_add_their_part_again() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    // three strategy ticks planned the same top-up before the first one grew the legs
    for _ in 0..3 {
        rig.engine.top_up(position.id, dec!(1500));
    }
    wait_for(Duration::from_secs(10), || async {
        rig.store
            .get_position(position.id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.perp_qty == dec!(15))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!((after.perp_qty, after.spot_qty), (dec!(15), dec!(15)));
    assert_eq!(
        rig.fake.with(|s| s.perp.get("BTCUSDT").copied()),
        Some(dec!(-15))
    );
}

#[tokio::test]
async fn failed_hedge_unwinds_the_perp() {
    let rig = rig().await;
    rig.fake.with(|s| s.reject_venue.push(Venue::SpotMargin));
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Failed);
    assert_eq!(
        rig.fake.with(|s| s.perp.get("BTCUSDT").copied()),
        Some(dec!(0))
    );
    let retries = ExecutionParams::default().hedge_max_retries as usize;
    assert_eq!(rig.fake.order_count(Venue::SpotMargin), retries + 1);
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    let unwind = orders
        .iter()
        .find(|o| o.client_order_id == client_order_id(position.id, Leg::Perp, Step::Unwind(0, 0)))
        .unwrap();
    assert!(unwind.reduce_only);
    assert_eq!(unwind.executed_qty, dec!(10));
    assert_eq!(rig.engine.metrics().unwind_window.len(), 1);
}

/// An entry that ends in an error (here an unwind that could not close the whole naked perp)
/// still leaves the position's legs equal to what its orders executed, not to their value
/// before the entry.
#[tokio::test]
async fn an_entry_ending_in_an_error_records_the_legs_its_orders_left() {
    let rig = rig().await;
    rig.fake.with(|s| {
        s.reject_venue.push(Venue::SpotMargin);
        s.partial.insert(Venue::UsdmPerp, dec!(0.5));
    });
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    let legs = legs(&rig, &position).await;
    assert!(legs.perp < Decimal::ZERO, "{legs:?}");
    assert_eq!(position.state, PositionState::Open);
    assert!(
        position
            .last_error
            .as_deref()
            .is_some_and(|n| n.starts_with("broken: entry interrupted")),
        "{position:?}"
    );
    assert_eq!(
        (position.perp_qty, position.spot_qty),
        (legs.perp.abs(), Decimal::ZERO)
    );
}

#[tokio::test]
async fn partial_spot_fills_are_retried_until_hedged() {
    let rig = rig().await;
    rig.fake.with(|s| {
        s.partial.insert(Venue::SpotMargin, dec!(0.5));
    });
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    let legs = legs(&rig, &position).await;
    // 5 + 2.5 + 1.25 + 0.625: the retries close the gap to within the entry drift limit
    assert!(legs.drift() < dec!(0.05), "drift {}", legs.drift());
}

#[tokio::test]
async fn large_entries_are_sliced_and_each_slice_hedged() {
    let rig = rig().await;
    let position = open(&rig, dec!(60000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    let venues: Vec<Venue> = rig
        .fake
        .with(|s| s.orders.iter().map(|o| o.venue).collect());
    assert_eq!(venues.len(), 12, "{venues:?}");
    for pair in venues.chunks(2) {
        assert_eq!(pair, [Venue::UsdmPerp, Venue::SpotMargin]);
    }
    assert_eq!(position.perp_qty, dec!(600));
}

#[tokio::test]
async fn close_flattens_both_legs() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.engine
        .close(&position, Urgency::Normal, Initiator::Operator, "test")
        .await
        .unwrap();
    let closed = settled(&rig.store, position.id).await;
    assert_eq!(closed.state, PositionState::Closed);
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), dec!(0));
    assert_eq!(rig.fake.with(|s| s.spot["BTCUSDT"]), dec!(0));
    let exit = rig.fake.with(|s| s.orders[2].clone());
    assert!(matches!(exit.kind, OrderKind::LimitIoc(_)));
    assert!(exit.reduce_only);
}

#[tokio::test]
async fn flip_reopens_the_opposite_direction() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.engine
        .flip(&position, Initiator::Rebalancer, "funding reversed")
        .await
        .unwrap();
    let flipped = wait_for(Duration::from_secs(10), || async {
        rig.store
            .live_position("BTCUSDT")
            .await
            .ok()
            .flatten()
            .filter(|p| p.id != position.id && p.state == PositionState::Open)
    })
    .await
    .unwrap();
    assert_eq!(flipped.direction, fff_store::Direction::ShortSpotLongPerp);
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), dec!(10));
}

#[tokio::test]
async fn lost_answer_is_resolved_without_a_second_order() {
    let rig = rig().await;
    rig.fake.with(|s| s.lose_answers = 1);
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    assert_eq!(rig.fake.order_count(Venue::UsdmPerp), 1);
}

#[tokio::test]
async fn reduce_cuts_both_legs() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.engine
        .reduce(&position, dec!(0.25), Initiator::Risk, "orange")
        .await
        .unwrap();
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!(after.state, PositionState::Open);
    assert_eq!((after.perp_qty, after.spot_qty), (dec!(7.5), dec!(7.5)));
}

#[tokio::test]
async fn paused_engine_refuses_entries() {
    let rig = rig().await;
    rig.engine.set_paused(true, "maintenance", "test");
    let refused = rig
        .engine
        .open(
            "BTCUSDT",
            Direction::PositiveCarry,
            dec!(1000),
            None,
            Initiator::Operator,
            "x",
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("paused"), "{refused}");
    assert!(rig.fake.with(|s| s.orders.is_empty()));
}

/// A crash after the perp filled but before the hedge was sent: the perp intent is still
/// INTENT in the database while the exchange filled it.
#[tokio::test]
async fn reconciliation_hedges_a_naked_perp_without_duplicates() {
    let rig = rig().await;
    let position = bare_position(&rig.store).await;
    let perp = OrderRequest {
        client_order_id: client_order_id(position.id, Leg::Perp, Step::Entry(0)),
        venue: Venue::UsdmPerp,
        symbol: "BTCUSDT".into(),
        side: fff_core::Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(10),
        reduce_only: false,
        side_effect: fff_store::SideEffect::NoSideEffect,
    };
    rig.store
        .insert_order_intent(&super::orders::intent_for(position.id, &perp))
        .await
        .unwrap();
    rig.fake.place_order(&perp).await.unwrap();
    // and a hedge intent that never left the process
    let hedge = OrderRequest {
        client_order_id: client_order_id(position.id, Leg::Spot, Step::Hedge(0, 0)),
        venue: Venue::SpotMargin,
        side: fff_core::Side::Buy,
        ..perp.clone()
    };
    rig.store
        .insert_order_intent(&super::orders::intent_for(position.id, &hedge))
        .await
        .unwrap();

    let report = crate::reconcile::reconcile(&rig.engine).await.unwrap();
    assert_eq!(report.orders_checked, 2);
    assert_eq!(report.orders_updated, 1);
    assert_eq!(report.orders_never_sent, 1);
    assert_eq!(report.positions_repaired, 1);
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);

    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!(after.state, PositionState::Open);
    assert_eq!((after.perp_qty, after.spot_qty), (dec!(10), dec!(10)));
    assert_eq!(
        rig.fake.order_count(Venue::UsdmPerp),
        1,
        "no duplicate perp order"
    );
    assert_eq!(rig.fake.with(|s| s.spot["BTCUSDT"]), dec!(10));
    assert!(rig.store.list_unfinished_orders().await.unwrap().is_empty());
    // a second pass finds nothing to do
    let again = crate::reconcile::reconcile(&rig.engine).await.unwrap();
    assert_eq!((again.orders_checked, again.positions_repaired), (0, 0));
}

#[tokio::test]
async fn reconciliation_fails_an_entry_that_never_traded() {
    let rig = rig().await;
    let position = rig
        .store
        .create_position(&fff_store::NewPosition {
            symbol: "ETHUSDT".into(),
            direction: fff_store::Direction::LongSpotShortPerp,
            target_notional: dec!(1000),
            leverage: 5,
        })
        .await
        .unwrap();
    let report = crate::reconcile::reconcile(&rig.engine).await.unwrap();
    assert_eq!(report.positions_failed, 1);
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!(after.state, PositionState::Failed);
}

#[tokio::test]
async fn partial_fills_on_both_venues_leave_matched_legs() {
    let rig = rig().await;
    rig.fake.with(|s| {
        s.partial.insert(Venue::SpotMargin, dec!(0.5));
        s.partial.insert(Venue::UsdmPerp, dec!(0.5));
    });
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    let legs = legs(&rig, &position).await;
    // perp 5 filled; spot 2.5 + 1.25 + 0.625 + 0.313 = 4.688; the 0.312 rest unwound in halves
    assert!(legs.drift() < dec!(0.01), "{} vs {}", legs.spot, legs.perp);
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), legs.perp);
}

#[tokio::test]
async fn rejected_perp_exit_keeps_the_spot_hedge_and_is_retried() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.fake.with(|s| s.reject_venue.push(Venue::UsdmPerp));
    let err = rig
        .engine
        .run_exit(position.id, Urgency::Immediate, Initiator::Risk)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("perp -10 left"), "{err}");
    let stuck = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!(stuck.state, PositionState::Closing);
    // the spot leg was not sold: the position is still hedged
    assert_eq!(rig.fake.with(|s| s.spot["BTCUSDT"]), dec!(10));
    assert_eq!(rig.fake.order_count(Venue::SpotMargin), 1);
    rig.fake.with(|s| s.reject_venue.clear());
    assert_eq!(rig.engine.resume_exits().await.unwrap(), 1);
    let closed = settled(&rig.store, position.id).await;
    assert_eq!(closed.state, PositionState::Closed);
    assert_eq!(rig.fake.with(|s| s.perp["BTCUSDT"]), dec!(0));
}

struct Refuse;

#[tonic::async_trait]
impl crate::approval::Approver for Refuse {
    async fn approve(
        &self,
        _: &str,
        _: Direction,
        _: Decimal,
        _: u32,
        _: &str,
    ) -> Result<crate::approval::ApprovalOutcome, String> {
        Ok(crate::approval::ApprovalOutcome {
            approved: false,
            approval_id: String::new(),
            notional: Decimal::ZERO,
            reasons: vec!["tier orange".into()],
        })
    }
}

#[tokio::test]
async fn flip_reentry_needs_risk_approval() {
    let rig = rig().await;
    rig.engine.set_approver(Arc::new(Refuse));
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.engine
        .flip(&position, Initiator::Rebalancer, "funding reversed")
        .await
        .unwrap();
    let closed = settled(&rig.store, position.id).await;
    assert_eq!(closed.state, PositionState::Closed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rig.store.live_position("BTCUSDT").await.unwrap().is_none());
}

/// Refuses the first `refusals` asks (risk's account view still holding the closed side),
/// then approves.
struct RefuseFirst {
    refusals: std::sync::atomic::AtomicU32,
}

#[tonic::async_trait]
impl crate::approval::Approver for RefuseFirst {
    async fn approve(
        &self,
        _: &str,
        _: Direction,
        notional: Decimal,
        _: u32,
        _: &str,
    ) -> Result<crate::approval::ApprovalOutcome, String> {
        let left = self.refusals.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.refusals
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(crate::approval::ApprovalOutcome {
            approved: left == 0,
            approval_id: "a1".into(),
            notional,
            reasons: if left == 0 {
                Vec::new()
            } else {
                vec!["utilization after entry 1.1711 above limit 0.85".into()]
            },
        })
    }
}

/// A flip at the target utilisation was refused by risk, whose account snapshot still held
/// the side just closed (hand test on `fff up`: DOGE's flip ended as a close); the re-entry
/// asks again once that view is fresh.
#[tokio::test]
async fn a_flip_refused_on_a_stale_account_view_asks_risk_again() {
    let rig = rig().await;
    rig.engine.set_approver(Arc::new(RefuseFirst {
        refusals: std::sync::atomic::AtomicU32::new(1),
    }));
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.engine
        .flip(&position, Initiator::Rebalancer, "funding reversed")
        .await
        .unwrap();
    let flipped = wait_for(Duration::from_secs(10), || async {
        rig.store
            .live_position("BTCUSDT")
            .await
            .ok()
            .flatten()
            .filter(|p| p.id != position.id)
    })
    .await
    .expect("the flip re-enters once risk approves");
    assert_eq!(flipped.direction, fff_store::Direction::ShortSpotLongPerp);
}

#[tokio::test]
async fn slippage_beyond_tolerance_pauses_a_sliced_entry() {
    let rig = rig().await;
    rig.fake.with(|s| s.fill_premium = dec!(0.001)); // 0.1 % > 0.05 % tolerance
    let position = open(&rig, dec!(60000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open);
    // one slice, hedged, then the entry stopped
    assert_eq!(rig.fake.order_count(Venue::UsdmPerp), 1);
    assert_eq!(rig.fake.order_count(Venue::SpotMargin), 1);
    assert_eq!(
        (position.perp_qty, position.spot_qty),
        (dec!(100), dec!(100))
    );
}

#[tokio::test]
async fn negative_carry_exit_buys_back_the_loan_with_auto_repay() {
    let rig = rig().await;
    let position = open(&rig, dec!(1000), Direction::NegativeCarry).await;
    rig.engine
        .close(&position, Urgency::Immediate, Initiator::Operator, "done")
        .await
        .unwrap();
    let closed = wait_for(Duration::from_secs(10), || async {
        rig.store
            .get_position(position.id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state == PositionState::Closed)
    })
    .await
    .unwrap();
    assert_eq!((closed.perp_qty, closed.spot_qty), (dec!(0), dec!(0)));
    let buy_back = rig.fake.with(|s| s.orders.last().cloned()).unwrap();
    assert_eq!(buy_back.venue, Venue::SpotMargin);
    assert_eq!(buy_back.side, fff_core::Side::Buy);
    assert_eq!(buy_back.side_effect, fff_store::SideEffect::AutoRepay);
    assert_eq!(rig.fake.with(|s| s.spot["BTCUSDT"]), dec!(0));
}

/// Margin type and leverage are set on the first entry of a symbol, not before every entry
/// (two gateway round trips on the opportunity -> order path).
#[tokio::test]
async fn a_second_entry_of_a_symbol_does_not_set_its_leverage_again() {
    let rig = rig().await;
    let first = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    rig.engine
        .close(&first, Urgency::Immediate, Initiator::Operator, "done")
        .await
        .unwrap();
    settled(&rig.store, first.id).await;
    let second = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(second.state, PositionState::Open, "{second:?}");
    assert_eq!(
        rig.fake.with(|s| s.prepared.clone()),
        vec![("BTCUSDT".to_owned(), 5)]
    );
}

#[tokio::test]
async fn events_follow_the_life_cycle() {
    use fff_proto::fff::executor::v1::PositionEventKind as Kind;
    let rig = rig().await;
    let first = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    let mut events = rig.engine.subscribe();
    rig.engine
        .close(&first, Urgency::Immediate, Initiator::Operator, "done")
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while !kinds.contains(&Kind::Closed) {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.position.id, first.id);
        kinds.push(event.kind);
    }
    // the entry's own last event may still arrive after `settled` saw the position OPEN: what
    // the close emits starts with Closing
    let closing = kinds.iter().position(|k| *k == Kind::Closing);
    assert!(
        closing.is_some_and(|i| kinds[..i].iter().all(|k| *k != Kind::Closed)),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn pause_lets_a_sliced_entry_finish_unless_told_to_cancel_it() {
    // slices 100 ms apart: the pause lands while an entry is under way
    let rig = rig_with(ExecutionParams {
        hedge_retry_delay_ms: 1,
        twap_slice_interval_ms: 100,
        ..ExecutionParams::default()
    })
    .await;
    let first = rig
        .engine
        .open(
            "BTCUSDT",
            Direction::PositiveCarry,
            dec!(60000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    rig.engine.set_paused(true, "maintenance", "test");
    let first = settled(&rig.store, first.id).await;
    assert_eq!(first.perp_qty, dec!(600), "all six slices");

    rig.engine.set_paused(false, "back", "test");
    let second = rig
        .engine
        .open(
            "ETHUSDT",
            Direction::PositiveCarry,
            dec!(60000),
            None,
            Initiator::Operator,
            "t",
        )
        .await
        .unwrap();
    // once its first slice is hedged (a pause before it stops the entry with nothing sent)
    wait_for(Duration::from_secs(10), || async {
        rig.fake
            .with(|s| s.spot.get("ETHUSDT").copied())
            .filter(|q| *q > Decimal::ZERO)
    })
    .await
    .unwrap();
    rig.engine.pause_and_cancel_entries("stop now", "test");
    let second = settled(&rig.store, second.id).await;
    assert_eq!(second.state, PositionState::Open);
    assert!(
        second.perp_qty < dec!(600),
        "stopped early at {}",
        second.perp_qty
    );
    assert_eq!(second.perp_qty, second.spot_qty, "every slice hedged");
}

/// An order left UNKNOWN while the process kept running (its follow-up gave up) is resolved by
/// the periodic sweep, and the naked leg it left is hedged without waiting for a restart.
#[tokio::test]
async fn sweep_resolves_orders_nobody_follows_and_hedges_the_leg() {
    let rig = rig().await;
    let position = bare_position(&rig.store).await;
    let perp = OrderRequest {
        client_order_id: client_order_id(position.id, Leg::Perp, Step::Entry(0)),
        venue: Venue::UsdmPerp,
        symbol: "BTCUSDT".into(),
        side: fff_core::Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(10),
        reduce_only: false,
        side_effect: fff_store::SideEffect::NoSideEffect,
    };
    rig.store
        .insert_order_intent(&super::orders::intent_for(position.id, &perp))
        .await
        .unwrap();
    rig.fake.place_order(&perp).await.unwrap();
    rig.store
        .set_position_state(
            position.id,
            PositionState::Open,
            Some("broken: entry interrupted"),
        )
        .await
        .unwrap();
    let resolved = crate::reconcile::sweep_stale_orders(&rig.engine, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(resolved, 1);
    let after = rig.store.get_position(position.id).await.unwrap().unwrap();
    assert_eq!((after.perp_qty, after.spot_qty), (dec!(10), dec!(10)));
    assert_eq!(rig.fake.order_count(Venue::UsdmPerp), 1);
    assert!(rig.store.list_unfinished_orders().await.unwrap().is_empty());
}

/// Finding 1 of docs/RELIABILITY.md: an order refused by a 429/418 never reached the matching
/// engine. Not found at the venue after the timeout, it is closed as EXPIRED (never sent) and
/// the step is retried with a new client order id: nothing stays UNKNOWN, nothing is abandoned.
async fn refused_sends_are_expired_and_retried(
    script: impl FnOnce(&mut crate::exchange::fake::FakeState),
) {
    let rig = rig().await;
    rig.fake.with(script);
    let position = open(&rig, dec!(1000), Direction::PositiveCarry).await;
    assert_eq!(position.state, PositionState::Open, "{position:?}");
    assert_eq!((position.perp_qty, position.spot_qty), (dec!(10), dec!(10)));
    let orders = rig.store.list_position_orders(position.id).await.unwrap();
    assert!(
        rig.store.list_unfinished_orders().await.unwrap().is_empty(),
        "{orders:#?}"
    );
    let refused = &orders[0];
    assert_eq!(refused.status, OrderStatus::Expired, "{orders:#?}");
    assert_eq!(refused.executed_qty, Decimal::ZERO);
    assert!(
        refused
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("never sent"),
        "{refused:?}"
    );
    // the retry went with a new id, and filled
    let perp: Vec<_> = orders.iter().filter(|o| o.leg == Leg::Perp).collect();
    assert_eq!(perp.len(), 2, "{orders:#?}");
    assert_ne!(perp[0].client_order_id, perp[1].client_order_id);
    assert_eq!(perp[1].status, OrderStatus::Filled);

    // the same on the way out: the exit is completed, not abandoned
    rig.fake.with(|s| s.refuse_sends = 1);
    let closed = rig
        .engine
        .run_exit(position.id, Urgency::Immediate, Initiator::Operator)
        .await
        .unwrap();
    assert_eq!(closed.state, PositionState::Closed);
    assert_eq!(
        rig.fake.with(|s| (s.perp["BTCUSDT"], s.spot["BTCUSDT"])),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert!(rig.store.list_unfinished_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_order_refused_by_the_gateways_rate_limiter_is_expired_and_retried() {
    refused_sends_are_expired_and_retried(|s| s.refuse_sends = 1).await;
}

#[tokio::test]
async fn an_order_the_venue_refused_with_429_is_expired_and_retried() {
    refused_sends_are_expired_and_retried(|s| s.pending_sends = 1).await;
}

/// No answer at all (the gateway killed mid-call): after the timeout the venue does not know
/// the order, so it is closed as never sent and the step goes again, instead of the row
/// staying UNKNOWN and the entry abandoned.
#[tokio::test]
async fn an_order_without_any_answer_is_settled_and_retried() {
    refused_sends_are_expired_and_retried(|s| s.lost_sends = 1).await;
}

/// The cancel that settles an unknown outcome is itself refused (a ban still running): it is
/// tried again until the venue answers, and the order is closed, not left UNKNOWN.
#[tokio::test]
async fn a_refused_cancel_of_an_unknown_order_is_retried_until_settled() {
    refused_sends_are_expired_and_retried(|s| {
        s.pending_sends = 1;
        s.failed_cancels = 2;
    })
    .await;
}

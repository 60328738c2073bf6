use fff_store::{ChargeKind, NewFill, NewVenueCharge, OrderType, PositionState, Side, Venue};
use rust_decimal_macros::dec;

use super::helpers::{at, migrated_store, open_position, perp_intent};

/// A liquidation clearance fee is booked once per venue income id, listed on its position, and
/// found the position whose LIQUIDATION order the venue filled nearest its time.
#[tokio::test]
async fn a_clearance_fee_is_booked_once_on_the_position_the_venue_closed() {
    let (_db, store) = migrated_store().await;
    // one live position a symbol: each ends before the next opens
    let old = open_position(&store, "BTCUSDT").await;
    let end = |id| store.set_position_state(id, PositionState::Failed, None);
    end(old.id).await.unwrap();
    let liquidated = open_position(&store, "BTCUSDT").await;
    end(liquidated.id).await.unwrap();
    let newest = open_position(&store, "BTCUSDT").await;
    let t = at(2026, 12, 5, 10, 0);
    assert_eq!(
        store.venue_closed_position("BTCUSDT", t).await.unwrap(),
        None
    );
    // an earlier liquidation an hour before, and the one at `t`, on their positions
    for (n, position, minutes) in [(1, &old, 0), (2, &liquidated, 60)] {
        let order = store
            .insert_order_intent(&fff_store::OrderIntent {
                order_type: OrderType::Liquidation,
                side: Side::Buy,
                ..perp_intent(&format!("autoclose-{n}.{n}"), Some(position.id))
            })
            .await
            .unwrap()
            .row;
        store
            .insert_fill(&NewFill {
                order_id: order.id,
                venue: Venue::Usdm,
                symbol: "BTCUSDT".into(),
                trade_id: n,
                side: Side::Buy,
                qty: dec!(0.015),
                price: dec!(65000),
                fee: dec!(0),
                fee_asset: "USDT".into(),
                fee_quote: dec!(0),
                is_maker: false,
                traded_at: t - chrono::Duration::minutes(60 - minutes),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store.venue_closed_position("BTCUSDT", t).await.unwrap(),
        Some(liquidated.id)
    );
    // nothing the venue closed near that time: not guessed
    let later = t + chrono::Duration::hours(3);
    assert_eq!(
        store.venue_closed_position("BTCUSDT", later).await.unwrap(),
        None
    );
    assert_eq!(
        store.venue_closed_position("ETHUSDT", t).await.unwrap(),
        None
    );

    let charge = NewVenueCharge {
        kind: ChargeKind::InsuranceClear,
        tran_id: 9002,
        symbol: "BTCUSDT".into(),
        position_id: Some(liquidated.id),
        asset: "USDT".into(),
        amount: dec!(-9.75),
        charged_at: t,
    };
    let first = store.insert_venue_charge(&charge).await.unwrap();
    assert!(first.created);
    let again = store
        .insert_venue_charge(&NewVenueCharge {
            position_id: Some(newest.id),
            ..charge.clone()
        })
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.row, first.row);
    // the same id on another symbol is another charge
    let other = store
        .insert_venue_charge(&NewVenueCharge {
            symbol: "ETHUSDT".into(),
            position_id: None,
            ..charge.clone()
        })
        .await
        .unwrap();
    assert!(other.created);
    let listed = store.list_position_charges(liquidated.id).await.unwrap();
    assert_eq!(listed, vec![first.row]);
    assert_eq!(listed[0].amount, dec!(-9.75));
    assert_eq!(listed[0].kind, ChargeKind::InsuranceClear);
    assert!(
        store
            .list_position_charges(newest.id)
            .await
            .unwrap()
            .is_empty()
    );
}

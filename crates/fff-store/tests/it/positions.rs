use fff_store::{PositionLegs, PositionState, StoreError};
use rust_decimal_macros::dec;

use super::helpers::{migrated_store, open_position};

#[tokio::test]
async fn create_read_and_update_legs() {
    let (_db, store) = migrated_store().await;
    let created = open_position(&store, "BTCUSDT").await;
    assert_eq!(created.state, PositionState::Opening);
    assert_eq!(created.target_notional, dec!(1000.50));
    assert_eq!(created.spot_qty, dec!(0));
    assert!(created.opened_at.is_none());

    let legs = PositionLegs {
        spot_qty: dec!(0.01500000),
        spot_entry_price: Some(dec!(65000.12345678)),
        perp_qty: dec!(0.015),
        perp_entry_price: Some(dec!(65010.1)),
    };
    let updated = store.update_position_legs(created.id, &legs).await.unwrap();
    assert_eq!(updated.spot_entry_price, Some(dec!(65000.12345678)));
    assert_eq!(
        updated.spot_qty.to_string(),
        "0.01500000",
        "scale must survive the round trip"
    );
    assert_eq!(store.get_position(created.id).await.unwrap(), Some(updated));
}

#[tokio::test]
async fn one_live_position_per_symbol() {
    let (_db, store) = migrated_store().await;
    let first = open_position(&store, "BTCUSDT").await;
    let store2 = store.clone();
    let err = tokio::spawn(async move {
        store2
            .create_position(&fff_store::NewPosition {
                symbol: "BTCUSDT".into(),
                direction: fff_store::Direction::ShortSpotLongPerp,
                target_notional: dec!(10),
                leverage: 1,
            })
            .await
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, StoreError::LivePositionExists { ref symbol } if symbol == "BTCUSDT"));

    open_position(&store, "ETHUSDT").await;
    store
        .set_position_state(first.id, PositionState::Failed, Some("perp leg rejected"))
        .await
        .unwrap();
    assert_eq!(store.live_position("BTCUSDT").await.unwrap(), None);
    // Once the first is terminal a new hedge on the symbol is allowed.
    let second = open_position(&store, "BTCUSDT").await;
    assert_eq!(store.live_position("BTCUSDT").await.unwrap(), Some(second));
    assert_eq!(store.list_live_positions().await.unwrap().len(), 2);
    let failed = store
        .list_positions(&[PositionState::Failed])
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("perp leg rejected"));
}

#[tokio::test]
async fn state_machine_is_enforced() {
    let (_db, store) = migrated_store().await;
    let p = open_position(&store, "BTCUSDT").await;

    let err = store
        .set_position_state(p.id, PositionState::Closed, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");

    let open = store
        .set_position_state(p.id, PositionState::Open, None)
        .await
        .unwrap();
    let opened_at = open.opened_at.expect("opened_at set on OPEN");
    let again = store
        .set_position_state(p.id, PositionState::Open, None)
        .await
        .unwrap();
    assert_eq!(again.opened_at, Some(opened_at), "repeat is a no-op");

    store
        .set_position_state(p.id, PositionState::Rebalancing, None)
        .await
        .unwrap();
    let back = store
        .set_position_state(p.id, PositionState::Open, None)
        .await
        .unwrap();
    assert_eq!(
        back.opened_at,
        Some(opened_at),
        "opened_at keeps the first open"
    );
    store
        .set_position_state(p.id, PositionState::Closing, None)
        .await
        .unwrap();
    let closed = store
        .set_position_state(p.id, PositionState::Closed, None)
        .await
        .unwrap();
    assert!(closed.closed_at.is_some());
    assert!(closed.updated_at >= closed.created_at);

    for to in [
        PositionState::Open,
        PositionState::Closing,
        PositionState::Failed,
    ] {
        let err = store.set_position_state(p.id, to, None).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidTransition { .. }),
            "{to}: {err}"
        );
    }
    let legs = PositionLegs {
        spot_qty: dec!(1),
        spot_entry_price: None,
        perp_qty: dec!(1),
        perp_entry_price: None,
    };
    assert!(store.update_position_legs(p.id, &legs).await.is_err());
    let missing = store
        .set_position_state(999_999, PositionState::Open, None)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

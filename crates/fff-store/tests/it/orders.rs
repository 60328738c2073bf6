use fff_store::{OrderStatus, OrderUpdate, StoreError, UpdateOutcome};
use rust_decimal_macros::dec;

use super::helpers::{migrated_store, open_position, perp_intent};

#[tokio::test]
async fn intent_insert_is_idempotent() {
    let (_db, store) = migrated_store().await;
    let position = open_position(&store, "BTCUSDT").await;
    let intent = perp_intent("fff-1-perp-open-0", Some(position.id));

    // Concurrent retries of the same intent: exactly one creates the row.
    let attempts = (0..4).map(|_| {
        let store = store.clone();
        let intent = intent.clone();
        tokio::spawn(async move { store.insert_order_intent(&intent).await })
    });
    let mut results = Vec::new();
    for attempt in attempts {
        results.push(attempt.await.unwrap().unwrap());
    }
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    let id = results[0].row.id;
    assert!(results.iter().all(|r| r.row.id == id));
    let row = &results[0].row;
    assert_eq!(row.status, OrderStatus::Intent);
    assert_eq!(row.price, Some(dec!(65000.12345678)));
    assert!(row.matches_intent(&intent));

    // After it moved on, a retry still returns the stored row, now SENT.
    store
        .update_order(
            &intent.client_order_id,
            &OrderUpdate::status(OrderStatus::Sent),
        )
        .await
        .unwrap();
    let retry = store.insert_order_intent(&intent).await.unwrap();
    assert!(!retry.created);
    assert_eq!(retry.row.status, OrderStatus::Sent);
    assert_eq!(
        store.list_position_orders(position.id).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn intents_written_together_share_one_commit_and_a_hedge_qty_only_comes_down() {
    let (_db, store) = migrated_store().await;
    let position = open_position(&store, "BTCUSDT").await;
    let perp = perp_intent("fff-2-Pe0", Some(position.id));
    let mut hedge = perp_intent("fff-2-Se0r0", Some(position.id));
    hedge.leg = fff_store::Leg::Spot;
    hedge.venue = fff_store::Venue::Margin;
    let rows = store
        .insert_order_intents(&[perp.clone(), hedge.clone()])
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.created));
    // one transaction: PostgreSQL's now() is the transaction's start, the same for both rows
    assert_eq!(rows[0].row.created_at, rows[1].row.created_at);
    assert!(rows.iter().all(|r| r.row.status == OrderStatus::Intent));

    // a repeat is idempotent; a conflicting one fails and writes nothing
    let again = store
        .insert_order_intents(&[perp.clone(), hedge.clone()])
        .await
        .unwrap();
    assert!(again.iter().all(|r| !r.created));
    let mut other = perp_intent("fff-2-Pe1", Some(position.id));
    other.qty = dec!(0.5);
    let mut clash = hedge.clone();
    clash.qty = dec!(0.016);
    let err = store
        .insert_order_intents(&[other, clash])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
    assert!(store.get_order("fff-2-Pe1").await.unwrap().is_none());

    store
        .lower_order_qty("fff-2-Se0r0", dec!(0.01))
        .await
        .unwrap();
    store
        .lower_order_qty("fff-2-Se0r0", dec!(0.02))
        .await
        .unwrap();
    let row = store.get_order("fff-2-Se0r0").await.unwrap().unwrap();
    assert_eq!(row.qty, dec!(0.01));
}

#[tokio::test]
async fn reused_client_order_id_with_other_parameters_is_rejected() {
    let (_db, store) = migrated_store().await;
    let intent = perp_intent("fff-dup", None);
    store.insert_order_intent(&intent).await.unwrap();
    let mut other = intent.clone();
    other.qty = dec!(0.016);
    let err = store.insert_order_intent(&other).await.unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_client_order_id_is_refused_by_the_schema() {
    let (_db, store) = migrated_store().await;
    let too_long = "x".repeat(37);
    for id in ["", "has space", too_long.as_str()] {
        let result = store.insert_order_intent(&perp_intent(id, None)).await;
        assert!(
            matches!(result, Err(StoreError::Database(_))),
            "{id:?} accepted"
        );
    }
}

#[tokio::test]
async fn status_moves_forward_only() {
    let (_db, store) = migrated_store().await;
    let cid = "fff-status";
    store
        .insert_order_intent(&perp_intent(cid, None))
        .await
        .unwrap();

    let sent = store
        .update_order(cid, &OrderUpdate::status(OrderStatus::Sent))
        .await
        .unwrap();
    assert!(sent.is_applied());
    let partial = OrderUpdate {
        status: OrderStatus::PartiallyFilled,
        exchange_order_id: Some(8_389_765_123_456_789_012),
        executed_qty: Some(dec!(0.010)),
        avg_price: Some(dec!(65000.1)),
        error: None,
    };
    let applied = store.update_order(cid, &partial).await.unwrap().into_row();
    assert_eq!(applied.exchange_order_id, Some(8_389_765_123_456_789_012));
    assert_eq!(applied.executed_qty, dec!(0.010));

    // A late ACK must not undo the partial fill.
    let late_ack = OrderUpdate {
        exchange_order_id: Some(8_389_765_123_456_789_012),
        ..OrderUpdate::status(OrderStatus::Acked)
    };
    let ignored = store.update_order(cid, &late_ack).await.unwrap();
    assert!(
        matches!(ignored, UpdateOutcome::Ignored(ref o) if o.status == OrderStatus::PartiallyFilled)
    );

    // A stale partial report with less executed quantity is ignored too.
    let stale = OrderUpdate {
        executed_qty: Some(dec!(0.005)),
        ..partial.clone()
    };
    assert!(!store.update_order(cid, &stale).await.unwrap().is_applied());

    let filled = OrderUpdate {
        status: OrderStatus::Filled,
        exchange_order_id: None,
        executed_qty: Some(dec!(0.015)),
        avg_price: Some(dec!(65000.2)),
        error: None,
    };
    let done = store.update_order(cid, &filled).await.unwrap().into_row();
    assert_eq!(done.status, OrderStatus::Filled);
    assert_eq!(
        done.exchange_order_id,
        Some(8_389_765_123_456_789_012),
        "kept"
    );
    assert_eq!(done.avg_price, Some(dec!(65000.2)));

    for status in OrderStatus::ALL {
        let outcome = store
            .update_order(cid, &OrderUpdate::status(*status))
            .await
            .unwrap();
        assert!(!outcome.is_applied(), "terminal FILLED moved to {status}");
        assert_eq!(outcome.row().status, OrderStatus::Filled);
    }
    let missing = store
        .update_order("nope", &OrderUpdate::status(OrderStatus::Sent))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn unfinished_orders_are_exactly_the_non_terminal_ones() {
    let (_db, store) = migrated_store().await;
    // One order per status, reached along an allowed path.
    for (i, status) in OrderStatus::ALL.iter().enumerate() {
        let cid = format!("fff-u-{i}");
        store
            .insert_order_intent(&perp_intent(&cid, None))
            .await
            .unwrap();
        if *status != OrderStatus::Intent {
            let outcome = store
                .update_order(&cid, &OrderUpdate::status(*status))
                .await
                .unwrap();
            assert!(outcome.is_applied(), "INTENT -> {status}");
        }
    }
    let unfinished: Vec<OrderStatus> = store
        .list_unfinished_orders()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.status)
        .collect();
    let expected: Vec<OrderStatus> = OrderStatus::unfinished().collect();
    assert_eq!(unfinished, expected);
}

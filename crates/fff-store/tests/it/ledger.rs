use fff_store::{NewBorrowInterest, NewFill, NewFundingPayment, Side, Venue};
use rust_decimal_macros::dec;

use super::helpers::{at, migrated_store, open_position, perp_intent};

#[tokio::test]
async fn fills_dedupe_per_venue_symbol_and_trade_id() {
    let (_db, store) = migrated_store().await;
    let order = store
        .insert_order_intent(&perp_intent("fff-f", None))
        .await
        .unwrap()
        .row;
    let fill = NewFill {
        order_id: order.id,
        venue: Venue::Usdm,
        symbol: "BTCUSDT".into(),
        trade_id: 3_570_680_726,
        side: Side::Sell,
        qty: dec!(0.010),
        price: dec!(65000.12345678),
        fee: dec!(0.26000049),
        fee_asset: "USDT".into(),
        fee_quote: dec!(0.26000049),
        is_maker: false,
        traded_at: at(2026, 11, 25, 8, 0),
    };
    let first = store.insert_fill(&fill).await.unwrap();
    assert!(first.created);
    let again = store.insert_fill(&fill).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.row, first.row);

    // Same trade id on another venue or symbol is a different trade.
    let spot = NewFill {
        venue: Venue::Spot,
        ..fill.clone()
    };
    assert!(store.insert_fill(&spot).await.unwrap().created);
    let eth = NewFill {
        symbol: "ETHUSDT".into(),
        ..fill.clone()
    };
    assert!(store.insert_fill(&eth).await.unwrap().created);

    let rows = store.list_order_fills(order.id).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].price, dec!(65000.12345678));
    assert_eq!(rows[0].fee, dec!(0.26000049));
}

#[tokio::test]
async fn funding_and_interest_dedupe_by_exchange_id() {
    let (_db, store) = migrated_store().await;
    let position = open_position(&store, "BTCUSDT").await;
    let payment = NewFundingPayment {
        tran_id: 9_689_322_392,
        symbol: "BTCUSDT".into(),
        position_id: Some(position.id),
        asset: "USDT".into(),
        amount: dec!(0.09750000),
        funding_rate: Some(dec!(0.00010000)),
        mark_price: Some(dec!(65000)),
        notional: Some(dec!(975)),
        expected_amount: Some(dec!(0.0975)),
        paid_at: at(2026, 11, 25, 8, 0),
    };
    let first = store.insert_funding_payment(&payment).await.unwrap();
    assert!(first.created);
    assert!(
        !store
            .insert_funding_payment(&payment)
            .await
            .unwrap()
            .created
    );
    // Another symbol sharing the tranId is kept.
    let other = NewFundingPayment {
        symbol: "ETHUSDT".into(),
        position_id: None,
        ..payment.clone()
    };
    assert!(store.insert_funding_payment(&other).await.unwrap().created);
    let rows = store.list_position_funding(position.id).await.unwrap();
    assert_eq!(rows, vec![first.row]);
    assert_eq!(rows[0].funding_rate, Some(dec!(0.00010000)));
    assert_eq!(
        store.last_funding_time("BTCUSDT").await.unwrap(),
        Some(at(2026, 11, 25, 8, 0))
    );
    assert_eq!(store.last_funding_time("XRPUSDT").await.unwrap(), None);

    let interest = NewBorrowInterest {
        tx_id: 1_352_286_576_452_864_727, // > 2^53, as in Binance's example
        asset: "BTC".into(),
        position_id: Some(position.id),
        amount: dec!(0.00000024995),
        amount_quote: dec!(0.0162467500),
        interest_rate: Some(dec!(0.00013233)),
        principal: Some(dec!(45.3313)),
        interest_type: "PERIODIC".into(),
        charged_at: at(2026, 11, 25, 9, 0),
    };
    let charged = store.insert_borrow_interest(&interest).await.unwrap();
    assert!(charged.created);
    let repeat = store.insert_borrow_interest(&interest).await.unwrap();
    assert!(!repeat.created);
    assert_eq!(repeat.row.tx_id, 1_352_286_576_452_864_727);
    assert_eq!(repeat.row.amount, dec!(0.00000024995));
    assert_eq!(
        store
            .list_position_interest(position.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

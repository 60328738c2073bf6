use chrono::{DateTime, NaiveDate, Utc};
use fff_store::{
    CashPnl, NewBorrowInterest, NewFill, NewFundingPayment, PnlDaily, Side, Store, Venue,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::helpers::{at, migrated_store, open_position, perp_intent};

async fn funding(store: &Store, tran_id: i64, position_id: i64, amount: Decimal, t: DateTime<Utc>) {
    store
        .insert_funding_payment(&NewFundingPayment {
            tran_id,
            symbol: "BTCUSDT".into(),
            position_id: Some(position_id),
            asset: "USDT".into(),
            amount,
            funding_rate: None,
            mark_price: None,
            notional: None,
            expected_amount: None,
            paid_at: t,
        })
        .await
        .unwrap();
}

async fn interest(store: &Store, tx_id: i64, position_id: i64, quote: Decimal, t: DateTime<Utc>) {
    store
        .insert_borrow_interest(&NewBorrowInterest {
            tx_id,
            asset: "BTC".into(),
            position_id: Some(position_id),
            amount: dec!(0.000001),
            amount_quote: quote,
            interest_rate: None,
            principal: None,
            interest_type: "PERIODIC".into(),
            charged_at: t,
        })
        .await
        .unwrap();
}

async fn fill(store: &Store, order_id: i64, trade_id: i64, fee: Decimal, t: DateTime<Utc>) {
    store
        .insert_fill(&NewFill {
            order_id,
            venue: Venue::Usdm,
            symbol: "BTCUSDT".into(),
            trade_id,
            side: Side::Sell,
            qty: dec!(0.001),
            price: dec!(65000),
            fee: dec!(0.0001),
            fee_asset: "BNB".into(),
            fee_quote: fee,
            is_maker: true,
            traded_at: t,
        })
        .await
        .unwrap();
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

#[tokio::test]
async fn cash_pnl_sums_are_exact_per_position_and_day() {
    let (_db, store) = migrated_store().await;
    let a = open_position(&store, "BTCUSDT").await;
    let b = open_position(&store, "ETHUSDT").await;
    let order_a = store
        .insert_order_intent(&perp_intent("fff-a", Some(a.id)))
        .await
        .unwrap()
        .row;
    let order_b = store
        .insert_order_intent(&perp_intent("fff-b", Some(b.id)))
        .await
        .unwrap()
        .row;

    // Values whose binary-float sums are inexact (0.1 + 0.2 != 0.3 in f64).
    funding(&store, 1, a.id, dec!(0.1), at(2026, 11, 24, 16, 0)).await;
    funding(&store, 2, a.id, dec!(0.2), at(2026, 11, 25, 0, 0)).await;
    funding(&store, 3, a.id, dec!(-0.00000001), at(2026, 11, 25, 8, 0)).await;
    funding(&store, 3, a.id, dec!(-0.00000001), at(2026, 11, 25, 8, 0)).await; // duplicate
    funding(&store, 4, b.id, dec!(5), at(2026, 11, 25, 8, 0)).await;
    interest(&store, 10, a.id, dec!(0.01000001), at(2026, 11, 24, 23, 59)).await;
    interest(&store, 11, a.id, dec!(0.02), at(2026, 11, 25, 1, 0)).await;
    fill(
        &store,
        order_a.id,
        100,
        dec!(0.0325),
        at(2026, 11, 24, 15, 0),
    )
    .await;
    fill(
        &store,
        order_a.id,
        101,
        dec!(0.0325),
        at(2026, 11, 25, 15, 0),
    )
    .await;
    fill(
        &store,
        order_a.id,
        101,
        dec!(0.0325),
        at(2026, 11, 25, 15, 0),
    )
    .await; // duplicate
    fill(&store, order_b.id, 102, dec!(1), at(2026, 11, 25, 15, 0)).await;

    let total = store.position_cash_pnl(a.id).await.unwrap();
    assert_eq!(
        total,
        CashPnl {
            funding: dec!(0.29999999),
            borrow: dec!(0.03000001),
            fees: dec!(0.0650)
        }
    );
    assert_eq!(total.net(), dec!(0.20499998));
    let empty = open_position(&store, "XRPUSDT").await;
    assert_eq!(
        store.position_cash_pnl(empty.id).await.unwrap(),
        CashPnl {
            funding: dec!(0),
            borrow: dec!(0),
            fees: dec!(0)
        }
    );

    let days = store
        .daily_cash_pnl(Some(a.id), day(24), day(25))
        .await
        .unwrap();
    let got: Vec<(NaiveDate, CashPnl)> = days.iter().map(|d| (d.day, d.cash.clone())).collect();
    assert_eq!(
        got,
        vec![
            (
                day(24),
                CashPnl {
                    funding: dec!(0.1),
                    borrow: dec!(0.01000001),
                    fees: dec!(0.0325)
                }
            ),
            (
                day(25),
                CashPnl {
                    funding: dec!(0.19999999),
                    borrow: dec!(0.02),
                    fees: dec!(0.0325)
                }
            ),
        ]
    );
    assert!(days.iter().all(|d| d.position_id == a.id));

    // All positions, one day only.
    let all = store.daily_cash_pnl(None, day(25), day(25)).await.unwrap();
    let got: Vec<(i64, Decimal, Decimal)> = all
        .iter()
        .map(|d| (d.position_id, d.cash.funding, d.cash.fees))
        .collect();
    assert_eq!(
        got,
        vec![
            (a.id, dec!(0.19999999), dec!(0.0325)),
            (b.id, dec!(5), dec!(1))
        ]
    );

    let account = store
        .account_cash_pnl(at(2026, 11, 25, 0, 0), at(2026, 11, 26, 0, 0))
        .await
        .unwrap();
    assert_eq!(
        account,
        CashPnl {
            funding: dec!(5.19999999),
            borrow: dec!(0.02),
            fees: dec!(1.0325)
        }
    );
}

#[tokio::test]
async fn pnl_daily_upsert_replaces_the_day() {
    let (_db, store) = migrated_store().await;
    let p = open_position(&store, "BTCUSDT").await;
    let mut row = PnlDaily {
        position_id: p.id,
        day: day(25),
        funding: dec!(0.3),
        borrow: dec!(0.01),
        fees: dec!(0.065),
        basis_spot: dec!(12.5),
        basis_perp: dec!(-12.4),
        realised: dec!(0),
        unrealised: dec!(0.1),
    };
    assert_eq!(store.upsert_pnl_daily(&row).await.unwrap(), row);
    row.unrealised = dec!(-0.05);
    store.upsert_pnl_daily(&row).await.unwrap();
    let next = PnlDaily {
        day: day(26),
        ..row.clone()
    };
    store.upsert_pnl_daily(&next).await.unwrap();
    assert_eq!(store.list_pnl_daily(p.id).await.unwrap(), vec![row, next]);
}

use fff_store::NewEquitySnapshot;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::helpers::{at, migrated_store};

fn snapshot(minute: u32, total: Decimal) -> NewEquitySnapshot {
    NewEquitySnapshot {
        taken_at: at(2026, 11, 25, 10, minute),
        total_equity: total,
        spot_equity: total / dec!(2),
        margin_equity: dec!(0),
        futures_equity: total / dec!(2),
        margin_ratio: Some(dec!(0.0123)),
        margin_level: None,
    }
}

#[tokio::test]
async fn max_drawdown_over_a_window() {
    let (_db, store) = migrated_store().await;
    assert_eq!(
        store
            .max_drawdown(at(2026, 1, 1, 0, 0), at(2027, 1, 1, 0, 0))
            .await
            .unwrap(),
        None
    );

    // 1000 -> 1100 (peak) -> 990 (trough, -110) -> 1200 -> 1150 (-50)
    let series = [dec!(1000), dec!(1100), dec!(990), dec!(1200), dec!(1150)];
    for (minute, total) in series.iter().enumerate() {
        store
            .insert_equity_snapshot(&snapshot(minute as u32, *total))
            .await
            .unwrap();
    }
    let all = store
        .max_drawdown(at(2026, 11, 25, 10, 0), at(2026, 11, 25, 11, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all.peak, dec!(1100));
    assert_eq!(all.peak_at, at(2026, 11, 25, 10, 1));
    assert_eq!(all.trough, dec!(990));
    assert_eq!(all.trough_at, at(2026, 11, 25, 10, 2));
    assert_eq!(all.amount, dec!(110));
    assert_eq!(all.fraction(), Some(dec!(0.1)));

    // The window starts after the big fall: the peak is taken inside the window only.
    let late = store
        .max_drawdown(at(2026, 11, 25, 10, 2), at(2026, 11, 25, 10, 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (late.peak, late.trough, late.amount),
        (dec!(1200), dec!(1150), dec!(50))
    );

    // Rising-only window: zero drawdown.
    let rising = store
        .max_drawdown(at(2026, 11, 25, 10, 0), at(2026, 11, 25, 10, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rising.amount, dec!(0));

    let latest = store.latest_equity_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.total_equity, dec!(1150));
    assert_eq!(latest.margin_ratio, Some(dec!(0.0123)));
    let listed = store
        .list_equity_snapshots(at(2026, 11, 25, 10, 1), at(2026, 11, 25, 10, 3))
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|s| s.total_equity).collect::<Vec<_>>(),
        vec![dec!(1100), dec!(990), dec!(1200)]
    );
}

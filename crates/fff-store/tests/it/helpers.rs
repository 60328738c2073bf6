use chrono::{DateTime, TimeZone as _, Utc};
use fff_store::{
    Direction, Leg, NewPosition, OrderIntent, OrderType, Position, Side, SideEffect, Store,
    TimeInForce, Venue,
};
use fff_testkit::TestDb;
use rust_decimal_macros::dec;

/// A migrated store on a fresh database. Keep the `TestDb` alive for the test's duration.
pub async fn migrated_store() -> (TestDb, Store) {
    let db = fff_testkit::test_database().await.unwrap();
    let store = Store::connect(db.url(), 4).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub async fn open_position(store: &Store, symbol: &str) -> Position {
    store
        .create_position(&NewPosition {
            symbol: symbol.to_owned(),
            direction: Direction::LongSpotShortPerp,
            target_notional: dec!(1000.50),
            leverage: 2,
        })
        .await
        .unwrap()
}

pub fn perp_intent(client_order_id: &str, position_id: Option<i64>) -> OrderIntent {
    OrderIntent {
        client_order_id: client_order_id.to_owned(),
        position_id,
        venue: Venue::Usdm,
        leg: Leg::Perp,
        symbol: "BTCUSDT".to_owned(),
        side: Side::Sell,
        order_type: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtc),
        qty: dec!(0.015),
        price: Some(dec!(65000.12345678)),
        reduce_only: false,
        side_effect: SideEffect::NoSideEffect,
    }
}

use fff_store::Instrument;
use rust_decimal_macros::dec;

use super::helpers::migrated_store;

fn btc() -> Instrument {
    Instrument {
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        spot_tick_size: dec!(0.01),
        spot_step_size: dec!(0.00001),
        spot_min_qty: dec!(0.00001),
        spot_min_notional: dec!(5),
        perp_tick_size: dec!(0.10),
        perp_step_size: dec!(0.001),
        perp_min_qty: dec!(0.001),
        perp_min_notional: dec!(100),
        spot_trading_enabled: true,
        perp_trading_enabled: true,
        cross_margin_enabled: true,
        base_borrowable: true,
        funding_interval_hours: 8,
    }
}

#[tokio::test]
async fn upsert_inserts_updates_and_skips_unchanged() {
    let (_db, store) = migrated_store().await;
    let mut eth = btc();
    eth.symbol = "ETHUSDT".into();
    eth.base_asset = "ETH".into();
    eth.funding_interval_hours = 4;

    assert_eq!(
        store
            .upsert_instruments(&[btc(), eth.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.get_instrument("BTCUSDT").await.unwrap(), Some(btc()));
    assert_eq!(
        store
            .upsert_instruments(&[btc(), eth.clone()])
            .await
            .unwrap(),
        0
    );

    let mut changed = btc();
    changed.perp_tick_size = dec!(0.01);
    changed.base_borrowable = false;
    assert_eq!(
        store.upsert_instruments(&[changed.clone()]).await.unwrap(),
        1
    );

    let all = store.list_instruments().await.unwrap();
    assert_eq!(all, vec![changed, eth]);
    assert_eq!(store.get_instrument("NOPE").await.unwrap(), None);
}

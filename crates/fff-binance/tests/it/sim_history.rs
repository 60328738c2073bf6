//! History endpoints through the connector against fff-sim: klines, funding and borrow-rate
//! history, and the key's apiRestrictions.

use fff_binance::Error;
use fff_binance::models::KlineInterval;
use rust_decimal::Decimal;

use crate::sim::{HOUR, START, manual, start};

const DAY: i64 = 24 * HOUR;

#[tokio::test]
async fn spot_and_futures_klines_decode_and_page() {
    let (sim, client) = start(manual()).await;
    sim.advance(30 * HOUR);
    let from = START - 40 * DAY;
    // Page daily spot klines 15 at a time from 40 days before the start up to now.
    let mut next = from;
    let mut spot = Vec::new();
    loop {
        let page = client
            .klines("BTCUSDT", KlineInterval::D1, Some(next), None, Some(15))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        next = last.open_time + DAY;
        spot.extend(page);
    }
    assert_eq!(
        spot.len(),
        42,
        "40 past days, 1 full live day, 1 in progress"
    );
    for (i, k) in spot.iter().enumerate() {
        assert_eq!(k.open_time, from + i as i64 * DAY);
        assert_eq!(k.close_time, k.open_time + DAY - 1);
        assert!(k.low <= k.open.min(k.close) && k.high >= k.open.max(k.close));
        assert!(k.volume > Decimal::ZERO && k.trades > 0);
        assert!(k.taker_buy_base_volume < k.volume);
    }
    let perp = client
        .futures_klines("BTCUSDT", KlineInterval::D1, Some(from), None, Some(1500))
        .await
        .unwrap();
    assert_eq!(perp.len(), spot.len());
    // Perp and spot follow the same index (perp = mark, a small premium apart).
    for (p, s) in perp.iter().zip(&spot) {
        assert_eq!(p.open_time, s.open_time);
        let gap = ((p.close - s.close) / s.close).abs();
        assert!(gap < Decimal::new(1, 2), "{} vs {}", p.close, s.close);
    }
    // 4h and 8h grids (the intervals funding settles on).
    let h8 = client
        .futures_klines("ETHUSDT", KlineInterval::H8, None, Some(START), Some(3))
        .await
        .unwrap();
    let opens: Vec<i64> = h8.iter().map(|k| k.open_time).collect();
    assert_eq!(opens, vec![START - 16 * HOUR, START - 8 * HOUR, START]);
    let h4 = client
        .klines(
            "ETHUSDT",
            KlineInterval::H4,
            Some(START - 8 * HOUR),
            None,
            Some(2),
        )
        .await
        .unwrap();
    assert_eq!(h4[1].open_time, START - 4 * HOUR);
    // Sub-hour intervals are not simulated: a definite -1120 rejection.
    let err = client
        .klines("ETHUSDT", KlineInterval::M5, None, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { code: -1120, .. }), "{err}");
}

#[tokio::test]
async fn funding_and_borrow_history_reach_before_the_start() {
    let (sim, client) = start(manual()).await;
    sim.advance(16 * HOUR);
    let rows = client
        .funding_rate_history(Some("SOLUSDT"), Some(START - 2 * DAY), None, Some(1000))
        .await
        .unwrap();
    // SOL settles every 4h: 12 past rows + the one at the start + 4 live ones.
    let times: Vec<i64> = rows.iter().map(|r| r.funding_time).collect();
    let expect: Vec<i64> = (0..=16).map(|i| START - 2 * DAY + i * 4 * HOUR).collect();
    assert_eq!(times, expect);
    assert!(
        rows.iter()
            .all(|r| r.mark_price.is_some_and(|m| m > Decimal::ZERO))
    );
    let rates = client
        .margin_interest_rate_history("SOL", Some(START - 3 * DAY), Some(START - 2 * DAY))
        .await
        .unwrap();
    assert_eq!(rates.len(), 25);
    assert!(rates.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
    assert!(
        rates
            .iter()
            .all(|r| r.asset == "SOL" && r.daily_interest_rate > Decimal::ZERO)
    );
}

#[tokio::test]
async fn api_restrictions_of_the_paper_key() {
    let (_sim, client) = start(manual()).await;
    let r = client.api_restrictions().await.unwrap();
    assert!(!r.enable_withdrawals && !r.ip_restrict);
    assert!(r.enable_reading && r.enable_futures && r.enable_margin);
    assert!(r.enable_spot_and_margin_trading);
    assert_eq!(r.create_time, START);
}

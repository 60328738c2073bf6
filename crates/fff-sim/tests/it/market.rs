use std::collections::BTreeSet;

use crate::support::{HOUR, START, dec, manual_config, start};

#[tokio::test]
async fn time_and_funding_schedule_follow_the_simulated_clock() {
    let (sim, c) = start(manual_config()).await;
    assert_eq!(c.get("/api/v3/time", "").await.body["serverTime"], START);
    assert_eq!(c.get("/fapi/v1/time", "").await.body["serverTime"], START);
    sim.advance(90 * 60_000);
    let t = START + 90 * 60_000;
    assert_eq!(c.get("/fapi/v1/time", "").await.body["serverTime"], t);
    let all = c.get("/fapi/v1/premiumIndex", "").await.body;
    let next = |s: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|p| p["symbol"] == s)
            .unwrap()["nextFundingTime"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(next("DOGEUSDT"), START + 2 * HOUR);
    assert_eq!(next("SOLUSDT"), START + 4 * HOUR);
    assert_eq!(next("BTCUSDT"), START + 8 * HOUR);
    let info = c.get("/fapi/v1/fundingInfo", "").await.body;
    let intervals: BTreeSet<i64> = info
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["fundingIntervalHours"].as_i64().unwrap())
        .collect();
    assert_eq!(intervals, BTreeSet::from([1, 4, 8]));
    let rates: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| dec(&p["lastFundingRate"]))
        .collect();
    assert!(
        rates.iter().any(|r| r.is_sign_negative()) && rates.iter().any(|r| r.is_sign_positive())
    );
}

#[tokio::test]
async fn books_tickers_and_exchange_info_have_binance_shapes() {
    let (_sim, c) = start(manual_config()).await;
    let d = c.get("/api/v3/depth", "symbol=BTCUSDT&limit=5").await.body;
    assert_eq!(d["bids"].as_array().unwrap().len(), 5);
    assert!(dec(&d["bids"][0][0]) < dec(&d["asks"][0][0]));
    let bt = c
        .get("/fapi/v1/ticker/bookTicker", "symbol=ETHUSDT")
        .await
        .body;
    for k in ["symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time"] {
        assert!(bt.get(k).is_some(), "missing {k}");
    }
    let info = c.get("/api/v3/exchangeInfo", "symbol=ORCAUSDT").await.body;
    assert_eq!(info["symbols"][0]["isMarginTradingAllowed"], false);
    let vols = c.get("/api/v3/ticker/24hr", "").await.body;
    let low = vols
        .as_array()
        .unwrap()
        .iter()
        .min_by_key(|t| dec(&t["quoteVolume"]))
        .unwrap();
    assert_eq!(low["symbol"], "LSKUSDT");
    let fx = c.get("/fapi/v1/exchangeInfo", "").await.body;
    let btc = fx["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "BTCUSDT")
        .unwrap();
    assert!(
        btc["filters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["filterType"] == "MIN_NOTIONAL" && f["notional"] == "100")
    );
    let oi = c.get("/fapi/v1/openInterest", "symbol=BTCUSDT").await.body;
    assert!(dec(&oi["openInterest"]) > rust_decimal::Decimal::ZERO);
}

//! Klines, funding-rate history, interest-rate history and apiRestrictions over HTTP.

use rust_decimal::Decimal;
use rust_decimal_macros::dec as d;
use serde_json::Value;

use crate::support::{HOUR, START, dec, manual_config, start};

const DAY: i64 = 24 * HOUR;

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

#[tokio::test]
async fn klines_cover_the_past_and_the_live_path_consistently() {
    let mut cfg = manual_config();
    cfg.market.funding_noise = d!(0.00005);
    let (sim, c) = start(cfg).await;
    sim.advance(30 * HOUR);
    // Spot daily klines for December 2025 (before the start) plus the live days.
    let q = format!(
        "symbol=BTCUSDT&interval=1d&startTime={}&endTime={}",
        START - 31 * DAY,
        START + 5 * DAY
    );
    let r = c.get("/api/v3/klines", &q).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let k = rows(&r.body);
    assert_eq!(k.len(), 33, "31 past days, 1 full live day, 1 in progress");
    for (i, row) in k.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 12);
        let open = START - 31 * DAY + i as i64 * DAY;
        assert_eq!(row[0], open);
        assert_eq!(row[6], open + DAY - 1);
        let (o, h, l, cl) = (dec(&row[1]), dec(&row[2]), dec(&row[3]), dec(&row[4]));
        assert!(
            l <= o.min(cl) && h >= o.max(cl) && l > Decimal::ZERO,
            "{row:?}"
        );
        assert!(dec(&row[5]) > Decimal::ZERO && dec(&row[7]) > dec(&row[5]));
        if i > 0 {
            // Contiguous path: each day opens where the previous closed.
            assert_eq!(row[1], k[i - 1][4]);
        }
    }
    // The last kline is in progress: it closes at the current price.
    let price = c.get("/api/v3/ticker/price", "symbol=BTCUSDT").await.body;
    let last_close = dec(&k[32][4]);
    assert_eq!(last_close, dec(&price["price"]).round_dp(2));
    // Hourly klines agree with the daily ones (same model, same clock).
    let h = c
        .get(
            "/api/v3/klines",
            &format!(
                "symbol=BTCUSDT&interval=1h&startTime={}&limit=24",
                START - DAY
            ),
        )
        .await
        .body;
    let h = rows(&h);
    assert_eq!(h.len(), 24);
    assert_eq!(h[0][1], k[30][1]);
    assert_eq!(h[23][4], k[30][4]);
    let high = h.iter().map(|r| dec(&r[2])).max().unwrap();
    assert_eq!(high, dec(&k[30][2]));
    // Same query, same answer (deterministic).
    let again = c.get("/api/v3/klines", &q).await.body;
    assert_eq!(&again, &r.body);
}

#[tokio::test]
async fn klines_limits_defaults_and_errors() {
    let (sim, c) = start(manual_config()).await;
    sim.advance(2 * HOUR);
    // No times: the latest `limit` klines, ending with the one in progress.
    let k = c
        .get("/fapi/v1/klines", "symbol=ETHUSDT&interval=4h&limit=3")
        .await
        .body;
    let opens: Vec<i64> = rows(&k).iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(opens, vec![START - 8 * HOUR, START - 4 * HOUR, START]);
    // Default 500 rows; futures accept up to 1500, spot up to 1000.
    let k = c
        .get("/fapi/v1/klines", "symbol=ETHUSDT&interval=1h")
        .await
        .body;
    assert_eq!(rows(&k).len(), 500);
    let k = c
        .get("/fapi/v1/klines", "symbol=ETHUSDT&interval=1h&limit=5000")
        .await
        .body;
    assert_eq!(rows(&k).len(), 1500);
    let k = c
        .get("/api/v3/klines", "symbol=ETHUSDT&interval=1h&limit=5000")
        .await
        .body;
    assert_eq!(rows(&k).len(), 1000);
    // startTime inside a kline: the first kline opening at or after it.
    let q = format!(
        "symbol=ETHUSDT&interval=8h&startTime={}&limit=2",
        START - 20 * HOUR
    );
    let k = c.get("/fapi/v1/klines", &q).await.body;
    assert_eq!(k[0][0], START - 16 * HOUR);
    assert_eq!(k[1][0], START - 8 * HOUR);
    // Futures prices use the tick's precision (ETH perp tick 0.01).
    assert_eq!(
        k[0][1].as_str().unwrap().split('.').nth(1).unwrap().len(),
        2
    );
    // Before the listing there is nothing; bad interval / symbol / range are rejected.
    let k = c
        .get(
            "/api/v3/klines",
            "symbol=ETHUSDT&interval=1d&endTime=1500000000000",
        )
        .await
        .body;
    assert!(rows(&k).is_empty());
    let r = c.get("/api/v3/klines", "symbol=ETHUSDT&interval=7m").await;
    assert_eq!((r.status, r.code()), (400, -1120));
    let r = c.get("/api/v3/klines", "symbol=NOPEUSDT&interval=1h").await;
    assert_eq!(r.code(), -1121);
    let r = c
        .get(
            "/fapi/v1/klines",
            "symbol=ETHUSDT&interval=1h&startTime=5&endTime=4",
        )
        .await;
    assert_eq!(r.code(), -1023);
    let r = c.get("/fapi/v1/klines", "symbol=ETHUSDT").await;
    assert_eq!(r.code(), -1102);
}

#[tokio::test]
async fn funding_history_pages_from_the_past_into_live_settlements() {
    let mut cfg = manual_config();
    cfg.market.funding_noise = d!(0.00005);
    let (sim, c) = start(cfg).await;
    sim.advance(24 * HOUR);
    // Page through 10 days of 8h BTC funding, 7 rows at a time, like a downloader would.
    let mut from = START - 9 * DAY;
    let mut got: Vec<Value> = Vec::new();
    while from <= START + DAY {
        let q = format!(
            "symbol=BTCUSDT&startTime={from}&endTime={}&limit=7",
            START + DAY
        );
        let page = c.get("/fapi/v1/fundingRate", &q).await.body;
        let page = rows(&page).clone();
        let Some(last) = page.last() else { break };
        from = last["fundingTime"].as_i64().unwrap() + 1;
        got.extend(page);
    }
    let times: Vec<i64> = got
        .iter()
        .map(|r| r["fundingTime"].as_i64().unwrap())
        .collect();
    let expect: Vec<i64> = (0..=30).map(|i| START - 9 * DAY + i * 8 * HOUR).collect();
    assert_eq!(times, expect, "every 8h, no gap or duplicate at the start");
    assert!(got.iter().all(|r| dec(&r["markPrice"]) > d!(1000)));
    let rates: std::collections::BTreeSet<String> =
        got.iter().map(|r| r["fundingRate"].to_string()).collect();
    assert!(rates.len() > 5, "rates vary around the mean: {rates:?}");
    // The live rows are the ones the engine settled (and paid) on.
    let live = sim.with_exchange(|ex| ex.markets["BTCUSDT"].funding_history.clone());
    assert_eq!(live.len(), 3);
    for (t, rate, mark) in live {
        let row = got.iter().find(|r| r["fundingTime"] == t).unwrap();
        assert_eq!(
            (dec(&row["fundingRate"]), dec(&row["markPrice"])),
            (rate, mark)
        );
    }
    // Default limit 100, max 1000; without times the most recent rows.
    let all = c.get("/fapi/v1/fundingRate", "symbol=DOGEUSDT").await.body;
    assert_eq!(rows(&all).len(), 100);
    assert_eq!(rows(&all)[99]["fundingTime"], START + 24 * HOUR);
    let big = c
        .get("/fapi/v1/fundingRate", "symbol=DOGEUSDT&limit=5000")
        .await
        .body;
    assert_eq!(rows(&big).len(), 1000);
}

#[tokio::test]
async fn interest_rate_history_reaches_before_the_start() {
    let (sim, c) = start(manual_config()).await;
    sim.advance(3 * HOUR);
    let q = format!(
        "asset=BTC&startTime={}&endTime={}",
        START - 5 * DAY,
        START - 4 * DAY
    );
    let r = c
        .signed("GET", "/sapi/v1/margin/interestRateHistory", &q)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = rows(&r.body);
    assert_eq!(v.len(), 25);
    assert_eq!(v[0]["timestamp"], START - 4 * DAY, "newest first");
    assert!(
        v.iter()
            .all(|x| dec(&x["dailyInterestRate"]) > Decimal::ZERO)
    );
    // After the start the rate is the configured one the engine charges.
    let q = format!("asset=BTC&startTime={START}");
    let r = c
        .signed("GET", "/sapi/v1/margin/interestRateHistory", &q)
        .await;
    let configured = sim.with_exchange(|ex| ex.cfg.asset("BTC").daily_interest_rate);
    assert_eq!(rows(&r.body).len(), 4);
    assert!(
        rows(&r.body)
            .iter()
            .all(|x| dec(&x["dailyInterestRate"]) == configured)
    );
    let r = c
        .signed("GET", "/sapi/v1/margin/interestRateHistory", "asset=NOPE")
        .await;
    assert_eq!(r.code(), -3027);
}

#[tokio::test]
async fn api_restrictions_are_per_account_and_signed() {
    let mut cfg = manual_config();
    let mut alice = fff_sim::config::AccountConfig::paper();
    alice.name = "alice".into();
    alice.api_key = "alice-key".into();
    alice.api_secret = "alice-secret".into();
    alice.api_restrictions.enable_withdrawals = true;
    alice.api_restrictions.ip_restrict = true;
    alice.api_restrictions.enable_futures = false;
    alice.api_restrictions.enable_spot_and_margin_trading = false;
    cfg.accounts = vec![fff_sim::config::AccountConfig::paper(), alice];
    let (_sim, paper) = start(cfg).await;
    let r = paper
        .signed("GET", "/sapi/v1/account/apiRestrictions", "")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["enableWithdrawals"], false);
    assert_eq!(r.body["enableFutures"], true);
    assert_eq!(r.body["enableSpotAndMarginTrading"], true);
    assert_eq!(r.body["createTime"], START);
    let alice = crate::support::Client::new(&paper.base, "alice-key", "alice-secret");
    let r = alice
        .signed("GET", "/sapi/v1/account/apiRestrictions", "")
        .await;
    assert_eq!(
        (
            r.body["enableWithdrawals"].clone(),
            r.body["ipRestrict"].clone()
        ),
        (true.into(), true.into())
    );
    assert_eq!(r.body["enableFutures"], false);
    // The flags are enforced like Binance does (-2015); reading stays allowed.
    let r = alice.signed("GET", "/fapi/v2/balance", "").await;
    assert_eq!((r.status, r.code()), (401, -2015));
    let order = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001";
    let r = alice.signed("POST", "/api/v3/order", order).await;
    assert_eq!(r.code(), -2015);
    let r = alice.signed("POST", "/sapi/v1/margin/order", order).await;
    assert_eq!(r.code(), -2015);
    let r = alice.signed("GET", "/api/v3/account", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = paper.signed("POST", "/api/v3/order", order).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = paper.get("/sapi/v1/account/apiRestrictions", "").await;
    assert_eq!(r.code(), -1102, "unsigned: timestamp missing");
    assert!(r.header("X-SAPI-USED-IP-WEIGHT-1M").is_some());
}

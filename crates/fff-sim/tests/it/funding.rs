use std::collections::BTreeMap;

use fff_sim::config::AccountConfig;
use rust_decimal::Decimal;
use rust_decimal_macros::dec as d;

use crate::support::{Client, HOUR, START, dec, manual_config, start};

#[tokio::test]
async fn funding_settles_at_each_symbols_interval_with_exact_amounts() {
    let (sim, c) = start(manual_config()).await;
    for (sym, qty) in [("DOGEUSDT", "1000"), ("SOLUSDT", "10"), ("BTCUSDT", "0.01")] {
        let r = c
            .signed(
                "POST",
                "/fapi/v1/order",
                &format!("symbol={sym}&side=SELL&type=MARKET&quantity={qty}"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    sim.advance(30 * 60_000);
    assert!(
        c.signed("GET", "/fapi/v1/income", "incomeType=FUNDING_FEE")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    sim.advance(8 * HOUR - 30 * 60_000);
    let rows = c
        .signed(
            "GET",
            "/fapi/v1/income",
            "incomeType=FUNDING_FEE&limit=1000",
        )
        .await
        .body;
    let rows = rows.as_array().unwrap();
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in rows {
        times
            .entry(r["symbol"].as_str().unwrap().to_string())
            .or_default()
            .push(r["time"].as_i64().unwrap());
    }
    assert_eq!(
        times["DOGEUSDT"],
        (1..=8).map(|h| START + h * HOUR).collect::<Vec<_>>()
    );
    assert_eq!(times["SOLUSDT"], vec![START + 4 * HOUR, START + 8 * HOUR]);
    assert_eq!(times["BTCUSDT"], vec![START + 8 * HOUR]);
    // Each row equals -positionAmt * markPrice * fundingRate of the settlement it belongs to.
    for (sym, amt) in [
        ("DOGEUSDT", d!(-1000)),
        ("SOLUSDT", d!(-10)),
        ("BTCUSDT", d!(-0.01)),
    ] {
        let hist = c
            .get(
                "/fapi/v1/fundingRate",
                &format!("symbol={sym}&startTime={START}"),
            )
            .await
            .body;
        for r in rows.iter().filter(|r| r["symbol"] == sym) {
            let h = hist
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["fundingTime"] == r["time"])
                .unwrap();
            let expect = (-amt * dec(&h["markPrice"]) * dec(&h["fundingRate"])).round_dp(8);
            assert_eq!(dec(&r["income"]), expect, "{sym} {r}");
        }
    }
    // Shorts earn on DOGE (positive rate) and pay on SOL (negative rate).
    let sum = |s: &str| {
        rows.iter()
            .filter(|r| r["symbol"] == s)
            .map(|r| dec(&r["income"]))
            .sum::<Decimal>()
    };
    assert!(sum("DOGEUSDT") > d!(0) && sum("SOLUSDT") < d!(0));
}

#[tokio::test]
async fn position_is_liquidated_when_margin_runs_out() {
    let mut cfg = manual_config();
    cfg.accounts = vec![
        AccountConfig::paper(),
        AccountConfig {
            name: "small".into(),
            api_key: "small-key".into(),
            api_secret: "small-secret".into(),
            futures: BTreeMap::from([("USDT".into(), d!(2000))]),
            ..AccountConfig::paper()
        },
    ];
    let (sim, paper) = start(cfg).await;
    let c = Client::new(&paper.base, "small-key", "small-secret");
    let r = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.2",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    sim.shock("BTCUSDT", d!(-3)).unwrap();
    sim.advance(1000);
    assert_eq!(
        c.signed("GET", "/fapi/v3/positionRisk", "")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sim.shock("BTCUSDT", d!(-10)).unwrap();
    sim.advance(1000);
    assert!(
        c.signed("GET", "/fapi/v3/positionRisk", "")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    let state = reqwest::get(format!("{}/state?account=small", sim.urls.admin))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(state["liquidations"], 1);
    let wallet = dec(&c.signed("GET", "/fapi/v3/account", "").await.body["totalWalletBalance"]);
    assert!(wallet >= d!(0) && wallet < d!(2000));
    // The paper account was untouched.
    assert!(
        paper
            .signed("GET", "/fapi/v3/positionRisk", "")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn accelerated_clock_settles_funding_without_admin_help() {
    let mut cfg = manual_config();
    cfg.clock.mode = fff_sim::config::ClockMode::Accelerated;
    cfg.clock.speed = 7200.0;
    let (sim, c) = start(cfg).await;
    let r = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=DOGEUSDT&side=SELL&type=MARKET&quantity=1000",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert!(sim.now_ms() >= START + 4 * HOUR);
    let rows = c
        .signed("GET", "/fapi/v1/income", "incomeType=FUNDING_FEE")
        .await
        .body;
    let n = rows.as_array().unwrap().len();
    assert!(n >= 3, "hourly DOGE funding while the clock runs: {n}");
    let server = c.get("/fapi/v1/time", "").await.body["serverTime"]
        .as_i64()
        .unwrap();
    assert!(server >= START + 4 * HOUR);
}

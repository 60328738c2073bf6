use std::time::Instant;

use rust_decimal_macros::dec as d;
use serde_json::{Value, json};

use crate::support::{START, dec, manual_config, start};

async fn admin(sim: &fff_sim::SimHandle, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/{path}", sim.urls.admin))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "admin {path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn reject_and_partial_fill_knobs() {
    let (sim, c) = start(manual_config()).await;
    admin(&sim, "faults", json!({"reject_rate": 1.0})).await;
    assert_eq!(
        c.signed(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
        )
        .await
        .code(),
        -2010
    );
    assert_eq!(
        c.signed(
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01"
        )
        .await
        .code(),
        -1008
    );
    admin(
        &sim,
        "faults",
        json!({"reject_rate": 0.0, "partial_fill_rate": 1.0}),
    )
    .await;
    let r = c
        .signed(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01",
        )
        .await;
    assert_eq!(r.body["status"], "EXPIRED", "{}", r.body);
    assert_eq!(dec(&r.body["executedQty"]), d!(0.005));
    let f = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=1&newOrderRespType=RESULT",
        )
        .await;
    assert_eq!(
        (f.body["status"].as_str(), dec(&f.body["executedQty"])),
        (Some("EXPIRED"), d!(0.5))
    );
}

#[tokio::test]
async fn latency_storm_and_skew_knobs() {
    let (sim, c) = start(manual_config()).await;
    admin(&sim, "faults", json!({"latency_ms": 300})).await;
    let t = Instant::now();
    assert_eq!(c.get("/api/v3/ping", "").await.status, 200);
    assert!(t.elapsed().as_millis() >= 300);
    admin(
        &sim,
        "faults",
        json!({"latency_ms": 0, "rate_limit_storm": true}),
    )
    .await;
    let r = c.get("/fapi/v1/time", "").await;
    assert_eq!((r.status, r.code()), (429, -1003));
    assert!(r.header("retry-after").is_some());
    admin(
        &sim,
        "faults",
        json!({"rate_limit_storm": false, "clock_skew_ms": 5000}),
    )
    .await;
    assert_eq!(
        c.get("/api/v3/time", "").await.body["serverTime"],
        START + 5000
    );
}

#[tokio::test]
async fn funding_set_flip_shock_and_clock_advance_knobs() {
    let (sim, c) = start(manual_config()).await;
    let rate = |c: crate::support::Client| async move {
        dec(&c.get("/fapi/v1/premiumIndex", "symbol=BTCUSDT").await.body["lastFundingRate"])
    };
    assert!(rate(c.clone()).await > d!(0));
    admin(&sim, "funding", json!({"symbol": "BTCUSDT", "flip": true})).await;
    assert!(rate(c.clone()).await < d!(0));
    admin(
        &sim,
        "funding",
        json!({"symbol": "BTCUSDT", "rate": "0.003"}),
    )
    .await;
    assert_eq!(rate(c.clone()).await, d!(0.003));
    let before = dec(&c.get("/fapi/v1/premiumIndex", "symbol=BTCUSDT").await.body["markPrice"]);
    admin(&sim, "shock", json!({"symbol": "BTCUSDT", "pct": "-10"})).await;
    let after = dec(&c.get("/fapi/v1/premiumIndex", "symbol=BTCUSDT").await.body["markPrice"]);
    assert!(after < before * d!(0.91) && after > before * d!(0.89));
    let now = admin(&sim, "clock/advance", json!({"hours": 8})).await;
    assert_eq!(now["now"], START + 8 * 3_600_000);
    // The latest row is the first live settlement (synthetic history precedes it).
    let hist = c.get("/fapi/v1/fundingRate", "symbol=BTCUSDT").await.body;
    let last = hist.as_array().unwrap().last().unwrap();
    assert_eq!(last["fundingTime"], START + 8 * 3_600_000);
    assert_eq!(dec(&last["fundingRate"]), d!(0.003));
    // an absurd advance is refused with a reason and moves nothing (it used to overflow)
    for body in [json!({"hours": i64::MAX}), json!({"ms": -5})] {
        let r = reqwest::Client::new()
            .post(format!("{}/clock/advance", sim.urls.admin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert!(r.text().await.unwrap().contains("one year"));
    }
    assert_eq!(sim.now_ms(), START + 8 * 3_600_000);
}

/// `/admin/shock_coverage` lands the futures margin coverage at the target in one call, sized
/// under the venue's lock (a short and a long: each moved against the account); `/admin/shocks`
/// undoes it; `/admin/liquidate` closes every perp with LIQUIDATION orders.
#[tokio::test]
async fn a_move_to_a_coverage_lands_there_and_a_liquidation_closes_every_perp() {
    let (sim, c) = start(manual_config()).await;
    for (symbol, side, qty) in [("BTCUSDT", "SELL", "1"), ("ETHUSDT", "BUY", "20")] {
        let r = c
            .signed(
                "POST",
                "/fapi/v1/order",
                &format!("symbol={symbol}&side={side}&type=MARKET&quantity={qty}"),
            )
            .await;
        assert_eq!(r.body["status"], "FILLED", "{}", r.body);
    }
    let coverage =
        |account: &Value| dec(&account["totalMarginBalance"]) / dec(&account["totalMaintMargin"]);
    let before = coverage(&c.signed("GET", "/fapi/v2/account", "").await.body);
    assert!(before > d!(3), "{before}");
    let moved = admin(&sim, "shock_coverage", json!({"coverage": "2.5"})).await;
    let after = coverage(&c.signed("GET", "/fapi/v2/account", "").await.body);
    assert!((after - d!(2.5)).abs() <= d!(0.01), "{after}: {moved}");
    assert!(moved["atUs"].as_i64().is_some(), "{moved}");
    let moves = moved["moves"].as_array().unwrap();
    let pct = |symbol: &str| dec(&moves.iter().find(|m| m["symbol"] == symbol).unwrap()["pct"]);
    // against the account: the short's price up, the long's down
    assert!(pct("BTCUSDT") > d!(0) && pct("ETHUSDT") < d!(0), "{moved}");
    // already at the target: nothing moves
    let again = admin(&sim, "shock_coverage", json!({"coverage": "2.5"})).await;
    assert!(again["moves"].as_array().unwrap().is_empty(), "{again}");

    let done = admin(&sim, "liquidate", json!({})).await;
    assert_eq!(done["liquidated"], 2, "{done}");
    let positions = c.signed("GET", "/fapi/v2/positionRisk", "").await.body;
    assert!(
        positions
            .as_array()
            .unwrap()
            .iter()
            .all(|p| dec(&p["positionAmt"]).is_zero()),
        "{positions}"
    );
}

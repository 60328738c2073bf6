use rust_decimal_macros::dec as d;

use crate::support::{HOUR, dec, manual_config, start};

#[tokio::test]
async fn margin_buy_borrows_interest_accrues_hourly_auto_repay_repays() {
    let (sim, c) = start(manual_config()).await;
    let r = c
        .signed(
            "POST",
            "/sapi/v1/margin/order",
            "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=2&sideEffectType=MARGIN_BUY",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["marginBuyBorrowAmount"].as_f64(), Some(2.0));
    assert_eq!(r.body["marginBuyBorrowAsset"], "ETH");
    assert_eq!(r.body["isIsolated"], false);
    let shown = dec(&c
        .signed(
            "GET",
            "/sapi/v1/margin/next-hourly-interest-rate",
            "assets=ETH&isIsolated=FALSE",
        )
        .await
        .body[0]["nextHourlyInterestRate"]);
    let daily = dec(&c
        .signed("GET", "/sapi/v1/margin/crossMarginData", "coin=ETH")
        .await
        .body[0]["dailyInterest"]);
    let rate = daily / d!(24);
    assert_eq!(shown, rate.round_dp(8));
    sim.advance(3 * HOUR);
    let hist = c
        .signed("GET", "/sapi/v1/margin/interestHistory", "asset=ETH")
        .await
        .body;
    let rows = hist["rows"].as_array().unwrap();
    assert_eq!(hist["total"], 4, "one ON_BORROW + three PERIODIC: {hist}");
    assert_eq!(rows.iter().filter(|r| r["type"] == "ON_BORROW").count(), 1);
    for r in rows {
        assert_eq!(dec(&r["interest"]), (d!(2) * rate).round_dp(8));
    }
    let acct = c.signed("GET", "/sapi/v1/margin/account", "").await.body;
    let eth = acct["userAssets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["asset"] == "ETH")
        .unwrap();
    assert_eq!(dec(&eth["borrowed"]), d!(2));
    assert_eq!(dec(&eth["interest"]), (d!(2) * rate).round_dp(8) * d!(4));
    assert!(dec(&acct["marginLevel"]) > d!(1.5));
    let buy = c
        .signed(
            "POST",
            "/sapi/v1/margin/order",
            "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=2.1&sideEffectType=AUTO_REPAY",
        )
        .await;
    assert_eq!(buy.body["status"], "FILLED", "{}", buy.body);
    let acct = c.signed("GET", "/sapi/v1/margin/account", "").await.body;
    let eth = acct["userAssets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["asset"] == "ETH")
        .unwrap();
    assert_eq!(
        (dec(&eth["borrowed"]), dec(&eth["interest"])),
        (d!(0), d!(0))
    );
    let repays = c
        .signed("GET", "/sapi/v1/margin/borrow-repay", "type=REPAY")
        .await
        .body;
    assert_eq!(repays["rows"][0]["type"], "AUTO");
}

#[tokio::test]
async fn borrow_repay_endpoint_limits_and_inventory_fault() {
    let (sim, c) = start(manual_config()).await;
    let max = c
        .signed("GET", "/sapi/v1/margin/maxBorrowable", "asset=BTC")
        .await
        .body;
    let max_amt = dec(&max["amount"]);
    assert!(max_amt > d!(0));
    let too_much = c
        .signed(
            "POST",
            "/sapi/v1/margin/borrow-repay",
            &format!(
                "asset=BTC&isIsolated=FALSE&amount={}&type=BORROW",
                max_amt + d!(1)
            ),
        )
        .await;
    assert_eq!(too_much.code(), -3006);
    let ok = c
        .signed(
            "POST",
            "/sapi/v1/margin/borrow-repay",
            "asset=BTC&isIsolated=FALSE&amount=0.1&type=BORROW",
        )
        .await;
    assert!(ok.body["tranId"].is_i64(), "{}", ok.body);
    let resp = reqwest::Client::new()
        .post(format!("{}/faults", sim.urls.admin))
        .body(r#"{"borrow_unavailable":["BTC"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let inv = c
        .signed(
            "POST",
            "/sapi/v1/margin/borrow-repay",
            "asset=BTC&isIsolated=FALSE&amount=0.1&type=BORROW",
        )
        .await;
    assert_eq!(
        inv.body,
        serde_json::json!({"code": -3045, "msg": "The system does not have enough asset now."})
    );
    let auto = c
        .signed(
            "POST",
            "/sapi/v1/margin/order",
            "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.5&sideEffectType=MARGIN_BUY",
        )
        .await;
    assert_eq!(auto.code(), -3045);
    let non_margin = c
        .signed(
            "POST",
            "/sapi/v1/margin/order",
            "symbol=ORCAUSDT&side=BUY&type=MARKET&quantity=10",
        )
        .await;
    assert_eq!(non_margin.code(), -3028);
}

#[tokio::test]
async fn cancelled_margin_buy_repays_its_borrow_unless_told_not_to() {
    // Repaying from the 5 SOL released pays the first hour's interest first, so a dust of
    // principal (the interest amount) stays borrowed.
    for (repay, expect) in [("true", d!(0.00004167)), ("false", d!(5))] {
        let (_sim, c) = start(manual_config()).await;
        let px = dec(&c
            .get("/api/v3/ticker/bookTicker", "symbol=SOLUSDT")
            .await
            .body["askPrice"]);
        let high = (px * d!(1.2)).round_dp(2);
        let borrowed = || async {
            let acct = c.signed("GET", "/sapi/v1/margin/account", "").await.body;
            acct["userAssets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["asset"] == "SOL")
                .map(|a| dec(&a["borrowed"]))
                .unwrap_or_default()
        };
        let q = format!(
            "symbol=SOLUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=5&price={high}&sideEffectType=MARGIN_BUY&autoRepayAtCancel={repay}&newClientOrderId=s1"
        );
        let r = c.signed("POST", "/sapi/v1/margin/order", &q).await;
        assert_eq!(r.body["status"], "NEW", "{}", r.body);
        assert_eq!(borrowed().await, d!(5));
        let del = c
            .signed(
                "DELETE",
                "/sapi/v1/margin/order",
                "symbol=SOLUSDT&origClientOrderId=s1",
            )
            .await;
        assert_eq!(del.body["status"], "CANCELED");
        assert_eq!(borrowed().await, expect, "autoRepayAtCancel={repay}");
    }
}

#[tokio::test]
async fn uid_weighted_sapi_endpoints_spend_the_accounts_budget_not_the_ips() {
    let mut cfg = manual_config();
    cfg.limits.sapi_weight_per_minute = 100;
    cfg.limits.sapi_uid_weight_per_minute = 3000;
    let (_sim, c) = start(cfg).await;
    let uid = |r: &crate::support::Resp| r.header("X-SAPI-USED-UID-WEIGHT-1M");
    let ip = |r: &crate::support::Resp| r.header("X-SAPI-USED-IP-WEIGHT-1M");
    let transfer = "type=MAIN_UMFUTURE&asset=USDT&amount=10";
    let r = c.signed("POST", "/sapi/v1/asset/transfer", transfer).await;
    assert_eq!((r.status, uid(&r), ip(&r)), (200, Some("900".into()), None));
    // an order that may borrow weighs 1500, a plain one 6
    let borrow =
        "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=0.01&sideEffectType=AUTO_BORROW_REPAY";
    let r = c.signed("POST", "/sapi/v1/margin/order", borrow).await;
    assert_eq!(
        (r.status, uid(&r)),
        (200, Some("2400".into())),
        "{}",
        r.body
    );
    let plain = "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=0.01";
    let r = c.signed("POST", "/sapi/v1/margin/order", plain).await;
    assert_eq!(uid(&r), Some("2406".into()), "{}", r.body);
    // IP-weighted reads have their own budget
    let r = c.signed("GET", "/sapi/v1/margin/account", "").await;
    assert_eq!((r.status, uid(&r), ip(&r)), (200, None, Some("10".into())));
    // over the account's budget: 429 -1003, and no IP ban however often it is retried
    for _ in 0..8 {
        let r = c.signed("POST", "/sapi/v1/asset/transfer", transfer).await;
        assert_eq!((r.status, r.code()), (429, -1003), "{}", r.body);
        assert!(r.header("Retry-After").is_some());
    }
    let r = c.signed("GET", "/sapi/v1/margin/account", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

use rust_decimal::Decimal;
use rust_decimal_macros::dec as d;

use crate::support::{HOUR, dec, manual_config, start};

#[tokio::test]
async fn spot_market_order_fills_across_levels_with_taker_fee() {
    let mut cfg = manual_config();
    cfg.market.level_notional = d!(2000);
    let (_sim, c) = start(cfg).await;
    let r = c
        .signed(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&newClientOrderId=buy1",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "FILLED");
    assert!(r.header("x-mbx-order-count-10s").is_some());
    let fills = r.body["fills"].as_array().unwrap();
    assert!(fills.len() > 1, "walks several levels: {fills:?}");
    let qty: Decimal = fills.iter().map(|f| dec(&f["qty"])).sum();
    assert_eq!(qty, d!(0.1));
    for f in fills {
        assert_eq!(f["commissionAsset"], "BTC");
        assert_eq!(
            dec(&f["commission"]),
            (dec(&f["qty"]) * d!(0.001)).round_dp(8)
        );
    }
    let acct = c
        .signed("GET", "/api/v3/account", "omitZeroBalances=true")
        .await
        .body;
    let btc = acct["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "BTC")
        .unwrap();
    assert_eq!(dec(&btc["free"]), d!(0.0999));
    assert_eq!(acct["commissionRates"]["taker"], "0.00100000");
}

#[tokio::test]
async fn spot_rejections_filters_balance_duplicates() {
    let (_sim, c) = start(manual_config()).await;
    let lot = c
        .signed(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.0000001&price=90000",
        )
        .await;
    assert_eq!(lot.code(), -1013);
    let tick = c
        .signed(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=90000.001",
        )
        .await;
    assert_eq!(
        (tick.code(), tick.body["msg"].as_str()),
        (-1013, Some("Filter failure: PRICE_FILTER"))
    );
    let poor = c
        .signed(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=10&price=90000",
        )
        .await;
    assert_eq!(poor.code(), -2010);
    let rest = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=80000&newClientOrderId=dup";
    assert_eq!(
        c.signed("POST", "/api/v3/order", rest).await.body["status"],
        "NEW"
    );
    let dup = c.signed("POST", "/api/v3/order", rest).await;
    assert_eq!(
        (dup.code(), dup.body["msg"].as_str()),
        (-2010, Some("Duplicate order sent."))
    );
    let q = c
        .signed(
            "GET",
            "/api/v3/order",
            "symbol=BTCUSDT&origClientOrderId=dup",
        )
        .await;
    assert_eq!(q.body["status"], "NEW");
    let del = c
        .signed(
            "DELETE",
            "/api/v3/order",
            "symbol=BTCUSDT&origClientOrderId=dup",
        )
        .await;
    assert_eq!(del.body["status"], "CANCELED");
    assert_eq!(
        c.signed(
            "DELETE",
            "/api/v3/order",
            "symbol=BTCUSDT&origClientOrderId=dup"
        )
        .await
        .code(),
        -2011
    );
    let usdt = c.signed("GET", "/api/v3/account", "").await.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .cloned()
        .unwrap();
    assert_eq!(dec(&usdt["locked"]), d!(0));
    let notional = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001",
        )
        .await;
    assert_eq!(notional.code(), -4164);
}

#[tokio::test]
async fn resting_limit_fills_as_maker_when_price_moves_through() {
    let (sim, c) = start(manual_config()).await;
    let px = dec(&c
        .get("/api/v3/ticker/bookTicker", "symbol=ETHUSDT")
        .await
        .body["bidPrice"]);
    let limit = (px * d!(0.97)).round_dp(2);
    let r = c
        .signed(
            "POST",
            "/api/v3/order",
            &format!(
                "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.5&price={limit}"
            ),
        )
        .await;
    assert_eq!(r.body["status"], "NEW", "{}", r.body);
    let id = r.body["orderId"].as_i64().unwrap();
    sim.shock("ETHUSDT", d!(-5)).unwrap();
    sim.advance(5_000);
    let q = c
        .signed(
            "GET",
            "/api/v3/order",
            &format!("symbol=ETHUSDT&orderId={id}"),
        )
        .await
        .body;
    assert_eq!(q["status"], "FILLED", "{q}");
    assert_eq!(dec(&q["price"]), limit);
    let trades = c
        .signed("GET", "/api/v3/myTrades", "symbol=ETHUSDT")
        .await
        .body;
    assert!(
        trades
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["isMaker"] == true)
    );
}

#[tokio::test]
async fn futures_positions_account_and_income() {
    let (sim, c) = start(manual_config()).await;
    assert_eq!(
        c.signed("POST", "/fapi/v1/leverage", "symbol=ETHUSDT&leverage=5")
            .await
            .body["leverage"],
        5
    );
    let r = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=2&newOrderRespType=RESULT",
        )
        .await;
    assert_eq!(r.body["status"], "FILLED", "{}", r.body);
    let pos = c.signed("GET", "/fapi/v3/positionRisk", "").await.body;
    assert_eq!(pos.as_array().unwrap().len(), 1);
    assert_eq!(dec(&pos[0]["positionAmt"]), d!(-2));
    let acct = c.signed("GET", "/fapi/v3/account", "").await.body;
    assert!(dec(&acct["totalInitialMargin"]) > d!(1000));
    let inc = c
        .signed("GET", "/fapi/v1/income", "incomeType=COMMISSION")
        .await
        .body;
    let fee: Decimal = inc
        .as_array()
        .unwrap()
        .iter()
        .map(|i| dec(&i["income"]))
        .sum();
    let notional = dec(&r.body["cumQuote"]);
    assert_eq!(fee, -(notional * d!(0.0005)).round_dp(8));
    let close = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=5&reduceOnly=true",
        )
        .await;
    assert_eq!(close.status, 200, "{}", close.body);
    sim.advance(HOUR);
    assert!(
        c.signed("GET", "/fapi/v3/positionRisk", "")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.signed(
            "POST",
            "/fapi/v1/order",
            "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1&reduceOnly=true"
        )
        .await
        .code(),
        -2022
    );
    let big = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=50",
        )
        .await;
    assert_eq!(big.code(), -2019);
}

#[tokio::test]
async fn same_seed_same_fills() {
    async fn script() -> Vec<String> {
        let (sim, c) = start(manual_config()).await;
        let mut out = Vec::new();
        for i in 0..4 {
            sim.advance(37 * 60_000 + i * 1000);
            let r = c
                .signed(
                    "POST",
                    "/fapi/v1/order",
                    "symbol=SOLUSDT&side=BUY&type=MARKET&quantity=3&newOrderRespType=RESULT",
                )
                .await;
            out.push(format!("{}@{}", r.body["executedQty"], r.body["avgPrice"]));
            let s = c
                .signed(
                    "POST",
                    "/api/v3/order",
                    "symbol=SOLUSDT&side=BUY&type=MARKET&quantity=1",
                )
                .await;
            out.push(s.body["fills"].to_string());
        }
        out
    }
    let a = script().await;
    assert_eq!(a, script().await);
    assert_ne!(a[0], a[2], "prices move between orders");
}

/// A pure reduction lowers risk: it is accepted even when the loss of a price move has eaten
/// all available balance (as on Binance), so a shocked account can still de-risk.
#[tokio::test]
async fn reduce_only_order_needs_no_available_balance() {
    let (sim, c) = start(manual_config()).await;
    assert_eq!(
        c.signed("POST", "/fapi/v1/leverage", "symbol=ETHUSDT&leverage=10")
            .await
            .status,
        200
    );
    let mark = dec(&c.get("/fapi/v1/premiumIndex", "symbol=ETHUSDT").await.body["markPrice"]);
    let available = dec(&c.signed("GET", "/fapi/v3/account", "").await.body["availableBalance"]);
    // About 90 % of the available balance as initial margin at 10x.
    let qty = (available * d!(9) / mark).floor();
    let open = c
        .signed(
            "POST",
            "/fapi/v1/order",
            &format!("symbol=ETHUSDT&side=SELL&type=MARKET&quantity={qty}"),
        )
        .await;
    assert_eq!(open.status, 200, "{}", open.body);
    // +3 % against a short of ~9x the balance: a loss of ~27 % of it, more than the ~10 % left
    // available, far from the maintenance margin.
    sim.shock("ETHUSDT", d!(3)).unwrap();
    let account = c.signed("GET", "/fapi/v3/account", "").await.body;
    assert!(dec(&account["availableBalance"]) <= d!(0), "{account}");
    let growing = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=1",
        )
        .await;
    assert_eq!(growing.code(), -2019, "{}", growing.body);
    let half = (qty / d!(2)).floor();
    let reduce = c
        .signed(
            "POST",
            "/fapi/v1/order",
            &format!("symbol=ETHUSDT&side=BUY&type=MARKET&quantity={half}&reduceOnly=true"),
        )
        .await;
    assert_eq!(reduce.status, 200, "{}", reduce.body);
}

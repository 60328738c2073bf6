//! Endpoints generic clients (ccxt) call beyond what the farmer uses: their shapes as Binance
//! documents them, for a venue with spot, cross margin and USDⓈ-M futures only.

use rust_decimal_macros::dec;

use crate::support::{dec, manual_config, start};

#[tokio::test]
async fn capital_config_lists_every_coin_with_its_spot_balance_and_no_network() {
    let (_sim, c) = start(manual_config()).await;
    let r = c.signed("GET", "/sapi/v1/capital/config/getall", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.body.as_array().unwrap();
    let coins: Vec<&str> = rows.iter().map(|x| x["coin"].as_str().unwrap()).collect();
    for coin in ["BTC", "ETH", "SOL", "USDT"] {
        assert!(coins.contains(&coin), "{coin} missing from {coins:?}");
    }
    let usdt = rows.iter().find(|x| x["coin"] == "USDT").unwrap();
    assert_eq!(dec(&usdt["free"]), dec!(100000));
    assert_eq!(dec(&usdt["locked"]), dec!(0));
    for field in ["freeze", "withdrawing", "ipoing", "ipoable", "storage"] {
        assert_eq!(usdt[field], "0.00000000", "{field}");
    }
    assert_eq!(usdt["isLegalMoney"], false);
    assert_eq!(usdt["trading"], true);
    assert_eq!(usdt["depositAllEnable"], false);
    assert_eq!(usdt["networkList"], serde_json::json!([]));
    // USER_DATA: the signature is required.
    let unsigned = c.get("/sapi/v1/capital/config/getall", "").await;
    assert_eq!(unsigned.code(), -1102);
}

#[tokio::test]
async fn no_isolated_pairs_and_no_coin_margined_listing() {
    let (_sim, c) = start(manual_config()).await;
    let isolated = c.get("/sapi/v1/margin/isolated/allPairs", "").await;
    assert_eq!(isolated.status, 200);
    assert_eq!(isolated.body, serde_json::json!([]));
    let dapi = c.get("/dapi/v1/exchangeInfo", "").await;
    assert_eq!(dapi.status, 200);
    assert_eq!(dapi.body["symbols"], serde_json::json!([]));
    assert_eq!(dapi.body["timezone"], "UTC");
    assert!(dapi.body["serverTime"].as_i64().unwrap() > 0);
    assert_eq!(
        dapi.body["rateLimits"][0]["rateLimitType"],
        "REQUEST_WEIGHT"
    );
    assert!(dapi.header("X-MBX-USED-WEIGHT-1M").is_some());
    let status = c.get("/sapi/v1/system/status", "").await;
    assert_eq!(
        status.body,
        serde_json::json!({"status": 0, "msg": "normal"})
    );
}

#[tokio::test]
async fn spot_trade_fees_are_the_configured_vip0_rates() {
    let (_sim, c) = start(manual_config()).await;
    let one = c
        .signed("GET", "/sapi/v1/asset/tradeFee", "symbol=BTCUSDT")
        .await;
    assert_eq!(
        one.body,
        serde_json::json!([{"symbol": "BTCUSDT", "makerCommission": "0.001", "takerCommission": "0.001"}])
    );
    let all = c.signed("GET", "/sapi/v1/asset/tradeFee", "").await;
    assert_eq!(all.body.as_array().unwrap().len(), 12);
    let unknown = c
        .signed("GET", "/sapi/v1/asset/tradeFee", "symbol=NOPEUSDT")
        .await;
    assert_eq!(unknown.code(), -1121);
}

#[tokio::test]
async fn transfer_history_lists_one_type_newest_first() {
    let (sim, c) = start(manual_config()).await;
    let first = c
        .signed(
            "POST",
            "/sapi/v1/asset/transfer",
            "type=MAIN_UMFUTURE&asset=USDT&amount=100",
        )
        .await;
    sim.advance(60_000);
    let second = c
        .signed(
            "POST",
            "/sapi/v1/asset/transfer",
            "type=MAIN_UMFUTURE&asset=USDT&amount=2.5",
        )
        .await;
    c.signed(
        "POST",
        "/sapi/v1/asset/transfer",
        "type=UMFUTURE_MAIN&asset=USDT&amount=1",
    )
    .await;
    let r = c
        .signed("GET", "/sapi/v1/asset/transfer", "type=MAIN_UMFUTURE")
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.body);
    let rows = r.body["rows"].as_array().unwrap();
    assert_eq!(rows[0]["tranId"], second.body["tranId"]);
    assert_eq!(rows[1]["tranId"], first.body["tranId"]);
    assert_eq!(rows[1]["amount"], "100.00000000");
    assert_eq!(rows[1]["asset"], "USDT");
    assert_eq!(rows[1]["type"], "MAIN_UMFUTURE");
    assert_eq!(rows[1]["status"], "CONFIRMED");
    assert_eq!(
        rows[0]["timestamp"].as_i64().unwrap() - rows[1]["timestamp"].as_i64().unwrap(),
        60_000
    );
    let paged = c
        .signed(
            "GET",
            "/sapi/v1/asset/transfer",
            "type=MAIN_UMFUTURE&current=2&size=1",
        )
        .await;
    assert_eq!(paged.body["total"], 2);
    assert_eq!(paged.body["rows"][0]["tranId"], first.body["tranId"]);
    let none = c
        .signed("GET", "/sapi/v1/asset/transfer", "type=MAIN_MARGIN")
        .await;
    assert_eq!(none.body, serde_json::json!({"total": 0}));
    let missing = c.signed("GET", "/sapi/v1/asset/transfer", "").await;
    assert_eq!(missing.code(), -1102);
}

#[tokio::test]
async fn symbol_and_account_config_report_leverage_and_one_way_mode() {
    let (_sim, c) = start(manual_config()).await;
    let set = c
        .signed("POST", "/fapi/v1/leverage", "symbol=ETHUSDT&leverage=3")
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let one = c
        .signed("GET", "/fapi/v1/symbolConfig", "symbol=ETHUSDT")
        .await;
    assert_eq!(
        one.body,
        serde_json::json!([{"symbol": "ETHUSDT", "marginType": "CROSSED", "isAutoAddMargin": "false",
            "leverage": 3, "maxNotionalValue": set.body["maxNotionalValue"]}])
    );
    let all = c.signed("GET", "/fapi/v1/symbolConfig", "").await;
    let rows = all.body.as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let btc = rows.iter().find(|x| x["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(btc["leverage"], 20);
    let unknown = c
        .signed("GET", "/fapi/v1/symbolConfig", "symbol=NOPEUSDT")
        .await;
    assert_eq!(unknown.code(), -1121);
    let cfg = c.signed("GET", "/fapi/v1/accountConfig", "").await;
    assert_eq!(cfg.body["feeTier"], 0);
    assert_eq!(cfg.body["dualSidePosition"], false);
    assert_eq!(cfg.body["multiAssetsMargin"], false);
}

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal_macros::dec as d;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{HOUR, manual_config, sign, start, wall_ms};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Next JSON text message matching `pred`, within 5 s.
async fn next_json(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if pred(&v) {
                        return v;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("timed out waiting for message")
}

#[tokio::test]
async fn routed_market_streams() {
    let mut cfg = manual_config();
    cfg.market.stream_ms = 100;
    let (sim, _c) = start(cfg).await;
    let mut m = connect(&format!(
        "{}/market/stream?streams=btcusdt@markPrice@1s",
        sim.urls.futures_ws
    ))
    .await;
    let v = next_json(&mut m, |_| true).await;
    assert_eq!(v["stream"], "btcusdt@markPrice@1s");
    assert_eq!(v["data"]["e"], "markPriceUpdate");
    assert_eq!(v["data"]["T"], crate::support::START + 8 * HOUR);
    let mut p = connect(&format!(
        "{}/public/ws/ethusdt@bookTicker",
        sim.urls.futures_ws
    ))
    .await;
    let b = next_json(&mut p, |_| true).await;
    assert_eq!(
        (b["e"].as_str(), b["s"].as_str()),
        (Some("bookTicker"), Some("ETHUSDT"))
    );
    // JSON SUBSCRIBE on a raw connection.
    let mut s = connect(&format!("{}/ws", sim.urls.futures_ws)).await;
    s.send(Message::Text(
        json!({"method": "SUBSCRIBE", "params": ["solusdt@bookTicker"], "id": 1})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut s, |v| v.get("id").is_some()).await,
        json!({"result": null, "id": 1})
    );
    let spot = next_json(&mut s, |v| v.get("s").is_some()).await;
    assert!(spot.get("e").is_none(), "spot bookTicker has no event type");
}

#[tokio::test]
async fn futures_user_stream_gets_orders_and_funding_and_disconnect_fault() {
    let (sim, c) = start(manual_config()).await;
    let key = c.raw("POST", "/fapi/v1/listenKey", "", "").await.body["listenKey"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = connect(&format!(
        "{}/private/ws?listenKey={key}",
        sim.urls.futures_ws
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = c
        .signed(
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01",
        )
        .await;
    assert_eq!(r.status, 200);
    let upd = next_json(&mut ws, |v| {
        v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["x"] == "TRADE"
    })
    .await;
    assert_eq!(upd["o"]["s"], "BTCUSDT");
    sim.advance(8 * HOUR);
    let acc = next_json(&mut ws, |v| {
        v["e"] == "ACCOUNT_UPDATE" && v["a"]["m"] == "FUNDING_FEE"
    })
    .await;
    assert!(
        acc["a"]["B"][0]["bc"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
            > d!(0)
    );
    sim.disconnect_websockets();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(end, Ok(true));
}

#[tokio::test]
async fn ws_api_user_data_subscriptions() {
    let (sim, c) = start(manual_config()).await;
    let mut ws = connect(&sim.urls.spot_ws_api).await;
    let ts = wall_ms();
    let payload = format!("apiKey={}&timestamp={ts}", c.key);
    let req = json!({"id": "a1", "method": "userDataStream.subscribe.signature",
        "params": {"apiKey": c.key, "timestamp": ts, "signature": sign(&c.secret, &payload)}});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let resp = next_json(&mut ws, |v| v["id"] == "a1").await;
    assert_eq!(resp["status"], 200, "{resp}");
    let sid = resp["result"]["subscriptionId"].clone();
    let bad = json!({"id": "a2", "method": "userDataStream.subscribe.signature", "params": {"apiKey": c.key, "timestamp": ts, "signature": "00"}});
    ws.send(Message::Text(bad.to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws, |v| v["id"] == "a2").await["error"]["code"],
        -1022
    );
    c.signed(
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001",
    )
    .await;
    let ev = next_json(&mut ws, |v| {
        v["event"]["e"] == "executionReport" && v["event"]["x"] == "TRADE"
    })
    .await;
    assert_eq!(ev["subscriptionId"], sid);
    // Margin: listenToken.
    let tok = c.signed("POST", "/sapi/v1/userListenToken", "").await.body;
    let req = json!({"id": "m1", "method": "userDataStream.subscribe.listenToken", "params": {"listenToken": tok["token"]}});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let resp = next_json(&mut ws, |v| v["id"] == "m1").await;
    assert_eq!(resp["result"]["expirationTime"], tok["expirationTime"]);
    c.signed(
        "POST",
        "/sapi/v1/margin/order",
        "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=0.01",
    )
    .await;
    let ev = next_json(&mut ws, |v| {
        v["event"]["e"] == "outboundAccountPosition"
            && v["subscriptionId"] == resp["result"]["subscriptionId"]
    })
    .await;
    assert!(
        ev["event"]["B"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["a"] == "ETH")
    );
    let bad = json!({"id": "m2", "method": "userDataStream.subscribe.listenToken", "params": {"listenToken": "nope"}});
    ws.send(Message::Text(bad.to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws, |v| v["id"] == "m2").await["error"]["code"],
        -1209
    );
}

#[tokio::test]
async fn margin_risk_stream_reports_liabilities() {
    let (sim, c) = start(manual_config()).await;
    let key = c
        .raw("POST", "/sapi/v1/margin/listen-key", "", "")
        .await
        .body["listenKey"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = connect(&format!("{}/ws/{key}", sim.urls.margin_risk_ws)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.signed(
        "POST",
        "/sapi/v1/margin/borrow-repay",
        "asset=USDT&isIsolated=FALSE&amount=100&type=BORROW",
    )
    .await;
    let ev = next_json(&mut ws, |v| v["e"] == "USER_LIABILITY_CHANGE").await;
    assert_eq!(
        (ev["a"].as_str(), ev["t"].as_str(), ev["p"].as_str()),
        (Some("USDT"), Some("BORROW"), Some("100.00000000"))
    );
}

#[tokio::test]
async fn periodic_disconnect_fault_closes_streams() {
    let mut cfg = manual_config();
    cfg.faults.ws_disconnect_every_secs = 1;
    let (sim, _c) = start(cfg).await;
    let mut ws = connect(&format!(
        "{}/public/ws/btcusdt@bookTicker",
        sim.urls.futures_ws
    ))
    .await;
    let t = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
    assert!(t.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn shutdown_completes_with_open_connections() {
    let (sim, c) = start(manual_config()).await;
    let _ws = connect(&format!(
        "{}/market/ws/btcusdt@markPrice",
        sim.urls.futures_ws
    ))
    .await;
    assert_eq!(c.get("/api/v3/ping", "").await.status, 200);
    let done = tokio::time::timeout(Duration::from_secs(5), sim.shutdown()).await;
    assert!(matches!(done, Ok(Ok(()))), "{done:?}");
    assert!(
        c.http
            .get(format!("{}/api/v3/ping", c.base))
            .send()
            .await
            .is_err()
    );
}

/// A shock moves the book: its book ticker goes out at once, not at the next push of the
/// market streams (here 30 s away), like Binance's real-time `!bookTicker`.
#[tokio::test]
async fn a_shocked_book_is_pushed_at_once() {
    let mut cfg = manual_config();
    cfg.market.stream_ms = 30_000;
    let (sim, _c) = start(cfg).await;
    let mut ws = connect(&format!(
        "{}/public/stream?streams=!bookTicker",
        sim.urls.futures_ws
    ))
    .await;
    // the first push of every book comes at once
    let first = next_json(&mut ws, |v| v["data"]["s"] == "BTCUSDT").await;
    let bid_before: f64 = first["data"]["b"].as_str().unwrap().parse().unwrap();
    sim.shock("BTCUSDT", d!(-10)).unwrap();
    let started = std::time::Instant::now();
    let moved = next_json(&mut ws, |v| v["data"]["s"] == "BTCUSDT").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(moved["stream"], "!bookTicker");
    let bid_after: f64 = moved["data"]["b"].as_str().unwrap().parse().unwrap();
    assert!(
        bid_after < bid_before * 0.95,
        "bid {bid_before} -> {bid_after}"
    );
}

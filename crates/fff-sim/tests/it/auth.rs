use serde_json::json;

use crate::support::{Client, manual_config, sign, start, wall_ms};

#[tokio::test]
async fn bad_signature_is_1022() {
    let (_sim, c) = start(manual_config()).await;
    let q = format!("timestamp={}&signature=deadbeef", wall_ms());
    let r = c.raw("GET", "/api/v3/account", &q, "").await;
    assert_eq!((r.status, r.code()), (400, -1022));
    assert_eq!(r.body["msg"], "Signature for this request is not valid.");
}

#[tokio::test]
async fn timestamp_outside_recv_window_is_1021() {
    let (_sim, c) = start(manual_config()).await;
    let payload = format!("recvWindow=5000&timestamp={}", wall_ms() - 60_000);
    let q = format!("{payload}&signature={}", sign(&c.secret, &payload));
    let r = c.raw("GET", "/fapi/v3/account", &q, "").await;
    assert_eq!(r.code(), -1021);
    let ahead = format!("timestamp={}", wall_ms() + 10_000);
    let q = format!("{ahead}&signature={}", sign(&c.secret, &ahead));
    assert_eq!(c.raw("GET", "/api/v3/account", &q, "").await.code(), -1021);
}

#[tokio::test]
async fn unknown_key_is_2015_and_mixed_query_body_signature_works() {
    let (_sim, c) = start(manual_config()).await;
    let other = Client::new(&c.base, "nope", "nope");
    assert_eq!(
        other.signed("GET", "/api/v3/account", "").await.code(),
        -2015
    );
    // Signed payload = query ‖ body with no separator (documented vector 3 style).
    let q = "symbol=BTCUSDT&side=BUY&type=MARKET";
    let body = format!("quantity=0.001&timestamp={}", wall_ms());
    let sig = sign(&c.secret, &format!("{q}{body}"));
    let r = c
        .raw(
            "POST",
            "/api/v3/order",
            q,
            &format!("{body}&signature={sig}"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "FILLED");
}

#[tokio::test]
async fn invalid_symbol_matches_fixture() {
    let (_sim, c) = start(manual_config()).await;
    let r = c.get("/api/v3/depth", "symbol=NOPEUSDT").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"code": -1121, "msg": "Invalid symbol."}));
    assert_eq!(
        c.get("/fapi/v1/premiumIndex", "symbol=NOPE").await.code(),
        -1121
    );
}

#[tokio::test]
async fn rate_limit_gives_429_with_retry_after_then_418() {
    let mut cfg = manual_config();
    cfg.limits.spot_weight_per_minute = 30;
    cfg.limits.ban_after_violations = 2;
    let (_sim, c) = start(cfg).await;
    let ok = c.get("/api/v3/exchangeInfo", "").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-mbx-used-weight-1m").as_deref(), Some("20"));
    let r = c.get("/api/v3/exchangeInfo", "").await;
    assert_eq!((r.status, r.code()), (429, -1003));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(c.get("/api/v3/exchangeInfo", "").await.status, 429);
    assert_eq!(c.get("/api/v3/exchangeInfo", "").await.status, 418);
    let banned = c.get("/api/v3/time", "").await;
    assert_eq!(banned.status, 418);
    assert!(banned.header("retry-after").is_some());
}

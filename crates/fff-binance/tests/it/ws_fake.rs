//! WebSocket behaviour against a fake on 127.0.0.1:0: routed futures streams, ping answers, silence
//! detection, gap/reconnect reporting, WS-API subscriptions (signature and listen token with renewal)
//! and listenKey streams (keepalive, expiry → new key).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use fff_binance::models::stream::{AccountEvent, FuturesUserEvent, MarginRiskEvent};
use fff_binance::rest::RestConfig;
use fff_binance::ws::{
    MarketEvent, MarketStream, StreamEvent, StreamHandle, WsConfig, subscribe_futures_user,
    subscribe_margin_account, subscribe_margin_risk, subscribe_market, subscribe_spot_account,
};
use fff_binance::{BinanceUrls, Credentials, RestClient};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const KEY: &str = "ws-key";
const SECRET: &str = "ws-secret";

#[derive(Default)]
struct WsState {
    market_connections: AtomicUsize,
    pongs: AtomicUsize,
    market_queries: Mutex<Vec<String>>,
    ws_api_connections: AtomicUsize,
    /// Subscribe requests per WS-API connection, in order.
    ws_api_requests: Mutex<Vec<Vec<serde_json::Value>>>,
    bad_signatures: AtomicUsize,
    listen_keys_created: AtomicUsize,
    keepalives: AtomicUsize,
    /// When set, keepalives answer -1125 (the key is gone).
    keepalive_unknown_key: std::sync::atomic::AtomicBool,
    tokens_created: AtomicUsize,
    private_paths: Mutex<Vec<String>>,
}

type Shared = Arc<WsState>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn market(
    ws: WebSocketUpgrade,
    State(s): State<Shared>,
    RawQuery(q): RawQuery,
) -> impl IntoResponse {
    s.market_queries.lock().unwrap().push(q.unwrap_or_default());
    let n = s.market_connections.fetch_add(1, Ordering::SeqCst) + 1;
    ws.on_upgrade(move |socket| market_session(socket, s, n))
}

async fn market_session(mut socket: WebSocket, s: Shared, n: usize) {
    let frame = format!(
        r#"{{"stream":"!markPrice@arr@1s","data":{}}}"#,
        fixture("ws_fapi_markPrice_arr.json")
    );
    socket.send(Message::Text(frame.clone().into())).await.ok();
    socket.send(Message::Ping(b"hb".to_vec().into())).await.ok();
    // Wait for the pong (the client answers pings explicitly).
    while let Some(Ok(message)) = socket.recv().await {
        if let Message::Pong(payload) = message {
            assert_eq!(&payload[..], b"hb");
            s.pongs.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    if n == 1 {
        // Drop the first connection: the client must report a gap and reconnect.
        return;
    }
    socket.send(Message::Text(frame.into())).await.ok();
    while socket.recv().await.is_some() {}
}

async fn public(ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(|mut socket| async move {
        let frame = format!(
            r#"{{"stream":"btcusdt@bookTicker","data":{}}}"#,
            fixture("ws_fapi_bookTicker.json")
        );
        socket.send(Message::Text(frame.into())).await.ok();
        while socket.recv().await.is_some() {}
    })
}

async fn silent(ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(|mut socket| async move { while socket.recv().await.is_some() {} })
}

async fn time() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "serverTime": now_ms() }))
}

async fn create_listen_key(State(s): State<Shared>) -> impl IntoResponse {
    let n = s.listen_keys_created.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(serde_json::json!({ "listenKey": format!("key{n}") }))
}

async fn keepalive(State(s): State<Shared>) -> axum::response::Response {
    s.keepalives.fetch_add(1, Ordering::SeqCst);
    if s.keepalive_unknown_key.load(Ordering::SeqCst) {
        let body = serde_json::json!({"code": -1125, "msg": "This listenKey does not exist."});
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    axum::Json(serde_json::json!({})).into_response()
}

async fn listen_token(State(s): State<Shared>) -> impl IntoResponse {
    let n = s.tokens_created.fetch_add(1, Ordering::SeqCst) + 1;
    // Expires in 1.5 s so the client renews (renew_before is 1 s in the test config).
    axum::Json(
        serde_json::json!({ "token": format!("token{n}"), "expirationTime": now_ms() + 1500 }),
    )
}

async fn private(
    ws: WebSocketUpgrade,
    State(s): State<Shared>,
    Path(key): Path<String>,
) -> impl IntoResponse {
    s.private_paths.lock().unwrap().push(key.clone());
    ws.on_upgrade(move |mut socket| async move {
        if key == "key1" {
            socket
                .send(Message::Text(
                    fixture("ws_fapi_ORDER_TRADE_UPDATE.json").into(),
                ))
                .await
                .ok();
            socket
                .send(Message::Text(
                    fixture("ws_fapi_listenKeyExpired.json").into(),
                ))
                .await
                .ok();
        } else {
            socket
                .send(Message::Text(fixture("ws_fapi_ACCOUNT_UPDATE.json").into()))
                .await
                .ok();
        }
        while socket.recv().await.is_some() {}
    })
}

async fn risk(ws: WebSocketUpgrade, Path(_key): Path<String>) -> impl IntoResponse {
    ws.on_upgrade(|mut socket| async move {
        socket
            .send(Message::Text(
                fixture("ws_margin_MARGIN_LEVEL_STATUS_CHANGE.json").into(),
            ))
            .await
            .ok();
        socket
            .send(Message::Text(
                fixture("ws_margin_USER_LIABILITY_CHANGE.json").into(),
            ))
            .await
            .ok();
        while socket.recv().await.is_some() {}
    })
}

async fn ws_api(ws: WebSocketUpgrade, State(s): State<Shared>) -> impl IntoResponse {
    let n = s.ws_api_connections.fetch_add(1, Ordering::SeqCst) + 1;
    s.ws_api_requests.lock().unwrap().push(Vec::new());
    ws.on_upgrade(move |socket| ws_api_session(socket, s, n))
}

async fn ws_api_session(mut socket: WebSocket, s: Shared, n: usize) {
    let mut subscription = 0;
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let request: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        s.ws_api_requests.lock().unwrap()[n - 1].push(request.clone());
        let params = &request["params"];
        if request["method"] == "userDataStream.subscribe.signature" {
            let payload = format!(
                "apiKey={}&timestamp={}",
                params["apiKey"].as_str().unwrap(),
                params["timestamp"]
            );
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(payload.as_bytes());
            if hex::encode(mac.finalize().into_bytes()) != params["signature"].as_str().unwrap() {
                s.bad_signatures.fetch_add(1, Ordering::SeqCst);
            }
        }
        let reply = serde_json::json!({"id": request["id"], "status": 200, "result": {"subscriptionId": subscription}});
        socket
            .send(Message::Text(reply.to_string().into()))
            .await
            .ok();
        let event = fixture("wsapi_event_executionReport.json").replace(
            "\"subscriptionId\": 0",
            &format!("\"subscriptionId\": {subscription}"),
        );
        socket.send(Message::Text(event.into())).await.ok();
        if request["method"] == "userDataStream.subscribe.signature" && n == 1 {
            // End our subscription: the client must resubscribe on a new connection.
            let end = r#"{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1}}"#;
            socket.send(Message::Text(end.into())).await.ok();
        }
        if request["method"] == "userDataStream.subscribe.listenToken" && subscription == 1 {
            // The replaced subscription ends; that must not look like a disconnect.
            let end = r#"{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1}}"#;
            socket.send(Message::Text(end.into())).await.ok();
        }
        subscription += 1;
    }
}

async fn spawn() -> (BinanceUrls, Shared) {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/market/stream", get(market))
        .route("/public/stream", get(public))
        .route("/silent/market/stream", get(silent))
        .route("/api/v3/time", get(time))
        .route("/fapi/v1/listenKey", post(create_listen_key).put(keepalive))
        .route(
            "/sapi/v1/margin/listen-key",
            post(create_listen_key).put(keepalive),
        )
        .route("/sapi/v1/userListenToken", post(listen_token))
        .route("/private/ws/{key}", get(private))
        .route("/ws/{key}", get(risk))
        .route("/ws-api/v3", get(ws_api))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    let urls = BinanceUrls {
        spot_rest: format!("http://{addr}"),
        futures_rest: format!("http://{addr}"),
        futures_ws: format!("ws://{addr}"),
        spot_ws_api: format!("ws://{addr}/ws-api/v3"),
        margin_risk_ws: format!("ws://{addr}"),
    };
    (urls, state)
}

fn fast() -> WsConfig {
    WsConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        listen_key_keepalive: Duration::from_millis(200),
        listen_token_renew_before: Duration::from_secs(1),
        ..WsConfig::default()
    }
}

fn rest(urls: BinanceUrls) -> RestClient {
    RestClient::new(
        urls,
        Some(Credentials::new(KEY, SECRET)),
        RestConfig::default(),
    )
    .unwrap()
}

/// Collects events until `done` says so (or fails after 10 s).
async fn collect<E: std::fmt::Debug>(
    handle: &mut StreamHandle<E>,
    mut done: impl FnMut(&[StreamEvent<E>]) -> bool,
) -> Vec<StreamEvent<E>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, handle.recv()).await {
            Ok(Some(event)) => seen.push(event),
            Ok(None) => panic!("stream ended: {seen:?}"),
            Err(_) => panic!("timed out; saw {seen:?}"),
        }
    }
    seen
}

fn position<E>(events: &[StreamEvent<E>], pred: impl Fn(&StreamEvent<E>) -> bool) -> Option<usize> {
    events.iter().position(pred)
}

#[tokio::test]
async fn market_streams_use_routes_answer_pings_and_report_gaps() {
    let (urls, state) = spawn().await;
    let streams = [
        MarketStream::AllMarkPrices,
        MarketStream::BookTicker {
            symbol: "BTCUSDT".into(),
        },
    ];
    let mut handle = subscribe_market(&urls, &streams, fast());
    let events = collect(&mut handle, |seen| {
        let reconnected = position(seen, |e| matches!(e, StreamEvent::Reconnected));
        let marks_after = reconnected.map(|i| {
            seen[i..]
                .iter()
                .any(|e| matches!(e, StreamEvent::Data(MarketEvent::MarkPrice(_))))
        });
        marks_after == Some(true)
            && seen
                .iter()
                .any(|e| matches!(e, StreamEvent::Data(MarketEvent::BookTicker(_))))
    })
    .await;
    let gap = position(&events, |e| matches!(e, StreamEvent::Gap { .. })).unwrap();
    let reconnected = position(&events, |e| matches!(e, StreamEvent::Reconnected)).unwrap();
    assert!(gap < reconnected, "{events:?}");
    assert!(matches!(events[0], StreamEvent::Connected));
    assert_eq!(state.market_connections.load(Ordering::SeqCst), 2);
    assert!(state.pongs.load(Ordering::SeqCst) >= 1);
    let queries = state.market_queries.lock().unwrap().clone();
    assert_eq!(queries[0], "streams=!markPrice@arr@1s");
}

#[tokio::test]
async fn silent_connection_is_dropped() {
    let (mut urls, _state) = spawn().await;
    urls.futures_ws = format!("{}/silent", urls.futures_ws);
    let cfg = WsConfig {
        ping_interval: Duration::from_secs(3600),
        silence_timeout: Duration::from_millis(300),
        ..fast()
    };
    let mut handle = subscribe_market(&urls, &[MarketStream::AllMarkPrices], cfg);
    let events = collect(&mut handle, |seen| {
        seen.iter().any(|e| matches!(e, StreamEvent::Reconnected))
    })
    .await;
    assert!(
        matches!(&events[1], StreamEvent::Gap { reason } if reason.contains("no frame")),
        "{events:?}"
    );
}

#[tokio::test]
async fn spot_account_subscribes_with_signature_and_resubscribes_after_termination() {
    let (urls, state) = spawn().await;
    let mut handle = subscribe_spot_account(rest(urls), fast()).unwrap();
    let events = collect(&mut handle, |seen| {
        seen.iter()
            .filter(|e| matches!(e, StreamEvent::Data(AccountEvent::ExecutionReport(_))))
            .count()
            >= 2
            && seen.iter().any(|e| matches!(e, StreamEvent::Reconnected))
    })
    .await;
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Gap { .. })));
    assert_eq!(state.bad_signatures.load(Ordering::SeqCst), 0);
    let requests = state.ws_api_requests.lock().unwrap().clone();
    assert!(requests.len() >= 2);
    assert_eq!(
        requests[0][0]["method"],
        "userDataStream.subscribe.signature"
    );
    assert_eq!(requests[0][0]["params"]["apiKey"], KEY);
}

#[tokio::test]
async fn margin_account_renews_listen_token_on_the_same_connection() {
    let (urls, state) = spawn().await;
    let mut handle = subscribe_margin_account(rest(urls), fast()).unwrap();
    let events = collect(&mut handle, |seen| {
        seen.iter()
            .filter(|e| matches!(e, StreamEvent::Data(AccountEvent::ExecutionReport(_))))
            .count()
            >= 2
    })
    .await;
    // Give a stray reconnect the chance to show up before asserting there was none.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !events.iter().any(|e| matches!(e, StreamEvent::Gap { .. })),
        "{events:?}"
    );
    assert_eq!(state.ws_api_connections.load(Ordering::SeqCst), 1);
    let requests = state.ws_api_requests.lock().unwrap().clone();
    assert_eq!(requests[0].len(), 2, "{requests:?}");
    assert_eq!(requests[0][0]["params"]["listenToken"], "token1");
    assert_eq!(requests[0][1]["params"]["listenToken"], "token2");
}

#[tokio::test]
async fn futures_user_stream_keeps_key_alive_and_replaces_expired_key() {
    let (urls, state) = spawn().await;
    let mut handle = subscribe_futures_user(rest(urls), fast());
    let events = collect(&mut handle, |seen| {
        seen.iter()
            .any(|e| matches!(e, StreamEvent::Data(FuturesUserEvent::AccountUpdate(_))))
    })
    .await;
    assert!(
        matches!(
            events[1],
            StreamEvent::Data(FuturesUserEvent::OrderTradeUpdate(_))
        ),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Reconnected)));
    assert_eq!(
        state.private_paths.lock().unwrap().clone(),
        vec!["key1", "key2"]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(state.keepalives.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn margin_risk_stream_delivers_typed_events() {
    let (urls, _state) = spawn().await;
    let mut handle = subscribe_margin_risk(rest(urls), fast());
    let events = collect(&mut handle, |seen| seen.len() >= 3).await;
    assert!(matches!(
        events[1],
        StreamEvent::Data(MarginRiskEvent::MarginLevelStatusChange(_))
    ));
    assert!(matches!(
        events[2],
        StreamEvent::Data(MarginRiskEvent::UserLiabilityChange(_))
    ));
    handle.shutdown();
}

#[tokio::test]
async fn connections_are_rotated_before_the_age_limit() {
    let (urls, _state) = spawn().await;
    let cfg = WsConfig {
        max_connection_age: Duration::from_millis(300),
        ..fast()
    };
    let book = [MarketStream::BookTicker {
        symbol: "BTCUSDT".into(),
    }];
    let mut handle = subscribe_market(&urls, &book, cfg);
    let events = collect(&mut handle, |seen| {
        seen.iter().any(|e| matches!(e, StreamEvent::Reconnected))
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::Gap { reason } if reason.contains("rotating"))),
        "{events:?}"
    );
}

#[tokio::test]
async fn vanished_listen_key_is_replaced() {
    let (urls, state) = spawn().await;
    state.keepalive_unknown_key.store(true, Ordering::SeqCst);
    let mut handle = subscribe_margin_risk(rest(urls), fast());
    let events = collect(&mut handle, |seen| {
        seen.iter().any(|e| matches!(e, StreamEvent::Reconnected))
    })
    .await;
    assert!(
        events.iter().any(
            |e| matches!(e, StreamEvent::Gap { reason } if reason.contains("no longer exists"))
        ),
        "{events:?}"
    );
    assert!(state.listen_keys_created.load(Ordering::SeqCst) >= 2);
}

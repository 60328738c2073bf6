//! A minimal Binance look-alike whose handlers inject faults (429, 418, 5xx, -1021, -1007) and count
//! calls, so the client's retry and rate-limit behaviour can be observed from outside.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const API_KEY: &str = "fake-key";
pub const SECRET: &str = "fake-secret";
/// The fake's clock runs this far ahead of the local one.
pub const CLOCK_AHEAD_MS: i64 = 7_000;

#[derive(Default)]
pub struct Counters {
    pub calls: std::sync::Mutex<HashMap<String, usize>>,
    pub time_calls: AtomicUsize,
    pub bad_signatures: AtomicUsize,
}

impl Counters {
    pub fn calls(&self, key: &str) -> usize {
        self.calls.lock().unwrap().get(key).copied().unwrap_or(0)
    }
    fn bump(&self, key: &str) -> usize {
        let mut calls = self.calls.lock().unwrap();
        let entry = calls.entry(key.to_string()).or_default();
        *entry += 1;
        *entry
    }
}

type Shared = Arc<Counters>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn api_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json(status, &format!(r#"{{"code":{code},"msg":"{msg}"}}"#))
}

/// Checks key, signature (over the raw query minus `&signature=`) and timestamp like Binance does; `Some` is the rejection.
fn check_signed(counters: &Counters, headers: &HeaderMap, raw: &str) -> Option<Response> {
    if headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    }
    let Some((payload, signature)) = raw.rsplit_once("&signature=") else {
        return Some(api_error(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        ));
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    if hex::encode(mac.finalize().into_bytes()) != signature.to_ascii_lowercase() {
        counters.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return Some(api_error(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    let timestamp: i64 = payload
        .split('&')
        .find_map(|kv| kv.strip_prefix("timestamp="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let server = now_ms() + CLOCK_AHEAD_MS;
    if timestamp >= server + 1000 || server - timestamp > 5000 {
        return Some(api_error(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    None
}

async fn time(State(c): State<Shared>) -> Response {
    c.time_calls.fetch_add(1, Ordering::SeqCst);
    json(
        StatusCode::OK,
        &format!(r#"{{"serverTime":{}}}"#, now_ms() + CLOCK_AHEAD_MS),
    )
}

const SPOT_ORDER: &str = r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"fff-1","transactTime":1507725176595}"#;

/// First attempt: `-1021` (as if the clock drifted); afterwards a signed, accepted order.
async fn spot_order(
    State(c): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let n = c.bump("POST /api/v3/order");
    if n == 1 {
        return api_error(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        );
    }
    if let Some(resp) = check_signed(&c, &headers, raw.as_deref().unwrap_or("")) {
        return resp;
    }
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("x-mbx-order-count-10s", "1"),
        ],
        SPOT_ORDER,
    )
        .into_response()
}

/// 503 twice, then an empty list.
async fn open_orders(
    State(c): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let n = c.bump("GET /api/v3/openOrders");
    if n <= 2 {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -1000,
            "Unknown error, please check your request or try again later.",
        );
    }
    if let Some(resp) = check_signed(&c, &headers, raw.as_deref().unwrap_or("")) {
        return resp;
    }
    json(StatusCode::OK, "[]")
}

/// Always 429 with Retry-After.
async fn account(State(c): State<Shared>) -> Response {
    c.bump("GET /api/v3/account");
    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30"), ("x-mbx-used-weight-1m", "6001")],
        r#"{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}"#).into_response()
}

async fn spot_depth(State(c): State<Shared>) -> Response {
    c.bump("GET /api/v3/depth");
    json(StatusCode::OK, r#"{"lastUpdateId":1,"bids":[],"asks":[]}"#)
}

/// 503: a futures order whose outcome is unknown.
async fn futures_order(State(c): State<Shared>) -> Response {
    c.bump("POST /fapi/v1/order");
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        -1000,
        "Unknown error, please check your request or try again later.",
    )
}

/// `-1007` on a cancel: also unknown.
async fn futures_cancel(State(c): State<Shared>) -> Response {
    c.bump("DELETE /fapi/v1/order");
    api_error(
        StatusCode::BAD_REQUEST,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    )
}

/// A definite rejection.
async fn futures_query(State(c): State<Shared>) -> Response {
    c.bump("GET /fapi/v1/order");
    api_error(StatusCode::BAD_REQUEST, -2013, "Order does not exist.")
}

/// Reports high usage in the weight header.
async fn futures_book(State(c): State<Shared>) -> Response {
    c.bump("GET /fapi/v1/ticker/bookTicker");
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("x-mbx-used-weight-1m", "2390"),
        ],
        r#"{"symbol":"BTCUSDT","bidPrice":"1","bidQty":"1","askPrice":"2","askQty":"1","time":1}"#,
    )
        .into_response()
}

/// 418 ban.
async fn futures_premium(State(c): State<Shared>) -> Response {
    c.bump("GET /fapi/v1/premiumIndex");
    (
        StatusCode::IM_A_TEAPOT,
        [("retry-after", "120")],
        r#"{"code":-1003,"msg":"Way too many requests; IP banned until 1."}"#,
    )
        .into_response()
}

/// A 200 whose body is not the promised JSON.
async fn margin_order(State(c): State<Shared>) -> Response {
    c.bump("POST /sapi/v1/margin/order");
    json(StatusCode::OK, "<html>gateway</html>")
}

fn test_data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Klines answer only the query the connector is expected to send.
async fn klines(State(c): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    c.bump(&format!("GET klines?{raw}"));
    if raw != "symbol=BTCUSDT&interval=1h&startTime=1499040000000&limit=2" {
        return api_error(StatusCode::BAD_REQUEST, -1102, "unexpected kline query");
    }
    json(StatusCode::OK, &test_data("api_v3_klines.json"))
}

async fn futures_klines(State(c): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    c.bump(&format!("GET fapi klines?{}", raw.unwrap_or_default()));
    json(StatusCode::OK, &test_data("fapi_v1_klines.json"))
}

async fn api_restrictions(
    State(c): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(resp) = check_signed(&c, &headers, raw.as_deref().unwrap_or("")) {
        return resp;
    }
    json(
        StatusCode::OK,
        &test_data("sapi_v1_account_apiRestrictions.json"),
    )
}

/// Universal transfer history: answers only the query the connector is expected to send.
async fn transfer_history(
    State(c): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    if let Some(resp) = check_signed(&c, &headers, &raw) {
        return resp;
    }
    let query = raw.split("&recvWindow=").next().unwrap_or_default();
    c.bump(&format!("GET /sapi/v1/asset/transfer?{query}"));
    json(
        StatusCode::OK,
        &test_data("sapi_v1_asset_transfer_GET.json"),
    )
}

/// A universal transfer whose answer is lost: 503 with `-1000`.
async fn transfer(State(c): State<Shared>) -> Response {
    c.bump("POST /sapi/v1/asset/transfer");
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        -1000,
        "An unknown error occurred while processing the request.",
    )
}

pub async fn spawn() -> (String, Shared) {
    let counters: Shared = Arc::default();
    let app = Router::new()
        .route("/api/v3/time", get(time))
        .route("/fapi/v1/time", get(time))
        .route("/api/v3/order", axum::routing::post(spot_order))
        .route("/api/v3/openOrders", get(open_orders))
        .route("/api/v3/account", get(account))
        .route("/api/v3/depth", get(spot_depth))
        .route(
            "/fapi/v1/order",
            axum::routing::post(futures_order)
                .delete(futures_cancel)
                .get(futures_query),
        )
        .route("/fapi/v1/ticker/bookTicker", get(futures_book))
        .route("/fapi/v1/premiumIndex", get(futures_premium))
        .route("/sapi/v1/margin/order", axum::routing::post(margin_order))
        .route("/api/v3/klines", get(klines))
        .route("/fapi/v1/klines", get(futures_klines))
        .route("/sapi/v1/account/apiRestrictions", get(api_restrictions))
        .route(
            "/sapi/v1/asset/transfer",
            get(transfer_history).post(transfer),
        )
        .with_state(counters.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (format!("http://{addr}"), counters)
}

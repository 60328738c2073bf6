//! An order whose answer never arrives in time: the venue gets the request late (a slow
//! proxy holds `POST /fapi/v1/order`), the gateway answers PENDING, and a retry of the same
//! client order id finds the order at the venue instead of sending a second one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use fff_runtime::{RoleContext, SecretString};
use fff_sim::SimConfig;
use tokio::net::TcpListener;

use crate::harness::{TOKEN, authed, client, config_for, sim_orders_with};

#[derive(Clone)]
struct Proxy {
    target: String,
    http: reqwest::Client,
    /// Delay for new-order POSTs, in ms.
    order_delay_ms: Arc<AtomicU64>,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let delay = if method == Method::POST && uri.path() == "/fapi/v1/order" {
        proxy.order_delay_ms.load(Ordering::SeqCst)
    } else {
        0
    };
    let url = format!(
        "{}{}",
        proxy.target,
        uri.path_and_query().map_or("", |p| p.as_str())
    );
    // the forward runs on its own, like a request stuck in the network: it still reaches the
    // venue after the gateway has given up waiting
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut request = proxy.http.request(method, url).body(body);
        if let Some(key) = headers.get("X-MBX-APIKEY") {
            request = request.header("X-MBX-APIKEY", key);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let text = response.text().await.ok()?;
        Some((status, text))
    });
    match task.await.ok().flatten() {
        Some((status, text)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "application/json")],
            text,
        )
            .into_response(),
        None => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::test]
async fn a_late_order_is_reported_pending_then_found_not_resent() {
    fff_binance::install_crypto_provider();
    let sim = fff_sim::spawn(SimConfig::default()).await.unwrap();
    let order_delay_ms = Arc::new(AtomicU64::new(0));
    let proxy = Proxy {
        target: sim.urls.futures_rest.clone(),
        http: reqwest::Client::new(),
        order_delay_ms: order_delay_ms.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(proxy_listener, app).await });

    let mut config = config_for(&sim);
    config.exchange.futures_rest = Some(proxy_url);
    config.exchange.request_timeout_ms = 1_000;
    // long enough for the late request to be accepted when it lands
    config.exchange.recv_window_ms = 10_000;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let context = RoleContext::new(config).with_auth_token(SecretString::from(TOKEN));
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(fff_gateway::run(context, listener, async move {
        let _ = stopped.await;
    }));
    let mut client = {
        fff_testkit::wait_until(Duration::from_secs(20), || async move {
            let Ok(mut c) = tokio::time::timeout(Duration::from_secs(1), client(addr)).await else {
                return false;
            };
            c.get_universe(pb::GetUniverseRequest::default())
                .await
                .is_ok()
        })
        .await
        .unwrap();
        client(addr).await
    };

    let mark = client
        .get_universe(pb::GetUniverseRequest {
            symbols: vec!["BTCUSDT".into()],
            include_non_trading: true,
        })
        .await
        .unwrap()
        .into_inner()
        .instruments[0]
        .mark_price
        .clone();
    let whole: u64 = mark.split('.').next().unwrap().parse().unwrap();
    let request = pb::PlaceOrderRequest {
        client_order_id: "it-late-1".into(),
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Sell as i32,
        r#type: common::OrderType::Limit as i32,
        time_in_force: common::TimeInForce::Gtc as i32,
        quantity: "0.010".into(),
        price: format!("{}.0", whole * 2),
        ..Default::default()
    };

    // the POST reaches the venue 3 s late: after the 1 s timeout and the gateway's follow-up
    // lookups (at +0.2 s and +1 s), so the outcome is still unknown when it answers
    order_delay_ms.store(3_000, Ordering::SeqCst);
    let first = client
        .place_order(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    let pending = first.order.unwrap();
    assert_eq!(
        pending.status,
        common::OrderStatus::Pending as i32,
        "{pending:?}"
    );
    assert_eq!(sim_orders_with(&sim, "it-late-1"), 0, "not landed yet");

    // a retry while the request may still land must not send a second one
    let early = client
        .place_order(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(early.duplicate);

    // once the late request has landed, a retry finds it
    fff_testkit::wait_until(Duration::from_secs(10), || async {
        sim_orders_with(&sim, "it-late-1") == 1
    })
    .await
    .unwrap();
    order_delay_ms.store(0, Ordering::SeqCst);
    let retried = client
        .place_order(authed(request))
        .await
        .unwrap()
        .into_inner();
    assert!(retried.duplicate);
    let found = retried.order.unwrap();
    assert_eq!(found.status, common::OrderStatus::New as i32, "{found:?}");
    assert!(found.exchange_order_id > 0);
    assert_eq!(sim_orders_with(&sim, "it-late-1"), 1);
}

//! Requests whose answer never arrives in time: the venue gets the request late (a slow proxy
//! holds one POST path). An order is answered PENDING and a retry of the same client order id
//! finds it at the venue instead of sending a second one; a wallet transfer is answered
//! UNAVAILABLE and a retry of its request id sends nothing new.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use fff_proto::fff::gateway::v1::gateway_client::GatewayClient;
use fff_runtime::{RoleContext, SecretString};
use fff_sim::{SimConfig, SimHandle};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::net::TcpListener;
use tonic::transport::Channel;

use crate::harness::{TOKEN, authed, client, config_for, sim_orders_with};

#[derive(Clone)]
struct Proxy {
    target: String,
    http: reqwest::Client,
    /// The POST path that is held.
    delayed_path: &'static str,
    /// Delay for POSTs to `delayed_path`, in ms.
    order_delay_ms: Arc<AtomicU64>,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let delay = if method == Method::POST && uri.path() == proxy.delayed_path {
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

/// A simulator, a proxy holding POSTs to `delayed_path` for the returned delay (ms, 0 at
/// first), and a ready gateway whose REST calls (spot and futures) all go through the proxy.
async fn behind_slow_proxy(
    delayed_path: &'static str,
) -> (
    SimHandle,
    GatewayClient<Channel>,
    Arc<AtomicU64>,
    tokio::sync::oneshot::Sender<()>,
) {
    fff_binance::install_crypto_provider();
    let sim = fff_sim::spawn(SimConfig::default()).await.unwrap();
    let order_delay_ms = Arc::new(AtomicU64::new(0));
    let proxy = Proxy {
        target: sim.urls.futures_rest.clone(),
        http: reqwest::Client::new(),
        delayed_path,
        order_delay_ms: order_delay_ms.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(proxy_listener, app).await });

    let mut config = config_for(&sim);
    config.exchange.futures_rest = Some(proxy_url.clone());
    config.exchange.spot_rest = Some(proxy_url);
    config.exchange.request_timeout_ms = 1_000;
    // long enough for the late request to be accepted when it lands
    config.exchange.recv_window_ms = 10_000;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let context = RoleContext::new(config).with_auth_token(SecretString::from(TOKEN));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(fff_gateway::run(context, listener, async move {
        let _ = stopped.await;
    }));
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
    (sim, client(addr).await, order_delay_ms, stop)
}

#[tokio::test]
async fn a_late_order_is_reported_pending_then_found_not_resent() {
    let (sim, mut client, order_delay_ms, _stop) = behind_slow_proxy("/fapi/v1/order").await;

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

/// Spot USDT free in the simulator's paper account.
fn sim_spot_usdt(sim: &SimHandle) -> Decimal {
    sim.with_exchange(|ex| ex.accounts[0].spot["USDT"].free)
}

#[tokio::test]
async fn a_late_transfer_is_never_sent_twice() {
    let (sim, mut client, delay_ms, _stop) = behind_slow_proxy("/sapi/v1/asset/transfer").await;
    let before = sim_spot_usdt(&sim);
    let request = pb::TransferRequest {
        asset: "USDT".into(),
        amount: "777".into(),
        from: common::Wallet::Spot as i32,
        to: common::Wallet::UsdmFutures as i32,
        request_id: "it-late-move-1".into(),
        intent_id: "intent-late".into(),
    };

    // the POST lands 3 s late: after the 1 s timeout and the follow-up history lookups (which
    // do not list it yet), so the outcome is unknown
    delay_ms.store(3_000, Ordering::SeqCst);
    let first = client.transfer(authed(request.clone())).await.unwrap_err();
    assert_eq!(first.code(), tonic::Code::Unavailable, "{first:?}");
    assert!(
        first.message().contains("outcome unknown"),
        "{}",
        first.message()
    );

    // the late request lands once
    fff_testkit::wait_until(Duration::from_secs(10), || async {
        sim_spot_usdt(&sim) == before - dec!(777)
    })
    .await
    .unwrap();

    // a retry of the id sends nothing: the simulator now keeps a transfer history (GET
    // /sapi/v1/asset/transfer), so the gateway finds the late transfer there and answers it as
    // the duplicate it is; without a history it would stay unknown (UNAVAILABLE)
    delay_ms.store(0, Ordering::SeqCst);
    match client.transfer(authed(request)).await {
        Ok(retried) => assert!(retried.get_ref().duplicate, "{retried:?}"),
        Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sim_spot_usdt(&sim),
        before - dec!(777),
        "moved exactly once"
    );
}

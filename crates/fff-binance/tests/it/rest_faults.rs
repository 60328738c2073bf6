//! REST core behaviour against the fault-injecting fake: signing, clock resync on -1021, retries only
//! for reads, outcome classification, and the limiter stopping after 429/418.

use std::time::Duration;

use fff_binance::limiter::Scope;
use fff_binance::models::margin::SideEffect;
use fff_binance::models::{OrderKind, Side, TimeInForce};
use fff_binance::rest::{
    FuturesOrderRequest, Host, MarginOrderRequest, OrderRef, PositionSide, RestConfig,
    SpotOrderRequest,
};
use fff_binance::{BinanceUrls, Credentials, Error, Outcome, RestClient};
use rust_decimal_macros::dec;

use crate::fake::{self, API_KEY, CLOCK_AHEAD_MS, SECRET};

async fn client() -> (RestClient, std::sync::Arc<fake::Counters>) {
    let (base, counters) = fake::spawn().await;
    let urls = BinanceUrls {
        spot_rest: base.clone(),
        futures_rest: base.clone(),
        futures_ws: base.replace("http", "ws"),
        spot_ws_api: format!("{}/ws-api/v3", base.replace("http", "ws")),
        margin_risk_ws: base.replace("http", "ws"),
    };
    let config = RestConfig {
        timeout: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(5),
        ..RestConfig::default()
    };
    let client = RestClient::new(urls, Some(Credentials::new(API_KEY, SECRET)), config).unwrap();
    (client, counters)
}

fn spot_order() -> SpotOrderRequest {
    SpotOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        kind: OrderKind::Limit {
            price: dec!(20000),
            tif: TimeInForce::Gtc,
        },
        qty: dec!(0.001),
        client_order_id: "fff-1".into(),
    }
}

#[tokio::test]
async fn signed_order_syncs_clock_and_resyncs_once_on_minus_1021() {
    let (client, counters) = client().await;
    let placed = client.new_order(&spot_order()).await.unwrap();
    assert_eq!(placed.order_id, 28);
    // Initial sync before the first signed request, resync after the -1021.
    assert_eq!(
        counters
            .time_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(counters.calls("POST /api/v3/order"), 2);
    assert_eq!(
        counters
            .bad_signatures
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let offset = client.time_offset_ms(Host::Spot);
    assert!((offset - CLOCK_AHEAD_MS).abs() < 1000, "offset {offset}");
}

#[tokio::test]
async fn reads_are_retried_on_5xx() {
    let (client, counters) = client().await;
    let orders = client.open_orders(Some("BTCUSDT")).await.unwrap();
    assert!(orders.is_empty());
    assert_eq!(counters.calls("GET /api/v3/openOrders"), 3);
    // Each attempt went through the limiter.
    let used = client.limiters().spot.usage()[0].1;
    assert!(used >= 3 * 6, "used {used}");
}

#[tokio::test]
async fn order_with_5xx_is_unknown_and_not_retried() {
    let (client, counters) = client().await;
    let order = FuturesOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(0.01),
        client_order_id: "fff-2".into(),
        reduce_only: false,
        position_side: PositionSide::Both,
    };
    let err = client.futures_new_order(&order).await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::Unknown, "{err:?}");
    assert_eq!(counters.calls("POST /fapi/v1/order"), 1);

    let cancel = client
        .futures_cancel_order("BTCUSDT", &OrderRef::ClientOrderId("fff-2".into()))
        .await
        .unwrap_err();
    assert_eq!(cancel.outcome(), Outcome::Unknown);
    assert_eq!(cancel.code(), Some(-1007));
    assert_eq!(counters.calls("DELETE /fapi/v1/order"), 1);

    let query = client
        .futures_query_order("BTCUSDT", &OrderRef::ClientOrderId("fff-2".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            query,
            Error::Api {
                code: -2013,
                status: 400,
                ..
            }
        ),
        "{query:?}"
    );
    assert_eq!(query.outcome(), Outcome::Rejected);
    assert_eq!(
        counters.calls("GET /fapi/v1/order"),
        1,
        "a rejection is not retried"
    );
}

#[tokio::test]
async fn unreadable_order_response_is_unknown() {
    let (client, counters) = client().await;
    let order = MarginOrderRequest {
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        kind: OrderKind::Market,
        qty: dec!(0.001),
        client_order_id: "fff-3".into(),
        side_effect: SideEffect::MarginBuy,
        auto_repay_at_cancel: false,
    };
    let err = client.margin_new_order(&order).await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::Unknown, "{err:?}");
    assert_eq!(counters.calls("POST /sapi/v1/margin/order"), 1);
    // The borrowing order was charged 1500 on the UID budget.
    assert_eq!(client.limiters().get(Scope::SapiUid).usage()[0].1, 1500);
}

#[tokio::test]
async fn too_many_requests_stops_the_scope_without_sending() {
    let (client, counters) = client().await;
    let err = client.account(true).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after, local: false } if retry_after == Duration::from_secs(30)),
        "{err:?}"
    );
    // Nothing else on the spot scope is sent, retries included.
    let blocked = client.depth("BTCUSDT", 5).await.unwrap_err();
    assert!(
        matches!(blocked, Error::RateLimited { local: true, .. }),
        "{blocked:?}"
    );
    assert_eq!(blocked.outcome(), Outcome::NotSent);
    assert_eq!(err.outcome(), Outcome::Unknown);
    assert_eq!(counters.calls("GET /api/v3/depth"), 0);
    assert_eq!(counters.calls("GET /api/v3/account"), 1);
    // Futures is a different scope and still works.
    client.futures_book_ticker("BTCUSDT").await.unwrap();
}

#[tokio::test]
async fn ban_and_header_correction_on_futures() {
    let (client, counters) = client().await;
    client.futures_book_ticker("BTCUSDT").await.unwrap();
    let usage = client.limiters().futures.usage();
    assert_eq!(usage[0], ("x-mbx-used-weight-1m".to_string(), 2390, 2400));
    let err = client.premium_index("BTCUSDT").await.unwrap_err();
    assert!(matches!(err, Error::IpBanned { .. }), "{err:?}");
    let again = client.futures_book_ticker("BTCUSDT").await.unwrap_err();
    assert!(matches!(again, Error::IpBanned { .. }), "{again:?}");
    assert_eq!(counters.calls("GET /fapi/v1/ticker/bookTicker"), 1);
    assert_eq!(
        counters.calls("GET /fapi/v1/premiumIndex"),
        1,
        "418 is never retried"
    );
}

#[tokio::test]
async fn missing_credentials_are_reported_before_sending() {
    let (base, counters) = fake::spawn().await;
    let urls = BinanceUrls {
        spot_rest: base.clone(),
        futures_rest: base.clone(),
        futures_ws: base.clone(),
        spot_ws_api: base.clone(),
        margin_risk_ws: base,
    };
    let client = RestClient::new(urls, None, RestConfig::default()).unwrap();
    let err = client.account(false).await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::NotSent);
    assert_eq!(counters.calls("GET /api/v3/account"), 0);
    assert_eq!(
        counters
            .time_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

/// fff-sim serves neither klines nor apiRestrictions, so these go over HTTP to the fake.
#[tokio::test]
async fn klines_and_api_restrictions_over_http() {
    use fff_binance::models::KlineInterval;
    let (client, counters) = client().await;
    let rows = client
        .klines(
            "BTCUSDT",
            KlineInterval::H1,
            Some(1499040000000),
            None,
            Some(2),
        )
        .await
        .unwrap();
    assert_eq!(rows[0].open_time, 1499040000000);
    let futures = client
        .futures_klines("BTCUSDT", KlineInterval::M5, None, None, None)
        .await
        .unwrap();
    assert_eq!(futures.len(), 1);
    assert_eq!(
        counters.calls("GET fapi klines?symbol=BTCUSDT&interval=5m"),
        1
    );
    let restrictions = client.api_restrictions().await.unwrap();
    assert!(restrictions.enable_reading && !restrictions.enable_withdrawals);
    assert_eq!(
        counters
            .bad_signatures
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

/// fff-sim keeps no transfer history: the lookup after a lost transfer goes to the fake.
#[tokio::test]
async fn lost_transfer_is_unknown_not_retried_and_history_is_read() {
    use fff_binance::models::wallet::TransferType;
    let (client, counters) = client().await;
    let err = client
        .universal_transfer(TransferType::MainUmfuture, "USDT", dec!(1.50))
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), Outcome::Unknown, "{err:?}");
    assert_eq!(counters.calls("POST /sapi/v1/asset/transfer"), 1);
    // the transfer is weighed on the UID budget
    assert!(client.limiters().sapi_uid.usage()[0].1 >= 900);

    let page = client
        .universal_transfer_history(
            TransferType::MainUmfuture,
            Some(1544433328000),
            None,
            Some(500),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.rows[0].tran_id, 11415955596);
    assert_eq!(
        counters.calls(
            "GET /sapi/v1/asset/transfer?type=MAIN_UMFUTURE&startTime=1544433328000&size=100"
        ),
        1,
        "size is capped at 100"
    );
}

//! The gateway as its own process against `fff sim` as its own process: the universe it serves
//! is the simulator's, PlaceOrder is idempotent across retries and a caller timeout, and a
//! subscriber that never reads does not delay one that does, and one gateway per database sends
//! (the writer lease).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use pb::gateway_client::GatewayClient;
use pb::stream_market_response::Event;
use tokio_stream::StreamExt as _;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::harness::{
    SimProcess, TOKEN, channel, serving, spawn_role_on, start_gateway, start_sim,
};

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {TOKEN}")).expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}

fn symbols_of(info: &serde_json::Value, perpetual_only: bool) -> BTreeSet<String> {
    info["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .filter(|s| !perpetual_only || s["contractType"] == "PERPETUAL")
        .filter_map(|s| s["symbol"].as_str().map(str::to_owned))
        .collect()
}

async fn sim_orders_with(sim: &SimProcess, client_order_id: &str) -> usize {
    let state = sim.http("GET", "/admin/state", "").await;
    state["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter(|o| o["clientOrderId"] == client_order_id)
        .count()
}

#[tokio::test]
async fn gateway_universe_is_the_simulators_both_venue_listings() {
    let sim = start_sim().await.unwrap();
    let gateway = start_gateway(&sim, &[]).await.unwrap();
    let spot = symbols_of(&sim.http("GET", "/api/v3/exchangeInfo", "").await, false);
    let perp = symbols_of(&sim.http("GET", "/fapi/v1/exchangeInfo", "").await, true);
    let expected: Vec<String> = spot.intersection(&perp).cloned().collect();
    assert!(!expected.is_empty());

    let mut client = GatewayClient::new(channel(gateway.addr).await);
    let universe = client
        .get_universe(pb::GetUniverseRequest {
            symbols: Vec::new(),
            include_non_trading: true,
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<String> = universe
        .instruments
        .iter()
        .map(|i| i.symbol.clone())
        .collect();
    assert_eq!(got, expected);
    for instrument in &universe.instruments {
        let perp = instrument.perp_filters.as_ref().unwrap();
        assert!(
            !perp.tick_size.is_empty() && perp.tick_size != "0",
            "{instrument:?}"
        );
        assert!(instrument.funding_interval_hours > 0, "{instrument:?}");
    }
}

/// A limit sell far above the market (twice the mark price), so it rests.
fn resting_sell(client_order_id: &str, mark_price: &str) -> pb::PlaceOrderRequest {
    let whole: u64 = mark_price.split('.').next().unwrap().parse().unwrap();
    pb::PlaceOrderRequest {
        client_order_id: client_order_id.into(),
        venue: common::Venue::UsdmPerp as i32,
        symbol: "BTCUSDT".into(),
        side: common::Side::Sell as i32,
        r#type: common::OrderType::Limit as i32,
        time_in_force: common::TimeInForce::Gtc as i32,
        quantity: "0.010".into(),
        price: format!("{}.0", whole * 2),
        ..Default::default()
    }
}

#[tokio::test]
async fn place_order_yields_one_order_across_retries_and_a_caller_timeout() {
    let sim = start_sim().await.unwrap();
    let gateway = start_gateway(&sim, &[("FFF_EXCHANGE__REQUEST_TIMEOUT_MS", "3000")])
        .await
        .unwrap();
    let mut client = GatewayClient::new(channel(gateway.addr).await);
    let universe = client
        .get_universe(pb::GetUniverseRequest {
            symbols: vec!["BTCUSDT".into()],
            include_non_trading: true,
        })
        .await
        .unwrap()
        .into_inner();
    let mark = universe.instruments[0].mark_price.clone();

    let request = resting_sell("xp-idem-1", &mark);
    let first = client
        .place_order(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    let placed = first.order.unwrap();
    assert_eq!(placed.status, common::OrderStatus::New as i32, "{placed:?}");
    let second = client
        .place_order(authed(request))
        .await
        .unwrap()
        .into_inner();
    assert!(second.duplicate);
    assert_eq!(
        second.order.unwrap().exchange_order_id,
        placed.exchange_order_id
    );
    assert_eq!(sim_orders_with(&sim, "xp-idem-1").await, 1);

    // the simulator slows down; the caller gives up before the gateway hears back
    sim.http("POST", "/admin/faults", r#"{"latency_ms":800}"#)
        .await;
    let slow = resting_sell("xp-idem-2", &mark);
    let mut impatient = authed(slow.clone());
    impatient.set_timeout(Duration::from_millis(1_000));
    let gave_up = client.place_order(impatient).await.unwrap_err();
    assert!(
        matches!(
            gave_up.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{gave_up:?}"
    );
    sim.http("POST", "/admin/faults", r#"{"latency_ms":0}"#)
        .await;
    let retried = client.place_order(authed(slow)).await.unwrap().into_inner();
    let order = retried.order.unwrap();
    assert_eq!(order.status, common::OrderStatus::New as i32, "{order:?}");
    assert!(
        retried.duplicate,
        "the gateway finished the first attempt; nothing new was sent"
    );
    assert_eq!(sim_orders_with(&sim, "xp-idem-2").await, 1);
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A subscriber on its own connection, like a separate service. `window` caps the HTTP/2
/// flow-control window, so a reader that never reads stalls the server after that many bytes
/// instead of after the default 64 KiB.
async fn subscribe(
    addr: std::net::SocketAddr,
    window: Option<u32>,
) -> tonic::Streaming<pb::StreamMarketResponse> {
    let mut endpoint = Channel::from_shared(format!("http://{addr}")).unwrap();
    if let Some(window) = window {
        endpoint = endpoint
            .initial_stream_window_size(window)
            .initial_connection_window_size(window);
    }
    let channel = endpoint.connect().await.unwrap();
    GatewayClient::new(channel)
        .stream_market(pb::StreamMarketRequest::default())
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_delay_one_that_does() {
    let sim = start_sim().await.unwrap();
    let gateway = start_gateway(
        &sim,
        &[
            ("FFF_EXCHANGE__SUBSCRIBER_BUFFER", "256"),
            ("FFF_EXCHANGE__SPOT_BOOK_POLL_MS", "50"),
        ],
    )
    .await
    .unwrap();
    let slow = subscribe(gateway.addr, Some(1024)).await;
    let mut fast = subscribe(gateway.addr, None).await;

    let started = tokio::time::Instant::now();
    let mut live_marks = 0;
    let mut worst_lag_ms = 0;
    let mut last_sequence = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let event = tokio::time::timeout(Duration::from_secs(3), fast.next())
            .await
            .expect("the fast subscriber keeps receiving")
            .expect("stream open")
            .expect("no error for the fast subscriber");
        assert_eq!(event.sequence, last_sequence + 1, "gapless sequence");
        last_sequence = event.sequence;
        if let (Some(Event::MarkPrice(_)), false, Some(time)) =
            (&event.event, event.snapshot, event.event_time)
        {
            live_marks += 1;
            let event_ms = time.seconds * 1000 + i64::from(time.nanos / 1_000_000);
            worst_lag_ms = worst_lag_ms.max(now_ms() - event_ms);
        }
    }
    assert!(
        live_marks >= 12,
        "only {live_marks} live mark prices in 8 s"
    );
    assert!(
        worst_lag_ms < 2_500,
        "fast subscriber lagged {worst_lag_ms} ms"
    );

    // the slow one was cut off with a status once its buffer filled
    let ended = tokio::time::timeout(Duration::from_secs(10), async move {
        let mut slow = slow;
        loop {
            match slow.next().await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => return Some(status.code()),
                None => return None,
            }
        }
    })
    .await
    .expect("the slow subscriber's stream ends");
    assert_eq!(ended, Some(tonic::Code::ResourceExhausted));
}

#[test]
fn gateway_without_an_exchange_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = crate::harness::run_to_end(
        crate::harness::fff()
            .args(["gateway", "--listen", "127.0.0.1:0"])
            .env_remove("FFF_EXCHANGE__SIM_URLS_FILE")
            .env_remove("BINANCE_API_KEY")
            .env_remove("BINANCE_API_SECRET")
            .env("FFF_AUTH_TOKEN", TOKEN),
        dir.path(),
    );
    assert_ne!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.contains("exchange.sim_urls_file"), "{stderr}");

    // a live venue without a key is refused before anything is sent
    let (code, stderr) = crate::harness::run_to_end(
        crate::harness::fff()
            .args(["gateway", "--listen", "127.0.0.1:0"])
            .env_remove("BINANCE_API_KEY")
            .env_remove("BINANCE_API_SECRET")
            .env("FFF_EXCHANGE__VENUE", "mainnet")
            .env("FFF_AUTH_TOKEN", TOKEN),
        dir.path(),
    );
    assert_ne!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.contains("BINANCE_API_KEY"), "{stderr}");
}

/// Two simulator accounts: one whose key may withdraw, one that may not.
const KEYS_SIM: &str = r#"
[[accounts]]
name = "careful"
api_key = "careful-key"
api_secret = "careful-secret"
futures = { USDT = "1000" }

[[accounts]]
name = "reckless"
api_key = "reckless-key"
api_secret = "reckless-secret"
futures = { USDT = "1000" }
api_restrictions = { enable_withdrawals = true }
"#;

#[tokio::test]
async fn a_live_venue_refuses_a_key_that_can_withdraw() {
    let sim = crate::harness::start_sim_with_config(KEYS_SIM)
        .await
        .unwrap();
    let base = format!("http://{}", sim.http_addr());
    let ws = format!("ws://{}", sim.http_addr());
    let ws_api = format!("ws://{}/ws-api/v3", sim.http_addr());
    // venue "mainnet" with every host pointed at the simulator: only the key differs
    let live = |key: &str, secret: &str| {
        let mut command = crate::harness::fff();
        command
            .args(["gateway", "--listen", "127.0.0.1:0"])
            .env("FFF_AUTH_TOKEN", TOKEN)
            .env("FFF_EXCHANGE__VENUE", "mainnet")
            .env("FFF_EXCHANGE__SPOT_REST", &base)
            .env("FFF_EXCHANGE__FUTURES_REST", &base)
            .env("FFF_EXCHANGE__FUTURES_WS", &ws)
            .env("FFF_EXCHANGE__SPOT_WS_API", &ws_api)
            .env("FFF_EXCHANGE__MARGIN_RISK_WS", &ws)
            .env("BINANCE_API_KEY", key)
            .env("BINANCE_API_SECRET", secret);
        command
    };
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) =
        crate::harness::run_to_end(&mut live("reckless-key", "reckless-secret"), dir.path());
    assert_ne!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.contains("withdrawals enabled"), "{stderr}");
    assert!(!stderr.contains("reckless-secret"), "{stderr}");

    // the careful key gets past the check and serves until stopped
    let mut careful = live("careful-key", "careful-secret")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(careful.try_wait().unwrap().is_none(), "still running");
    careful.kill().unwrap();
    careful.wait().unwrap();
}

/// One gateway sends for an account: a second gateway on the same database waits
/// NOT_SERVING and refuses to send; after a kill -9 of the first it takes the lease over and
/// sends, and the order refused while waiting never reached the venue.
#[tokio::test]
async fn a_second_gateway_waits_for_the_lease_and_takes_over_after_kill_9() {
    let sim = start_sim().await.unwrap();
    let db = fff_testkit::test_database().await.unwrap();
    let env = [("DATABASE_URL", db.url())];
    let mut first = start_gateway(&sim, &env).await.unwrap();
    let file = sim.urls_file().to_string_lossy().into_owned();
    let second_port = fff_testkit::free_port().unwrap();
    let second = spawn_role_on(
        "gateway",
        second_port,
        &[
            ("FFF_EXCHANGE__VENUE", "sim"),
            ("FFF_EXCHANGE__SIM_URLS_FILE", file.as_str()),
            ("DATABASE_URL", db.url()),
        ],
    )
    .unwrap();
    // the standby listens (its health says NOT_SERVING) once it has started
    let started = std::time::Instant::now();
    let standby = loop {
        let endpoint =
            tonic::transport::Channel::from_shared(format!("http://{}", second.addr)).unwrap();
        match endpoint.connect().await {
            Ok(channel) => break channel,
            Err(err) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "the second gateway never listened: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut waiting = GatewayClient::new(standby);
    // the standby loads the universe like any gateway, then stays out of rotation
    let mark = loop {
        if let Ok(universe) = waiting
            .get_universe(pb::GetUniverseRequest {
                symbols: vec!["BTCUSDT".into()],
                include_non_trading: true,
            })
            .await
        {
            break universe.into_inner().instruments[0].mark_price.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!serving(second.addr).await, "two gateways serving at once");
    assert!(serving(first.addr).await);
    let refused = waiting
        .place_order(authed(resting_sell("xp-lease-1", &mark)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("lease"), "{}", refused.message());
    assert_eq!(sim_orders_with(&sim, "xp-lease-1").await, 0);

    first.kill_now();
    let killed_at = std::time::Instant::now();
    fff_testkit::wait_until(Duration::from_secs(30), || serving(second.addr))
        .await
        .expect("the second gateway takes the lease over");
    println!(
        "gateway lease takeover after kill -9: {:?}",
        killed_at.elapsed()
    );
    let placed = waiting
        .place_order(authed(resting_sell("xp-lease-2", &mark)))
        .await
        .unwrap()
        .into_inner();
    assert!(!placed.duplicate);
    assert_eq!(sim_orders_with(&sim, "xp-lease-2").await, 1);
    assert_eq!(sim_orders_with(&sim, "xp-lease-1").await, 0);
}

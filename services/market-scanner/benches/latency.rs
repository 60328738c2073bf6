//! Latency from a simulator mark-price update to the updated snapshot on StreamOpportunities.
//!
//! Starts the simulator (`fff_sim::spawn`), the gateway (`fff_gateway::run`, port 0) and the
//! scanner (`fff_scanner::run`, port 0) in this process, then repeatedly sets BTCUSDT's funding
//! in the simulator, alternating between a rate that qualifies and one that does not (so every
//! change alters the qualifying set and is published at once). For each change it records:
//!
//! - `sim -> gateway`: the simulator's event time of the first mark-price update carrying the
//!   new rate (its clock runs in real time) to its arrival on a gateway StreamMarket client;
//! - `gateway -> snapshot`: that arrival to the arrival of the scanner snapshot with the rate;
//! - `sim -> snapshot`: the simulator's event time to the scanner snapshot (the sum).
//!
//! The simulator pushes mark prices on Binance's cadence, so the wait between setting a rate
//! and its first push is not part of any figure. Run:
//! `cargo bench -p fff-scanner --bench latency` (`LATENCY_SAMPLES`, default 100).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fff_proto::fff::gateway::v1::{
    self as gw, gateway_client::GatewayClient, stream_market_response::Event,
};
use fff_proto::fff::scanner::v1::{self as pb, scanner_client::ScannerClient};
use fff_runtime::{FffConfig, RoleContext};
use fff_sim::SimConfig;
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SYMBOL: &str = "BTCUSDT";

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("reachable")
}

async fn wait_serving(addr: std::net::SocketAddr) {
    fff_testkit::wait_until(Duration::from_secs(60), || async move {
        let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
        else {
            return false;
        };
        let request = HealthCheckRequest {
            service: String::new(),
        };
        matches!(HealthClient::new(channel).check(request).await,
            Ok(r) if r.get_ref().status == ServingStatus::Serving as i32)
    })
    .await
    .expect("role became ready");
}

async fn spawn_role<F, Fut>(run: F) -> std::net::SocketAddr
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let role = run(listener);
    tokio::spawn(async move {
        if let Err(error) = role.await {
            eprintln!("role failed: {error:#}");
        }
    });
    addr
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples_ms: Vec<f64>) {
    samples_ms.sort_by(f64::total_cmp);
    println!(
        "{name:<20} n={:<3} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples_ms.len(),
        percentile(&samples_ms, 50.0),
        percentile(&samples_ms, 99.0),
        samples_ms.last().copied().unwrap_or(f64::NAN),
    );
}

/// Rates are compared as decimals: the gateway may carry more trailing zeros.
fn same_rate(a: &str, b: &str) -> bool {
    matches!((a.parse::<Decimal>(), b.parse::<Decimal>()), (Ok(x), Ok(y)) if x == y)
}

#[tokio::main]
async fn main() {
    let samples: usize = std::env::var("LATENCY_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let sim = fff_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");

    let mut gateway_config = FffConfig::default();
    let urls = &sim.urls;
    gateway_config.exchange.spot_rest = Some(urls.spot_rest.clone());
    gateway_config.exchange.futures_rest = Some(urls.futures_rest.clone());
    gateway_config.exchange.futures_ws = Some(urls.futures_ws.clone());
    gateway_config.exchange.spot_ws_api = Some(urls.spot_ws_api.clone());
    gateway_config.exchange.margin_risk_ws = Some(urls.margin_risk_ws.clone());
    gateway_config.exchange.spot_book_poll_ms = 200;
    let gateway = spawn_role(|listener| {
        fff_gateway::run(
            RoleContext::new(gateway_config),
            listener,
            std::future::pending(),
        )
    })
    .await;
    wait_serving(gateway).await;

    let mut scanner_config = FffConfig::default();
    scanner_config.services.gateway = format!("http://{gateway}");
    let scanner = spawn_role(|listener| {
        fff_scanner::run(
            RoleContext::new(scanner_config),
            listener,
            std::future::pending(),
        )
    })
    .await;
    wait_serving(scanner).await;

    // first arrival of each funding rate on a gateway market stream: (event time us, arrival us)
    let seen: Arc<Mutex<Vec<(String, i64, i64)>>> = Arc::default();
    let mut market = GatewayClient::new(connect(gateway).await)
        .stream_market(gw::StreamMarketRequest {
            symbols: vec![SYMBOL.to_owned()],
            kinds: vec![gw::MarketEventKind::MarkPrice as i32],
        })
        .await
        .expect("market stream")
        .into_inner();
    {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(event)) = market.message().await {
                let arrived = now_us();
                if let (Some(Event::MarkPrice(mark)), Some(at)) = (event.event, event.event_time) {
                    let event_us = at.seconds * 1_000_000 + i64::from(at.nanos) / 1_000;
                    seen.lock()
                        .expect("lock")
                        .push((mark.funding_rate, event_us, arrived));
                }
            }
        });
    }

    let mut opportunities = ScannerClient::new(connect(scanner).await)
        .stream_opportunities(pb::StreamOpportunitiesRequest {
            filter: Some(pb::OpportunityFilter {
                include_unqualified: true,
                symbols: vec![SYMBOL.to_owned()],
                ..pb::OpportunityFilter::default()
            }),
        })
        .await
        .expect("opportunity stream")
        .into_inner();

    let (mut total, mut gateway_hop, mut scanner_hop) = (Vec::new(), Vec::new(), Vec::new());
    let mut timeouts = 0;
    for i in 0..samples {
        // qualifying and non-qualifying rates alternate; each is unique so it can be traced
        let units = i64::try_from(i).unwrap_or(0);
        let rate = if i % 2 == 0 {
            Decimal::new(31_000 + units, 7)
        } else {
            Decimal::new(100 + units, 8)
        };
        sim.set_funding_rate(SYMBOL, rate).expect("set funding");
        let rate_text = rate.to_string();
        let arrived = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let message = opportunities
                    .message()
                    .await
                    .expect("stream")
                    .expect("open");
                let snapshot = message.snapshot.expect("snapshot");
                if let Some(btc) = snapshot.opportunities.first()
                    && same_rate(&btc.funding_rate, &rate_text)
                {
                    return now_us();
                }
            }
        })
        .await;
        let Ok(snapshot_us) = arrived else {
            timeouts += 1;
            continue;
        };
        // this client's own gateway subscription may see the event a moment after the scanner
        let first = {
            let seen = seen.clone();
            let rate_text = rate_text.clone();
            fff_testkit::wait_for(Duration::from_secs(2), move || {
                let found = seen
                    .lock()
                    .expect("lock")
                    .iter()
                    .find(|(r, _, _)| same_rate(r, &rate_text))
                    .map(|(_, event_us, arrival_us)| (*event_us, *arrival_us));
                async move { found }
            })
            .await
            .ok()
        };
        if let Some((event_us, gateway_us)) = first {
            total.push((snapshot_us - event_us) as f64 / 1000.0);
            gateway_hop.push((gateway_us - event_us) as f64 / 1000.0);
            scanner_hop.push((snapshot_us - gateway_us) as f64 / 1000.0);
        }
    }
    println!(
        "mark-price update -> StreamOpportunities snapshot ({samples} funding changes, {timeouts} timed out)"
    );
    report("sim -> snapshot", total);
    report("sim -> gateway", gateway_hop);
    report("gateway -> snapshot", scanner_hop);
    drop(sim);
}

//! `fff_scanner::run` on port 0 against the fake gateway, exercised with generated clients.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fff_proto::fff::common::v1::Direction;
use fff_proto::fff::scanner::v1::{self as pb, scanner_client::ScannerClient};
use fff_runtime::{FffConfig, RoleContext};
use fff_scanner::merge;
use fff_testkit::{wait_for, wait_until};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::fake_gateway::{self, mark};

struct RunningScanner {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl RunningScanner {
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn client(&self) -> ScannerClient<Channel> {
        ScannerClient::connect(self.endpoint()).await.unwrap()
    }

    async fn serving(&self) -> bool {
        let Ok(channel) = Channel::from_shared(self.endpoint())
            .unwrap()
            .connect()
            .await
        else {
            return false;
        };
        let mut health = HealthClient::new(channel);
        let request = HealthCheckRequest {
            service: String::new(),
        };
        matches!(health.check(request).await,
            Ok(r) if r.get_ref().status == ServingStatus::Serving as i32)
    }
}

async fn start_scanner(gateway: &str, shard: &str, scan_interval_secs: u64) -> RunningScanner {
    let mut config = FffConfig::default();
    config.services.gateway = gateway.to_owned();
    config.scanner.shard = shard.to_owned();
    config.scanner.scan_interval_secs = scan_interval_secs;
    config.scanner.reconnect_initial_ms = 50;
    config.scanner.reconnect_max_ms = 200;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(fff_scanner::run(
        RoleContext::new(config),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    RunningScanner { addr, _stop: stop }
}

async fn ready(scanner: &RunningScanner) {
    wait_until(Duration::from_secs(10), || scanner.serving())
        .await
        .unwrap();
}

/// Waits until the market snapshot (books) and the funding history have been applied: three
/// pairs qualify.
async fn settled(scanner: &RunningScanner) {
    settled_with(scanner, 3).await;
}

async fn settled_with(scanner: &RunningScanner, qualified: u32) {
    let client = scanner.client().await;
    wait_until(Duration::from_secs(5), || {
        let mut client = client.clone();
        async move {
            list(&mut client, pb::OpportunityFilter::default())
                .await
                .qualified_count
                == qualified
        }
    })
    .await
    .unwrap();
}

async fn list(
    client: &mut ScannerClient<Channel>,
    filter: pb::OpportunityFilter,
) -> pb::OpportunitySnapshot {
    client
        .list_opportunities(pb::ListOpportunitiesRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap()
}

fn qualified(snapshot: &pb::OpportunitySnapshot) -> Vec<String> {
    snapshot
        .opportunities
        .iter()
        .filter(|o| o.qualified)
        .map(|o| o.symbol.clone())
        .collect()
}

#[tokio::test]
async fn not_serving_until_the_gateway_answers_then_ranks() {
    // reserve a port for the gateway but start it only later: the scanner must retry
    let gateway_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_addr = gateway_listener.local_addr().unwrap();
    drop(gateway_listener);
    let scanner = start_scanner(&format!("http://{gateway_addr}"), "0/1", 60).await;
    let mut client = scanner.client().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!scanner.serving().await);
    let err = client
        .list_opportunities(pb::ListOpportunitiesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);

    let _gateway = fake_gateway::start_on(TcpListener::bind(gateway_addr).await.unwrap()).await;
    ready(&scanner).await;
    // the market snapshot (books) arrives just after the universe
    let mut snapshot = list(&mut client, pb::OpportunityFilter::default()).await;
    for _ in 0..50 {
        if snapshot.qualified_count == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        snapshot = list(&mut client, pb::OpportunityFilter::default()).await;
    }
    // DOGE 0.32 % per 8 h, SOL 0.04 % minus 0.007 % borrow, XRP 0.03 %
    assert_eq!(qualified(&snapshot), ["DOGEUSDT", "SOLUSDT", "XRPUSDT"]);
    assert_eq!(snapshot.symbols_scanned, 7, "halted instrument left out");
    let ranks: Vec<u32> = snapshot.opportunities.iter().map(|o| o.rank).collect();
    assert_eq!(ranks, [1, 2, 3]);

    let filtered = list(
        &mut client,
        pb::OpportunityFilter {
            direction: Direction::NegativeCarry as i32,
            include_unqualified: true,
            ..pb::OpportunityFilter::default()
        },
    )
    .await;
    let symbols: Vec<&str> = filtered
        .opportunities
        .iter()
        .map(|o| o.symbol.as_str())
        .collect();
    assert_eq!(symbols, ["SOLUSDT", "ADAUSDT", "ORCAUSDT"]);
    let top = list(
        &mut client,
        pb::OpportunityFilter {
            top_n: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(qualified(&top), ["DOGEUSDT"]);

    let err = client
        .list_opportunities(pb::ListOpportunitiesRequest {
            filter: Some(pb::OpportunityFilter {
                min_score: "high".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("filter.min_score"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn funding_change_reaches_the_stream_at_once() {
    let gateway = fake_gateway::start().await;
    let scanner = start_scanner(&gateway.endpoint(), "0/1", 60).await;
    ready(&scanner).await;
    let mut client = scanner.client().await;
    let mut stream = client
        .stream_opportunities(pb::StreamOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap().snapshot.unwrap();
    let mut last_sequence = first.sequence;
    // wait out the initial market snapshot
    if first.qualified_count != 3 {
        loop {
            let next = stream.message().await.unwrap().unwrap().snapshot.unwrap();
            assert!(next.sequence > last_sequence);
            last_sequence = next.sequence;
            if next.qualified_count == 3 {
                break;
            }
        }
    }
    let started = std::time::Instant::now();
    gateway.state.push(mark("BTCUSDT", "0.005", 8));
    // other publications (e.g. funding-history seeding reordering pairs) may come first
    let updated = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let snapshot = stream.message().await.unwrap().unwrap().snapshot.unwrap();
            if snapshot.opportunities.iter().any(|o| o.symbol == "BTCUSDT") {
                return snapshot;
            }
        }
    })
    .await
    .expect("published before the 60 s scan interval");
    assert!(updated.sequence > last_sequence);
    let btc = updated
        .opportunities
        .iter()
        .find(|o| o.symbol == "BTCUSDT")
        .unwrap();
    assert!(btc.qualified && btc.rank > 0, "{btc:?}");
    assert_eq!(btc.funding_rate, "0.005");
    assert_eq!(updated.shard.unwrap().shard_count, 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn periodic_snapshots_without_changes() {
    let gateway = fake_gateway::start().await;
    let scanner = start_scanner(&gateway.endpoint(), "0/1", 1).await;
    ready(&scanner).await;
    let mut client = scanner.client().await;
    let mut stream = client
        .stream_opportunities(pb::StreamOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut sequences = Vec::new();
    let started = std::time::Instant::now();
    while sequences.len() < 4 {
        let message = tokio::time::timeout(Duration::from_secs(3), stream.message())
            .await
            .expect("a snapshot at least every second")
            .unwrap()
            .unwrap();
        sequences.push(message.snapshot.unwrap().sequence);
    }
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn explain_pair_names_the_failing_filter() {
    let gateway = fake_gateway::start().await;
    let scanner = start_scanner(&gateway.endpoint(), "0/1", 60).await;
    ready(&scanner).await;
    settled(&scanner).await;
    let mut client = scanner.client().await;
    let explain = |symbol: &str, direction: Direction| pb::ExplainPairRequest {
        symbol: symbol.to_owned(),
        direction: direction as i32,
    };
    let mut failed_of = async |symbol: &str| -> Vec<String> {
        let response = client
            .explain_pair(explain(symbol, Direction::Unspecified))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.filters.len(), 7);
        assert_eq!(response.components.len(), 4);
        response
            .filters
            .iter()
            .filter(|f| !f.passed)
            .map(|f| f.name.clone())
            .collect()
    };
    assert_eq!(failed_of("LSKUSDT").await, ["volume_24h"]);
    assert_eq!(failed_of("ORCAUSDT").await, ["margin_enabled"]);
    assert_eq!(failed_of("ADAUSDT").await, ["borrow_cover", "net_of_cost"]);
    // the funding history from ListFundingRates feeds the stability component
    let stability = wait_for(Duration::from_secs(5), || {
        let mut client = client.clone();
        async move {
            let response = client
                .explain_pair(pb::ExplainPairRequest {
                    symbol: "XRPUSDT".into(),
                    direction: 0,
                })
                .await
                .unwrap()
                .into_inner();
            let stability = response
                .components
                .into_iter()
                .find(|c| c.name == "stability")?;
            (!stability.raw_value.is_empty()).then_some(stability)
        }
    })
    .await
    .unwrap();
    assert_eq!(stability.raw_value, "0", "four equal settlements");
    assert_eq!(stability.normalized, "1");
    assert!(gateway.state.history_calls.load(Ordering::SeqCst) >= 7);

    let unknown = client
        .explain_pair(explain("NOPEUSDT", Direction::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let halted = client
        .explain_pair(explain("HALTUSDT", Direction::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(halted.code(), Code::NotFound);
    let bad = client
        .explain_pair(explain("btcusdt", Direction::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("`symbol`"), "{}", bad.message());
    let bad_direction = client
        .explain_pair(pb::ExplainPairRequest {
            symbol: "BTCUSDT".into(),
            direction: 7,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_direction.code(), Code::InvalidArgument);
    assert!(bad_direction.message().contains("`direction`"));
}

#[tokio::test]
async fn resync_rereads_the_universe_and_resubscribes() {
    let gateway = fake_gateway::start().await;
    let scanner = start_scanner(&gateway.endpoint(), "0/1", 60).await;
    ready(&scanner).await;
    let state = gateway.state.clone();
    wait_until(Duration::from_secs(5), || async {
        !state.subscriptions.lock().unwrap().is_empty()
    })
    .await
    .unwrap();
    let calls = state.universe_calls.load(Ordering::SeqCst);
    // a new listing appears and the gateway says events were lost
    state
        .universe
        .lock()
        .unwrap()
        .push(fake_gateway::instrument("NEWUSDT", "0.0009", 8));
    state.resync();
    wait_until(Duration::from_secs(5), || async {
        state.subscriptions.lock().unwrap().len() >= 2
    })
    .await
    .unwrap();
    assert!(state.universe_calls.load(Ordering::SeqCst) > calls);
    let subscriptions = state.subscriptions.lock().unwrap().clone();
    assert!(subscriptions[1].contains(&"NEWUSDT".to_owned()));
    assert!(!subscriptions[0].contains(&"HALTUSDT".to_owned()));
}

#[tokio::test]
async fn three_shards_merge_to_the_single_scanner_view() {
    let gateway = fake_gateway::start().await;
    let single = start_scanner(&gateway.endpoint(), "0/1", 60).await;
    let mut shards = Vec::new();
    for i in 0..3 {
        shards.push(start_scanner(&gateway.endpoint(), &format!("{i}/3"), 60).await);
    }
    ready(&single).await;
    for shard in &shards {
        ready(shard).await;
    }
    let filter = pb::OpportunityFilter {
        include_unqualified: true,
        ..Default::default()
    };
    let single_client = single.client().await;
    let expected = wait_for(Duration::from_secs(5), || {
        let mut client = single_client.clone();
        let filter = filter.clone();
        async move {
            let snapshot = list(&mut client, filter).await;
            (snapshot.qualified_count == 3).then_some(snapshot)
        }
    })
    .await
    .unwrap();
    // each shard subscribes to its own symbols only; with the single scanner's full list
    // removed, the subscriptions cover the universe exactly once
    let state = gateway.state.clone();
    let subscribed = wait_for(Duration::from_secs(5), || {
        let state = state.clone();
        async move {
            let mut all = state.subscriptions.lock().unwrap().clone();
            let full = all.iter().position(|s| s.len() == 7)?;
            all.remove(full);
            let mut symbols: Vec<String> = all.into_iter().flatten().collect();
            symbols.sort();
            (symbols.len() == 7).then_some(symbols)
        }
    })
    .await
    .unwrap();
    let mut universe: Vec<String> = expected
        .opportunities
        .iter()
        .map(|o| o.symbol.clone())
        .collect();
    universe.sort();
    assert_eq!(subscribed, universe);

    // one replica by host name, as behind a DNS name: it is resolved to its address(es)
    let mut endpoints: Vec<String> = shards.iter().map(RunningScanner::endpoint).collect();
    endpoints[2] = format!("http://localhost:{}", shards[2].addr.port());
    let mut subscription = merge::subscribe(endpoints, filter);
    let merged = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            subscription.view.changed().await.unwrap();
            let merged = subscription.view.borrow_and_update().clone();
            let qualified = merged.opportunities.iter().filter(|o| o.qualified).count();
            if merged.complete && qualified == 3 {
                return merged;
            }
        }
    })
    .await
    .expect("all three shards reported");
    drop(subscription);
    let key = |o: &pb::Opportunity| (o.symbol.clone(), o.rank, o.qualified, o.score.clone());
    let merged_key: Vec<_> = merged.opportunities.iter().map(key).collect();
    let expected_key: Vec<_> = expected.opportunities.iter().map(key).collect();
    assert_eq!(merged_key, expected_key);
    let assigned: u32 = merged
        .shards
        .iter()
        .map(|s| s.shard.unwrap().symbols_assigned)
        .sum();
    assert_eq!(assigned, expected.symbols_scanned);
}

#[tokio::test]
async fn a_gateway_without_funding_history_is_asked_once() {
    let gateway = fake_gateway::start().await;
    gateway.state.serve_history.store(false, Ordering::SeqCst);
    let scanner = start_scanner(&gateway.endpoint(), "0/1", 60).await;
    ready(&scanner).await;
    // without settled history a predicted rate counts halved: over the one-week horizon only
    // DOGE's repays a round trip
    settled_with(&scanner, 1).await;
    let mut client = scanner.client().await;
    let doge = client
        .explain_pair(pb::ExplainPairRequest {
            symbol: "DOGEUSDT".into(),
            direction: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let stability = doge
        .components
        .iter()
        .find(|c| c.name == "stability")
        .unwrap();
    assert_eq!(stability.raw_value, "", "no history: stability unknown");
    assert_eq!(stability.normalized, "0");
    assert!(doge.qualified, "stability is scored, not a filter");
    assert_eq!(gateway.state.history_calls.load(Ordering::SeqCst), 1);
}

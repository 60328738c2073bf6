//! The scanner as its own process, fed by `fff gateway` against `fff sim` (each its own
//! process): a funding change in the simulator reaches StreamOpportunities before the scan
//! interval, ExplainPair names the filter each deliberately bad simulator symbol fails, and three
//! shards merged give the same opportunities as one scanner.

use std::collections::BTreeSet;
use std::time::Duration;

use fff_proto::fff::scanner::v1 as pb;
use fff_testkit::wait_for;
use pb::scanner_client::ScannerClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::harness::{RoleProcess, SimProcess, channel, start_gateway, start_role, start_sim};

async fn start_scanner(gateway: &RoleProcess, shard: &str) -> RoleProcess {
    let endpoint = format!("http://{}", gateway.addr);
    start_role(
        "scanner",
        &[
            ("FFF_SERVICES__GATEWAY", endpoint.as_str()),
            ("FFF_SCANNER__SHARD", shard),
            ("FFF_SCANNER__SCAN_INTERVAL_SECS", "60"),
        ],
    )
    .await
    .unwrap()
}

/// A decimal string without trailing zeros ("0.00310000" -> "0.0031").
fn plain(decimal: &str) -> &str {
    if decimal.contains('.') {
        decimal.trim_end_matches('0').trim_end_matches('.')
    } else {
        decimal
    }
}

async fn stack() -> (SimProcess, RoleProcess, RoleProcess) {
    let sim = start_sim().await.unwrap();
    let gateway = start_gateway(&sim, &[]).await.unwrap();
    let scanner = start_scanner(&gateway, "0/1").await;
    (sim, gateway, scanner)
}

async fn client(scanner: &RoleProcess) -> ScannerClient<Channel> {
    ScannerClient::new(channel(scanner.addr).await)
}

fn all_pairs() -> pb::OpportunityFilter {
    pb::OpportunityFilter {
        include_unqualified: true,
        ..pb::OpportunityFilter::default()
    }
}

async fn list(client: &mut ScannerClient<Channel>) -> pb::OpportunitySnapshot {
    client
        .list_opportunities(pb::ListOpportunitiesRequest {
            filter: Some(all_pairs()),
        })
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap()
}

/// Waits until the market snapshot has reached the scanner (every liquid pair has a book).
async fn settled(client: &ScannerClient<Channel>) -> pb::OpportunitySnapshot {
    wait_for(Duration::from_secs(60), || {
        let mut client = client.clone();
        async move {
            let snapshot = list(&mut client).await;
            // every liquid symbol has its books (a slow machine delivers them one by one): a
            // symbol without a book fails "spread"
            let failed =
                |o: &pb::Opportunity, name: &str| o.failed_filters.iter().any(|f| f == name);
            let has_books = snapshot
                .opportunities
                .iter()
                .filter(|o| !failed(o, "volume_24h"))
                .all(|o| !failed(o, "spread"));
            (has_books && !snapshot.opportunities.is_empty()).then_some(snapshot)
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn funding_change_in_the_sim_reaches_stream_opportunities() {
    let (sim, _gateway, scanner) = stack().await;
    let mut client = client(&scanner).await;
    settled(&client).await;
    let filter = pb::OpportunityFilter {
        include_unqualified: true,
        symbols: vec!["BTCUSDT".into()],
        ..pb::OpportunityFilter::default()
    };
    let mut stream = client
        .stream_opportunities(pb::StreamOpportunitiesRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap().snapshot.unwrap();
    let before = &first.opportunities[0];
    assert_eq!(before.symbol, "BTCUSDT");
    // 0.31 % per 8 h: far above every threshold, ranks BTC first
    sim.http(
        "POST",
        "/admin/funding",
        r#"{"symbol": "BTCUSDT", "rate": "0.0031"}"#,
    )
    .await;
    // the scan interval is 60 s: anything arriving well before it was event-driven
    let updated = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let snapshot = stream.message().await.unwrap().unwrap().snapshot.unwrap();
            let btc = snapshot.opportunities[0].clone();
            if plain(&btc.funding_rate) == "0.0031" {
                return (snapshot.sequence, btc);
            }
        }
    })
    .await
    .expect("the new funding rate reached the stream before the scan interval");
    assert!(updated.0 > first.sequence);
    let btc = updated.1;
    assert!(btc.qualified, "{btc:?}");
    assert_eq!(btc.rank, 1, "{btc:?}");
}

#[tokio::test]
async fn explain_pair_names_the_failing_filter_of_each_bad_sim_symbol() {
    let (_sim, _gateway, scanner) = stack().await;
    let mut client = client(&scanner).await;
    settled(&client).await;
    let mut failed = async |symbol: &str| -> Vec<String> {
        let response = client
            .explain_pair(pb::ExplainPairRequest {
                symbol: symbol.to_owned(),
                direction: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!response.qualified, "{response:?}");
        assert_eq!(response.filters.len(), 7, "{response:?}");
        assert_eq!(response.components.len(), 4, "{response:?}");
        response
            .filters
            .into_iter()
            .filter(|f| !f.passed)
            .map(|f| f.name)
            .collect()
    };
    // simulator traits (crates/fff-sim/src/config/universe.rs): LSK is the low-volume listing,
    // ORCA has cross margin disabled, ADA's negative funding is below its borrow cost
    let lsk = failed("LSKUSDT").await;
    assert!(lsk.contains(&"volume_24h".to_owned()), "{lsk:?}");
    let orca = failed("ORCAUSDT").await;
    assert!(orca.contains(&"margin_enabled".to_owned()), "{orca:?}");
    let ada = failed("ADAUSDT").await;
    assert!(ada.contains(&"borrow_cover".to_owned()), "{ada:?}");
    // and its carry, net of borrow, cannot repay a round trip
    assert!(ada.contains(&"net_of_cost".to_owned()), "{ada:?}");

    let unknown = client
        .explain_pair(pb::ExplainPairRequest {
            symbol: "NOPEUSDT".into(),
            direction: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let bad = client
        .explain_pair(pb::ExplainPairRequest {
            symbol: "btcusdt".into(),
            direction: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("symbol"), "{}", bad.message());
}

fn qualified(opportunities: &[pb::Opportunity]) -> BTreeSet<String> {
    opportunities
        .iter()
        .filter(|o| o.qualified)
        .map(|o| o.symbol.clone())
        .collect()
}

#[tokio::test]
async fn three_shards_give_the_same_opportunities_as_one_scanner() {
    let (_sim, gateway, single) = stack().await;
    let shards = [
        start_scanner(&gateway, "0/3").await,
        start_scanner(&gateway, "1/3").await,
        start_scanner(&gateway, "2/3").await,
    ];
    let single_client = client(&single).await;
    let reference = settled(&single_client).await;
    assert!(
        !qualified(&reference.opportunities).is_empty(),
        "the default simulator universe has qualifying pairs: {reference:?}"
    );
    let endpoints = shards
        .iter()
        .map(|s| format!("http://{}", s.addr))
        .collect();
    let mut subscription = fff_scanner::merge::subscribe(endpoints, all_pairs());

    // prices and funding estimates move in the simulator, so compare views taken close together
    let result = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            subscription.view.changed().await.unwrap();
            let merged = subscription.view.borrow_and_update().clone();
            if !merged.complete {
                continue;
            }
            let mut single_client = single_client.clone();
            let one = list(&mut single_client).await;
            let merged_symbols: BTreeSet<String> = merged
                .opportunities
                .iter()
                .map(|o| o.symbol.clone())
                .collect();
            let one_symbols: BTreeSet<String> =
                one.opportunities.iter().map(|o| o.symbol.clone()).collect();
            assert_eq!(merged_symbols, one_symbols, "every symbol exactly once");
            assert_eq!(merged.opportunities.len(), one.opportunities.len());
            let assigned: u32 = merged
                .shards
                .iter()
                .map(|s| s.shard.unwrap().symbols_assigned)
                .sum();
            assert_eq!(assigned, one.symbols_scanned);
            if qualified(&merged.opportunities) == qualified(&one.opportunities) {
                return qualified(&one.opportunities);
            }
        }
    })
    .await
    .expect("the merged shards agree with the single scanner");
    assert!(!result.is_empty());
}

//! Mark-price update -> snapshot received by a StreamOpportunities client, in one process over
//! loopback gRPC, for a 5,000-symbol shard.
//!
//! The scanner's engine (synthetic shard of `common`, books and settled history loaded) sits
//! behind the real `ScannerService` on the shared gRPC server (`fff_runtime::grpc`, port 0); a
//! tonic client subscribes. Each sample applies one mark-price update to the engine, runs the
//! cycle and hands the snapshot to the watch channels as the engine task does, then waits for
//! the client to receive that snapshot. The update alternates a symbol between a funding rate
//! that ranks it first and one that disqualifies it, so every sample is published. Timed: the
//! update applied -> the client holding the decoded snapshot (engine, watch notification, the
//! stream task's filter and proto conversion, HTTP/2 over loopback, decoding). Not timed: the
//! gateway feed (see `benches/latency.rs` for the whole path from the simulator).
//!
//! Two subscriptions, measured one after the other: the executor's (default filter: every
//! qualified pair) and a single-symbol one. Run:
//! `cargo bench -p fff-scanner --bench stream` (`STREAM_SAMPLES`, default 2000;
//! `STREAM_SYMBOLS`, default 5000).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{loaded_engine, mark, universe};
use fff_proto::fff::scanner::v1::{self as pb, scanner_client::ScannerClient};
use fff_proto::fff::scanner::v1::{MUTATING_METHODS, scanner_server::ScannerServer};
use fff_runtime::FffConfig;
use fff_runtime::grpc::GrpcServer;
use fff_scanner::ScannerService;
use fff_scanner::engine::Engine;
use fff_scanner::shard::Shard;
use fff_scanner::snapshot::Snapshot;
use tokio::net::TcpListener;
use tokio::sync::watch;

type Slot = watch::Sender<Option<Arc<Snapshot>>>;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples_us: Vec<f64>) {
    samples_us.sort_by(f64::total_cmp);
    println!(
        "{name:<44} n={:<5} p50={:>9.1} us  p99={:>9.1} us  max={:>9.1} us",
        samples_us.len(),
        percentile(&samples_us, 50.0),
        percentile(&samples_us, 99.0),
        samples_us.last().copied().unwrap_or(f64::NAN),
    );
}

/// One cycle handed to the service as the engine task does: latest first, then published.
fn publish(engine: &mut Engine, latest: &Slot, published: &Slot) -> Option<u64> {
    let cycle = engine.cycle(Utc::now(), false)?;
    let sequence = cycle.snapshot.sequence;
    latest.send_replace(Some(cycle.snapshot.clone()));
    cycle.publish.then(|| {
        published.send_replace(Some(cycle.snapshot));
        sequence
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples = env("STREAM_SAMPLES", 2000);
    let size = env("STREAM_SYMBOLS", 5000);
    let instruments = universe(size);
    let mut engine = loaded_engine(&instruments);
    let (latest, latest_rx) = watch::channel(None);
    let (published, published_rx) = watch::channel(None);
    let first = engine
        .cycle(Utc::now(), true)
        .expect("universe loaded")
        .snapshot;
    latest.send_replace(Some(first.clone()));
    published.send_replace(Some(first.clone()));
    let qualified = first.qualified_count();
    // qualified positive-carry pairs, spread over the ranking: a higher rate keeps them
    // qualified (and ranks them first), a tiny one disqualifies them
    let movers: Vec<String> = first
        .ranked
        .iter()
        .take(qualified)
        .filter(|e| e.direction() == Some(fff_core::Direction::PositiveCarry))
        .map(|e| e.symbol().to_string())
        .collect();
    let movers: Vec<String> = movers
        .iter()
        .step_by((movers.len() / 64).max(1))
        .take(64)
        .cloned()
        .collect();
    assert!(!movers.is_empty(), "no qualified positive-carry pair");
    drop(first);

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = GrpcServer::new("scanner", &FffConfig::default().server).add_service(
        ScannerServer::new(ScannerService::new(Shard::ALL, latest_rx, published_rx)),
        MUTATING_METHODS,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    println!(
        "update -> StreamOpportunities snapshot over loopback gRPC: {size} symbols \
         ({qualified} qualified), {samples} updates per subscription"
    );
    let subscriptions = [
        (
            "every qualified pair (executor's filter)",
            pb::OpportunityFilter::default(),
        ),
        ("one symbol", pb::OpportunityFilter::default()),
    ];
    for (round, (name, mut filter)) in subscriptions.into_iter().enumerate() {
        let mut client = ScannerClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        // the executor's subscription sees 64 pairs move, the single-symbol one its symbol
        let movers = if round == 1 {
            filter.include_unqualified = true;
            filter.symbols = vec![movers[0].clone()];
            &movers[..1]
        } else {
            &movers[..]
        };
        let mut stream = client
            .stream_opportunities(pb::StreamOpportunitiesRequest {
                filter: Some(filter),
            })
            .await
            .expect("subscribe")
            .into_inner();
        stream.message().await.expect("stream").expect("first");
        let (mut total, mut engine_part) = (Vec::new(), Vec::new());
        let (mut opportunities, mut skipped) = (0usize, 0usize);
        for i in 0..samples {
            // each pass over the movers ranks them first, the next one disqualifies them
            let pass = i / movers.len();
            let funding = if pass % 2 == 0 { "0.003" } else { "0.00001" };
            let event = mark(&movers[i % movers.len()], funding);
            let started = Instant::now();
            engine.apply(&event).expect("valid event");
            let Some(sequence) = publish(&mut engine, &latest, &published) else {
                skipped += 1;
                continue;
            };
            let cycled = started.elapsed();
            let received = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    let message = stream.message().await.expect("stream").expect("open");
                    let snapshot = message.snapshot.expect("snapshot");
                    if snapshot.sequence >= sequence {
                        return snapshot.opportunities.len();
                    }
                }
            })
            .await
            .expect("snapshot within 5 s");
            total.push(started.elapsed().as_secs_f64() * 1e6);
            engine_part.push(cycled.as_secs_f64() * 1e6);
            opportunities = received;
        }
        println!(
            "subscription: {name} ({opportunities} opportunities a message, \
             {skipped} updates not published)"
        );
        report("  update -> snapshot received by the client", total);
        report("  of which update -> snapshot published", engine_part);
    }
    let _ = stop.send(());
    let _ = serving.await;
}

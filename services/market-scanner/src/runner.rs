//! The scanner's background tasks: the gateway feed and the engine task that turns its events
//! into snapshots.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fff_runtime::FffConfig;
use fff_runtime::grpc::HealthHandle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::evaluation::EvalParams;
use crate::feed::{self, FeedConfig, FeedEvent};
use crate::service::ScannerService;
use crate::shard::Shard;
use crate::snapshot::Snapshot;

/// Events drained from the feed per wake-up.
const MAX_BATCH: usize = 4096;
/// Ranking may use at most 1/RANK_BUDGET_DIVISOR of the engine task's time: after a cycle
/// that took `t`, the next one waits until `RANK_BUDGET_DIVISOR x t` has passed. A quiet feed
/// (or a small shard) is ranked on every event; a busy shard of thousands of symbols with
/// book updates every few milliseconds is ranked every few milliseconds, not per event.
const RANK_BUDGET_DIVISOR: u32 = 4;
/// Bounds of that gap.
const MIN_CYCLE_GAP: Duration = Duration::from_micros(200);
const MAX_CYCLE_GAP: Duration = Duration::from_millis(50);

/// Everything the scanner needs, usually from [`FffConfig`].
#[derive(Debug, Clone)]
pub struct ScannerOptions {
    pub gateway: String,
    pub shard: Shard,
    pub params: EvalParams,
    pub funding_history_len: usize,
    pub scan_interval: Duration,
    pub universe_refresh: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl ScannerOptions {
    pub fn from_config(config: &FffConfig) -> Self {
        let scanner = &config.scanner;
        Self {
            gateway: config.services.gateway.clone(),
            shard: scanner.shard_spec().into(),
            params: EvalParams {
                selection: config.pair_selection.clone(),
                fee_amortization_days: scanner.fee_amortization_days,
                capacity_volume_bps: scanner.capacity_volume_bps,
            },
            funding_history_len: usize::try_from(scanner.funding_history_len).unwrap_or(21),
            scan_interval: Duration::from_secs(scanner.scan_interval_secs.max(1)),
            universe_refresh: Duration::from_secs(scanner.universe_refresh_secs.max(1)),
            backoff_initial: Duration::from_millis(scanner.reconnect_initial_ms.max(1)),
            backoff_max: Duration::from_millis(scanner.reconnect_max_ms.max(1)),
        }
    }
}

/// A running scanner (feed + engine); hand [`Scanner::service`] to a gRPC server.
#[derive(Debug)]
pub struct Scanner {
    service: ScannerService,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl Scanner {
    /// Starts following the gateway. `health` flips to SERVING once the first universe is
    /// loaded. Must be called inside a tokio runtime.
    pub fn start(options: ScannerOptions, health: HealthHandle) -> Self {
        let instance_id = format!("{:016x}", rand::random::<u64>());
        let engine = Engine::new(
            options.params.clone(),
            options.shard,
            options.funding_history_len,
            &instance_id,
        );
        let (latest_tx, latest_rx) = watch::channel(None);
        let (published_tx, published_rx) = watch::channel(None);
        let (events_tx, events_rx) = mpsc::channel(MAX_BATCH);
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let feed_config = FeedConfig {
            endpoint: options.gateway.clone(),
            shard: options.shard,
            universe_refresh: options.universe_refresh,
            backoff_initial: options.backoff_initial,
            backoff_max: options.backoff_max,
            history_len: u32::try_from(options.funding_history_len).unwrap_or(u32::MAX),
        };
        tasks.spawn(feed::run(feed_config, events_tx, cancel.clone()));
        tasks.spawn(
            EngineTask {
                engine,
                latest: latest_tx,
                published: published_tx,
                health,
                scan_interval: options.scan_interval,
            }
            .run(events_rx, cancel.clone()),
        );
        tracing::info!(instance_id = %instance_id, shard = %options.shard, "scanner started");
        Self {
            service: ScannerService::new(options.shard, latest_rx, published_rx),
            cancel,
            tasks,
        }
    }

    pub fn service(&self) -> ScannerService {
        self.service.clone()
    }

    /// Stops the feed and the engine and waits for them.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

struct EngineTask {
    engine: Engine,
    latest: watch::Sender<Option<Arc<Snapshot>>>,
    published: watch::Sender<Option<Arc<Snapshot>>>,
    health: HealthHandle,
    scan_interval: Duration,
}

impl EngineTask {
    /// Ranks the applied events and publishes if the ranking moved; the next ranking waits
    /// `RANK_BUDGET_DIVISOR` times this one's duration.
    fn rank(&mut self, last_cycle: &mut Instant, gap: &mut Duration, deadline: &mut Instant) {
        let started = Instant::now();
        let published = self.cycle(false);
        *last_cycle = Instant::now();
        *gap = last_cycle
            .duration_since(started)
            .saturating_mul(RANK_BUDGET_DIVISOR)
            .clamp(MIN_CYCLE_GAP, MAX_CYCLE_GAP);
        if published {
            *deadline = *last_cycle + self.scan_interval;
        }
    }

    async fn run(mut self, mut events: mpsc::Receiver<FeedEvent>, cancel: CancellationToken) {
        let mut deadline = Instant::now() + self.scan_interval;
        let mut last_cycle = Instant::now();
        let mut gap = MIN_CYCLE_GAP;
        // events applied (and evaluated) but not ranked yet
        let mut pending = false;
        loop {
            let rank_at = last_cycle + gap;
            // due already: ranked without a timer, which rounds any wait (even a past
            // deadline) up to its next millisecond tick, a millisecond on every quiet update
            let due = pending && rank_at <= Instant::now();
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = std::future::ready(()), if due => {
                    pending = false;
                    self.rank(&mut last_cycle, &mut gap, &mut deadline);
                }
                () = tokio::time::sleep_until(rank_at), if pending && !due => {
                    pending = false;
                    self.rank(&mut last_cycle, &mut gap, &mut deadline);
                }
                event = events.recv() => {
                    let Some(event) = event else { return };
                    self.handle(event).await;
                    let mut drained = 1;
                    while drained < MAX_BATCH {
                        let Ok(event) = events.try_recv() else { break };
                        self.handle(event).await;
                        drained += 1;
                    }
                    // ranked at once when quiet, at most once per gap under a burst
                    pending = true;
                }
                () = tokio::time::sleep_until(deadline) => {
                    last_cycle = Instant::now();
                    pending = false;
                    self.cycle(true);
                    deadline = last_cycle + self.scan_interval;
                }
            }
        }
    }

    async fn handle(&mut self, event: FeedEvent) {
        match event {
            FeedEvent::Universe(instruments) => {
                let first = !self.engine.universe_loaded();
                let change = self.engine.load_universe(&instruments);
                for (symbol, reason) in &change.rejected {
                    tracing::warn!(symbol = %symbol, %reason, "instrument skipped");
                }
                if change.membership_changed() {
                    tracing::info!(
                        added = change.added.len(),
                        removed = change.removed.len(),
                        "universe changed"
                    );
                }
                if first {
                    self.health.set_serving().await;
                }
            }
            FeedEvent::History(symbol, records) => {
                if let Err(error) = self.engine.seed_history(&symbol, &records) {
                    tracing::warn!(symbol = %symbol, %error, "funding history skipped");
                }
            }
            FeedEvent::Market(event) => {
                if let Err(error) = self.engine.apply(&event) {
                    tracing::warn!(symbol = %event.symbol, %error, "market event skipped");
                }
            }
        }
    }

    /// Runs one scan cycle; true when a snapshot was published to streams.
    fn cycle(&mut self, force: bool) -> bool {
        let Some(cycle) = self.engine.cycle(Utc::now(), force) else {
            return false;
        };
        let snapshot = cycle.snapshot;
        tracing::debug!(
            sequence = snapshot.sequence,
            qualified = snapshot.qualified_count(),
            publish = cycle.publish,
            "scan cycle"
        );
        self.latest.send_replace(Some(snapshot.clone()));
        if cycle.publish {
            self.published.send_replace(Some(snapshot));
        }
        cycle.publish
    }
}

//! Follows the gateway: GetUniverse, then StreamMarket for this shard's symbols, forwarding
//! everything to the engine task. Reconnects with exponential backoff, re-reads the universe
//! on Resync and periodically (borrow rates and margin flags only come with the universe).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fff_proto::fff::gateway::v1::{
    self as gw, gateway_client::GatewayClient, stream_market_response::Event,
};
use fff_runtime::telemetry::ClientInterceptor;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::shard::Shard;
use crate::state::is_trading;

/// What the feed hands to the engine.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// A fresh universe (every trading instrument; the engine keeps its shard's).
    Universe(Vec<gw::Instrument>),
    /// One market event for a subscribed symbol.
    Market(gw::StreamMarketResponse),
    /// Settled funding rates of a symbol from ListFundingRates, newest first.
    History(String, Vec<gw::FundingRateRecord>),
}

/// Where and how to follow the gateway.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub endpoint: String,
    pub shard: Shard,
    pub universe_refresh: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Settled funding rates fetched per symbol to seed the stability score.
    pub history_len: u32,
}

/// Exponential backoff: `initial`, doubled per failure, capped at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// After a success the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Symbols of `instruments` this shard subscribes to, sorted.
pub fn owned_symbols(instruments: &[gw::Instrument], shard: Shard) -> Vec<String> {
    let mut symbols: Vec<String> = instruments
        .iter()
        .filter(|i| is_trading(i) && shard.owns(&i.symbol))
        .map(|i| i.symbol.clone())
        .collect();
    symbols.sort();
    symbols
}

type Client = GatewayClient<InterceptedService<Channel, ClientInterceptor>>;

/// Why a session ended without an error.
enum Ended {
    /// Resync, or the shard's membership changed: subscribe again at once.
    Resubscribe,
    /// The engine is gone or shutdown began.
    Stop,
}

/// Runs until `cancel` fires or the engine drops its receiver.
pub async fn run(config: FeedConfig, events: mpsc::Sender<FeedEvent>, cancel: CancellationToken) {
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    let seeding = Seeding::default();
    let client = match fff_runtime::grpc::channel(&config.endpoint) {
        Ok(channel) => GatewayClient::with_interceptor(channel, ClientInterceptor::default()),
        Err(error) => {
            tracing::error!(endpoint = %config.endpoint, %error, "invalid gateway endpoint");
            return;
        }
    };
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = session(client.clone(), &config, &events, &mut backoff, &seeding, &cancel) => outcome,
        };
        match outcome {
            Ok(Ended::Stop) => return,
            Ok(Ended::Resubscribe) => {
                // a short pause so a gateway that keeps resyncing is not hammered
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(config.backoff_initial) => {}
                }
            }
            Err(status) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    endpoint = %config.endpoint,
                    code = ?status.code(),
                    detail = status.message(),
                    retry_in_ms = delay.as_millis(),
                    "gateway feed failed"
                );
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn universe(client: &mut Client) -> Result<Vec<gw::Instrument>, tonic::Status> {
    let request = gw::GetUniverseRequest {
        symbols: Vec::new(),
        include_non_trading: false,
    };
    Ok(client.get_universe(request).await?.into_inner().instruments)
}

async fn session(
    mut client: Client,
    config: &FeedConfig,
    events: &mpsc::Sender<FeedEvent>,
    backoff: &mut Backoff,
    seeding: &Seeding,
    cancel: &CancellationToken,
) -> Result<Ended, tonic::Status> {
    let instruments = universe(&mut client).await?;
    let symbols = owned_symbols(&instruments, config.shard);
    tracing::info!(
        universe = instruments.len(),
        owned = symbols.len(),
        shard = %config.shard,
        "gateway universe loaded"
    );
    if events.send(FeedEvent::Universe(instruments)).await.is_err() {
        return Ok(Ended::Stop);
    }
    backoff.reset();
    tokio::spawn(seed_history(
        client.clone(),
        symbols.clone(),
        config.history_len,
        events.clone(),
        seeding.clone(),
        cancel.clone(),
    ));
    let mut refresh = tokio::time::interval(config.universe_refresh);
    refresh.tick().await;
    if symbols.is_empty() {
        // an empty subscription would mean "the whole universe": wait for listings instead
        refresh.tick().await;
        return Ok(Ended::Resubscribe);
    }
    let request = gw::StreamMarketRequest {
        symbols: symbols.clone(),
        kinds: Vec::new(),
    };
    let mut stream = client.stream_market(request).await?.into_inner();
    loop {
        tokio::select! {
            message = stream.message() => {
                let Some(event) = message? else {
                    return Err(tonic::Status::unavailable("gateway ended the market stream"));
                };
                match &event.event {
                    Some(Event::Resync(resync)) => {
                        tracing::warn!(reason = resync.reason, detail = %resync.detail, "market stream resync");
                        return Ok(Ended::Resubscribe);
                    }
                    Some(Event::SnapshotComplete(done)) => {
                        tracing::info!(events = done.event_count, "market snapshot complete");
                    }
                    _ => {
                        if events.send(FeedEvent::Market(event)).await.is_err() {
                            return Ok(Ended::Stop);
                        }
                    }
                }
            }
            _ = refresh.tick() => {
                let instruments = universe(&mut client).await?;
                let changed = owned_symbols(&instruments, config.shard) != symbols;
                if events.send(FeedEvent::Universe(instruments)).await.is_err() {
                    return Ok(Ended::Stop);
                }
                if changed {
                    tracing::info!("shard membership changed, resubscribing");
                    return Ok(Ended::Resubscribe);
                }
            }
        }
    }
}

/// Which symbols have (or are getting) their funding history, shared across sessions.
#[derive(Debug, Clone, Default)]
struct Seeding {
    started: Arc<Mutex<HashSet<String>>>,
    /// The gateway does not serve ListFundingRates: stop asking.
    unsupported: Arc<AtomicBool>,
}

/// Longest wait between passes over symbols whose history could not be read yet (the gateway
/// may be rate-limited or still starting); the wait doubles from one second up to this.
const HISTORY_RETRY_MAX: Duration = Duration::from_secs(30);

/// Fetches the settled funding history of each symbol not seeded yet, one request at a time
/// (the exchange's funding-history endpoint has a small shared rate limit), in the background
/// so the market stream is never held up. Symbols whose history failed or came back empty are
/// retried with backoff for the whole session (net-of-cost admission weighs the history, so a
/// symbol left without it would be judged on its predicted rate alone).
async fn seed_history(
    mut client: Client,
    symbols: Vec<String>,
    history_len: u32,
    events: mpsc::Sender<FeedEvent>,
    seeding: Seeding,
    cancel: CancellationToken,
) {
    let mut pending = symbols;
    let mut wait = Duration::from_secs(1);
    for pass in 0u32.. {
        if pass > 0 {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(HISTORY_RETRY_MAX);
        }
        let mut failed = Vec::new();
        for symbol in pending {
            if cancel.is_cancelled() || seeding.unsupported.load(Ordering::Relaxed) {
                return;
            }
            let fresh = seeding
                .started
                .lock()
                .map(|mut started| started.insert(symbol.clone()))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            let request = gw::ListFundingRatesRequest {
                symbol: symbol.clone(),
                range: None,
                page_size: history_len,
                page_token: String::new(),
            };
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                result = client.list_funding_rates(request) => result,
            };
            match result {
                Ok(response) => {
                    let records = response.into_inner().records;
                    // an empty answer may only mean the gateway has not loaded it yet: ask
                    // again in the next pass (a new listing simply stays without history)
                    if records.is_empty() {
                        if let Ok(mut started) = seeding.started.lock() {
                            started.remove(&symbol);
                        }
                        failed.push(symbol);
                        continue;
                    }
                    if events
                        .send(FeedEvent::History(symbol, records))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(status) => {
                    if let Ok(mut started) = seeding.started.lock() {
                        started.remove(&symbol);
                    }
                    if status.code() == tonic::Code::Unimplemented {
                        tracing::warn!(
                            "gateway serves no funding history: stability builds up live"
                        );
                        seeding.unsupported.store(true, Ordering::Relaxed);
                        return;
                    }
                    tracing::debug!(symbol = %symbol, code = ?status.code(), "funding history unavailable");
                    failed.push(symbol);
                }
            }
        }
        if failed.is_empty() {
            return;
        }
        if pass == 5 {
            tracing::warn!(symbols = ?failed, "funding history still unavailable; still retrying");
        }
        pending = failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::instrument;
    use fff_proto::fff::common::v1::InstrumentStatus;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn owned_symbols_skip_halted_and_foreign() {
        let mut halted = instrument("HALTUSDT", "0.0001");
        halted.status = InstrumentStatus::Halted as i32;
        let all = vec![
            instrument("BTCUSDT", "0.0001"),
            halted,
            instrument("ETHUSDT", "0.0001"),
        ];
        assert_eq!(owned_symbols(&all, Shard::ALL), ["BTCUSDT", "ETHUSDT"]);
        let split: usize = (0..2)
            .map(|i| owned_symbols(&all, Shard::new(i, 2).unwrap()).len())
            .sum();
        assert_eq!(split, 2);
    }
}

//! The gateway's shared state and its background loops: universe refresh (plus the optional
//! `instruments` upsert), market feeds, account streams, and readiness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fff_binance::RestClient;
use fff_runtime::config::{ExchangeConfig, ExchangeVenue};
use fff_runtime::grpc::HealthHandle;
use fff_store::Store;
use tokio_util::sync::CancellationToken;

use crate::account::{AccountHub, spawn_streams};
use crate::loans::RequestLog;
use crate::market::{FeedPeriods, MarketHub, spawn_feeds};
use crate::orders::Orders;
use crate::transfers::Transfers;
use crate::universe::{self, Universe};

/// Delay between attempts while the first universe load or account snapshot fails.
const STARTUP_RETRY: Duration = Duration::from_secs(2);

/// Consecutive failed universe refreshes after which health reports NOT_SERVING.
const UNHEALTHY_AFTER: u32 = 3;

#[derive(Debug)]
pub struct Gateway {
    pub venue: ExchangeVenue,
    pub rest: RestClient,
    pub universe: Arc<RwLock<Universe>>,
    pub market: Arc<MarketHub>,
    pub account: Arc<AccountHub>,
    pub orders: Arc<Orders>,
    pub loans: RequestLog,
    pub transfers: Transfers,
    ready: AtomicBool,
    /// The exchange answered the last universe refreshes (see [`UNHEALTHY_AFTER`]).
    exchange_ok: AtomicBool,
    /// This instance holds the writer lease (shared with [`Orders`]).
    writer: Arc<AtomicBool>,
}

impl Gateway {
    pub fn new(venue: ExchangeVenue, rest: RestClient, config: &ExchangeConfig) -> Arc<Self> {
        let universe = Arc::new(RwLock::new(Universe::default()));
        let market = Arc::new(MarketHub::new(config.subscriber_buffer));
        let account = Arc::new(AccountHub::new(
            rest.clone(),
            market.clone(),
            Duration::from_millis(config.account_max_age_ms),
            config.subscriber_buffer,
            venue == ExchangeVenue::Testnet,
        ));
        let orders = Arc::new(Orders::new(
            rest.clone(),
            universe.clone(),
            market.clone(),
            config.orders_per_second,
            config.recv_window_ms,
        ));
        Arc::new(Self {
            venue,
            rest,
            universe,
            market,
            account,
            loans: RequestLog::default(),
            transfers: Transfers::new(config.recv_window_ms),
            ready: AtomicBool::new(false),
            exchange_ok: AtomicBool::new(true),
            writer: orders.writer_flag(),
            orders,
        })
    }

    /// Whether this instance may change the account (orders, loans, transfers).
    pub fn holds_writer_lease(&self) -> bool {
        self.writer.load(Ordering::Acquire)
    }

    /// From now on the writer lease decides whether this instance sends (until it is
    /// acquired: nothing is sent, health stays NOT_SERVING).
    pub(crate) fn require_writer_lease(&self) {
        self.writer.store(false, Ordering::Release);
    }

    /// Sets whether the writer lease is held (`lease.rs`), and health with it.
    pub(crate) async fn set_writer(&self, held: bool, health: &HealthHandle) {
        self.writer.store(held, Ordering::Release);
        self.publish_health(health).await;
    }

    /// SERVING only when ready, the exchange answers, and this instance holds the writer
    /// lease: a standby gateway stays out of rotation.
    async fn publish_health(&self, health: &HealthHandle) {
        let serving = self.is_ready()
            && self.exchange_ok.load(Ordering::Acquire)
            && self.holds_writer_lease();
        if serving {
            if !health.is_serving().await {
                health.set_serving().await;
            }
        } else {
            health.set_not_serving().await;
        }
    }

    /// True once the first universe and account snapshot were loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn universe(&self) -> std::sync::RwLockReadGuard<'_, Universe> {
        self.universe.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts every background loop; flips `health` to SERVING once ready.
    pub fn start(
        self: &Arc<Self>,
        config: &ExchangeConfig,
        store: Option<Store>,
        health: HealthHandle,
        cancel: CancellationToken,
    ) {
        spawn_feeds(
            self.rest.clone(),
            self.market.clone(),
            FeedPeriods {
                spot_books: Duration::from_millis(config.spot_book_poll_ms),
                stats: Duration::from_millis(config.stats_poll_ms),
            },
            cancel.clone(),
        );
        spawn_streams(
            &self.rest,
            self.account.clone(),
            self.orders.clone(),
            cancel.clone(),
        );
        tokio::spawn(crate::weight::run(self.rest.clone(), cancel.clone()));
        let (market, account, closing) =
            (self.market.clone(), self.account.clone(), cancel.clone());
        tokio::spawn(async move {
            closing.cancelled().await;
            // open streams end now instead of holding the server for its whole grace period
            let status = tonic::Status::unavailable("gateway shutting down; reconnect");
            market.close(&status);
            account.close(&status);
        });
        let this = self.clone();
        let refresh = Duration::from_secs(config.universe_refresh_secs);
        tokio::spawn(async move {
            this.run_universe(refresh, store, health, cancel).await;
        });
    }

    async fn run_universe(
        self: Arc<Self>,
        refresh: Duration,
        store: Option<Store>,
        health: HealthHandle,
        cancel: CancellationToken,
    ) {
        let mut failures = 0u32;
        loop {
            let loaded = self.load_universe(store.as_ref()).await;
            if loaded && !self.is_ready() {
                self.become_ready(&health, &cancel).await;
            } else if self.is_ready() {
                // readiness follows the exchange: a venue unreachable for several refreshes
                // takes the gateway out of rotation until it answers again
                failures = if loaded { 0 } else { failures + 1 };
                if failures == UNHEALTHY_AFTER {
                    tracing::error!(failures, "exchange unreachable: reporting NOT_SERVING");
                    self.exchange_ok.store(false, Ordering::Release);
                    self.publish_health(&health).await;
                } else if loaded {
                    self.exchange_ok.store(true, Ordering::Release);
                    self.publish_health(&health).await;
                }
            }
            let wait = if self.is_ready() {
                refresh
            } else {
                STARTUP_RETRY
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn load_universe(&self, store: Option<&Store>) -> bool {
        let inputs = match universe::fetch_inputs(&self.rest).await {
            Ok(inputs) => inputs,
            Err(err) => {
                tracing::warn!(error = %err, "universe load failed");
                return false;
            }
        };
        let fresh = universe::build(&inputs);
        let intervals: HashMap<String, u32> = fresh
            .listings
            .iter()
            .map(|(s, l)| (s.clone(), l.instrument.funding_interval_hours))
            .collect();
        let fresh_oi: Vec<(String, String)> = fresh
            .listings
            .iter()
            .map(|(s, l)| (s.clone(), l.instrument.open_interest_contracts.clone()))
            .collect();
        tracing::info!(instruments = fresh.listings.len(), "universe loaded");
        if let Some(store) = store {
            match store
                .upsert_instruments(&universe::to_store_rows(&fresh))
                .await
            {
                Ok(changed) => tracing::debug!(changed, "instruments upserted"),
                Err(err) => tracing::warn!(error = %err, "instruments upsert failed"),
            }
        }
        *self.universe.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        self.market.set_universe(intervals);
        self.market.set_open_interest(
            fresh_oi
                .into_iter()
                .filter(|(_, oi)| !oi.is_empty())
                .collect(),
        );
        // seed marks so market orders can be checked before the stream's first tick
        for p in &inputs.premium {
            self.market
                .on_mark_price(&fff_binance::models::stream::MarkPriceUpdate {
                    event_time: p.time,
                    symbol: p.symbol.clone(),
                    mark_price: p.mark_price,
                    mark_price_avg: None,
                    index_price: p.index_price,
                    estimated_settle_price: p.estimated_settle_price,
                    funding_rate: p.last_funding_rate,
                    next_funding_time: p.next_funding_time,
                });
        }
        true
    }

    async fn become_ready(&self, health: &HealthHandle, cancel: &CancellationToken) {
        loop {
            match self.account.get(0).await {
                Ok(_) => break,
                Err(err) => tracing::warn!(error = %err, "account snapshot failed"),
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(STARTUP_RETRY) => {}
            }
        }
        self.ready.store(true, Ordering::Release);
        self.publish_health(health).await;
        tracing::info!(venue = self.venue.as_str(), "gateway ready");
    }
}

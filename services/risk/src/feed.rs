//! Following the account through the gateway: StreamAccount for changes, GetAccount for the
//! numbers. Every session subscribes first and then reads a snapshot, so no change falls
//! between them; a Resync or any balance/position/margin event triggers a fresh snapshot; a
//! periodic poll reconciles what no event announces. Each snapshot becomes the base that the
//! streamed mark prices re-value between snapshots ([`crate::marks`], [`crate::revalue`]).
//! Failures reconnect with exponential backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fff_proto::fff::gateway::v1::{
    self as gw, GetAccountRequest, StreamAccountRequest, StreamMarketRequest,
    gateway_client::GatewayClient, stream_account_response::Event,
};
use fff_runtime::grpc::HealthHandle;
use fff_runtime::telemetry::ClientInterceptor;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::{Stream, StreamExt as _};
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing::Instrument as _;

use crate::account::metrics_from_account;
use crate::revalue::MarginBasis;
use crate::state::RiskCore;

/// Account events as the feed consumes them.
pub type EventStream =
    Pin<Box<dyn Stream<Item = Result<gw::StreamAccountResponse, Status>> + Send>>;

/// Market events (mark prices) as [`crate::marks`] consumes them.
pub type MarketStream =
    Pin<Box<dyn Stream<Item = Result<gw::StreamMarketResponse, Status>> + Send>>;

/// Where account data comes from: the gateway, or a fake in tests.
pub trait AccountSource: Send + Sync + 'static {
    /// A snapshot (GetAccount) that includes every account event up to `after_sequence`
    /// (0: any the gateway holds within its max age).
    fn get_account(
        &self,
        after_sequence: u64,
    ) -> impl Future<Output = Result<gw::Account, Status>> + Send;
    /// Live events (StreamAccount).
    fn account_events(&self) -> impl Future<Output = Result<EventStream, Status>> + Send;
    /// Mark price updates of `symbols` (StreamMarket; never called with an empty list, which
    /// would mean the whole universe).
    fn mark_prices(
        &self,
        symbols: Vec<String>,
    ) -> impl Future<Output = Result<MarketStream, Status>> + Send;
}

/// The gateway's tonic client with token and trace context.
#[derive(Debug, Clone)]
pub struct GatewaySource {
    client: GatewayClient<InterceptedService<Channel, ClientInterceptor>>,
}

impl GatewaySource {
    pub fn new(channel: Channel, interceptor: ClientInterceptor) -> Self {
        Self {
            client: GatewayClient::with_interceptor(channel, interceptor),
        }
    }
}

impl AccountSource for GatewaySource {
    async fn get_account(&self, after_sequence: u64) -> Result<gw::Account, Status> {
        let response = self
            .client
            .clone()
            .get_account(GetAccountRequest {
                after_sequence,
                ..GetAccountRequest::default()
            })
            .await?;
        response
            .into_inner()
            .account
            .ok_or_else(|| Status::internal("gateway returned no account"))
    }

    async fn account_events(&self) -> Result<EventStream, Status> {
        let response = self
            .client
            .clone()
            .stream_account(StreamAccountRequest::default())
            .await?;
        Ok(Box::pin(response.into_inner()))
    }

    async fn mark_prices(&self, symbols: Vec<String>) -> Result<MarketStream, Status> {
        let request = StreamMarketRequest {
            symbols,
            // marks re-value; the perp's book may only escalate a tier before the next mark
            kinds: vec![
                gw::MarketEventKind::MarkPrice as i32,
                gw::MarketEventKind::BookTicker as i32,
            ],
        };
        let response = self.client.clone().stream_market(request).await?;
        Ok(Box::pin(response.into_inner()))
    }
}

/// Timing of the feed.
#[derive(Debug, Clone, Copy)]
pub struct FeedSettings {
    pub poll: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
}

/// Events closer together than this share one snapshot, read this long after the last one.
const MIN_REFRESH_GAP: Duration = Duration::from_millis(100);
/// An account event is read this long after it arrives, not at once: a perp fill's hedge
/// reaches the venue within milliseconds, so one snapshot then holds both legs, and its four
/// venue reads do not compete with that hedge for the gateway and the venue. Read at once, they
/// landed inside the unhedged window of the slowest tenth of the entries (`fff bench`
/// 2026-12-05). Prices move the tiers through the streamed marks, not through this read.
const EVENT_SETTLE: Duration = Duration::from_millis(20);

/// Follows the account forever; reports SERVING on `health` after the first snapshot.
pub async fn follow_account<S: AccountSource>(
    source: S,
    core: Arc<RiskCore>,
    health: HealthHandle,
    settings: FeedSettings,
) {
    let mut delay = settings.reconnect_initial;
    loop {
        let mut connected = false;
        let result = session(&source, &core, &health, settings, &mut connected).await;
        if connected {
            delay = settings.reconnect_initial;
        }
        let detail = match &result {
            Ok(()) => "account stream ended".to_owned(),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        fff_alerts::dependency_down(
            "gateway",
            &detail,
            "no fresh account data: margin tiers and drawdown are not updated",
        );
        match result {
            Ok(()) => tracing::warn!("gateway account stream ended, reconnecting"),
            Err(status) => tracing::warn!(
                code = ?status.code(),
                error = status.message(),
                retry_in_ms = delay.as_millis(),
                "gateway account feed failed"
            ),
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2).min(settings.reconnect_max);
    }
}

async fn session<S: AccountSource>(
    source: &S,
    core: &RiskCore,
    health: &HealthHandle,
    settings: FeedSettings,
    connected: &mut bool,
) -> Result<(), Status> {
    let mut events = source.account_events().await?;
    refresh(source, core, "connect", 0).await?;
    *connected = true;
    fff_alerts::dependency_up("gateway");
    if !health.is_serving().await {
        tracing::info!("gateway answered: risk is serving");
        health.set_serving().await;
    }
    let mut poll = tokio::time::interval(settings.poll);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_refresh = Instant::now();
    // the newest event not reflected yet and when the first of them came: read EVENT_SETTLE
    // after that, and MIN_REFRESH_GAP after the last read. The positions risk values must
    // follow the fills (a top-up missed until the next poll left the margin tier judged on the
    // smaller position, fff bench 2026-12-05).
    let mut owed: Option<(u64, Instant)> = None;
    loop {
        let due = owed.map(|(_, first)| (first + EVENT_SETTLE).max(last_refresh + MIN_REFRESH_GAP));
        let (trigger, after) = tokio::select! {
            _ = poll.tick() => ("poll", owed.map_or(0, |(sequence, _)| sequence)),
            () = sleep_until_due(due) => ("event", owed.map_or(0, |(sequence, _)| sequence)),
            event = events.next() => {
                let event = match event {
                    None => return Ok(()),
                    Some(event) => event?,
                };
                match event.event {
                    Some(Event::Resync(resync)) => {
                        tracing::warn!(reason = resync.reason, detail = %resync.detail, "account resync");
                        ("resync", event.sequence)
                    }
                    Some(
                        Event::BalanceUpdate(_)
                        | Event::PositionUpdate(_)
                        | Event::MarginCall(_)
                        | Event::Fill(_),
                    ) => {
                        owed = Some(match owed {
                            Some((sequence, first)) => (sequence.max(event.sequence), first),
                            None => (event.sequence, Instant::now()),
                        });
                        continue;
                    }
                    _ => continue,
                }
            }
        };
        refresh(source, core, trigger, after).await?;
        last_refresh = Instant::now();
        if owed.is_some_and(|(owed, _)| owed <= after) {
            owed = None;
        }
    }
}

/// Sleeps until `due`; never wakes when nothing is owed.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Reads one snapshot and applies it; a malformed snapshot is logged and skipped.
async fn refresh<S: AccountSource>(
    source: &S,
    core: &RiskCore,
    trigger: &'static str,
    after_sequence: u64,
) -> Result<(), Status> {
    let span = tracing::debug_span!(
        "risk.account",
        trigger,
        symbols = tracing::field::Empty,
        coverage = tracing::field::Empty,
        tier = tracing::field::Empty,
    );
    async {
        let account = source.get_account(after_sequence).await?;
        let now = Utc::now();
        let metrics = match metrics_from_account(&account, now) {
            Ok(metrics) => metrics,
            Err(error) => {
                tracing::error!(%error, "gateway account snapshot rejected");
                return Ok(());
            }
        };
        let span = tracing::Span::current();
        span.record("symbols", tracing::field::debug(&metrics.open_symbols));
        let basis = MarginBasis::from_account(&account, metrics);
        if let Err(error) = core.apply_snapshot(basis, now).await {
            // not stored, not issued: the next snapshot or mark decides again
            tracing::error!(%error, "account snapshot not applied");
        }
        let inner = core.lock();
        // the figures observed: the snapshot re-valued at any fresher marks
        if let Some(coverage) = inner.monitor.metrics().and_then(|m| m.futures_coverage) {
            span.record("coverage", tracing::field::display(coverage.round_dp(4)));
        }
        if let Some(tier) = inner.monitor.tier() {
            span.record("tier", tracing::field::debug(tier));
        }
        Ok(())
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use fff_core::params::{CapitalParams, RiskParams};
    use fff_proto::fff::common::v1 as common;
    use fff_proto::fff::risk::v1::DirectiveKind;
    use fff_runtime::grpc::GrpcServer;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;

    use super::*;
    use crate::account::tests::account;
    use crate::approvals::Approvals;
    use crate::directives::DirectiveLog;
    use crate::monitor::RiskMonitor;

    type EventSender = mpsc::Sender<Result<gw::StreamAccountResponse, Status>>;
    type MarkSender = mpsc::Sender<Result<gw::StreamMarketResponse, Status>>;
    /// Each mark subscription: its symbols and the sender feeding it.
    type MarkSubscriptions = mpsc::UnboundedReceiver<(Vec<String>, MarkSender)>;

    /// Serves `account` (changeable) and hands each subscription's sender to the test (mark
    /// subscriptions with their symbols).
    struct Fake {
        account: Mutex<gw::Account>,
        reads: AtomicUsize,
        /// `after_sequence` of the last read.
        asked: std::sync::atomic::AtomicU64,
        subscriptions: mpsc::UnboundedSender<EventSender>,
        mark_subscriptions: mpsc::UnboundedSender<(Vec<String>, MarkSender)>,
    }

    impl Fake {
        fn new(
            account: gw::Account,
        ) -> (
            Arc<Self>,
            mpsc::UnboundedReceiver<EventSender>,
            MarkSubscriptions,
        ) {
            let (subscriptions, subscribed) = mpsc::unbounded_channel();
            let (mark_subscriptions, marks_subscribed) = mpsc::unbounded_channel();
            let fake = Arc::new(Self {
                account: Mutex::new(account),
                reads: AtomicUsize::new(0),
                asked: std::sync::atomic::AtomicU64::new(0),
                subscriptions,
                mark_subscriptions,
            });
            (fake, subscribed, marks_subscribed)
        }
    }

    impl AccountSource for Arc<Fake> {
        async fn get_account(&self, after_sequence: u64) -> Result<gw::Account, Status> {
            self.asked.store(after_sequence, Ordering::SeqCst);
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.account.lock().unwrap().clone())
        }

        async fn account_events(&self) -> Result<EventStream, Status> {
            let (tx, rx) = mpsc::channel(8);
            self.subscriptions.send(tx).unwrap();
            Ok(Box::pin(ReceiverStream::new(rx)))
        }

        async fn mark_prices(&self, symbols: Vec<String>) -> Result<MarketStream, Status> {
            let (tx, rx) = mpsc::channel(8);
            self.mark_subscriptions.send((symbols, tx)).unwrap();
            Ok(Box::pin(ReceiverStream::new(rx)))
        }
    }

    fn event(event: Event) -> Result<gw::StreamAccountResponse, Status> {
        Ok(gw::StreamAccountResponse {
            event: Some(event),
            ..gw::StreamAccountResponse::default()
        })
    }

    fn memory_core() -> Arc<RiskCore> {
        Arc::new(RiskCore::new(
            RiskMonitor::new(
                RiskParams::default(),
                CapitalParams::default(),
                chrono::Duration::seconds(300),
            )
            .unwrap(),
            DirectiveLog::new(Utc::now(), 100),
            Approvals::new(chrono::Duration::seconds(60), chrono::Duration::seconds(10)),
        ))
    }

    const SETTINGS: FeedSettings = FeedSettings {
        // long poll: only events and reconnects read the account here
        poll: Duration::from_secs(3600),
        reconnect_initial: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(20),
    };

    #[tokio::test]
    async fn events_refresh_the_account_and_failures_reconnect() {
        let (fake, mut subscribed, _marks) = Fake::new(account("1000", "100", "0"));
        let now = Utc::now();
        let core = memory_core();
        let health = GrpcServer::new("risk", &Default::default()).health();
        let (_, mut directives) = core.lock().log.subscribe(0, now);
        let settings = SETTINGS;
        let task = tokio::spawn(follow_account(
            fake.clone(),
            core.clone(),
            health.clone(),
            settings,
        ));
        let events = subscribed.recv().await.unwrap();
        fff_wait(|| fake.reads.load(Ordering::SeqCst) >= 2).await;
        assert!(health.is_serving().await);
        assert_eq!(
            core.lock().monitor.tier(),
            Some(fff_core::MarginTier::Green)
        );

        // coverage 1000 / 400 = 2.5: Orange, seen on the next position event
        *fake.account.lock().unwrap() = account("1000", "400", "0");
        tokio::time::sleep(MIN_REFRESH_GAP).await;
        events
            .send(event(Event::PositionUpdate(gw::PositionUpdate::default())))
            .await
            .unwrap();
        let directive = directives.recv().await.unwrap();
        assert_eq!(directive.kind, DirectiveKind::EmergencyDeleverage);

        // a resync always re-reads
        let before = fake.reads.load(Ordering::SeqCst);
        events
            .send(event(Event::Resync(common::Resync::default())))
            .await
            .unwrap();
        fff_wait(|| fake.reads.load(Ordering::SeqCst) > before).await;

        // the stream fails: a new subscription follows
        events
            .send(Err(Status::unavailable("gateway restarting")))
            .await
            .unwrap();
        let _again = subscribed.recv().await.unwrap();
        task.abort();
    }

    /// An account event with its gateway sequence.
    fn sequenced(sequence: u64, event: Event) -> Result<gw::StreamAccountResponse, Status> {
        Ok(gw::StreamAccountResponse {
            sequence,
            event: Some(event),
            ..gw::StreamAccountResponse::default()
        })
    }

    /// A follower past its connect read and the poll's first tick (the poll is an hour: only
    /// events read after this), and at least one refresh gap later: its fake, the events'
    /// sender and the task.
    async fn quiet_follower() -> (Arc<Fake>, EventSender, tokio::task::JoinHandle<()>) {
        let (fake, mut subscribed, _marks) = Fake::new(account("1000", "100", "0"));
        let core = memory_core();
        let health = GrpcServer::new("risk", &Default::default()).health();
        let task = tokio::spawn(follow_account(fake.clone(), core, health, SETTINGS));
        let events = subscribed.recv().await.unwrap();
        fff_wait(|| fake.reads.load(Ordering::SeqCst) >= 2).await;
        tokio::time::sleep(MIN_REFRESH_GAP).await;
        (fake, events, task)
    }

    #[tokio::test]
    async fn an_event_inside_the_gap_is_read_after_it_asking_for_its_sequence() {
        let (fake, events, task) = quiet_follower().await;
        let position = |sequence| {
            sequenced(
                sequence,
                Event::PositionUpdate(gw::PositionUpdate::default()),
            )
        };
        // the first event is read EVENT_SETTLE later; the second, inside the gap, one gap
        // after that read (no poll here), and both reads ask the gateway for a snapshot that
        // includes their event
        events.send(position(5)).await.unwrap();
        fff_wait(|| fake.reads.load(Ordering::SeqCst) >= 3).await;
        assert_eq!(fake.asked.load(Ordering::SeqCst), 5);
        events.send(position(7)).await.unwrap();
        fff_wait(|| fake.reads.load(Ordering::SeqCst) >= 4).await;
        assert_eq!(fake.asked.load(Ordering::SeqCst), 7);
        task.abort();
    }

    #[tokio::test]
    async fn a_fill_and_its_hedge_a_moment_later_share_one_read() {
        let (fake, events, task) = quiet_follower().await;
        let fill = |sequence| sequenced(sequence, Event::Fill(gw::Fill::default()));
        let sent = Instant::now();
        // a perp's fill and its hedge's, a moment apart
        events.send(fill(11)).await.unwrap();
        events.send(fill(12)).await.unwrap();
        fff_wait(|| fake.reads.load(Ordering::SeqCst) >= 3).await;
        assert!(sent.elapsed() >= EVENT_SETTLE);
        assert_eq!(
            fake.asked.load(Ordering::SeqCst),
            12,
            "one read for both legs"
        );
        tokio::time::sleep(MIN_REFRESH_GAP * 2).await;
        assert_eq!(fake.reads.load(Ordering::SeqCst), 3, "no second read");
        task.abort();
    }

    fn mark(symbol: &str, price: &str, snapshot: bool) -> Result<gw::StreamMarketResponse, Status> {
        Ok(gw::StreamMarketResponse {
            symbol: symbol.into(),
            snapshot,
            event: Some(gw::stream_market_response::Event::MarkPrice(
                gw::MarkPriceUpdate {
                    mark_price: price.into(),
                    index_price: price.into(),
                    ..gw::MarkPriceUpdate::default()
                },
            )),
            ..gw::StreamMarketResponse::default()
        })
    }

    /// The next directive, which must come within `within` of the call.
    async fn directive_within(
        directives: &mut tokio::sync::broadcast::Receiver<crate::directives::Directive>,
        within: Duration,
    ) -> crate::directives::Directive {
        tokio::time::timeout(within, directives.recv())
            .await
            .expect("no directive in time")
            .expect("directive log closed")
    }

    /// A core following a fake account (short 1.5 BTC at 100 000, balance 1 000, maintenance
    /// 100: coverage 10, Green) and its marks, once the opening reads are done: its directive
    /// receiver, the account events and mark senders, and the two tasks.
    struct MarkRig {
        fake: Arc<Fake>,
        core: Arc<RiskCore>,
        directives: tokio::sync::broadcast::Receiver<crate::directives::Directive>,
        events: EventSender,
        marks: MarkSubscriptions,
        symbols: Vec<String>,
        prices: MarkSender,
        feed: tokio::task::JoinHandle<()>,
        follower: tokio::task::JoinHandle<()>,
    }

    async fn mark_rig() -> MarkRig {
        let (fake, mut subscribed, mut marks) = Fake::new(account("1000", "100", "0"));
        let core = memory_core();
        let health = GrpcServer::new("risk", &Default::default()).health();
        let (_, directives) = core.lock().log.subscribe(0, Utc::now());
        let feed = tokio::spawn(follow_account(fake.clone(), core.clone(), health, SETTINGS));
        let follower = tokio::spawn(crate::marks::follow_marks(
            fake.clone(),
            core.clone(),
            SETTINGS,
        ));
        let events = subscribed.recv().await.unwrap();
        let (symbols, prices) = marks.recv().await.unwrap();
        // the connect read and the poll's immediate first tick; then no more reads
        fff_wait(|| fake.reads.load(Ordering::SeqCst) >= 2).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            core.lock().monitor.tier(),
            Some(fff_core::MarginTier::Green)
        );
        MarkRig {
            fake,
            core,
            directives,
            events,
            marks,
            symbols,
            prices,
            feed,
            follower,
        }
    }

    #[tokio::test]
    async fn a_mark_update_alone_crosses_the_tiers_at_once() {
        let MarkRig {
            fake,
            core,
            mut directives,
            events,
            mut marks,
            symbols,
            prices,
            feed,
            follower,
        } = mark_rig().await;
        assert_eq!(symbols, ["BTCUSDT"]);
        let reads = fake.reads.load(Ordering::SeqCst);

        // the subscription's opening snapshot is of unknown age: it moves nothing
        prices.send(mark("BTCUSDT", "100600", true)).await.unwrap();
        // +500: balance 250, maintenance 100.5, coverage 2.49: Orange
        prices.send(mark("BTCUSDT", "100500", false)).await.unwrap();
        let sent = std::time::Instant::now();
        let deleverage = directive_within(&mut directives, Duration::from_secs(2)).await;
        eprintln!("mark -> EMERGENCY_DELEVERAGE in {:?}", sent.elapsed());
        assert_eq!(deleverage.kind, DirectiveKind::EmergencyDeleverage);
        assert_eq!(deleverage.tier, fff_core::MarginTier::Orange);
        assert!(
            deleverage.reason.contains("coverage 2.4876"),
            "{}",
            deleverage.reason
        );
        // +600: balance 100, maintenance 100.6, coverage 0.99: Red
        prices.send(mark("BTCUSDT", "100600", false)).await.unwrap();
        let close_all = directive_within(&mut directives, Duration::from_secs(2)).await;
        assert_eq!(close_all.kind, DirectiveKind::CloseAll);
        assert_eq!(close_all.tier, fff_core::MarginTier::Red);
        // no snapshot was read for either
        assert_eq!(fake.reads.load(Ordering::SeqCst), reads);
        let state = core.lock().monitor.metrics().cloned().unwrap();
        assert!(
            state.marks_as_of.is_some_and(|at| at >= state.as_of),
            "{state:?}"
        );

        // a new snapshot is the truth: 900 USDT moved in, an ETH long opened (at the venue's
        // marks): coverage about 9.6, Green again; the ETH mark is followed too
        let mut topped_up = account("1000", "104", "0");
        topped_up.positions[0].mark_price = "100600".into();
        topped_up.positions.push(gw::PerpPosition {
            symbol: "ETHUSDT".into(),
            position_amt: "1".into(),
            mark_price: "3000".into(),
            ..gw::PerpPosition::default()
        });
        *fake.account.lock().unwrap() = topped_up;
        tokio::time::sleep(MIN_REFRESH_GAP).await;
        events
            .send(event(Event::PositionUpdate(gw::PositionUpdate::default())))
            .await
            .unwrap();
        // Green again; entries stay halted for the close-all's cool-down (no RESUME yet)
        fff_wait(|| core.lock().monitor.tier() == Some(fff_core::MarginTier::Green)).await;
        assert!(core.lock().monitor.view(Utc::now()).entries_halted);
        assert!(directives.try_recv().is_err());
        let (symbols, _prices) = marks.recv().await.unwrap();
        assert_eq!(symbols, ["BTCUSDT", "ETHUSDT"]);
        let state = core.lock().monitor.metrics().cloned().unwrap();
        assert_eq!(state.marks_as_of, None);
        feed.abort();
        follower.abort();
    }

    fn book(symbol: &str, bid: &str, ask: &str) -> Result<gw::StreamMarketResponse, Status> {
        Ok(gw::StreamMarketResponse {
            symbol: symbol.into(),
            event: Some(gw::stream_market_response::Event::BookTicker(
                gw::BookTicker {
                    venue: common::Venue::UsdmPerp as i32,
                    bid_price: bid.into(),
                    ask_price: ask.into(),
                    ..gw::BookTicker::default()
                },
            )),
            ..gw::StreamMarketResponse::default()
        })
    }

    #[tokio::test]
    async fn the_perp_book_escalates_a_tier_before_the_mark_and_never_relaxes_one() {
        let MarkRig {
            core,
            mut directives,
            prices,
            feed,
            follower,
            ..
        } = mark_rig().await;

        // a book within Green moves nothing (the figures stay the snapshot's)
        prices
            .send(book("BTCUSDT", "100100", "100110"))
            .await
            .unwrap();
        // the book's mid at +500 (coverage 2.49, Orange): the directive before any mark
        prices
            .send(book("BTCUSDT", "100499", "100501"))
            .await
            .unwrap();
        let deleverage = directive_within(&mut directives, Duration::from_secs(2)).await;
        assert_eq!(deleverage.kind, DirectiveKind::EmergencyDeleverage);
        assert_eq!(deleverage.tier, fff_core::MarginTier::Orange);
        // the book back at the snapshot's price does not relax the tier; the mark does
        prices
            .send(book("BTCUSDT", "99999", "100001"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            core.lock().monitor.tier(),
            Some(fff_core::MarginTier::Orange)
        );
        prices.send(mark("BTCUSDT", "100000", false)).await.unwrap();
        fff_wait(|| core.lock().monitor.tier() == Some(fff_core::MarginTier::Green)).await;
        // a crossed or empty book is no price
        prices.send(book("BTCUSDT", "0", "0")).await.unwrap();
        prices
            .send(book("BTCUSDT", "100600", "100500"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            core.lock().monitor.tier(),
            Some(fff_core::MarginTier::Green)
        );
        feed.abort();
        follower.abort();
    }

    async fn fff_wait(done: impl Fn() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not met within 5 s");
    }
}

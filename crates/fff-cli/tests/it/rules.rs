//! The strategy's rules across processes: the whole suite (`fff up`: simulator, PostgreSQL, the
//! five roles) with the shipped configuration, driven through the simulator's admin knobs and
//! checked at the venue (its order records and positions), at the roles' gRPC APIs and in
//! `fff status --json`.
//!
//! One suite shows, one after the other on the hedges the strategy opened on its own: a manual
//! open beyond `capital.max_symbol_notional_usdt` is refused with nothing sent (the only key set
//! here, to a level the allocator never reaches), a normal close posts maker orders and falls
//! back on taker orders after `execution.exit_limit_timeout_ms`, a funding reversal lasting one
//! settlement is held through, a basis break closes at once, and a Red tier closes every hedge
//! in fff-core's exit order (with the venue's wallet transfers suspended for the shock, so the
//! wallet keeper cannot lift the coverage out of Red first). A second suite, whose paper account also holds an
//! unhedged ORCA balance, shows the drawdown limit closing every hedge in that exit order.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fff_core::priority::{ExitCandidate, exit_order};
use fff_core::rates::{borrow_rate_for_period, normalize_funding_rate};
use fff_core::{Direction, FundingInterval};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1::{self as ex, executor_client::ExecutorClient};
use fff_proto::fff::gateway::v1::{self as gw, gateway_client::GatewayClient};
use fff_proto::fff::rebalancer::v1::{self as rb, rebalancer_client::RebalancerClient};
use fff_proto::fff::risk::v1::{self as risk, DirectiveKind, risk_client::RiskClient};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::up::{Suite, start_suite_with};

/// Simulated ms per wall ms: an hourly funding settles every 10 s.
const ACCELERATE: &str = "360";
/// `execution.exit_limit_timeout_ms` at its default.
const EXIT_LIMIT_TIMEOUT_MS: i64 = 5_000;
/// The per-symbol limit of the first suite: above anything the allocator sizes (30 % of about
/// 300k of equity is about 73k per leg), so only the manual open meets it.
const SYMBOL_LIMIT: &str = "100000";

/// The market of the first suite: funding settles at the rates the test sets (no noise on the
/// running estimate: an hourly symbol's wander is the size of a one-settlement reversal), and
/// book tickers are pushed every 100 ms rather than every second (Binance pushes them in real
/// time; a second is six simulated minutes at this speed, so a post-only order priced from it
/// can cross a book that has moved since).
pub(crate) const RULES_SIM: &str = r#"
[market]
funding_noise = "0"
stream_ms = 100
"#;

/// The roles of a running suite, reached over gRPC.
pub(crate) struct Rig {
    pub(crate) suite: Suite,
    http: reqwest::Client,
    token: String,
    executor: ExecutorClient<Channel>,
    risk: RiskClient<Channel>,
    gateway: GatewayClient<Channel>,
    rebalancer: RebalancerClient<Channel>,
}

impl Drop for Rig {
    // the suite's directory goes with it: keep the roles' logs of a failed run
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let logs = self.suite.dir.path().join(".fff/logs");
        let kept = std::env::temp_dir().join(format!(
            "fff-rules-logs-{}-{}",
            std::process::id(),
            self.suite.executor.rsplit(':').next().unwrap_or_default()
        ));
        if std::fs::create_dir_all(&kept).is_ok() {
            for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
                let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
            }
            eprintln!("logs of the failed run kept in {}", kept.display());
        }
        // CI keeps only the output, not the machine: the roles' last warnings go with it
        for role in ["executor", "risk"] {
            let log = self.suite.log(role);
            let warnings: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
                .collect();
            for line in &warnings[warnings.len().saturating_sub(8)..] {
                eprintln!("{role}: {}", line.chars().take(240).collect::<String>());
            }
        }
    }
}

/// Starts `fff up` and waits until every role answers and the strategy holds `min_open`
/// OPEN hedges.
pub(crate) async fn rig(env: &[(&str, &str)], sim_config: Option<&str>, min_open: usize) -> Rig {
    // reqwest is built without a default TLS provider (plain HTTP here, but the client asks)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut suite = start_suite_with(ACCELERATE, env, sim_config);
    let started = Instant::now();
    let (gateway, rebalancer) = loop {
        assert!(
            suite.up.child.try_wait().unwrap().is_none(),
            "fff up exited early; logs in {}",
            suite.dir.path().join(".fff/logs").display()
        );
        if let (Some(gateway), Some(rebalancer)) = (
            role_addr(&suite, "gateway"),
            role_addr(&suite, "rebalancer"),
        ) {
            break (gateway, rebalancer);
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "roles not started"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let token_file = suite.dir.path().join(".fff/auth-token");
    let mut rig = Rig {
        http: reqwest::Client::new(),
        token: String::new(),
        executor: ExecutorClient::new(connect(&suite.executor).await),
        risk: RiskClient::new(connect(&suite.risk).await),
        gateway: GatewayClient::new(connect(&format!("http://{gateway}")).await),
        rebalancer: RebalancerClient::new(connect(&format!("http://{rebalancer}")).await),
        suite,
    };
    rig.token = std::fs::read_to_string(token_file)
        .expect("fff up writes the auth token")
        .trim()
        .to_owned();
    rig.wait_open(min_open, Duration::from_secs(180)).await;
    rig
}

/// A channel to `url`, retried while the role starts.
async fn connect(url: &str) -> Channel {
    let endpoint = Channel::from_shared(url.to_owned()).expect("valid uri");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match endpoint.connect().await {
            Ok(channel) => return channel,
            Err(error) => assert!(Instant::now() < deadline, "{url}: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `--listen` address of the suite's `fff <role>` child (found by its working directory).
fn role_addr(suite: &Suite, role: &str) -> Option<SocketAddr> {
    let root = suite.dir.path().canonicalize().ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if !cwd.starts_with(&root) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).map(String::as_str) != Some(role) {
            continue;
        }
        let listen = args.iter().position(|a| a == "--listen")?;
        return args.get(listen + 1)?.parse().ok();
    }
    None
}

pub(crate) fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

pub(crate) fn parse(value: &str) -> Decimal {
    value.parse().unwrap_or_default()
}

/// A venue order record (`/admin/state`).
#[derive(Debug, Clone)]
struct VenueOrder {
    id: i64,
    symbol: String,
    perp: bool,
    side: String,
    kind: String,
    tif: String,
    orig_qty: Decimal,
    executed_qty: Decimal,
    time: i64,
}

impl VenueOrder {
    fn from_record(record: &Value) -> Self {
        Self {
            id: record["orderId"].as_i64().unwrap_or_default(),
            symbol: record["symbol"].as_str().unwrap_or_default().to_owned(),
            perp: record["venue"] == "Futures",
            side: record["side"].as_str().unwrap_or_default().to_owned(),
            kind: record["type"].as_str().unwrap_or_default().to_owned(),
            tif: record["timeInForce"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            orig_qty: dec(&record["origQty"]),
            executed_qty: dec(&record["executedQty"]),
            time: record["time"].as_i64().unwrap_or_default(),
        }
    }

    fn is_maker(&self) -> bool {
        self.kind == "LIMIT_MAKER" || self.tif == "GTX"
    }

    fn is_taker(&self) -> bool {
        self.kind == "MARKET" || self.tif == "IOC"
    }
}

/// `orders` that reduce `position`'s legs: for positive carry spot sells and perp buys.
fn exit_orders(orders: &[VenueOrder], position: &ex::Position) -> Vec<VenueOrder> {
    let positive = direction(position) == Direction::PositiveCarry;
    orders
        .iter()
        .filter(|o| {
            o.symbol == position.symbol
                && if o.perp {
                    (o.side == "BUY") == positive
                } else {
                    (o.side == "SELL") == positive
                }
        })
        .cloned()
        .collect()
}

impl Rig {
    fn authed<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let value = MetadataValue::try_from(format!("Bearer {}", self.token)).unwrap();
        request.metadata_mut().insert("authorization", value);
        request
    }

    async fn admin_get(&self, path: &str) -> Value {
        let url = format!("{}/admin/{path}", self.suite.sim);
        match self.http.get(&url).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    pub(crate) async fn admin_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/admin/{path}", self.suite.sim);
        let response = self.http.post(&url).json(&body).send().await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path} {body}: {status} {answer}");
        answer
    }

    pub(crate) async fn sim_state(&self) -> Value {
        self.admin_get("state?account=fff-paper-key").await
    }

    /// Venue orders with id >= `since`.
    async fn orders_since(&self, since: i64) -> Vec<VenueOrder> {
        self.sim_state().await["orders"]
            .as_array()
            .into_iter()
            .flatten()
            .map(VenueOrder::from_record)
            .filter(|o| o.id >= since)
            .collect()
    }

    /// The next venue order id (a watermark for "orders sent from now on").
    async fn next_order_id(&self) -> i64 {
        self.orders_since(0)
            .await
            .iter()
            .map(|o| o.id + 1)
            .max()
            .unwrap_or(0)
    }

    /// (signed perp amount, cross-margin net base amount) of `symbol` at the venue.
    pub(crate) async fn venue_legs(&self, symbol: &str, base: &str) -> (Decimal, Decimal) {
        let state = self.sim_state().await;
        let perp = state["positions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["symbol"] == symbol)
            .map_or(Decimal::ZERO, |p| dec(&p["positionAmt"]));
        let margin = &state["margin"][base];
        let spot = dec(&margin["free"]) + dec(&margin["locked"])
            - dec(&margin["borrowed"])
            - dec(&margin["interest"]);
        (perp, spot)
    }

    /// Both legs flat at the venue: no perp position, and what is left of the base asset in
    /// cross margin (fee dust, rounding) worth less than 10 USDT either way.
    async fn flat_at_venue(&self, symbol: &str) -> bool {
        let base = symbol.trim_end_matches("USDT");
        let (perp, spot) = self.venue_legs(symbol, base).await;
        let state = self.sim_state().await;
        let price = dec(&state["markets"][symbol]["indexPrice"]);
        perp.is_zero() && (spot * price).abs() < Decimal::from(10)
    }

    pub(crate) async fn live_positions(&self) -> Vec<ex::Position> {
        self.executor
            .clone()
            .list_positions(ex::ListPositionsRequest::default())
            .await
            .map(|r| r.into_inner().positions)
            .unwrap_or_default()
    }

    pub(crate) async fn closed_positions(&self) -> Vec<ex::Position> {
        self.executor
            .clone()
            .list_positions(ex::ListPositionsRequest {
                statuses: vec![ex::PositionStatus::Closed as i32],
                ..ex::ListPositionsRequest::default()
            })
            .await
            .map(|r| r.into_inner().positions)
            .unwrap_or_default()
    }

    pub(crate) async fn open_positions(&self) -> Vec<ex::Position> {
        self.live_positions()
            .await
            .into_iter()
            .filter(|p| p.status() == ex::PositionStatus::Open)
            .collect()
    }

    async fn wait_open(&self, min_open: usize, within: Duration) -> Vec<ex::Position> {
        let started = Instant::now();
        loop {
            let open = self.open_positions().await;
            if open.len() >= min_open {
                return open;
            }
            assert!(
                started.elapsed() < within,
                "fewer than {min_open} OPEN hedges after {within:?}: {:#}",
                self.suite.status().unwrap_or(Value::Null)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The smallest OPEN hedge holding at least `floor` USDT per leg whose spot leg the
    /// gateway's account view already shows (an exit plans its spot side from that view).
    async fn wait_held(&self, floor: i64) -> ex::Position {
        let started = Instant::now();
        loop {
            if let Some(position) = smallest_held(&self.open_positions().await, floor)
                && self.spot_leg_in_account(&position).await
            {
                return position;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no OPEN hedge holding {floor} USDT: {:#}",
                self.suite.status().unwrap_or(Value::Null)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// `position`'s legs last changed long enough ago that the gateway's account snapshot
    /// (`exchange.account_max_age_ms`, 3 s) shows them: an exit plans its spot side from it.
    async fn spot_leg_in_account(&self, position: &ex::Position) -> bool {
        let changed = position.updated_at.as_ref().or(position.opened_at.as_ref());
        let Some(changed) = changed else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let secs = u64::try_from(changed.seconds).unwrap_or(u64::MAX);
        now.saturating_sub(secs) >= 5
    }

    async fn position(&self, id: &str) -> Option<ex::Position> {
        self.executor
            .clone()
            .get_position(ex::GetPositionRequest {
                key: Some(ex::get_position_request::Key::PositionId(id.to_owned())),
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().position)
    }

    async fn instrument(&self, symbol: &str) -> gw::Instrument {
        self.gateway
            .clone()
            .get_universe(gw::GetUniverseRequest {
                symbols: vec![symbol.to_owned()],
                ..gw::GetUniverseRequest::default()
            })
            .await
            .unwrap()
            .into_inner()
            .instruments
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{symbol} not in the universe"))
    }

    /// The venue's income records of `kind`, as the gateway lists them (one page: a suite's
    /// history is short).
    pub(crate) async fn venue_income(&self, kind: gw::IncomeKind) -> Vec<gw::IncomeRecord> {
        self.gateway
            .clone()
            .list_income(gw::ListIncomeRequest {
                kinds: vec![kind as i32],
                page_size: 1000,
                ..gw::ListIncomeRequest::default()
            })
            .await
            .map(|r| r.into_inner().records)
            .unwrap_or_default()
    }

    /// The rebalancer's review of `symbol` in a manual run.
    pub(crate) async fn review(&self, symbol: &str) -> Option<rb::PositionReview> {
        let run = self
            .rebalancer
            .clone()
            .trigger_now(self.authed(rb::TriggerNowRequest {
                reason: "rules test".into(),
                dry_run: false,
                symbols: vec![symbol.to_owned()],
            }))
            .await
            .ok()?
            .into_inner()
            .run?;
        run.reviews.into_iter().find(|r| r.symbol == symbol)
    }

    /// Waits until `position` is CLOSED and both of its legs are flat at the venue, while
    /// `keep` runs every round (e.g. re-posting a price knob). The strategy may enter the symbol
    /// again at once, so "flat" is also read from the venue's records: the orders that reduce
    /// the legs since `since` executed all of both legs.
    async fn wait_closed_flat(
        &self,
        position: &ex::Position,
        since: i64,
        what: &str,
        keep: impl AsyncKeep,
    ) {
        let started = Instant::now();
        loop {
            keep.run(self).await;
            let closed = self
                .position(&position.position_id)
                .await
                .is_some_and(|p| p.status() == ex::PositionStatus::Closed);
            if closed
                && (self.flat_at_venue(&position.symbol).await
                    || self.exits_cover(position, since).await)
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{what}: {} not closed and flat; position {:?}, venue legs {:?}, logs in {}",
                position.symbol,
                self.position(&position.position_id).await,
                self.venue_legs(&position.symbol, position.symbol.trim_end_matches("USDT"))
                    .await,
                self.suite.dir.path().join(".fff/logs").display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The venue executed orders since `since` that take both legs of `position` out (the
    /// spot leg up to 1 % of fee dust).
    async fn exits_cover(&self, position: &ex::Position, since: i64) -> bool {
        let leg =
            |leg: Option<&ex::Leg>| parse(&leg.map(|l| l.quantity.clone()).unwrap_or_default());
        let (spot, perp) = (
            leg(position.spot_leg.as_ref()),
            leg(position.perp_leg.as_ref()),
        );
        let exits = exit_orders(&self.orders_since(since).await, position);
        let executed = |on_perp: bool| -> Decimal {
            exits
                .iter()
                .filter(|o| o.perp == on_perp)
                .map(|o| o.executed_qty)
                .sum()
        };
        executed(true) >= perp && executed(false) >= spot * Decimal::new(99, 2)
    }

    /// Directives risk issued (newest first).
    async fn directives(&self) -> Vec<risk::Directive> {
        self.risk
            .clone()
            .list_directives(risk::ListDirectivesRequest::default())
            .await
            .map(|r| r.into_inner().directives)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| d.directive)
            .collect()
    }

    async fn risk_state(&self) -> Option<risk::GetRiskStateResponse> {
        self.risk
            .clone()
            .get_risk_state(risk::GetRiskStateRequest {})
            .await
            .ok()
            .map(tonic::Response::into_inner)
    }

    async fn wait_directive(
        &self,
        kind: DirectiveKind,
        what: &str,
        within: Duration,
    ) -> risk::Directive {
        let started = Instant::now();
        loop {
            if let Some(found) = self
                .directives()
                .await
                .into_iter()
                .find(|d| d.kind() == kind)
            {
                return found;
            }
            assert!(
                started.elapsed() < within,
                "{what}: no {kind:?} directive; directives {:?}, status {:#}",
                self.directives().await,
                self.suite.status().unwrap_or(Value::Null)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Something a wait loop does every round.
trait AsyncKeep {
    async fn run(&self, rig: &Rig);
}

struct Nothing;

impl AsyncKeep for Nothing {
    async fn run(&self, _: &Rig) {}
}

/// Raises the perp's premium over the index by `step` % per second from `from` %: a mark that
/// only rises keeps post-only orders priced off a slightly older mark passive on both books
/// (spot sells above the index, perp buys below the mark), for positive carry; the signs
/// mirror for negative carry.
struct RampBasis<'a> {
    symbol: &'a str,
    from: Decimal,
    step: Decimal,
    since: Instant,
}

impl AsyncKeep for RampBasis<'_> {
    async fn run(&self, rig: &Rig) {
        let secs = Decimal::from(self.since.elapsed().as_millis()) / Decimal::from(1000);
        let pct = (self.from + self.step * secs).clamp(Decimal::new(-45, 2), Decimal::new(45, 2));
        rig.admin_post(
            "basis",
            json!({"symbol": self.symbol, "pct": pct.round_dp(6).to_string()}),
        )
        .await;
    }
}

/// Holds the perp `pct` % away from the index (the basis reverts as the clock runs).
struct HoldBasis<'a> {
    symbol: &'a str,
    pct: Decimal,
}

impl AsyncKeep for HoldBasis<'_> {
    async fn run(&self, rig: &Rig) {
        rig.admin_post(
            "basis",
            json!({"symbol": self.symbol, "pct": self.pct.to_string()}),
        )
        .await;
    }
}

/// Per-leg notional the perp leg holds (an entry the slippage guard paused holds less than
/// its target).
fn held_notional(position: &ex::Position) -> Decimal {
    position
        .perp_leg
        .as_ref()
        .map_or(Decimal::ZERO, |leg| parse(&leg.notional).abs())
}

/// The hedge holding the least above `floor` USDT per leg (below the TWAP threshold if any
/// does: one staged slice).
fn smallest_held(open: &[ex::Position], floor: i64) -> Option<ex::Position> {
    open.iter()
        .filter(|p| held_notional(p) >= Decimal::from(floor))
        .min_by_key(|p| held_notional(p))
        .cloned()
}

fn direction(position: &ex::Position) -> Direction {
    match position.direction() {
        common::Direction::NegativeCarry => Direction::NegativeCarry,
        _ => Direction::PositiveCarry,
    }
}

fn interval_hours(instrument: &gw::Instrument) -> u32 {
    instrument.funding_interval_hours.max(1)
}

// ------------------------------------------------------------------------------ the rules

#[tokio::test]
async fn rules_limit_staged_exit_reversal_basis_and_red_tier_exit_order() {
    let rig = rig(
        &[("FFF_CAPITAL__MAX_SYMBOL_NOTIONAL_USDT", SYMBOL_LIMIT)],
        Some(RULES_SIM),
        2,
    )
    .await;
    manual_open_beyond_the_symbol_limit_is_refused(&rig).await;
    // rules the product breaks at the defaults are reported after the others ran
    let mut broken = Vec::new();
    if let Err(violation) = a_normal_close_posts_maker_orders_then_falls_back_on_timeout(&rig).await
    {
        eprintln!("rule broken: {violation}");
        broken.push(violation);
    }
    if let Err(violation) = a_reversal_lasting_one_settlement_is_held_through(&rig).await {
        eprintln!("rule broken: {violation}");
        broken.push(violation);
    }
    if let Some(orders) = a_basis_break_closes_the_hedge_at_once(&rig).await {
        eprintln!("rule broken: a CRITICAL basis exit rested maker orders");
        broken.push(format!(
            "a CRITICAL basis exit rested maker orders instead of closing at once: {orders}"
        ));
    }
    a_red_tier_closes_every_hedge_in_exit_order(&rig).await;
    assert!(broken.is_empty(), "{}", broken.join("\n\n"));
}

/// Rule 6: `OpenPosition` beyond `capital.max_symbol_notional_usdt` fails with
/// FAILED_PRECONDITION naming the key, and the venue sees no order for the symbol.
async fn manual_open_beyond_the_symbol_limit_is_refused(rig: &Rig) {
    // LSKUSDT is the simulator's low-volume listing: the strategy never trades it
    let symbol = "LSKUSDT";
    let before = rig.next_order_id().await;
    let limit = parse(SYMBOL_LIMIT);
    let notional = limit * Decimal::from(3) / Decimal::from(2);
    let started = Instant::now();
    let refused = loop {
        let request = rig.authed(ex::OpenPositionRequest {
            request_id: format!("rules-limit-{}", started.elapsed().as_millis()),
            symbol: symbol.into(),
            direction: common::Direction::PositiveCarry as i32,
            notional: notional.to_string(),
            leverage: None,
            reason: "beyond the per-symbol limit".into(),
        });
        match rig.executor.clone().open_position(request).await {
            Ok(opened) => panic!("open beyond the limit accepted: {opened:?}"),
            Err(status) if status.message().contains("max_symbol_notional_usdt") => break status,
            // entries wait for the start-up reconciliation and risk
            Err(status) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "refused for another reason: {status:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        matches!(
            refused.code(),
            tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument
        ),
        "{refused:?}"
    );
    let message = refused.message();
    assert!(
        message.contains("capital.max_symbol_notional_usdt") && message.contains(SYMBOL_LIMIT),
        "the refusal names the limit: {message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    // nothing reached the venue: no order on the symbol, no position for it
    let sent: Vec<_> = rig
        .orders_since(before)
        .await
        .into_iter()
        .filter(|o| o.symbol == symbol)
        .collect();
    assert!(sent.is_empty(), "orders sent despite the refusal: {sent:?}");
    assert!(
        rig.live_positions()
            .await
            .iter()
            .all(|p| p.symbol != symbol),
        "a position was created"
    );
}

/// Rule 5: an operator's normal close is a staged exit: LIMIT_MAKER (spot) and GTX (perp)
/// first; a maker order that has not filled after `exit_limit_timeout_ms` is followed by IOC or
/// MARKET orders that complete the exit. The prices are held away from the resting orders
/// (index and basis) so they cannot fill and the fallback is certain.
async fn a_normal_close_posts_maker_orders_then_falls_back_on_timeout(
    rig: &Rig,
) -> Result<(), String> {
    let position = rig.wait_held(5_000).await;
    let symbol = position.symbol.clone();
    // each post-only order is priced from its own leg's book (the gateway's; its spot book is
    // polled, so a refused order is re-priced from a fresh one). The basis is first set to
    // 0.1 % the way the funding leans (a positive rate: perp above the index) and then raised
    // slowly (below the 0.5 % basis exit); the test needed that while the prices came from the
    // perp's mark on both legs, and keeps it: a basis that agrees with the funding is ordinary
    let sign = match direction(&position) {
        Direction::PositiveCarry => Decimal::ONE,
        Direction::NegativeCarry => Decimal::NEGATIVE_ONE,
    };
    let lean = Decimal::new(1, 1) * sign;
    let leaning = RampBasis {
        symbol: &symbol,
        from: lean,
        step: Decimal::new(3, 2) * sign,
        since: Instant::now(),
    };
    // until the gateway's mark (what the executor prices from) shows it
    let started = Instant::now();
    loop {
        leaning.run(rig).await;
        let instrument = rig.instrument(&symbol).await;
        let index = parse(&instrument.index_price);
        if index > Decimal::ZERO {
            let basis =
                (parse(&instrument.mark_price) / index - Decimal::ONE) * Decimal::ONE_HUNDRED;
            if (basis / lean) >= Decimal::new(5, 1) {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the gateway never showed the basis: {instrument:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let before = rig.next_order_id().await;
    rig.executor
        .clone()
        .close_position(rig.authed(ex::ClosePositionRequest {
            request_id: format!("rules-close-{}", position.position_id),
            key: Some(ex::close_position_request::Key::PositionId(
                position.position_id.clone(),
            )),
            urgency: ex::CloseUrgency::Normal as i32,
            reason: "rules test: staged exit".into(),
        }))
        .await
        .unwrap();
    // the first exit orders rest as makers on both legs
    let started = Instant::now();
    let (spot_maker, perp_maker) = loop {
        leaning.run(rig).await;
        let orders = exit_orders(&rig.orders_since(before).await, &position);
        let spot = orders.iter().find(|o| !o.perp).cloned();
        let perp = orders.iter().find(|o| o.perp).cloned();
        if let (Some(spot), Some(perp)) = (spot, perp) {
            break (spot, perp);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit orders for {symbol}: {orders:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if spot_maker.kind != "LIMIT_MAKER" || perp_maker.tif != "GTX" {
        // A post-only order the venue refused (it would have crossed a book that moved since
        // the gateway saw it) leaves no record at the venue; the executor logs each re-price
        // of one. At this speed a second-old spot book is six simulated minutes old, so all
        // of them can be refused before the taker fallback: that still is maker first.
        rig.wait_closed_flat(&position, before, "staged exit", Nothing)
            .await;
        let log = rig.suite.log("executor");
        let refused_on = |venue: &str| {
            log.lines().any(|line| {
                line.contains("post-only order refused at once")
                    && line.contains(&format!("\"symbol\":\"{symbol}\""))
                    && line.contains(&format!("\"venue\":\"{venue}\""))
            })
        };
        let spot_ok = spot_maker.kind == "LIMIT_MAKER" || refused_on("SpotMargin");
        let perp_ok = perp_maker.tif == "GTX" || refused_on("UsdmPerp");
        if spot_ok && perp_ok {
            eprintln!(
                "staged exit: post-only orders refused by the venue, then taken (spot \
                 {spot_maker:?}, perp {perp_maker:?}); timeout not measured"
            );
            return Ok(());
        }
        return Err(format!(
            "a normal close did not post maker orders on both legs first: spot {spot_maker:?}, \
             perp {perp_maker:?}"
        ));
    }
    // keep both resting orders out of the market: the index (spot book) 2 % away from the
    // spot order, the mark 2 % away from the perp order. The basis goes first, sized for the
    // index move that follows, so the mark never passes the perp order on the way.
    let markets = &rig.sim_state().await["markets"][&symbol];
    let (index, mark) = (dec(&markets["indexPrice"]), dec(&markets["markPrice"]));
    let away = Decimal::new(2, 2);
    let index_move = if spot_maker.side == "SELL" {
        -away
    } else {
        away
    };
    let mark_move = if perp_maker.side == "BUY" {
        away
    } else {
        -away
    };
    let basis = ((Decimal::ONE + mark_move) / (Decimal::ONE + index_move) * mark / index
        - Decimal::ONE)
        * Decimal::ONE_HUNDRED;
    let hold = HoldBasis {
        symbol: &symbol,
        pct: basis.round_dp(6),
    };
    hold.run(rig).await;
    rig.admin_post(
        "shock",
        json!({"symbol": symbol, "pct": (index_move * Decimal::ONE_HUNDRED).to_string()}),
    )
    .await;
    rig.wait_closed_flat(&position, before, "staged exit", hold)
        .await;

    // the strategy may enter the symbol again: only the orders that reduce the legs
    let orders = exit_orders(&rig.orders_since(before).await, &position);
    // no taker order before the first maker order of its leg
    for taker in orders.iter().filter(|o| o.is_taker()) {
        let first_maker = orders.iter().find(|o| o.perp == taker.perp && o.is_maker());
        assert!(
            first_maker.is_some_and(|m| m.id < taker.id),
            "taker before maker: {orders:#?}"
        );
    }
    // every maker order that did not fill is completed by a later IOC/MARKET order on its leg
    let taker_after = |maker: &VenueOrder| {
        orders
            .iter()
            .find(|o| o.perp == maker.perp && o.id > maker.id && o.is_taker())
            .cloned()
    };
    for maker in orders.iter().filter(|o| o.is_maker()) {
        assert!(
            maker.executed_qty >= maker.orig_qty || taker_after(maker).is_some(),
            "maker {maker:?} left unfilled without a taker fallback: {orders:#?}"
        );
    }
    // the first slice rested on both legs until the timeout (the prices were held away; a leg
    // that fills completely lets the other follow at once, so that case is only reported);
    // the makers as the venue ended them, not as first seen
    let latest = |maker: &VenueOrder| {
        orders
            .iter()
            .find(|o| o.id == maker.id)
            .cloned()
            .unwrap_or_else(|| maker.clone())
    };
    let (spot_maker, perp_maker) = (latest(&spot_maker), latest(&perp_maker));
    let spot_filled = spot_maker.executed_qty >= spot_maker.orig_qty;
    let perp_filled = perp_maker.executed_qty >= perp_maker.orig_qty;
    if spot_filled || perp_filled {
        eprintln!(
            "staged exit: a first-slice maker order filled before the prices moved away \
             (spot {spot_filled}, perp {perp_filled}); timeout not measured"
        );
        return Ok(());
    }
    let accelerate: i64 = ACCELERATE.parse().unwrap();
    for maker in [&spot_maker, &perp_maker] {
        let taker = taker_after(maker).expect("fallback checked above");
        // simulated ms; 80 % of the timeout against scheduling noise
        assert!(
            taker.time - maker.time >= EXIT_LIMIT_TIMEOUT_MS * accelerate * 8 / 10,
            "fallback before exit_limit_timeout_ms: {maker:?} then {taker:?}"
        );
    }
    Ok(())
}

/// Rule 3: a held pair's funding turned against the hedge for one settlement, then back: the
/// rebalancer holds through (REVERSAL_NOT_PERSISTED) and the hedge keeps its id and direction.
///
/// Errs (after restoring the rate) when the hedge is closed or replaced instead.
async fn a_reversal_lasting_one_settlement_is_held_through(rig: &Rig) -> Result<(), String> {
    rig.wait_held(1_000).await;
    let open = rig.open_positions().await;
    let mut candidates = Vec::new();
    for position in open
        .into_iter()
        .filter(|p| held_notional(p) >= Decimal::from(1_000))
    {
        let instrument = rig.instrument(&position.symbol).await;
        candidates.push((interval_hours(&instrument), position, instrument));
    }
    // The rule is about one settlement against a hedge its funding paid until then. The
    // strategy keeps a hedge whose funding turned on its own (that exit is the rebalancer's,
    // after its persistence), so a held hedge may already be against: hedges still paid
    // first, then the shortest funding interval (its settlements come soonest).
    let earns = |position: &ex::Position, instrument: &gw::Instrument| {
        let rate = parse(&instrument.last_funding_rate);
        match direction(position) {
            Direction::PositiveCarry => rate > Decimal::ZERO,
            Direction::NegativeCarry => rate < Decimal::ZERO,
        }
    };
    candidates.sort_by_key(|(hours, position, instrument)| {
        (
            !earns(position, instrument),
            *hours,
            position.symbol.clone(),
        )
    });
    let (hours, position, instrument) = candidates.remove(0);
    let symbol = position.symbol.clone();
    // against the hedge, 0.02 % per 8 h: beyond no threshold that counts at once
    // (rebalance.reversal_predicted_threshold is 0.05 %), with room for the simulator's
    // running estimate to wander from the rate set (8 times an hourly rate's wander)
    let against = Decimal::new(2, 4) * Decimal::from(hours) / Decimal::from(8);
    let (reversed, paying) = match direction(&position) {
        Direction::PositiveCarry => (-against, against),
        Direction::NegativeCarry => (against, -against),
    };
    let last_paid = last_settlement(rig, &symbol).await.1;
    let paid = match direction(&position) {
        Direction::PositiveCarry => last_paid > Decimal::ZERO,
        Direction::NegativeCarry => last_paid < Decimal::ZERO,
    };
    let original = if earns(&position, &instrument) && paid {
        parse(&instrument.last_funding_rate)
    } else {
        // not paid now, or its last settlement was already against it: pay it for a
        // settlement first, so the reversal below is its first settlement against
        let before = last_settlement(rig, &symbol).await;
        rig.admin_post(
            "funding",
            json!({"symbol": symbol, "rate": paying.to_string()}),
        )
        .await;
        let mut settled = next_settlement(rig, &symbol, before.0, hours).await;
        if settled.1 != paying {
            settled = next_settlement(rig, &symbol, settled.0, hours).await;
        }
        assert_eq!(settled.1, paying, "settled rate");
        paying
    };
    let settled_before = last_settlement(rig, &symbol).await;
    rig.admin_post(
        "funding",
        json!({"symbol": symbol, "rate": reversed.to_string()}),
    )
    .await;
    let mut first = next_settlement(rig, &symbol, settled_before.0, hours).await;
    if first.1 != reversed {
        // that settlement slipped in between reading the history and setting the rate
        first = next_settlement(rig, &symbol, first.0, hours).await;
    }
    // the one settlement against the hedge is booked: review it, then flip back well before
    // the next settlement (at 60 % of the interval at the latest)
    assert_eq!(first.1, reversed, "settled rate");
    let accelerate: u64 = ACCELERATE.parse().unwrap();
    let window = Duration::from_millis(u64::from(hours) * 3_600_000 * 6 / 10 / accelerate);
    let settled = Instant::now();
    let mut held = None;
    let mut last = None;
    while held.is_none() && settled.elapsed() < window {
        if let Some(cut) = rig
            .position(&position.position_id)
            .await
            .filter(|p| p.status() != ex::PositionStatus::Open)
        {
            rig.admin_post(
                "funding",
                json!({"symbol": symbol, "rate": original.to_string()}),
            )
            .await;
            return Err(format!(
                "a reversal of one settlement was not held through: {symbol} is {:?} ({:?}), \
                 last review {last:?}",
                cut.status(),
                cut.close_reason
            ));
        }
        match rig.review(&symbol).await {
            Some(review)
                if review.reason_code() == rb::Reason::ReversalNotPersisted
                    && review.detail.contains("1 settlement") =>
            {
                held = Some(review);
            }
            other => last = other,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.admin_post(
        "funding",
        json!({"symbol": symbol, "rate": original.to_string()}),
    )
    .await;
    let Some(review) = held else {
        let now = rig.position(&position.position_id).await;
        return Err(format!(
            "no REVERSAL_NOT_PERSISTED review after one settlement of {symbol}: last review \
             {last:?}, position {now:?}"
        ));
    };
    assert_eq!(review.decision(), rb::Decision::Hold, "{review:?}");
    assert!(review.actions.is_empty(), "{review:?}");
    let second = next_settlement(rig, &symbol, first.0, hours).await;
    assert!(
        match direction(&position) {
            Direction::PositiveCarry => second.1 > Decimal::ZERO,
            Direction::NegativeCarry => second.1 < Decimal::ZERO,
        },
        "second settlement {second:?}"
    );
    let review = rig.review(&symbol).await.expect("reviewed");
    assert_ne!(
        review.reason_code(),
        rb::Reason::FundingReversed,
        "{review:?}"
    );
    assert_eq!(review.decision(), rb::Decision::Hold, "{review:?}");
    let after = rig.position(&position.position_id).await.unwrap();
    assert_eq!(after.status(), ex::PositionStatus::Open, "{after:?}");
    assert_eq!(after.direction, position.direction, "{after:?}");
    let live = rig.live_positions().await;
    let current: Vec<_> = live.iter().filter(|p| p.symbol == symbol).collect();
    assert!(
        current.len() == 1 && current[0].position_id == position.position_id,
        "the hedge was replaced: {current:?}"
    );
    let (perp, _) = rig
        .venue_legs(&symbol, symbol.trim_end_matches("USDT"))
        .await;
    let short_perp = direction(&position) == Direction::PositiveCarry;
    assert!(
        (short_perp && perp < Decimal::ZERO) || (!short_perp && perp > Decimal::ZERO),
        "perp {perp} no longer faces {:?}",
        position.direction()
    );
    Ok(())
}

/// (funding time, rate) of the last settled funding of `symbol` at the venue.
async fn last_settlement(rig: &Rig, symbol: &str) -> (i64, Decimal) {
    let url = format!(
        "{}/fapi/v1/fundingRate?symbol={symbol}&limit=1",
        rig.suite.sim
    );
    let rows: Value = match rig.http.get(&url).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    rows.as_array()
        .and_then(|rows| rows.last())
        .map_or((0, Decimal::ZERO), |row| {
            (
                row["fundingTime"].as_i64().unwrap_or_default(),
                dec(&row["fundingRate"]),
            )
        })
}

/// The first settlement of `symbol` after `after` (funding time).
async fn next_settlement(rig: &Rig, symbol: &str, after: i64, hours: u32) -> (i64, Decimal) {
    let accelerate: u64 = ACCELERATE.parse().unwrap();
    // an interval of wall time, twice, and some slack
    let within = Duration::from_millis(u64::from(hours) * 3_600_000 * 2 / accelerate + 20_000);
    let started = Instant::now();
    loop {
        let last = last_settlement(rig, symbol).await;
        if last.0 > after {
            return last;
        }
        assert!(
            started.elapsed() < within,
            "no {symbol} settlement after {after}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rule 1: the perp held 3 % away from the index (beyond rebalance.basis_exit_threshold,
/// 0.5 %): the rebalancer closes with BASIS_DIVERGENCE at CRITICAL priority, and the hedge is
/// closed at market, both legs flat at the venue.
///
/// Returns the exit's orders when it rested maker orders (a staged exit) instead.
async fn a_basis_break_closes_the_hedge_at_once(rig: &Rig) -> Option<String> {
    let position = rig.wait_held(5_000).await;
    let symbol = position.symbol.clone();
    let before = rig.next_order_id().await;
    let hold = HoldBasis {
        symbol: &symbol,
        pct: Decimal::from(3),
    };
    let started = Instant::now();
    let review = loop {
        hold.run(rig).await;
        if let Some(review) = rig.review(&symbol).await
            && review.reason_code() == rb::Reason::BasisDivergence
        {
            break review;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no basis exit for {symbol}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(review.decision(), rb::Decision::Act, "{review:?}");
    let action = review.actions.first().expect("an action");
    assert_eq!(action.kind(), rb::ActionKind::Close, "{action:?}");
    assert_eq!(
        action.priority(),
        rb::ActionPriority::Critical,
        "{action:?}"
    );
    rig.wait_closed_flat(&position, before, "basis exit", hold)
        .await;
    let closed = rig.position(&position.position_id).await.unwrap();
    assert!(
        closed.close_reason.contains("basis"),
        "close reason: {}",
        closed.close_reason
    );
    // at once: no resting maker order on the way out
    let orders = exit_orders(&rig.orders_since(before).await, &position);
    assert!(!orders.is_empty(), "no exit orders for {symbol}");
    orders
        .iter()
        .any(VenueOrder::is_maker)
        .then(|| format!("{orders:#?}"))
}

/// Rule 4: every held perp moved against it at one instant so that the futures margin coverage
/// falls to about 1.5 (Red below 2): risk issues CLOSE_ALL and the executor's exit orders reach
/// the venue in fff-core's exit order, computed here from the held hedges' funding and borrow.
async fn a_red_tier_closes_every_hedge_in_exit_order(rig: &Rig) {
    // the strategy re-enters after the earlier exits: three hedges if it gets there, else two
    let started = Instant::now();
    let open = loop {
        let open: Vec<_> = rig
            .open_positions()
            .await
            .into_iter()
            .filter(|p| held_notional(p) >= Decimal::from(1_000))
            .collect();
        if open.len() >= 3 || (open.len() >= 2 && started.elapsed() > Duration::from_secs(30)) {
            break open;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "fewer than two OPEN hedges: {:#}",
            rig.suite.status().unwrap_or(Value::Null)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    // every perp against its position at one instant, computed from the venue's own totals;
    // a second (and third) step right after corrects the estimate (maintenance margin moves
    // with the prices). The executor tops the futures wallet up from cross margin when its
    // coverage falls (capital.transfer_below_coverage), the product's first defence, which
    // would lift the coverage out of Red before the rule is seen: the venue suspends wallet
    // transfers for the shock (a real account's transfers can be suspended too), so Red
    // stays and risk, re-valuing the positions at the streamed marks, must close everything.
    //
    // The keeper may also have filled the futures wallet far beyond what the perps need (no
    // price move short of a liquidation would then reach Red): the operator moves what the
    // perps do not use to cross margin first, as a user taking profit out would.
    let state = rig.sim_state().await;
    let available = dec(&state["futures"]["availableBalance"]);
    let out = (available * Decimal::new(9, 1)).round_dp(2);
    if out > Decimal::ONE {
        rig.gateway
            .clone()
            .transfer(rig.authed(gw::TransferRequest {
                asset: "USDT".into(),
                amount: out.to_string(),
                from: common::Wallet::UsdmFutures as i32,
                to: common::Wallet::CrossMargin as i32,
                request_id: format!("red-tier-{}", rig.next_order_id().await),
                intent_id: String::new(),
            }))
            .await
            .expect("the operator's transfer out of the futures wallet");
    }
    rig.admin_post("faults", json!({"transfers_suspended": true}))
        .await;
    // just under Red (2.0): a liquidation (1.0) is about half a percent of the notional away,
    // so risk and the executor must close everything before the marks wander that far
    let target = Decimal::new(185, 2);
    let mut round = 0;
    let (before, directive) = loop {
        round += 1;
        let before = rig.next_order_id().await;
        let mut coverage = Decimal::ZERO;
        for _ in 0..3 {
            let state = rig.sim_state().await;
            let futures = &state["futures"];
            let balance = dec(&futures["marginBalance"]);
            let maint = dec(&futures["maintMargin"]);
            coverage = if maint > Decimal::ZERO {
                balance / maint
            } else {
                Decimal::ZERO
            };
            if coverage > Decimal::ONE && coverage < Decimal::new(195, 2) {
                break;
            }
            let mut notional = Decimal::ZERO;
            let mut shocks = Vec::new();
            for position in state["positions"].as_array().into_iter().flatten() {
                let symbol = position["symbol"].as_str().unwrap_or_default().to_owned();
                let amount = dec(&position["positionAmt"]);
                notional += amount.abs() * dec(&state["markets"][&symbol]["markPrice"]);
                shocks.push((symbol, amount < Decimal::ZERO));
            }
            // balance - notional * x = target * maint * (1 + x): coverage about 1.85, Red
            // below 2.0 and away from the venue's liquidation at 1.0
            let x = (balance - target * maint) / (notional + target * maint);
            assert!(
                x > -Decimal::ONE && x < Decimal::ONE,
                "red tier: the held perps are too small against the futures wallet for a price \
                 move to reach Red (shock {x} needed): {futures}"
            );
            let pct = |short: bool| if short { x } else { -x } * Decimal::ONE_HUNDRED;
            let shocks: Vec<Value> = shocks
                .iter()
                .map(|(symbol, short)| {
                    json!({"symbol": symbol, "pct": pct(*short).round_dp(4).to_string()})
                })
                .collect();
            rig.admin_post("shocks", json!({"shocks": shocks})).await;
        }
        eprintln!("red tier: round {round}, futures coverage {coverage} at the venue");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10)
            && !rig
                .directives()
                .await
                .iter()
                .any(|d| d.kind() == DirectiveKind::CloseAll)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(found) = rig
            .directives()
            .await
            .into_iter()
            .find(|d| d.kind() == DirectiveKind::CloseAll)
        {
            break (before, found);
        }
        assert!(
            round < 2,
            "red tier: no CLOSE_ALL after {round} shocks to a coverage of {coverage} at the \
             venue (directives {:?}; risk {:?})",
            rig.directives().await,
            rig.risk_state().await
        );
    };
    rig.admin_post("faults", json!({"transfers_suspended": false}))
        .await;
    assert_eq!(directive.tier(), common::MarginTier::Red, "{directive:?}");
    let candidates = exit_candidates(rig, &open).await;
    for position in &open {
        rig.wait_closed_flat(position, before, "red tier close", Nothing)
            .await;
    }
    let state = rig.sim_state().await;
    assert_eq!(state["liquidations"], 0, "liquidated: {state:#}");
    assert_closed_in_exit_order(rig, &open, &candidates, before).await;
}

/// The perp leg's quantity as the executor listed it.
fn perp_held(position: &ex::Position) -> Decimal {
    parse(
        &position
            .perp_leg
            .as_ref()
            .map(|l| l.quantity.clone())
            .unwrap_or_default(),
    )
}

/// The priority inputs of `open` as the executor reads them when a directive arrives: funding
/// per interval, mark, borrow.
async fn exit_candidates(rig: &Rig, open: &[ex::Position]) -> Vec<ExitCandidate> {
    let mut candidates = Vec::new();
    for position in open {
        let instrument = rig.instrument(&position.symbol).await;
        let perp = perp_held(position);
        let interval = FundingInterval::from_hours(interval_hours(&instrument)).unwrap();
        candidates.push(ExitCandidate {
            symbol: position.symbol.clone(),
            direction: direction(position),
            notional: perp.abs() * parse(&instrument.mark_price),
            funding_rate: normalize_funding_rate(parse(&instrument.last_funding_rate), interval, 8),
            borrow_rate: borrow_rate_for_period(parse(&instrument.base_borrow_rate_hourly), 8),
        });
    }
    candidates
}

/// The first exit order of each hedge at the venue (its order ids are its sequence) follows
/// fff-core's exit order of `candidates`. A hedge's notional is what its perp exit orders
/// closed (the executor ranks the legs held when the directive arrives, which top-ups may have
/// grown since `open` was read). Two hedges whose expected losses are within 10 % of each
/// other may go either way: marks and predicted rates move between the executor's look and the
/// test's.
async fn assert_closed_in_exit_order(
    rig: &Rig,
    open: &[ex::Position],
    candidates: &[ExitCandidate],
    before: i64,
) {
    let orders = rig.orders_since(before).await;
    let candidates: Vec<ExitCandidate> = candidates
        .iter()
        .map(|c| {
            let position = open.iter().find(|p| p.symbol == c.symbol).unwrap();
            let held = perp_held(position).abs();
            let closed: Decimal = exit_orders(&orders, position)
                .iter()
                .filter(|o| o.perp)
                .map(|o| o.executed_qty)
                .sum();
            let mut c = c.clone();
            if !held.is_zero() && !closed.is_zero() {
                c.notional = c.notional / held * closed;
            }
            c
        })
        .collect();
    let candidates = candidates.as_slice();
    let first_exit = |symbol: &str| {
        let position = open.iter().find(|p| p.symbol == symbol).unwrap();
        exit_orders(&orders, position)
            .first()
            .map(|o| o.id)
            .unwrap_or_else(|| panic!("no exit order for {symbol}"))
    };
    let expected = exit_order(candidates);
    let losses: Vec<String> = candidates
        .iter()
        .map(|c| format!("{} loss {}", c.symbol, c.expected_loss().round_dp(6)))
        .collect();
    for (rank, &i) in expected.iter().enumerate() {
        for &j in &expected[rank + 1..] {
            let (a, b) = (&candidates[i], &candidates[j]);
            let (la, lb) = (a.expected_loss(), b.expected_loss());
            let scale = la.abs().max(lb.abs());
            if la - lb <= scale / Decimal::TEN {
                continue;
            }
            assert!(
                first_exit(&a.symbol) < first_exit(&b.symbol),
                "{} (expected loss {la}) closed after {} ({lb}): exit order at the venue vs \
                 fff-core's ({losses:?})",
                a.symbol,
                b.symbol
            );
        }
    }
    eprintln!("exit order: {losses:?}");
}

/// The paper account with an extra unhedged ORCA balance (about 60k of 360k of equity): ORCA
/// has no cross margin, so the strategy never trades it, and its price moves equity alone.
const DRAWDOWN_SIM: &str = r#"
[[accounts]]
name = "paper"
api_key = "fff-paper-key"
api_secret = "fff-paper-secret"
spot = { USDT = "100000", ORCA = "24000" }
margin = { USDT = "100000" }
futures = { USDT = "100000" }

[market]
funding_noise = "0"
"#;

/// Rule 2: ORCA falls 50 %, equity about 8 % below its peak (beyond risk.max_monthly_drawdown,
/// 5 %): risk issues CLOSE_ALL (drawdown_limit_action = close_all) and the executor closes every
/// hedge, flat at the venue.
#[tokio::test]
async fn rules_drawdown_limit_closes_every_hedge() {
    let rig = rig(&[], Some(DRAWDOWN_SIM), 2).await;
    let open = rig.open_positions().await;
    // risk has a peak to measure from (its first equity snapshot)
    let started = Instant::now();
    while rig
        .risk
        .clone()
        .get_risk_state(risk::GetRiskStateRequest {})
        .await
        .ok()
        .and_then(|r| r.into_inner().state)
        .is_none_or(|s| parse(&s.peak_equity) <= Decimal::ZERO)
    {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no peak equity"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = rig.next_order_id().await;
    rig.admin_post("shock", json!({"symbol": "ORCAUSDT", "pct": "-50"}))
        .await;
    // risk measures drawdown on its equity snapshots (risk_service.snapshot_interval_secs,
    // 60 s): the next one sees the loss
    let directive = rig
        .wait_directive(
            DirectiveKind::CloseAll,
            "drawdown limit",
            Duration::from_secs(150),
        )
        .await;
    assert!(
        directive.reason.contains("drawdown"),
        "{}",
        directive.reason
    );
    // CLOSE_ALL closes in fff-core's exit order, whatever raised it (the Red tier too)
    let candidates = exit_candidates(&rig, &open).await;
    for position in &open {
        rig.wait_closed_flat(position, before, "drawdown close", Nothing)
            .await;
    }
    assert_closed_in_exit_order(&rig, &open, &candidates, before).await;
    let started = Instant::now();
    loop {
        let live = rig.live_positions().await;
        let state = rig.sim_state().await;
        let perps = state["positions"].as_array().map_or(0, Vec::len);
        if live.is_empty() && perps == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "hedges left after the drawdown limit: {live:?}, venue {}",
            state["positions"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let status = rig.suite.status().unwrap_or(Value::Null);
    let drawdown: f64 = status["risk"]["drawdown"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    assert!(drawdown >= 0.05, "drawdown {drawdown}: {status:#}");
}

//! The executor trading against the simulator through the other roles, every role its own
//! process: entries on the top-ranked pairs, funding booked exactly as the exchange paid it,
//! hedge failure unwound, partial fills repaired, funding reversal flipped, and a kill -9 in
//! the middle of an entry reconciled. The simulator runs an accelerated clock (360x: a 1 h
//! funding interval settles every 10 wall seconds) so settlements happen within the tests; the
//! gateway signs with a 60 s recvWindow (the simulator's maximum) so its clock resync keeps up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fff_executor::reexport::fff_store::{self, Leg, OrderStatus, PositionState, Store};
use fff_executor::reexport::rust_decimal::Decimal;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1 as ex;
use fff_proto::fff::executor::v1::executor_client::ExecutorClient;
use fff_proto::fff::scanner::v1 as scan;
use fff_proto::fff::scanner::v1::scanner_client::ScannerClient;
use fff_testkit::{TestDb, free_port, test_database, wait_for, wait_until};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

mod metrics;
pub(crate) mod traces;

use crate::harness::{
    RoleProcess, SimProcess, TOKEN, channel, serving, spawn_role_on, start_gateway, start_role,
    start_role_listening, start_role_on, start_sim_with_config,
};

/// Three positive-carry pairs of different strength and one negative-carry pair, 1 h funding,
/// flat prices, deep books; a margin wallet large enough to buy the spot legs unlevered.
const SIM_CONFIG: &str = r#"
seed = 7

[clock]
mode = "accelerated"
speed = 360.0

[[accounts]]
name = "paper"
api_key = "fff-paper-key"
api_secret = "fff-paper-secret"
margin = { USDT = "100000" }
futures = { USDT = "20000" }

[[symbols]]
base = "BTC"
price = "100000"
volatility = 0.0
margin = true
spot = { tick_size = "0.01", step_size = "0.00001", min_notional = "5", volume_24h = "1800000000" }
perp = { tick_size = "0.1", step_size = "0.001", min_notional = "100", volume_24h = "12000000000", funding_interval_hours = 1, funding_rate = "0.0003", open_interest = "80000", maint_margin_rate = "0.004" }

[[symbols]]
base = "ETH"
price = "4000"
volatility = 0.0
margin = true
spot = { tick_size = "0.01", step_size = "0.0001", min_notional = "5", volume_24h = "900000000" }
perp = { tick_size = "0.01", step_size = "0.001", min_notional = "20", volume_24h = "7000000000", funding_interval_hours = 1, funding_rate = "0.0002", open_interest = "1900000", maint_margin_rate = "0.005" }

[[symbols]]
base = "XRP"
price = "2"
volatility = 0.0
margin = true
spot = { tick_size = "0.0001", step_size = "0.1", min_notional = "5", volume_24h = "500000000" }
perp = { tick_size = "0.0001", step_size = "0.1", min_notional = "5", volume_24h = "3000000000", funding_interval_hours = 1, funding_rate = "0.00015", open_interest = "900000000", maint_margin_rate = "0.005" }

[[symbols]]
base = "SOL"
price = "200"
volatility = 0.0
margin = true
spot = { tick_size = "0.01", step_size = "0.001", min_notional = "5", volume_24h = "600000000" }
perp = { tick_size = "0.01", step_size = "0.01", min_notional = "5", volume_24h = "4000000000", funding_interval_hours = 1, funding_rate = "-0.0003", open_interest = "9000000", maint_margin_rate = "0.005" }

[[assets]]
asset = "SOL"
daily_interest_rate = "0.0001"
borrow_limit = "100000"
inventory = "1000000"
"#;

/// The shipped `[capital]` defaults: the capital model pays for both legs, so ~120k of equity
/// holds three pairs of ~29k per leg (below the TWAP threshold) at >= 80 % utilisation.
const CAPITAL_ENV: &[(&str, &str)] = &[];

const EXECUTOR_ENV: &[(&str, &str)] = &[
    ("FFF_EXECUTION__HEDGE_RETRY_DELAY_MS", "50"),
    ("FFF_EXECUTION__TWAP_SLICE_INTERVAL_MS", "300"),
];

const SCANNER_ENV: &[(&str, &str)] = &[
    ("FFF_SCANNER__SCAN_INTERVAL_SECS", "1"),
    ("FFF_PAIR_SELECTION__MAX_SPREAD", "0.01"),
    ("FFF_PAIR_SELECTION__MIN_OPEN_INTEREST_USD", "0"),
    ("FFF_PAIR_SELECTION__MIN_VOLUME_24H_USD", "0"),
    ("FFF_PAIR_SELECTION__MAX_PAIRS", "3"),
];

/// The roles of one test. Dropping it kills every process.
struct Stack {
    db: TestDb,
    sim: SimProcess,
    gateway: RoleProcess,
    _risk: RoleProcess,
    _others: Vec<RoleProcess>,
    executor: RoleProcess,
    executor_port: u16,
    executor_env: Vec<(String, String)>,
    store: Store,
    /// The scanner's top three qualified pairs when the executor started.
    initial_top: Vec<String>,
    /// Every top three (sorted) the scanner ranked from then on: under load a pair can drop out
    /// for a scan (e.g. its borrow data late), and the executor plans on the ranking it sees.
    tops_seen: Arc<Mutex<Vec<Vec<String>>>>,
}

#[derive(Default)]
struct Options {
    /// Start scanner shards (the strategy loop then trades on its own).
    scanner: bool,
    rebalancer: bool,
    executor_env: Vec<(&'static str, &'static str)>,
    /// Extra environment of every role (e.g. the OTLP endpoint).
    common_env: Vec<(String, String)>,
    /// Extra environment of the gateway and of risk (e.g. their metrics ports).
    gateway_env: Vec<(String, String)>,
    risk_env: Vec<(String, String)>,
}

async fn stack(options: Options) -> Stack {
    let db = test_database().await.unwrap();
    let sim = start_sim_with_config(SIM_CONFIG).await.unwrap();
    let mut gateway_env = vec![
        ("FFF_EXCHANGE__ACCOUNT_MAX_AGE_MS", "1000"),
        ("FFF_EXCHANGE__RECV_WINDOW_MS", "60000"),
    ];
    gateway_env.extend(as_refs(&options.common_env));
    gateway_env.extend(as_refs(&options.gateway_env));
    let gateway = start_gateway(&sim, &gateway_env).await.unwrap();
    let gateway_url = format!("http://{}", gateway.addr);
    let executor_port = free_port().unwrap();
    let rebalancer_port = free_port().unwrap();
    let executor_url = format!("http://127.0.0.1:{executor_port}");
    let rebalancer_url = format!("http://127.0.0.1:{rebalancer_port}");
    let mut common: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.url().to_owned()),
        ("FFF_SERVICES__GATEWAY".into(), gateway_url.clone()),
        ("FFF_SERVICES__EXECUTOR".into(), executor_url.clone()),
        ("FFF_SERVICES__REBALANCER".into(), rebalancer_url.clone()),
    ];
    common.extend(options.common_env.iter().cloned());
    common.extend(
        CAPITAL_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut all = common.clone();
        all.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        all
    };
    let mut risk_env = env(&[]);
    risk_env.extend(options.risk_env.iter().cloned());
    // risk turns SERVING after its first account snapshot; the executor fails entries closed
    // until it answers, and `Stack::open` retries meanwhile
    let risk = start_role_listening("risk", &as_refs(&risk_env))
        .await
        .unwrap();
    let risk_url = format!("http://{}", risk.addr);
    let mut others = Vec::new();
    let mut scanners = Vec::new();
    let mut initial_top: Vec<String> = Vec::new();
    let tops_seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    if options.scanner {
        let scanner_env = env(SCANNER_ENV);
        let scanner = start_role("scanner", &as_refs(&scanner_env)).await.unwrap();
        // the executor starts once the ranking is complete, so its first plan sees all pairs
        let client = ScannerClient::new(channel(scanner.addr).await);
        let ranking = wait_for(Duration::from_secs(30), || {
            let mut client = client.clone();
            async move {
                let snapshot = client
                    .list_opportunities(scan::ListOpportunitiesRequest::default())
                    .await
                    .ok()?
                    .into_inner()
                    .snapshot?;
                (snapshot.qualified_count >= 3).then_some(snapshot.opportunities)
            }
        })
        .await
        .expect("the scanner qualifies three pairs");
        initial_top = ranking
            .iter()
            .filter(|o| o.qualified)
            .take(3)
            .map(|o| o.symbol.clone())
            .collect();
        let seen = Arc::clone(&tops_seen);
        tokio::spawn(async move {
            let mut client = client;
            loop {
                if let Ok(response) = client
                    .list_opportunities(scan::ListOpportunitiesRequest::default())
                    .await
                    && let Some(snapshot) = response.into_inner().snapshot
                {
                    let mut top: Vec<String> = snapshot
                        .opportunities
                        .iter()
                        .filter(|o| o.qualified)
                        .take(3)
                        .map(|o| o.symbol.clone())
                        .collect();
                    top.sort_unstable();
                    let mut seen = seen.lock().unwrap();
                    if !seen.contains(&top) {
                        seen.push(top);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        scanners.push(format!("http://{}", scanner.addr));
        others.push(scanner);
    } else {
        // a closed port: no opportunities, only manual entries
        scanners.push("http://127.0.0.1:9".to_owned());
    }
    let mut executor_env = env(EXECUTOR_ENV);
    executor_env.push(("FFF_SERVICES__RISK".into(), risk_url.clone()));
    executor_env.push((
        "FFF_SERVICES__SCANNERS".into(),
        format!(
            "[{}]",
            scanners
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
    ));
    executor_env.extend(
        SCANNER_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    executor_env.extend(
        options
            .executor_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let executor = start_role_on("executor", executor_port, &as_refs(&executor_env))
        .await
        .unwrap();
    if options.rebalancer {
        let mut rebalancer_env = env(&[("FFF_REBALANCE__INTERVAL_SECS", "1")]);
        rebalancer_env.push(("FFF_SERVICES__RISK".into(), risk_url));
        rebalancer_env.extend(
            options
                .executor_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        others.push(
            start_role_on("rebalancer", rebalancer_port, &as_refs(&rebalancer_env))
                .await
                .unwrap(),
        );
    }
    let store = Store::connect(db.url(), 2).await.unwrap();
    let stack = Stack {
        db,
        sim,
        gateway,
        _risk: risk,
        _others: others,
        executor,
        executor_port,
        executor_env,
        store,
        initial_top,
        tops_seen,
    };
    stack.wait_reconciled().await;
    stack
}

fn as_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn authed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {TOKEN}")).unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn dec(raw: &str) -> Decimal {
    raw.parse().unwrap_or_default()
}

impl Stack {
    async fn client(&self) -> ExecutorClient<Channel> {
        ExecutorClient::new(channel(self.executor.addr).await)
    }

    async fn status_metadata(&self, key: &str) -> String {
        let response = self
            .client()
            .await
            .get_status(ex::GetStatusRequest {})
            .await
            .unwrap();
        response
            .metadata()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    async fn wait_reconciled(&self) {
        wait_until(Duration::from_secs(20), || async {
            let summary = self.status_metadata("fff-reconciliation").await;
            !summary.is_empty() && summary != "pending"
        })
        .await
        .expect("executor reconciles with the exchange at start-up");
    }

    /// OpenPosition, retried while risk is not ready to approve yet.
    async fn open(
        &self,
        symbol: &str,
        direction: common::Direction,
        notional: &str,
    ) -> ex::Position {
        let mut client = self.client().await;
        let mut last = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let request = authed(ex::OpenPositionRequest {
                request_id: format!("test-{symbol}-{notional}"),
                symbol: symbol.to_owned(),
                direction: direction as i32,
                notional: notional.to_owned(),
                leverage: None,
                reason: "test".to_owned(),
            });
            match client.open_position(request).await {
                Ok(response) => return response.into_inner().position.unwrap(),
                Err(status) => last = Some(status),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("open of {symbol} refused: {last:?}");
    }

    async fn settled(&self, id: i64) -> fff_store::Position {
        wait_for(Duration::from_secs(30), || async {
            self.store
                .get_position(id)
                .await
                .ok()
                .flatten()
                .filter(|p| !matches!(p.state, PositionState::Opening | PositionState::Closing))
        })
        .await
        .expect("position settles")
    }

    async fn sim_state(&self) -> serde_json::Value {
        self.sim.http("GET", "/admin/state", "").await
    }

    async fn admin(&self, path: &str, body: &str) {
        self.sim.http("POST", &format!("/admin/{path}"), body).await;
    }

    /// Signed perp position at the simulator.
    async fn sim_perp(&self, symbol: &str) -> Decimal {
        let state = self.sim_state().await;
        state["positions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["symbol"] == symbol)
            .map(|p| dec(p["positionAmt"].as_str().unwrap_or("0")))
            .unwrap_or_default()
    }

    /// (spot, perp) signed quantities from the position's orders in the database.
    async fn db_legs(&self, position: &fff_store::Position) -> (Decimal, Decimal) {
        let mut spot = Decimal::ZERO;
        let mut perp = Decimal::ZERO;
        for order in self.store.list_position_orders(position.id).await.unwrap() {
            let signed = match order.side {
                fff_store::Side::Buy => order.executed_qty,
                fff_store::Side::Sell => -order.executed_qty,
            };
            match order.leg {
                Leg::Spot => spot += signed,
                Leg::Perp => perp += signed,
            }
        }
        (spot, perp)
    }
}

fn drift(spot: Decimal, perp: Decimal) -> Decimal {
    let larger = spot.abs().max(perp.abs());
    if larger.is_zero() {
        return Decimal::ZERO;
    }
    (spot + perp).abs() / larger
}

#[tokio::test]
async fn happy_path_enters_top_pairs_and_books_funding_exactly() {
    let stack = stack(Options {
        scanner: true,
        ..Options::default()
    })
    .await;
    // positions open on the top-ranked pairs
    let open = wait_for(Duration::from_secs(45), || async {
        let live = stack.store.list_live_positions().await.ok()?;
        let open: Vec<_> = live
            .into_iter()
            .filter(|p| p.state == PositionState::Open)
            .collect();
        (open.len() >= 3).then_some(open)
    })
    .await
    .expect("three positions open from the scanner's ranking");
    // the pairs held are the scanner's top three
    let mut symbols: Vec<&str> = open.iter().map(|p| p.symbol.as_str()).collect();
    symbols.sort_unstable();
    let mut expected: Vec<&str> = stack.initial_top.iter().map(String::as_str).collect();
    expected.sort_unstable();
    let seen = stack.tops_seen.lock().unwrap().clone();
    assert!(
        symbols == expected || seen.iter().any(|top| *top == symbols),
        "held {symbols:?}: neither the scanner's top three when the executor started \
         ({expected:?}) nor one it ranked since ({seen:?})"
    );
    let mut client = stack.client().await;
    let allocation = client
        .get_allocation(ex::GetAllocationRequest {})
        .await
        .unwrap()
        .into_inner()
        .allocation
        .unwrap();
    let target: Decimal = allocation
        .pairs
        .iter()
        .map(|p| dec(&p.target_notional))
        .sum();
    let actual: Decimal = allocation
        .pairs
        .iter()
        .map(|p| dec(&p.actual_notional))
        .sum();
    assert!(
        actual > target * Decimal::new(8, 1),
        "utilization {actual} of {target}"
    );
    // each entry was approved from risk's entry budget and reported: risk recorded it, under
    // the approval id the position quotes, as approved from that budget
    let listed = client
        .list_positions(ex::ListPositionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .positions;
    for position in &open {
        let approval_id = listed
            .iter()
            .find(|p| p.position_id == position.id.to_string())
            .map(|p| p.approval_id.clone())
            .unwrap_or_default();
        assert!(approval_id.starts_with("budget-"), "{approval_id}");
        let recorded = wait_for(Duration::from_secs(5), || async {
            stack.store.risk_approval(&approval_id).await.ok().flatten()
        })
        .await
        .unwrap_or_else(|_| panic!("risk has no record of {approval_id}"));
        assert!(recorded.approved, "{recorded:?}");
        assert!(
            recorded.reason.contains("approved from entry budget"),
            "{recorded:?}"
        );
    }
    for position in &open {
        let (spot, perp) = stack.db_legs(position).await;
        assert!(
            drift(spot, perp) < Decimal::new(1, 2),
            "{}: {spot} {perp}",
            position.symbol
        );
        assert_eq!(
            perp,
            stack.sim_perp(&position.symbol).await,
            "{}",
            position.symbol
        );
    }

    // funding settles hourly (a wall second): wait for a few settlements to be booked
    wait_until(Duration::from_secs(30), || async {
        let mut booked = 0;
        for position in &open {
            booked += stack
                .store
                .list_position_funding(position.id)
                .await
                .map(|f| f.len())
                .unwrap_or(0);
        }
        booked >= 6
    })
    .await
    .expect("funding payments booked");
    // give the income poll a moment to catch up with the settlements just made, then compare
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = stack.sim_state().await;
    let mut sim_funding: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for income in state["income"].as_array().into_iter().flatten() {
        if income["incomeType"] == "FUNDING_FEE" {
            sim_funding
                .entry(income["symbol"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(dec(income["income"].as_str().unwrap_or("0")));
        }
    }
    let mut db_funding: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for position in stack
        .store
        .list_positions(PositionState::ALL)
        .await
        .unwrap()
    {
        for payment in stack
            .store
            .list_position_funding(position.id)
            .await
            .unwrap()
        {
            db_funding
                .entry(payment.symbol.clone())
                .or_default()
                .push(payment.amount);
        }
    }
    // every settlement the simulator paid up to now is in PostgreSQL, amount for amount
    // (the simulator keeps paying meanwhile, so compare the prefix we have)
    for (symbol, paid) in &sim_funding {
        let booked = db_funding.get(symbol).cloned().unwrap_or_default();
        assert!(
            booked.len() + 2 >= paid.len() && booked.len() <= paid.len(),
            "{symbol}: booked {} of {}",
            booked.len(),
            paid.len()
        );
        let mut paid_sorted = paid[..booked.len()].to_vec();
        let mut booked_sorted = booked.clone();
        paid_sorted.sort();
        booked_sorted.sort();
        assert_eq!(booked_sorted, paid_sorted, "{symbol}");
    }
    // P&L reports the same funding
    let pnl = client
        .get_pnl(ex::GetPnlRequest::default())
        .await
        .unwrap()
        .into_inner();
    let total = pnl.total.unwrap();
    let booked_total: Decimal = db_funding.values().flatten().copied().sum();
    let reported = dec(&total.funding_actual);
    assert!(reported >= booked_total, "{reported} < {booked_total}");
    assert!(dec(&total.funding_received) > Decimal::ZERO);
    // expected funding (rate x size x mark of each settlement) matches what was paid
    let expected = dec(&total.funding_expected);
    let discrepancy = dec(&total.funding_discrepancy);
    println!("funding actual {reported}, expected {expected}, discrepancy {discrepancy}");
    if discrepancy.abs() > reported.abs() / Decimal::from(100) {
        let mut rows = Vec::new();
        for position in stack
            .store
            .list_positions(PositionState::ALL)
            .await
            .unwrap()
        {
            for p in stack
                .store
                .list_position_funding(position.id)
                .await
                .unwrap()
            {
                rows.push(format!(
                    "{} {} {} amount {} expected {:?} rate {:?} mark {:?} notional {:?}",
                    p.symbol,
                    p.tran_id,
                    p.paid_at,
                    p.amount,
                    p.expected_amount,
                    p.funding_rate,
                    p.mark_price,
                    p.notional
                ));
            }
        }
        panic!(
            "funding {reported} vs expected {expected}:\n{}",
            rows.join("\n")
        );
    }
    println!("latency: {}", stack.status_metadata("fff-latency").await);
}

#[tokio::test]
async fn rejected_spot_hedge_unwinds_the_futures_leg() {
    let stack = stack(Options::default()).await;
    // short SOL spot needs a SOL loan; with none to lend the entry is refused before the perp
    stack
        .admin("faults", r#"{"borrow_unavailable": ["SOL"]}"#)
        .await;
    let refused = stack
        .open("SOLUSDT", common::Direction::NegativeCarry, "2000")
        .await;
    let refused_id: i64 = refused.position_id.parse().unwrap();
    let position = stack.settled(refused_id).await;
    assert_eq!(position.state, PositionState::Failed);
    assert!(
        position
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("lends"),
        "{:?}",
        position.last_error
    );
    assert!(
        stack
            .store
            .list_position_orders(refused_id)
            .await
            .unwrap()
            .is_empty(),
        "no order may be sent for a short that cannot be borrowed"
    );
    // the hedge venue itself failing after the perp filled: the perp is unwound
    stack
        .admin(
            "faults",
            r#"{"borrow_unavailable": [], "spot_reject_rate": 1.0}"#,
        )
        .await;
    // (another notional: the same request id would return the first, refused position)
    let started = stack
        .open("SOLUSDT", common::Direction::NegativeCarry, "2001")
        .await;
    let id: i64 = started.position_id.parse().unwrap();
    let position = stack.settled(id).await;
    assert_eq!(
        position.state,
        PositionState::Failed,
        "{:?}",
        position.last_error
    );
    // no naked futures leg at the exchange
    assert_eq!(stack.sim_perp("SOLUSDT").await, Decimal::ZERO);
    let orders = stack.store.list_position_orders(id).await.unwrap();
    let entry = orders
        .iter()
        .find(|o| o.leg == Leg::Perp && !o.reduce_only)
        .unwrap_or_else(|| panic!("no futures entry: {:?}", position.last_error));
    let unwind = orders
        .iter()
        .find(|o| o.leg == Leg::Perp && o.reduce_only)
        .expect("futures unwind");
    assert_eq!(entry.status, OrderStatus::Filled);
    assert_eq!(unwind.executed_qty, entry.executed_qty);
    let hedges = orders.iter().filter(|o| o.leg == Leg::Spot).count();
    assert_eq!(hedges, 4, "one hedge attempt plus three retries");
    // unhedged window: futures fill recorded -> unwind intent committed
    let unhedged = (unwind.created_at - entry.updated_at)
        .to_std()
        .unwrap_or_default();
    println!("hedge failure unhedged window: {unhedged:?}");
    assert!(
        unhedged < Duration::from_secs(3),
        "unhedged for {unhedged:?}"
    );
}

#[tokio::test]
async fn partial_fills_are_rebalanced_below_three_percent() {
    let stack = stack(Options::default()).await;
    stack.admin("faults", r#"{"partial_fill_rate": 1.0}"#).await;
    let started = stack
        .open("ETHUSDT", common::Direction::PositiveCarry, "8000")
        .await;
    let id: i64 = started.position_id.parse().unwrap();
    let position = stack.settled(id).await;
    assert_eq!(
        position.state,
        PositionState::Open,
        "{:?}",
        position.last_error
    );
    let (spot, perp) = stack.db_legs(&position).await;
    assert!(!perp.is_zero());
    assert!(
        drift(spot, perp) < Decimal::new(3, 2),
        "drift of {spot} vs {perp}"
    );
    assert_eq!(perp, stack.sim_perp("ETHUSDT").await);
    // some orders did fill partially (the fault was live)
    let orders = stack.store.list_position_orders(id).await.unwrap();
    assert!(
        orders
            .iter()
            .any(|o| o.executed_qty < o.qty && o.executed_qty > Decimal::ZERO)
    );
}

async fn reversal(auto_flip: &'static str) -> (Stack, i64) {
    let stack = stack(Options {
        rebalancer: true,
        executor_env: vec![("FFF_REBALANCE__AUTO_FLIP_ON_REVERSAL", auto_flip)],
        ..Options::default()
    })
    .await;
    let started = stack
        .open("BTCUSDT", common::Direction::PositiveCarry, "5000")
        .await;
    let id: i64 = started.position_id.parse().unwrap();
    assert_eq!(stack.settled(id).await.state, PositionState::Open);
    stack
        .admin("funding", r#"{"symbol": "BTCUSDT", "flip": true}"#)
        .await;
    (stack, id)
}

#[tokio::test]
async fn funding_reversal_flips_the_position() {
    let (stack, id) = reversal("true").await;
    let flipped = wait_for(Duration::from_secs(45), || async {
        stack
            .store
            .live_position("BTCUSDT")
            .await
            .ok()
            .flatten()
            .filter(|p| p.id != id && p.state == PositionState::Open)
    })
    .await
    .expect("flipped to negative carry");
    assert_eq!(flipped.direction, fff_store::Direction::ShortSpotLongPerp);
    let old = stack.store.get_position(id).await.unwrap().unwrap();
    assert_eq!(old.state, PositionState::Closed);
    assert!(stack.sim_perp("BTCUSDT").await > Decimal::ZERO);
}

#[tokio::test]
async fn funding_reversal_closes_when_auto_flip_is_off() {
    let (stack, id) = reversal("false").await;
    let closed = wait_for(Duration::from_secs(45), || async {
        stack
            .store
            .get_position(id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state == PositionState::Closed)
    })
    .await
    .expect("closed after the reversal");
    assert!(closed.closed_at.is_some());
    assert!(
        stack
            .store
            .live_position("BTCUSDT")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(stack.sim_perp("BTCUSDT").await, Decimal::ZERO);
}

#[tokio::test]
async fn kill_9_with_the_hedge_in_flight_is_reconciled_on_restart() {
    kill_9_mid_entry(Leg::Spot).await;
}

/// The worst moment: the perp order of a slice is out, its hedge not yet. After the restart
/// the perp has filled at the exchange and is hedged, once: by the gateway, which sends the
/// hedge on the perp's fill (`hedge_on_fill`) whether or not the executor lives to see the
/// answer, and which the restarted executor then finds at the venue; or, when the perp's
/// answer was not final, by reconciliation.
#[tokio::test]
async fn kill_9_with_the_perp_in_flight_is_hedged_on_restart() {
    // kill_9_mid_entry checked the legs even, every order once at the venue and as recorded
    let (summary, perp) = kill_9_mid_entry(Leg::Perp).await;
    let by_reconciliation = summary.contains("repaired 1");
    let by_the_gateway = summary.contains("repaired 0");
    assert!(
        (by_reconciliation || by_the_gateway) && summary.contains("repairs failed 0"),
        "{perp}: {summary}"
    );
    println!(
        "{perp} hedged by {}",
        if by_the_gateway {
            "the gateway on its fill"
        } else {
            "reconciliation"
        }
    );
}

/// An order of `leg` in flight once a first slice has filled: a perp slice sent (its intent,
/// written together with its hedge's, still INTENT), or a hedge whose perp has filled.
fn order_in_flight(orders: &[fff_store::Order], leg: Leg) -> Option<String> {
    let filled = |id: &str| {
        orders
            .iter()
            .any(|o| o.client_order_id == id && o.status == OrderStatus::Filled)
    };
    let perps_filled = orders
        .iter()
        .filter(|o| o.leg == Leg::Perp && o.status == OrderStatus::Filled)
        .count();
    if perps_filled == 0 {
        return None;
    }
    orders
        .iter()
        .rev()
        .find(|o| {
            o.leg == leg
                && o.status == OrderStatus::Intent
                && match leg {
                    Leg::Perp => true,
                    // `fff<id>-Se<slice>r<attempt>` hedges `fff<id>-Pe<slice>`
                    Leg::Spot => o
                        .client_order_id
                        .split_once("-Se")
                        .and_then(|(position, rest)| {
                            rest.split('r')
                                .next()
                                .map(|slice| format!("{position}-Pe{slice}"))
                        })
                        .is_some_and(|perp| filled(&perp)),
                }
        })
        .map(|o| o.client_order_id.clone())
}

/// Kills the executor while an order of `leg` is in flight in the middle of a TWAP entry,
/// restarts it and checks that the database and the simulator agree; returns the
/// reconciliation summary and the order that was in flight.
async fn kill_9_mid_entry(leg: Leg) -> (String, String) {
    // a TWAP entry within the pair cap (29k at 120k equity): 6 slices of 4000, 300 ms apart
    let mut stack = stack(Options {
        executor_env: vec![
            ("FFF_EXECUTION__TWAP_THRESHOLD_USDT", "10000"),
            ("FFF_EXECUTION__TWAP_SLICE_USDT", "4000"),
        ],
        ..Options::default()
    })
    .await;
    let started = stack
        .open("BTCUSDT", common::Direction::PositiveCarry, "24000")
        .await;
    let id: i64 = started.position_id.parse().unwrap();
    // Every exchange request now takes 100 ms (more breaks signing against the accelerated
    // clock: 100 ms wall is 36 s simulated, the recvWindow is 60 s), so the hedge of a slice is in flight long
    // enough to die in the middle of it: the perp slice filled, the spot hedge's intent
    // committed and sent, its answer not yet back.
    stack.admin("faults", r#"{"latency_ms": 100}"#).await;
    let in_flight = wait_for(Duration::from_secs(20), || async {
        let orders = stack.store.list_position_orders(id).await.ok()?;
        order_in_flight(&orders, leg)
    })
    .await
    .unwrap_or_else(|e| {
        panic!("no {leg} order in flight after the first slice ({e})");
    });
    stack.executor.kill_now();
    stack.admin("faults", r#"{"latency_ms": 0}"#).await;
    let killed_at = Instant::now();
    let env = stack.executor_env.clone();
    stack.executor = start_role_on("executor", stack.executor_port, &as_refs(&env))
        .await
        .unwrap();
    stack.wait_reconciled().await;
    let summary = stack.status_metadata("fff-reconciliation").await;
    println!(
        "restart to reconciled: {:?}; {summary}",
        killed_at.elapsed()
    );
    let position = stack.settled(id).await;
    assert_eq!(
        position.state,
        PositionState::Open,
        "{:?}",
        position.last_error
    );
    // the order in flight at the kill was resolved from the exchange, not sent again
    let resolved = stack.store.get_order(&in_flight).await.unwrap().unwrap();
    assert!(resolved.status.is_terminal(), "{resolved:?}");
    // nothing left unresolved, no naked leg
    assert!(
        stack
            .store
            .list_unfinished_orders()
            .await
            .unwrap()
            .is_empty()
    );
    let (spot, perp) = stack.db_legs(&position).await;
    assert!(drift(spot, perp) < Decimal::new(5, 2), "{spot} vs {perp}");
    // the database and the simulator agree order by order, and no order exists twice
    let state = stack.sim_state().await;
    let mut sim_orders: BTreeMap<String, Decimal> = BTreeMap::new();
    for order in state["orders"].as_array().into_iter().flatten() {
        let cid = order["clientOrderId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let executed = dec(order["executedQty"].as_str().unwrap_or("0"));
        assert!(
            sim_orders.insert(cid.clone(), executed).is_none(),
            "{cid} twice"
        );
    }
    for order in stack.store.list_position_orders(id).await.unwrap() {
        match sim_orders.remove(&order.client_order_id) {
            Some(executed) => assert_eq!(executed, order.executed_qty, "{}", order.client_order_id),
            None => {
                assert_eq!(
                    order.status,
                    OrderStatus::Expired,
                    "{}",
                    order.client_order_id
                );
                assert!(order.executed_qty.is_zero());
            }
        }
    }
    assert!(
        sim_orders.is_empty(),
        "orders unknown to the database: {sim_orders:?}"
    );
    assert_eq!(perp, stack.sim_perp("BTCUSDT").await);
    let _ = (&stack.db, &stack.gateway);
    (summary, in_flight)
}

/// Numbers for docs/BENCHMARKS.md: `cargo test -p fff-cli --test it bench_executor_latency
/// -- --ignored --nocapture`. The strategy loop opens three positions from the scanner's
/// ranking; each round closes them all and lets it re-enter, so every round adds three
/// opportunity-to-order samples and three unhedged-window samples.
#[tokio::test]
#[ignore = "benchmark: run explicitly, it prints the executor's latency percentiles"]
async fn bench_executor_latency() {
    const ROUNDS: usize = 20;
    let stack = stack(Options {
        scanner: true,
        ..Options::default()
    })
    .await;
    let mut client = stack.client().await;
    for round in 0..ROUNDS {
        let open = wait_for(Duration::from_secs(45), || async {
            let live = stack.store.list_live_positions().await.ok()?;
            (live.len() >= 3 && live.iter().all(|p| p.state == PositionState::Open)).then_some(live)
        })
        .await
        .expect("strategy re-enters");
        for position in open {
            client
                .close_position(authed(ex::ClosePositionRequest {
                    request_id: format!("bench-{round}-{}", position.id),
                    key: Some(ex::close_position_request::Key::PositionId(
                        position.id.to_string(),
                    )),
                    urgency: ex::CloseUrgency::Immediate as i32,
                    reason: "benchmark round".into(),
                }))
                .await
                .unwrap();
        }
        wait_until(Duration::from_secs(30), || async {
            stack
                .store
                .list_live_positions()
                .await
                .map(|live| live.iter().all(|p| p.state == PositionState::Open) || live.is_empty())
                .unwrap_or(false)
        })
        .await
        .unwrap();
    }
    println!("BENCH {}", stack.status_metadata("fff-latency").await);
}

/// One writer per database: a second executor waits NOT_SERVING (and refuses to trade) while
/// the first holds the lease; after a kill -9 of the first it takes over, reconciles, and no
/// client order id reaches the exchange twice.
#[tokio::test]
async fn a_second_executor_waits_for_the_lease_and_takes_over_after_kill_9() {
    let mut stack = stack(Options::default()).await;
    let started = stack
        .open("ETHUSDT", common::Direction::PositiveCarry, "4000")
        .await;
    let id: i64 = started.position_id.parse().unwrap();
    assert_eq!(stack.settled(id).await.state, PositionState::Open);

    let env = stack.executor_env.clone();
    let second_port = free_port().unwrap();
    let mut second = spawn_role_on("executor", second_port, &as_refs(&env)).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        second.child.try_wait().unwrap().is_none(),
        "second executor exited"
    );
    assert!(!serving(second.addr).await, "two executors serving at once");
    // the waiting instance refuses to trade
    let mut waiting = ExecutorClient::new(channel(second.addr).await);
    let refused = waiting
        .open_position(authed(ex::OpenPositionRequest {
            request_id: "lease-test".into(),
            symbol: "XRPUSDT".into(),
            direction: common::Direction::PositiveCarry as i32,
            notional: "1000".into(),
            leverage: None,
            reason: "test".into(),
        }))
        .await
        .unwrap_err();
    assert!(refused.message().contains("lease"), "{}", refused.message());

    stack.executor.kill_now();
    let killed_at = Instant::now();
    wait_until(Duration::from_secs(30), || serving(second.addr))
        .await
        .expect("the second executor takes the lease over");
    println!("lease takeover after kill -9: {:?}", killed_at.elapsed());
    stack.executor = second;
    stack.wait_reconciled().await;
    let position = stack.settled(id).await;
    assert_eq!(
        position.state,
        PositionState::Open,
        "{:?}",
        position.last_error
    );
    // no client order id sent twice
    let state = stack.sim_state().await;
    let mut ids: Vec<String> = state["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["clientOrderId"].as_str().map(str::to_owned))
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "duplicate client order ids at the exchange");
}

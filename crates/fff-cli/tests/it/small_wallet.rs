//! The small-futures-wallet rig shared by the risk and alerts tests: `fff sim` with a 3 000 USDT
//! futures wallet and one BTC market, risk thresholds scaled to it (green above 40, yellow above
//! 30, orange above 20, hysteresis 2) so that one price shock lands in a chosen tier, and a stack
//! of sim, gateway, risk and executor holding one 10 000 USDT BTC hedge.

use std::time::{Duration, Instant};

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1 as ex;
use fff_proto::fff::gateway::v1::{self as gw, gateway_client::GatewayClient};
use fff_proto::fff::risk::v1::risk_client::RiskClient;
use fff_testkit::{TestDb, free_port, test_database, wait_for};
use tokio_stream::StreamExt as _;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::harness::{
    RoleProcess, SimProcess, TOKEN, channel, start_gateway, start_role, start_sim_with_config,
};

/// Simulator account: the documented paper keys, a small futures wallet.
pub(crate) const SIM_CONFIG: &str = r#"
seed = 11

# risk polls GetAccount every 100 ms against a 50 ms gateway cache: lift the weight limits
[limits]
spot_weight_per_minute = 1000000
futures_weight_per_minute = 1000000
sapi_weight_per_minute = 1000000

[[accounts]]
name = "paper"
api_key = "fff-paper-key"
api_secret = "fff-paper-secret"
spot = { USDT = "20000" }
margin = { USDT = "20000" }
futures = { USDT = "3000" }

[[symbols]]
base = "BTC"
price = "100000"
volatility = 0.0
margin = true
spot = { tick_size = "0.01", step_size = "0.00001", min_notional = "5", volume_24h = "1800000000" }
perp = { tick_size = "0.1", step_size = "0.001", min_notional = "100", volume_24h = "12000000000", funding_interval_hours = 8, funding_rate = "0.0001", open_interest = "80000", maint_margin_rate = "0.004" }

[[assets]]
asset = "BTC"
daily_interest_rate = "0.0002"
borrow_limit = "100"
inventory = "10000"
"#;

/// Risk thresholds and timings for the tests.
pub(crate) const RISK_ENV: &[(&str, &str)] = &[
    ("FFF_RISK__GREEN_ABOVE", "40"),
    ("FFF_RISK__REDUCE_ABOVE", "30"),
    ("FFF_RISK__DELEVERAGE_ABOVE", "20"),
    ("FFF_RISK__TIER_HYSTERESIS", "2"),
    ("FFF_RISK_SERVICE__ACCOUNT_POLL_MS", "100"),
    ("FFF_RISK_SERVICE__SNAPSHOT_INTERVAL_SECS", "1"),
];

/// The gateway's account view at most 50 ms old, so risk sees a shock at once.
pub(crate) const GATEWAY_ENV: &[(&str, &str)] = &[("FFF_EXCHANGE__ACCOUNT_MAX_AGE_MS", "50")];

pub(crate) fn authorized<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {TOKEN}")).unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

pub(crate) async fn account(gateway: &mut GatewayClient<Channel>) -> gw::Account {
    gateway
        .get_account(gw::GetAccountRequest::default())
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap()
}

pub(crate) fn num(value: &str) -> f64 {
    // test arithmetic only: picking a shock size, not money handling
    value.parse().unwrap_or(0.0)
}

/// Waits until the gateway has a spot book and a mark price for BTCUSDT (market orders are
/// checked against them).
pub(crate) async fn wait_for_prices(gateway: &mut GatewayClient<Channel>) {
    use gw::stream_market_response::Event;
    let mut market = gateway
        .stream_market(gw::StreamMarketRequest {
            symbols: vec!["BTCUSDT".into()],
            kinds: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let (mut spot_book, mut mark) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(spot_book && mark) {
        assert!(
            Instant::now() < deadline,
            "no BTCUSDT prices from the gateway"
        );
        match tokio::time::timeout(Duration::from_secs(20), market.next()).await {
            Ok(Some(Ok(event))) => match event.event {
                Some(Event::BookTicker(book)) => {
                    spot_book |= book.venue() == common::Venue::SpotMargin;
                }
                Some(Event::MarkPrice(_)) => mark = true,
                _ => {}
            },
            other => panic!("market stream: {other:?}"),
        }
    }
}

/// Moves the BTC price so the futures coverage lands near `target` (one BTC perp position,
/// waited for: the gateway's account view follows the fills a moment later).
pub(crate) async fn shock_to_coverage(
    sim: &SimProcess,
    gateway: &mut GatewayClient<Channel>,
    target: f64,
) -> Instant {
    let found = wait_for(Duration::from_secs(10), || {
        let mut gateway = gateway.clone();
        async move {
            let account = gateway
                .get_account(gw::GetAccountRequest::default())
                .await
                .ok()?
                .into_inner()
                .account?;
            let position = account
                .positions
                .iter()
                .find(|p| p.symbol == "BTCUSDT" && num(&p.position_amt) != 0.0)?
                .clone();
            Some((account, position))
        }
    })
    .await;
    let Ok((account, position)) = found else {
        let state = sim.http("GET", "/admin/state", "").await;
        panic!(
            "no BTCUSDT perp position at the gateway; sim positions {} orders {}",
            state["positions"], state["orders"]
        );
    };
    let balance = num(&account.futures_margin_balance_usdt);
    let maint = num(&account.futures_maint_margin_usdt);
    let signed_notional = num(&position.position_amt) * num(&position.mark_price);
    // balance + notional * x = target * maint * (1 + x)
    let x = (target * maint - balance) / (signed_notional - target * maint);
    let body = format!(r#"{{"symbol":"BTCUSDT","pct":"{:.4}"}}"#, x * 100.0);
    let answer = sim.http("POST", "/admin/shock", &body).await;
    assert!(answer.get("code").is_none(), "shock: {answer}");
    Instant::now()
}

/// How many orders the simulator has received.
pub(crate) async fn sim_order_count(sim: &SimProcess) -> usize {
    let state = sim.http("GET", "/admin/state", "").await;
    state["orders"].as_array().map_or(0, Vec::len)
}

/// Sim, gateway, risk and executor, with one 10 000 USDT BTC hedge opened through the
/// executor (risk-approved) and reported OPEN.
pub(crate) struct HedgedStack {
    pub sim: SimProcess,
    pub gateway: GatewayClient<Channel>,
    pub risk: RiskClient<Channel>,
    pub executor: ex::executor_client::ExecutorClient<Channel>,
    _roles: Vec<RoleProcess>,
    _db: TestDb,
}

/// [`HedgedStack`]; `env` goes to both risk and the executor (after the rig's own), and
/// `request_id` names the opening request.
pub(crate) async fn hedged_stack(env: &[(&str, &str)], request_id: &str) -> HedgedStack {
    let db = test_database().await.unwrap();
    let sim = start_sim_with_config(SIM_CONFIG).await.unwrap();
    let gateway_role = start_gateway(&sim, GATEWAY_ENV).await.unwrap();
    let mut gateway = GatewayClient::new(channel(gateway_role.addr).await);
    let gateway_url = format!("http://{}", gateway_role.addr);
    let mut common_env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url()),
        ("FFF_SERVICES__GATEWAY", &gateway_url),
    ];
    common_env.extend_from_slice(env);
    let mut risk_env = common_env.clone();
    risk_env.extend_from_slice(RISK_ENV);
    let risk_role = start_role("risk", &risk_env).await.unwrap();
    let risk_url = format!("http://{}", risk_role.addr);
    let nowhere = format!("http://127.0.0.1:{}", free_port().unwrap());
    let scanners = format!("[\"{nowhere}\"]");
    let mut executor_env = common_env.clone();
    executor_env.extend_from_slice(&[
        ("FFF_SERVICES__RISK", risk_url.as_str()),
        ("FFF_SERVICES__REBALANCER", nowhere.as_str()),
        ("FFF_SERVICES__SCANNERS", scanners.as_str()),
    ]);
    let executor_role = start_role("executor", &executor_env).await.unwrap();
    let executor = ex::executor_client::ExecutorClient::new(channel(executor_role.addr).await);
    wait_for_prices(&mut gateway).await;
    let open = ex::OpenPositionRequest {
        request_id: request_id.into(),
        symbol: "BTCUSDT".into(),
        direction: common::Direction::PositiveCarry as i32,
        notional: "10000".into(),
        leverage: Some(5),
        reason: "small-wallet end-to-end test".into(),
    };
    // the executor refuses entries until its start-up reconciliation is done
    let opened = wait_for(Duration::from_secs(20), || {
        let mut executor = executor.clone();
        let open = open.clone();
        async move {
            match executor.open_position(authorized(open)).await {
                Ok(opened) => Some(opened.into_inner()),
                Err(status) if status.message().contains("reconciliation") => None,
                Err(status) => panic!("open refused: {status:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(!opened.position.unwrap().approval_id.is_empty());
    // both legs filled: the executor reports the hedge OPEN
    wait_for(Duration::from_secs(30), || {
        let mut executor = executor.clone();
        async move {
            let positions = executor
                .list_positions(ex::ListPositionsRequest::default())
                .await
                .ok()?
                .into_inner()
                .positions;
            positions
                .iter()
                .any(|p| p.status() == ex::PositionStatus::Open)
                .then_some(())
        }
    })
    .await
    .unwrap();
    let risk = RiskClient::new(channel(risk_role.addr).await);
    HedgedStack {
        sim,
        gateway,
        risk,
        executor,
        _roles: vec![executor_role, risk_role, gateway_role],
        _db: db,
    }
}

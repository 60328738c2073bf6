//! Starts a simulator and a gateway (port 0) pointed at it, and waits until it is ready.

use std::net::SocketAddr;
use std::time::Duration;

use fff_proto::fff::gateway::v1::GetUniverseRequest;
use fff_proto::fff::gateway::v1::gateway_client::GatewayClient;
use fff_runtime::{FffConfig, RoleContext, SecretString, Secrets};
use fff_sim::{SimConfig, SimHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

pub const TOKEN: &str = "gateway-test-token";

pub struct Running {
    pub sim: SimHandle,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Short timeouts so unknown outcomes resolve within a test's patience.
pub fn config_for(sim: &SimHandle) -> FffConfig {
    let mut config = FffConfig::default();
    let urls = &sim.urls;
    config.exchange.spot_rest = Some(urls.spot_rest.clone());
    config.exchange.futures_rest = Some(urls.futures_rest.clone());
    config.exchange.futures_ws = Some(urls.futures_ws.clone());
    config.exchange.spot_ws_api = Some(urls.spot_ws_api.clone());
    config.exchange.margin_risk_ws = Some(urls.margin_risk_ws.clone());
    config.exchange.request_timeout_ms = 1_000;
    config.exchange.recv_window_ms = 1_000;
    config.exchange.spot_book_poll_ms = 200;
    config.exchange.account_max_age_ms = 1_000;
    config
}

pub async fn start() -> Running {
    start_with(Secrets::default()).await
}

/// [`start`] with secrets (e.g. a database URL).
pub async fn start_with(secrets: Secrets) -> Running {
    let sim = fff_sim::spawn(SimConfig::default()).await.unwrap();
    let (addr, stop) = gateway_for(&sim, secrets).await;
    Running {
        sim,
        addr,
        stop: Some(stop),
    }
}

/// A gateway on `sim`, ready; it stops when the sender is dropped or fired.
pub async fn gateway_for(sim: &SimHandle, secrets: Secrets) -> (SocketAddr, oneshot::Sender<()>) {
    gateway_with(config_for(sim), secrets).await
}

/// [`gateway_for`] with a configuration of the caller's.
pub async fn gateway_with(
    config: FffConfig,
    secrets: Secrets,
) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let context = RoleContext::new(config)
        .with_auth_token(SecretString::from(TOKEN))
        .with_secrets(secrets);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(err) = fff_gateway::run(context, listener, shutdown).await {
            eprintln!("gateway failed: {err:#}");
        }
    });
    fff_testkit::wait_until(Duration::from_secs(20), || async move {
        let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        else {
            return false;
        };
        GatewayClient::new(channel)
            .get_universe(GetUniverseRequest::default())
            .await
            .is_ok()
    })
    .await
    .unwrap();
    (addr, stop)
}

pub async fn client(addr: SocketAddr) -> GatewayClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    GatewayClient::new(channel)
}

pub fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {TOKEN}")).unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

/// Orders the simulator holds for `client_order_id` (any venue, any state).
pub fn sim_orders_with(sim: &SimHandle, client_order_id: &str) -> usize {
    sim.with_exchange(|ex| {
        ex.orders
            .values()
            .filter(|o| o.client_id == client_order_id)
            .count()
    })
}

//! What a run reads: positions from the executor, instruments (prices, funding, borrow rates,
//! filters) from the gateway, the entry halt from risk. Behind a trait so runs can be tested
//! with fakes.

use std::future::Future;

use fff_proto::fff::executor::v1::{self as ex, executor_client::ExecutorClient};
use fff_proto::fff::gateway::v1::{self as gw, gateway_client::GatewayClient};
use fff_proto::fff::risk::v1::{self as risk, risk_client::RiskClient};
use fff_runtime::telemetry::ClientInterceptor;
use rust_decimal::Decimal;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Most pages read from ListPositions in one run (500 positions each).
const MAX_PAGES: usize = 20;

/// The inputs of a run.
pub trait Upstreams: Send + Sync + 'static {
    /// Live positions (the executor's default filter), all pages.
    fn live_positions(&self) -> impl Future<Output = Result<Vec<ex::Position>, Status>> + Send;
    /// Instruments for `symbols` (empty = all), including halted ones.
    fn instruments(
        &self,
        symbols: Vec<String>,
    ) -> impl Future<Output = Result<Vec<gw::Instrument>, Status>> + Send;
    /// Whether risk currently halts new entries.
    fn entries_halted(&self) -> impl Future<Output = Result<bool, Status>> + Send;
    /// The last settled funding rates of `symbol`, newest first (per funding interval).
    fn recent_funding(
        &self,
        symbol: String,
    ) -> impl Future<Output = Result<Vec<Decimal>, Status>> + Send {
        let _ = symbol;
        async { Ok(Vec::new()) }
    }
}

/// Settlements looked at when deciding whether a reversal persisted.
const RECENT_SETTLEMENTS: u32 = 8;

type Intercepted = InterceptedService<Channel, ClientInterceptor>;

/// The real peers over gRPC.
#[derive(Debug, Clone)]
pub struct GrpcUpstreams {
    executor: ExecutorClient<Intercepted>,
    gateway: GatewayClient<Intercepted>,
    risk: RiskClient<Intercepted>,
}

impl GrpcUpstreams {
    pub fn new(
        executor: Channel,
        gateway: Channel,
        risk: Channel,
        interceptor: ClientInterceptor,
    ) -> Self {
        Self {
            executor: ExecutorClient::with_interceptor(executor, interceptor.clone()),
            gateway: GatewayClient::with_interceptor(gateway, interceptor.clone()),
            risk: RiskClient::with_interceptor(risk, interceptor),
        }
    }
}

impl Upstreams for GrpcUpstreams {
    async fn live_positions(&self) -> Result<Vec<ex::Position>, Status> {
        let mut client = self.executor.clone();
        let mut positions = Vec::new();
        let mut page_token = String::new();
        for _ in 0..MAX_PAGES {
            let page = client
                .list_positions(ex::ListPositionsRequest {
                    page_size: 500,
                    page_token: page_token.clone(),
                    ..ex::ListPositionsRequest::default()
                })
                .await?
                .into_inner();
            positions.extend(page.positions);
            if page.next_page_token.is_empty() {
                return Ok(positions);
            }
            page_token = page.next_page_token;
        }
        Err(Status::resource_exhausted(format!(
            "more than {} live positions",
            MAX_PAGES * 500
        )))
    }

    async fn instruments(&self, symbols: Vec<String>) -> Result<Vec<gw::Instrument>, Status> {
        let response = self
            .gateway
            .clone()
            .get_universe(gw::GetUniverseRequest {
                symbols,
                include_non_trading: true,
            })
            .await?;
        Ok(response.into_inner().instruments)
    }

    async fn recent_funding(&self, symbol: String) -> Result<Vec<Decimal>, Status> {
        let response = self
            .gateway
            .clone()
            .list_funding_rates(gw::ListFundingRatesRequest {
                symbol,
                range: None,
                page_size: RECENT_SETTLEMENTS,
                page_token: String::new(),
            })
            .await?;
        response
            .into_inner()
            .records
            .iter()
            .map(|r| {
                r.funding_rate
                    .parse::<Decimal>()
                    .map_err(|e| Status::internal(format!("malformed funding_rate: {e}")))
            })
            .collect()
    }

    async fn entries_halted(&self) -> Result<bool, Status> {
        let response = self
            .risk
            .clone()
            .get_risk_state(risk::GetRiskStateRequest {})
            .await?;
        Ok(response
            .into_inner()
            .state
            .is_some_and(|s| s.entries_halted))
    }
}

//! `fff.gateway.v1.Gateway` handlers.
//!
//! The foundation wires the role (health, reflection, auth, tracing, shutdown); the handlers'
//! behaviour lands with issue #4. Until then every RPC answers UNIMPLEMENTED with the
//! method's name, so a client can tell "not built yet" from a failure.

use std::pin::Pin;

use fff_proto::fff::gateway::v1::{self as pb, gateway_server::Gateway};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The role's gRPC service.
#[derive(Debug, Default)]
pub struct GatewayService;

fn not_built(method: &str) -> Status {
    Status::unimplemented(format!(
        "gateway.{method} is not implemented yet (issue #4)"
    ))
}

#[tonic::async_trait]
impl Gateway for GatewayService {
    async fn get_universe(
        &self,
        _request: Request<pb::GetUniverseRequest>,
    ) -> Result<Response<pb::GetUniverseResponse>, Status> {
        Err(not_built("GetUniverse"))
    }

    type StreamMarketStream = ResponseStream<pb::StreamMarketResponse>;

    async fn stream_market(
        &self,
        _request: Request<pb::StreamMarketRequest>,
    ) -> Result<Response<Self::StreamMarketStream>, Status> {
        Err(not_built("StreamMarket"))
    }

    async fn get_account(
        &self,
        _request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        Err(not_built("GetAccount"))
    }

    type StreamAccountStream = ResponseStream<pb::StreamAccountResponse>;

    async fn stream_account(
        &self,
        _request: Request<pb::StreamAccountRequest>,
    ) -> Result<Response<Self::StreamAccountStream>, Status> {
        Err(not_built("StreamAccount"))
    }

    async fn place_order(
        &self,
        _request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        Err(not_built("PlaceOrder"))
    }

    async fn cancel_order(
        &self,
        _request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        Err(not_built("CancelOrder"))
    }

    async fn cancel_all_orders(
        &self,
        _request: Request<pb::CancelAllOrdersRequest>,
    ) -> Result<Response<pb::CancelAllOrdersResponse>, Status> {
        Err(not_built("CancelAllOrders"))
    }

    async fn get_order(
        &self,
        _request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        Err(not_built("GetOrder"))
    }

    async fn list_open_orders(
        &self,
        _request: Request<pb::ListOpenOrdersRequest>,
    ) -> Result<Response<pb::ListOpenOrdersResponse>, Status> {
        Err(not_built("ListOpenOrders"))
    }

    async fn set_leverage(
        &self,
        _request: Request<pb::SetLeverageRequest>,
    ) -> Result<Response<pb::SetLeverageResponse>, Status> {
        Err(not_built("SetLeverage"))
    }

    async fn set_margin_type(
        &self,
        _request: Request<pb::SetMarginTypeRequest>,
    ) -> Result<Response<pb::SetMarginTypeResponse>, Status> {
        Err(not_built("SetMarginType"))
    }

    async fn borrow(
        &self,
        _request: Request<pb::BorrowRequest>,
    ) -> Result<Response<pb::BorrowResponse>, Status> {
        Err(not_built("Borrow"))
    }

    async fn repay(
        &self,
        _request: Request<pb::RepayRequest>,
    ) -> Result<Response<pb::RepayResponse>, Status> {
        Err(not_built("Repay"))
    }

    async fn transfer(
        &self,
        _request: Request<pb::TransferRequest>,
    ) -> Result<Response<pb::TransferResponse>, Status> {
        Err(not_built("Transfer"))
    }

    async fn get_max_borrowable(
        &self,
        _request: Request<pb::GetMaxBorrowableRequest>,
    ) -> Result<Response<pb::GetMaxBorrowableResponse>, Status> {
        Err(not_built("GetMaxBorrowable"))
    }

    async fn list_funding_rates(
        &self,
        _request: Request<pb::ListFundingRatesRequest>,
    ) -> Result<Response<pb::ListFundingRatesResponse>, Status> {
        Err(not_built("ListFundingRates"))
    }

    async fn list_income(
        &self,
        _request: Request<pb::ListIncomeRequest>,
    ) -> Result<Response<pb::ListIncomeResponse>, Status> {
        Err(not_built("ListIncome"))
    }
}

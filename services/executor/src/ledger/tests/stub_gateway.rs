//! A gateway on loopback gRPC serving the venue's history from memory: ListTrades (by order id; refused on chosen venues),
//! ListInterest (one page), ListIncome (one page, filtered by symbol and kinds) and an account stream that sends the events given, then stays open. It counts ListTrades calls. Every other RPC answers UNIMPLEMENTED.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fff_proto::fff::gateway::v1::{
    self as gw, gateway_server::Gateway, gateway_server::GatewayServer,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[derive(Default)]
pub struct History {
    /// Every execution the venue holds.
    pub trades: Mutex<Vec<gw::Fill>>,
    /// Every interest charge, newest first.
    pub interest: Mutex<Vec<gw::InterestRecord>>,
    /// Every income record, newest first.
    pub income: Mutex<Vec<gw::IncomeRecord>>,
    pub trade_calls: AtomicUsize,
    /// Events the account stream sends to each subscriber, then it stays open.
    pub account_events: Mutex<Vec<gw::StreamAccountResponse>>,
    /// ListTrades on these venues answers UNAVAILABLE (a gateway pausing for a 429, say).
    pub refused_venues: Mutex<Vec<i32>>,
}

impl History {
    pub fn trade_calls(&self) -> usize {
        self.trade_calls.load(Ordering::SeqCst)
    }
}

pub struct StubGateway {
    pub addr: SocketAddr,
    pub history: Arc<History>,
    _stop: oneshot::Sender<()>,
}

impl StubGateway {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let history = Arc::new(History::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let service = GatewayServer::new(Stub(history.clone()));
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        Self {
            addr,
            history,
            _stop: stop,
        }
    }

    pub fn client(&self) -> crate::exchange::GatewayClientT {
        gw::gateway_client::GatewayClient::with_interceptor(
            fff_runtime::grpc::channel(&format!("http://{}", self.addr)).unwrap(),
            fff_runtime::telemetry::ClientInterceptor::default(),
        )
    }
}

struct Stub(Arc<History>);

#[tonic::async_trait]
impl Gateway for Stub {
    type StreamMarketStream = ResponseStream<gw::StreamMarketResponse>;
    type StreamAccountStream = ResponseStream<gw::StreamAccountResponse>;

    async fn stream_market(
        &self,
        _r: Request<gw::StreamMarketRequest>,
    ) -> Result<Response<Self::StreamMarketStream>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn stream_account(
        &self,
        _r: Request<gw::StreamAccountRequest>,
    ) -> Result<Response<Self::StreamAccountStream>, Status> {
        let events: Vec<Result<gw::StreamAccountResponse, Status>> = self
            .0
            .account_events
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .map(Ok)
            .collect();
        Ok(Response::new(Box::pin(
            tokio_stream::iter(events).chain(tokio_stream::pending()),
        )))
    }

    async fn list_income(
        &self,
        r: Request<gw::ListIncomeRequest>,
    ) -> Result<Response<gw::ListIncomeResponse>, Status> {
        let r = r.into_inner();
        let records = self
            .0
            .income
            .lock()
            .unwrap()
            .iter()
            .filter(|i| r.symbol.is_empty() || i.symbol == r.symbol)
            .filter(|i| r.kinds.is_empty() || r.kinds.contains(&i.kind))
            .cloned()
            .collect();
        Ok(Response::new(gw::ListIncomeResponse {
            records,
            next_page_token: String::new(),
        }))
    }

    async fn list_trades(
        &self,
        r: Request<gw::ListTradesRequest>,
    ) -> Result<Response<gw::ListTradesResponse>, Status> {
        self.0.trade_calls.fetch_add(1, Ordering::SeqCst);
        let r = r.into_inner();
        if self.0.refused_venues.lock().unwrap().contains(&r.venue) {
            return Err(Status::unavailable("rate limited, retry after 1s"));
        }
        let fills = self
            .0
            .trades
            .lock()
            .unwrap()
            .iter()
            .filter(|f| {
                f.symbol == r.symbol
                    && (r.exchange_order_id == 0 || f.exchange_order_id == r.exchange_order_id)
            })
            .cloned()
            .collect();
        Ok(Response::new(gw::ListTradesResponse { fills }))
    }

    async fn list_interest(
        &self,
        _r: Request<gw::ListInterestRequest>,
    ) -> Result<Response<gw::ListInterestResponse>, Status> {
        Ok(Response::new(gw::ListInterestResponse {
            records: self.0.interest.lock().unwrap().clone(),
            next_page_token: String::new(),
        }))
    }

    async fn get_universe(
        &self,
        _r: Request<gw::GetUniverseRequest>,
    ) -> Result<Response<gw::GetUniverseResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn get_account(
        &self,
        _r: Request<gw::GetAccountRequest>,
    ) -> Result<Response<gw::GetAccountResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn place_order(
        &self,
        _r: Request<gw::PlaceOrderRequest>,
    ) -> Result<Response<gw::PlaceOrderResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn cancel_order(
        &self,
        _r: Request<gw::CancelOrderRequest>,
    ) -> Result<Response<gw::CancelOrderResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn cancel_all_orders(
        &self,
        _r: Request<gw::CancelAllOrdersRequest>,
    ) -> Result<Response<gw::CancelAllOrdersResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn get_order(
        &self,
        _r: Request<gw::GetOrderRequest>,
    ) -> Result<Response<gw::GetOrderResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn list_open_orders(
        &self,
        _r: Request<gw::ListOpenOrdersRequest>,
    ) -> Result<Response<gw::ListOpenOrdersResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn set_leverage(
        &self,
        _r: Request<gw::SetLeverageRequest>,
    ) -> Result<Response<gw::SetLeverageResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn set_margin_type(
        &self,
        _r: Request<gw::SetMarginTypeRequest>,
    ) -> Result<Response<gw::SetMarginTypeResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn borrow(
        &self,
        _r: Request<gw::BorrowRequest>,
    ) -> Result<Response<gw::BorrowResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn repay(
        &self,
        _r: Request<gw::RepayRequest>,
    ) -> Result<Response<gw::RepayResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn transfer(
        &self,
        _r: Request<gw::TransferRequest>,
    ) -> Result<Response<gw::TransferResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn get_max_borrowable(
        &self,
        _r: Request<gw::GetMaxBorrowableRequest>,
    ) -> Result<Response<gw::GetMaxBorrowableResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }

    async fn list_funding_rates(
        &self,
        _r: Request<gw::ListFundingRatesRequest>,
    ) -> Result<Response<gw::ListFundingRatesResponse>, Status> {
        Err(Status::unimplemented("stub gateway"))
    }
}

//! A hand-written Gateway serving GetUniverse and StreamMarket from memory, with knobs to push
//! live events, force a Resync and count calls. Every other RPC answers UNIMPLEMENTED.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fff_proto::fff::common::v1::{InstrumentStatus, Resync, SnapshotComplete, Venue};
use fff_proto::fff::gateway::v1::{
    self as gw, gateway_server::Gateway, gateway_server::GatewayServer,
    stream_market_response::Event,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A universe shaped like the simulator's: three qualifying pairs and one per failing filter.
pub fn universe() -> Vec<gw::Instrument> {
    let mut thin = instrument("LSKUSDT", "0.0006", 4);
    thin.spot_quote_volume_24h = "120000".into();
    let mut no_margin = instrument("ORCAUSDT", "-0.0005", 4);
    no_margin.margin_trading_allowed = false;
    no_margin.base_borrowable = false;
    no_margin.base_borrow_rate_hourly = String::new();
    let mut costly = instrument("ADAUSDT", "-0.00006", 4);
    costly.base_borrow_rate_hourly = "0.000025".into();
    let mut halted = instrument("HALTUSDT", "0.001", 8);
    halted.status = InstrumentStatus::Halted as i32;
    vec![
        instrument("BTCUSDT", "0.0001", 8),
        instrument("DOGEUSDT", "0.0004", 1),
        instrument("SOLUSDT", "-0.0002", 4),
        instrument("XRPUSDT", "0.00015", 4),
        thin,
        no_margin,
        costly,
        halted,
    ]
}

pub fn instrument(symbol: &str, funding: &str, interval: u32) -> gw::Instrument {
    gw::Instrument {
        symbol: symbol.to_owned(),
        base_asset: symbol.trim_end_matches("USDT").to_owned(),
        quote_asset: "USDT".to_owned(),
        status: InstrumentStatus::Trading as i32,
        spot_status: InstrumentStatus::Trading as i32,
        perp_status: InstrumentStatus::Trading as i32,
        margin_trading_allowed: true,
        margin_buy_allowed: true,
        margin_sell_allowed: true,
        base_borrowable: true,
        base_borrow_rate_hourly: "0.00000833".to_owned(),
        funding_interval_hours: interval,
        last_funding_rate: funding.to_owned(),
        mark_price: "100".to_owned(),
        index_price: "100".to_owned(),
        spot_quote_volume_24h: "400000000".to_owned(),
        perp_quote_volume_24h: "2500000000".to_owned(),
        open_interest_usdt: "1000000000".to_owned(),
        spot_taker_fee_rate: "0.001".to_owned(),
        perp_taker_fee_rate: "0.0005".to_owned(),
        next_funding_time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        ..gw::Instrument::default()
    }
}

pub fn mark(symbol: &str, funding: &str, interval: u32) -> gw::StreamMarketResponse {
    gw::StreamMarketResponse {
        symbol: symbol.to_owned(),
        event: Some(Event::MarkPrice(gw::MarkPriceUpdate {
            mark_price: "100".to_owned(),
            index_price: "100".to_owned(),
            funding_rate: funding.to_owned(),
            next_funding_time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            funding_interval_hours: interval,
            ..gw::MarkPriceUpdate::default()
        })),
        ..gw::StreamMarketResponse::default()
    }
}

fn book(symbol: &str, venue: Venue) -> gw::StreamMarketResponse {
    gw::StreamMarketResponse {
        symbol: symbol.to_owned(),
        snapshot: true,
        event: Some(Event::BookTicker(gw::BookTicker {
            venue: venue as i32,
            bid_price: "99.999".to_owned(),
            ask_price: "100.001".to_owned(),
            bid_qty: "10".to_owned(),
            ask_qty: "10".to_owned(),
            update_id: 1,
        })),
        ..gw::StreamMarketResponse::default()
    }
}

/// Shared state of the fake.
#[derive(Debug)]
pub struct FakeState {
    pub universe: Mutex<Vec<gw::Instrument>>,
    pub live: broadcast::Sender<gw::StreamMarketResponse>,
    pub universe_calls: AtomicUsize,
    pub subscriptions: Mutex<Vec<Vec<String>>>,
    /// ListFundingRates answers four settlements at the instrument's rate; false: UNIMPLEMENTED.
    pub serve_history: std::sync::atomic::AtomicBool,
    pub history_calls: AtomicUsize,
}

impl FakeState {
    /// Pushes a live event to every subscriber.
    pub fn push(&self, event: gw::StreamMarketResponse) {
        let _ = self.live.send(event);
    }

    /// Tells every subscriber that events were lost.
    pub fn resync(&self) {
        self.push(gw::StreamMarketResponse {
            event: Some(Event::Resync(Resync {
                reason: 1,
                detail: "test".into(),
                last_sequence: 0,
            })),
            ..gw::StreamMarketResponse::default()
        });
    }
}

#[derive(Debug, Clone)]
struct FakeGateway(Arc<FakeState>);

/// A running fake; stops when dropped.
pub struct FakeHandle {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    _stop: oneshot::Sender<()>,
}

impl FakeHandle {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn start() -> FakeHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener).await
}

pub async fn start_on(listener: TcpListener) -> FakeHandle {
    let addr = listener.local_addr().unwrap();
    let (live, _) = broadcast::channel(1024);
    let state = Arc::new(FakeState {
        universe: Mutex::new(universe()),
        live,
        universe_calls: AtomicUsize::new(0),
        subscriptions: Mutex::new(Vec::new()),
        serve_history: std::sync::atomic::AtomicBool::new(true),
        history_calls: AtomicUsize::new(0),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let service = GatewayServer::new(FakeGateway(state.clone()));
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
    FakeHandle {
        addr,
        state,
        _stop: stop,
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("fake gateway"))
}

#[tonic::async_trait]
impl Gateway for FakeGateway {
    async fn get_universe(
        &self,
        _request: Request<gw::GetUniverseRequest>,
    ) -> Result<Response<gw::GetUniverseResponse>, Status> {
        self.0.universe_calls.fetch_add(1, Ordering::SeqCst);
        let instruments = self.0.universe.lock().unwrap().clone();
        Ok(Response::new(gw::GetUniverseResponse {
            instruments,
            as_of: None,
        }))
    }

    type StreamMarketStream = ResponseStream<gw::StreamMarketResponse>;

    async fn stream_market(
        &self,
        request: Request<gw::StreamMarketRequest>,
    ) -> Result<Response<Self::StreamMarketStream>, Status> {
        let symbols = request.into_inner().symbols;
        self.0.subscriptions.lock().unwrap().push(symbols.clone());
        let mut live = self.0.live.subscribe();
        let universe = self.0.universe.lock().unwrap().clone();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let wanted = |s: &str| symbols.is_empty() || symbols.iter().any(|x| x == s);
            let mut sequence = 0u64;
            let mut count = 0u32;
            for instrument in universe.iter().filter(|i| wanted(&i.symbol)) {
                let mut m = mark(
                    &instrument.symbol,
                    &instrument.last_funding_rate,
                    instrument.funding_interval_hours,
                );
                m.snapshot = true;
                for mut event in [
                    m,
                    book(&instrument.symbol, Venue::SpotMargin),
                    book(&instrument.symbol, Venue::UsdmPerp),
                ] {
                    sequence += 1;
                    count += 1;
                    event.sequence = sequence;
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
            sequence += 1;
            let complete = gw::StreamMarketResponse {
                sequence,
                event: Some(Event::SnapshotComplete(SnapshotComplete {
                    event_count: count,
                })),
                ..gw::StreamMarketResponse::default()
            };
            if tx.send(Ok(complete)).await.is_err() {
                return;
            }
            while let Ok(mut event) = live.recv().await {
                if !event.symbol.is_empty() && !wanted(&event.symbol) {
                    continue;
                }
                sequence += 1;
                event.sequence = sequence;
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_account(
        &self,
        _r: Request<gw::GetAccountRequest>,
    ) -> Result<Response<gw::GetAccountResponse>, Status> {
        unimplemented()
    }

    type StreamAccountStream = ResponseStream<gw::StreamAccountResponse>;

    async fn stream_account(
        &self,
        _r: Request<gw::StreamAccountRequest>,
    ) -> Result<Response<Self::StreamAccountStream>, Status> {
        unimplemented()
    }

    async fn place_order(
        &self,
        _r: Request<gw::PlaceOrderRequest>,
    ) -> Result<Response<gw::PlaceOrderResponse>, Status> {
        unimplemented()
    }

    async fn cancel_order(
        &self,
        _r: Request<gw::CancelOrderRequest>,
    ) -> Result<Response<gw::CancelOrderResponse>, Status> {
        unimplemented()
    }

    async fn cancel_all_orders(
        &self,
        _r: Request<gw::CancelAllOrdersRequest>,
    ) -> Result<Response<gw::CancelAllOrdersResponse>, Status> {
        unimplemented()
    }

    async fn get_order(
        &self,
        _r: Request<gw::GetOrderRequest>,
    ) -> Result<Response<gw::GetOrderResponse>, Status> {
        unimplemented()
    }

    async fn list_open_orders(
        &self,
        _r: Request<gw::ListOpenOrdersRequest>,
    ) -> Result<Response<gw::ListOpenOrdersResponse>, Status> {
        unimplemented()
    }

    async fn set_leverage(
        &self,
        _r: Request<gw::SetLeverageRequest>,
    ) -> Result<Response<gw::SetLeverageResponse>, Status> {
        unimplemented()
    }

    async fn set_margin_type(
        &self,
        _r: Request<gw::SetMarginTypeRequest>,
    ) -> Result<Response<gw::SetMarginTypeResponse>, Status> {
        unimplemented()
    }

    async fn borrow(
        &self,
        _r: Request<gw::BorrowRequest>,
    ) -> Result<Response<gw::BorrowResponse>, Status> {
        unimplemented()
    }

    async fn repay(
        &self,
        _r: Request<gw::RepayRequest>,
    ) -> Result<Response<gw::RepayResponse>, Status> {
        unimplemented()
    }

    async fn transfer(
        &self,
        _r: Request<gw::TransferRequest>,
    ) -> Result<Response<gw::TransferResponse>, Status> {
        unimplemented()
    }

    async fn get_max_borrowable(
        &self,
        _r: Request<gw::GetMaxBorrowableRequest>,
    ) -> Result<Response<gw::GetMaxBorrowableResponse>, Status> {
        unimplemented()
    }

    async fn list_funding_rates(
        &self,
        request: Request<gw::ListFundingRatesRequest>,
    ) -> Result<Response<gw::ListFundingRatesResponse>, Status> {
        self.0.history_calls.fetch_add(1, Ordering::SeqCst);
        if !self.0.serve_history.load(Ordering::SeqCst) {
            return unimplemented();
        }
        let symbol = request.into_inner().symbol;
        let universe = self.0.universe.lock().unwrap().clone();
        let instrument = universe
            .iter()
            .find(|i| i.symbol == symbol)
            .ok_or_else(|| Status::not_found("unknown symbol"))?;
        let records = (0..4)
            .map(|i| gw::FundingRateRecord {
                symbol: symbol.clone(),
                funding_time: Some(prost_types::Timestamp {
                    seconds: 1_800_000_000 - i * 28_800,
                    nanos: 0,
                }),
                funding_rate: instrument.last_funding_rate.clone(),
                mark_price: String::new(),
            })
            .collect();
        Ok(Response::new(gw::ListFundingRatesResponse {
            records,
            next_page_token: String::new(),
        }))
    }

    async fn list_income(
        &self,
        _r: Request<gw::ListIncomeRequest>,
    ) -> Result<Response<gw::ListIncomeResponse>, Status> {
        unimplemented()
    }

    async fn list_trades(
        &self,
        _r: Request<gw::ListTradesRequest>,
    ) -> Result<Response<gw::ListTradesResponse>, Status> {
        unimplemented()
    }

    async fn list_interest(
        &self,
        _r: Request<gw::ListInterestRequest>,
    ) -> Result<Response<gw::ListInterestResponse>, Status> {
        unimplemented()
    }
}

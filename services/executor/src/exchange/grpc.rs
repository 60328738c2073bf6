//! [`Exchange`] over the gateway's gRPC API. Every call carries the bearer token and the
//! caller's trace context ([`ClientInterceptor`]).

use fff_core::{Side, Venue};
use fff_proto::convert::{decimal_to_string, parse_decimal, parse_optional_decimal};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as gw;
use fff_proto::fff::gateway::v1::gateway_client::GatewayClient;
use fff_runtime::telemetry::ClientInterceptor;
use fff_store::{OrderStatus, SideEffect};
use rust_decimal::Decimal;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::{
    AccountView, Books, Exchange, ExchangeError, InstrumentInfo, MakerOrder, MarginAsset,
    OrderKind, OrderReport, OrderRequest, Quote, Wallet, WalletView,
};

/// Bound on reading the gateway's book snapshot of one symbol.
const BOOKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub type GatewayClientT = GatewayClient<InterceptedService<Channel, ClientInterceptor>>;

/// The gateway as the executor's exchange.
#[derive(Clone)]
pub struct GatewayExchange {
    client: GatewayClientT,
}

impl std::fmt::Debug for GatewayExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayExchange").finish_non_exhaustive()
    }
}

impl GatewayExchange {
    pub fn new(client: GatewayClientT) -> Self {
        Self { client }
    }

    pub fn client(&self) -> GatewayClientT {
        self.client.clone()
    }
}

/// Definite refusals vs unknown outcomes (house rule 14).
pub fn classify(status: &tonic::Status) -> ExchangeError {
    match status.code() {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::OutOfRange
        | Code::AlreadyExists
        | Code::NotFound
        | Code::Unimplemented => ExchangeError::Rejected(status.message().to_owned()),
        _ => ExchangeError::Unknown(format!("{:?}: {}", status.code(), status.message())),
    }
}

fn wire_venue(venue: Venue) -> i32 {
    common::Venue::from(venue) as i32
}

fn wire_side(side: Side) -> i32 {
    common::Side::from(side) as i32
}

fn wire_side_effect(effect: SideEffect) -> common::MarginSideEffect {
    match effect {
        SideEffect::NoSideEffect => common::MarginSideEffect::NoSideEffect,
        SideEffect::MarginBuy => common::MarginSideEffect::MarginBuy,
        SideEffect::AutoRepay => common::MarginSideEffect::AutoRepay,
        SideEffect::AutoBorrowRepay => common::MarginSideEffect::AutoBorrowRepay,
    }
}

pub fn order_status(raw: i32) -> OrderStatus {
    match common::OrderStatus::try_from(raw).unwrap_or_default() {
        common::OrderStatus::New => OrderStatus::Acked,
        common::OrderStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
        common::OrderStatus::Filled => OrderStatus::Filled,
        common::OrderStatus::Canceled => OrderStatus::Canceled,
        common::OrderStatus::Rejected => OrderStatus::Rejected,
        common::OrderStatus::Expired => OrderStatus::Expired,
        common::OrderStatus::Pending | common::OrderStatus::Unspecified => OrderStatus::Unknown,
    }
}

/// Spot/margin orders carry a side effect; perp orders must leave it unset.
fn wire_leg_side_effect(venue: Venue, effect: SideEffect) -> common::MarginSideEffect {
    match venue {
        Venue::SpotMargin => wire_side_effect(effect),
        Venue::UsdmPerp => common::MarginSideEffect::Unspecified,
    }
}

fn bad_answer(err: impl std::fmt::Display) -> ExchangeError {
    // The request went out; a malformed answer leaves its outcome unknown.
    ExchangeError::Unknown(format!("malformed gateway answer: {err}"))
}

pub(crate) fn report(order: &gw::Order) -> Result<OrderReport, ExchangeError> {
    let avg_price = parse_optional_decimal("avg_price", &order.avg_price)
        .map_err(bad_answer)?
        .filter(|p| *p > Decimal::ZERO);
    Ok(OrderReport {
        client_order_id: order.client_order_id.clone(),
        status: order_status(order.status),
        exchange_order_id: i64::try_from(order.exchange_order_id)
            .ok()
            .filter(|id| *id > 0),
        executed_qty: parse_optional_decimal("executed_qty", &order.executed_qty)
            .map_err(bad_answer)?
            .unwrap_or_default(),
        avg_price,
        reject_reason: Some(order.reject_reason.clone()).filter(|r| !r.is_empty()),
    })
}

fn decimal_or_zero(field: &str, raw: &str) -> Result<Decimal, ExchangeError> {
    Ok(parse_optional_decimal(field, raw)
        .map_err(bad_answer)?
        .unwrap_or_default())
}

/// A market or limit IOC order on the wire; `first_send` when its intent was just created.
fn order_wire(request: &OrderRequest, first_send: bool) -> gw::PlaceOrderRequest {
    let (order_type, tif, price) = match request.kind {
        OrderKind::Market => (
            common::OrderType::Market,
            common::TimeInForce::Unspecified,
            "",
        ),
        OrderKind::LimitIoc(_) => (common::OrderType::Limit, common::TimeInForce::Ioc, ""),
    };
    let price = match request.kind {
        OrderKind::LimitIoc(p) => decimal_to_string(p),
        OrderKind::Market => price.to_owned(),
    };
    gw::PlaceOrderRequest {
        client_order_id: request.client_order_id.clone(),
        venue: wire_venue(request.venue),
        symbol: request.symbol.clone(),
        side: wire_side(request.side),
        r#type: order_type as i32,
        time_in_force: tif as i32,
        quantity: decimal_to_string(request.qty),
        price,
        reduce_only: request.reduce_only,
        margin_side_effect: wire_leg_side_effect(request.venue, request.side_effect) as i32,
        intent_id: request.client_order_id.clone(),
        first_send,
        hedge_on_fill: None,
    }
}

/// A post-only order on the wire: `LIMIT_MAKER` without time in force (the gateway sends
/// `LIMIT` + `GTX` on USDⓈ-M).
fn maker_wire(order: &MakerOrder) -> gw::PlaceOrderRequest {
    gw::PlaceOrderRequest {
        client_order_id: order.client_order_id.clone(),
        venue: wire_venue(order.venue),
        symbol: order.symbol.clone(),
        side: wire_side(order.side),
        r#type: common::OrderType::LimitMaker as i32,
        time_in_force: common::TimeInForce::Unspecified as i32,
        quantity: decimal_to_string(order.qty),
        price: decimal_to_string(order.price),
        reduce_only: order.reduce_only,
        margin_side_effect: wire_leg_side_effect(order.venue, order.side_effect) as i32,
        intent_id: order.client_order_id.clone(),
        first_send: false,
        hedge_on_fill: None,
    }
}

impl GatewayExchange {
    async fn place(&self, wire: gw::PlaceOrderRequest) -> Result<OrderReport, ExchangeError> {
        self.place_answer(wire).await.map(|(report, _)| report)
    }

    /// The order's report and whether the gateway sent its hedge on fill.
    async fn place_answer(
        &self,
        wire: gw::PlaceOrderRequest,
    ) -> Result<(OrderReport, bool), ExchangeError> {
        let response = self
            .client
            .clone()
            .place_order(wire)
            .await
            .map_err(|s| classify(&s))?
            .into_inner();
        let order = response
            .order
            .ok_or_else(|| bad_answer("PlaceOrder without order"))?;
        Ok((report(&order)?, response.hedge_sent))
    }
}

#[tonic::async_trait]
impl Exchange for GatewayExchange {
    async fn place_order(&self, request: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        self.place(order_wire(request, false)).await
    }

    async fn place_first(&self, request: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        self.place(order_wire(request, true)).await
    }

    async fn place_first_hedged(
        &self,
        request: &OrderRequest,
        hedge: &OrderRequest,
        step: Decimal,
    ) -> Result<(OrderReport, bool), ExchangeError> {
        let mut wire = order_wire(request, true);
        wire.hedge_on_fill = Some(Box::new(gw::HedgeOnFill {
            order: Some(Box::new(order_wire(hedge, true))),
            step: decimal_to_string(step),
        }));
        self.place_answer(wire).await
    }

    async fn place_maker(&self, order: &MakerOrder) -> Result<OrderReport, ExchangeError> {
        self.place(maker_wire(order)).await
    }

    async fn get_order(
        &self,
        venue: Venue,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        let wire = gw::GetOrderRequest {
            order: Some(gw::OrderRef {
                venue: wire_venue(venue),
                symbol: symbol.to_owned(),
                id: Some(gw::order_ref::Id::ClientOrderId(client_order_id.to_owned())),
            }),
        };
        match self.client.clone().get_order(wire).await {
            Ok(response) => match response.into_inner().order {
                Some(order) => report(&order).map(Some),
                None => Ok(None),
            },
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(ExchangeError::Unknown(status.message().to_owned())),
        }
    }

    async fn cancel_order(
        &self,
        venue: Venue,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<(), ExchangeError> {
        let wire = gw::CancelOrderRequest {
            order: Some(gw::OrderRef {
                venue: wire_venue(venue),
                symbol: symbol.to_owned(),
                id: Some(gw::order_ref::Id::ClientOrderId(client_order_id.to_owned())),
            }),
        };
        self.client
            .clone()
            .cancel_order(wire)
            .await
            .map(|_| ())
            .map_err(|s| classify(&s))
    }

    async fn prepare_perp(&self, symbol: &str, leverage: u32) -> Result<(), ExchangeError> {
        let mut client = self.client.clone();
        client
            .set_margin_type(gw::SetMarginTypeRequest {
                symbol: symbol.to_owned(),
                margin_type: common::MarginType::Crossed as i32,
            })
            .await
            .map_err(|s| classify(&s))?;
        client
            .set_leverage(gw::SetLeverageRequest {
                symbol: symbol.to_owned(),
                leverage,
            })
            .await
            .map_err(|s| classify(&s))?;
        Ok(())
    }

    async fn instrument(&self, symbol: &str) -> Result<InstrumentInfo, ExchangeError> {
        let response = self
            .client
            .clone()
            .get_universe(gw::GetUniverseRequest {
                symbols: vec![symbol.to_owned()],
                include_non_trading: true,
            })
            .await
            .map_err(|s| classify(&s))?
            .into_inner();
        let instrument = response
            .instruments
            .into_iter()
            .find(|i| i.symbol == symbol)
            .ok_or_else(|| ExchangeError::Rejected(format!("unknown symbol {symbol}")))?;
        instrument_info(&instrument)
    }

    async fn books(&self, symbol: &str) -> Result<Books, ExchangeError> {
        // StreamMarket opens with a snapshot of what the gateway holds (the last book ticker of
        // each venue), closed by SnapshotComplete: read that far and hang up
        let request = gw::StreamMarketRequest {
            symbols: vec![symbol.to_owned()],
            kinds: vec![gw::MarketEventKind::BookTicker as i32],
        };
        let read = async {
            let mut stream = self
                .client
                .clone()
                .stream_market(request)
                .await
                .map_err(|s| classify(&s))?
                .into_inner();
            let mut books = Books::default();
            while let Some(message) = stream.message().await.map_err(|s| classify(&s))? {
                match message.event {
                    Some(gw::stream_market_response::Event::BookTicker(book))
                        if message.symbol == symbol =>
                    {
                        let quote = Quote {
                            bid: decimal_or_zero("bid_price", &book.bid_price)?,
                            ask: decimal_or_zero("ask_price", &book.ask_price)?,
                        };
                        let quote = quote.is_sane().then_some(quote);
                        match common::Venue::try_from(book.venue) {
                            Ok(common::Venue::UsdmPerp) => books.perp = quote,
                            Ok(common::Venue::SpotMargin) => {
                                books.spot = quote;
                            }
                            _ => {}
                        }
                    }
                    Some(gw::stream_market_response::Event::SnapshotComplete(_)) => break,
                    _ => {}
                }
            }
            Ok::<_, ExchangeError>(books)
        };
        tokio::time::timeout(BOOKS_TIMEOUT, read)
            .await
            .map_err(|_| ExchangeError::Unknown("no book snapshot from the gateway".into()))?
    }

    async fn account(&self) -> Result<AccountView, ExchangeError> {
        self.account_after(0).await
    }

    async fn account_after(&self, sequence: u64) -> Result<AccountView, ExchangeError> {
        let account = self
            .client
            .clone()
            .get_account(gw::GetAccountRequest {
                after_sequence: sequence,
                ..gw::GetAccountRequest::default()
            })
            .await
            .map_err(|s| classify(&s))?
            .into_inner()
            .account
            .ok_or_else(|| bad_answer("GetAccount without account"))?;
        let margin_total =
            decimal_or_zero("margin_total_asset_usdt", &account.margin_total_asset_usdt)?;
        let margin_liability = decimal_or_zero(
            "margin_total_liability_usdt",
            &account.margin_total_liability_usdt,
        )?;
        let usdt_futures = account.futures_balances.iter().find(|b| b.asset == "USDT");
        let futures_max_withdraw = match usdt_futures {
            Some(b) => decimal_or_zero("max_withdraw", &b.max_withdraw)?,
            None => Decimal::ZERO,
        };
        let equity = decimal_or_zero("total_equity_usdt", &account.total_equity_usdt)?;
        let futures_margin_balance = decimal_or_zero(
            "futures_margin_balance_usdt",
            &account.futures_margin_balance_usdt,
        )?;
        let spot_usdt_free = match account.spot_balances.iter().find(|b| b.asset == "USDT") {
            Some(b) => decimal_or_zero("free", &b.free)?,
            None => Decimal::ZERO,
        };
        let margin_net_equity = margin_total - margin_liability;
        let mut view = AccountView {
            equity,
            wallets: WalletView {
                spot_usdt_free,
                // what is neither futures nor cross margin is the spot wallet
                spot_equity: (equity - futures_margin_balance - margin_net_equity)
                    .max(Decimal::ZERO),
                margin_net_equity,
                margin_liability,
                margin_level: if margin_liability > Decimal::ZERO {
                    parse_optional_decimal("margin_level", &account.margin_level)
                        .map_err(bad_answer)?
                } else {
                    None
                },
                futures_margin_balance,
                futures_maint_margin: decimal_or_zero(
                    "futures_maint_margin_usdt",
                    &account.futures_maint_margin_usdt,
                )?,
                futures_max_withdraw,
                futures_available: decimal_or_zero(
                    "futures_available_usdt",
                    &account.futures_available_usdt,
                )?,
            },
            ..AccountView::default()
        };
        for position in &account.positions {
            let amount = decimal_or_zero("position_amt", &position.position_amt)?;
            if !amount.is_zero() {
                view.perp_positions.insert(position.symbol.clone(), amount);
            }
        }
        for balance in &account.margin_balances {
            view.margin.insert(
                balance.asset.clone(),
                MarginAsset {
                    free: decimal_or_zero("free", &balance.free)?,
                    borrowed: decimal_or_zero("borrowed", &balance.borrowed)?,
                    interest: decimal_or_zero("interest", &balance.interest)?,
                    net: decimal_or_zero("net_asset", &balance.net_asset)?,
                },
            );
        }
        Ok(view)
    }

    async fn repay(
        &self,
        asset: &str,
        amount: Decimal,
        request_id: &str,
    ) -> Result<(), ExchangeError> {
        self.client
            .clone()
            .repay(gw::RepayRequest {
                asset: asset.to_owned(),
                amount: decimal_to_string(amount),
                request_id: request_id.to_owned(),
                intent_id: request_id.to_owned(),
            })
            .await
            .map(|_| ())
            .map_err(|s| classify(&s))
    }

    async fn transfer(
        &self,
        asset: &str,
        amount: Decimal,
        from: Wallet,
        to: Wallet,
        request_id: &str,
    ) -> Result<(), ExchangeError> {
        self.client
            .clone()
            .transfer(gw::TransferRequest {
                asset: asset.to_owned(),
                amount: decimal_to_string(amount),
                from: wire_wallet(from),
                to: wire_wallet(to),
                request_id: request_id.to_owned(),
                intent_id: request_id.to_owned(),
            })
            .await
            .map(|_| ())
            .map_err(|s| classify(&s))
    }

    async fn max_borrowable(&self, asset: &str) -> Result<Decimal, ExchangeError> {
        let response = self
            .client
            .clone()
            .get_max_borrowable(gw::GetMaxBorrowableRequest {
                asset: asset.to_owned(),
            })
            .await
            .map_err(|s| classify(&s))?
            .into_inner();
        decimal_or_zero("amount", &response.amount)
    }
}

fn wire_wallet(wallet: Wallet) -> i32 {
    match wallet {
        Wallet::Spot => common::Wallet::Spot as i32,
        Wallet::CrossMargin => common::Wallet::CrossMargin as i32,
        Wallet::UsdmFutures => common::Wallet::UsdmFutures as i32,
    }
}

/// Gateway instrument -> [`InstrumentInfo`].
pub fn instrument_info(instrument: &gw::Instrument) -> Result<InstrumentInfo, ExchangeError> {
    let filters = |wire: &Option<common::SymbolFilters>, name: &str| {
        wire.as_ref()
            .ok_or_else(|| bad_answer(format!("{name} missing")))
            .and_then(|f| fff_core::SymbolFilters::try_from(f).map_err(bad_answer))
    };
    let trading = common::InstrumentStatus::Trading as i32;
    Ok(InstrumentInfo {
        symbol: instrument.symbol.clone(),
        base_asset: instrument.base_asset.clone(),
        quote_asset: instrument.quote_asset.clone(),
        spot: filters(&instrument.spot_filters, "spot_filters")?,
        perp: filters(&instrument.perp_filters, "perp_filters")?,
        mark_price: parse_decimal("mark_price", &instrument.mark_price).map_err(bad_answer)?,
        funding_rate: decimal_or_zero("last_funding_rate", &instrument.last_funding_rate)?,
        tradable: instrument.spot_status == trading && instrument.perp_status == trading,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn maker_orders_go_as_limit_maker_without_time_in_force() {
        let perp = MakerOrder {
            client_order_id: "fff7-Pm2".into(),
            venue: Venue::UsdmPerp,
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            price: dec!(100.10),
            qty: dec!(0.500),
            reduce_only: true,
            side_effect: SideEffect::NoSideEffect,
        };
        let wire = maker_wire(&perp);
        assert_eq!(wire.r#type, common::OrderType::LimitMaker as i32);
        assert_eq!(wire.time_in_force, common::TimeInForce::Unspecified as i32);
        assert_eq!(wire.price.parse::<Decimal>().unwrap(), dec!(100.1));
        assert_eq!(wire.quantity.parse::<Decimal>().unwrap(), dec!(0.5));
        assert!(wire.reduce_only);
        assert_eq!(
            wire.margin_side_effect,
            common::MarginSideEffect::Unspecified as i32
        );
        let spot = maker_wire(&MakerOrder {
            venue: Venue::SpotMargin,
            side: Side::Sell,
            reduce_only: false,
            side_effect: SideEffect::AutoRepay,
            ..perp
        });
        assert_eq!(spot.venue, common::Venue::SpotMargin as i32);
        assert_eq!(
            spot.margin_side_effect,
            common::MarginSideEffect::AutoRepay as i32
        );
    }
}

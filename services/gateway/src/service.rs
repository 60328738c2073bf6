//! `fff.gateway.v1.Gateway` handlers: validate, call the module that does the work, convert.

pub(crate) mod fields;

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use fff_binance::models::futures::MarginType;
use fff_binance::models::margin::BorrowRepay;
use fff_proto::FieldError;
use fff_proto::convert::{parse_enum, parse_required_enum, parse_symbol};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1::{self as pb, gateway_server::Gateway as GatewayApi};
use rust_decimal::Decimal;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::convert::{dec, ts};
use crate::error::exchange_status;
use crate::history;
use crate::loans::{borrow_or_repay, check_asset};
use crate::orders::request::validate;
use crate::state::Gateway;
use crate::trades;
use crate::transfers;
use fields::{order_ref, record_ref, symbols, trading_venue};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The role's gRPC service.
#[derive(Debug, Clone)]
pub struct GatewayService {
    gateway: Arc<Gateway>,
}

impl GatewayService {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }

    fn ready(&self) -> Result<&Gateway, Status> {
        if self.gateway.is_ready() {
            Ok(&self.gateway)
        } else {
            Err(Status::unavailable(
                "gateway not ready: universe or account snapshot not loaded yet",
            ))
        }
    }

    /// [`Self::ready`] for calls that change the account: only the instance holding the
    /// gateway's writer lease sends them (see `lease.rs`).
    fn writer(&self) -> Result<&Gateway, Status> {
        let gateway = self.ready()?;
        if gateway.holds_writer_lease() {
            Ok(gateway)
        } else {
            Err(Status::unavailable(crate::lease::NOT_HELD))
        }
    }
}

#[tonic::async_trait]
impl GatewayApi for GatewayService {
    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str()))]
    async fn get_universe(
        &self,
        request: Request<pb::GetUniverseRequest>,
    ) -> Result<Response<pb::GetUniverseResponse>, Status> {
        let request = request.into_inner();
        let wanted = symbols("symbols", &request.symbols)?;
        let gateway = self.ready()?;
        let universe = gateway.universe();
        let instruments = universe
            .listings
            .values()
            .filter(|l| wanted.is_empty() || wanted.contains(&l.instrument.symbol))
            .filter(|l| request.include_non_trading || l.trading_on_both())
            .map(|l| {
                let mut instrument = l.instrument.clone();
                gateway.market.overlay(&mut instrument);
                instrument
            })
            .collect();
        Ok(Response::new(pb::GetUniverseResponse {
            instruments,
            as_of: Some(ts(universe.as_of_ms)),
        }))
    }

    type StreamMarketStream = ResponseStream<pb::StreamMarketResponse>;

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str()))]
    async fn stream_market(
        &self,
        request: Request<pb::StreamMarketRequest>,
    ) -> Result<Response<Self::StreamMarketStream>, Status> {
        let request = request.into_inner();
        let wanted = symbols("symbols", &request.symbols)?;
        let kinds = request
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| parse_required_enum(&format!("kinds[{i}]"), *k).map_err(Status::from))
            .collect::<Result<HashSet<pb::MarketEventKind>, Status>>()?;
        let gateway = self.ready()?;
        Ok(Response::new(gateway.market.subscribe(wanted, kinds)))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str()))]
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let request = request.into_inner();
        let include_zero = request.include_zero_balances;
        let gateway = self.ready()?;
        let mut account = gateway
            .account
            .get(request.after_sequence)
            .await
            .map_err(|e| exchange_status(&e))?;
        if !include_zero {
            let nonzero = |s: &str| s.parse::<Decimal>().is_ok_and(|d| !d.is_zero());
            account
                .spot_balances
                .retain(|b| nonzero(&b.free) || nonzero(&b.locked));
            account.margin_balances.retain(|b| {
                nonzero(&b.free)
                    || nonzero(&b.locked)
                    || nonzero(&b.borrowed)
                    || nonzero(&b.interest)
            });
            account
                .futures_balances
                .retain(|b| nonzero(&b.wallet_balance) || nonzero(&b.margin_balance));
        }
        Ok(Response::new(pb::GetAccountResponse {
            account: Some(account),
        }))
    }

    type StreamAccountStream = ResponseStream<pb::StreamAccountResponse>;

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str()))]
    async fn stream_account(
        &self,
        request: Request<pb::StreamAccountRequest>,
    ) -> Result<Response<Self::StreamAccountStream>, Status> {
        let request = request.into_inner();
        let venues = request
            .venues
            .iter()
            .enumerate()
            .map(|(i, v)| trading_venue(&format!("venues[{i}]"), *v).map(|v| v as i32))
            .collect::<Result<HashSet<i32>, Status>>()?;
        let wanted = symbols("symbols", &request.symbols)?;
        let gateway = self.ready()?;
        Ok(Response::new(gateway.account.subscribe(venues, wanted)))
    }

    #[tracing::instrument(skip_all, fields(
        exchange = %self.gateway.venue.as_str(),
        venue = request.get_ref().venue,
        symbol = %request.get_ref().symbol,
        client_order_id = %request.get_ref().client_order_id,
    ))]
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let order = validate(request.get_ref())?;
        let gateway = self.writer()?;
        let (order, duplicate, hedge_sent) = gateway.orders.place(order).await?;
        tracing::info!(
            status = order.status,
            duplicate,
            hedge_sent,
            "place order answered"
        );
        Ok(Response::new(pb::PlaceOrderResponse {
            order: Some(order),
            duplicate,
            hedge_sent,
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), venue, symbol, client_order_id))]
    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let (venue, symbol, id) = order_ref(request.get_ref().order.as_ref())?;
        record_ref(venue, &symbol, &id);
        let gateway = self.writer()?;
        let order = gateway.orders.cancel(venue, &symbol, id).await?;
        Ok(Response::new(pb::CancelOrderResponse {
            order: Some(order),
        }))
    }

    #[tracing::instrument(skip_all, fields(
        exchange = %self.gateway.venue.as_str(),
        venue = request.get_ref().venue,
        symbol = %request.get_ref().symbol,
    ))]
    async fn cancel_all_orders(
        &self,
        request: Request<pb::CancelAllOrdersRequest>,
    ) -> Result<Response<pb::CancelAllOrdersResponse>, Status> {
        let request = request.into_inner();
        let venue = trading_venue("venue", request.venue)?;
        let symbol = parse_symbol("symbol", &request.symbol)?;
        let gateway = self.ready()?;
        let orders = gateway.orders.cancel_all(venue, symbol.as_str()).await?;
        Ok(Response::new(pb::CancelAllOrdersResponse { orders }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), venue, symbol, client_order_id))]
    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let (venue, symbol, id) = order_ref(request.get_ref().order.as_ref())?;
        record_ref(venue, &symbol, &id);
        let gateway = self.ready()?;
        let order = gateway.orders.get(venue, &symbol, id).await?;
        Ok(Response::new(pb::GetOrderResponse { order: Some(order) }))
    }

    #[tracing::instrument(skip_all, fields(
        exchange = %self.gateway.venue.as_str(),
        venue = request.get_ref().venue,
        symbol = %request.get_ref().symbol,
    ))]
    async fn list_open_orders(
        &self,
        request: Request<pb::ListOpenOrdersRequest>,
    ) -> Result<Response<pb::ListOpenOrdersResponse>, Status> {
        let request = request.into_inner();
        let venue: common::Venue = parse_enum("venue", request.venue)?;
        let symbol = if request.symbol.is_empty() {
            None
        } else {
            Some(parse_symbol("symbol", &request.symbol)?.as_str().to_owned())
        };
        let size = match request.page_size {
            0 => 100,
            n => n.min(500),
        } as usize;
        let offset = if request.page_token.is_empty() {
            0
        } else {
            request.page_token.parse::<usize>().map_err(|_| {
                FieldError::invalid("page_token", "not a token from a previous page")
            })?
        };
        let gateway = self.ready()?;
        let all = gateway.orders.open_orders(venue, symbol.as_deref()).await?;
        let next = offset.saturating_add(size);
        let next_page_token = if next < all.len() {
            next.to_string()
        } else {
            String::new()
        };
        let orders = all.into_iter().skip(offset).take(size).collect();
        Ok(Response::new(pb::ListOpenOrdersResponse {
            orders,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), symbol = %request.get_ref().symbol))]
    async fn set_leverage(
        &self,
        request: Request<pb::SetLeverageRequest>,
    ) -> Result<Response<pb::SetLeverageResponse>, Status> {
        let request = request.into_inner();
        let symbol = parse_symbol("symbol", &request.symbol)?;
        if !(1..=125).contains(&request.leverage) {
            return Err(FieldError::invalid("leverage", "must be within 1..=125").into());
        }
        let gateway = self.writer()?;
        let change = gateway
            .rest
            .set_leverage(symbol.as_str(), request.leverage)
            .await
            .map_err(|e| exchange_status(&e))?;
        Ok(Response::new(pb::SetLeverageResponse {
            symbol: change.symbol,
            leverage: change.leverage,
            max_notional: dec(change.max_notional_value),
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), symbol = %request.get_ref().symbol))]
    async fn set_margin_type(
        &self,
        request: Request<pb::SetMarginTypeRequest>,
    ) -> Result<Response<pb::SetMarginTypeResponse>, Status> {
        let request = request.into_inner();
        let symbol = parse_symbol("symbol", &request.symbol)?;
        let wanted: common::MarginType = parse_required_enum("margin_type", request.margin_type)?;
        let margin_type = match wanted {
            common::MarginType::Isolated => MarginType::Isolated,
            _ => MarginType::Crossed,
        };
        let gateway = self.writer()?;
        let changed = match gateway
            .rest
            .set_margin_type(symbol.as_str(), margin_type)
            .await
        {
            Ok(_) => true,
            // -4046: no need to change margin type
            Err(fff_binance::Error::Api { code: -4046, .. }) => false,
            Err(err) => return Err(exchange_status(&err)),
        };
        Ok(Response::new(pb::SetMarginTypeResponse {
            symbol: symbol.as_str().to_owned(),
            margin_type: wanted as i32,
            changed,
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), asset = %request.get_ref().asset))]
    async fn borrow(
        &self,
        request: Request<pb::BorrowRequest>,
    ) -> Result<Response<pb::BorrowResponse>, Status> {
        let r = request.into_inner();
        let gateway = self.writer()?;
        let (transaction_id, duplicate) = borrow_or_repay(
            gateway,
            BorrowRepay::Borrow,
            &r.asset,
            &r.amount,
            &r.request_id,
        )
        .await?;
        Ok(Response::new(pb::BorrowResponse {
            transaction_id,
            asset: r.asset,
            amount: r.amount,
            borrowed_total: String::new(),
            duplicate,
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), asset = %request.get_ref().asset))]
    async fn repay(
        &self,
        request: Request<pb::RepayRequest>,
    ) -> Result<Response<pb::RepayResponse>, Status> {
        let r = request.into_inner();
        let gateway = self.writer()?;
        let (transaction_id, duplicate) = borrow_or_repay(
            gateway,
            BorrowRepay::Repay,
            &r.asset,
            &r.amount,
            &r.request_id,
        )
        .await?;
        Ok(Response::new(pb::RepayResponse {
            transaction_id,
            asset: r.asset,
            amount: r.amount,
            borrowed_total: String::new(),
            duplicate,
        }))
    }

    #[tracing::instrument(skip_all, fields(
        exchange = %self.gateway.venue.as_str(),
        asset = %request.get_ref().asset,
        amount = %request.get_ref().amount,
        from = request.get_ref().from,
        to = request.get_ref().to,
        request_id = %request.get_ref().request_id,
        intent_id = %request.get_ref().intent_id,
    ))]
    async fn transfer(
        &self,
        request: Request<pb::TransferRequest>,
    ) -> Result<Response<pb::TransferResponse>, Status> {
        let valid = transfers::validate(request.get_ref())?;
        self.writer()?;
        let (transaction_id, duplicate) = transfers::transfer(self.gateway.clone(), valid).await?;
        tracing::info!(%transaction_id, duplicate, "transfer answered");
        Ok(Response::new(pb::TransferResponse {
            transaction_id,
            duplicate,
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), asset = %request.get_ref().asset))]
    async fn get_max_borrowable(
        &self,
        request: Request<pb::GetMaxBorrowableRequest>,
    ) -> Result<Response<pb::GetMaxBorrowableResponse>, Status> {
        let asset = request.into_inner().asset;
        check_asset("asset", &asset)?;
        let gateway = self.ready()?;
        let max = gateway
            .rest
            .margin_max_borrowable(&asset)
            .await
            .map_err(|e| exchange_status(&e))?;
        Ok(Response::new(pb::GetMaxBorrowableResponse {
            asset,
            amount: dec(max.amount),
            borrow_limit: crate::convert::opt_dec(max.borrow_limit),
        }))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), symbol = %request.get_ref().symbol))]
    async fn list_funding_rates(
        &self,
        request: Request<pb::ListFundingRatesRequest>,
    ) -> Result<Response<pb::ListFundingRatesResponse>, Status> {
        let r = request.into_inner();
        let symbol = parse_symbol("symbol", &r.symbol)?;
        let page = history::page(r.page_size, &r.page_token, r.range.as_ref())?;
        let gateway = self.ready()?;
        Ok(Response::new(
            history::funding_rates(&gateway.rest, symbol.as_str(), &page).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), symbol = %request.get_ref().symbol))]
    async fn list_income(
        &self,
        request: Request<pb::ListIncomeRequest>,
    ) -> Result<Response<pb::ListIncomeResponse>, Status> {
        let r = request.into_inner();
        let symbol = if r.symbol.is_empty() {
            None
        } else {
            Some(parse_symbol("symbol", &r.symbol)?.as_str().to_owned())
        };
        let kinds = r
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| parse_required_enum(&format!("kinds[{i}]"), *k).map_err(Status::from))
            .collect::<Result<Vec<pb::IncomeKind>, Status>>()?;
        let page = history::page(r.page_size, &r.page_token, r.range.as_ref())?;
        let gateway = self.ready()?;
        Ok(Response::new(
            history::income(&gateway.rest, symbol.as_deref(), &kinds, &page).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(
        exchange = %self.gateway.venue.as_str(),
        venue = request.get_ref().venue,
        symbol = %request.get_ref().symbol,
    ))]
    async fn list_trades(
        &self,
        request: Request<pb::ListTradesRequest>,
    ) -> Result<Response<pb::ListTradesResponse>, Status> {
        let r = request.into_inner();
        let venue = trading_venue("venue", r.venue)?;
        let symbol = parse_symbol("symbol", &r.symbol)?;
        let order_id = match r.exchange_order_id {
            0 => None,
            id => Some(
                i64::try_from(id)
                    .map_err(|_| FieldError::invalid("exchange_order_id", "out of range"))?,
            ),
        };
        let start_ms = fff_proto::convert::optional_timestamp("start", r.start.as_ref())?
            .map(|t| t.timestamp_millis());
        let gateway = self.ready()?;
        Ok(Response::new(
            trades::trades(
                &gateway.rest,
                venue,
                symbol.as_str(),
                order_id,
                start_ms,
                trades::limit(r.limit),
            )
            .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(exchange = %self.gateway.venue.as_str(), asset = %request.get_ref().asset))]
    async fn list_interest(
        &self,
        request: Request<pb::ListInterestRequest>,
    ) -> Result<Response<pb::ListInterestResponse>, Status> {
        let r = request.into_inner();
        let asset = if r.asset.is_empty() {
            None
        } else {
            check_asset("asset", &r.asset)?;
            Some(r.asset.as_str())
        };
        let page = history::page(r.page_size, &r.page_token, r.range.as_ref())?;
        let gateway = self.ready()?;
        Ok(Response::new(
            history::interest(&gateway.rest, asset, &page).await?,
        ))
    }
}

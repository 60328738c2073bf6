//! What the executor needs from the exchange, behind a trait: the gateway over gRPC in
//! production ([`GatewayExchange`]), a scripted fake in unit tests.
//!
//! Errors are classified by outcome (house rule 14): [`ExchangeError::Rejected`] means the order
//! definitely does not exist; [`ExchangeError::Unknown`] means it may, and the caller must ask
//! again by client order id before doing anything else.

mod grpc;

#[cfg(test)]
pub mod fake;

use std::collections::HashMap;

use fff_core::{Side, SymbolFilters, Venue};
use fff_store::{OrderStatus, SideEffect};
use rust_decimal::Decimal;

pub(crate) use grpc::report as report_from_wire;
pub use grpc::{GatewayClientT, GatewayExchange};

/// How an order prices itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    Market,
    /// Limit, immediate-or-cancel: takes what is available up to `price`, never rests.
    LimitIoc(Decimal),
}

/// One order for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub client_order_id: String,
    pub venue: Venue,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub reduce_only: bool,
    pub side_effect: SideEffect,
}

/// A post-only limit order: it rests at `price` or the venue refuses it (REJECTED or
/// EXPIRED with nothing filled); it never takes liquidity. Sent as `LIMIT_MAKER`, which the
/// gateway places as `LIMIT_MAKER` on spot/cross margin and as `LIMIT` + `GTX` on USDⓈ-M.
///
/// A separate type rather than an [`OrderKind`]: a resting order is never sent through
/// `Engine::execute` (which waits for market/IOC orders to finish); its caller follows and
/// cancels it (see `engine::exit::staged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakerOrder {
    pub client_order_id: String,
    pub venue: Venue,
    pub symbol: String,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    pub reduce_only: bool,
    pub side_effect: SideEffect,
}

/// The exchange's view of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReport {
    pub client_order_id: String,
    pub status: OrderStatus,
    pub exchange_order_id: Option<i64>,
    pub executed_qty: Decimal,
    pub avg_price: Option<Decimal>,
    pub reject_reason: Option<String>,
}

/// Trading rules and marks of one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentInfo {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub spot: SymbolFilters,
    pub perp: SymbolFilters,
    pub mark_price: Decimal,
    pub funding_rate: Decimal,
    /// Both venues trading (entries allowed).
    pub tradable: bool,
}

/// Best bid and ask of one venue's book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub bid: Decimal,
    pub ask: Decimal,
}

impl Quote {
    /// Both sides present and not crossed.
    pub fn is_sane(&self) -> bool {
        self.bid > Decimal::ZERO && self.ask >= self.bid
    }
}

/// The top of both books of a symbol, as the gateway last saw them; a venue is `None` when the
/// gateway has no (sane) book for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Books {
    /// Spot (the cross-margin orders trade the spot book).
    pub spot: Option<Quote>,
    pub perp: Option<Quote>,
}

/// One cross-margin asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarginAsset {
    pub free: Decimal,
    pub borrowed: Decimal,
    pub interest: Decimal,
    pub net: Decimal,
}

/// Account balances and perp positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountView {
    pub equity: Decimal,
    /// Signed perp position per symbol (long positive).
    pub perp_positions: HashMap<String, Decimal>,
    pub margin: HashMap<String, MarginAsset>,
    pub wallets: WalletView,
}

/// USDT in each wallet and the health figures that drive transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletView {
    /// Free USDT in the spot wallet (not traded by fff; swept into the trading wallets).
    pub spot_usdt_free: Decimal,
    /// Spot wallet value in USDT (all assets).
    pub spot_equity: Decimal,
    /// Cross-margin net equity (total assets − liabilities), USDT.
    pub margin_net_equity: Decimal,
    /// Cross-margin liabilities (principal + interest), USDT.
    pub margin_liability: Decimal,
    /// Cross-margin level; `None` without liabilities.
    pub margin_level: Option<Decimal>,
    /// Futures margin balance (wallet + unrealised P&L), USDT.
    pub futures_margin_balance: Decimal,
    /// Futures maintenance margin, USDT.
    pub futures_maint_margin: Decimal,
    /// USDT that can leave the futures wallet now.
    pub futures_max_withdraw: Decimal,
    /// USDT available for new perp orders.
    pub futures_available: Decimal,
}

impl WalletView {
    /// Futures margin coverage (balance / maintenance); `None` without positions.
    pub fn futures_coverage(&self) -> Option<Decimal> {
        fff_core::margin_ratio(self.futures_margin_balance, self.futures_maint_margin)
    }
}

/// A wallet of the account, for transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wallet {
    Spot,
    CrossMargin,
    UsdmFutures,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// Definite refusal: nothing was created.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Timeout, disconnect, 5xx: the outcome is unknown.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// The gateway operations the executor uses.
#[tonic::async_trait]
pub trait Exchange: Send + Sync + 'static {
    /// Places an order; idempotent by client order id at the gateway.
    async fn place_order(&self, request: &OrderRequest) -> Result<OrderReport, ExchangeError>;
    /// [`Exchange::place_order`] of an id whose intent this process has just created, so no
    /// one can have sent it: the gateway sends without looking the id up at the venue first.
    async fn place_first(&self, request: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        self.place_order(request).await
    }
    /// [`Exchange::place_first`] of a perp slice with its hedge, which the gateway sends the
    /// moment the slice's answer is final with a fill, sized to the fill floored to `step` (at
    /// most `hedge.qty`); true in the answer if it did. An exchange that cannot leaves the
    /// hedge to the caller (false).
    async fn place_first_hedged(
        &self,
        request: &OrderRequest,
        _hedge: &OrderRequest,
        _step: Decimal,
    ) -> Result<(OrderReport, bool), ExchangeError> {
        self.place_first(request)
            .await
            .map(|report| (report, false))
    }
    /// Places a post-only order; idempotent by client order id at the gateway. A venue refusal
    /// (it would have taken liquidity) is a REJECTED or EXPIRED report, not an error.
    async fn place_maker(&self, order: &MakerOrder) -> Result<OrderReport, ExchangeError>;
    /// The order with this client order id, `None` if the exchange never saw it.
    async fn get_order(
        &self,
        venue: Venue,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError>;
    async fn cancel_order(
        &self,
        venue: Venue,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<(), ExchangeError>;
    /// Cross margin and `leverage` on the perp.
    async fn prepare_perp(&self, symbol: &str, leverage: u32) -> Result<(), ExchangeError>;
    async fn instrument(&self, symbol: &str) -> Result<InstrumentInfo, ExchangeError>;
    /// The best bid and ask of both venues' books of `symbol` (post-only orders are priced from
    /// their own leg's book).
    async fn books(&self, symbol: &str) -> Result<Books, ExchangeError>;
    async fn account(&self) -> Result<AccountView, ExchangeError>;
    /// The account as of at least the account stream's event `sequence` (the gateway re-reads
    /// the venue when its snapshot is older): a comparison with the books that have booked
    /// that far must not read a snapshot taken before the fills they hold.
    async fn account_after(&self, sequence: u64) -> Result<AccountView, ExchangeError> {
        let _ = sequence;
        self.account().await
    }
    /// Repays `amount` of a cross-margin loan (idempotent by `request_id`).
    async fn repay(
        &self,
        asset: &str,
        amount: Decimal,
        request_id: &str,
    ) -> Result<(), ExchangeError>;
    /// Moves `amount` of `asset` between wallets (idempotent by `request_id`).
    async fn transfer(
        &self,
        asset: &str,
        amount: Decimal,
        from: Wallet,
        to: Wallet,
        request_id: &str,
    ) -> Result<(), ExchangeError>;
    /// How much of `asset` cross margin would lend now.
    async fn max_borrowable(&self, asset: &str) -> Result<Decimal, ExchangeError>;
}

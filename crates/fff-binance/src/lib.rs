//! Binance connector: the only code in fff that talks to Binance.
//!
//! Layers (STYLE rule 15):
//! - [`rest::RestClient`]: raw REST client whose methods mirror Binance endpoints (spot `/api/v3`, cross
//!   margin `/sapi/v1`, wallet transfers `/sapi/v1/asset`, USDⓈ-M futures `/fapi`). Every attempt
//!   passes the [`limiter::RateLimiter`] of its scope; signed requests carry `timestamp` +
//!   `recvWindow` against a server-time offset kept in sync.
//! - [`models`]: wire structs exactly as Binance sends them (decimal strings parse straight into
//!   `rust_decimal::Decimal`) plus `parse_*` functions into the domain-ish types the services use
//!   ([`models::SpotInstrument`], [`models::PerpInstrument`], [`filters::SymbolFilters`],
//!   [`orders::OrderState`]); [`instruments::Instruments`] caches them by symbol.
//! - [`ws`]: reconnecting WebSocket streams (futures market/public/private routes, spot and margin user
//!   data over the WebSocket API, the margin risk stream) that report gaps so callers re-snapshot.
//!
//! Base URLs come only from [`urls::BinanceUrls`]; switching simulator → testnet → mainnet is config.
//!
//! ```no_run
//! use fff_binance::models::{OrderKind, Side};
//! use fff_binance::rest::{FuturesOrderRequest, PositionSide, RestConfig};
//! use fff_binance::ws::{StreamEvent, WsConfig, subscribe_futures_user};
//! use fff_binance::{BinanceUrls, Credentials, Market, Outcome, Resolution, RestClient};
//! use rust_decimal::Decimal;
//!
//! # async fn demo() -> fff_binance::Result<()> {
//! let credentials = Credentials::new("api-key", "secret");
//! let client = RestClient::new(BinanceUrls::mainnet(), Some(credentials), RestConfig::default())?;
//! let instruments = client.load_instruments().await?;
//! let perp = instruments.perp("BTCUSDT").expect("listed");
//! let mark = client.premium_index("BTCUSDT").await?.mark_price;
//! let order = FuturesOrderRequest {
//!     symbol: "BTCUSDT".into(),
//!     side: Side::Sell,
//!     kind: OrderKind::Market,
//!     qty: Decimal::new(105, 4),
//!     client_order_id: "fff-open-1".into(),
//!     reduce_only: false,
//!     position_side: PositionSide::Both,
//! }
//! .apply_filters(&perp.filters, Some(mark))?; // 0.0105 → 0.010 (step 0.001)
//! match client.futures_new_order(&order).await {
//!     Ok(placed) => println!("placed {}", placed.order_id),
//!     Err(err) if err.outcome() == Outcome::Unknown => {
//!         // Never resend: look the order up by its client order id.
//!         match client.resolve_order(Market::Futures, "BTCUSDT", "fff-open-1").await? {
//!             Resolution::Found(state) => println!("{:?}", state.status),
//!             Resolution::NotFound => println!("not placed (once recvWindow has passed)"),
//!         }
//!     }
//!     Err(err) => return Err(err),
//! }
//! let mut user = subscribe_futures_user(client.clone(), WsConfig::default());
//! while let Some(event) = user.recv().await {
//!     if let StreamEvent::Reconnected = event {
//!         // Events may have been missed: re-read positions and open orders over REST.
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod credential;
pub mod error;
pub mod filters;
pub mod instruments;
pub mod limiter;
pub mod models;
pub mod orders;
pub mod rest;
pub mod sign;
pub mod urls;
pub mod ws;

pub use credential::Credentials;
pub use error::{Error, Outcome, Result};
pub use instruments::Instruments;
pub use orders::{Market, OrderState, Resolution};
pub use rest::RestClient;
pub use urls::BinanceUrls;

/// Installs the ring rustls provider (reqwest is built with `rustls-no-provider`; without a provider
/// `Client::build()` panics). Idempotent; call it before building any client.
pub fn install_crypto_provider() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
}

//! Binance connector: the only code in fff that talks to Binance.
//!
//! Layers (STYLE rule 15):
//! - [`rest::RestClient`]: raw REST client whose methods mirror Binance endpoints (spot `/api/v3`, cross
//!   margin `/sapi/v1`, USDⓈ-M futures `/fapi`). Every attempt passes the [`limiter::RateLimiter`] of its
//!   scope; signed requests carry `timestamp` + `recvWindow` against a server-time offset kept in sync.
//! - [`models`]: wire structs exactly as Binance sends them (decimal strings parse straight into
//!   `rust_decimal::Decimal`) plus `parse_*` functions into the domain-ish types the services use
//!   ([`models::SpotInstrument`], [`models::PerpInstrument`], [`filters::SymbolFilters`],
//!   [`orders::OrderState`]); [`instruments::Instruments`] caches them by symbol.
//! - [`ws`]: reconnecting WebSocket streams (futures market/public/private routes, spot and margin user
//!   data over the WebSocket API, the margin risk stream) that report gaps so callers re-snapshot.
//!
//! Base URLs come only from [`urls::BinanceUrls`]; switching simulator → testnet → mainnet is config.

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

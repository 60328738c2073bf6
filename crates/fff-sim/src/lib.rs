//! Binance-compatible exchange simulator: spot (`/api/v3`), cross margin (`/sapi/v1`) and USD-M
//! futures (`/fapi/v1|v2|v3`) over one HTTP server, plus market/user WebSocket streams and the
//! WebSocket API. See README.md for the endpoints, config and the default paper account.

pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod faults;
pub mod http;
mod server;
pub mod ws;

pub use config::{PAPER_API_KEY, PAPER_API_SECRET, SimConfig};
pub use error::{ApiError, Error, Result};
pub use server::{BaseUrls, SimHandle, base_urls, run, spawn};

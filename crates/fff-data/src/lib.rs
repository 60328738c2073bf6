//! `fff data pull`: downloads Binance history through the connector into the data layout the
//! backtester reads (`shared/data/README.md`):
//!
//! | file | columns | source |
//! |---|---|---|
//! | `funding/<SYMBOL>.csv` | `symbol,fundingTime,fundingRate,markPrice` | `GET /fapi/v1/fundingRate` |
//! | `spot_1d/<SYMBOL>.csv` | `openTime,open,high,low,close,volume` | `GET /api/v3/klines` 1d |
//! | `perp_1d/<SYMBOL>.csv` | `openTime,open,high,low,close,volume,quoteVolume,count,closeTime` | `GET /fapi/v1/klines` 1d |
//! | `borrow/<ASSET>.csv` | `asset,timestamp,dailyInterestRate,vipLevel` | `GET /sapi/v1/margin/interestRateHistory` (signed) |
//!
//! Pulls are resumable: each file is extended after its last row, page by page, every page
//! committed atomically (temp file + rename), so an interrupted run loses at most the page in
//! flight and a re-run never duplicates rows. Klines still in progress are never written.

mod args;
mod error;
mod pull;
mod store;

pub use args::{PullArgs, Venue};
pub use error::{Error, Result};
pub use pull::{FileSummary, PullSummary, pull, pull_with_env};
pub use store::Table;

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
//! flight and a re-run never duplicates rows. Klines still in progress are never written. Files
//! only grow at the end: an earlier `--from` than an existing file's first row is reported, not
//! back-filled.
//!
//! Credentials: public endpoints need none. Borrow rates are signed: venue `sim` uses the
//! simulator's paper key (a real key is never sent to it), `mainnet` reads `BINANCE_API_KEY` /
//! `BINANCE_API_SECRET` and skips borrow rates with a note when they are unset, `testnet` has no
//! margin endpoints and skips them. Borrow files hold the base assets of the symbols.

mod args;
mod error;
mod pull;
mod store;

pub use args::{PullArgs, Venue};
pub use error::{Error, Result};
pub use pull::{FileSummary, PullSummary, pull, pull_with_env};
pub use store::Table;

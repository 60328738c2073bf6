//! `fff data pull`: downloads Binance history into the data layout the backtester reads
//! (docs/BACKTEST.md "Data layouts"; usage in docs/DATA.md), from one of two sources.
//!
//! `--source archive` ([`pull_archive`]): Binance's public bulk-data archive, monthly zips of
//! funding rates and perp/spot daily klines, each verified against its published SHA-256 and
//! unzipped as it is (see the `archive` module).
//!
//! `--source api` (the default, [`pull_with_env`]): the REST API of `--venue`:
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
//!
//! `fff data record` ([`record`]): a collector sampling what no public history has (open
//! interest, book spreads, the predicted funding rate) and keeping borrow-rate history.

mod archive;
mod args;
mod error;
mod pull;
mod record;
mod store;
mod universe;

pub use archive::{ArchiveFile, ArchiveOutcome, ArchiveSummary, PARTIAL_DIR, pull_archive};
pub use args::{ALL_USDT_PERPS, DEFAULT_ARCHIVE_URL, PullArgs, Source, Venue};
pub use error::{Error, Result};
pub use pull::{FileSummary, PullReport, PullSummary, pull, pull_with_env};
pub use record::{RecordArgs, RecordSummary, RoundSummary, record, record_with_env};
pub use store::Table;

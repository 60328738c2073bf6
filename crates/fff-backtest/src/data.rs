//! Loading a data directory into memory.
//!
//! Layout (see `docs/BACKTEST.md`): `funding/`, `spot_1d/`, `perp_1d/`, `borrow/`, and an
//! optional listing file `spot_markets.csv`. Each folder may hold one file per symbol or many
//! (Binance's monthly bulk files); files of a symbol are merged. Only symbols with funding
//! history are candidates, so klines of others are not read; a candidate is tradable only while
//! a spot market is evidenced for it ([`SpotListing`]).

mod borrow;
mod funding;
mod klines;
mod spot_markets;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

pub use borrow::BorrowHistory;
pub use funding::FundingPoint;
pub use klines::DailyBar;
pub use spot_markets::{LISTING_FILE, SpotListing};

use crate::error::{Error, Result};

pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// Funding history loaded before `from` so scores have a track record on day one.
pub const WARMUP_DAYS: i64 = 30;

/// Half-open replay window `[from, to)`; `None` = unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    /// First traded instant, epoch ms.
    pub from_ms: Option<i64>,
    /// End (exclusive), epoch ms.
    pub to_ms: Option<i64>,
}

impl DateRange {
    /// From two optional UTC dates (`to` is exclusive).
    pub fn from_dates(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Self {
        let ms = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
        };
        Self {
            from_ms: from.and_then(ms),
            to_ms: to.and_then(ms),
        }
    }

    /// Whether `time_ms` is inside the window.
    pub fn contains(&self, time_ms: i64) -> bool {
        self.from_ms.is_none_or(|f| time_ms >= f) && self.to_ms.is_none_or(|t| time_ms < t)
    }

    fn contains_with_warmup(&self, time_ms: i64) -> bool {
        self.from_ms
            .is_none_or(|f| time_ms >= f - WARMUP_DAYS * DAY_MS)
            && self.to_ms.is_none_or(|t| time_ms < t)
    }
}

/// Everything known about one perpetual and its spot pair.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolData {
    /// Perpetual symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Base asset borrowed for a short spot leg, e.g. `BTC`.
    pub base_asset: String,
    /// Funding settlements in time order.
    pub funding: Vec<FundingPoint>,
    /// Spot daily closes (may be empty).
    pub spot: Vec<DailyBar>,
    /// Perpetual daily closes with quote volume (may be empty).
    pub perp: Vec<DailyBar>,
    /// When a spot market for the pair is evidenced (spot klines or the listing file).
    pub spot_listing: SpotListing,
    /// Stamps further apart than any Binance funding interval (missing rows).
    pub funding_gaps: usize,
}

/// A loaded data directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Tradable symbols (those with funding history), sorted by name.
    pub symbols: Vec<SymbolData>,
    /// Borrow rates found under `borrow/`.
    pub borrow: BorrowHistory,
    /// The window the data was cut to.
    pub range: DateRange,
}

impl Dataset {
    /// Earliest and latest funding stamp inside the replay window.
    pub fn span_ms(&self) -> Option<(i64, i64)> {
        let times = self
            .symbols
            .iter()
            .flat_map(|s| s.funding.iter().map(|p| p.time_ms))
            .filter(|t| self.range.contains(*t));
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for t in times {
            first = first.min(t);
            last = last.max(t);
        }
        (first <= last).then_some((first, last))
    }

    /// Number of replay events (funding settlements and daily bars) inside the window.
    pub fn event_count(&self) -> usize {
        self.symbols
            .iter()
            .map(|s| {
                s.funding
                    .iter()
                    .filter(|p| self.range.contains(p.time_ms))
                    .count()
                    + s.spot.len()
                    + s.perp.len()
            })
            .sum()
    }
}

/// Base asset of a USDⓈ-M symbol (`BTCUSDT` -> `BTC`).
pub fn base_asset(symbol: &str) -> String {
    for quote in ["USDT", "USDC", "FDUSD", "BUSD"] {
        if let Some(base) = symbol.strip_suffix(quote).filter(|b| !b.is_empty()) {
            return base.to_string();
        }
    }
    symbol.to_string()
}

/// Loads `dir` (layout above), cut to `range` plus [`WARMUP_DAYS`] of funding before it.
pub fn load_dataset(dir: &Path, range: DateRange) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::Data(format!("{} is not a directory", dir.display())));
    }
    let funding_files: Vec<(String, PathBuf)> = table::csv_files(&dir.join("funding"))?
        .into_iter()
        .filter_map(|path| Some((table::symbol_of(&path)?, path)))
        .collect();
    let wanted: BTreeSet<String> = funding_files.iter().map(|(s, _)| s.clone()).collect();
    // The funding files on this thread, the rest on a second one; errors are reported in the
    // order the files would be read one after the other.
    let (raw_funding, rest) = std::thread::scope(|scope| {
        let rest = scope.spawn(|| -> Result<_> {
            let spot = read_bars(&dir.join("spot_1d"), &wanted)?;
            let listings = spot_markets::read_listing_file(dir)?;
            let perp = read_bars(&dir.join("perp_1d"), &wanted)?;
            let mut borrow_rows = Vec::new();
            for path in table::csv_files(&dir.join("borrow"))? {
                borrow::read_borrow_file(&path, &mut borrow_rows)?;
            }
            Ok((spot, listings, perp, borrow_rows))
        });
        let mut raw_funding: BTreeMap<String, Vec<funding::RawFunding>> = BTreeMap::new();
        let read = funding_files.iter().try_for_each(|(symbol, path)| {
            funding::read_funding_file(path, raw_funding.entry(symbol.clone()).or_default())
        });
        let rest = match rest.join() {
            Ok(rest) => rest,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (read.map(|()| raw_funding), rest)
    });
    let raw_funding = raw_funding?;
    if raw_funding.is_empty() {
        return Err(Error::Data(format!(
            "no funding files under {}",
            dir.join("funding").display()
        )));
    }
    let (spot, listings, perp, borrow_rows) = rest?;
    let mut symbols = Vec::new();
    for (symbol, raw) in raw_funding {
        let (mut points, funding_gaps) = funding::finish_funding(raw);
        points.retain(|p| range.contains_with_warmup(p.time_ms));
        if points.is_empty() {
            continue;
        }
        let cut = |bars: Option<&Vec<DailyBar>>| -> Vec<DailyBar> {
            bars.map(|b| {
                b.iter()
                    .filter(|bar| range.contains_with_warmup(bar.open_time_ms))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
        };
        let first_spot = spot
            .get(&symbol)
            .and_then(|bars| bars.first())
            .map(|bar| bar.open_time_ms);
        symbols.push(SymbolData {
            base_asset: base_asset(&symbol),
            spot_listing: SpotListing::combine(first_spot, listings.get(&symbol)),
            spot: cut(spot.get(&symbol)),
            perp: cut(perp.get(&symbol)),
            funding: points,
            funding_gaps,
            symbol,
        });
    }
    Ok(Dataset {
        symbols,
        borrow: borrow::finish_borrow(borrow_rows),
        range,
    })
}

fn read_bars(dir: &Path, wanted: &BTreeSet<String>) -> Result<BTreeMap<String, Vec<DailyBar>>> {
    let mut bars: BTreeMap<String, Vec<DailyBar>> = BTreeMap::new();
    for path in table::csv_files(dir)? {
        let Some(symbol) = table::symbol_of(&path) else {
            continue;
        };
        if !wanted.contains(&symbol) {
            continue;
        }
        klines::read_kline_file(&path, bars.entry(symbol).or_default())?;
    }
    Ok(bars
        .into_iter()
        .map(|(symbol, b)| (symbol, klines::finish_bars(b)))
        .collect())
}

/// `2024-01-31` for an epoch-ms instant (UTC).
pub fn format_day(time_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(time_ms)
        .map_or_else(|| time_ms.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

/// `2024-01-31T08:00:00Z` for an epoch-ms instant.
pub fn format_time(time_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(time_ms).map_or_else(
        || time_ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

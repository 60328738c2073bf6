//! Evidence that a Binance spot market existed for a perpetual's pair: the spot leg of a hedge
//! needs one, and funding history alone does not show it.
//!
//! Two sources, either enough:
//! - **spot klines** (`spot_1d/`): the pair traded from its first bar on (later delisting is not
//!   inferred from a series that stops, since data collections end while markets go on);
//! - **a listing file** `spot_markets.csv` at the top of the data directory, written by whoever
//!   assembles the data: `symbol,listed[,delisted]`, dates `YYYY-MM-DD` (UTC), `listed` empty for
//!   "listed before any data", `delisted` empty or absent for "still listed". It can extend the
//!   evidence of a pair back before its klines and is the only way to say a pair was delisted.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use super::table::{Header, column_of, read_table};
use crate::error::Result;

/// File name of the listing file, at the top of the data directory.
pub const LISTING_FILE: &str = "spot_markets.csv";

/// When a pair's spot market is evidenced, epoch ms, half-open `[listed, delisted)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpotListing {
    /// First instant with evidence; `None`: no evidence at all.
    pub listed_ms: Option<i64>,
    /// Delisting instant from the listing file, if any.
    pub delisted_ms: Option<i64>,
    /// Whether the listing file named the pair (else the evidence is its klines, if any).
    pub from_listing_file: bool,
}

impl SpotListing {
    /// Listed from the beginning of time, never delisted (generated data, tests).
    pub const ALWAYS: Self = Self {
        listed_ms: Some(i64::MIN),
        delisted_ms: None,
        from_listing_file: true,
    };

    /// Whether a spot market is evidenced at `time_ms`.
    pub fn listed_at(&self, time_ms: i64) -> bool {
        self.listed_ms.is_some_and(|l| l <= time_ms) && self.delisted_ms.is_none_or(|d| time_ms < d)
    }

    /// The evidence of `first_kline_ms` (first spot bar) combined with a listing-file row.
    pub fn combine(first_kline_ms: Option<i64>, listed: Option<&SpotListing>) -> Self {
        let Some(row) = listed else {
            return Self {
                listed_ms: first_kline_ms,
                delisted_ms: None,
                from_listing_file: false,
            };
        };
        let listed_ms = match (row.listed_ms, first_kline_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            listed_ms,
            delisted_ms: row.delisted_ms,
            from_listing_file: true,
        }
    }
}

fn day_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

/// Reads `dir/spot_markets.csv` (absent: no rows).
pub(crate) fn read_listing_file(dir: &Path) -> Result<BTreeMap<String, SpotListing>> {
    let path = dir.join(LISTING_FILE);
    let mut rows = BTreeMap::new();
    if !path.is_file() {
        return Ok(rows);
    }
    struct Columns {
        symbol: usize,
        listed: usize,
        delisted: Option<usize>,
    }
    read_table(
        &path,
        |header: &Header, _| {
            let names = header.as_deref().unwrap_or_default();
            Ok(Columns {
                symbol: column_of(&path, names, &["symbol"])?,
                listed: column_of(&path, names, &["listed"])?,
                delisted: column_of(&path, names, &["delisted"]).ok(),
            })
        },
        |cols, row| {
            let date = |column: usize| -> Result<Option<i64>> {
                if column >= row.len() {
                    return Ok(None);
                }
                let text = row.text(column)?;
                if text.is_empty() {
                    return Ok(None);
                }
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| Some(day_ms(d)))
                    .map_err(|_| row.error(column, format!("expected YYYY-MM-DD, got {text:?}")))
            };
            let symbol = row.text(cols.symbol)?.to_ascii_uppercase();
            if symbol.is_empty() {
                return Err(row.error(cols.symbol, "empty symbol"));
            }
            let listed_ms = date(cols.listed)?.unwrap_or(i64::MIN);
            let delisted_ms = match cols.delisted {
                Some(column) => date(column)?,
                None => None,
            };
            if delisted_ms.is_some_and(|d| d <= listed_ms) {
                return Err(row.error(
                    cols.delisted.unwrap_or(cols.listed),
                    "delisted on or before listed",
                ));
            }
            rows.insert(
                symbol,
                SpotListing {
                    listed_ms: Some(listed_ms),
                    delisted_ms,
                    from_listing_file: true,
                },
            );
            Ok(())
        },
    )?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klines_evidence_starts_at_the_first_bar_and_never_ends() {
        let s = SpotListing::combine(Some(1_000), None);
        assert!(!s.listed_at(999));
        assert!(s.listed_at(1_000));
        assert!(s.listed_at(i64::MAX));
        assert!(!SpotListing::combine(None, None).listed_at(0));
    }

    #[test]
    fn listing_file_extends_back_and_delists() {
        let row = SpotListing {
            listed_ms: Some(500),
            delisted_ms: Some(2_000),
            from_listing_file: true,
        };
        let s = SpotListing::combine(Some(1_000), Some(&row));
        assert!(s.listed_at(500));
        assert!(s.listed_at(1_999));
        assert!(!s.listed_at(2_000));
    }
}

//! Margin borrow-rate files: `asset,timestamp,dailyInterestRate[,vipLevel]`
//! (`/sapi/v1/margin/interestRateHistory`) and `asset,date,annualPercent`.
//!
//! No public multi-year borrow history exists, so a file spanning less than
//! [`SNAPSHOT_SPAN_DAYS`] is a *snapshot*: its mean rate applies to the whole run. Longer series
//! are used as a step function of time.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::DAY_MS;
use super::table::{Header, MAX_RATE, column_of, read_table};
use crate::error::Result;

const SNAPSHOT_SPAN_DAYS: i64 = 30;

/// Hourly borrow rate per asset, from history or snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BorrowHistory {
    /// Asset -> (time ms, hourly rate) sorted by time; one point for snapshots.
    pub series: BTreeMap<String, Vec<(i64, Decimal)>>,
}

impl BorrowHistory {
    /// Hourly rate of `asset` at `time_ms`: the last point at or before it, else the first.
    pub fn hourly_rate(&self, asset: &str, time_ms: i64) -> Option<Decimal> {
        let points = self.series.get(asset)?;
        let index = points.partition_point(|(t, _)| *t <= time_ms);
        points.get(index.saturating_sub(1)).map(|(_, rate)| *rate)
    }

    /// Whether `asset` has a time series rather than a snapshot.
    pub fn is_history(&self, asset: &str) -> bool {
        self.series.get(asset).is_some_and(|p| p.len() > 1)
    }
}

enum Layout {
    Daily {
        asset: usize,
        time: usize,
        rate: usize,
    },
    Annual {
        asset: usize,
        date: usize,
        percent: usize,
    },
}

/// Reads one borrow file into `(asset, time ms, hourly rate)` rows.
pub(crate) fn read_borrow_file(path: &Path, out: &mut Vec<(String, i64, Decimal)>) -> Result<()> {
    read_table(
        path,
        |header: &Header, _| {
            let names = header.as_deref().unwrap_or_default();
            Ok(
                if names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case("annualPercent"))
                {
                    Layout::Annual {
                        asset: column_of(path, names, &["asset"])?,
                        date: column_of(path, names, &["date"])?,
                        percent: column_of(path, names, &["annualPercent"])?,
                    }
                } else {
                    Layout::Daily {
                        asset: column_of(path, names, &["asset"])?,
                        time: column_of(path, names, &["timestamp"])?,
                        rate: column_of(path, names, &["dailyInterestRate"])?,
                    }
                },
            )
        },
        |layout, row| {
            match layout {
                Layout::Daily { asset, time, rate } => {
                    let hourly = row.bounded(*rate, Decimal::ZERO, MAX_RATE)? / Decimal::from(24);
                    out.push((
                        row.text(*asset)?.to_ascii_uppercase(),
                        row.time_ms(*time)?,
                        hourly,
                    ));
                }
                Layout::Annual {
                    asset,
                    date,
                    percent,
                } => {
                    let text = row.text(*date)?;
                    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                        row.error(*date, format!("expected YYYY-MM-DD, got {text:?}"))
                    })?;
                    let time_ms = day
                        .and_hms_opt(0, 0, 0)
                        .map_or(0, |t| t.and_utc().timestamp_millis());
                    let yearly_max = Decimal::from(36_500);
                    let hourly = row.bounded(*percent, Decimal::ZERO, yearly_max)?
                        / Decimal::from(100 * 365 * 24);
                    out.push((row.text(*asset)?.to_ascii_uppercase(), time_ms, hourly));
                }
            }
            Ok(())
        },
    )
}

/// Groups rows per asset; short spans collapse to their mean (a snapshot).
pub(crate) fn finish_borrow(rows: Vec<(String, i64, Decimal)>) -> BorrowHistory {
    let mut grouped: BTreeMap<String, Vec<(i64, Decimal)>> = BTreeMap::new();
    for (asset, time, rate) in rows {
        grouped.entry(asset).or_default().push((time, rate));
    }
    for points in grouped.values_mut() {
        points.sort_by_key(|p| p.0);
        let span = points.last().map_or(0, |l| l.0) - points.first().map_or(0, |f| f.0);
        if span < SNAPSHOT_SPAN_DAYS * DAY_MS {
            let sum: Decimal = points.iter().map(|p| p.1).sum();
            let mean = sum / Decimal::from(points.len());
            let first = points.first().map_or(0, |f| f.0);
            *points = vec![(first, mean)];
        } else {
            // One point per day is plenty for an hourly accrual.
            points.dedup_by_key(|p| p.0 / DAY_MS);
        }
    }
    BorrowHistory { series: grouped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn snapshot_collapses_to_mean_and_applies_everywhere() {
        let rows = vec![
            ("BTC".to_string(), 1_000, dec!(0.000002)),
            ("BTC".to_string(), 2_000, dec!(0.000004)),
        ];
        let history = finish_borrow(rows);
        assert_eq!(history.hourly_rate("BTC", 0), Some(dec!(0.000003)));
        assert_eq!(history.hourly_rate("BTC", i64::MAX), Some(dec!(0.000003)));
        assert!(!history.is_history("BTC"));
        assert_eq!(history.hourly_rate("ETH", 0), None);
    }
}

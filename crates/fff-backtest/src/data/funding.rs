//! Funding-rate files: the `/fapi/v1/fundingRate` layout (`symbol,fundingTime,fundingRate,
//! markPrice`) and Binance's bulk-data monthly files (`calc_time,funding_interval_hours,
//! last_funding_rate`).

use std::path::Path;

use rust_decimal::Decimal;

use super::table::{Header, MAX_RATE, column_of, read_table};
use crate::error::{Error, Result};

const HOUR_MS: i64 = 3_600_000;
/// Funding intervals Binance uses; a longer gap between two stamps is missing data.
const MAX_INTERVAL_HOURS: i64 = 8;

/// One funding settlement of a symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingPoint {
    /// Settlement time, epoch ms (Binance stamps a few ms after the hour).
    pub time_ms: i64,
    /// Rate paid by longs to shorts for this settlement (a plain fraction).
    pub rate: Decimal,
    /// Mark price at settlement, when the source has it.
    pub mark_price: Option<Decimal>,
    /// Hours since the previous settlement, derived from consecutive stamps.
    pub interval_hours: u32,
}

enum Layout {
    Rest {
        time: usize,
        rate: usize,
        mark: Option<usize>,
    },
    Bulk {
        time: usize,
        interval: usize,
        rate: usize,
    },
}

/// Raw rows of one file: (time, rate, mark, interval stated by the file).
pub(crate) type RawFunding = (i64, Decimal, Option<Decimal>, Option<u32>);

/// Parses one funding file of either layout.
pub(crate) fn read_funding_file(path: &Path, out: &mut Vec<RawFunding>) -> Result<()> {
    read_table(
        path,
        |header: &Header, width| detect_layout(path, header.as_deref(), width),
        |layout, row| {
            match layout {
                Layout::Rest { time, rate, mark } => {
                    let mark_price = match mark {
                        // Sources without a mark price leave the cell empty or write 0.
                        Some(col) if row.optional_decimal(*col)?.is_some_and(|m| !m.is_zero()) => {
                            Some(row.price(*col)?)
                        }
                        _ => None,
                    };
                    let rate = row.bounded(*rate, -MAX_RATE, MAX_RATE)?;
                    out.push((row.time_ms(*time)?, rate, mark_price, None));
                }
                Layout::Bulk {
                    time,
                    interval,
                    rate,
                } => {
                    let hours = row.integer(*interval)?;
                    let hours = u32::try_from(hours)
                        .ok()
                        .filter(|h| *h > 0)
                        .ok_or_else(|| row.error(*interval, format!("bad interval {hours}")))?;
                    let rate = row.bounded(*rate, -MAX_RATE, MAX_RATE)?;
                    out.push((row.time_ms(*time)?, rate, None, Some(hours)));
                }
            }
            Ok(())
        },
    )
}

fn detect_layout(path: &Path, header: Option<&[String]>, width: usize) -> Result<Layout> {
    match header {
        Some(names) if names.iter().any(|n| n.eq_ignore_ascii_case("calc_time")) => {
            Ok(Layout::Bulk {
                time: column_of(path, names, &["calc_time"])?,
                interval: column_of(path, names, &["funding_interval_hours"])?,
                rate: column_of(path, names, &["last_funding_rate"])?,
            })
        }
        Some(names) => Ok(Layout::Rest {
            time: column_of(path, names, &["fundingTime"])?,
            rate: column_of(path, names, &["fundingRate"])?,
            mark: column_of(path, names, &["markPrice"]).ok(),
        }),
        // Headerless: the bulk layout has three columns and starts with the time.
        None if width == 3 => Ok(Layout::Bulk {
            time: 0,
            interval: 1,
            rate: 2,
        }),
        None => Err(Error::Malformed {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("unrecognised funding layout without header ({width} columns)"),
        }),
    }
}

/// Sorts, de-duplicates and derives each settlement's interval from the previous stamp.
/// Returns the points and the number of gaps (stamps further apart than any Binance interval).
pub(crate) fn finish_funding(mut raw: Vec<RawFunding>) -> (Vec<FundingPoint>, usize) {
    raw.sort_by_key(|r| r.0);
    raw.dedup_by_key(|r| r.0 / HOUR_MS);
    let mut points: Vec<FundingPoint> = Vec::with_capacity(raw.len());
    let mut gaps = 0;
    for (index, (time_ms, rate, mark_price, stated)) in raw.iter().enumerate() {
        let derived = index
            .checked_sub(1)
            .map(|prev| (time_ms - raw[prev].0 + HOUR_MS / 2) / HOUR_MS);
        let interval_hours = match derived {
            Some(hours) if (1..=MAX_INTERVAL_HOURS).contains(&hours) => hours as u32,
            other => {
                if other.is_some() {
                    gaps += 1;
                }
                // First point or a gap: trust the file's stated interval, else the next
                // spacing, else the previous interval.
                stated
                    .or_else(|| {
                        raw.get(index + 1)
                            .map(|next| (next.0 - time_ms + HOUR_MS / 2) / HOUR_MS)
                            .filter(|h| (1..=MAX_INTERVAL_HOURS).contains(h))
                            .map(|h| h as u32)
                    })
                    .or_else(|| points.last().map(|p| p.interval_hours))
                    .unwrap_or(8)
            }
        };
        points.push(FundingPoint {
            time_ms: *time_ms,
            rate: *rate,
            mark_price: *mark_price,
            interval_hours,
        });
    }
    (points, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn raw(hours: &[i64]) -> Vec<RawFunding> {
        hours
            .iter()
            .map(|h| (h * HOUR_MS + 3, dec!(0.0001), None, None))
            .collect()
    }

    #[test]
    fn interval_follows_stamps_and_can_change() {
        let (points, gaps) = finish_funding(raw(&[0, 8, 16, 20, 24, 25, 26]));
        let intervals: Vec<u32> = points.iter().map(|p| p.interval_hours).collect();
        assert_eq!(intervals, vec![8, 8, 8, 4, 4, 1, 1]);
        assert_eq!(gaps, 0);
    }

    #[test]
    fn gaps_keep_the_previous_interval_and_are_counted() {
        let (points, gaps) = finish_funding(raw(&[0, 4, 8, 80, 84]));
        let intervals: Vec<u32> = points.iter().map(|p| p.interval_hours).collect();
        assert_eq!(intervals, vec![4, 4, 4, 4, 4]);
        assert_eq!(gaps, 1);
    }
}

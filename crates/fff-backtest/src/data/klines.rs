//! Daily klines: the repository layouts (`openTime,open,high,low,close,volume[,quoteVolume,...]`)
//! (open time, high, low, close and quote volume are read)
//! and Binance's bulk-data files (12 columns, with or without header; spot stamps in
//! microseconds since 2025).

use std::path::Path;

use rust_decimal::Decimal;

use super::table::{Header, column_of, read_table};
use crate::error::{Error, Result};

/// Largest 24h quote volume accepted (1e15 USDT).
const MAX_VOLUME: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// One daily bar; only what the replay uses.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyBar {
    /// Open time of the UTC day, epoch ms.
    pub open_time_ms: i64,
    /// Highest and lowest price of the day (the close when the file has no such columns): the
    /// adverse extremes the liquidation check reads.
    pub high: Decimal,
    pub low: Decimal,
    /// Close price.
    pub close: Decimal,
    /// 24h quote (USDT) volume, when the file has it.
    pub quote_volume: Option<Decimal>,
}

struct Columns {
    open_time: usize,
    high: Option<usize>,
    low: Option<usize>,
    close: usize,
    quote_volume: Option<usize>,
}

/// Parses one kline file and appends its bars.
pub(crate) fn read_kline_file(path: &Path, out: &mut Vec<DailyBar>) -> Result<()> {
    read_table(
        path,
        |header: &Header, width| detect_columns(path, header.as_deref(), width),
        |cols, row| {
            let close = row.price(cols.close)?;
            let high = cols.high.map_or(Ok(close), |c| row.price(c))?;
            let low = cols.low.map_or(Ok(close), |c| row.price(c))?;
            if low > high {
                return Err(row.error(
                    cols.low.unwrap_or(cols.close),
                    format!("low {low} above high {high}"),
                ));
            }
            let quote_volume = match cols.quote_volume {
                Some(col) if row.optional_decimal(col)?.is_some() => {
                    Some(row.bounded(col, Decimal::ZERO, MAX_VOLUME)?)
                }
                _ => None,
            };
            out.push(DailyBar {
                open_time_ms: row.time_ms(cols.open_time)?,
                // A close outside a sloppy file's range widens the range instead of failing.
                high: high.max(close),
                low: low.min(close),
                close,
                quote_volume,
            });
            Ok(())
        },
    )
}

fn detect_columns(path: &Path, header: Option<&[String]>, width: usize) -> Result<Columns> {
    match header {
        Some(names) => Ok(Columns {
            open_time: column_of(path, names, &["openTime", "open_time"])?,
            high: column_of(path, names, &["high"]).ok(),
            low: column_of(path, names, &["low"]).ok(),
            close: column_of(path, names, &["close"])?,
            quote_volume: column_of(path, names, &["quoteVolume", "quote_volume"]).ok(),
        }),
        // Binance bulk klines: open_time, o, h, l, c, volume, close_time, quote_volume, ...
        None if width == 12 => Ok(Columns {
            open_time: 0,
            high: Some(2),
            low: Some(3),
            close: 4,
            quote_volume: Some(7),
        }),
        None if width >= 5 => Ok(Columns {
            open_time: 0,
            high: Some(2),
            low: Some(3),
            close: 4,
            quote_volume: (width >= 7).then_some(6),
        }),
        None => Err(Error::Malformed {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("unrecognised kline layout without header ({width} columns)"),
        }),
    }
}

/// Sorts by time and keeps one bar per UTC day (the last one read wins).
pub(crate) fn finish_bars(mut bars: Vec<DailyBar>) -> Vec<DailyBar> {
    bars.sort_by_key(|b| b.open_time_ms);
    bars.dedup_by(|later, earlier| {
        let same_day = later.open_time_ms / super::DAY_MS == earlier.open_time_ms / super::DAY_MS;
        if same_day {
            std::mem::swap(later, earlier);
        }
        same_day
    });
    bars
}

//! A thin CSV reader that turns every bad cell into an error naming file, line and column.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use csv::{ByteRecord, ReaderBuilder};
use rust_decimal::Decimal;

use crate::error::{Error, Result};

/// Timestamps above this are microseconds (Binance bulk spot data since 2025), not milliseconds.
const MICROSECOND_THRESHOLD: i64 = 100_000_000_000_000;

/// One data row with its position, for typed access with precise errors.
pub(crate) struct Row<'a> {
    path: &'a Path,
    line: u64,
    record: &'a ByteRecord,
}

impl Row<'_> {
    pub(crate) fn len(&self) -> usize {
        self.record.len()
    }

    pub(crate) fn error(&self, column: usize, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.path.to_path_buf(),
            line: self.line,
            column: column + 1,
            message: message.into(),
        }
    }

    pub(crate) fn text(&self, column: usize) -> Result<&str> {
        let bytes = self
            .record
            .get(column)
            .ok_or_else(|| self.error(column, "missing column"))?;
        std::str::from_utf8(bytes)
            .map(str::trim)
            .map_err(|_| self.error(column, "not valid utf-8"))
    }

    /// Epoch milliseconds; microsecond stamps are scaled down.
    pub(crate) fn time_ms(&self, column: usize) -> Result<i64> {
        let text = self.text(column)?;
        let value = i64::from_str(text).map_err(|_| {
            self.error(
                column,
                format!("expected an integer timestamp, got {text:?}"),
            )
        })?;
        if value < 0 {
            return Err(self.error(column, format!("negative timestamp {value}")));
        }
        Ok(if value >= MICROSECOND_THRESHOLD {
            value / 1000
        } else {
            value
        })
    }

    pub(crate) fn decimal(&self, column: usize) -> Result<Decimal> {
        let text = self.text(column)?;
        parse_decimal(text)
            .ok_or_else(|| self.error(column, format!("expected a decimal number, got {text:?}")))
    }

    /// A decimal within `[low, high]`; values outside are data errors (they would also push
    /// later arithmetic out of `Decimal`'s range).
    pub(crate) fn bounded(&self, column: usize, low: Decimal, high: Decimal) -> Result<Decimal> {
        let value = self.decimal(column)?;
        if value < low || value > high {
            return Err(self.error(
                column,
                format!("{value} outside the plausible range [{low}, {high}]"),
            ));
        }
        Ok(value)
    }

    /// A price: positive and within `[1e-12, 1e12]`.
    pub(crate) fn price(&self, column: usize) -> Result<Decimal> {
        self.bounded(column, MIN_PRICE, MAX_PRICE)
    }

    /// Empty cells and missing trailing columns are `None`.
    pub(crate) fn optional_decimal(&self, column: usize) -> Result<Option<Decimal>> {
        if column >= self.len() || self.text(column)?.is_empty() {
            return Ok(None);
        }
        self.decimal(column).map(Some)
    }

    pub(crate) fn integer(&self, column: usize) -> Result<i64> {
        let text = self.text(column)?;
        i64::from_str(text)
            .map_err(|_| self.error(column, format!("expected an integer, got {text:?}")))
    }
}

/// Smallest and largest prices accepted.
pub(crate) const MIN_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 12);
pub(crate) const MAX_PRICE: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
/// Largest |rate| accepted for funding and daily borrow rates (100 % per period).
pub(crate) const MAX_RATE: Decimal = Decimal::ONE;

/// Plain or scientific notation (`4.354e-05` appears in Binance's borrow-rate exports).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text).ok()
    }
}

/// A header, when the first row is not data (its first cell is not a number).
pub(crate) type Header = Option<Vec<String>>;

/// Reads every row of `path`. The header (present when the first cell of the first row is not
/// an integer) and the row width go to `detect`, which returns the file's layout; every data
/// row then goes to `on_row` with that layout.
pub(crate) fn read_table<L>(
    path: &Path,
    detect: impl FnOnce(&Header, usize) -> Result<L>,
    mut on_row: impl FnMut(&L, &Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut detect = Some(detect);
    let mut layout: Option<L> = None;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let mut record = ByteRecord::new();
    let mut first = true;
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(path, &e))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() == 1 && record.get(0).is_some_and(|c| c.trim_ascii().is_empty()) {
            continue;
        }
        if first {
            first = false;
            let starts_numeric = record
                .get(0)
                .and_then(|c| std::str::from_utf8(c).ok())
                .is_some_and(|c| i64::from_str(c.trim()).is_ok());
            if !starts_numeric {
                let names = record
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).trim().to_string())
                    .collect();
                if let Some(detect) = detect.take() {
                    layout = Some(detect(&Some(names), record.len())?);
                }
                continue;
            }
            if let Some(detect) = detect.take() {
                layout = Some(detect(&None, record.len())?);
            }
        }
        let Some(layout) = &layout else {
            continue;
        };
        on_row(
            layout,
            &Row {
                path,
                line,
                record: &record,
            },
        )?;
    }
    Ok(())
}

fn csv_error(path: &Path, error: &csv::Error) -> Error {
    let (line, column) = error.position().map_or((0, 0), |p| (p.line(), 1));
    Error::Malformed {
        path: PathBuf::from(path),
        line,
        column,
        message: error.to_string(),
    }
}

/// Index of `name` in the header (case-insensitive), or an error at line 1.
pub(crate) fn column_of(path: &Path, header: &[String], names: &[&str]) -> Result<usize> {
    header
        .iter()
        .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        .ok_or_else(|| Error::Malformed {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("header lacks a {} column", names.join("/")),
        })
}

/// CSV files in `dir`, sorted by name; a missing directory is an empty list.
pub(crate) fn csv_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `BTCUSDT` from `BTCUSDT.csv` or Binance's bulk names like `BTCUSDT-fundingRate-2024-01.csv`.
pub(crate) fn symbol_of(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let symbol = stem.split('-').next()?.trim().to_ascii_uppercase();
    (!symbol.is_empty()).then_some(symbol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_plain_and_scientific_decimals() {
        assert_eq!(parse_decimal("0.0001"), Some(dec!(0.0001)));
        assert_eq!(parse_decimal("4.354e-05"), Some(dec!(0.00004354)));
        assert_eq!(parse_decimal("-1E-4"), Some(dec!(-0.0001)));
        assert_eq!(parse_decimal("abc"), None);
    }

    #[test]
    fn price_bounds_are_1e_minus_12_and_1e12() {
        assert_eq!(MIN_PRICE, Decimal::new(1, 12));
        assert_eq!(MAX_PRICE, Decimal::from(1_000_000_000_000u64));
    }

    #[test]
    fn symbol_from_file_names() {
        assert_eq!(
            symbol_of(Path::new("x/BTCUSDT.csv")).as_deref(),
            Some("BTCUSDT")
        );
        assert_eq!(
            symbol_of(Path::new("ETHUSDT-fundingRate-2024-01.csv")).as_deref(),
            Some("ETHUSDT")
        );
        assert_eq!(
            symbol_of(Path::new("solusdt-1d-2025-03.csv")).as_deref(),
            Some("SOLUSDT")
        );
    }
}

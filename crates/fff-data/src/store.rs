//! Output files: one CSV per (table, symbol), extended page by page. Each page rewrites the file
//! into a temporary sibling and renames it over the original, so a reader (or a crash) sees
//! either the old or the new file, never half a page.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The four layouts of the data README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Funding,
    Spot1d,
    Perp1d,
    Borrow,
}

impl Table {
    pub fn dir(self) -> &'static str {
        match self {
            Table::Funding => "funding",
            Table::Spot1d => "spot_1d",
            Table::Perp1d => "perp_1d",
            Table::Borrow => "borrow",
        }
    }

    pub fn header(self) -> &'static [&'static str] {
        match self {
            Table::Funding => &["symbol", "fundingTime", "fundingRate", "markPrice"],
            Table::Spot1d => &["openTime", "open", "high", "low", "close", "volume"],
            Table::Perp1d => &[
                "openTime",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "quoteVolume",
                "count",
                "closeTime",
            ],
            Table::Borrow => &["asset", "timestamp", "dailyInterestRate", "vipLevel"],
        }
    }

    /// Column holding the row's time, the key rows are ordered and resumed by.
    fn time_column(self) -> usize {
        match self {
            Table::Funding | Table::Borrow => 1,
            Table::Spot1d | Table::Perp1d => 0,
        }
    }

    pub fn path(self, out: &Path, name: &str) -> PathBuf {
        out.join(self.dir()).join(format!("{name}.csv"))
    }
}

/// What an existing file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileState {
    pub rows: usize,
    /// Time key of the first and last row.
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// Reads an existing file (absent = empty), checking the header and that keys strictly increase:
/// resuming after a file we cannot vouch for would mix layouts or duplicate rows.
pub fn inspect(table: Table, path: &Path) -> Result<FileState> {
    if !path.exists() {
        return Ok(FileState::default());
    }
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| corrupt(e.to_string()))?;
    let header = reader.headers().map_err(|e| corrupt(e.to_string()))?;
    if header.iter().ne(table.header().iter().copied()) {
        return Err(corrupt(format!(
            "header {:?} is not {:?}",
            header.iter().collect::<Vec<_>>(),
            table.header()
        )));
    }
    let mut state = FileState::default();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| corrupt(e.to_string()))?;
        let key = record
            .get(table.time_column())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| {
                corrupt(format!(
                    "row {}: no time in column {}",
                    i + 2,
                    table.time_column()
                ))
            })?;
        if state.last.is_some_and(|last| key <= last) {
            return Err(corrupt(format!(
                "row {}: time {key} is not after the previous row",
                i + 2
            )));
        }
        state.first.get_or_insert(key);
        state.last = Some(key);
        state.rows += 1;
    }
    Ok(state)
}

/// Appends `rows` (already ordered, all after the file's last key) as one atomic commit.
pub fn append(table: Table, path: &Path, rows: &[Vec<String>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut bytes);
        let write = |w: &mut csv::Writer<&mut Vec<u8>>, rec: &[String]| {
            w.write_record(rec).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        };
        if w.get_ref().is_empty() {
            let header: Vec<String> = table.header().iter().map(|s| s.to_string()).collect();
            write(&mut w, &header)?;
        }
        for row in rows {
            write(&mut w, row)?;
        }
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    let tmp = path.with_extension("csv.part");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn append_then_inspect_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = Table::Funding.path(dir.path(), "BTCUSDT");
        assert_eq!(
            inspect(Table::Funding, &path).unwrap(),
            FileState::default()
        );
        append(
            Table::Funding,
            &path,
            &[row(&["BTCUSDT", "10", "0.0001", "1"])],
        )
        .unwrap();
        append(
            Table::Funding,
            &path,
            &[
                row(&["BTCUSDT", "20", "-0.0001", ""]),
                row(&["BTCUSDT", "30", "0", "2"]),
            ],
        )
        .unwrap();
        let s = inspect(Table::Funding, &path).unwrap();
        assert_eq!((s.rows, s.first, s.last), (3, Some(10), Some(30)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("symbol,fundingTime,fundingRate,markPrice\nBTCUSDT,10,"));
        assert!(!path.with_extension("csv.part").exists());
    }

    #[test]
    fn refuses_foreign_or_unordered_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = Table::Spot1d.path(dir.path(), "BTCUSDT");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "symbol,fundingTime\nX,1\n").unwrap();
        assert!(matches!(
            inspect(Table::Spot1d, &path),
            Err(Error::Corrupt { .. })
        ));
        std::fs::write(
            &path,
            "openTime,open,high,low,close,volume\n2,1,1,1,1,1\n1,1,1,1,1,1\n",
        )
        .unwrap();
        let err = inspect(Table::Spot1d, &path).unwrap_err().to_string();
        assert!(err.contains("not after"), "{err}");
    }
}

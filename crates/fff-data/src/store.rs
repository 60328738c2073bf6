//! Output files: one CSV per (table, symbol), extended page by page. Each page of a pull
//! rewrites the file into a temporary sibling and renames it over the original, so a reader (or
//! a crash) sees either the old or the new file, never half a page. The recorder, whose files
//! grow by a row a minute for months, appends instead ([`open_append`], [`append_lines`]): a
//! line cut by a crash is removed when the file is next opened.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The four layouts of the data README, and the recorder's three (docs/DATA.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Funding,
    Spot1d,
    Perp1d,
    Borrow,
    /// `fff data record`: open interest samples.
    OpenInterest,
    /// `fff data record`: best bid/ask of the perp and the spot pair, sampled together.
    Spread,
    /// `fff data record`: the premium index, with the running (predicted) funding rate.
    PredictedFunding,
}

impl Table {
    pub fn dir(self) -> &'static str {
        match self {
            Table::Funding => "funding",
            Table::Spot1d => "spot_1d",
            Table::Perp1d => "perp_1d",
            Table::Borrow => "borrow",
            Table::OpenInterest => "open_interest",
            Table::Spread => "spread",
            Table::PredictedFunding => "predicted_funding",
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
            Table::OpenInterest => &["symbol", "time", "openInterest"],
            Table::Spread => &[
                "symbol",
                "time",
                "perpBidPrice",
                "perpBidQty",
                "perpAskPrice",
                "perpAskQty",
                "spotBidPrice",
                "spotBidQty",
                "spotAskPrice",
                "spotAskQty",
            ],
            Table::PredictedFunding => &[
                "symbol",
                "time",
                "markPrice",
                "indexPrice",
                "estimatedSettlePrice",
                "lastFundingRate",
                "interestRate",
                "nextFundingTime",
            ],
        }
    }

    /// Column holding the row's time, the key rows are ordered and resumed by.
    fn time_column(self) -> usize {
        match self {
            Table::Spot1d | Table::Perp1d => 0,
            Table::Funding
            | Table::Borrow
            | Table::OpenInterest
            | Table::Spread
            | Table::PredictedFunding => 1,
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
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::default()),
        Err(e) => return Err(Error::io(path, e)),
        Ok(m) if m.len() == 0 => return Ok(FileState::default()),
        Ok(_) => {}
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

/// Readies `path` for [`append_lines`]: a last line without its newline (a crash mid-write) is
/// cut off, then the file is checked like [`inspect`]. Returns what the file holds.
pub fn open_append(table: Table, path: &Path) -> Result<FileState> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.last().is_some_and(|b| *b != b'\n') => {
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            tracing::warn!(file = %path.display(), cut = bytes.len() - keep, "removing a partial last line");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            f.set_len(keep as u64).map_err(|e| Error::io(path, e))?;
            f.sync_all().map_err(|e| Error::io(path, e))?;
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    inspect(table, path)
}

/// Appends `rows` (ordered, all after the file's last key) in one write, with the header first
/// when the file is new or empty.
pub fn append_lines(table: Table, path: &Path, rows: &[Vec<String>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let empty = file.metadata().map_err(|e| Error::io(path, e))?.len() == 0;
    let mut bytes = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut bytes);
        let corrupt = |e: csv::Error| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if empty {
            w.write_record(table.header()).map_err(corrupt)?;
        }
        for row in rows {
            w.write_record(row).map_err(corrupt)?;
        }
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    file.write_all(&bytes).map_err(|e| Error::io(path, e))
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
    fn appends_and_repairs_a_cut_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = Table::OpenInterest.path(dir.path(), "BTCUSDT");
        assert_eq!(
            open_append(Table::OpenInterest, &path).unwrap(),
            FileState::default()
        );
        append_lines(
            Table::OpenInterest,
            &path,
            &[row(&["BTCUSDT", "10", "5"]), row(&["BTCUSDT", "20", "6"])],
        )
        .unwrap();
        // A crash in the middle of the next write.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("BTCUSDT,3");
        std::fs::write(&path, &text).unwrap();
        let s = open_append(Table::OpenInterest, &path).unwrap();
        assert_eq!((s.rows, s.last), (2, Some(20)));
        append_lines(Table::OpenInterest, &path, &[row(&["BTCUSDT", "30", "7"])]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "symbol,time,openInterest\nBTCUSDT,10,5\nBTCUSDT,20,6\nBTCUSDT,30,7\n"
        );
        // Only half a header: the file starts again.
        std::fs::write(&path, "symbol,ti").unwrap();
        assert_eq!(open_append(Table::OpenInterest, &path).unwrap().rows, 0);
        append_lines(Table::OpenInterest, &path, &[row(&["BTCUSDT", "40", "8"])]).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("symbol,time,openInterest\nBTCUSDT,40")
        );
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

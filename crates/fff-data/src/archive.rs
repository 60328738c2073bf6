//! `fff data pull --source archive`: Binance's public bulk-data archive (monthly zips, each with
//! a `.CHECKSUM` sibling) unzipped into the backtester's layout.
//!
//! Per file: download into `OUT/.partial/` while hashing, compare with the published SHA-256,
//! unzip the one CSV inside to a temporary name next to its final place, rename it. So a CSV
//! under `funding/`, `perp_1d/` or `spot_1d/` exists only once its zip was verified, and a re-run
//! skips it without a request; whatever an interrupted run left in `.partial/` is overwritten.
//! A month the archive does not have (404: not listed yet, delisted, no spot market, the month
//! not over) is skipped and reported.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::args::PullArgs;
use crate::error::{Error, Result};
use crate::store::Table;
use crate::universe::{self, Listing};

/// Folder (under `--out`) for downloads in progress; the backtester never reads it.
pub const PARTIAL_DIR: &str = ".partial";
/// A CSV inside a zip larger than this is refused (Binance's monthly files are kilobytes).
const MAX_CSV_BYTES: u64 = 1 << 30;
/// Failures named in the error; the rest are counted.
const MAX_NAMED_FAILURES: usize = 8;

/// What happened to one archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveOutcome {
    /// Downloaded, verified against its `.CHECKSUM` and unzipped (`bytes` of zip).
    Downloaded { bytes: u64 },
    /// Its CSV was already there from an earlier run (verified then): no request made.
    AlreadyVerified,
    /// The archive has no such file (404).
    Missing,
}

/// One (table, symbol, month) of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    pub table: Table,
    pub symbol: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Path in the archive, e.g. `data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip`.
    pub remote: String,
    /// The CSV it becomes, e.g. `OUT/funding/BTCUSDT-fundingRate-2024-01.csv`.
    pub path: PathBuf,
    pub outcome: ArchiveOutcome,
}

/// What an archive pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub out: PathBuf,
    pub base_url: String,
    /// First and last month asked for, `YYYY-MM`.
    pub first_month: String,
    pub last_month: String,
    pub symbols: Vec<String>,
    /// Every file, sorted by table, symbol, month.
    pub files: Vec<ArchiveFile>,
    pub notes: Vec<String>,
}

impl ArchiveSummary {
    fn count(&self, f: impl Fn(&ArchiveOutcome) -> bool) -> usize {
        self.files.iter().filter(|x| f(&x.outcome)).count()
    }

    pub fn downloaded(&self) -> usize {
        self.count(|o| matches!(o, ArchiveOutcome::Downloaded { .. }))
    }

    pub fn already_verified(&self) -> usize {
        self.count(|o| *o == ArchiveOutcome::AlreadyVerified)
    }

    pub fn missing(&self) -> usize {
        self.count(|o| *o == ArchiveOutcome::Missing)
    }
}

impl fmt::Display for ArchiveSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self
            .files
            .iter()
            .map(|x| match x.outcome {
                ArchiveOutcome::Downloaded { bytes } => bytes,
                _ => 0,
            })
            .sum();
        writeln!(
            f,
            "pulled {} .. {} of {} symbol(s) from {} into {}: {} downloaded and verified ({} bytes), {} already verified, {} not in the archive",
            self.first_month,
            self.last_month,
            self.symbols.len(),
            self.base_url,
            self.out.display(),
            self.downloaded(),
            bytes,
            self.already_verified(),
            self.missing(),
        )?;
        // Missing months grouped per file series: "spot_1d/XUSDT 2024-01..2024-06 (6 months)".
        let mut missing: BTreeMap<(Table, &str), Vec<&str>> = BTreeMap::new();
        for x in &self.files {
            if x.outcome == ArchiveOutcome::Missing {
                missing
                    .entry((x.table, &x.symbol))
                    .or_default()
                    .push(&x.month);
            }
        }
        for ((table, symbol), months) in missing {
            let span = match (months.first(), months.last()) {
                (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
                (Some(a), _) => a.to_string(),
                _ => String::new(),
            };
            writeln!(
                f,
                "  not in the archive: {}/{symbol} {span} ({} month(s))",
                table.dir(),
                months.len()
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

/// `data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip` and friends.
pub fn remote_path(table: Table, symbol: &str, month: &str) -> Result<String> {
    Ok(match table {
        Table::Funding => {
            format!("data/futures/um/monthly/fundingRate/{symbol}/{symbol}-fundingRate-{month}.zip")
        }
        Table::Perp1d => {
            format!("data/futures/um/monthly/klines/{symbol}/1d/{symbol}-1d-{month}.zip")
        }
        Table::Spot1d => format!("data/spot/monthly/klines/{symbol}/1d/{symbol}-1d-{month}.zip"),
        other => {
            return Err(Error::Args(format!(
                "the archive has no {} files",
                other.dir()
            )));
        }
    })
}

/// `YYYY-MM` of every month touching `[from, to)`.
fn months(from: NaiveDate, to: NaiveDate) -> Vec<String> {
    let Some(last) = to.pred_opt() else {
        return Vec::new();
    };
    let (mut y, mut m) = (from.year(), from.month());
    let mut out = Vec::new();
    while (y, m) <= (last.year(), last.month()) {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

struct Job {
    table: Table,
    symbol: String,
    month: String,
    remote: String,
    path: PathBuf,
}

/// Downloads `args.symbols` (or `all-usdt-perps`) for the months touching `[from, to)`.
pub async fn pull_archive(args: &PullArgs) -> Result<ArchiveSummary> {
    args.window_ms()?;
    let base = args.archive_url.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::Args(format!(
            "--archive-url is not an http(s) URL: {base:?}"
        )));
    }
    let spec = args.symbol_spec()?;
    let mut notes = Vec::new();
    let symbols = {
        let client = fff_binance::RestClient::new(
            args.universe_urls(),
            None,
            fff_binance::rest::RestConfig::default(),
        )
        .map_err(|e| Error::Args(e.to_string()))?;
        let (symbols, skipped) = universe::resolve(&spec, &client, Listing::Any).await?;
        notes.extend(skipped);
        symbols
    };
    let months = months(args.from, args.to);
    let mut jobs = Vec::new();
    for symbol in &symbols {
        for table in [Table::Funding, Table::Perp1d, Table::Spot1d] {
            for month in &months {
                let remote = remote_path(table, symbol, month)?;
                let name = remote.rsplit('/').next().unwrap_or(&remote);
                let stem = name.strip_suffix(".zip").unwrap_or(name);
                jobs.push(Job {
                    table,
                    symbol: symbol.clone(),
                    month: month.clone(),
                    path: args.out.join(table.dir()).join(format!("{stem}.csv")),
                    remote,
                });
            }
        }
    }
    for table in [Table::Funding, Table::Perp1d, Table::Spot1d] {
        let dir = args.out.join(table.dir());
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    fff_binance::install_crypto_provider();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("fff-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Args(format!("http client: {e}")))?;
    let progress = Progress::new(jobs.len() as u64);
    let fetcher = Fetcher {
        http,
        base: base.clone(),
        partial: args.out.join(PARTIAL_DIR),
        retries: args.retries,
    };
    let results: Vec<(Job, Result<ArchiveOutcome>)> = futures_util::stream::iter(jobs)
        .map(|job| {
            let fetcher = &fetcher;
            let progress = &progress;
            async move {
                let result = fetcher.fetch(&job).await;
                progress.done(&job, &result);
                (job, result)
            }
        })
        .buffer_unordered(args.jobs.clamp(1, 32))
        .collect()
        .await;
    progress.finish();
    let mut files = Vec::new();
    let mut failed = Vec::new();
    for (job, result) in results {
        match result {
            Ok(outcome) => files.push(ArchiveFile {
                table: job.table,
                symbol: job.symbol,
                month: job.month,
                remote: job.remote,
                path: job.path,
                outcome,
            }),
            Err(e) => failed.push((job.remote, e.to_string())),
        }
    }
    if !failed.is_empty() {
        failed.sort();
        let ok = files
            .iter()
            .filter(|f| f.outcome != ArchiveOutcome::Missing)
            .count();
        let more = failed.len().saturating_sub(MAX_NAMED_FAILURES);
        let failed = failed
            .into_iter()
            .take(MAX_NAMED_FAILURES)
            .map(|(_, e)| e)
            .collect();
        return Err(Error::Incomplete { failed, more, ok });
    }
    files.sort_by(|a, b| (a.table, &a.symbol, &a.month).cmp(&(b.table, &b.symbol, &b.month)));
    if let Some(last) = months.last() {
        let now = chrono::Utc::now().date_naive();
        if *last >= format!("{:04}-{:02}", now.year(), now.month()) {
            notes.push(format!(
                "monthly archive files appear after the month ends: {last} is not complete yet"
            ));
        }
    }
    Ok(ArchiveSummary {
        out: args.out.clone(),
        base_url: base,
        first_month: months.first().cloned().unwrap_or_default(),
        last_month: months.last().cloned().unwrap_or_default(),
        symbols,
        files,
        notes,
    })
}

struct Fetcher {
    http: reqwest::Client,
    base: String,
    partial: PathBuf,
    retries: u32,
}

impl Fetcher {
    /// One file, with retries for failures in transit; nothing of a failed attempt is kept.
    async fn fetch(&self, job: &Job) -> Result<ArchiveOutcome> {
        if job.path.is_file() {
            return Ok(ArchiveOutcome::AlreadyVerified);
        }
        let mut attempt = 0;
        loop {
            let result = self.try_fetch(job).await;
            match result {
                Err(Error::Http {
                    retryable: true, ..
                }) if attempt < self.retries => {
                    attempt += 1;
                    let wait = Duration::from_millis(250 << attempt.min(6));
                    tracing::debug!(file = %job.remote, attempt, "retrying download");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn try_fetch(&self, job: &Job) -> Result<ArchiveOutcome> {
        let url = format!("{}/{}", self.base, job.remote);
        let response = self.get(&url).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(ArchiveOutcome::Missing);
        }
        let mut response = ok_status(&url, response)?;
        let name = job.remote.rsplit('/').next().unwrap_or(&job.remote);
        let part = self
            .partial
            .join(job.table.dir())
            .join(format!("{name}.part"));
        let result = async {
            let (bytes, actual) = download(&url, &mut response, &part).await?;
            let expected = self.checksum(&url, &job.remote, name).await?;
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(Error::Checksum {
                    file: job.remote.clone(),
                    expected,
                    actual,
                });
            }
            let (zip, csv, remote) = (part.clone(), job.path.clone(), job.remote.clone());
            tokio::task::spawn_blocking(move || unzip(&zip, &csv, &remote))
                .await
                .map_err(|e| Error::BadArchive {
                    file: job.remote.clone(),
                    reason: format!("unzip task failed: {e}"),
                })??;
            Ok(ArchiveOutcome::Downloaded { bytes })
        }
        .await;
        // Verified and unzipped, or rejected: the zip is not kept either way.
        let _ = std::fs::remove_file(&part);
        result
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response> {
        self.http.get(url).send().await.map_err(|e| Error::Http {
            url: url.to_string(),
            reason: error_chain(&e.without_url()),
            retryable: true,
        })
    }

    /// The SHA-256 the archive publishes for `name`.
    async fn checksum(&self, zip_url: &str, remote: &str, name: &str) -> Result<String> {
        let url = format!("{zip_url}.CHECKSUM");
        let response = self.get(&url).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::BadArchive {
                file: remote.to_string(),
                reason: "no .CHECKSUM published next to it, so it cannot be verified".into(),
            });
        }
        let text = ok_status(&url, response)?
            .text()
            .await
            .map_err(|e| Error::Http {
                url: url.clone(),
                reason: error_chain(&e.without_url()),
                retryable: true,
            })?;
        parse_checksum(&text, name).map_err(|reason| Error::BadArchive {
            file: format!("{remote}.CHECKSUM"),
            reason,
        })
    }
}

/// Streams the body into `part` while hashing it: (bytes, sha256 hex).
async fn download(
    url: &str,
    response: &mut reqwest::Response,
    part: &Path,
) -> Result<(u64, String)> {
    if let Some(dir) = part.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Error::io(dir, e))?;
    }
    let expected_len = response.content_length();
    let mut file = tokio::fs::File::create(part)
        .await
        .map_err(|e| Error::io(part, e))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let chunk = response.chunk().await.map_err(|e| Error::Http {
            url: url.to_string(),
            reason: format!(
                "download cut after {bytes} bytes: {}",
                error_chain(&e.without_url())
            ),
            retryable: true,
        })?;
        let Some(chunk) = chunk else { break };
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(part, e))?;
    }
    file.sync_all().await.map_err(|e| Error::io(part, e))?;
    if let Some(len) = expected_len.filter(|len| *len != bytes) {
        return Err(Error::Http {
            url: url.to_string(),
            reason: format!("download cut: {bytes} of {len} bytes"),
            retryable: true,
        });
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

fn ok_status(url: &str, response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    Err(Error::Http {
        url: url.to_string(),
        reason: format!("HTTP {status}"),
        retryable: status.is_server_error() || status.as_u16() == 429,
    })
}

/// reqwest's message and its causes ("error sending request: connection closed …").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `<sha256 hex>  <file name>` (the name may be absent; when present it must be `name`).
pub fn parse_checksum(text: &str, name: &str) -> std::result::Result<String, String> {
    let mut words = text.split_whitespace();
    let hash = words
        .next()
        .ok_or_else(|| "empty checksum file".to_string())?;
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("not a sha256 hex digest: {hash:?}"));
    }
    if let Some(named) = words.next() {
        let named = named.trim_start_matches('*');
        if named != name {
            return Err(format!("names {named:?}, not {name:?}"));
        }
    }
    Ok(hash.to_ascii_lowercase())
}

/// Writes the one CSV inside `zip` to `csv` (temporary name, then rename).
fn unzip(zip: &Path, csv: &Path, remote: &str) -> Result<()> {
    let bad = |reason: String| Error::BadArchive {
        file: remote.to_string(),
        reason,
    };
    let file = std::fs::File::open(zip).map_err(|e| Error::io(zip, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a readable zip: {e}")))?;
    let mut found = None;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(format!("entry {i}: {e}")))?
            .to_ascii_lowercase();
        if entry.is_file() && name.ends_with(".csv") {
            if found.is_some() {
                return Err(bad("holds more than one CSV".into()));
            }
            found = Some(i);
        }
    }
    let index = found.ok_or_else(|| bad("holds no CSV".into()))?;
    let mut entry = archive
        .by_index(index)
        .map_err(|e| bad(format!("entry {index}: {e}")))?;
    if entry.size() > MAX_CSV_BYTES {
        return Err(bad(format!("its CSV unpacks to {} bytes", entry.size())));
    }
    let tmp = csv.with_extension("csv.part");
    let result = (|| {
        let mut out = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        // The zip reader checks the entry's CRC-32 at its end.
        std::io::copy(&mut (&mut entry).take(MAX_CSV_BYTES), &mut out)
            .map_err(|e| bad(format!("unzip: {e}")))?;
        out.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, csv).map_err(|e| Error::io(csv, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A bar on a terminal, else a line per file on stderr.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            total,
            done: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn done(&self, job: &Job, result: &Result<ArchiveOutcome>) {
        let n = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let what = match result {
            Ok(ArchiveOutcome::Downloaded { bytes }) => format!("verified, {bytes} bytes"),
            Ok(ArchiveOutcome::AlreadyVerified) => "already verified, skipped".into(),
            Ok(ArchiveOutcome::Missing) => "not in the archive (404), skipped".into(),
            Err(e) => format!("FAILED: {e}"),
        };
        let name = job.path.file_name().map(|n| n.to_string_lossy());
        let line = format!(
            "{}/{} {what}",
            job.table.dir(),
            name.as_deref().unwrap_or_default()
        );
        match &self.bar {
            Some(bar) => {
                if result.is_err() {
                    bar.println(&line);
                }
                bar.set_message(line);
                bar.inc(1);
            }
            None => eprintln!("[{n}/{}] {line}", self.total),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_cover_the_window() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(months(d(2024, 1, 1), d(2024, 2, 1)), ["2024-01"]);
        assert_eq!(
            months(d(2023, 11, 15), d(2024, 2, 2)),
            ["2023-11", "2023-12", "2024-01", "2024-02"]
        );
    }

    #[test]
    fn paths_follow_the_archive_layout() {
        assert_eq!(
            remote_path(Table::Funding, "BTCUSDT", "2024-01").unwrap(),
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
        );
        assert_eq!(
            remote_path(Table::Perp1d, "BTCUSDT", "2024-01").unwrap(),
            "data/futures/um/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01.zip"
        );
        assert_eq!(
            remote_path(Table::Spot1d, "BTCUSDT", "2024-01").unwrap(),
            "data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01.zip"
        );
        assert!(remote_path(Table::Borrow, "BTC", "2024-01").is_err());
    }

    #[test]
    fn checksum_files_are_parsed_strictly() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_checksum(&format!("{h}  X.zip\n"), "X.zip"),
            Ok(h.clone())
        );
        assert_eq!(parse_checksum(&h.to_uppercase(), "X.zip"), Ok(h.clone()));
        assert!(parse_checksum(&format!("{h}  Y.zip"), "X.zip").is_err());
        assert!(parse_checksum("abc  X.zip", "X.zip").is_err());
        assert!(parse_checksum("", "X.zip").is_err());
    }
}

//! The pull itself: one task per output file, each paging forward from the file's last row.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

use fff_binance::RestClient;
use fff_binance::rest::RestConfig;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::archive::{ArchiveSummary, pull_archive};
use crate::args::{PullArgs, Source, Venue};
use crate::error::{Error, Result};
use crate::store::Table;
use crate::universe::{self, Listing};

mod run;

use run::Run;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const QUOTES: [&str; 3] = ["USDT", "USDC", "FDUSD"];

/// One output file after the pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub table: Table,
    /// Symbol (or asset, for borrow files).
    pub name: String,
    pub path: PathBuf,
    /// Rows this run added.
    pub added: usize,
    /// Rows in the file now, and the time of its first and last row.
    pub rows: usize,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSummary {
    pub out: PathBuf,
    pub venue: Venue,
    /// The window pulled, `[from, to)`, `to` capped at the exchange's time.
    pub from_ms: i64,
    pub to_ms: i64,
    pub files: Vec<FileSummary>,
    /// Files skipped and why (unknown symbol, no key for borrow rates, …).
    pub notes: Vec<String>,
    /// Requests made.
    pub pages: usize,
    /// False when `--max-pages` stopped the run early (re-run to continue).
    pub complete: bool,
}

impl PullSummary {
    /// Rows added across all files.
    pub fn added(&self) -> usize {
        self.files.iter().map(|f| f.added).sum()
    }
}

fn stamp(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%dT%H:%MZ").to_string())
}

impl fmt::Display for PullSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.complete {
            "complete"
        } else {
            "stopped early, re-run to continue"
        };
        writeln!(
            f,
            "pulled {} .. {} from {} into {} ({} requests, {} rows added, {state})",
            stamp(Some(self.from_ms)),
            stamp(Some(self.to_ms)),
            self.venue.as_str(),
            self.out.display(),
            self.pages,
            self.added(),
        )?;
        for file in &self.files {
            writeln!(
                f,
                "  {:<24} +{} rows ({} total, {} .. {})",
                format!("{}/{}.csv", file.table.dir(), file.name),
                file.added,
                file.rows,
                stamp(file.first),
                stamp(file.last),
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

/// What `fff data pull` did, per source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullReport {
    Api(PullSummary),
    Archive(ArchiveSummary),
}

impl fmt::Display for PullReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullReport::Api(s) => s.fmt(f),
            PullReport::Archive(s) => s.fmt(f),
        }
    }
}

/// Downloads `args.symbols` over `[from, to)` into `args.out` from `args.source` (see the crate
/// docs), reading `BINANCE_API_KEY` / `BINANCE_API_SECRET` from the process environment for
/// mainnet borrow rates.
pub async fn pull(args: &PullArgs) -> anyhow::Result<PullReport> {
    Ok(match args.source {
        Source::Api => PullReport::Api(pull_with_env(args, &|k| std::env::var(k).ok()).await?),
        Source::Archive => PullReport::Archive(pull_archive(args).await?),
    })
}

/// The REST-API pull (`--source api`) with an injected environment lookup (tests never touch
/// the process environment).
pub async fn pull_with_env(
    args: &PullArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PullSummary> {
    if args.source != Source::Api {
        return Err(Error::Args(
            "pull_with_env pages the REST API: use pull_archive for --source archive".into(),
        ));
    }
    let (from, to) = args.window_ms()?;
    let spec = args.symbol_spec()?;
    let urls = args.urls()?;
    let creds = args.credentials(env);
    let client = RestClient::new(urls, creds.as_ref().ok().cloned(), RestConfig::default())
        .map_err(|e| Error::Args(e.to_string()))?;
    let (symbols, mut notes) = universe::resolve(&spec, &client, Listing::Trading).await?;
    let now = client
        .futures_time()
        .await
        .map_err(|e| Error::exchange("server time", e))?
        .server_time;
    let to = to.min(now);
    let mut tasks: Vec<(Table, String)> = Vec::new();
    for s in &symbols {
        tasks.extend([Table::Funding, Table::Spot1d, Table::Perp1d].map(|t| (t, s.clone())));
    }
    let mut assets: Vec<String> = Vec::new();
    for s in &symbols {
        match QUOTES
            .iter()
            .find_map(|q| s.strip_suffix(q).filter(|b| !b.is_empty()))
        {
            Some(base) if !assets.iter().any(|a| a == base) => assets.push(base.to_string()),
            Some(_) => {}
            None => notes.push(format!("{s}: unknown quote asset, no borrow rates pulled")),
        }
    }
    match &creds {
        Ok(_) => tasks.extend(assets.iter().map(|a| (Table::Borrow, a.clone()))),
        Err(why) if !assets.is_empty() => {
            notes.push(format!(
                "borrow rates skipped ({why}): they need a signed request"
            ));
        }
        Err(_) => {}
    }
    let mut run = Run {
        client,
        creds: creds.ok(),
        out: args.out.clone(),
        from,
        to,
        now,
        page_limit: args.page_limit,
        budget: args.max_pages,
        pages: 0,
        bar: progress_bar(tasks.len() as u64 * span_hours(from, to)),
    };
    let mut summary = PullSummary {
        out: args.out.clone(),
        venue: args.venue,
        from_ms: from,
        to_ms: to,
        files: Vec::new(),
        notes,
        pages: 0,
        complete: true,
    };
    for (table, name) in tasks {
        run.bar.set_message(format!("{}/{name}", table.dir()));
        let outcome = run.task(table, &name).await;
        summary.pages = run.pages;
        match outcome {
            Ok(Some(file)) => {
                // Files only grow at the end: rows missing before an existing file's first row
                // stay missing.
                if file.rows > file.added && file.first.is_some_and(|f| f > from + DAY_MS) {
                    summary.notes.push(format!(
                        "{}/{name}.csv starts at {}, after --from: earlier rows are not back-filled (move the file away to download them)",
                        table.dir(),
                        stamp(file.first)
                    ));
                }
                summary.files.push(file);
            }
            Ok(None) => {
                summary.complete = false;
                break;
            }
            Err(Error::Exchange { source, .. }) if unknown_symbol(&source) => {
                summary.notes.push(format!(
                    "{}/{name}: not listed on this venue ({source})",
                    table.dir()
                ));
            }
            Err(e) => {
                run.bar.abandon();
                return Err(e);
            }
        }
    }
    run.bar.finish_and_clear();
    Ok(summary)
}

/// Invalid symbol (-1121), or not a margin asset (-3027): skipped, not fatal.
fn unknown_symbol(e: &fff_binance::Error) -> bool {
    matches!(
        e,
        fff_binance::Error::Api {
            code: -1121 | -3027,
            ..
        }
    )
}

fn span_hours(from: i64, to: i64) -> u64 {
    u64::try_from((to - from).max(0) / HOUR_MS).unwrap_or(0)
}

fn progress_bar(len: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {percent:>3}% {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

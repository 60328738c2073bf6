//! The pull itself: one task per output file, each paging forward from the file's last row.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

use fff_binance::models::{Kline, KlineInterval};
use fff_binance::rest::RestConfig;
use fff_binance::{Credentials, RestClient};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{PullArgs, Venue};
use crate::error::{Error, Result};
use crate::store::{self, FileState, Table};

const HOUR_MS: i64 = 3_600_000;
/// Borrow-rate rows are hourly; a window of 100 hours stays within any per-call row cap we know.
const BORROW_WINDOW_MS: i64 = 100 * HOUR_MS;
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
            "pulled {} .. {} from {:?} into {} ({} requests, {} rows added, {state})",
            stamp(Some(self.from_ms)),
            stamp(Some(self.to_ms)),
            self.venue,
            self.out.display(),
            self.pages,
            self.added(),
        )?;
        for file in &self.files {
            writeln!(
                f,
                "  {}/{}.csv  +{} rows ({} total, {} .. {})",
                file.table.dir(),
                file.name,
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

/// Downloads `args.symbols` over `[from, to)` into `args.out` (see the crate docs), reading
/// `BINANCE_API_KEY` / `BINANCE_API_SECRET` from the process environment for mainnet.
pub async fn pull(args: &PullArgs) -> anyhow::Result<PullSummary> {
    Ok(pull_with_env(args, &|k| std::env::var(k).ok()).await?)
}

/// [`pull`] with an injected environment lookup (tests never touch the process environment).
pub async fn pull_with_env(
    args: &PullArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PullSummary> {
    let (from, to) = args.window_ms()?;
    let symbols = args.symbol_list()?;
    let urls = args.urls()?;
    let creds = args.credentials(env);
    let client = RestClient::new(urls, creds.as_ref().ok().cloned(), RestConfig::default())
        .map_err(|e| Error::Args(e.to_string()))?;
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
    let mut notes = Vec::new();
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
            Ok(Some(file)) => summary.files.push(file),
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

fn unknown_symbol(e: &fff_binance::Error) -> bool {
    matches!(e, fff_binance::Error::Api { code: -1121, .. })
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

struct Run {
    client: RestClient,
    /// Kept so borrow tasks only run with a key (the client holds its own copy).
    creds: Option<Credentials>,
    out: PathBuf,
    from: i64,
    to: i64,
    /// Exchange time at the start: klines closing after it are still in progress.
    now: i64,
    page_limit: Option<u32>,
    budget: Option<usize>,
    pages: usize,
    bar: ProgressBar,
}

/// Rows of one page, each with its time key.
type Page = Vec<(i64, Vec<String>)>;

impl Run {
    /// Takes one request from the page budget; false once it is spent.
    fn take_page(&mut self) -> bool {
        match self.budget.as_mut() {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                self.pages += 1;
                true
            }
            None => {
                self.pages += 1;
                true
            }
        }
    }

    /// Extends one file up to `to`; `Ok(None)` when the page budget ran out first.
    async fn task(&mut self, table: Table, name: &str) -> Result<Option<FileSummary>> {
        let path = table.path(&self.out, name);
        let before = store::inspect(table, &path)?;
        let mut state = before;
        let start = self.from.max(before.last.map_or(i64::MIN, |l| l + 1));
        let mut cursor = start;
        let hours = span_hours(self.from, self.to);
        let mut shown = span_hours(self.from, cursor.min(self.to)).min(hours);
        self.bar.inc(shown);
        while cursor < self.to {
            if !self.take_page() {
                return Ok(None);
            }
            let (rows, next, done) = self.page(table, name, cursor).await?;
            // Only rows after everything already written, in order: never a duplicate.
            let rows: Vec<(i64, Vec<String>)> = rows
                .into_iter()
                .filter(|(t, _)| *t >= cursor && *t < self.to && state.last.is_none_or(|l| *t > l))
                .collect();
            let fresh: Vec<Vec<String>> = rows.iter().map(|(_, r)| r.clone()).collect();
            store::append(table, &path, &fresh)?;
            for (t, _) in &rows {
                state.first.get_or_insert(*t);
                state.last = Some(*t);
                state.rows += 1;
            }
            tracing::debug!(file = %path.display(), rows = rows.len(), "page committed");
            let reached = span_hours(self.from, next.min(self.to)).min(hours);
            self.bar.inc(reached.saturating_sub(shown));
            shown = shown.max(reached);
            if done || next <= cursor {
                break;
            }
            cursor = next;
        }
        self.bar.inc(hours.saturating_sub(shown));
        Ok(Some(summary(table, name, path, before, state)))
    }

    /// Fetches the page starting at `cursor`: its rows, the next cursor, and whether the
    /// exchange has nothing more up to `to`.
    async fn page(&self, table: Table, name: &str, cursor: i64) -> Result<(Page, i64, bool)> {
        let end = self.to - 1;
        let what = format!("{}/{name}", table.dir());
        let err = |e| Error::exchange(what.clone(), e);
        match table {
            Table::Funding => {
                let limit = self.page_limit.unwrap_or(1000).clamp(1, 1000);
                let rows = self
                    .client
                    .funding_rate_history(Some(name), Some(cursor), Some(end), Some(limit))
                    .await
                    .map_err(err)?;
                let done = rows.len() < limit as usize;
                let mut page: Page = rows
                    .into_iter()
                    .filter(|r| r.symbol == name)
                    .map(|r| {
                        let mark = r.mark_price.map(|m| m.to_string()).unwrap_or_default();
                        let row = vec![
                            r.symbol,
                            r.funding_time.to_string(),
                            r.funding_rate.to_string(),
                            mark,
                        ];
                        (r.funding_time, row)
                    })
                    .collect();
                page.sort_by_key(|(t, _)| *t);
                let next = page.last().map_or(self.to, |(t, _)| t + 1);
                Ok((page, next, done))
            }
            Table::Spot1d | Table::Perp1d => {
                let perp = table == Table::Perp1d;
                let max = if perp { 1500 } else { 1000 };
                let limit = self.page_limit.unwrap_or(max).clamp(1, max);
                let call = if perp {
                    self.client
                        .futures_klines(
                            name,
                            KlineInterval::D1,
                            Some(cursor),
                            Some(end),
                            Some(limit),
                        )
                        .await
                } else {
                    self.client
                        .klines(
                            name,
                            KlineInterval::D1,
                            Some(cursor),
                            Some(end),
                            Some(limit),
                        )
                        .await
                };
                let klines = call.map_err(err)?;
                let mut done = klines.len() < limit as usize;
                let mut page: Page = Vec::new();
                for k in klines {
                    // A kline still in progress would be frozen half-way by the resume rule.
                    if k.close_time >= self.now {
                        done = true;
                        break;
                    }
                    page.push((k.open_time, kline_row(&k, perp)));
                }
                page.sort_by_key(|(t, _)| *t);
                let next = page.last().map_or(self.to, |(t, _)| t + 1);
                Ok((page, next, done))
            }
            Table::Borrow => {
                if self.creds.is_none() {
                    return Ok((Vec::new(), self.to, true));
                }
                let window_end = (cursor + BORROW_WINDOW_MS - 1).min(end);
                let rows = self
                    .client
                    .margin_interest_rate_history(name, Some(cursor), Some(window_end))
                    .await
                    .map_err(err)?;
                let mut page: Page = rows
                    .into_iter()
                    .filter(|r| r.asset == name && r.timestamp <= window_end)
                    .map(|r| {
                        let row = vec![
                            r.asset,
                            r.timestamp.to_string(),
                            r.daily_interest_rate.to_string(),
                            r.vip_level.to_string(),
                        ];
                        (r.timestamp, row)
                    })
                    .collect();
                // Binance answers newest first.
                page.sort_by_key(|(t, _)| *t);
                page.dedup_by_key(|(t, _)| *t);
                Ok((page, window_end + 1, window_end >= end))
            }
        }
    }
}

fn kline_row(k: &Kline, perp: bool) -> Vec<String> {
    let mut row = vec![
        k.open_time.to_string(),
        k.open.to_string(),
        k.high.to_string(),
        k.low.to_string(),
        k.close.to_string(),
        k.volume.to_string(),
    ];
    if perp {
        row.extend([
            k.quote_volume.to_string(),
            k.trades.to_string(),
            k.close_time.to_string(),
        ]);
    }
    row
}

fn summary(
    table: Table,
    name: &str,
    path: PathBuf,
    before: FileState,
    now: FileState,
) -> FileSummary {
    FileSummary {
        table,
        name: name.to_string(),
        path,
        added: now.rows - before.rows,
        rows: now.rows,
        first: now.first,
        last: now.last,
    }
}

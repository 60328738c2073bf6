//! `fff data record`: samples what no public history holds, for backtests of the filters the
//! live scanner applies (spread, open interest), of the predicted funding rate it ranks by, and
//! of margin borrow rates beyond the few months the API serves.
//!
//! Each round (every `--interval-secs`): the premium index of every symbol (one request), the
//! perp and spot book tickers (one request each) and the open interest per symbol. Every
//! `--borrow-interval-secs` (and at start): the borrow-rate history of every base asset and
//! USDT, from the file's last row on, or `--backfill-days` back for a new file, in 30-day
//! windows (the endpoint's limit). Rows are appended to one CSV per (table, symbol); a row whose
//! time is not after the file's last row is dropped, so restarts never duplicate rows.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fff_binance::RestClient;
use fff_binance::models::BookTicker;
use fff_binance::rest::RestConfig;
use futures_util::StreamExt;

use crate::args::{ALL_USDT_PERPS, SymbolSpec, Venue, symbol_spec, venue_credentials, venue_urls};
use crate::error::{Error, Result};
use crate::store::{self, Table};
use crate::universe::{self, Listing};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// `/sapi/v1/margin/interestRateHistory` serves at most a month per request.
const BORROW_WINDOW_MS: i64 = 30 * DAY_MS;
/// Requests per 30-day window before giving up on paging (a venue answering nonsense).
const MAX_PAGES_PER_WINDOW: usize = 200;

/// `fff data record --out DIR [--symbols ...] [--once]`.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// Output directory (the one `fff backtest --data` reads; `borrow/` is shared with `pull`).
    #[arg(long)]
    pub out: PathBuf,
    /// USDⓈ-M perpetuals to sample, comma-separated, or `all-usdt-perps` (status TRADING,
    /// refreshed with every borrow poll).
    #[arg(long, value_delimiter = ',', default_value = ALL_USDT_PERPS)]
    pub symbols: Vec<String>,
    /// Exchange to sample: sim uses the simulator's paper key, mainnet reads
    /// `BINANCE_API_KEY` / `BINANCE_API_SECRET` (borrow rates are skipped without them).
    #[arg(long, value_enum, default_value_t = Venue::Sim)]
    pub venue: Venue,
    /// Binance-compatible REST base URL serving spot, margin and futures, replacing the venue's
    /// (default for venue sim: http://127.0.0.1:8765, where `fff sim` and `fff up` listen).
    #[arg(long, env = "FFF_DATA__URL")]
    pub url: Option<String>,
    /// Venue sim: file holding the JSON line `fff sim` prints first.
    #[arg(long, env = "FFF_EXCHANGE__SIM_URLS_FILE")]
    pub sim_urls: Option<PathBuf>,
    /// Seconds between market samples (open interest, book tickers, premium index).
    #[arg(long, default_value_t = 60)]
    pub interval_secs: u64,
    /// Seconds between borrow-rate polls (rates are hourly).
    #[arg(long, default_value_t = 3600)]
    pub borrow_interval_secs: u64,
    /// Days of borrow-rate history fetched for an asset that has no file yet.
    #[arg(long, default_value_t = 30)]
    pub backfill_days: u32,
    /// One round (market samples and borrow rates), then exit.
    #[arg(long)]
    pub once: bool,
    /// Open-interest requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

/// Rows one round appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundSummary {
    /// Exchange time of the round.
    pub time: i64,
    pub symbols: usize,
    pub open_interest: usize,
    pub spread: usize,
    pub predicted_funding: usize,
    pub borrow: usize,
}

/// What a recording did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub out: PathBuf,
    pub rounds: Vec<RoundSummary>,
    /// Rounds that failed (the collector went on; `--once` fails instead).
    pub failed_rounds: usize,
    /// Symbols or assets skipped and why.
    pub notes: Vec<String>,
}

impl fmt::Display for RoundSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = chrono::DateTime::from_timestamp_millis(self.time).map_or_else(
            || "-".into(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        write!(
            f,
            "{at}: {} symbols, +{} open_interest, +{} spread, +{} predicted_funding, +{} borrow rows",
            self.symbols, self.open_interest, self.spread, self.predicted_funding, self.borrow
        )
    }
}

impl fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "recorded {} round(s) into {} ({} failed)",
            self.rounds.len(),
            self.out.display(),
            self.failed_rounds
        )?;
        for r in &self.rounds {
            writeln!(f, "  {r}")?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

/// Records until `shutdown` resolves (or one round with `--once`), reading
/// `BINANCE_API_KEY` / `BINANCE_API_SECRET` from the process environment for mainnet.
pub async fn record(
    args: &RecordArgs,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<RecordSummary> {
    Ok(record_with_env(args, &|k| std::env::var(k).ok(), shutdown).await?)
}

/// [`record`] with an injected environment lookup.
pub async fn record_with_env(
    args: &RecordArgs,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    shutdown: impl Future<Output = ()>,
) -> Result<RecordSummary> {
    let spec = symbol_spec(&args.symbols)?;
    if args.interval_secs == 0 || args.borrow_interval_secs == 0 {
        return Err(Error::Args("intervals must be at least one second".into()));
    }
    let urls = venue_urls(args.venue, args.sim_urls.as_deref(), args.url.as_deref())?;
    let creds = venue_credentials(args.venue, env);
    let mut notes = BTreeSet::new();
    if let Err(why) = &creds {
        notes.insert(format!("borrow rates not recorded: {why}"));
    }
    let client = RestClient::new(urls, creds.as_ref().ok().cloned(), RestConfig::default())
        .map_err(|e| Error::Args(e.to_string()))?;
    let mut rec = Recorder {
        client,
        borrow: creds.is_ok(),
        out: args.out.clone(),
        spec,
        symbols: Vec::new(),
        assets: Vec::new(),
        last: HashMap::new(),
        not_margin: BTreeSet::new(),
        backfill_ms: i64::from(args.backfill_days) * DAY_MS,
        jobs: args.jobs.clamp(1, 32),
        notes,
    };
    let mut summary = RecordSummary {
        out: args.out.clone(),
        ..RecordSummary::default()
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let interval = Duration::from_secs(args.interval_secs);
    let borrow_every = Duration::from_secs(args.borrow_interval_secs);
    let mut next_borrow = tokio::time::Instant::now();
    loop {
        let borrow_due = tokio::time::Instant::now() >= next_borrow;
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = rec.round(borrow_due) => r,
        };
        match outcome {
            Ok(round) => {
                eprintln!("fff data record {round}");
                summary.rounds.push(round);
                if borrow_due {
                    next_borrow = tokio::time::Instant::now() + borrow_every;
                }
            }
            Err(e) if args.once => return Err(e),
            Err(e) => {
                summary.failed_rounds += 1;
                tracing::warn!(error = %e, "record round failed, retrying next round");
                eprintln!("fff data record: round failed (retrying next round): {e}");
            }
        }
        if args.once {
            break;
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
    summary.notes = rec.notes.into_iter().collect();
    Ok(summary)
}

struct Recorder {
    client: RestClient,
    /// Credentials are there: borrow rates are recorded.
    borrow: bool,
    out: PathBuf,
    spec: SymbolSpec,
    symbols: Vec<String>,
    /// Base assets of `symbols`, and USDT.
    assets: Vec<String>,
    /// Last row time per file (None: the file has no rows), loaded on first use.
    last: HashMap<PathBuf, Option<i64>>,
    /// Assets whose borrow rates the venue refused (not asked again this session).
    not_margin: BTreeSet<String>,
    backfill_ms: i64,
    jobs: usize,
    notes: BTreeSet<String>,
}

impl Recorder {
    async fn round(&mut self, borrow_due: bool) -> Result<RoundSummary> {
        if self.symbols.is_empty() || borrow_due {
            match universe::resolve(&self.spec, &self.client, Listing::Trading).await {
                Ok((symbols, skipped)) => {
                    self.notes.extend(skipped);
                    self.set_symbols(symbols);
                }
                // Keep sampling the universe we have; without one there is nothing to do.
                Err(e) if !self.symbols.is_empty() => {
                    tracing::warn!(error = %e, "universe refresh failed, keeping the old one");
                }
                Err(e) => return Err(e),
            }
        }
        let now = self
            .client
            .futures_time()
            .await
            .map_err(|e| Error::exchange("futures server time", e))?
            .server_time;
        let mut round = RoundSummary {
            time: now,
            symbols: self.symbols.len(),
            ..RoundSummary::default()
        };
        round.predicted_funding = self.premium_index().await?;
        round.spread = self.books(now).await?;
        round.open_interest = self.open_interest().await?;
        if borrow_due && self.borrow {
            round.borrow = self.borrow_rates(now).await?;
        }
        Ok(round)
    }

    fn set_symbols(&mut self, symbols: Vec<String>) {
        let mut assets: Vec<String> = symbols
            .iter()
            .filter_map(|s| s.strip_suffix("USDT").filter(|b| !b.is_empty()))
            .map(str::to_string)
            .collect();
        assets.push("USDT".into());
        assets.sort();
        assets.dedup();
        self.assets = assets;
        self.symbols = symbols;
    }

    async fn premium_index(&mut self) -> Result<usize> {
        let all = self
            .client
            .premium_indexes()
            .await
            .map_err(|e| Error::exchange("premiumIndex", e))?;
        let mut added = 0;
        for p in all {
            if self.symbols.binary_search(&p.symbol).is_err() {
                continue;
            }
            let row = vec![
                p.symbol.clone(),
                p.time.to_string(),
                p.mark_price.to_string(),
                p.index_price.to_string(),
                p.estimated_settle_price.to_string(),
                p.last_funding_rate.to_string(),
                p.interest_rate.to_string(),
                p.next_funding_time.to_string(),
            ];
            added += self.append(Table::PredictedFunding, &p.symbol, vec![(p.time, row)])?;
        }
        Ok(added)
    }

    /// Perp and spot best bid/ask, stamped with the round's exchange time.
    async fn books(&mut self, now: i64) -> Result<usize> {
        let perp = self
            .client
            .futures_book_tickers()
            .await
            .map_err(|e| Error::exchange("futures bookTicker", e))?;
        let spot = self
            .client
            .book_tickers()
            .await
            .map_err(|e| Error::exchange("spot bookTicker", e))?;
        let spot: HashMap<String, BookTicker> =
            spot.into_iter().map(|b| (b.symbol.clone(), b)).collect();
        let mut added = 0;
        for p in perp {
            if self.symbols.binary_search(&p.symbol).is_err() {
                continue;
            }
            let mut row = vec![p.symbol.clone(), now.to_string()];
            row.extend(book_columns(Some(&p)));
            row.extend(book_columns(spot.get(&p.symbol)));
            added += self.append(Table::Spread, &p.symbol, vec![(now, row)])?;
        }
        Ok(added)
    }

    async fn open_interest(&mut self) -> Result<usize> {
        let client = &self.client;
        let results: Vec<(String, fff_binance::Result<_>)> =
            futures_util::stream::iter(self.symbols.clone())
                .map(|s| async move {
                    let r = client.open_interest(&s).await;
                    (s, r)
                })
                .buffer_unordered(self.jobs)
                .collect()
                .await;
        let mut added = 0;
        for (symbol, result) in results {
            match result {
                Ok(oi) => {
                    let row = vec![
                        symbol.clone(),
                        oi.time.to_string(),
                        oi.open_interest.to_string(),
                    ];
                    added += self.append(Table::OpenInterest, &symbol, vec![(oi.time, row)])?;
                }
                Err(e) if rejected(&e, -1121) => {
                    self.notes
                        .insert(format!("{symbol}: not listed on this venue ({e})"));
                }
                Err(e) if matches!(e, fff_binance::Error::Api { .. }) => {
                    self.notes.insert(format!(
                        "{symbol}: open interest refused by the venue ({e})"
                    ));
                }
                Err(e) => return Err(Error::exchange(format!("openInterest {symbol}"), e)),
            }
        }
        Ok(added)
    }

    /// Borrow-rate history of every asset since its file's last row.
    async fn borrow_rates(&mut self, now: i64) -> Result<usize> {
        let mut added = 0;
        for asset in self.assets.clone() {
            if self.not_margin.contains(&asset) {
                continue;
            }
            let path = Table::Borrow.path(&self.out, &asset);
            let last = self.last_key(Table::Borrow, &path)?;
            let mut start = last.map_or(now - self.backfill_ms, |l| l + 1);
            while start <= now {
                let end = (start + BORROW_WINDOW_MS - 1).min(now);
                match self.borrow_window(&asset, start, end).await {
                    Ok(rows) => added += self.append(Table::Borrow, &asset, rows)?,
                    // -3027 not a margin asset, or any other definite refusal: noted, and the
                    // asset is not asked again this session (connectivity errors fail the round).
                    Err(e) if matches!(e, fff_binance::Error::Api { .. }) => {
                        let why = if rejected(&e, -3027) {
                            "not a margin asset"
                        } else {
                            "refused by the venue"
                        };
                        self.notes
                            .insert(format!("{asset}: {why}, no borrow rates ({e})"));
                        self.not_margin.insert(asset.clone());
                        break;
                    }
                    Err(e) => {
                        return Err(Error::exchange(format!("interestRateHistory {asset}"), e));
                    }
                }
                start = end + 1;
            }
        }
        Ok(added)
    }

    /// Every row of `[start, end]`, paging backwards while the venue returns only the newest
    /// part of the window (its row cap is not documented).
    async fn borrow_window(
        &self,
        asset: &str,
        start: i64,
        end: i64,
    ) -> fff_binance::Result<Vec<(i64, Vec<String>)>> {
        let mut rows = Vec::new();
        let mut to = end;
        for _ in 0..MAX_PAGES_PER_WINDOW {
            let page = self
                .client
                .margin_interest_rate_history(asset, Some(start), Some(to))
                .await?;
            let page: Vec<_> = page
                .into_iter()
                .filter(|r| r.asset == asset && r.timestamp >= start && r.timestamp <= to)
                .collect();
            let Some(oldest) = page.iter().map(|r| r.timestamp).min() else {
                break;
            };
            rows.extend(page.into_iter().map(|r| {
                let row = vec![
                    r.asset,
                    r.timestamp.to_string(),
                    r.daily_interest_rate.to_string(),
                    r.vip_level.to_string(),
                ];
                (r.timestamp, row)
            }));
            if oldest <= start {
                break;
            }
            to = oldest - 1;
        }
        Ok(rows)
    }

    fn last_key(&mut self, table: Table, path: &Path) -> Result<Option<i64>> {
        if let Some(last) = self.last.get(path) {
            return Ok(*last);
        }
        let last = store::open_append(table, path)?.last;
        self.last.insert(path.to_path_buf(), last);
        Ok(last)
    }

    /// Appends the rows after the file's last row, in time order, once each.
    fn append(
        &mut self,
        table: Table,
        name: &str,
        mut rows: Vec<(i64, Vec<String>)>,
    ) -> Result<usize> {
        let path = table.path(&self.out, name);
        let last = self.last_key(table, &path)?;
        rows.retain(|(t, _)| last.is_none_or(|l| *t > l));
        rows.sort_by_key(|(t, _)| *t);
        rows.dedup_by_key(|(t, _)| *t);
        let Some((newest, _)) = rows.last() else {
            return Ok(0);
        };
        let newest = *newest;
        let lines: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
        store::append_lines(table, &path, &lines)?;
        self.last.insert(path, Some(newest));
        Ok(lines.len())
    }
}

fn book_columns(b: Option<&BookTicker>) -> [String; 4] {
    match b {
        Some(b) => [
            b.bid_price.to_string(),
            b.bid_qty.to_string(),
            b.ask_price.to_string(),
            b.ask_qty.to_string(),
        ],
        None => Default::default(),
    }
}

/// The venue answered with error `code` (e.g. -1121 invalid symbol, -3027 not a margin asset).
fn rejected(e: &fff_binance::Error, code: i64) -> bool {
    matches!(e, fff_binance::Error::Api { code: c, .. } if *c == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        record: RecordArgs,
    }

    #[test]
    fn parses_the_documented_command_line() {
        let a = Cli::try_parse_from(["record", "--out", "data", "--once"])
            .unwrap()
            .record;
        assert_eq!(a.symbols, [ALL_USDT_PERPS]);
        assert_eq!(symbol_spec(&a.symbols).unwrap(), SymbolSpec::AllUsdtPerps);
        assert_eq!((a.venue, a.once, a.interval_secs), (Venue::Sim, true, 60));
        assert_eq!((a.borrow_interval_secs, a.backfill_days), (3600, 30));
        let urls = venue_urls(a.venue, None, None).unwrap();
        assert_eq!(urls.futures_rest, crate::args::SIM_DEFAULT_URL);
        let a = Cli::try_parse_from([
            "record",
            "--out",
            "d",
            "--symbols",
            "btcusdt,ETHUSDT",
            "--url",
            "http://127.0.0.1:9/",
        ])
        .unwrap()
        .record;
        assert_eq!(
            symbol_spec(&a.symbols).unwrap(),
            SymbolSpec::List(vec!["BTCUSDT".into(), "ETHUSDT".into()])
        );
        let urls = venue_urls(a.venue, None, a.url.as_deref()).unwrap();
        assert_eq!(
            (urls.spot_rest.as_str(), urls.futures_rest.as_str()),
            ("http://127.0.0.1:9", "http://127.0.0.1:9")
        );
    }
}

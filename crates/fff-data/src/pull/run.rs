//! One pull task: extends one file page by page, each page committed before the next request.

use std::path::PathBuf;

use fff_binance::models::{Kline, KlineInterval};
use fff_binance::{Credentials, RestClient};
use indicatif::ProgressBar;

use super::{FileSummary, HOUR_MS, span_hours};
use crate::error::{Error, Result};
use crate::store::{self, FileState, Table};

/// Borrow-rate rows are hourly; a window of 100 hours stays within any per-call row cap we know.
const BORROW_WINDOW_MS: i64 = 100 * HOUR_MS;

pub(super) struct Run {
    pub(super) client: RestClient,
    /// Kept so borrow tasks only run with a key (the client holds its own copy).
    pub(super) creds: Option<Credentials>,
    pub(super) out: PathBuf,
    pub(super) from: i64,
    pub(super) to: i64,
    /// Exchange time at the start: klines closing after it are still in progress.
    pub(super) now: i64,
    pub(super) page_limit: Option<u32>,
    pub(super) budget: Option<usize>,
    pub(super) pages: usize,
    pub(super) bar: ProgressBar,
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
    pub(super) async fn task(&mut self, table: Table, name: &str) -> Result<Option<FileSummary>> {
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
            // Sampled by `fff data record`: the REST API has no history of them.
            Table::OpenInterest | Table::Spread | Table::PredictedFunding => {
                Ok((Vec::new(), self.to, true))
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

//! The role's shared state: monitor, directive log and approvals behind one lock, and (for the
//! `fff risk` role) the database and the fence of the writer lease term in progress.
//!
//! A decision is taken under the lock, then stored (one fenced transaction: the directives and
//! the monitor's latched state), and only then recorded in the log and broadcast. If it cannot
//! be stored (the lease term ended, the database is unreachable) the monitor is put back as it
//! was and nothing is issued, so the next observation decides again. Decisions are serialised
//! by `turn`, so sequence numbers are stored in order. Without a lease term nothing is decided,
//! approved or acknowledged ([`CoreError::NotLeased`]).
//!
//! The margin figures observed are the last account snapshot re-valued at the mark prices
//! received since it was taken ([`Valuation`]): a snapshot and a mark each update it and are
//! observed under `turn`, so a decision always sees the newest of both and a mark computed on an
//! older snapshot cannot overtake a newer one.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use fff_proto::fff::risk::v1::DirectiveKind;
use fff_store::{Fenced, LeaseFence, RiskDirectiveQuery, Store};
use rust_decimal::Decimal;

use crate::account::AccountMetrics;
use crate::approvals::{Approval, ApprovalRequest, Approvals, EntryBudget};
use crate::directives::{Ack, Directive, DirectiveLog, DirectiveRecord, NewDirective};
use crate::monitor::{Latched, RiskMonitor};
use crate::persist;
use crate::revalue::{MarginBasis, MarkQuote, Valuation};

/// The role name of `risk_monitor_state`.
pub const ROLE: &str = "risk";

/// Why the state could not be changed or read.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// This instance holds no writer lease term: another instance decides.
    #[error("this risk instance does not hold the writer lease")]
    NotLeased,
    #[error(transparent)]
    Store(#[from] fff_store::StoreError),
    /// A stored row this version cannot read.
    #[error("{0}")]
    Corrupt(String),
}

/// Everything the handlers and background loops share.
#[derive(Debug)]
pub struct Inner {
    pub monitor: RiskMonitor,
    pub log: DirectiveLog,
    pub approvals: Approvals,
    /// The last snapshot and the marks since: the margin figures observed.
    pub valuation: Valuation,
}

/// A page of ListDirectives.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub before: Option<u64>,
    pub kinds: Vec<DirectiveKind>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// Cheap to share (`Arc<RiskCore>`); the std lock is never held across an `.await`.
#[derive(Debug)]
pub struct RiskCore {
    inner: Mutex<Inner>,
    /// Serialises decisions with their storage.
    turn: tokio::sync::Mutex<()>,
    /// `None`: memory only (unit tests), always writable.
    store: Option<Store>,
    /// The lease term in progress; `None` between terms.
    fence: Mutex<Option<LeaseFence>>,
    /// The monitor as configured, before any observation: each term starts from it.
    pristine: RiskMonitor,
    /// Symbols whose marks the valuation follows (from the last snapshot).
    held: tokio::sync::watch::Sender<BTreeSet<String>>,
    /// Bumped whenever the entry budget may have changed (every decision, a lease term's start
    /// or end): `StreamEntryBudget` sends a revision on each bump.
    budget_changes: tokio::sync::watch::Sender<u64>,
}

impl RiskCore {
    /// Memory-only state (no database, no lease): for tests of the decisions.
    pub fn new(monitor: RiskMonitor, log: DirectiveLog, approvals: Approvals) -> Self {
        Self::build(monitor, log, approvals, None)
    }

    /// State stored in `store`; writable only between [`Self::start_term`] and
    /// [`Self::end_term`].
    pub fn persistent(
        monitor: RiskMonitor,
        log: DirectiveLog,
        approvals: Approvals,
        store: Store,
    ) -> Self {
        Self::build(monitor, log, approvals, Some(store))
    }

    fn build(
        monitor: RiskMonitor,
        log: DirectiveLog,
        approvals: Approvals,
        store: Option<Store>,
    ) -> Self {
        Self {
            pristine: monitor.clone(),
            inner: Mutex::new(Inner {
                monitor,
                log,
                approvals,
                valuation: Valuation::default(),
            }),
            turn: tokio::sync::Mutex::new(()),
            store,
            fence: Mutex::new(None),
            held: tokio::sync::watch::Sender::new(BTreeSet::new()),
            budget_changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The entry budget now (`NotLeased` when another instance decides).
    pub fn budget(&self, now: DateTime<Utc>) -> Result<EntryBudget, CoreError> {
        self.writable()?;
        let mut guard = self.lock();
        let inner = &mut *guard;
        Ok(inner.approvals.budget(&inner.monitor, now))
    }

    /// Notified whenever the entry budget may have changed.
    pub fn budget_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.budget_changes.subscribe()
    }

    fn budget_may_have_changed(&self) {
        self.budget_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The state; a poisoned lock (a panic elsewhere) still yields it: every update is a
    /// complete assignment, so the data stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fence_slot(&self) -> MutexGuard<'_, Option<LeaseFence>> {
        self.fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The term's fence (`None` for memory-only state), or `NotLeased`.
    fn writable(&self) -> Result<Option<LeaseFence>, CoreError> {
        if self.store.is_none() {
            return Ok(None);
        }
        self.fence_slot()
            .clone()
            .map(Some)
            .ok_or(CoreError::NotLeased)
    }

    /// Whether this instance may decide now.
    pub fn is_leased(&self) -> bool {
        self.writable().is_ok()
    }

    /// Starts a lease term: reloads the latched monitor state, the directive history (the
    /// sequence continues after the highest stored one), and replays the equity window into
    /// the drawdown latch; then issues what the history calls for and is not already in force
    /// (a restored halt or drawdown-limit cut is not issued twice). Returns what it issued.
    pub async fn start_term(
        &self,
        fence: LeaseFence,
        history: usize,
        equity_window_days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        let Some(store) = &self.store else {
            return Ok(Vec::new());
        };
        let _turn = self.turn.lock().await;
        let latched = store
            .risk_monitor_state(ROLE)
            .await?
            .map(|row| persist::latched_from_row(&row))
            .transpose()?;
        let limit = i64::try_from(history).unwrap_or(i64::MAX);
        let records = load_records(store, store.recent_risk_directives(limit).await?).await?;
        let max_stored = store
            .max_risk_directive_sequence()
            .await?
            .and_then(|max| u64::try_from(max).ok());
        let (samples, month_max) =
            crate::snapshots::load_equity(store, equity_window_days, now).await?;
        let wanted = {
            let mut inner = self.lock();
            inner.monitor = self.pristine.clone();
            // the term's feed reads a snapshot first
            inner.valuation = Valuation::default();
            if let Some(latched) = latched {
                inner.monitor.restore_latched(latched);
            }
            inner.log.restore(records, max_stored);
            inner.approvals.clear();
            let restored = inner.monitor.seed_equity(samples);
            if let Some(max) = month_max {
                inner.monitor.set_month_max(now, max);
            }
            restored
                .into_iter()
                .filter(|new| !inner.log.already_in_force(new))
                .collect::<Vec<_>>()
        };
        *self.fence_slot() = Some(fence);
        let latched_before = self.lock().monitor.latched();
        self.commit(wanted, latched_before, now).await
    }

    /// Ends the lease term at once: nothing more is decided, approved or acknowledged, and live
    /// directive subscribers are disconnected (they reconnect to the holder).
    pub fn end_term(&self) {
        if self.store.is_none() {
            return;
        }
        *self.fence_slot() = None;
        self.lock().log.close_subscribers();
        self.budget_may_have_changed();
    }

    /// Symbols whose mark prices move the margin figures, updated with every snapshot.
    pub fn held_symbols(&self) -> tokio::sync::watch::Receiver<BTreeSet<String>> {
        self.held.subscribe()
    }

    /// Makes an account snapshot the base of the margin figures and observes it, re-valued at
    /// the marks received since it was taken (a snapshot never undoes a fresher price).
    pub async fn apply_snapshot(
        &self,
        basis: MarginBasis,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        let _turn = self.turn.lock().await;
        let (metrics, held) = {
            let mut inner = self.lock();
            inner.valuation.set_basis(basis);
            (inner.valuation.current(), inner.valuation.symbols())
        };
        self.held.send_if_modified(|symbols| {
            let changed = *symbols != held;
            *symbols = held;
            changed
        });
        self.observe_valued(metrics, now).await
    }

    /// Records a streamed mark price and observes the snapshot re-valued at it; nothing when
    /// the symbol moves nothing held (or before the first snapshot).
    pub async fn apply_mark(
        &self,
        symbol: &str,
        quote: MarkQuote,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        self.apply_quote(symbol, quote, now, false).await
    }

    /// Keeps a price read from the perp's book (its mid) and applies the books newer than their
    /// marks like marks, but only when together they move the account into a worse tier: the
    /// venue pushes marks once a second while books move at once, so a crash reaches the
    /// directive stream in milliseconds (a move across several books is judged as a whole),
    /// and a book that is not the mark (a thin moment, a wick) can never relax a tier or move
    /// the figures otherwise.
    pub async fn apply_book(
        &self,
        symbol: &str,
        quote: MarkQuote,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        self.apply_quote(symbol, quote, now, true).await
    }

    async fn apply_quote(
        &self,
        symbol: &str,
        quote: MarkQuote,
        now: DateTime<Utc>,
        escalation_only: bool,
    ) -> Result<Vec<Directive>, CoreError> {
        let _turn = self.turn.lock().await;
        let metrics = {
            let mut inner = self.lock();
            if escalation_only {
                if !inner.valuation.record_book(symbol, quote) {
                    return Ok(Vec::new());
                }
                let trial = inner.valuation.with_books();
                let metrics = trial.current();
                if !metrics.as_ref().is_some_and(|m| inner.monitor.escalates(m)) {
                    return Ok(Vec::new());
                }
                inner.valuation = trial;
                metrics
            } else {
                if !inner.valuation.record(symbol, quote) {
                    return Ok(Vec::new());
                }
                inner.valuation.current()
            }
        };
        if escalation_only {
            tracing::warn!(symbol, price = %quote.mark, "perp book crosses a margin tier before the next mark");
        }
        self.observe_valued(metrics, now).await
    }

    /// Applies account metrics as they are (no re-valuation) and issues what they call for.
    pub async fn apply_account(
        &self,
        metrics: AccountMetrics,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        let _turn = self.turn.lock().await;
        self.observe(metrics, now).await
    }

    /// [`Self::observe`] of the valuation's figures; nothing before the first snapshot.
    async fn observe_valued(
        &self,
        metrics: Option<AccountMetrics>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        match metrics {
            Some(metrics) => self.observe(metrics, now).await,
            None => Ok(Vec::new()),
        }
    }

    /// Observes `metrics` and issues what they call for. The caller holds `turn`.
    async fn observe(
        &self,
        metrics: AccountMetrics,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        let (wanted, tier_before, latched_before) = {
            let mut inner = self.lock();
            let tier_before = inner.monitor.tier();
            let latched_before = inner.monitor.latched();
            let wanted = inner.monitor.observe_account(metrics, now);
            (wanted, tier_before, latched_before)
        };
        match self.commit(wanted, latched_before, now).await {
            Ok(issued) => {
                crate::alerts::after_account(&self.lock().monitor, tier_before, &issued, now);
                Ok(issued)
            }
            Err(error) => {
                // not stored: the next observation decides again
                self.lock().monitor.restore_latched(latched_before);
                Err(error)
            }
        }
    }

    /// Applies a persisted equity sample (and the month's maximum drawdown, if known).
    pub async fn apply_equity(
        &self,
        at: DateTime<Utc>,
        equity: Decimal,
        month_max: Option<Decimal>,
    ) -> Result<Vec<Directive>, CoreError> {
        let _turn = self.turn.lock().await;
        let (wanted, drawdown_before, saved) = {
            let mut inner = self.lock();
            let saved = inner.monitor.clone();
            if let Some(max) = month_max {
                inner.monitor.set_month_max(at, max);
            }
            let drawdown_before = crate::alerts::drawdown_flags(&inner.monitor, at);
            let wanted = inner.monitor.observe_equity(at, equity);
            (wanted, drawdown_before, saved)
        };
        let latched_before = saved.latched();
        match self.commit(wanted, latched_before, at).await {
            Ok(issued) => {
                crate::alerts::after_equity(&self.lock().monitor, drawdown_before, &issued, at);
                Ok(issued)
            }
            Err(error) => {
                self.lock().monitor = saved;
                Err(error)
            }
        }
    }

    /// Issues directives decided outside an observation.
    pub async fn issue(
        &self,
        wanted: Vec<NewDirective>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        let _turn = self.turn.lock().await;
        let latched_before = self.lock().monitor.latched();
        self.commit(wanted, latched_before, now).await
    }

    /// Stores the decision (directives and a changed latched state), then records and
    /// broadcasts the directives. The caller holds `turn`.
    async fn commit(
        &self,
        wanted: Vec<NewDirective>,
        latched_before: Latched,
        now: DateTime<Utc>,
    ) -> Result<Vec<Directive>, CoreError> {
        let fence = self.writable()?;
        let (drafts, latched_after) = {
            let inner = self.lock();
            (inner.log.draft(wanted, now), inner.monitor.latched())
        };
        if let (Some(store), Some(fence)) = (&self.store, &fence) {
            let changed = latched_after != latched_before;
            if !drafts.is_empty() || changed {
                let rows = drafts
                    .iter()
                    .map(persist::directive_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let state = changed.then(|| persist::state_row(&latched_after));
                let stored = store
                    .record_risk_decision(fence, ROLE, &rows, state.as_ref())
                    .await?;
                if stored == Fenced::Lost {
                    tracing::error!("another risk instance took the lease: decision not stored");
                    self.end_term();
                    return Err(CoreError::NotLeased);
                }
            }
        }
        let mut inner = self.lock();
        for directive in &drafts {
            tracing::warn!(
                directive_id = %directive.id,
                sequence = directive.sequence,
                kind = ?directive.kind,
                tier = ?directive.tier,
                reason = %directive.reason,
                "directive issued"
            );
            inner.log.record(directive.clone());
        }
        drop(inner);
        self.budget_may_have_changed();
        Ok(drafts)
    }

    /// The decision for `request`: the stored one for its request id, or a new one, stored
    /// before it is answered.
    pub async fn approve(
        &self,
        request: &ApprovalRequest,
        now: DateTime<Utc>,
    ) -> Result<Approval, CoreError> {
        let fence = self.writable()?;
        if let Some(earlier) = self.lock().approvals.remembered(&request.request_id) {
            return Ok(earlier);
        }
        let (Some(store), Some(fence)) = (&self.store, fence) else {
            let mut inner = self.lock();
            let inner = &mut *inner;
            return Ok(inner.approvals.decide(request, &inner.monitor, now));
        };
        // a request id decided before this process (or by another instance) is not read
        // first: the write keeps and returns the stored decision (a round trip less on the
        // way from an opportunity to its order)
        let decided = {
            let inner = self.lock();
            inner.approvals.evaluate(request, &inner.monitor, now)
        };
        let row = persist::approval_row(request, &decided);
        let stored = match store.record_risk_approval(&fence, &row).await? {
            Fenced::Written(stored) => persist::approval_from_row(&stored)?,
            Fenced::Lost => {
                self.end_term();
                return Err(CoreError::NotLeased);
            }
        };
        self.lock()
            .approvals
            .remember(&request.request_id, stored.clone());
        Ok(stored)
    }

    /// Records an acknowledgement; `false` if the directive is unknown.
    pub async fn ack(&self, directive_id: &str, ack: Ack) -> Result<bool, CoreError> {
        let fence = self.writable()?;
        let (Some(store), Some(fence)) = (&self.store, fence) else {
            return Ok(self.lock().log.ack(directive_id, ack));
        };
        let row = persist::ack_row(directive_id, &ack);
        match store.record_risk_directive_ack(&fence, &row).await? {
            Fenced::Written(true) => {
                // the cache may not hold it (older than the kept history): that is fine
                self.lock().log.ack(directive_id, ack);
                Ok(true)
            }
            Fenced::Written(false) => Ok(false),
            Fenced::Lost => {
                self.end_term();
                Err(CoreError::NotLeased)
            }
        }
    }

    /// Up to `limit` directives with a sequence above `after`, oldest first.
    pub async fn history_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Directive>, CoreError> {
        let Some(store) = &self.store else {
            let mut page = self.lock().log.after(after);
            page.truncate(limit);
            return Ok(page);
        };
        let rows = store
            .risk_directives_after(
                i64::try_from(after).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX),
            )
            .await?;
        rows.iter().map(persist::directive_from_row).collect()
    }

    /// Directives with their acknowledgements, newest first (from the table when stored).
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<DirectiveRecord>, CoreError> {
        let Some(store) = &self.store else {
            let inner = self.lock();
            return Ok(inner
                .log
                .newest_first(query.before, |d| {
                    query.start.is_none_or(|s| d.issued_at >= s)
                        && query.end.is_none_or(|e| d.issued_at < e)
                        && (query.kinds.is_empty() || query.kinds.contains(&d.kind))
                })
                .take(query.limit)
                .cloned()
                .collect());
        };
        let rows = store
            .list_risk_directives(&RiskDirectiveQuery {
                before: query.before.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
                kinds: query
                    .kinds
                    .iter()
                    .map(|k| persist::kind_name(*k).to_owned())
                    .collect(),
                start: query.start,
                end: query.end,
                limit: i64::try_from(query.limit).unwrap_or(i64::MAX),
            })
            .await?;
        load_records(store, rows).await
    }
}

/// Directive rows with their acknowledgements, in the rows' order.
async fn load_records(
    store: &Store,
    rows: Vec<fff_store::RiskDirective>,
) -> Result<Vec<DirectiveRecord>, CoreError> {
    let ids: Vec<String> = rows.iter().map(|r| r.directive_id.clone()).collect();
    let acks = store.risk_directive_acks(&ids).await?;
    rows.iter()
        .map(|row| {
            Ok(DirectiveRecord {
                directive: persist::directive_from_row(row)?,
                acks: acks
                    .iter()
                    .filter(|a| a.directive_id == row.directive_id)
                    .map(persist::ack_from_row)
                    .collect::<Result<Vec<_>, _>>()?,
            })
        })
        .collect()
}

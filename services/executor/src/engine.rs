//! The execution engine: owns the positions' life cycles.
//!
//! Concurrency model: one tokio mutex per symbol serialises every operation on a position
//! (entry, exit, adjust, reconciliation), so a position is never driven by two tasks at once,
//! while different symbols run in parallel. Operations that must finish (anything that sends
//! orders) run in tasks spawned on a [`TaskTracker`], never inside an RPC handler: a caller
//! that hangs up cannot cancel half an entry. Every order is written to `orders` as an INTENT
//! before it is sent (see [`orders`]).

mod adjust;
pub(crate) mod ahead;
mod caps;
pub(crate) mod cooldown;
mod entry;
pub use entry::Funding;
mod exit;
mod exit_retry;
pub(crate) mod orders;
mod prepared;
mod symbol_lock;
pub(crate) mod venue_close;
pub mod wallets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fff_core::{CapitalModel, CapitalParams, Direction, ExecutionParams, RiskParams};
use fff_proto::fff::executor::v1::{Initiator, PositionEventKind};
use fff_store::{NewPosition, Position, PositionState, Store};
use rust_decimal::Decimal;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::error::{ExecutorError, Result};
use crate::exchange::Exchange;
use crate::legs::store_direction;
use crate::metrics::Metrics;
use crate::reconcile::ReconcileReport;

pub use adjust::LegOrder;
pub use exit::Urgency;

/// Execution settings taken from the validated config.
#[derive(Debug, Clone)]
pub struct EngineParams {
    pub capital: CapitalParams,
    /// The capital model (both legs) built from `[capital]` and `[risk]`.
    pub model: CapitalModel,
    /// `pair_selection.max_pairs`, applied to manual opens too.
    pub max_pairs: u32,
    pub execution: ExecutionParams,
    /// Default perp leverage (capital.leverage, whole).
    pub leverage: u32,
    /// Bound on waiting for a market/IOC order to reach a terminal state.
    pub order_timeout: Duration,
}

impl EngineParams {
    pub fn from_config(
        capital: CapitalParams,
        execution: ExecutionParams,
        risk: &RiskParams,
    ) -> Result<Self> {
        use rust_decimal::prelude::ToPrimitive;
        let leverage = capital.leverage.trunc().to_u32().unwrap_or(1).clamp(1, 125);
        let model = CapitalModel::new(&capital, risk)?;
        Ok(Self {
            model,
            max_pairs: fff_core::PairSelectionParams::default().max_pairs,
            capital,
            execution,
            leverage,
            order_timeout: Duration::from_secs(10),
        })
    }
}

/// Kill switch and risk halt.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    pub paused: bool,
    pub reason: String,
    pub changed_by: String,
    pub changed_at: Option<DateTime<Utc>>,
    pub entries_halted_by_risk: bool,
    pub halt_reason: String,
    /// Pause also stops entries already under way (between TWAP slices).
    pub cancel_working_entries: bool,
}

/// A position change, fanned out to StreamPositionEvents subscribers.
#[derive(Debug, Clone)]
pub struct EngineEvent {
    pub kind: PositionEventKind,
    pub position: Position,
    pub initiator: Initiator,
    pub detail: String,
    pub amount: Option<Decimal>,
    pub client_order_id: Option<String>,
    pub at: DateTime<Utc>,
}

pub struct Engine {
    pub(crate) store: Store,
    pub(crate) exchange: Arc<dyn Exchange>,
    pub(crate) params: EngineParams,
    state: Mutex<RunState>,
    locks: symbol_lock::SymbolLocks,
    /// Close-alls under way: a partial deleverage running beside one stops (it would trade
    /// positions the close-all is about to take, before the ones it takes first).
    pub(crate) close_alls: std::sync::atomic::AtomicUsize,
    events: broadcast::Sender<EngineEvent>,
    tasks: TaskTracker,
    marks: Mutex<HashMap<String, Decimal>>,
    pub(crate) metrics: Metrics,
    reconcile: Mutex<Option<ReconcileReport>>,
    reconciled: tokio::sync::watch::Sender<bool>,
    annotations: Mutex<HashMap<i64, Annotation>>,
    origins: Mutex<HashMap<i64, std::time::Instant>>,
    /// Approves the re-entry of a flip (every entry needs risk's approval); unset = approve.
    approver: Mutex<Option<Arc<dyn crate::approval::Approver>>>,
    /// Per-symbol entry backoff.
    pub(crate) cooldowns: cooldown::Cooldowns,
    /// Serialises wallet transfers (the keeper and entries both fund wallets).
    wallet_lock: tokio::sync::Mutex<()>,
    /// Set while this instance does not hold the writer lease: nothing is sent.
    fenced: std::sync::atomic::AtomicBool,
    /// Symbols whose database and exchange records differ: no entries until resolved.
    mismatched: Mutex<std::collections::BTreeSet<String>>,
    /// The mismatches themselves, as the last reconciliation worded them.
    mismatches: Mutex<Vec<String>>,
    /// Per position, exits in a row that ended with the venue still holding a leg without
    /// progress, and the size last left (bounded retries).
    venue_left: Mutex<HashMap<i64, (u32, Decimal)>>,
    /// Per position, consecutive failed exits: resumes back off (see `exit_retry`).
    exit_retries: exit_retry::ExitRetries,
    /// Symbols whose margin type and leverage are set (see `prepared`).
    prepared: prepared::PreparedPerps,
    /// Instruments read while pairs ask risk, taken by their entries.
    instruments_ahead: prepared::InstrumentsAhead,
    /// The last account stream event the ledger has seen (its gateway sequence).
    account_events_seen: std::sync::atomic::AtomicU64,
    /// Hedge intents written with their perp and not sent yet (see `ahead`).
    pub(crate) ahead: ahead::AheadIntents,
}

/// Times a flip's re-entry asks risk before giving up (the position then stays closed), and
/// the pause between two asks: together longer than the gateway's default account snapshot
/// age (3 s) plus risk's poll (1 s).
const FLIP_APPROVAL_ATTEMPTS: u32 = 4;
const FLIP_APPROVAL_PAUSE: Duration = Duration::from_secs(2);

/// Facts about a position the schema has no column for (kept in memory: lost on restart).
#[derive(Debug, Clone, Default)]
pub struct Annotation {
    pub opened_by: Option<Initiator>,
    pub open_reason: String,
    pub close_reason: String,
    pub approval_id: String,
    pub flipped_from: Option<i64>,
    /// When the scanner snapshot that opened it reached the executor (strategy entries).
    pub opportunity_received_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub fn new(store: Store, exchange: Arc<dyn Exchange>, params: EngineParams) -> Arc<Self> {
        let (events, _) = broadcast::channel(1024);
        Arc::new(Self {
            store,
            exchange,
            state: Mutex::new(RunState::default()),
            locks: symbol_lock::SymbolLocks::default(),
            close_alls: std::sync::atomic::AtomicUsize::new(0),
            events,
            tasks: TaskTracker::new(),
            marks: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            reconcile: Mutex::new(None),
            reconciled: tokio::sync::watch::Sender::new(false),
            annotations: Mutex::new(HashMap::new()),
            origins: Mutex::new(HashMap::new()),
            approver: Mutex::new(None),
            cooldowns: cooldown::Cooldowns::new(
                Duration::from_millis(params.execution.entry_retry_backoff_ms),
                Duration::from_millis(params.execution.entry_retry_backoff_max_ms),
            ),
            wallet_lock: tokio::sync::Mutex::new(()),
            fenced: std::sync::atomic::AtomicBool::new(false),
            mismatched: Mutex::new(std::collections::BTreeSet::new()),
            mismatches: Mutex::new(Vec::new()),
            venue_left: Mutex::new(HashMap::new()),
            exit_retries: exit_retry::ExitRetries::default(),
            prepared: prepared::PreparedPerps::default(),
            instruments_ahead: prepared::InstrumentsAhead::default(),
            account_events_seen: std::sync::atomic::AtomicU64::new(0),
            ahead: ahead::AheadIntents::default(),
            params,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn params(&self) -> &EngineParams {
        &self.params
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn run_state(&self) -> RunState {
        lock(&self.state).clone()
    }

    pub fn set_paused(&self, paused: bool, reason: &str, by: &str) -> RunState {
        let mut state = lock(&self.state);
        state.paused = paused;
        reason.clone_into(&mut state.reason);
        by.clone_into(&mut state.changed_by);
        state.changed_at = Some(Utc::now());
        if !paused {
            state.cancel_working_entries = false;
        }
        tracing::warn!(paused, reason, changed_by = by, "kill switch changed");
        crate::alerts::kill_switch(paused, reason, by);
        state.clone()
    }

    /// Writes the kill switch to `control_state`, so a restart keeps it.
    pub async fn persist_run_state(&self) -> Result<()> {
        let state = self.run_state();
        self.store
            .save_control(
                "executor",
                &fff_store::ControlState {
                    paused: state.paused,
                    reason: state.reason,
                    changed_by: state.changed_by,
                    changed_at: state.changed_at.unwrap_or_else(Utc::now),
                    cancel_working_entries: state.cancel_working_entries,
                },
            )
            .await?;
        Ok(())
    }

    /// Restores the kill switch saved by a previous run (a paused executor stays paused).
    pub async fn restore_run_state(&self) -> Result<()> {
        if let Some(saved) = self.store.load_control("executor").await? {
            let mut state = lock(&self.state);
            state.paused = saved.paused;
            state.reason = saved.reason;
            state.changed_by = saved.changed_by;
            state.changed_at = Some(saved.changed_at);
            state.cancel_working_entries = saved.cancel_working_entries;
            if state.paused {
                tracing::warn!(reason = %state.reason, "executor starts paused (kill switch set before the restart)");
            }
        }
        Ok(())
    }

    /// Pause that also stops entries under way at their next slice.
    pub fn pause_and_cancel_entries(&self, reason: &str, by: &str) -> RunState {
        lock(&self.state).cancel_working_entries = true;
        self.set_paused(true, reason, by)
    }

    /// Why an entry under way must stop before its next slice: a risk halt or a running
    /// close-all always, the kill switch only when asked to cancel working entries.
    pub(crate) fn slice_block(&self) -> Option<String> {
        if let Some(block) = self.close_all_block() {
            return Some(block);
        }
        let state = lock(&self.state);
        if state.entries_halted_by_risk {
            Some(format!("entries halted by risk: {}", state.halt_reason))
        } else if state.paused && state.cancel_working_entries {
            Some(format!("executor paused: {}", state.reason))
        } else {
            None
        }
    }

    /// A close-all stops every entry until its exits end, whatever RESUME arrives meanwhile:
    /// its exits are staggered, and a slice landing on a hedge whose exit is still queued
    /// would be left behind by that exit's plan.
    fn close_all_block(&self) -> Option<String> {
        (self.close_alls.load(std::sync::atomic::Ordering::SeqCst) > 0)
            .then(|| "a close-all is running".to_owned())
    }

    pub fn set_risk_halt(&self, halted: bool, reason: &str) {
        let mut state = lock(&self.state);
        state.entries_halted_by_risk = halted;
        reason.clone_into(&mut state.halt_reason);
        tracing::warn!(halted, reason, "risk entry halt changed");
    }

    /// Fences (or unfences) this instance: while fenced no order, transfer or repay is sent.
    pub fn set_fenced(&self, fenced: bool) {
        self.fenced
            .store(fenced, std::sync::atomic::Ordering::SeqCst);
    }

    /// Refuses exchange mutations while fenced (no writer lease).
    pub(crate) fn check_fence(&self) -> Result<()> {
        if self.fenced.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ExecutorError::FailedPrecondition(
                "this executor does not hold the writer lease: nothing is sent".to_owned(),
            ));
        }
        Ok(())
    }

    /// Records the symbols named by reconciliation mismatches (`"SYMBOL ..."` or
    /// `"ASSETUSDT loan ..."`): entries on them are refused until a later check is clean.
    pub fn set_mismatched(&self, mismatches: &[String]) {
        let symbols = mismatches
            .iter()
            .filter_map(|m| m.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        *lock(&self.mismatched) = symbols;
        *lock(&self.mismatches) = mismatches.to_vec();
    }

    /// The unresolved mismatches and the symbols they block (`GetStatus`, `fff status`).
    pub fn mismatch_view(&self) -> (Vec<String>, Vec<String>) {
        (
            lock(&self.mismatches).clone(),
            lock(&self.mismatched).iter().cloned().collect(),
        )
    }

    /// Why an entry on `symbol` is refused because of an unresolved mismatch, if it is.
    pub fn symbol_block(&self, symbol: &str) -> Option<String> {
        lock(&self.mismatched).contains(symbol).then(|| {
            format!("{symbol}: database and exchange differ (see reconciliation); exits only")
        })
    }

    /// A new lease term starts with reconciliation: entries wait for it again.
    pub fn mark_unreconciled(&self) {
        self.reconciled.send_replace(false);
    }

    /// Why new entries are refused right now, if they are.
    pub fn entry_block(&self) -> Option<String> {
        if self.fenced.load(std::sync::atomic::Ordering::SeqCst) {
            return Some("no writer lease (another executor instance may be trading)".to_owned());
        }
        if !*self.reconciled.borrow() {
            return Some("start-up reconciliation has not completed".to_owned());
        }
        if let Some(block) = self.close_all_block() {
            return Some(block);
        }
        let state = lock(&self.state);
        if state.paused {
            Some(format!("executor paused: {}", state.reason))
        } else if state.entries_halted_by_risk {
            Some(format!("entries halted by risk: {}", state.halt_reason))
        } else {
            None
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    pub fn set_mark(&self, symbol: &str, mark: Decimal) {
        lock(&self.marks).insert(symbol.to_owned(), mark);
    }

    pub fn mark(&self, symbol: &str) -> Option<Decimal> {
        lock(&self.marks).get(symbol).copied()
    }

    pub fn set_reconcile_report(&self, report: ReconcileReport) {
        *lock(&self.reconcile) = Some(report);
        self.reconciled.send_replace(true);
    }

    /// Entries wait for start-up reconciliation (tests that skip it call this).
    pub fn mark_reconciled(&self) {
        self.reconciled.send_replace(true);
    }

    /// Resolves once start-up reconciliation has completed: directive and action work waits
    /// for it, so it never trades on legs with unresolved orders.
    pub async fn wait_reconciled(&self) {
        let mut reconciled = self.reconciled.subscribe();
        let _ = reconciled.wait_for(|done| *done).await;
    }

    pub fn annotation(&self, id: i64) -> Annotation {
        lock(&self.annotations)
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn annotate(&self, id: i64, f: impl FnOnce(&mut Annotation)) {
        f(lock(&self.annotations).entry(id).or_default());
    }

    /// Sets who approves the re-entry of flips.
    pub fn set_approver(&self, approver: Arc<dyn crate::approval::Approver>) {
        *lock(&self.approver) = Some(approver);
    }

    pub fn annotate_approval(&self, id: i64, approval_id: &str) {
        self.annotate(id, |a| approval_id.clone_into(&mut a.approval_id));
    }

    pub(crate) fn take_origin(&self, id: i64) -> Option<std::time::Instant> {
        lock(&self.origins).remove(&id)
    }

    pub fn reconcile_report(&self) -> Option<ReconcileReport> {
        lock(&self.reconcile).clone()
    }

    pub(crate) fn emit(
        &self,
        kind: PositionEventKind,
        position: &Position,
        initiator: Initiator,
        detail: impl Into<String>,
    ) {
        let _ = self.events.send(EngineEvent {
            kind,
            position: position.clone(),
            initiator,
            detail: detail.into(),
            amount: None,
            client_order_id: None,
            at: Utc::now(),
        });
    }

    pub(crate) fn emit_event(&self, event: EngineEvent) {
        let _ = self.events.send(event);
    }

    /// Serialises work on one symbol.
    pub(crate) async fn lock_symbol(&self, symbol: &str) -> symbol_lock::SymbolGuard {
        self.locks.acquire(symbol).await
    }

    /// Whether work on `symbol` runs now or ran at or after `since`.
    /// Records that the ledger has seen the account stream's event `sequence`.
    pub(crate) fn saw_account_event(&self, sequence: u64) {
        self.account_events_seen
            .fetch_max(sequence, std::sync::atomic::Ordering::Relaxed);
    }

    /// The account as of every account stream event the ledger has seen (see
    /// `Exchange::account_after`).
    pub(crate) async fn account_as_booked(&self) -> Result<crate::exchange::AccountView> {
        let seen = self
            .account_events_seen
            .load(std::sync::atomic::Ordering::Relaxed);
        Ok(self.exchange.account_after(seen).await?)
    }

    pub(crate) fn symbol_worked_since(&self, symbol: &str, since: std::time::Instant) -> bool {
        self.locks.worked_since(symbol, since)
    }

    /// Spawns work that must run to completion, tracked for shutdown.
    pub fn spawn<F>(&self, name: &'static str, work: F)
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        // keeps the caller's span, so orders placed by the task stay in the decision's trace
        let span = tracing::Span::current();
        self.tasks.spawn(
            async move {
                if let Err(err) = work.await {
                    tracing::error!(task = name, error = %err, "executor task failed");
                }
            }
            .instrument(span),
        );
    }

    /// Waits (bounded) for spawned work to finish, e.g. at shutdown.
    pub async fn drain(&self, timeout: Duration) {
        self.tasks.close();
        if tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("executor tasks still running at shutdown");
        }
    }

    /// Creates a position in OPENING and spawns its entry. The caller gets the new row at once.
    /// Risk approval is the caller's job (see [`crate::approval`]).
    pub async fn open(
        self: &Arc<Self>,
        symbol: &str,
        direction: Direction,
        notional: Decimal,
        leverage: Option<u32>,
        initiator: Initiator,
        reason: &str,
    ) -> Result<Position> {
        let position = self
            .create_opening(
                symbol, direction, notional, leverage, initiator, reason, None, None,
            )
            .await?;
        self.start_entry(&position, initiator, entry::Funding::Check);
        Ok(position)
    }

    /// The OPENING row of an approved entry, announced; [`Self::start_entry`] enters it. The
    /// strategy writes it while the entry's wallet check runs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_opening(
        self: &Arc<Self>,
        symbol: &str,
        direction: Direction,
        notional: Decimal,
        leverage: Option<u32>,
        initiator: Initiator,
        reason: &str,
        approval_id: Option<String>,
        origin: Option<std::time::Instant>,
    ) -> Result<Position> {
        if let Some(block) = self.entry_block().or_else(|| self.symbol_block(symbol)) {
            return Err(ExecutorError::FailedPrecondition(block));
        }
        let position = self
            .store
            .create_position(&NewPosition {
                symbol: symbol.to_owned(),
                direction: store_direction(direction),
                target_notional: notional,
                leverage: i32::try_from(leverage.unwrap_or(self.params.leverage)).unwrap_or(1),
            })
            .await?;
        tracing::info!(
            symbol,
            position_id = position.id,
            %notional,
            ?direction,
            reason,
            "position opening"
        );
        self.annotate(position.id, |a| {
            a.opened_by = Some(initiator);
            reason.clone_into(&mut a.open_reason);
            a.approval_id = approval_id.unwrap_or_default();
            a.opportunity_received_at = origin.and_then(|origin| {
                chrono::TimeDelta::from_std(origin.elapsed())
                    .ok()
                    .map(|ago| chrono::Utc::now() - ago)
            });
        });
        if let Some(origin) = origin {
            lock(&self.origins).insert(position.id, origin);
        }
        self.emit(
            PositionEventKind::Opening,
            &position,
            initiator,
            reason.to_owned(),
        );
        Ok(position)
    }

    /// Spawns the first entry of `position`, just created by [`Self::create_opening`].
    pub(crate) fn start_entry(
        self: &Arc<Self>,
        position: &Position,
        initiator: Initiator,
        funding: entry::Funding,
    ) {
        let engine = Arc::clone(self);
        let entering = position.clone();
        self.spawn("entry", async move {
            engine.run_entry(entering, initiator, funding).await
        });
    }

    /// Moves to CLOSING and spawns the exit.
    pub async fn close(
        self: &Arc<Self>,
        position: &Position,
        urgency: Urgency,
        initiator: Initiator,
        reason: &str,
    ) -> Result<Position> {
        let closing = self.mark_closing(position.id, reason).await?;
        self.annotate(position.id, |a| reason.clone_into(&mut a.close_reason));
        self.emit(PositionEventKind::Closing, &closing, initiator, reason);
        let engine = Arc::clone(self);
        let id = position.id;
        self.spawn("exit", async move {
            engine.run_exit(id, urgency, initiator).await.map(|_| ())
        });
        Ok(closing)
    }

    /// Closes `position` within the calling task (which must not hold its symbol lock).
    pub async fn run_close_now(
        self: &Arc<Self>,
        position: &Position,
        urgency: Urgency,
        reason: &str,
    ) -> Result<()> {
        let closing = self.mark_closing(position.id, reason).await?;
        self.annotate(position.id, |a| reason.clone_into(&mut a.close_reason));
        self.emit(
            PositionEventKind::Closing,
            &closing,
            Initiator::Risk,
            reason,
        );
        self.run_exit(position.id, urgency, Initiator::Risk)
            .await
            .map(|_| ())
    }

    async fn mark_closing(&self, id: i64, reason: &str) -> Result<Position> {
        let position = self
            .store
            .get_position(id)
            .await?
            .ok_or_else(|| ExecutorError::NotFound(format!("position {id} not found")))?;
        if position.state.is_terminal() {
            return Err(ExecutorError::FailedPrecondition(format!(
                "position {id} is {}",
                position.state
            )));
        }
        // OPENING positions are closed by their entry task when it sees CLOSING.
        Ok(self
            .store
            .set_position_state(id, PositionState::Closing, Some(reason))
            .await?)
    }

    /// Closes the position, then opens the opposite direction with the same notional.
    pub async fn flip(
        self: &Arc<Self>,
        position: &Position,
        initiator: Initiator,
        reason: &str,
    ) -> Result<Position> {
        let closing = self.mark_closing(position.id, reason).await?;
        self.emit(PositionEventKind::Flipping, &closing, initiator, reason);
        let engine = Arc::clone(self);
        let old = position.clone();
        let reason = reason.to_owned();
        self.spawn("flip", async move {
            let closed = engine.run_exit(old.id, Urgency::High, initiator).await?;
            if closed.state != PositionState::Closed {
                return Err(ExecutorError::Internal(format!(
                    "flip of {} stopped: exit ended {}",
                    old.symbol, closed.state
                )));
            }
            let direction = crate::legs::core_direction(old.direction).opposite();
            let approver = lock(&engine.approver).clone();
            let mut approval_id = String::new();
            if let Some(approver) = approver {
                let leverage = u32::try_from(old.leverage).unwrap_or(1);
                // Risk sizes the re-entry on its last account snapshot, which can still hold
                // the side just closed (the gateway's snapshot is up to
                // exchange.account_max_age_ms old, risk polls every second): at the target
                // utilisation that counts the hedge twice and refuses the flip. Asked again
                // a few times, the snapshot catches up with the exit.
                let mut attempt = 1;
                let outcome = loop {
                    let outcome = approver
                        .approve(
                            &old.symbol,
                            direction,
                            old.target_notional,
                            leverage,
                            &reason,
                        )
                        .await
                        .map_err(ExecutorError::FailedPrecondition)?;
                    if outcome.approved || attempt >= FLIP_APPROVAL_ATTEMPTS {
                        break outcome;
                    }
                    tracing::info!(
                        symbol = %old.symbol,
                        attempt,
                        reasons = ?outcome.reasons,
                        "flip re-entry refused by risk; asking again once its account view is fresh"
                    );
                    attempt += 1;
                    tokio::time::sleep(FLIP_APPROVAL_PAUSE).await;
                };
                if !outcome.approved {
                    tracing::warn!(
                        symbol = %old.symbol,
                        reasons = ?outcome.reasons,
                        "flip re-entry refused by risk; position stays closed"
                    );
                    return Ok(());
                }
                approval_id = outcome.approval_id;
            }
            let opened = engine
                .open(
                    &old.symbol,
                    direction,
                    old.target_notional,
                    u32::try_from(old.leverage).ok(),
                    initiator,
                    &format!("flip of position {}: {reason}", old.id),
                )
                .await?;
            engine.annotate(opened.id, |a| {
                a.flipped_from = Some(old.id);
                a.approval_id = approval_id;
            });
            Ok(())
        });
        Ok(closing)
    }

    /// Restarts the exit of every CLOSING position nobody is working on (an exit that stopped
    /// on an error, e.g. a rejected perp order). Called periodically.
    pub async fn resume_exits(self: &Arc<Self>) -> Result<usize> {
        let mut resumed = 0;
        for position in self.store.list_positions(&[PositionState::Closing]).await? {
            if position
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("broken"))
            {
                // flagged after bounded retries (the venue still holds a leg): the operator's
                continue;
            }
            if !self
                .exit_retries
                .due(position.id, std::time::Instant::now())
            {
                continue; // failing every time: waiting out its backoff
            }
            if self.locks.held(&position.symbol) {
                continue; // someone is on it
            }
            resumed += 1;
            let engine = Arc::clone(self);
            self.spawn("resumed exit", async move {
                engine
                    .run_exit(position.id, Urgency::High, Initiator::Reconciliation)
                    .await
                    .map(|_| ())
            });
        }
        Ok(resumed)
    }

    /// Counts one more exit of `id` that ended with the venue still holding `size` (base
    /// units) of its legs, and returns how many in a row made no progress: an exit that took
    /// at least a tenth of what the previous one left (partial fills, a loan bought back in
    /// parts) starts the count again, so only exits that cannot converge are flagged broken.
    pub(crate) fn count_venue_left(&self, id: i64, size: Decimal) -> u32 {
        let mut counts = lock(&self.venue_left);
        let (count, previous) = counts.entry(id).or_insert((0, size));
        let progressed = size < *previous * Decimal::new(9, 1);
        *count = if progressed { 1 } else { *count + 1 };
        *previous = size;
        *count
    }

    pub(crate) fn forget_venue_left(&self, id: i64) {
        lock(&self.venue_left).remove(&id);
    }

    pub async fn live_positions(&self) -> Result<Vec<Position>> {
        Ok(self.store.list_live_positions().await?)
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod ahead_tests;

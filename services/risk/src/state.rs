//! The role's shared state: monitor, directive log and approvals behind one lock, so a directive
//! is recorded and broadcast in the same step that decided it.

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::account::AccountMetrics;
use crate::approvals::Approvals;
use crate::directives::{Directive, DirectiveLog, NewDirective};
use crate::monitor::RiskMonitor;

/// Everything the handlers and background loops share.
#[derive(Debug)]
pub struct Inner {
    pub monitor: RiskMonitor,
    pub log: DirectiveLog,
    pub approvals: Approvals,
}

/// Cheap to share (`Arc<RiskCore>`); never held across an `.await`.
#[derive(Debug)]
pub struct RiskCore {
    inner: Mutex<Inner>,
}

impl RiskCore {
    pub fn new(monitor: RiskMonitor, log: DirectiveLog, approvals: Approvals) -> Self {
        Self {
            inner: Mutex::new(Inner {
                monitor,
                log,
                approvals,
            }),
        }
    }

    /// The state; a poisoned lock (a panic elsewhere) still yields it: every update is a
    /// complete assignment, so the data stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies an account snapshot and issues what it calls for.
    pub fn apply_account(&self, metrics: AccountMetrics, now: DateTime<Utc>) -> Vec<Directive> {
        let mut inner = self.lock();
        let tier_before = inner.monitor.tier();
        let wanted = inner.monitor.observe_account(metrics, now);
        let issued = issue_all(&mut inner, wanted, now);
        crate::alerts::after_account(&inner.monitor, tier_before, &issued, now);
        issued
    }

    /// Applies a persisted equity sample (and the month's maximum drawdown, if known).
    pub fn apply_equity(
        &self,
        at: DateTime<Utc>,
        equity: Decimal,
        month_max: Option<Decimal>,
    ) -> Vec<Directive> {
        let mut inner = self.lock();
        if let Some(max) = month_max {
            inner.monitor.set_month_max(at, max);
        }
        let drawdown_before = crate::alerts::drawdown_flags(&inner.monitor, at);
        let wanted = inner.monitor.observe_equity(at, equity);
        let issued = issue_all(&mut inner, wanted, at);
        crate::alerts::after_equity(&inner.monitor, drawdown_before, &issued, at);
        issued
    }

    /// Issues directives decided outside an observation (e.g. the restored halt at start).
    pub fn issue(&self, wanted: Vec<NewDirective>, now: DateTime<Utc>) -> Vec<Directive> {
        issue_all(&mut self.lock(), wanted, now)
    }
}

fn issue_all(inner: &mut Inner, wanted: Vec<NewDirective>, now: DateTime<Utc>) -> Vec<Directive> {
    wanted
        .into_iter()
        .map(|new| {
            let directive = inner.log.issue(new, now);
            tracing::warn!(
                directive_id = %directive.id,
                sequence = directive.sequence,
                kind = ?directive.kind,
                tier = ?directive.tier,
                reason = %directive.reason,
                "directive issued"
            );
            directive
        })
        .collect()
}

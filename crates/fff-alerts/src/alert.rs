//! One alert: what happened, to which symbol, the figures behind it and what the system did.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use fff_runtime::config::AlertSeverity as Severity;

/// What an alert is about; `as_str` is the `kind` field of the JSON format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The overall margin tier changed (worse or better).
    TierChange,
    /// The drawdown reached the halt threshold: entries halted.
    DrawdownHalt,
    /// The drawdown reached `risk.max_monthly_drawdown`: de-risked by the limit action.
    DrawdownLimit,
    /// The drawdown fell back below the resume threshold.
    DrawdownRecovered,
    /// A spot hedge could not be completed.
    HedgeFailure,
    /// The unhedged perp of a failed hedge was closed (or could not be).
    HedgeUnwind,
    /// Database and exchange disagree.
    ReconciliationMismatch,
    /// This instance lost its writer lease.
    LeaseLost,
    /// This instance took the writer lease over from another (or got it back).
    LeaseTakenOver,
    /// The executor's kill switch was set or cleared.
    KillSwitch,
    /// A dependency has been unreachable longer than `alerts.dependency_down_secs`.
    DependencyLost,
    /// A dependency that was reported lost answers again.
    DependencyRecovered,
    /// Funding received differs from the expected amount beyond the tolerance.
    FundingDiscrepancy,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::TierChange => "tier_change",
            AlertKind::DrawdownHalt => "drawdown_halt",
            AlertKind::DrawdownLimit => "drawdown_limit",
            AlertKind::DrawdownRecovered => "drawdown_recovered",
            AlertKind::HedgeFailure => "hedge_failure",
            AlertKind::HedgeUnwind => "hedge_unwind",
            AlertKind::ReconciliationMismatch => "reconciliation_mismatch",
            AlertKind::LeaseLost => "lease_lost",
            AlertKind::LeaseTakenOver => "lease_taken_over",
            AlertKind::KillSwitch => "kill_switch",
            AlertKind::DependencyLost => "dependency_lost",
            AlertKind::DependencyRecovered => "dependency_recovered",
            AlertKind::FundingDiscrepancy => "funding_discrepancy",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event worth telling an operator about. Build with [`Alert::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: Severity,
    pub symbol: Option<String>,
    /// One line: what happened.
    pub summary: String,
    /// Named figures (`coverage` = `25.1`), in the order added; values are display strings
    /// (decimals as their exact text).
    pub figures: Vec<(String, String)>,
    /// What the system did about it.
    pub action: String,
    pub at: DateTime<Utc>,
    /// Alerts with the same key are sent at most once per `alerts.repeat_after_secs`; `None`
    /// (the default) sends every occurrence.
    pub dedup_key: Option<String>,
}

impl Alert {
    pub fn new(kind: AlertKind, severity: Severity, summary: impl Into<String>) -> Self {
        Self {
            kind,
            severity,
            symbol: None,
            summary: summary.into(),
            figures: Vec::new(),
            action: String::new(),
            at: Utc::now(),
            dedup_key: None,
        }
    }

    #[must_use]
    pub fn symbol(mut self, symbol: impl Into<String>) -> Self {
        self.symbol = Some(symbol.into());
        self
    }

    /// Adds a figure; `value` is shown with its `Display` (a `Decimal` keeps its exact text).
    #[must_use]
    pub fn figure(mut self, name: impl Into<String>, value: impl fmt::Display) -> Self {
        self.figures.push((name.into(), value.to_string()));
        self
    }

    /// Adds a figure if there is a value.
    #[must_use]
    pub fn figure_opt(self, name: impl Into<String>, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(value) => self.figure(name, value),
            None => self,
        }
    }

    #[must_use]
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = action.into();
        self
    }

    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// Suppresses repeats of this condition (same kind, symbol and summary) within
    /// `alerts.repeat_after_secs`: for conditions re-checked on a timer, such as a
    /// reconciliation mismatch.
    #[must_use]
    pub fn once_per_window(mut self) -> Self {
        self.dedup_key = Some(format!(
            "{}|{}|{}",
            self.kind,
            self.symbol.as_deref().unwrap_or(""),
            self.summary
        ));
        self
    }
}

//! Operator alerts: risk tier changes (and recovery), drawdown halt and limit, hedge failure and
//! unwind, reconciliation mismatches, writer lease lost or taken over, the kill switch, a
//! dependency unreachable for too long, and funding differing from expectation, sent to a
//! Slack, Discord, Telegram or plain JSON webhook (`[alerts]`).
//!
//! Like the metrics registry, alerts are process-wide: a role calls [`install`] once at start
//! (nothing happens, after one info log, when no webhook is configured) and the trading code
//! calls [`emit`] (or [`dependency_down`] / [`dependency_up`]) wherever something happens.
//! These calls only append to a bounded in-memory queue and return: delivery, grouping of
//! bursts and retries with backoff run on a background task ([`sender`]), so a failing webhook
//! never blocks or slows trading. Secrets (the webhook URL, the Telegram token and chat id)
//! stay in [`fff_runtime::SecretString`] and never reach logs or errors.

pub mod alert;
pub mod deps;
pub mod format;
pub mod sender;

use std::sync::{Once, OnceLock};
use std::time::Duration;

use fff_runtime::config::AlertsConfig;
use rust_decimal::Decimal;

pub use alert::{Alert, AlertKind, Severity};
pub use deps::DependencyWatch;
pub use fff_runtime::config::AlertFormat;
pub use sender::{AlertSender, Endpoint, Settings};

/// The process-wide sender, set by [`install`].
#[derive(Debug)]
struct Installed {
    sender: AlertSender,
    deps: DependencyWatch,
    funding_tolerance: Decimal,
    funding_tolerance_abs: Decimal,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();
static OFF_LOGGED: Once = Once::new();

/// Starts alert delivery for `role` (on the current tokio runtime) if `[alerts]` names a
/// webhook; returns whether alerts are on. Only the first call of a process counts.
pub fn install(config: &AlertsConfig, role: &str) -> bool {
    if INSTALLED.get().is_some() {
        return true;
    }
    let Some(settings) = Settings::from_config(config, role) else {
        OFF_LOGGED.call_once(|| {
            tracing::info!(
                "alerts are off: no alerts.webhook_url (or, for telegram, no bot token and chat id) configured"
            );
        });
        return false;
    };
    let format = settings.format;
    let min_severity = settings.min_severity;
    let sender = match AlertSender::start(settings) {
        Ok(sender) => sender,
        Err(error) => {
            tracing::error!(%error, "alerts are off: the sender could not start");
            return false;
        }
    };
    let deps = DependencyWatch::new(
        sender.clone(),
        Duration::from_secs(config.dependency_down_secs),
    );
    let installed = Installed {
        sender,
        deps,
        funding_tolerance: config.funding_tolerance,
        funding_tolerance_abs: config.funding_tolerance_abs,
    };
    if INSTALLED.set(installed).is_ok() {
        tracing::info!(
            format = format.as_str(),
            min_severity = min_severity.as_str(),
            "alerts are on"
        );
    }
    true
}

/// Whether [`install`] turned alerts on in this process.
pub fn enabled() -> bool {
    INSTALLED.get().is_some()
}

/// Queues `alert` for delivery and returns at once; a no-op when alerts are off.
pub fn emit(alert: Alert) {
    if let Some(installed) = INSTALLED.get() {
        installed.sender.send(alert);
    }
}

/// Reports dependency `name` unreachable (`detail`: the error; `impact`: what the role cannot
/// do meanwhile). An alert follows if it stays so for `alerts.dependency_down_secs`.
pub fn dependency_down(name: &str, detail: &str, impact: &str) {
    if let Some(installed) = INSTALLED.get() {
        installed.deps.down(name, detail, impact);
    }
}

/// Reports dependency `name` reachable again.
pub fn dependency_up(name: &str) {
    if let Some(installed) = INSTALLED.get() {
        installed.deps.up(name);
    }
}

/// Whether funding `amount` differs from `expected` by more than both tolerances
/// (`alerts.funding_tolerance` × |expected| and `alerts.funding_tolerance_abs`); `false` when
/// alerts are off.
pub fn funding_beyond_tolerance(amount: Decimal, expected: Decimal) -> bool {
    INSTALLED.get().is_some_and(|installed| {
        beyond_tolerance(
            amount,
            expected,
            installed.funding_tolerance,
            installed.funding_tolerance_abs,
        )
    })
}

/// `|amount - expected|` above `relative × |expected|` and above `absolute`.
pub fn beyond_tolerance(
    amount: Decimal,
    expected: Decimal,
    relative: Decimal,
    absolute: Decimal,
) -> bool {
    let difference = (amount - expected).abs();
    let relative_limit = expected.abs().checked_mul(relative).unwrap_or(Decimal::MAX);
    difference > relative_limit && difference > absolute
}

/// Waits up to `timeout` for queued alerts to be delivered (at shutdown); `true` if none is
/// left (or alerts are off).
pub async fn flush(timeout: Duration) -> bool {
    match INSTALLED.get() {
        Some(installed) => installed.sender.flush(timeout).await,
        None => true,
    }
}

#[cfg(test)]
mod tests;

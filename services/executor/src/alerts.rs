//! Operator alerts raised by the executor (`fff-alerts`; off without an `[alerts]` webhook):
//! hedge failure and unwind, reconciliation mismatches, the kill switch, the writer lease and
//! funding that differs from expectation. Every call only queues a message for the background
//! sender: nothing here waits on the network, so no order is delayed by it.

use std::time::Duration;

use fff_alerts::{Alert, AlertKind, Severity};
use rust_decimal::Decimal;

/// A spot hedge came up short: `naked` of the perp's `perp_filled` was left unhedged and the
/// unwind either closed it (`unwind_error` `None`) or did not.
pub(crate) fn hedge_failed(
    symbol: &str,
    perp_filled: Decimal,
    hedged: Decimal,
    naked: Decimal,
    unwind_error: Option<&dyn std::fmt::Display>,
) {
    let alert = match unwind_error {
        None => Alert::new(
            AlertKind::HedgeFailure,
            Severity::Warning,
            "spot hedge incomplete: unhedged perp unwound",
        )
        .action(format!(
            "closed {naked} of the perp (reduce-only market); entry stopped, retried after the backoff"
        )),
        Some(error) => Alert::new(
            AlertKind::HedgeUnwind,
            Severity::Critical,
            "spot hedge incomplete and the unwind failed: a naked perp leg may be open",
        )
        .figure("unwind_error", error)
        .action(
            "position kept live for repair by the periodic reconciliation; check the account now",
        ),
    };
    fff_alerts::emit(
        alert
            .symbol(symbol)
            .figure("perp_filled", perp_filled)
            .figure("spot_hedged", hedged)
            .figure("unhedged", naked),
    );
}

/// A hedge left with one leg after a failed repair (reconciliation).
pub(crate) fn repair_failed(symbol: &str, position_id: i64, message: &str) {
    fff_alerts::emit(
        Alert::new(
            AlertKind::HedgeFailure,
            Severity::Critical,
            format!("naked leg left: {message}"),
        )
        .symbol(symbol)
        .figure("position_id", position_id)
        .action("position kept live and retried at the next reconciliation; entries on the symbol continue to be checked")
        .once_per_window(),
    );
}

/// The venue closed a position's perp itself (a liquidation, an auto-deleverage): the spot leg
/// it hedged is naked and is being closed.
pub(crate) fn perp_closed_by_venue(symbol: &str, position_id: i64, message: &str) {
    fff_alerts::emit(
        Alert::new(
            AlertKind::HedgeFailure,
            Severity::Critical,
            message.to_owned(),
        )
        .symbol(symbol)
        .figure("position_id", position_id)
        .action("the naked spot leg is closed at market; check the account's margin now"),
    );
}

/// An exit failed `failures` times in a row (a leg is left at the venue): its retries now
/// back off, the next in `wait`.
pub(crate) fn exit_stuck(
    symbol: &str,
    position_id: i64,
    failures: u32,
    wait: Duration,
    error: &dyn std::fmt::Display,
) {
    fff_alerts::emit(
        Alert::new(
            AlertKind::HedgeFailure,
            Severity::Critical,
            format!("exit failing repeatedly, a leg is left at the venue: {error}"),
        )
        .symbol(symbol)
        .figure("position_id", position_id)
        .figure("failed_attempts", failures)
        .figure("next_retry_secs", wait.as_secs())
        .action("position kept CLOSING; retries back off up to every 5 minutes; check the account and close the leg by hand if the venue keeps refusing it"),
    );
}

/// Database and exchange differ (`when`: "start-up" or "periodic").
pub(crate) fn reconciliation_mismatch(mismatches: &[String], when: &str) {
    if mismatches.is_empty() {
        return;
    }
    let symbols: Vec<&str> = mismatches
        .iter()
        .filter_map(|m| m.split_whitespace().next())
        .collect();
    fff_alerts::emit(
        Alert::new(
            AlertKind::ReconciliationMismatch,
            Severity::Critical,
            format!("database and exchange differ ({when} reconciliation)"),
        )
        .symbol(symbols.join(","))
        .figure("mismatches", mismatches.join("; "))
        .action("entries on these symbols are blocked (exits only) until the records agree")
        .once_per_window(),
    );
}

/// The kill switch was set or cleared.
pub(crate) fn kill_switch(paused: bool, reason: &str, by: &str) {
    let alert = if paused {
        Alert::new(
            AlertKind::KillSwitch,
            Severity::Critical,
            "kill switch ON: executor paused",
        )
        .action("no new entries or rebalances; risk directives (cuts, closes) still obeyed")
    } else {
        Alert::new(
            AlertKind::KillSwitch,
            Severity::Warning,
            "kill switch OFF: executor resumed",
        )
        .action("entries and rebalances allowed again")
    };
    fff_alerts::emit(alert.figure("reason", reason).figure("changed_by", by));
}

/// This instance lost its writer lease.
pub(crate) fn lease_lost(lease: &str) {
    fff_alerts::emit(
        Alert::new(
            AlertKind::LeaseLost,
            Severity::Critical,
            format!("executor lost its writer lease {lease}"),
        )
        .action("stopped sending orders at once (fenced, NOT_SERVING); waits for the lease and reconciles before trading again"),
    );
}

/// The lease was acquired after waiting `waited` (another instance held it) or after a loss.
pub(crate) fn lease_acquired(lease: &str, waited: Duration, after_loss: bool) {
    if !after_loss && waited < Duration::from_secs(3) {
        return;
    }
    let summary = if after_loss {
        format!("executor holds its writer lease {lease} again")
    } else {
        format!("executor took over the writer lease {lease} from another instance")
    };
    fff_alerts::emit(
        Alert::new(AlertKind::LeaseTakenOver, Severity::Warning, summary)
            .figure("waited_secs", waited.as_secs())
            .action("reconciling with the exchange, then trading from this instance"),
    );
}

/// Funding booked differs from `-perp × mark × rate` beyond `[alerts]` tolerances.
pub(crate) fn funding_discrepancy(
    symbol: &str,
    asset: &str,
    amount: Decimal,
    expected: Decimal,
    rate: Option<Decimal>,
    mark: Option<Decimal>,
) {
    if !fff_alerts::funding_beyond_tolerance(amount, expected) {
        return;
    }
    fff_alerts::emit(
        Alert::new(
            AlertKind::FundingDiscrepancy,
            Severity::Warning,
            format!("funding {asset} differs from the expected amount"),
        )
        .symbol(symbol)
        .figure("received", amount)
        .figure("expected", expected)
        .figure("difference", amount - expected)
        .figure_opt("funding_rate", rate)
        .figure_opt("mark_price", mark)
        .action("booked as received (the exchange's record); position unchanged"),
    );
}

//! Operator alerts raised by risk (`fff-alerts`; off without `[alerts]` webhook): margin tier
//! changes (worse and better), drawdown halt, limit and recovery, and the writer lease. Each
//! builds the message from the state the decision was taken on and hands it to the background
//! sender: nothing here waits on the network.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fff_alerts::{Alert, AlertKind, Severity};
use fff_core::MarginTier;
use fff_proto::fff::risk::v1::DirectiveKind;

use crate::directives::Directive;
use crate::monitor::RiskMonitor;

fn tier_name(tier: MarginTier) -> &'static str {
    match tier {
        MarginTier::Green => "GREEN",
        MarginTier::Yellow => "YELLOW",
        MarginTier::Orange => "ORANGE",
        MarginTier::Red => "RED",
    }
}

fn kind_name(kind: DirectiveKind) -> &'static str {
    kind.as_str_name()
        .strip_prefix("DIRECTIVE_KIND_")
        .unwrap_or(kind.as_str_name())
}

/// "issued EMERGENCY_DELEVERAGE (reduce 0.50)"; "no directive" when none was issued.
fn describe_directives(issued: &[Directive]) -> String {
    if issued.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = issued
        .iter()
        .map(|d| match d.reduce_fraction {
            Some(fraction) => format!("{} (reduce {fraction})", kind_name(d.kind)),
            None => kind_name(d.kind).to_owned(),
        })
        .collect();
    format!("issued {}", parts.join(", "))
}

/// The account's figures behind a decision.
fn with_account(alert: Alert, monitor: &RiskMonitor) -> Alert {
    let Some(metrics) = monitor.metrics() else {
        return alert;
    };
    let mut alert = alert
        .figure_opt(
            "futures_coverage",
            metrics.futures_coverage.map(|c| c.round_dp(4)),
        )
        .figure_opt(
            "cross_margin_level",
            metrics.cross_margin_level.map(|l| l.round_dp(4)),
        )
        .figure("total_equity_usdt", metrics.total_equity.round_dp(2))
        .figure(
            "deployed_notional_usdt",
            metrics.deployed_notional.round_dp(2),
        );
    if !metrics.open_symbols.is_empty() {
        alert = alert.symbol(metrics.open_symbols.join(","));
    }
    alert
}

/// After an account snapshot: a tier change (including recovery) is one alert.
pub(crate) fn after_account(
    monitor: &RiskMonitor,
    before: Option<MarginTier>,
    issued: &[Directive],
    now: DateTime<Utc>,
) {
    if !fff_alerts::enabled() {
        return;
    }
    if let Some(alert) = tier_alert(monitor, before, issued, now) {
        fff_alerts::emit(alert);
    }
}

/// The alert for a tier change from `before` to the monitor's tier, if it changed.
fn tier_alert(
    monitor: &RiskMonitor,
    before: Option<MarginTier>,
    issued: &[Directive],
    now: DateTime<Utc>,
) -> Option<Alert> {
    let after = monitor.tier()?;
    // the first observation alerts only when it is already past Green
    let from = match before {
        Some(before) if before == after => return None,
        Some(before) => before,
        None if after == MarginTier::Green => return None,
        None => MarginTier::Green,
    };
    let severity = match after {
        _ if after < from => Severity::Info,
        MarginTier::Green | MarginTier::Yellow => Severity::Warning,
        MarginTier::Orange | MarginTier::Red => Severity::Critical,
    };
    let verb = if after < from {
        "recovered"
    } else {
        "worsened"
    };
    let mut action = describe_directives(issued);
    if action.is_empty() {
        action = "no directive (a cut in force stays until it completes)".to_owned();
    }
    if after < MarginTier::Orange && monitor.cooling_down(now) {
        action.push_str("; entries stay halted by the close-all cool-down");
    } else if monitor.margin_halted(now) {
        action.push_str("; entries halted");
    } else if after < from && from >= MarginTier::Orange {
        if monitor.drawdown_halted() {
            action.push_str("; entries stay halted by the drawdown");
        } else {
            action.push_str("; entries allowed again");
        }
    }
    let alert = Alert::new(
        AlertKind::TierChange,
        severity,
        format!(
            "margin tier {verb}: {} -> {}",
            tier_name(from),
            tier_name(after)
        ),
    )
    .at(now);
    Some(with_account(alert, monitor).action(action))
}

/// The drawdown latch before an equity sample: (entries halted, limit breached).
pub(crate) fn drawdown_flags(monitor: &RiskMonitor, now: DateTime<Utc>) -> (bool, bool) {
    if !fff_alerts::enabled() {
        return (false, false);
    }
    (
        monitor.drawdown_halted(),
        monitor.view(now).drawdown_limit_breached,
    )
}

/// After an equity sample: halt, limit breach and recovery are one alert each.
pub(crate) fn after_equity(
    monitor: &RiskMonitor,
    before: (bool, bool),
    issued: &[Directive],
    now: DateTime<Utc>,
) {
    if !fff_alerts::enabled() {
        return;
    }
    for alert in drawdown_alerts(monitor, before, issued, now) {
        fff_alerts::emit(alert);
    }
}

/// The alerts for a drawdown latch change since `before` (halt, limit breach, recovery).
fn drawdown_alerts(
    monitor: &RiskMonitor,
    before: (bool, bool),
    issued: &[Directive],
    now: DateTime<Utc>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let (halted_before, breached_before) = before;
    let view = monitor.view(now);
    let (halted, breached) = (monitor.drawdown_halted(), view.drawdown_limit_breached);
    let params = monitor.params();
    let figures = |alert: Alert| {
        with_account(alert, monitor)
            .figure_opt("drawdown", view.drawdown.map(|d| d.round_dp(6)))
            .figure_opt("peak_equity_usdt", view.peak_equity.map(|p| p.round_dp(2)))
            .figure("halt_threshold", params.drawdown_halt_threshold)
            .figure("limit", params.max_monthly_drawdown)
            .at(now)
    };
    if breached && !breached_before {
        let cut = issued
            .iter()
            .filter(|d| d.drawdown_limit)
            .cloned()
            .collect::<Vec<_>>();
        let mut action = describe_directives(&cut);
        if action.is_empty() {
            action = "no cut (drawdown_limit_action = halt_only)".to_owned();
        }
        action.push_str("; entries halted until the drawdown is below the resume threshold");
        out.push(
            figures(Alert::new(
                AlertKind::DrawdownLimit,
                Severity::Critical,
                format!(
                    "monthly drawdown limit reached (action {})",
                    params.drawdown_limit_action.as_str()
                ),
            ))
            .action(action),
        );
    } else if halted && !halted_before {
        out.push(
            figures(Alert::new(
                AlertKind::DrawdownHalt,
                Severity::Warning,
                "drawdown reached the halt threshold",
            ))
            .action("issued HALT_ENTRIES: no new hedges, open ones kept"),
        );
    }
    if halted_before && !halted {
        let mut action = describe_directives(issued);
        if monitor.margin_halted(now) {
            action = "entries stay halted by the margin tier".to_owned();
        } else if action.is_empty() {
            action = "entries allowed again".to_owned();
        }
        out.push(
            figures(Alert::new(
                AlertKind::DrawdownRecovered,
                Severity::Info,
                "drawdown back below the resume threshold",
            ))
            .figure("resume_threshold", params.drawdown_resume_threshold)
            .action(action),
        );
    }
    out
}

/// This instance lost its writer lease.
pub(crate) fn lease_lost(lease: &str) {
    fff_alerts::emit(
        Alert::new(
            AlertKind::LeaseLost,
            Severity::Critical,
            format!("risk lost its writer lease {lease}"),
        )
        .action("stopped deciding tiers and issuing directives (NOT_SERVING) until it holds the lease again"),
    );
}

/// The lease was acquired after waiting `waited` (another instance held it) or after a loss.
pub(crate) fn lease_acquired(lease: &str, waited: Duration, after_loss: bool) {
    if !after_loss && waited < Duration::from_secs(3) {
        return;
    }
    let summary = if after_loss {
        format!("risk holds its writer lease {lease} again")
    } else {
        format!("risk took over the writer lease {lease} from another instance")
    };
    fff_alerts::emit(
        Alert::new(AlertKind::LeaseTakenOver, Severity::Warning, summary)
            .figure("waited_secs", waited.as_secs())
            .action("deciding tiers and issuing directives from this instance"),
    );
}

#[cfg(test)]
mod tests {
    use fff_core::Direction;
    use fff_core::params::{CapitalParams, RiskParams};
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::account::AccountMetrics;
    use crate::directives::DirectiveLog;

    fn metrics(coverage: Decimal) -> AccountMetrics {
        AccountMetrics {
            as_of: Utc::now(),
            total_equity: dec!(100000),
            spot_equity: dec!(50000),
            margin_equity: dec!(25000),
            futures_equity: dec!(25000),
            futures_margin_ratio: Decimal::ZERO,
            futures_coverage: Some(coverage),
            cross_margin_level: None,
            deployed_notional: dec!(50000),
            hedges: vec![(Direction::PositiveCarry, dec!(50000))],
            open_symbols: vec!["BTCUSDT".into()],
            marks_as_of: None,
        }
    }

    fn monitor() -> RiskMonitor {
        RiskMonitor::new(
            RiskParams::default(),
            CapitalParams::default(),
            chrono::Duration::seconds(300),
        )
        .unwrap()
    }

    /// Observes `coverage` and returns the tier alert, as `RiskCore::apply_account` raises it.
    fn observe(m: &mut RiskMonitor, log: &mut DirectiveLog, coverage: Decimal) -> Option<Alert> {
        let now = Utc::now();
        let before = m.tier();
        let issued: Vec<Directive> = m
            .observe_account(metrics(coverage), now)
            .into_iter()
            .map(|d| log.issue(d, now))
            .collect();
        tier_alert(m, before, &issued, now)
    }

    #[test]
    fn tier_changes_and_recovery_are_alerts_with_figures_and_action() {
        let mut m = monitor();
        let mut log = DirectiveLog::new(Utc::now(), 10);
        assert!(observe(&mut m, &mut log, dec!(6)).is_none());
        assert!(observe(&mut m, &mut log, dec!(5.9)).is_none());
        let orange = observe(&mut m, &mut log, dec!(2.5)).unwrap();
        assert_eq!(orange.kind, AlertKind::TierChange);
        assert_eq!(orange.severity, Severity::Critical);
        assert_eq!(orange.summary, "margin tier worsened: GREEN -> ORANGE");
        assert_eq!(orange.symbol.as_deref(), Some("BTCUSDT"));
        assert!(
            orange
                .figures
                .contains(&("futures_coverage".to_owned(), "2.5".to_owned())),
            "{orange:?}"
        );
        assert_eq!(
            orange.action,
            "issued EMERGENCY_DELEVERAGE (reduce 0.50); entries halted"
        );
        let green = observe(&mut m, &mut log, dec!(8)).unwrap();
        assert_eq!(green.severity, Severity::Info);
        assert_eq!(green.summary, "margin tier recovered: ORANGE -> GREEN");
        assert_eq!(green.action, "issued RESUME; entries allowed again");
    }

    #[test]
    fn drawdown_halt_limit_and_recovery_are_alerts() {
        let mut m = monitor();
        let mut log = DirectiveLog::new(Utc::now(), 10);
        let t = Utc::now();
        let mut step = |m: &mut RiskMonitor, minutes: i64, equity: Decimal| {
            let at = t + chrono::Duration::minutes(minutes);
            let before = (m.drawdown_halted(), m.view(at).drawdown_limit_breached);
            let issued: Vec<Directive> = m
                .observe_equity(at, equity)
                .into_iter()
                .map(|d| log.issue(d, at))
                .collect();
            drawdown_alerts(m, before, &issued, at)
        };
        assert!(step(&mut m, 0, dec!(100000)).is_empty());
        let halt = step(&mut m, 1, dec!(95900));
        assert_eq!(halt.len(), 1);
        assert_eq!(halt[0].kind, AlertKind::DrawdownHalt);
        let limit = step(&mut m, 2, dec!(94000));
        assert_eq!(limit.len(), 1);
        assert_eq!(limit[0].kind, AlertKind::DrawdownLimit);
        assert_eq!(limit[0].severity, Severity::Critical);
        assert!(
            limit[0].action.starts_with("issued CLOSE_ALL"),
            "{:?}",
            limit[0]
        );
        assert!(step(&mut m, 3, dec!(94500)).is_empty());
        let recovered = step(&mut m, 4, dec!(99000));
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].kind, AlertKind::DrawdownRecovered);
        assert_eq!(recovered[0].action, "issued RESUME");
    }
}

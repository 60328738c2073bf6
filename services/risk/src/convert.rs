//! Domain values to `fff.risk.v1` messages.

use chrono::{DateTime, Utc};
use fff_core::MarginTier;
use fff_core::drawdown::DrawdownLimitAction;
use fff_proto::convert::{datetime_to_timestamp, decimal_to_string, optional_decimal_to_string};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::risk::v1 as pb;
use rust_decimal::Decimal;

use crate::approvals::{Approval, EntryBudget};
use crate::directives::{Ack, Directive, DirectiveRecord};
use crate::monitor::RiskView;

pub fn tier(tier: Option<MarginTier>) -> i32 {
    tier.map_or(common::MarginTier::Unspecified, common::MarginTier::from) as i32
}

pub fn directive(d: &Directive) -> pb::Directive {
    pb::Directive {
        directive_id: d.id.clone(),
        sequence: d.sequence,
        kind: d.kind as i32,
        reduce_fraction: optional_decimal_to_string(d.reduce_fraction),
        symbols: Vec::new(),
        reason: d.reason.clone(),
        tier: tier(Some(d.tier)),
        issued_at: datetime_to_timestamp(d.issued_at),
        expires_at: d.expires_at.and_then(datetime_to_timestamp),
    }
}

fn ack(a: &Ack) -> pb::DirectiveAck {
    pb::DirectiveAck {
        outcome: a.outcome as i32,
        detail: a.detail.clone(),
        acked_at: datetime_to_timestamp(a.acked_at),
    }
}

pub fn record(r: &DirectiveRecord) -> pb::DirectiveRecord {
    pb::DirectiveRecord {
        directive: Some(directive(&r.directive)),
        acks: r.acks.iter().map(ack).collect(),
    }
}

pub fn limit_action(action: DrawdownLimitAction) -> pb::DrawdownLimitAction {
    match action {
        DrawdownLimitAction::CloseAll => pb::DrawdownLimitAction::CloseAll,
        DrawdownLimitAction::Reduce => pb::DrawdownLimitAction::Reduce,
        DrawdownLimitAction::HaltOnly => pb::DrawdownLimitAction::HaltOnly,
    }
}

/// GetRiskState from the monitor's view, the newest directive and the current breach's de-risk.
pub fn state(
    view: &RiskView,
    last: Option<&Directive>,
    breach: Option<&Directive>,
    now: DateTime<Utc>,
) -> pb::RiskState {
    let metrics = view.metrics.as_ref();
    let coverage = metrics.and_then(|m| m.futures_coverage);
    pb::RiskState {
        futures_margin_ratio: metrics.map_or_else(String::new, |m| {
            // "0" without positions, as the proto documents
            match coverage {
                Some(_) if !m.futures_margin_ratio.is_zero() => {
                    decimal_to_string(m.futures_margin_ratio)
                }
                Some(c) => optional_decimal_to_string(
                    rust_decimal::Decimal::ONE
                        .checked_div(c)
                        .map(|r| r.round_dp(8)),
                ),
                None => "0".to_owned(),
            }
        }),
        futures_tier: tier(view.futures_tier),
        cross_margin_level: optional_decimal_to_string(
            metrics
                .and_then(|m| m.cross_margin_level)
                .map(|l| l.round_dp(8)),
        ),
        cross_margin_tier: tier(view.cross_tier),
        tier: tier(view.tier),
        equity: optional_decimal_to_string(metrics.map(|m| m.total_equity)),
        peak_equity: optional_decimal_to_string(view.peak_equity),
        drawdown: optional_decimal_to_string(view.drawdown.map(|d| d.round_dp(8))),
        drawdown_month_max: optional_decimal_to_string(
            view.drawdown_month_max.map(|d| d.round_dp(8)),
        ),
        drawdown_limit: decimal_to_string(view.drawdown_limit),
        utilization: optional_decimal_to_string(view.utilization.map(|u| u.round_dp(6))),
        utilization_limit: decimal_to_string(view.utilization_limit),
        entries_halted: view.entries_halted,
        halt_reason: view.halt_reason.clone(),
        last_directive: last.map(directive),
        data_as_of: metrics.and_then(|m| datetime_to_timestamp(m.as_of)),
        computed_at: datetime_to_timestamp(now),
        futures_margin_coverage: optional_decimal_to_string(coverage.map(|c| c.round_dp(8))),
        spot_side_capital: usdt(view.capital.map(|c| c.spot_side)),
        perp_margin_capital: usdt(view.capital.map(|c| c.perp_margin)),
        capital_in_use: usdt(view.capital.map(|c| c.total())),
        deployed_notional: usdt(metrics.map(|m| m.deployed_notional)),
        spot_side_equity: usdt(metrics.map(|m| m.wallets().spot_side)),
        futures_margin_balance: usdt(metrics.map(|m| m.wallets().futures)),
        margin_level_target: decimal_to_string(view.margin_level_target.normalize()),
        drawdown_limit_breached: view.drawdown_limit_breached,
        drawdown_limit_action: limit_action(view.drawdown_limit_action) as i32,
        drawdown_reduce_fraction: optional_decimal_to_string(
            (view.drawdown_limit_action == DrawdownLimitAction::Reduce)
                .then_some(view.drawdown_reduce_fraction),
        ),
        drawdown_limit_directive: breach.map(directive),
        marks_as_of: metrics
            .and_then(|m| m.marks_as_of)
            .and_then(datetime_to_timestamp),
    }
}

/// A USDT amount, at most 8 decimals, without trailing zeros; `""` for `None`.
fn usdt(value: Option<Decimal>) -> String {
    optional_decimal_to_string(value.map(|v| v.round_dp(8).normalize()))
}

pub fn approval(a: &Approval) -> pb::Approval {
    pb::Approval {
        approval_id: a.id.clone(),
        approved: a.approved,
        approved_notional: decimal_to_string(a.approved_notional),
        reasons: a.reasons.clone(),
        tier: tier(Some(a.tier)),
        decided_at: datetime_to_timestamp(a.decided_at),
        expires_at: datetime_to_timestamp(a.expires_at),
    }
}

pub fn budget(b: &EntryBudget) -> pb::EntryBudget {
    pb::EntryBudget {
        budget_id: b.id.clone(),
        capital_headroom: decimal_to_string(b.headroom),
        max_leverage: decimal_to_string(b.max_leverage),
        reasons: b.reasons.clone(),
        tier: tier(Some(b.tier)),
        decided_at: datetime_to_timestamp(b.decided_at),
        expires_at: datetime_to_timestamp(b.expires_at),
        account_as_of: b.account_as_of.and_then(datetime_to_timestamp),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use fff_core::Direction;
    use fff_core::params::{CapitalParams, RiskParams};
    use rust_decimal_macros::dec;

    use super::*;
    use crate::account::AccountMetrics;
    use crate::monitor::RiskMonitor;

    #[test]
    fn state_reports_capital_by_side_and_both_wallets() {
        let now = Utc::now();
        let mut monitor = RiskMonitor::new(
            RiskParams::default(),
            CapitalParams::default(),
            Duration::seconds(300),
        )
        .unwrap();
        let empty = state(&monitor.view(now), None, None, now);
        assert_eq!(
            (empty.utilization.as_str(), empty.capital_in_use.as_str()),
            ("", "")
        );
        assert_eq!(empty.margin_level_target, "2.15");
        monitor.observe_account(
            AccountMetrics {
                as_of: now,
                total_equity: dec!(100000),
                spot_equity: dec!(40000),
                margin_equity: dec!(35000),
                futures_equity: dec!(25000),
                futures_margin_ratio: dec!(0.1),
                futures_coverage: Some(dec!(10)),
                cross_margin_level: Some(dec!(2.5)),
                deployed_notional: dec!(30000),
                hedges: vec![
                    (Direction::PositiveCarry, dec!(20000)),
                    (Direction::NegativeCarry, dec!(10000)),
                ],
                open_symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
                marks_as_of: Some(now),
            },
            now,
        );
        let s = state(&monitor.view(now), None, None, now);
        assert_eq!(s.utilization, "0.384");
        assert_eq!(s.spot_side_capital, "31500");
        assert_eq!(s.perp_margin_capital, "6900");
        assert_eq!(s.capital_in_use, "38400");
        assert_eq!(s.deployed_notional, "30000");
        assert_eq!(s.spot_side_equity, "75000");
        assert_eq!(s.futures_margin_balance, "25000");
        assert_eq!(s.cross_margin_level, "2.5");
        assert_eq!(s.futures_margin_coverage, "10");
        // which figures are live: the snapshot's time and the newest mark's
        assert_eq!(s.data_as_of, datetime_to_timestamp(now));
        assert_eq!(s.marks_as_of, datetime_to_timestamp(now));
    }
}

//! Domain values to `fff.risk.v1` messages.

use chrono::{DateTime, Utc};
use fff_core::MarginTier;
use fff_proto::convert::{datetime_to_timestamp, decimal_to_string, optional_decimal_to_string};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::risk::v1 as pb;

use crate::approvals::Approval;
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

pub fn state(view: &RiskView, last: Option<&Directive>, now: DateTime<Utc>) -> pb::RiskState {
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
        utilization: optional_decimal_to_string(view.utilization.map(|u| u.round_dp(8))),
        utilization_limit: decimal_to_string(view.utilization_limit),
        entries_halted: view.entries_halted,
        halt_reason: view.halt_reason.clone(),
        last_directive: last.map(directive),
        data_as_of: metrics.and_then(|m| datetime_to_timestamp(m.as_of)),
        computed_at: datetime_to_timestamp(now),
        futures_margin_coverage: optional_decimal_to_string(coverage.map(|c| c.round_dp(8))),
    }
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

//! Domain values to and from fff-store's risk rows (`risk_directives`, `risk_directive_acks`,
//! `risk_monitor_state`, `risk_approvals`). Names are the lowercase forms the migration's CHECK
//! constraints list; a row that does not parse is reported, never guessed.

use fff_core::{Direction, MarginTier};
use fff_proto::fff::risk::v1::{DirectiveKind, DirectiveOutcome};
use fff_store::{RiskApproval, RiskDirective, RiskDirectiveAck, RiskMonitorState};

use crate::approvals::{Approval, ApprovalRequest};
use crate::directives::{Ack, Directive};
use crate::monitor::Latched;
use crate::state::CoreError;

fn corrupt(what: &str, value: &str) -> CoreError {
    CoreError::Corrupt(format!("unknown {what} {value:?} in the risk tables"))
}

pub fn kind_name(kind: DirectiveKind) -> &'static str {
    match kind {
        DirectiveKind::Reduce => "reduce",
        DirectiveKind::EmergencyDeleverage => "emergency_deleverage",
        DirectiveKind::CloseAll => "close_all",
        DirectiveKind::HaltEntries => "halt_entries",
        DirectiveKind::Resume => "resume",
        DirectiveKind::Unspecified => "unspecified",
    }
}

fn kind_from(name: &str) -> Result<DirectiveKind, CoreError> {
    Ok(match name {
        "reduce" => DirectiveKind::Reduce,
        "emergency_deleverage" => DirectiveKind::EmergencyDeleverage,
        "close_all" => DirectiveKind::CloseAll,
        "halt_entries" => DirectiveKind::HaltEntries,
        "resume" => DirectiveKind::Resume,
        other => return Err(corrupt("directive kind", other)),
    })
}

fn tier_name(tier: MarginTier) -> &'static str {
    match tier {
        MarginTier::Green => "green",
        MarginTier::Yellow => "yellow",
        MarginTier::Orange => "orange",
        MarginTier::Red => "red",
    }
}

fn tier_from(name: &str) -> Result<MarginTier, CoreError> {
    Ok(match name {
        "green" => MarginTier::Green,
        "yellow" => MarginTier::Yellow,
        "orange" => MarginTier::Orange,
        "red" => MarginTier::Red,
        other => return Err(corrupt("tier", other)),
    })
}

fn optional_tier_from(name: Option<&str>) -> Result<Option<MarginTier>, CoreError> {
    name.map(tier_from).transpose()
}

fn outcome_name(outcome: DirectiveOutcome) -> &'static str {
    match outcome {
        DirectiveOutcome::Accepted => "accepted",
        DirectiveOutcome::Completed => "completed",
        DirectiveOutcome::Partial => "partial",
        DirectiveOutcome::Failed => "failed",
        DirectiveOutcome::Skipped => "skipped",
        DirectiveOutcome::Unspecified => "unspecified",
    }
}

fn outcome_from(name: &str) -> Result<DirectiveOutcome, CoreError> {
    Ok(match name {
        "accepted" => DirectiveOutcome::Accepted,
        "completed" => DirectiveOutcome::Completed,
        "partial" => DirectiveOutcome::Partial,
        "failed" => DirectiveOutcome::Failed,
        "skipped" => DirectiveOutcome::Skipped,
        other => return Err(corrupt("directive outcome", other)),
    })
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::PositiveCarry => "positive_carry",
        Direction::NegativeCarry => "negative_carry",
    }
}

pub fn directive_row(d: &Directive) -> Result<RiskDirective, CoreError> {
    Ok(RiskDirective {
        sequence: i64::try_from(d.sequence)
            .map_err(|_| CoreError::Corrupt(format!("sequence {} overflows", d.sequence)))?,
        directive_id: d.id.clone(),
        kind: kind_name(d.kind).to_owned(),
        reduce_fraction: d.reduce_fraction,
        reason: d.reason.clone(),
        tier: tier_name(d.tier).to_owned(),
        issued_at: d.issued_at,
        expires_at: d.expires_at,
        drawdown_limit: d.drawdown_limit,
    })
}

pub fn directive_from_row(row: &RiskDirective) -> Result<Directive, CoreError> {
    Ok(Directive {
        id: row.directive_id.clone(),
        sequence: u64::try_from(row.sequence)
            .map_err(|_| corrupt("sequence", &row.sequence.to_string()))?,
        kind: kind_from(&row.kind)?,
        reduce_fraction: row.reduce_fraction,
        reason: row.reason.clone(),
        tier: tier_from(&row.tier)?,
        issued_at: row.issued_at,
        expires_at: row.expires_at,
        drawdown_limit: row.drawdown_limit,
    })
}

pub fn ack_row(directive_id: &str, ack: &Ack) -> RiskDirectiveAck {
    RiskDirectiveAck {
        directive_id: directive_id.to_owned(),
        outcome: outcome_name(ack.outcome).to_owned(),
        detail: ack.detail.clone(),
        acked_at: ack.acked_at,
    }
}

pub fn ack_from_row(row: &RiskDirectiveAck) -> Result<Ack, CoreError> {
    Ok(Ack {
        outcome: outcome_from(&row.outcome)?,
        detail: row.detail.clone(),
        acked_at: row.acked_at,
    })
}

pub fn state_row(latched: &Latched) -> RiskMonitorState {
    let name = |tier: Option<MarginTier>| tier.map(|t| tier_name(t).to_owned());
    RiskMonitorState {
        tier: name(latched.tier),
        futures_tier: name(latched.futures_tier),
        cross_tier: name(latched.cross_tier),
        cut_expires: latched.cut_expires,
        cooldown_until: latched.cooldown_until,
    }
}

pub fn latched_from_row(row: &RiskMonitorState) -> Result<Latched, CoreError> {
    Ok(Latched {
        tier: optional_tier_from(row.tier.as_deref())?,
        futures_tier: optional_tier_from(row.futures_tier.as_deref())?,
        cross_tier: optional_tier_from(row.cross_tier.as_deref())?,
        cut_expires: row.cut_expires,
        cooldown_until: row.cooldown_until,
    })
}

pub fn approval_row(request: &ApprovalRequest, approval: &Approval) -> RiskApproval {
    RiskApproval {
        request_id: request.request_id.clone(),
        approval_id: approval.id.clone(),
        symbol: request.symbol.as_str().to_owned(),
        direction: direction_name(request.direction).to_owned(),
        notional: request.notional,
        leverage: i32::try_from(request.leverage).unwrap_or(i32::MAX),
        reason: request.reason.clone(),
        approved: approval.approved,
        approved_notional: approval.approved_notional,
        reasons: approval.reasons.clone(),
        tier: tier_name(approval.tier).to_owned(),
        decided_at: approval.decided_at,
        expires_at: approval.expires_at,
    }
}

pub fn approval_from_row(row: &RiskApproval) -> Result<Approval, CoreError> {
    Ok(Approval {
        id: row.approval_id.clone(),
        approved: row.approved,
        approved_notional: row.approved_notional,
        reasons: row.reasons.clone(),
        tier: tier_from(&row.tier)?,
        decided_at: row.decided_at,
        expires_at: row.expires_at,
    })
}

//! Text table and JSON views of a status snapshot. Decimal strings are shown as the services
//! sent them (exact), never re-parsed into floats.

use std::fmt::Write as _;

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::executor::v1 as exec;
use fff_proto::fff::risk::v1 as risk;
use serde_json::{Value, json};

use super::{Snapshot, part};

fn direction(raw: i32) -> &'static str {
    match common::Direction::try_from(raw) {
        Ok(common::Direction::PositiveCarry) => "long spot/short perp",
        Ok(common::Direction::NegativeCarry) => "short spot/long perp",
        _ => "?",
    }
}

fn status(raw: i32) -> &'static str {
    exec::PositionStatus::try_from(raw)
        .map(|s| s.as_str_name().trim_start_matches("POSITION_STATUS_"))
        .unwrap_or("?")
}

fn tier(raw: i32) -> &'static str {
    common::MarginTier::try_from(raw)
        .map(|t| t.as_str_name().trim_start_matches("MARGIN_TIER_"))
        .unwrap_or("?")
}

fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

fn leg_json(leg: Option<&exec::Leg>) -> Value {
    leg.map_or(Value::Null, |leg| {
        json!({
            "quantity": leg.quantity,
            "avg_entry_price": leg.avg_entry_price,
            "mark_price": leg.mark_price,
            "notional": leg.notional,
            "borrowed": leg.borrowed,
            "unrealized_pnl": leg.unrealized_pnl,
        })
    })
}

fn pnl_json(pnl: &exec::PnlBreakdown) -> Value {
    json!({
        "funding_received": pnl.funding_received,
        "funding_paid": pnl.funding_paid,
        "borrow_interest": pnl.borrow_interest,
        "fees_spot": pnl.fees_spot,
        "fees_perp": pnl.fees_perp,
        "liquidation_fees": pnl.liquidation_fees,
        "basis_pnl_spot": pnl.basis_pnl_spot,
        "basis_pnl_perp": pnl.basis_pnl_perp,
        "realized": pnl.realized,
        "unrealized": pnl.unrealized,
        "net": pnl.net,
        "funding_expected": pnl.funding_expected,
        "funding_actual": pnl.funding_actual,
        "funding_discrepancy": pnl.funding_discrepancy,
    })
}

/// The snapshot as one JSON document (`fff status --json`).
pub fn json(snapshot: &Snapshot) -> Value {
    json!({
        "positions": part(&snapshot.positions, |positions| {
            Value::Array(positions.iter().map(|p| json!({
                "position_id": p.position_id,
                "symbol": p.symbol,
                "direction": direction(p.direction),
                "status": status(p.status),
                "spot": leg_json(p.spot_leg.as_ref()),
                "perp": leg_json(p.perp_leg.as_ref()),
                "drift": p.drift,
                "target_notional": p.target_notional,
                "funding_net": p.funding_net,
                "borrow_interest": p.borrow_interest,
                "fees": p.fees,
                "realized_pnl": p.realized_pnl,
                "unrealized_pnl": p.unrealized_pnl,
            })).collect())
        }),
        "pnl": part(&snapshot.pnl, |pnl| pnl.total.as_ref().map_or(Value::Null, pnl_json)),
        "allocation": part(&snapshot.allocation, |a| json!({
            "equity": a.equity,
            "reserve": a.reserve,
            "deployable": a.deployable,
            "deployed": a.deployed,
            "utilization": a.utilization,
            "capital_in_use": a.capital_in_use,
            "spot_side_capital": a.spot_side_capital,
            "perp_margin_capital": a.perp_margin_capital,
            "target_capital": a.target_capital,
            "target_utilization": a.target_utilization,
        })),
        "executor": part(&snapshot.executor, |s| json!({
            "paused": s.paused,
            "reason": s.reason,
            "entries_halted_by_risk": s.entries_halted_by_risk,
            "live_positions": s.live_positions,
            "reconciliation_mismatches": s.reconciliation_mismatches,
            "entries_blocked_symbols": s.entries_blocked_symbols,
        })),
        "risk": part(&snapshot.risk, risk_json),
    })
}

/// Risk's view. `utilization` is the capital model's (both legs' capital / equity), the same
/// figure as the executor's allocation; the wallets and their health figures come with it.
fn risk_json(state: &risk::RiskState) -> Value {
    json!({
        "tier": tier(state.tier),
        "futures_tier": tier(state.futures_tier),
        "cross_margin_tier": tier(state.cross_margin_tier),
        "futures_margin_coverage": state.futures_margin_coverage,
        "futures_margin_ratio": state.futures_margin_ratio,
        "cross_margin_level": state.cross_margin_level,
        "margin_level_target": state.margin_level_target,
        "equity": state.equity,
        "spot_side_equity": state.spot_side_equity,
        "futures_margin_balance": state.futures_margin_balance,
        "drawdown": state.drawdown,
        "drawdown_month_max": state.drawdown_month_max,
        "drawdown_limit": state.drawdown_limit,
        "utilization": state.utilization,
        "utilization_limit": state.utilization_limit,
        "capital_in_use": state.capital_in_use,
        "spot_side_capital": state.spot_side_capital,
        "perp_margin_capital": state.perp_margin_capital,
        "deployed_notional": state.deployed_notional,
        "entries_halted": state.entries_halted,
        "halt_reason": state.halt_reason,
    })
}

/// A USDT amount for the table: cents (the JSON keeps full precision); `-` when absent.
fn usdt(raw: &str) -> String {
    match raw.parse::<rust_decimal::Decimal>() {
        Ok(value) => value.round_dp(2).normalize().to_string(),
        Err(_) => or_dash(raw).to_owned(),
    }
}

/// The human view (`fff status`).
pub fn table(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    match &snapshot.positions {
        Ok(positions) => {
            let _ = writeln!(out, "POSITIONS ({} live)", positions.len());
            let _ = writeln!(
                out,
                "{:<12} {:<21} {:<9} {:>14} {:>14} {:>12} {:>12} {:>8} {:>12} {:>10} {:>10} {:>12}",
                "SYMBOL",
                "DIRECTION",
                "STATUS",
                "SPOT QTY",
                "PERP QTY",
                "SPOT ENTRY",
                "PERP ENTRY",
                "DRIFT",
                "FUNDING",
                "BORROW",
                "FEES",
                "UNREALIZED"
            );
            for p in positions {
                let spot = p.spot_leg.clone().unwrap_or_default();
                let perp = p.perp_leg.clone().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<12} {:<21} {:<9} {:>14} {:>14} {:>12} {:>12} {:>8} {:>12} {:>10} {:>10} {:>12}",
                    p.symbol,
                    direction(p.direction),
                    status(p.status),
                    or_dash(&spot.quantity),
                    or_dash(&perp.quantity),
                    or_dash(&spot.avg_entry_price),
                    or_dash(&perp.avg_entry_price),
                    or_dash(&p.drift),
                    or_dash(&p.funding_net),
                    or_dash(&p.borrow_interest),
                    or_dash(&p.fees),
                    or_dash(&p.unrealized_pnl),
                );
            }
        }
        Err(error) => {
            let _ = writeln!(out, "POSITIONS unavailable ({error})");
        }
    }
    match &snapshot.pnl {
        Ok(pnl) => {
            if let Some(t) = &pnl.total {
                let _ = writeln!(
                    out,
                    "P&L        funding received {} paid {}  borrow {}  fees {} (spot) {} (perp)  liquidation fees {}  basis {} / {}  realized {}  unrealized {}  net {}",
                    or_dash(&t.funding_received),
                    or_dash(&t.funding_paid),
                    or_dash(&t.borrow_interest),
                    or_dash(&t.fees_spot),
                    or_dash(&t.fees_perp),
                    or_dash(&t.liquidation_fees),
                    or_dash(&t.basis_pnl_spot),
                    or_dash(&t.basis_pnl_perp),
                    or_dash(&t.realized),
                    or_dash(&t.unrealized),
                    or_dash(&t.net)
                );
            }
        }
        Err(error) => {
            let _ = writeln!(out, "P&L        unavailable ({error})");
        }
    }
    match &snapshot.allocation {
        Ok(a) => {
            let _ = writeln!(
                out,
                "CAPITAL    equity {}  in use {} of budget {} (utilization {}, target {})  notional {}  reserve {}",
                usdt(&a.equity),
                usdt(&a.capital_in_use),
                usdt(&a.deployable),
                or_dash(&a.utilization),
                or_dash(&a.target_utilization),
                usdt(&a.deployed),
                usdt(&a.reserve)
            );
        }
        Err(error) => {
            let _ = writeln!(out, "CAPITAL    unavailable ({error})");
        }
    }
    match &snapshot.risk {
        Ok(r) => {
            let _ = writeln!(
                out,
                "RISK       tier {}  margin coverage {}  cross-margin level {}  drawdown {} (month max {}, limit {})  entries {}",
                tier(r.tier),
                or_dash(&r.futures_margin_coverage),
                or_dash(&r.cross_margin_level),
                or_dash(&r.drawdown),
                or_dash(&r.drawdown_month_max),
                or_dash(&r.drawdown_limit),
                if r.entries_halted {
                    format!("HALTED ({})", or_dash(&r.halt_reason))
                } else {
                    "allowed".to_owned()
                }
            );
            let _ = writeln!(
                out,
                "USAGE      utilization {} (limit {})  capital in use {} = spot side {} + perp margin {}  notional {}",
                or_dash(&r.utilization),
                or_dash(&r.utilization_limit),
                usdt(&r.capital_in_use),
                usdt(&r.spot_side_capital),
                usdt(&r.perp_margin_capital),
                usdt(&r.deployed_notional),
            );
            let _ = writeln!(
                out,
                "WALLETS    spot+margin {} (cross-margin level {}, {})  futures {} (margin coverage {}, {})",
                usdt(&r.spot_side_equity),
                or_dash(&r.cross_margin_level),
                tier(r.cross_margin_tier),
                usdt(&r.futures_margin_balance),
                or_dash(&r.futures_margin_coverage),
                tier(r.futures_tier),
            );
        }
        Err(error) => {
            let _ = writeln!(out, "RISK       unavailable ({error})");
        }
    }
    if let Ok(s) = &snapshot.executor {
        let _ = writeln!(
            out,
            "EXECUTOR   {}{}",
            if s.paused { "PAUSED" } else { "running" },
            if s.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", s.reason)
            }
        );
        if !s.reconciliation_mismatches.is_empty() {
            let _ = writeln!(
                out,
                "MISMATCH   entries blocked on {} (exits only): {}",
                s.entries_blocked_symbols.join(", "),
                s.reconciliation_mismatches.join("; ")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            positions: Err("unreachable".to_owned()),
            pnl: Err("unreachable".to_owned()),
            allocation: Ok(exec::Allocation {
                equity: "100000".into(),
                reserve: "10000".into(),
                deployable: "85000".into(),
                deployed: "30000".into(),
                utilization: "0.384".into(),
                capital_in_use: "38400".into(),
                spot_side_capital: "31500".into(),
                perp_margin_capital: "6900".into(),
                target_capital: "84000".into(),
                target_utilization: "0.84".into(),
                ..exec::Allocation::default()
            }),
            executor: Err("unreachable".to_owned()),
            risk: Ok(risk::RiskState {
                tier: common::MarginTier::Green as i32,
                futures_tier: common::MarginTier::Green as i32,
                cross_margin_tier: common::MarginTier::Yellow as i32,
                futures_margin_coverage: "10".into(),
                cross_margin_level: "1.9".into(),
                margin_level_target: "2.15".into(),
                equity: "100000".into(),
                spot_side_equity: "75000".into(),
                futures_margin_balance: "25000".into(),
                utilization: "0.384".into(),
                utilization_limit: "0.85".into(),
                capital_in_use: "38400".into(),
                spot_side_capital: "31500".into(),
                perp_margin_capital: "6900".into(),
                deployed_notional: "30000".into(),
                ..risk::RiskState::default()
            }),
        }
    }

    #[test]
    fn json_carries_utilization_both_wallets_and_their_health() {
        let report = json(&snapshot());
        let r = &report["risk"];
        assert_eq!(r["utilization"], "0.384");
        assert_eq!(r["capital_in_use"], "38400");
        assert_eq!(r["spot_side_capital"], "31500");
        assert_eq!(r["perp_margin_capital"], "6900");
        assert_eq!(r["spot_side_equity"], "75000");
        assert_eq!(r["futures_margin_balance"], "25000");
        assert_eq!(r["cross_margin_level"], "1.9");
        assert_eq!(r["futures_margin_coverage"], "10");
        assert_eq!(r["cross_margin_tier"], "YELLOW");
        // the executor's figure next to risk's, and the earlier keys kept
        assert_eq!(report["allocation"]["utilization"], r["utilization"]);
        assert_eq!(report["allocation"]["perp_margin_capital"], "6900");
        assert_eq!(report["allocation"]["deployed"], "30000");
        assert_eq!(r["equity"], "100000");
        assert!(report["positions"]["error"].is_string(), "{report}");
        assert!(report["executor"]["error"].is_string(), "{report}");
    }

    #[test]
    fn table_shows_usage_and_wallets() {
        let text = table(&snapshot());
        assert!(
            text.contains(
                "CAPITAL    equity 100000  in use 38400 of budget 85000 (utilization 0.384, target 0.84)  notional 30000  reserve 10000"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "USAGE      utilization 0.384 (limit 0.85)  capital in use 38400 = spot side 31500 + perp margin 6900  notional 30000"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "WALLETS    spot+margin 75000 (cross-margin level 1.9, YELLOW)  futures 25000 (margin coverage 10, GREEN)"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_risk_halt_says_why_and_until_when() {
        let mut snap = snapshot();
        if let Ok(r) = &mut snap.risk {
            r.entries_halted = true;
            r.halt_reason =
                "close-all cool-down until 2026-12-04T20:00:00Z (risk.close_all_cooldown_secs)"
                    .into();
        }
        let text = table(&snap);
        assert!(
            text.contains(
                "entries HALTED (close-all cool-down until 2026-12-04T20:00:00Z (risk.close_all_cooldown_secs))"
            ),
            "{text}"
        );
        assert!(table(&snapshot()).contains("entries allowed"));
    }

    #[test]
    fn an_unresolved_mismatch_is_shown_with_the_symbols_it_blocks() {
        let mut snap = snapshot();
        snap.executor = Ok(exec::ExecutorStatus {
            reconciliation_mismatches: vec![
                "SOLUSDT loan 3 at the venue, none in the books".into(),
            ],
            entries_blocked_symbols: vec!["SOLUSDT".into()],
            ..exec::ExecutorStatus::default()
        });
        let text = table(&snap);
        assert!(
            text.contains(
                "MISMATCH   entries blocked on SOLUSDT (exits only): SOLUSDT loan 3 at the venue, none in the books"
            ),
            "{text}"
        );
        let report = json(&snap);
        assert_eq!(
            report["executor"]["entries_blocked_symbols"],
            json!(["SOLUSDT"])
        );
    }
}

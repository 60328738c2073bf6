//! Entry approvals: refuse while margin is not Green, while entries are halted, or when the
//! entry would push utilization over `capital.target_utilization`. Utilization is fff-core's
//! capital model (both legs' capital / equity): the held hedges at mark plus the requested
//! notional priced for the requested direction.
//!
//! With a database (the `fff risk` role) every decision is stored in `risk_approvals` before it
//! is answered, idempotent on `request_id` across restarts ([`crate::state::RiskCore::approve`]);
//! the in-memory map here is the cache of this process's decisions (bounded). An approval is
//! valid only until `expires_at`.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use fff_core::{Direction, MarginTier, Symbol};
use rust_decimal::Decimal;

use crate::directives::new_id;
use crate::monitor::RiskMonitor;

/// Approvals remembered for idempotency.
const REMEMBERED: usize = 10_000;

/// A validated RequestApproval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub request_id: String,
    pub symbol: Symbol,
    pub direction: Direction,
    pub notional: Decimal,
    pub leverage: u32,
    pub reason: String,
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: String,
    pub approved: bool,
    pub approved_notional: Decimal,
    pub reasons: Vec<String>,
    pub tier: MarginTier,
    pub decided_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Decisions by request id.
#[derive(Debug)]
pub struct Approvals {
    ttl: Duration,
    max_data_age: Duration,
    by_request: HashMap<String, Approval>,
    order: VecDeque<String>,
}

impl Approvals {
    /// Approvals valid for `ttl`; account data older than `max_data_age` refuses every entry.
    pub fn new(ttl: Duration, max_data_age: Duration) -> Self {
        Self {
            ttl,
            max_data_age,
            by_request: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The earlier decision for this `request_id`, or a new one.
    pub fn decide(
        &mut self,
        request: &ApprovalRequest,
        monitor: &RiskMonitor,
        now: DateTime<Utc>,
    ) -> Approval {
        if let Some(earlier) = self.remembered(&request.request_id) {
            return earlier;
        }
        let approval = self.evaluate(request, monitor, now);
        self.remember(&request.request_id, approval.clone());
        approval
    }

    /// The decision this process remembers for `request_id`.
    pub fn remembered(&self, request_id: &str) -> Option<Approval> {
        self.by_request.get(request_id).cloned()
    }

    /// A new decision for `request`, not remembered yet.
    pub fn evaluate(
        &self,
        request: &ApprovalRequest,
        monitor: &RiskMonitor,
        now: DateTime<Utc>,
    ) -> Approval {
        let approval = evaluate(request, monitor, now, self.ttl, self.max_data_age);
        tracing::info!(
            symbol = %request.symbol,
            request_id = %request.request_id,
            approval_id = %approval.id,
            approved = approval.approved,
            reasons = ?approval.reasons,
            "entry approval decided"
        );
        approval
    }

    /// Remembers the decision for `request_id` (the oldest is forgotten beyond the bound).
    pub fn remember(&mut self, request_id: &str, approval: Approval) {
        if self.by_request.contains_key(request_id) {
            self.by_request.insert(request_id.to_owned(), approval);
            return;
        }
        if self.order.len() == REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_request.remove(&oldest);
        }
        self.order.push_back(request_id.to_owned());
        self.by_request.insert(request_id.to_owned(), approval);
    }

    /// Forgets every decision (a new lease term reads them from the database).
    pub fn clear(&mut self) {
        self.by_request.clear();
        self.order.clear();
    }
}

fn evaluate(
    request: &ApprovalRequest,
    monitor: &RiskMonitor,
    now: DateTime<Utc>,
    ttl: Duration,
    max_data_age: Duration,
) -> Approval {
    let view = monitor.view(now);
    let tier = view.tier.unwrap_or(MarginTier::Red);
    let mut reasons = Vec::new();
    match monitor.metrics() {
        None => reasons.push("no account data from the gateway yet".to_owned()),
        Some(metrics) => {
            let age = now.signed_duration_since(metrics.as_of);
            if age > max_data_age {
                reasons.push(format!(
                    "account data is {} s old (limit {} s)",
                    age.num_seconds(),
                    max_data_age.num_seconds()
                ));
            }
            if tier > MarginTier::Green {
                reasons.push(format!("margin tier is {tier:?}, entries need Green"));
            }
            if view.entries_halted {
                reasons.push(format!("entries halted: {}", view.halt_reason));
            }
            let max = monitor.capital().max_leverage;
            if Decimal::from(request.leverage) > max {
                reasons.push(format!(
                    "leverage {} above capital.max_leverage {max}",
                    request.leverage
                ));
            }
            let entry = (request.direction, request.notional);
            if metrics.total_equity <= Decimal::ZERO {
                reasons.push("equity is not positive".to_owned());
            } else {
                match monitor.utilization(metrics, Some(entry)) {
                    Some(after) if after.ratio <= view.utilization_limit => {}
                    Some(after) => reasons.push(format!(
                        "utilization after entry {} above limit {} (capital in use {} of \
                         equity {})",
                        after.ratio.round_dp(4),
                        view.utilization_limit,
                        after.capital.total().round_dp(2),
                        metrics.total_equity.round_dp(2)
                    )),
                    None => reasons.push("capital in use overflows".to_owned()),
                }
            }
        }
    }
    let approved = reasons.is_empty();
    Approval {
        id: new_id(),
        approved,
        approved_notional: if approved {
            request.notional
        } else {
            Decimal::ZERO
        },
        reasons,
        tier,
        decided_at: now,
        expires_at: now.checked_add_signed(ttl).unwrap_or(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountMetrics;
    use fff_core::params::{CapitalParams, RiskParams};
    use rust_decimal_macros::dec;

    /// 100k equity holding a 20k positive-carry hedge: 24.6k of capital in use (24.6 %).
    fn monitor_at(coverage: Decimal) -> RiskMonitor {
        let mut m = RiskMonitor::new(
            RiskParams::default(),
            CapitalParams::default(),
            Duration::seconds(300),
        )
        .unwrap();
        m.observe_account(
            AccountMetrics {
                as_of: Utc::now(),
                total_equity: dec!(100000),
                spot_equity: dec!(80000),
                margin_equity: dec!(0),
                futures_equity: dec!(20000),
                futures_margin_ratio: Decimal::ZERO,
                futures_coverage: Some(coverage),
                cross_margin_level: None,
                deployed_notional: dec!(20000),
                hedges: vec![(Direction::PositiveCarry, dec!(20000))],
                open_symbols: vec!["BTCUSDT".into()],
                marks_as_of: None,
            },
            Utc::now(),
        );
        m
    }

    fn request(id: &str, notional: Decimal) -> ApprovalRequest {
        ApprovalRequest {
            request_id: id.into(),
            symbol: Symbol::parse("ETHUSDT").unwrap(),
            direction: Direction::PositiveCarry,
            notional,
            leverage: 5,
            reason: "test".into(),
        }
    }

    #[test]
    fn green_with_headroom_is_approved_and_idempotent() {
        let monitor = monitor_at(dec!(10));
        let mut approvals = Approvals::new(Duration::seconds(60), Duration::seconds(10));
        let now = Utc::now();
        // 24 600 + 40 000 x 1.23 = 73 800: 73.8 % of equity, under 85 %
        let first = approvals.decide(&request("r1", dec!(40000)), &monitor, now);
        assert!(first.approved, "{:?}", first.reasons);
        assert_eq!(first.approved_notional, dec!(40000));
        let again = approvals.decide(&request("r1", dec!(1)), &monitor, now);
        assert_eq!(again, first);
    }

    #[test]
    fn utilization_and_tier_refuse_with_reasons() {
        let mut approvals = Approvals::new(Duration::seconds(60), Duration::seconds(10));
        let now = Utc::now();
        let monitor = monitor_at(dec!(10));
        // 24 600 + 50 000 x 1.23 = 86 100: 86.1 % > 85 %
        let refused = approvals.decide(&request("r2", dec!(50000)), &monitor, now);
        assert!(!refused.approved);
        assert_eq!(refused.approved_notional, Decimal::ZERO);
        assert!(
            refused.reasons[0].contains("utilization after entry 0.861"),
            "{:?}",
            refused.reasons
        );
        let stale = approvals.decide(
            &request("r4", dec!(1000)),
            &monitor,
            now + Duration::seconds(11),
        );
        assert!(stale.reasons[0].contains("old"), "{:?}", stale.reasons);
        let yellow = monitor_at(dec!(4));
        let refused = approvals.decide(&request("r3", dec!(1000)), &yellow, now);
        assert!(
            refused.reasons[0].contains("Yellow"),
            "{:?}",
            refused.reasons
        );
    }

    #[test]
    fn the_requested_direction_prices_the_entry() {
        let monitor = monitor_at(dec!(10));
        let mut approvals = Approvals::new(Duration::seconds(60), Duration::seconds(10));
        let now = Utc::now();
        // 45 000 positive carry: 24 600 + 55 350 = 79.95 %
        let long = approvals.decide(&request("long", dec!(45000)), &monitor, now);
        assert!(long.approved, "{:?}", long.reasons);
        // 45 000 negative carry: 24 600 + 45 000 x 1.38 = 86.7 %
        let short = ApprovalRequest {
            direction: Direction::NegativeCarry,
            ..request("short", dec!(45000))
        };
        let refused = approvals.decide(&short, &monitor, now);
        assert!(
            refused.reasons[0].contains("utilization after entry 0.867"),
            "{:?}",
            refused.reasons
        );
    }
}

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
    /// Set when the entry was approved from this entry budget (the executor reports it).
    pub budget_id: Option<String>,
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
    /// Budget revisions that allowed entries, newest last, while a report may still quote
    /// them: (id, expires_at, tier).
    granted: VecDeque<(String, DateTime<Utc>, MarginTier)>,
}

impl Approvals {
    /// Approvals valid for `ttl`; account data older than `max_data_age` refuses every entry.
    pub fn new(ttl: Duration, max_data_age: Duration) -> Self {
        Self {
            ttl,
            max_data_age,
            by_request: HashMap::new(),
            order: VecDeque::new(),
            granted: VecDeque::new(),
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
        let approval = match &request.budget_id {
            Some(budget) => self.reported_from_budget(request, budget, now),
            None => evaluate(request, monitor, now, self.ttl, self.max_data_age),
        };
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
        self.granted.clear();
    }

    /// The record of an entry the executor approved from budget `budget`: approved if this
    /// term granted that revision and a report could still quote it. It is not judged again
    /// against the account: by the time the report arrives the entry's fills are in it, and
    /// it would count twice.
    fn reported_from_budget(
        &self,
        request: &ApprovalRequest,
        budget: &str,
        now: DateTime<Utc>,
    ) -> Approval {
        let granted = self
            .granted
            .iter()
            .find(|(id, expires_at, _)| id == budget && now <= *expires_at + REPORT_GRACE);
        let (reasons, tier, expires_at) = match granted {
            Some((_, expires_at, tier)) => (Vec::new(), *tier, *expires_at),
            None => (
                vec![format!(
                    "entry budget {budget} was not granted by this risk term or has expired"
                )],
                MarginTier::Red,
                now,
            ),
        };
        decision(request, reasons, tier, now, expires_at)
    }
}

/// How long a budget revision stands without a newer one (the stream revises it at least
/// every [`crate::service`] refresh, far sooner).
pub const BUDGET_TTL_MS: i64 = 2_000;

/// Entries risk approves ahead of being asked (`StreamEntryBudget`): the checks that do not
/// depend on the entry, and the capital entries may add before utilization reaches its limit.
/// The executor approves from it locally and reports each entry it approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBudget {
    pub id: String,
    /// Capital (both legs, the capital model's) that entries may add, as of `account_as_of`.
    pub headroom: Decimal,
    pub max_leverage: Decimal,
    /// Why no entry is allowed now; empty if entries are allowed.
    pub reasons: Vec<String>,
    pub tier: MarginTier,
    pub decided_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub account_as_of: Option<DateTime<Utc>>,
}

/// How long past its expiry a revision may still be quoted by a report (reports leave some
/// milliseconds after the approval; a slow network or a busy risk adds to that).
const REPORT_GRACE: Duration = Duration::seconds(10);

/// Revisions remembered for reports at most (ten a second at most are sent).
const GRANTED_REMEMBERED: usize = 1_024;

impl Approvals {
    /// The entry budget as of `now`; a revision that allows entries is remembered, so the
    /// reports of the entries approved from it are recorded as such.
    pub fn budget(&mut self, monitor: &RiskMonitor, now: DateTime<Utc>) -> EntryBudget {
        let view = monitor.view(now);
        let tier = view.tier.unwrap_or(MarginTier::Red);
        let mut reasons = standing_reasons(monitor, now, self.max_data_age);
        let mut headroom = Decimal::ZERO;
        if let Some(metrics) = monitor.metrics()
            && metrics.total_equity > Decimal::ZERO
        {
            match monitor.utilization(metrics, None) {
                Some(used) => {
                    let limit = view.utilization_limit.saturating_mul(metrics.total_equity);
                    headroom = (limit - used.capital.total()).max(Decimal::ZERO);
                }
                None => reasons.push("capital in use overflows".to_owned()),
            }
        }
        let budget = EntryBudget {
            id: new_id(),
            headroom,
            max_leverage: monitor.capital().max_leverage,
            reasons,
            tier,
            decided_at: now,
            expires_at: now
                .checked_add_signed(Duration::milliseconds(BUDGET_TTL_MS))
                .unwrap_or(now),
            account_as_of: monitor.metrics().map(|m| m.as_of),
        };
        while self.granted.len() >= GRANTED_REMEMBERED
            || self
                .granted
                .front()
                .is_some_and(|(_, expires_at, _)| *expires_at + REPORT_GRACE < now)
        {
            self.granted.pop_front();
        }
        if budget.reasons.is_empty() {
            self.granted
                .push_back((budget.id.clone(), budget.expires_at, budget.tier));
        }
        budget
    }
}

/// The checks every entry must pass whatever its size: account data present and fresh, tier
/// Green, entries not halted, equity positive.
fn standing_reasons(
    monitor: &RiskMonitor,
    now: DateTime<Utc>,
    max_data_age: Duration,
) -> Vec<String> {
    let view = monitor.view(now);
    let tier = view.tier.unwrap_or(MarginTier::Red);
    let mut reasons = Vec::new();
    let Some(metrics) = monitor.metrics() else {
        reasons.push("no account data from the gateway yet".to_owned());
        return reasons;
    };
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
    if metrics.total_equity <= Decimal::ZERO {
        reasons.push("equity is not positive".to_owned());
    }
    reasons
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
    let mut reasons = standing_reasons(monitor, now, max_data_age);
    if let Some(metrics) = monitor.metrics() {
        let max = monitor.capital().max_leverage;
        if Decimal::from(request.leverage) > max {
            reasons.push(format!(
                "leverage {} above capital.max_leverage {max}",
                request.leverage
            ));
        }
        let entry = (request.direction, request.notional);
        if metrics.total_equity > Decimal::ZERO {
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
    decision(
        request,
        reasons,
        tier,
        now,
        now.checked_add_signed(ttl).unwrap_or(now),
    )
}

/// A decision on `request`: approved in full when no reason stands against it.
fn decision(
    request: &ApprovalRequest,
    reasons: Vec<String>,
    tier: MarginTier,
    decided_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Approval {
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
        decided_at,
        expires_at,
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
        m.observe_account(metrics_at(coverage), Utc::now());
        m
    }

    /// The account of [`monitor_at`], now.
    pub(crate) fn metrics_at(coverage: Decimal) -> AccountMetrics {
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
        }
    }

    #[test]
    fn the_budget_is_the_headroom_under_the_limit_and_the_standing_checks() {
        let mut approvals = Approvals::new(Duration::seconds(60), Duration::seconds(10));
        let now = Utc::now();
        // 85 % of 100 000 less the 24 600 in use
        let green = approvals.budget(&monitor_at(dec!(10)), now);
        assert!(green.reasons.is_empty(), "{:?}", green.reasons);
        assert_eq!(green.headroom, dec!(60400));
        assert_eq!(green.max_leverage, dec!(10));
        assert_eq!(
            green.expires_at - green.decided_at,
            Duration::milliseconds(BUDGET_TTL_MS)
        );
        // what it grants is what RequestApproval approves: 60 400 / 1.23 = 49 105.69 fits
        let mut asked = approvals;
        let fits = asked.decide(&request("fit", dec!(49105)), &monitor_at(dec!(10)), now);
        assert!(fits.approved, "{:?}", fits.reasons);
        let over = asked.decide(&request("over", dec!(49200)), &monitor_at(dec!(10)), now);
        assert!(!over.approved);
        let yellow = asked.budget(&monitor_at(dec!(4)), now);
        assert!(yellow.reasons[0].contains("Yellow"), "{:?}", yellow.reasons);
        let stale = asked.budget(&monitor_at(dec!(10)), now + Duration::seconds(11));
        assert!(stale.reasons[0].contains("old"), "{:?}", stale.reasons);
        // a report quoting a granted revision is recorded approved, even where the account
        // (now holding the entry) would refuse it; one quoting a revoked revision is not
        let full = monitor_at(dec!(10));
        let report = |budget: &str, id: &str| ApprovalRequest {
            budget_id: Some(budget.to_owned()),
            ..request(id, dec!(60000))
        };
        let recorded = asked.decide(&report(&green.id, "rep1"), &full, now);
        assert!(recorded.approved, "{:?}", recorded.reasons);
        assert_eq!(recorded.approved_notional, dec!(60000));
        let revoked = asked.decide(&report(&yellow.id, "rep2"), &full, now);
        assert!(
            revoked.reasons[0].contains("not granted"),
            "{:?}",
            revoked.reasons
        );
        let late = asked.decide(
            &report(&green.id, "rep3"),
            &full,
            green.expires_at + REPORT_GRACE + Duration::seconds(1),
        );
        assert!(!late.approved);
    }

    fn request(id: &str, notional: Decimal) -> ApprovalRequest {
        ApprovalRequest {
            request_id: id.into(),
            symbol: Symbol::parse("ETHUSDT").unwrap(),
            direction: Direction::PositiveCarry,
            notional,
            leverage: 5,
            reason: "test".into(),
            budget_id: None,
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

//! The risk decisions: margin tiers with hysteresis, the drawdown latch, and which directive
//! each change calls for. Pure and synchronous; time is passed in.
//!
//! - Overall tier = worst of the futures tier (coverage) and the cross-margin tier (level), each
//!   from its own [`TierTracker`], so a value hovering at a boundary does not flap.
//! - Worsening to Yellow / Orange / Red issues REDUCE / EMERGENCY_DELEVERAGE / CLOSE_ALL at once.
//! - Improving issues no cut; leaving Orange or Red (to Yellow or Green) issues RESUME unless the
//!   drawdown latch still halts entries or a Red-tier CLOSE_ALL is cooling down: entries stay
//!   halted `close_all_cooldown_secs` after it (the close itself lifts the ratio at once), and
//!   the first observation after that RESUMEs if the tier is below Orange.
//! - A cut expires after `directive_ttl`; if the tier still calls for a cut then, it is issued
//!   again (the previous one did not restore the ratio).
//! - The drawdown latch ([`DrawdownTracker`]) is fed the persisted equity snapshots: HALT_ENTRIES
//!   when it engages, RESUME when it releases (unless margin still halts entries).
//! - Reaching `max_monthly_drawdown` begins a breach (it lasts until the latch releases) and
//!   de-risks once per breach by `drawdown_limit_action`: CLOSE_ALL, or REDUCE by
//!   `drawdown_reduce_fraction`, or nothing more for `halt_only`. That directive has no expiry:
//!   it stands (and is replayed to a new subscriber) until the RESUME that ends the breach, so
//!   an executor that was away when it was issued still follows it.
//! - Utilisation is fff-core's [`CapitalModel`]: (spot-leg cash + margin collateral + perp
//!   margin in use) / equity, each open perp position priced as a hedge of its direction at mark.

use chrono::{DateTime, Datelike, Duration, Utc};
use fff_core::drawdown::{DrawdownLimitAction, limit_directive};
use fff_core::params::{CapitalParams, RiskParams};
use fff_core::{
    CapitalModel, Direction, DrawdownEvent, DrawdownStatus, DrawdownTracker, HedgeCapital,
    MarginDirective, MarginTier, TierTracker, Utilization, directive_for,
};
use fff_proto::fff::risk::v1::DirectiveKind;
use rust_decimal::Decimal;

use crate::account::AccountMetrics;
use crate::directives::NewDirective;

/// Risk state between observations.
#[derive(Debug, Clone)]
pub struct RiskMonitor {
    params: RiskParams,
    cross_params: RiskParams,
    model: CapitalModel,
    directive_ttl: Duration,
    futures: TierTracker,
    cross: TierTracker,
    tier: Option<MarginTier>,
    drawdown: DrawdownTracker,
    drawdown_status: Option<DrawdownStatus>,
    /// (year, month, largest drawdown fraction this UTC month).
    month_max: Option<(i32, u32, Decimal)>,
    metrics: Option<AccountMetrics>,
    /// Expiry of the newest cut directive, if one is standing.
    cut_expires: Option<DateTime<Utc>>,
    /// Entries stay halted until then after a margin CLOSE_ALL.
    cooldown_until: Option<DateTime<Utc>>,
}

/// What the margin side has latched and acted on: the tiers (with their hysteresis) and the
/// expiry of the standing margin cut. Persisted on every change, restored at a lease term's
/// start, so a restart does not cut the same tier again (the drawdown latch is rebuilt from
/// the equity snapshots instead).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latched {
    pub tier: Option<MarginTier>,
    pub futures_tier: Option<MarginTier>,
    pub cross_tier: Option<MarginTier>,
    pub cut_expires: Option<DateTime<Utc>>,
    /// End of the entry halt that follows a margin CLOSE_ALL.
    pub cooldown_until: Option<DateTime<Utc>>,
}

/// Everything GetRiskState reports besides the last directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskView {
    pub metrics: Option<AccountMetrics>,
    pub futures_tier: Option<MarginTier>,
    pub cross_tier: Option<MarginTier>,
    pub tier: Option<MarginTier>,
    pub peak_equity: Option<Decimal>,
    pub drawdown: Option<Decimal>,
    pub drawdown_month_max: Option<Decimal>,
    pub drawdown_limit: Decimal,
    /// A breach of `drawdown_limit` is in progress (until the drawdown falls below the resume
    /// threshold).
    pub drawdown_limit_breached: bool,
    pub drawdown_limit_action: DrawdownLimitAction,
    pub drawdown_reduce_fraction: Decimal,
    /// Capital in use / equity; `None` without account data or with non-positive equity.
    pub utilization: Option<Decimal>,
    pub utilization_limit: Decimal,
    /// Capital in use by side; `None` without account data.
    pub capital: Option<HedgeCapital>,
    /// Cross-margin level the capital model sizes negative-carry collateral for.
    pub margin_level_target: Decimal,
    pub entries_halted: bool,
    pub halt_reason: String,
}

impl RiskMonitor {
    /// Errors when `[capital]` / `[risk]` cannot build the capital model (names the key).
    pub fn new(
        params: RiskParams,
        capital: CapitalParams,
        directive_ttl: Duration,
    ) -> Result<Self, fff_core::Error> {
        Ok(Self {
            cross_params: params.for_cross_margin(),
            drawdown: DrawdownTracker::new(&params),
            model: CapitalModel::new(&capital, &params)?,
            params,
            directive_ttl,
            futures: TierTracker::new(),
            cross: TierTracker::new(),
            tier: None,
            drawdown_status: None,
            month_max: None,
            metrics: None,
            cut_expires: None,
            cooldown_until: None,
        })
    }

    pub fn params(&self) -> &RiskParams {
        &self.params
    }

    pub fn metrics(&self) -> Option<&AccountMetrics> {
        self.metrics.as_ref()
    }

    /// Whether `metrics` would put the account in a worse margin tier than the current one
    /// (no state changes): a price that is not a mark (the perp's book) may only escalate.
    pub fn escalates(&self, metrics: &AccountMetrics) -> bool {
        let futures = metrics.futures_coverage.map_or(MarginTier::Green, |c| {
            fff_core::margin::tier_for(c, &self.params)
        });
        let cross = metrics.cross_margin_level.map_or(MarginTier::Green, |l| {
            fff_core::margin::tier_for(l, &self.cross_params)
        });
        futures.max(cross) > self.tier.unwrap_or(MarginTier::Green)
    }

    pub fn tier(&self) -> Option<MarginTier> {
        self.tier
    }

    /// The latched margin state, for persistence.
    pub fn latched(&self) -> Latched {
        Latched {
            tier: self.tier,
            futures_tier: self.futures.current(),
            cross_tier: self.cross.current(),
            cut_expires: self.cut_expires,
            cooldown_until: self.cooldown_until,
        }
    }

    /// Puts back a latched margin state (after a restart, or when a decision could not be
    /// persisted): the next observation compares against these tiers, with their hysteresis.
    pub fn restore_latched(&mut self, latched: Latched) {
        self.tier = latched.tier;
        self.futures = tracker_at(latched.futures_tier, &self.params);
        self.cross = tracker_at(latched.cross_tier, &self.cross_params);
        self.cut_expires = latched.cut_expires;
        self.cooldown_until = latched.cooldown_until;
    }

    /// Replays persisted equity samples (oldest first) so the peak, the halt latch and a drawdown
    /// breach survive a restart. Returns HALT_ENTRIES when the replayed history leaves entries
    /// halted, then CLOSE_ALL when it leaves a breach in progress under `close_all` (idempotent:
    /// it closes whatever an executor that missed the first one still holds). A REDUCE is not
    /// issued again: a second cut would compound the first.
    pub fn seed_equity(
        &mut self,
        samples: impl IntoIterator<Item = (DateTime<Utc>, Decimal)>,
    ) -> Vec<NewDirective> {
        for (at, equity) in samples {
            // out-of-order rows (same timestamp ties are fine) are skipped, not fatal
            if let Ok(status) = self.drawdown.observe(at, equity, &self.params) {
                self.note_month_max(at, status.drawdown);
                fff_runtime::metrics::gauge_set(
                    "fff_risk_drawdown",
                    "Drawdown from the window's equity peak, fraction (halts entries at 0.04, de-risks at 0.05).",
                    &[],
                    rust_decimal::prelude::ToPrimitive::to_f64(&status.drawdown)
                        .unwrap_or(f64::NAN),
                );
                self.drawdown_status = Some(status);
            }
        }
        let Some(status) = self.drawdown_status.as_ref() else {
            return Vec::new();
        };
        let drawdown = status.drawdown;
        let mut out = Vec::new();
        if status.entries_halted {
            out.push(self.halt_directive(drawdown, "restored from equity history"));
        }
        if self.drawdown.limit_latched()
            && self.params.drawdown_limit_action == DrawdownLimitAction::CloseAll
        {
            out.extend(self.limit_cut(drawdown, "restored from equity history"));
        }
        out
    }

    /// Applies one account snapshot; returns the directives it calls for.
    pub fn observe_account(
        &mut self,
        metrics: AccountMetrics,
        now: DateTime<Utc>,
    ) -> Vec<NewDirective> {
        export_metrics(&metrics, self.utilization(&metrics, None).as_ref());
        let futures_tier = match metrics.futures_coverage {
            Some(coverage) => {
                self.futures.observe(coverage, &self.params);
                self.futures.current()
            }
            None => {
                // no positions: nothing to protect; the next position starts a fresh history
                self.futures = TierTracker::new();
                Some(MarginTier::Green)
            }
        };
        let cross_tier = match metrics.cross_margin_level {
            Some(level) => {
                self.cross.observe(level, &self.cross_params);
                self.cross.current()
            }
            None => {
                self.cross = TierTracker::new();
                Some(MarginTier::Green)
            }
        };
        let tier = futures_tier.max(cross_tier).unwrap_or(MarginTier::Green);
        let previous = self.tier.replace(tier);
        self.metrics = Some(metrics);

        let mut out = Vec::new();
        match previous {
            Some(before) if tier > before => out.extend(self.cut_for(tier, now, "entered")),
            None if tier > MarginTier::Green => out.extend(self.cut_for(tier, now, "entered")),
            Some(before) if tier < before => {
                self.cut_expires = None;
                let was_halting = before >= MarginTier::Orange;
                if was_halting
                    && tier < MarginTier::Orange
                    && !self.drawdown_halted()
                    && !self.cooling_down(now)
                {
                    out.push(
                        self.resume_directive(format!(
                            "margin recovered to {}",
                            self.describe(tier)
                        )),
                    );
                }
            }
            _ => {
                let expired = self.cut_expires.is_some_and(|at| at <= now);
                if tier > MarginTier::Green && expired {
                    out.extend(self.cut_for(tier, now, "still"));
                }
            }
        }
        if let Some(until) = self.cooldown_until.filter(|at| *at <= now) {
            self.cooldown_until = None;
            // at or above Orange the tier's own recovery RESUMEs later
            if tier < MarginTier::Orange && !self.drawdown_halted() {
                out.push(self.resume_directive(format!(
                    "close-all cool-down ended at {} ({}s) with the margin at {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    self.params.close_all_cooldown_secs,
                    self.describe(tier)
                )));
            }
        }
        out
    }

    /// A margin CLOSE_ALL's entry halt is still running at `now`.
    pub fn cooling_down(&self, now: DateTime<Utc>) -> bool {
        self.cooldown_until.is_some_and(|until| until > now)
    }

    /// Feeds one persisted equity snapshot to the drawdown latch.
    pub fn observe_equity(&mut self, at: DateTime<Utc>, equity: Decimal) -> Vec<NewDirective> {
        let status = match self.drawdown.observe(at, equity, &self.params) {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(%error, "equity sample ignored");
                return Vec::new();
            }
        };
        self.note_month_max(at, status.drawdown);
        let event = status.event;
        let drawdown = status.drawdown;
        fff_runtime::metrics::gauge_set(
            "fff_risk_drawdown",
            "Drawdown from the window's equity peak, fraction (halts entries at 0.04, de-risks at 0.05).",
            &[],
            rust_decimal::prelude::ToPrimitive::to_f64(&status.drawdown).unwrap_or(f64::NAN),
        );
        self.drawdown_status = Some(status);
        let mut out = Vec::new();
        match event {
            Some(DrawdownEvent::Halted) => out.push(self.halt_directive(drawdown, "drawdown")),
            Some(DrawdownEvent::Resumed) if !self.margin_halted(at) => {
                out.push(self.resume_directive(format!(
                    "drawdown {drawdown} below resume threshold {}",
                    self.params.drawdown_resume_threshold
                )));
            }
            _ => {}
        }
        // once per breach: only the observation that began it de-risks
        if self.drawdown.limit_breach_began() {
            tracing::error!(
                %drawdown,
                limit = %self.params.max_monthly_drawdown,
                action = self.params.drawdown_limit_action.as_str(),
                "monthly drawdown limit reached"
            );
            out.extend(self.limit_cut(drawdown, "drawdown limit reached"));
        }
        out
    }

    /// The month's largest drawdown as computed by the database (covers pre-restart samples).
    pub fn set_month_max(&mut self, at: DateTime<Utc>, fraction: Decimal) {
        self.note_month_max(at, fraction);
    }

    pub fn drawdown_halted(&self) -> bool {
        self.drawdown.entries_halted()
    }

    /// EMERGENCY_DELEVERAGE and CLOSE_ALL halt entries until margin recovers, and a CLOSE_ALL's
    /// cool-down after that.
    pub fn margin_halted(&self, now: DateTime<Utc>) -> bool {
        self.tier.is_some_and(|t| t >= MarginTier::Orange) || self.cooling_down(now)
    }

    /// Current metrics and tiers for GetRiskState and approvals.
    pub fn view(&self, now: DateTime<Utc>) -> RiskView {
        let status = self.drawdown_status.as_ref();
        let usage = self
            .metrics
            .as_ref()
            .and_then(|m| self.utilization(m, None));
        let equity_positive = self
            .metrics
            .as_ref()
            .is_some_and(|m| m.total_equity > Decimal::ZERO);
        let mut reasons = Vec::new();
        if self.tier.is_some_and(|t| t >= MarginTier::Orange) {
            reasons.push(format!(
                "margin tier {}",
                self.describe(self.tier.unwrap_or(MarginTier::Red))
            ));
        }
        if let Some(until) = self.cooldown_until.filter(|_| self.cooling_down(now)) {
            reasons.push(format!(
                "close-all cool-down until {} (risk.close_all_cooldown_secs)",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        let breached = self.drawdown.limit_latched();
        if let Some(status) = status.filter(|s| s.entries_halted) {
            reasons.push(if breached {
                format!(
                    "drawdown limit {} reached (drawdown {}, action {}); resumes below {}",
                    self.params.max_monthly_drawdown,
                    status.drawdown,
                    self.params.drawdown_limit_action.as_str(),
                    self.params.drawdown_resume_threshold
                )
            } else {
                format!(
                    "drawdown {} reached halt threshold {}",
                    status.drawdown, self.params.drawdown_halt_threshold
                )
            });
        }
        RiskView {
            metrics: self.metrics.clone(),
            futures_tier: self.metrics.as_ref().map(|m| match m.futures_coverage {
                Some(_) => self.futures.current().unwrap_or(MarginTier::Green),
                None => MarginTier::Green,
            }),
            cross_tier: self.metrics.as_ref().map(|m| match m.cross_margin_level {
                Some(_) => self.cross.current().unwrap_or(MarginTier::Green),
                None => MarginTier::Green,
            }),
            tier: self.tier,
            peak_equity: status.map(|s| s.peak),
            drawdown: status.map(|s| s.drawdown),
            drawdown_month_max: self
                .month_max
                .filter(|(y, m, _)| (*y, *m) == (now.year(), now.month()))
                .map(|(_, _, max)| max),
            drawdown_limit: self.params.max_monthly_drawdown,
            drawdown_limit_breached: breached,
            drawdown_limit_action: self.params.drawdown_limit_action,
            drawdown_reduce_fraction: self.params.drawdown_reduce_fraction,
            utilization: usage.filter(|_| equity_positive).map(|u| u.ratio),
            utilization_limit: self.model.params().target_utilization,
            capital: usage.map(|u| u.capital),
            margin_level_target: self.model.margin_level_target(),
            entries_halted: !reasons.is_empty(),
            halt_reason: reasons.join("; "),
        }
    }

    /// Capital the held hedges tie up (both sides, fff-core's [`CapitalModel`]) plus `entry`, a
    /// hedge `(direction, per-leg notional)` under consideration, against the account's equity
    /// (`ratio` is 0 for non-positive equity). `None` only on arithmetic overflow.
    pub fn utilization(
        &self,
        metrics: &AccountMetrics,
        entry: Option<(Direction, Decimal)>,
    ) -> Option<Utilization> {
        self.model
            .utilization(
                metrics.total_equity,
                metrics.hedges.iter().copied().chain(entry),
            )
            .ok()
    }

    pub fn capital(&self) -> &CapitalParams {
        self.model.params()
    }

    fn cut_for(
        &mut self,
        tier: MarginTier,
        now: DateTime<Utc>,
        verb: &str,
    ) -> Option<NewDirective> {
        let (kind, fraction) = match directive_for(tier, &self.params) {
            MarginDirective::Normal => return None,
            MarginDirective::Reduce { fraction } => (DirectiveKind::Reduce, Some(fraction)),
            MarginDirective::Deleverage { fraction } => {
                (DirectiveKind::EmergencyDeleverage, Some(fraction))
            }
            MarginDirective::CloseAll => {
                let cooldown = i64::try_from(self.params.close_all_cooldown_secs)
                    .ok()
                    .and_then(Duration::try_seconds)
                    .and_then(|d| now.checked_add_signed(d));
                if self.params.close_all_cooldown_secs > 0 {
                    // unrepresentable (absurdly long): halted until an operator lowers it
                    self.cooldown_until = Some(cooldown.unwrap_or(DateTime::<Utc>::MAX_UTC));
                }
                (DirectiveKind::CloseAll, None)
            }
        };
        let expires_at = now.checked_add_signed(self.directive_ttl);
        self.cut_expires = expires_at;
        Some(NewDirective {
            kind,
            reduce_fraction: fraction,
            reason: format!("{verb} {}", self.describe(tier)),
            tier,
            expires_at,
            drawdown_limit: false,
        })
    }

    /// The de-risk `drawdown_limit_action` calls for at the drawdown limit; `None` for
    /// `halt_only`. No expiry: it stands until the RESUME that ends the breach, and the margin
    /// cuts' re-issue timer (`cut_expires`) is left alone.
    fn limit_cut(&self, drawdown: Decimal, why: &str) -> Option<NewDirective> {
        let (kind, fraction) = match limit_directive(&self.params) {
            MarginDirective::Normal => return None,
            MarginDirective::Reduce { fraction } => (DirectiveKind::Reduce, Some(fraction)),
            MarginDirective::Deleverage { fraction } => {
                (DirectiveKind::EmergencyDeleverage, Some(fraction))
            }
            MarginDirective::CloseAll => (DirectiveKind::CloseAll, None),
        };
        Some(NewDirective {
            kind,
            reduce_fraction: fraction,
            reason: format!(
                "{why}: drawdown {drawdown} >= limit {} (drawdown_limit_action {}; resumes below {})",
                self.params.max_monthly_drawdown,
                self.params.drawdown_limit_action.as_str(),
                self.params.drawdown_resume_threshold
            ),
            tier: self.tier.unwrap_or(MarginTier::Green),
            expires_at: None,
            drawdown_limit: true,
        })
    }

    fn halt_directive(&self, drawdown: Decimal, why: &str) -> NewDirective {
        NewDirective {
            kind: DirectiveKind::HaltEntries,
            reduce_fraction: None,
            reason: format!(
                "{why}: drawdown {drawdown} >= halt threshold {} (limit {})",
                self.params.drawdown_halt_threshold, self.params.max_monthly_drawdown
            ),
            tier: self.tier.unwrap_or(MarginTier::Green),
            expires_at: None,
            drawdown_limit: false,
        }
    }

    fn resume_directive(&self, reason: String) -> NewDirective {
        NewDirective {
            kind: DirectiveKind::Resume,
            reduce_fraction: None,
            reason,
            tier: self.tier.unwrap_or(MarginTier::Green),
            expires_at: None,
            drawdown_limit: false,
        }
    }

    /// "orange tier (futures coverage 2.5, cross-margin level none)".
    fn describe(&self, tier: MarginTier) -> String {
        let show =
            |v: Option<Decimal>| v.map_or_else(|| "none".to_owned(), |v| v.round_dp(4).to_string());
        let (coverage, level) = self
            .metrics
            .as_ref()
            .map_or((None, None), |m| (m.futures_coverage, m.cross_margin_level));
        format!(
            "{} tier (futures coverage {}, cross-margin level {})",
            format!("{tier:?}").to_lowercase(),
            show(coverage),
            show(level)
        )
    }

    fn note_month_max(&mut self, at: DateTime<Utc>, drawdown: Decimal) {
        let key = (at.year(), at.month());
        self.month_max = match self.month_max {
            Some((y, m, max)) if (y, m) == key => Some((y, m, max.max(drawdown))),
            Some((y, m, _)) if (y, m) > key => self.month_max,
            _ => Some((key.0, key.1, drawdown)),
        };
    }
}

/// A tracker whose current tier is `tier`: fed the ratio at the tier's upper boundary
/// (boundaries belong to the more severe tier), which a fresh tracker takes as it is.
fn tracker_at(tier: Option<MarginTier>, params: &RiskParams) -> TierTracker {
    let mut tracker = TierTracker::new();
    let ratio = match tier {
        None => return tracker,
        Some(MarginTier::Green) => params.green_above.saturating_add(Decimal::ONE),
        Some(MarginTier::Yellow) => params.green_above,
        Some(MarginTier::Orange) => params.reduce_above,
        Some(MarginTier::Red) => params.deleverage_above,
    };
    tracker.observe(ratio, params);
    tracker
}

/// The account figures as Prometheus gauges (statistics: f64 is fine here).
fn export_metrics(metrics: &AccountMetrics, usage: Option<&Utilization>) {
    use fff_runtime::metrics::gauge_set;
    use rust_decimal::prelude::ToPrimitive;
    let f = |d: Decimal| d.to_f64().unwrap_or(f64::NAN);
    gauge_set(
        "fff_risk_futures_margin_ratio",
        "Binance futures margin ratio (maintenance / margin balance; lower is safer).",
        &[],
        f(metrics.futures_margin_ratio),
    );
    gauge_set(
        "fff_risk_cross_margin_level",
        "Cross-margin level (total asset / total liability); 0 without liability.",
        &[],
        metrics.cross_margin_level.map_or(0.0, f),
    );
    gauge_set(
        "fff_risk_total_equity_usdt",
        "Total equity across wallets, net of liabilities.",
        &[],
        f(metrics.total_equity),
    );
    gauge_set(
        "fff_risk_deployed_notional_usdt",
        "Sum of |perp notional| at mark.",
        &[],
        f(metrics.deployed_notional),
    );
    let wallets = metrics.wallets();
    for (wallet, value) in [
        ("spot_margin", wallets.spot_side),
        ("futures", wallets.futures),
    ] {
        gauge_set(
            "fff_risk_wallet_equity_usdt",
            "Equity per wallet side: spot_margin = spot + cross-margin net assets, futures = \
             futures margin balance.",
            &[("wallet", wallet)],
            f(value),
        );
    }
    if let Some(usage) = usage {
        gauge_set(
            "fff_risk_utilization",
            "Capital in use (spot-leg cash + margin collateral + perp margin) / equity; 0 for \
             non-positive equity.",
            &[],
            f(usage.ratio),
        );
        for (wallet, value) in [
            ("spot_margin", usage.capital.spot_side),
            ("futures", usage.capital.perp_margin),
        ] {
            gauge_set(
                "fff_risk_capital_in_use_usdt",
                "Capital the open hedges tie up per wallet side: spot_margin = spot-leg cash + \
                 margin collateral, futures = perp margin with the buffer.",
                &[("wallet", wallet)],
                f(value),
            );
        }
    }
    gauge_set(
        "fff_open_positions",
        "Symbols with an open perp position.",
        &[],
        metrics.open_symbols.len() as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn metrics(coverage: Option<Decimal>, level: Option<Decimal>) -> AccountMetrics {
        AccountMetrics {
            as_of: Utc::now(),
            total_equity: dec!(100000),
            spot_equity: dec!(50000),
            margin_equity: dec!(25000),
            futures_equity: dec!(25000),
            futures_margin_ratio: Decimal::ZERO,
            futures_coverage: coverage,
            cross_margin_level: level,
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
            Duration::seconds(300),
        )
        .unwrap()
    }

    fn kinds(out: &[NewDirective]) -> Vec<DirectiveKind> {
        out.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn each_worse_tier_issues_its_cut_and_recovery_resumes() {
        let mut m = monitor();
        let t = Utc::now();
        assert!(
            m.observe_account(metrics(Some(dec!(6)), None), t)
                .is_empty()
        );
        let out = m.observe_account(metrics(Some(dec!(4)), None), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::Reduce]);
        assert_eq!(out[0].reduce_fraction, Some(dec!(0.25)));
        let out = m.observe_account(metrics(Some(dec!(2.5)), None), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::EmergencyDeleverage]);
        assert_eq!(out[0].reduce_fraction, Some(dec!(0.50)));
        assert!(out[0].reason.contains("2.5"), "{}", out[0].reason);
        assert!(m.view(t).entries_halted);
        let out = m.observe_account(metrics(Some(dec!(1.5)), None), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::CloseAll]);
        // positions closed: no coverage, green; entries wait for the close-all's cool-down
        let out = m.observe_account(metrics(None, None), t);
        assert!(out.is_empty(), "{out:?}");
        let view = m.view(t);
        assert!(view.entries_halted);
        assert!(
            view.halt_reason.contains("close-all cool-down"),
            "{}",
            view.halt_reason
        );
        let end = t + Duration::seconds(3600);
        assert!(
            m.observe_account(metrics(None, None), end - Duration::seconds(1))
                .is_empty()
        );
        let out = m.observe_account(metrics(None, None), end);
        assert_eq!(kinds(&out), vec![DirectiveKind::Resume]);
        assert!(
            out[0].reason.contains("cool-down ended"),
            "{}",
            out[0].reason
        );
        assert!(!m.view(end).entries_halted);
        assert!(m.observe_account(metrics(None, None), end).is_empty());
    }

    #[test]
    fn a_close_all_cool_down_outlasts_a_recovery_and_survives_a_restart() {
        let t = Utc::now();
        let mut m = monitor();
        m.observe_account(metrics(Some(dec!(6)), None), t);
        let out = m.observe_account(metrics(Some(dec!(1.5)), None), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::CloseAll]);
        let latched = m.latched();
        assert_eq!(latched.cooldown_until, Some(t + Duration::seconds(3600)));
        // a restarted monitor keeps the halt: a recovery within the cool-down resumes nothing
        let mut restarted = monitor();
        restarted.restore_latched(latched);
        let later = t + Duration::minutes(10);
        assert!(
            restarted
                .observe_account(metrics(Some(dec!(8)), None), later)
                .is_empty()
        );
        assert!(restarted.view(later).entries_halted);
        // a drawdown release inside the cool-down does not resume either
        assert!(
            !restarted
                .observe_equity(later, dec!(100000))
                .iter()
                .any(|d| d.kind == DirectiveKind::Resume)
        );
        // still Orange when it ends: nothing then, the tier's own recovery RESUMEs
        let mut orange = monitor();
        orange.restore_latched(latched);
        let end = t + Duration::seconds(3600);
        let out = orange.observe_account(metrics(Some(dec!(2.5)), None), end);
        assert!(
            !out.iter().any(|d| d.kind == DirectiveKind::Resume),
            "{out:?}"
        );
        let out = orange.observe_account(metrics(Some(dec!(3.5)), None), end);
        assert_eq!(kinds(&out), vec![DirectiveKind::Resume]);
        // 0 turns the cool-down off: out of Red resumes at once
        let mut off = RiskMonitor::new(
            RiskParams {
                close_all_cooldown_secs: 0,
                ..RiskParams::default()
            },
            CapitalParams::default(),
            Duration::seconds(300),
        )
        .unwrap();
        off.observe_account(metrics(Some(dec!(1.5)), None), t);
        assert_eq!(off.latched().cooldown_until, None);
        let out = off.observe_account(metrics(None, None), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::Resume]);
    }

    #[test]
    fn oscillation_around_a_boundary_does_not_flap() {
        let mut m = monitor();
        let t = Utc::now();
        let mut issued = Vec::new();
        for ratio in [
            dec!(3.1),
            dec!(2.95),
            dec!(3.05),
            dec!(2.99),
            dec!(3.2),
            dec!(2.98),
        ] {
            issued.extend(kinds(&m.observe_account(metrics(Some(ratio), None), t)));
        }
        // Yellow first, Orange once; wobbling within 0.25 of 3.0 never recovers to Yellow
        assert_eq!(
            issued,
            vec![DirectiveKind::Reduce, DirectiveKind::EmergencyDeleverage]
        );
        // clearing the band does: resume once
        let out = m.observe_account(metrics(Some(dec!(3.3)), None), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::Resume]);
    }

    #[test]
    fn cross_margin_level_alone_can_drive_the_tier() {
        let mut m = monitor();
        let t = Utc::now();
        let out = m.observe_account(metrics(Some(dec!(10)), Some(dec!(1.4))), t);
        assert_eq!(kinds(&out), vec![DirectiveKind::EmergencyDeleverage]);
        let view = m.view(t);
        assert_eq!(view.futures_tier, Some(MarginTier::Green));
        assert_eq!(view.cross_tier, Some(MarginTier::Orange));
    }

    #[test]
    fn an_expired_cut_is_reissued_while_the_tier_persists() {
        let mut m = monitor();
        let t = Utc::now();
        m.observe_account(metrics(Some(dec!(2.5)), None), t);
        let soon = t + Duration::seconds(10);
        assert!(
            m.observe_account(metrics(Some(dec!(2.5)), None), soon)
                .is_empty()
        );
        let late = t + Duration::seconds(301);
        let out = m.observe_account(metrics(Some(dec!(2.5)), None), late);
        assert_eq!(kinds(&out), vec![DirectiveKind::EmergencyDeleverage]);
        assert!(out[0].reason.starts_with("still"));
    }

    #[test]
    fn drawdown_halts_and_resumes_and_survives_a_restart() {
        let t = Utc::now();
        let mut m = monitor();
        assert!(m.observe_equity(t, dec!(100000)).is_empty());
        let out = m.observe_equity(t + Duration::minutes(1), dec!(95900));
        assert_eq!(kinds(&out), vec![DirectiveKind::HaltEntries]);
        assert!(m.view(t).entries_halted);
        // a restarted monitor seeded with the same samples is halted too
        let mut restarted = monitor();
        let seeded =
            restarted.seed_equity([(t, dec!(100000)), (t + Duration::minutes(1), dec!(95900))]);
        assert_eq!(kinds(&seeded), vec![DirectiveKind::HaltEntries]);
        let view = restarted.view(t + Duration::minutes(1));
        assert_eq!(view.peak_equity, Some(dec!(100000)));
        assert_eq!(view.drawdown_month_max, Some(dec!(0.041)));
        let out = restarted.observe_equity(t + Duration::minutes(2), dec!(97100));
        assert_eq!(kinds(&out), vec![DirectiveKind::Resume]);
    }

    fn monitor_with(action: DrawdownLimitAction) -> RiskMonitor {
        RiskMonitor::new(
            RiskParams {
                drawdown_limit_action: action,
                ..RiskParams::default()
            },
            CapitalParams::default(),
            Duration::seconds(300),
        )
        .unwrap()
    }

    /// Feeds equity samples a minute apart; returns the kinds issued per sample.
    fn feed(m: &mut RiskMonitor, t: DateTime<Utc>, equity: &[Decimal]) -> Vec<Vec<DirectiveKind>> {
        equity
            .iter()
            .zip(0..)
            .map(|(e, i)| kinds(&m.observe_equity(t + Duration::minutes(i), *e)))
            .collect()
    }

    #[test]
    fn reaching_the_drawdown_limit_closes_everything_once_per_breach() {
        let t = Utc::now();
        let mut m = monitor();
        // 0, 4.1 % (halt), 5 % (limit), 6 %, 4.9 %, 5.2 %: one CLOSE_ALL, not one per sample
        let issued = feed(
            &mut m,
            t,
            &[
                dec!(100000),
                dec!(95900),
                dec!(95000),
                dec!(94000),
                dec!(95100),
                dec!(94800),
            ],
        );
        use DirectiveKind::{CloseAll, HaltEntries, Resume};
        assert_eq!(
            issued,
            vec![
                vec![],
                vec![HaltEntries],
                vec![CloseAll],
                vec![],
                vec![],
                vec![]
            ]
        );
        let view = m.view(t);
        assert!(view.drawdown_limit_breached && view.entries_halted);
        assert!(
            view.halt_reason.contains("drawdown limit 0.05 reached"),
            "{}",
            view.halt_reason
        );
        // the directive says why, stands until RESUME (no expiry) and is marked as the breach's
        let out = m.observe_equity(t + Duration::minutes(9), dec!(94000));
        assert!(out.is_empty());
        let mut again = monitor();
        let out = again.observe_equity(t, dec!(100000));
        assert!(out.is_empty());
        // straight past both thresholds: the halt first, then the cut
        let out = again.observe_equity(t + Duration::minutes(1), dec!(93000));
        assert_eq!(kinds(&out), vec![HaltEntries, CloseAll]);
        let cut = &out[1];
        assert!(cut.drawdown_limit && cut.expires_at.is_none());
        assert!(cut.reason.contains("limit 0.05"), "{}", cut.reason);
        assert!(cut.reason.contains("close_all"), "{}", cut.reason);

        // recovery below 3 % ends the breach and resumes; a new 5 % drawdown is a new breach
        let issued = feed(
            &mut m,
            t + Duration::minutes(10),
            &[dec!(97100), dec!(96000), dec!(95000)],
        );
        assert_eq!(
            issued,
            vec![vec![Resume], vec![HaltEntries], vec![CloseAll]]
        );
    }

    #[test]
    fn the_drawdown_limit_action_picks_the_cut() {
        let t = Utc::now();
        let mut reduce = monitor_with(DrawdownLimitAction::Reduce);
        reduce.observe_equity(t, dec!(100000));
        let out = reduce.observe_equity(t + Duration::minutes(1), dec!(94000));
        assert_eq!(
            kinds(&out),
            vec![DirectiveKind::HaltEntries, DirectiveKind::Reduce]
        );
        assert_eq!(out[1].reduce_fraction, Some(dec!(0.50)));
        assert!(
            reduce
                .observe_equity(t + Duration::minutes(2), dec!(93000))
                .is_empty()
        );

        let mut halt_only = monitor_with(DrawdownLimitAction::HaltOnly);
        halt_only.observe_equity(t, dec!(100000));
        let out = halt_only.observe_equity(t + Duration::minutes(1), dec!(94000));
        assert_eq!(kinds(&out), vec![DirectiveKind::HaltEntries]);
        let view = halt_only.view(t);
        assert!(view.drawdown_limit_breached && view.entries_halted);
    }

    #[test]
    fn a_restart_in_a_breach_restores_the_halt_and_repeats_only_a_close_all() {
        let t = Utc::now();
        let history = [(t, dec!(100000)), (t + Duration::minutes(1), dec!(94000))];
        let mut close_all = monitor();
        assert_eq!(
            kinds(&close_all.seed_equity(history)),
            vec![DirectiveKind::HaltEntries, DirectiveKind::CloseAll]
        );
        assert!(close_all.view(t).drawdown_limit_breached);
        // the breach continues: no further cut on the next sample
        assert!(
            close_all
                .observe_equity(t + Duration::minutes(2), dec!(94000))
                .is_empty()
        );
        // a reduction is not repeated (it would compound)
        let mut reduce = monitor_with(DrawdownLimitAction::Reduce);
        assert_eq!(
            kinds(&reduce.seed_equity(history)),
            vec![DirectiveKind::HaltEntries]
        );
        // a breach that ended before the restart is not restored
        let mut recovered = monitor();
        let seeded = recovered.seed_equity([
            (t, dec!(100000)),
            (t + Duration::minutes(1), dec!(94000)),
            (t + Duration::minutes(2), dec!(99000)),
        ]);
        assert!(seeded.is_empty());
        assert!(!recovered.view(t).drawdown_limit_breached);
    }

    #[test]
    fn utilization_is_both_legs_capital_over_equity() {
        let mut m = monitor();
        let t = Utc::now();
        assert_eq!(m.view(t).utilization, None);
        assert_eq!(m.view(t).capital, None);
        m.observe_account(metrics(Some(dec!(10)), None), t);
        // positive carry 50 000: spot cash 50 000 + perp margin 50 000 x 1.15 / 5 = 11 500
        let view = m.view(t);
        assert_eq!(view.utilization, Some(dec!(0.615)));
        let capital = view.capital.unwrap();
        assert_eq!(capital.spot_side, dec!(50000));
        assert_eq!(capital.perp_margin, dec!(11500));
        assert_eq!(view.margin_level_target, dec!(2.15));
    }

    #[test]
    fn negative_carry_counts_collateral_not_the_sale_proceeds() {
        let mut m = monitor();
        let t = Utc::now();
        let mut account = metrics(Some(dec!(10)), Some(dec!(2.2)));
        account.hedges = vec![
            (Direction::PositiveCarry, dec!(20000)),
            (Direction::NegativeCarry, dec!(10000)),
        ];
        account.deployed_notional = dec!(30000);
        m.observe_account(account, t);
        let view = m.view(t);
        // spot: 20 000 cash + 10 000 x (2.15 - 1) collateral; perp: 30 000 x 1.15 / 5
        let capital = view.capital.unwrap();
        assert_eq!(capital.spot_side, dec!(31500));
        assert_eq!(capital.perp_margin, dec!(6900));
        assert_eq!(view.utilization, Some(dec!(0.384)));
        // an entry is priced by its own direction
        let metrics = m.metrics().unwrap().clone();
        let long = m
            .utilization(&metrics, Some((Direction::PositiveCarry, dec!(10000))))
            .unwrap();
        let short = m
            .utilization(&metrics, Some((Direction::NegativeCarry, dec!(10000))))
            .unwrap();
        assert_eq!(long.ratio, dec!(0.507));
        assert_eq!(short.ratio, dec!(0.522));
    }

    #[test]
    fn non_positive_equity_has_capital_but_no_utilization() {
        let mut m = monitor();
        let t = Utc::now();
        let mut account = metrics(Some(dec!(10)), None);
        account.total_equity = Decimal::ZERO;
        m.observe_account(account, t);
        let view = m.view(t);
        assert_eq!(view.utilization, None);
        assert_eq!(view.capital.map(|c| c.total()), Some(dec!(61500)));
    }

    #[test]
    fn a_restored_latched_state_keeps_the_tiers_and_their_hysteresis() {
        let t = Utc::now();
        for tier in [
            MarginTier::Green,
            MarginTier::Yellow,
            MarginTier::Orange,
            MarginTier::Red,
        ] {
            let latched = Latched {
                tier: Some(tier),
                futures_tier: Some(tier),
                cross_tier: Some(tier),
                cut_expires: Some(t),
                cooldown_until: Some(t + Duration::hours(1)),
            };
            let mut m = monitor();
            m.restore_latched(latched);
            assert_eq!(m.latched(), latched);
        }
        let mut m = monitor();
        m.restore_latched(Latched::default());
        assert_eq!(m.latched(), Latched::default());
        // restored Orange, coverage 3.2 is within the hysteresis above 3: no change, no cut
        let mut m = monitor();
        m.restore_latched(Latched {
            tier: Some(MarginTier::Orange),
            futures_tier: Some(MarginTier::Orange),
            cross_tier: None,
            cut_expires: Some(t + Duration::seconds(60)),
            cooldown_until: None,
        });
        assert!(
            m.observe_account(metrics(Some(dec!(3.2)), None), t)
                .is_empty()
        );
        assert_eq!(m.tier(), Some(MarginTier::Orange));
    }
}

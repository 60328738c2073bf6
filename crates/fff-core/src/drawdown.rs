//! Monthly drawdown: halt new entries before the limit, de-risk at the limit, resume once
//! recovered.
//!
//! Three thresholds, one latch each way:
//!
//! | drawdown | effect |
//! |---|---|
//! | reaches `drawdown_halt_threshold` (4 %) | new entries halt ([`DrawdownEvent::Halted`]) |
//! | reaches `max_monthly_drawdown` (5 %) | a **breach** begins: de-risk once by `drawdown_limit_action` ([`limit_directive`]) |
//! | falls below `drawdown_resume_threshold` (3 %) | entries resume and the breach ends ([`DrawdownEvent::Resumed`]) |
//!
//! A breach is latched like the halt ([`DrawdownTracker::limit_latched`]): it begins on the first
//! observation at or above the limit and ends only when the halt releases, so a drawdown
//! hovering around the limit de-risks once, not on every sample
//! ([`DrawdownTracker::limit_breach_began`] is true on exactly that first observation).
//!
//! The window is **rolling** (`drawdown_window_days`, 30 by default), not the calendar month:
//! a calendar reset would let a halted system resume on the 1st with no recovery at all.
//! Drawdown = `(peak - equity) / peak`, where peak is the highest equity sampled within the
//! window ending at the latest sample (that sample included). Feed equity net of deposits and
//! withdrawals, or transfers will read as profit or loss.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::margin::MarginDirective;
use crate::params::RiskParams;

/// What reaching `max_monthly_drawdown` does besides halting entries
/// (`risk.drawdown_limit_action`).
///
/// The default is [`DrawdownLimitAction::CloseAll`]: a delta-neutral book should not lose 5 % of
/// its peak in a month through carry alone, so reaching the limit means something is broken
/// (a hedge leg lost, a funding regime the scores did not see, venue trouble). Closing
/// everything caps the loss near the limit plus one round of exit costs; a partial cut leaves
/// the broken part running with no further automatic stop until the drawdown recovers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawdownLimitAction {
    /// Close every hedge (CLOSE_ALL).
    #[default]
    CloseAll,
    /// Cut every hedge by `risk.drawdown_reduce_fraction`, both legs (REDUCE).
    Reduce,
    /// Only halt entries (the behaviour before this setting existed).
    HaltOnly,
}

impl DrawdownLimitAction {
    /// The configuration spelling (`close_all`, `reduce`, `halt_only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloseAll => "close_all",
            Self::Reduce => "reduce",
            Self::HaltOnly => "halt_only",
        }
    }
}

/// The directive a breach of `max_monthly_drawdown` calls for, by `drawdown_limit_action`:
/// [`MarginDirective::CloseAll`], [`MarginDirective::Reduce`] by `drawdown_reduce_fraction`, or
/// [`MarginDirective::Normal`] for `halt_only` (entries are halted by the latch either way:
/// `drawdown_halt_threshold <= max_monthly_drawdown`).
pub fn limit_directive(params: &RiskParams) -> MarginDirective {
    match params.drawdown_limit_action {
        DrawdownLimitAction::CloseAll => MarginDirective::CloseAll,
        DrawdownLimitAction::Reduce => MarginDirective::Reduce {
            fraction: params.drawdown_reduce_fraction,
        },
        DrawdownLimitAction::HaltOnly => MarginDirective::Normal,
    }
}

/// State after one observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrawdownStatus {
    /// Peak equity in the window.
    pub peak: Decimal,
    /// Current drawdown from that peak, in `[0, 1]` for positive peaks.
    pub drawdown: Decimal,
    /// New entries halted (set at `drawdown_halt_threshold`, cleared below
    /// `drawdown_resume_threshold`).
    pub entries_halted: bool,
    /// Drawdown reached `max_monthly_drawdown`.
    pub limit_breached: bool,
    /// The halt state changed on this observation.
    pub event: Option<DrawdownEvent>,
}

/// A change of the halt state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DrawdownEvent {
    /// New entries halted.
    Halted,
    /// New entries allowed again.
    Resumed,
}

/// Rolling-window drawdown tracker with a halt/resume latch.
///
/// Keeps a monotonically decreasing deque of samples, so memory is bounded by the window and
/// the peak is read in O(1).
#[derive(Debug, Clone)]
pub struct DrawdownTracker {
    window: Duration,
    /// Candidate peaks, equity strictly decreasing front to back.
    peaks: VecDeque<(DateTime<Utc>, Decimal)>,
    last_at: Option<DateTime<Utc>>,
    halted: bool,
    /// The limit was reached and the halt has not released since (one breach).
    breached: bool,
    /// The last observation began a breach.
    breach_began: bool,
}

impl DrawdownTracker {
    /// A tracker with the window from `params`.
    pub fn new(params: &RiskParams) -> Self {
        Self {
            window: Duration::days(i64::from(params.drawdown_window_days)),
            peaks: VecDeque::new(),
            last_at: None,
            halted: false,
            breached: false,
            breach_began: false,
        }
    }

    /// Whether new entries are halted.
    pub fn entries_halted(&self) -> bool {
        self.halted
    }

    /// Whether a breach of `max_monthly_drawdown` is in progress: the limit was reached and the
    /// drawdown has not fallen below `drawdown_resume_threshold` since.
    pub fn limit_latched(&self) -> bool {
        self.breached
    }

    /// Whether the last [`observe`](Self::observe) began a breach: the one observation on which
    /// to de-risk ([`limit_directive`]). Samples rejected as out of order leave it unchanged.
    pub fn limit_breach_began(&self) -> bool {
        self.breach_began
    }

    /// Record equity at `at` (not earlier than the previous sample) and evaluate thresholds.
    pub fn observe(
        &mut self,
        at: DateTime<Utc>,
        equity: Decimal,
        params: &RiskParams,
    ) -> Result<DrawdownStatus> {
        if let Some(previous) = self.last_at
            && at < previous
        {
            return Err(Error::OutOfOrderSample { at, previous });
        }
        self.last_at = Some(at);
        while self.peaks.back().is_some_and(|(_, e)| *e <= equity) {
            self.peaks.pop_back();
        }
        self.peaks.push_back((at, equity));
        let horizon = at.checked_sub_signed(self.window);
        while let (Some((t, _)), Some(horizon)) = (self.peaks.front(), horizon) {
            if *t >= horizon {
                break;
            }
            self.peaks.pop_front();
        }
        // the latest sample is always in the deque, so it is never empty here
        let peak = self.peaks.front().map_or(equity, |(_, e)| *e);
        let drawdown = if peak > Decimal::ZERO {
            peak.saturating_sub(equity)
                .checked_div(peak)
                .unwrap_or(Decimal::ONE)
                .max(Decimal::ZERO)
        } else {
            Decimal::ZERO
        };
        let was_halted = self.halted;
        let was_breached = self.breached;
        let limit_breached = drawdown >= params.max_monthly_drawdown;
        if drawdown >= params.drawdown_halt_threshold {
            self.halted = true;
        } else if drawdown < params.drawdown_resume_threshold {
            self.halted = false;
        }
        // the breach ends with the halt (same hysteresis), never on a dip just below the limit
        if limit_breached {
            self.breached = true;
        } else if !self.halted {
            self.breached = false;
        }
        self.breach_began = self.breached && !was_breached;
        let event = match (was_halted, self.halted) {
            (false, true) => Some(DrawdownEvent::Halted),
            (true, false) => Some(DrawdownEvent::Resumed),
            _ => None,
        };
        Ok(DrawdownStatus {
            peak,
            drawdown,
            entries_halted: self.halted,
            limit_breached,
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn day(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(n)
    }

    #[test]
    fn halt_resume_and_limit_with_design_thresholds() {
        let p = RiskParams::default();
        let mut tracker = DrawdownTracker::new(&p);
        let s = tracker.observe(day(0), dec!(100_000), &p).unwrap();
        assert_eq!((s.drawdown, s.event), (Decimal::ZERO, None));
        // 3.5 %: below the 4 % halt
        let s = tracker.observe(day(1), dec!(96_500), &p).unwrap();
        assert!(!s.entries_halted);
        // 4 %: halt
        let s = tracker.observe(day(2), dec!(96_000), &p).unwrap();
        assert_eq!(s.event, Some(DrawdownEvent::Halted));
        // 3.5 % again: still halted (resume only below 3 %)
        let s = tracker.observe(day(3), dec!(96_500), &p).unwrap();
        assert!(s.entries_halted && s.event.is_none());
        // 5 %: hard limit
        let s = tracker.observe(day(4), dec!(95_000), &p).unwrap();
        assert!(s.limit_breached);
        // 2.9 %: resume
        let s = tracker.observe(day(5), dec!(97_100), &p).unwrap();
        assert_eq!(s.event, Some(DrawdownEvent::Resumed));
    }

    #[test]
    fn a_breach_begins_once_and_ends_with_the_halt() {
        let p = RiskParams::default();
        let mut tracker = DrawdownTracker::new(&p);
        let mut began = Vec::new();
        // 0, 4.5 %, 5 % (breach), 5.5 %, 4.9 %, 5.1 %, 3.5 %, 5 % again, 2.9 % (resume), 5 %
        for (i, equity) in [
            dec!(100_000),
            dec!(95_500),
            dec!(95_000),
            dec!(94_500),
            dec!(95_100),
            dec!(94_900),
            dec!(96_500),
            dec!(95_000),
            dec!(97_100),
            dec!(95_000),
        ]
        .into_iter()
        .enumerate()
        {
            let s = tracker.observe(day(i as i64), equity, &p).unwrap();
            // reaching the limit always halts entries too
            assert!(!tracker.limit_latched() || s.entries_halted);
            began.push(tracker.limit_breach_began());
        }
        // one breach from the 3rd sample until the resume at the 9th, a new one at the 10th
        assert_eq!(
            began,
            vec![
                false, false, true, false, false, false, false, false, false, true
            ]
        );
        // an out-of-order sample changes nothing
        assert!(tracker.observe(day(0), dec!(1), &p).is_err());
        assert!(tracker.limit_breach_began() && tracker.limit_latched());
    }

    #[test]
    fn the_limit_action_maps_to_a_directive() {
        let mut p = RiskParams::default();
        assert_eq!(p.drawdown_limit_action, DrawdownLimitAction::CloseAll);
        assert_eq!(limit_directive(&p), MarginDirective::CloseAll);
        p.drawdown_limit_action = DrawdownLimitAction::Reduce;
        assert_eq!(
            limit_directive(&p),
            MarginDirective::Reduce {
                fraction: dec!(0.50)
            }
        );
        p.drawdown_limit_action = DrawdownLimitAction::HaltOnly;
        assert_eq!(limit_directive(&p), MarginDirective::Normal);
        for action in [
            DrawdownLimitAction::CloseAll,
            DrawdownLimitAction::Reduce,
            DrawdownLimitAction::HaltOnly,
        ] {
            let text = format!("drawdown_limit_action = \"{}\"", action.as_str());
            let parsed: RiskParams = toml::from_str(&text).unwrap();
            assert_eq!(parsed.drawdown_limit_action, action);
        }
        assert!(toml::from_str::<RiskParams>("drawdown_limit_action = \"sell_all\"").is_err());
    }

    #[test]
    fn peak_rolls_out_of_the_window() {
        let p = RiskParams::default();
        let mut tracker = DrawdownTracker::new(&p);
        tracker.observe(day(0), dec!(100_000), &p).unwrap();
        tracker.observe(day(10), dec!(95_000), &p).unwrap();
        let s = tracker.observe(day(30), dec!(95_000), &p).unwrap();
        assert_eq!(s.peak, dec!(100_000)); // day 0 is exactly 30 days back: still inside
        let s = tracker.observe(day(31), dec!(95_000), &p).unwrap();
        assert_eq!(s.peak, dec!(95_000));
        assert_eq!(s.drawdown, Decimal::ZERO);
        assert!(tracker.observe(day(30), dec!(1), &p).is_err());
    }

    proptest! {
        #[test]
        fn peak_matches_brute_force(steps in proptest::collection::vec((0i64..5, 1i64..1_000_000), 1..60)) {
            let p = RiskParams { drawdown_window_days: 7, ..RiskParams::default() };
            let mut tracker = DrawdownTracker::new(&p);
            let mut history = Vec::new();
            let mut t = 0;
            for (gap, cents) in steps {
                t += gap;
                let equity = Decimal::new(cents, 2);
                history.push((day(t), equity));
                let s = tracker.observe(day(t), equity, &p).unwrap();
                let expected = history
                    .iter()
                    .filter(|(at, _)| *at >= day(t) - Duration::days(7))
                    .map(|(_, e)| *e)
                    .max()
                    .unwrap();
                prop_assert_eq!(s.peak, expected);
                prop_assert!(s.drawdown >= Decimal::ZERO && s.drawdown <= Decimal::ONE);
                // a breach is only ever latched while entries are halted
                prop_assert!(!tracker.limit_latched() || s.entries_halted);
                prop_assert!(!tracker.limit_breach_began() || s.limit_breached);
            }
        }
    }
}

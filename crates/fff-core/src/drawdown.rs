//! Monthly drawdown: halt new entries before the limit, resume once recovered.
//!
//! The window is **rolling** (`drawdown_window_days`, 30 by default), not the calendar month:
//! a calendar reset would let a halted system resume on the 1st with no recovery at all.
//! Drawdown = `(peak - equity) / peak`, where peak is the highest equity sampled within the
//! window ending at the latest sample (that sample included). Feed equity net of deposits and
//! withdrawals, or transfers will read as profit or loss.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::params::RiskParams;

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
}

impl DrawdownTracker {
    /// A tracker with the window from `params`.
    pub fn new(params: &RiskParams) -> Self {
        Self {
            window: Duration::days(i64::from(params.drawdown_window_days)),
            peaks: VecDeque::new(),
            last_at: None,
            halted: false,
        }
    }

    /// Whether new entries are halted.
    pub fn entries_halted(&self) -> bool {
        self.halted
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
        if drawdown >= params.drawdown_halt_threshold {
            self.halted = true;
        } else if drawdown < params.drawdown_resume_threshold {
            self.halted = false;
        }
        let event = match (was_halted, self.halted) {
            (false, true) => Some(DrawdownEvent::Halted),
            (true, false) => Some(DrawdownEvent::Resumed),
            _ => None,
        };
        Ok(DrawdownStatus {
            peak,
            drawdown,
            entries_halted: self.halted,
            limit_breached: drawdown >= params.max_monthly_drawdown,
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
            }
        }
    }
}

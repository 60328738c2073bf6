//! Funding history before the start: replayed rows, or deterministic noise around the
//! configured mean on the symbol's interval grid.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal_macros::dec;

use super::{Market, TAG_FUNDING, normal};
use crate::engine::market::{HOUR_MS, round_near};

impl Market {
    /// First settlement the running simulator makes; earlier rows are history.
    pub fn first_live_funding(&self) -> i64 {
        self.next_funding_after(self.history.start_ms)
    }

    /// Synthetic settled rate at `t` (before the start): MA(1) noise around the configured mean.
    pub(super) fn synthetic_rate(&self, t: i64, noise: Decimal) -> Decimal {
        let Some(p) = self.perp.as_ref() else {
            return Decimal::ZERO;
        };
        let k = t.div_euclid(self.interval_ms());
        let key = self.history.key();
        let z = (normal(key, TAG_FUNDING, k) + 0.5 * normal(key, TAG_FUNDING, k - 1)) / 1.118;
        let shock = Decimal::from_f64(z).unwrap_or_default();
        (p.funding_rate + noise * shock)
            .clamp(p.funding_floor, p.funding_cap)
            .round_dp(8)
    }

    /// Funding rate in force during the past instant `t` (for the perp premium): replayed when
    /// replaying, synthetic otherwise.
    pub(super) fn past_rate_at(&self, t: i64, noise: Decimal) -> Decimal {
        let settle = self.next_funding_after(t);
        self.replay_rate(settle)
            .unwrap_or_else(|| self.synthetic_rate(settle, noise))
    }

    /// Settled funding before the start, in `[lo, hi]`: replayed rows when replaying, synthetic
    /// otherwise. At most `limit` rows, the earliest ones when `ascending`, else the latest
    /// (still returned in ascending order).
    pub fn past_funding(
        &mut self,
        lo: i64,
        hi: i64,
        limit: usize,
        ascending: bool,
        noise: Decimal,
    ) -> Vec<(i64, Decimal, Decimal)> {
        let first_live = self.first_live_funding();
        if !self.replay_funding.is_empty() {
            let cut = first_live - 60_000;
            let rows = self
                .replay_funding
                .iter()
                .filter(|(t, ..)| *t >= lo && *t <= hi && *t < cut)
                .copied();
            let mut v: Vec<_> = rows.collect();
            if ascending {
                v.truncate(limit);
            } else {
                v = v.split_off(v.len().saturating_sub(limit));
            }
            // Rows the source had no mark price for get the simulator's own.
            let tick = self.perp_tick() / dec!(100);
            return v
                .into_iter()
                .map(|(t, rate, mark)| {
                    let mark = mark.unwrap_or_else(|| {
                        let index = self.past_index_at_hour(t.div_euclid(HOUR_MS));
                        round_near(index * (Decimal::ONE + rate / dec!(2)), tick)
                    });
                    (t, rate, mark)
                })
                .collect();
        }
        if self.perp.is_none() {
            return Vec::new();
        }
        let iv = self.interval_ms();
        let lo = lo.max(self.history.earliest_hour() * HOUR_MS);
        let hi = hi.min(first_live - 1);
        if lo > hi {
            return Vec::new();
        }
        let (k_lo, k_hi) = ((lo + iv - 1).div_euclid(iv), hi.div_euclid(iv));
        let ks: Vec<i64> = if ascending {
            (k_lo..=k_hi).take(limit).collect()
        } else {
            let mut v: Vec<i64> = (k_lo..=k_hi).rev().take(limit).collect();
            v.reverse();
            v
        };
        let tick = self.perp_tick() / dec!(100);
        ks.into_iter()
            .map(|k| {
                let t = k * iv;
                let rate = self.synthetic_rate(t, noise);
                let index = self.past_index_at_hour(t.div_euclid(HOUR_MS));
                let mark = round_near(index * (Decimal::ONE + rate / dec!(2)), tick);
                (t, rate, mark)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_symbols;

    const START: i64 = 1_767_225_600_000;

    #[test]
    fn past_funding_pages_on_interval_multiples() {
        let syms = default_symbols();
        let doge = syms.iter().find(|s| s.base == "DOGE").unwrap();
        let mut m = Market::new(doge, 1, START);
        let rows = m.past_funding(START - 10 * HOUR_MS, i64::MAX, 100, true, dec!(0.0001));
        assert_eq!(rows.len(), 11);
        assert_eq!(rows[0].0, START - 10 * HOUR_MS);
        assert_eq!(rows[10].0, START);
        let tail = m.past_funding(i64::MIN, i64::MAX, 3, false, dec!(0.0001));
        assert_eq!(
            tail.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![START - 2 * HOUR_MS, START - HOUR_MS, START]
        );
        assert_eq!(tail[2], rows[10]);
        assert!(rows.iter().all(|r| r.2 > Decimal::ZERO));
    }
}

//! One listing's state: seeded price path (index, spot-perp basis), funding rate, synthetic book.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

use super::history::History;
use crate::config::{MarketConfig, PerpListing, SpotListing, SymbolConfig};

pub const HOUR_MS: i64 = 3_600_000;
/// Ceiling for any simulated price (keeps Decimal products far from overflow).
const MAX_INDEX: Decimal = dec!(1000000000);
const YEAR_MS: f64 = 365.0 * 24.0 * 3_600_000.0;

#[derive(Debug, Clone)]
pub struct Market {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub volatility: f64,
    pub spot: Option<SpotListing>,
    pub perp: Option<PerpListing>,
    pub margin: bool,
    pub index: Decimal,
    /// mark = index * (1 + basis)
    pub basis: Decimal,
    /// Current (predicted) funding rate; settles at `next_funding`.
    pub funding_rate: Decimal,
    /// Mean the rate reverts to; admin "set"/"flip" change this.
    pub funding_mean: Decimal,
    pub next_funding: i64,
    /// Settled funding: (time, rate, mark price).
    pub funding_history: Vec<(i64, Decimal, Decimal)>,
    /// Hourly index samples for 24h tickers.
    pub hourly: VecDeque<(i64, Decimal)>,
    pub update_id: i64,
    /// Replay rows (fundingTime, rate, mark) when replaying history.
    pub replay_funding: Vec<(i64, Decimal, Option<Decimal>)>,
    /// Replay daily closes (openTime, close) for the index path.
    pub replay_prices: Vec<(i64, Decimal)>,
    /// Hourly bars since the start and the synthetic past before it (klines).
    pub history: History,
    rng: ChaCha8Rng,
}

/// Standard normal sample (Box-Muller), a statistic: f64.
pub fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn round_down(v: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return v;
    }
    ((v / step).floor() * step).normalize()
}

pub fn round_up(v: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return v;
    }
    ((v / step).ceil() * step).normalize()
}

pub fn round_near(v: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return v;
    }
    ((v / step).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven) * step).normalize()
}

/// A synthetic order book side: (price, qty), best first.
pub type Levels = Vec<(Decimal, Decimal)>;

impl Market {
    pub fn new(cfg: &SymbolConfig, seed: u64, now: i64) -> Self {
        let symbol = cfg.name();
        // One RNG per listing, derived from the seed and the symbol name (stable across runs).
        let salt = symbol.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let rate = cfg
            .perp
            .as_ref()
            .map(|p| p.funding_rate)
            .unwrap_or_default();
        let mut m = Self {
            symbol,
            base: cfg.base.clone(),
            quote: cfg.quote.clone(),
            volatility: cfg.volatility,
            spot: cfg.spot.clone(),
            perp: cfg.perp.clone(),
            margin: cfg.margin,
            index: cfg.price,
            basis: Decimal::ZERO,
            funding_rate: rate,
            funding_mean: rate,
            next_funding: 0,
            funding_history: Vec::new(),
            hourly: VecDeque::new(),
            update_id: 1,
            replay_funding: Vec::new(),
            replay_prices: Vec::new(),
            history: History::new(seed ^ salt, now, cfg.price, cfg.price),
            rng: ChaCha8Rng::seed_from_u64(seed ^ salt),
        };
        m.basis = m.basis_target();
        m.history = History::new(seed ^ salt, now, m.index, m.mark_price());
        m.next_funding = m.next_funding_after(now);
        m.hourly.push_back((now, m.index));
        m
    }

    pub fn interval_ms(&self) -> i64 {
        i64::from(
            self.perp
                .as_ref()
                .map(|p| p.funding_interval_hours)
                .unwrap_or(8),
        ) * HOUR_MS
    }

    /// Settlements happen on multiples of the interval since the epoch (00:00/08:00/16:00 UTC for 8h).
    pub fn next_funding_after(&self, now: i64) -> i64 {
        let iv = self.interval_ms();
        (now.div_euclid(iv) + 1) * iv
    }

    /// Perp premium that would produce the current funding rate (positive rate, perp above index).
    fn basis_target(&self) -> Decimal {
        self.funding_rate / dec!(2)
    }

    pub fn price_tick(&self) -> Decimal {
        self.spot
            .as_ref()
            .map(|s| s.tick_size)
            .or(self.perp.as_ref().map(|p| p.tick_size))
            .unwrap_or(dec!(0.00000001))
    }

    pub fn perp_tick(&self) -> Decimal {
        self.perp
            .as_ref()
            .map(|p| p.tick_size)
            .unwrap_or_else(|| self.price_tick())
    }

    pub fn index_price(&self) -> Decimal {
        round_near(self.index, self.price_tick() / dec!(100))
    }

    pub fn mark_price(&self) -> Decimal {
        round_near(
            self.index * (Decimal::ONE + self.basis),
            self.perp_tick() / dec!(100),
        )
    }

    /// Advances the price path by `dt` simulated ms.
    pub fn step(&mut self, dt: i64, now: i64, cfg: &MarketConfig) {
        if dt <= 0 {
            return;
        }
        let dt_years = dt as f64 / YEAR_MS;
        let z = gaussian(&mut self.rng);
        let target = self.replay_target(now);
        let mut ret =
            self.volatility * dt_years.sqrt() * z - 0.5 * self.volatility.powi(2) * dt_years;
        if let Some(t) = target.and_then(|t| t.to_f64()) {
            // Replay: pull the path towards the historical close (half-life ~1h).
            let cur = self.index.to_f64().unwrap_or(t).max(1e-12);
            ret += (t / cur).ln() * (dt as f64 / HOUR_MS as f64).min(1.0);
        }
        if let Some(f) = Decimal::from_f64(ret.exp().clamp(0.001, 1000.0)) {
            self.index = (self.index * f).clamp(self.price_tick(), MAX_INDEX);
        }
        // Basis: mean-reverting towards the funding-implied premium.
        let zb = gaussian(&mut self.rng);
        let k = Decimal::from_f64((dt as f64 / 600_000.0).min(1.0)).unwrap_or(Decimal::ONE);
        let noise = cfg.basis_noise_bps / dec!(10000)
            * Decimal::from_f64(zb * (dt as f64 / 600_000.0).min(1.0).sqrt()).unwrap_or_default();
        self.basis += (self.basis_target() - self.basis) * k + noise;
        self.basis = self.basis.clamp(dec!(-0.5), dec!(0.5)).round_dp(10);
        self.index = self.index.round_dp(12);
        self.update_id += 1;
        self.history.record(now, self.index, self.mark_price());
        if now.div_euclid(HOUR_MS) != (now - dt).div_euclid(HOUR_MS) {
            self.hourly.push_back((now, self.index));
            while self.hourly.len() > 25 {
                self.hourly.pop_front();
            }
        }
    }

    fn replay_target(&self, now: i64) -> Option<Decimal> {
        let i = self.replay_prices.partition_point(|(t, _)| *t <= now);
        i.checked_sub(1).map(|i| self.replay_prices[i].1)
    }

    /// Rate for the next period after a settlement: OU noise around the mean, clamped to cap/floor.
    pub fn roll_funding(&mut self, noise: Decimal, now: i64) {
        let Some(p) = self.perp.as_ref() else { return };
        let (cap, floor) = (p.funding_cap, p.funding_floor);
        if let Some(r) = self.replay_rate(now) {
            self.funding_rate = r;
            return;
        }
        let z = Decimal::from_f64(gaussian(&mut self.rng)).unwrap_or_default();
        let next =
            self.funding_mean + (self.funding_rate - self.funding_mean) / dec!(2) + noise * z;
        self.funding_rate = next.clamp(floor, cap).round_dp(8);
    }

    /// Replayed rate for the settlement at or just after `now`.
    pub fn replay_rate(&self, now: i64) -> Option<Decimal> {
        if self.replay_funding.is_empty() {
            return None;
        }
        let i = self
            .replay_funding
            .partition_point(|(t, _, _)| *t < now - 60_000);
        self.replay_funding
            .get(i)
            .or(self.replay_funding.last())
            .map(|r| r.1)
    }

    /// Liquidity scale from the listing's 24h volume: thin listings get thin books.
    fn depth_scale(&self, perp: bool) -> Decimal {
        let vol = if perp {
            self.perp.as_ref().map(|p| p.volume_24h)
        } else {
            self.spot.as_ref().map(|s| s.volume_24h)
        };
        (vol.unwrap_or(dec!(100000000)) / dec!(500000000)).clamp(dec!(0.02), Decimal::ONE)
    }

    /// Synthetic book around the spot (index) or perp (mark) price.
    pub fn book(&self, perp: bool, cfg: &MarketConfig) -> (Levels, Levels) {
        let (mid, tick, step) = if perp {
            let p = self.perp.as_ref();
            (
                self.mark_price(),
                self.perp_tick(),
                p.map(|p| p.step_size).unwrap_or(dec!(0.001)),
            )
        } else {
            let s = self.spot.as_ref();
            (
                self.index,
                self.price_tick(),
                s.map(|s| s.step_size).unwrap_or(dec!(0.001)),
            )
        };
        let half = cfg.spread_bps / dec!(20000);
        let gap = cfg.level_bps / dec!(10000);
        let notional = cfg.level_notional * self.depth_scale(perp);
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        for i in 0..cfg.depth_levels.max(1) {
            let d = half + gap * Decimal::from(i);
            let mut b = round_down(mid * (Decimal::ONE - d), tick);
            let mut a = round_up(mid * (Decimal::ONE + d), tick);
            if let Some((pb, _)) = bids.last() {
                b = b.min(*pb - tick);
            }
            if let Some((pa, _)) = asks.last() {
                a = a.max(*pa + tick);
            }
            if a <= b {
                a = b + tick;
            }
            let size = notional * Decimal::from(i + 1);
            if b > Decimal::ZERO {
                bids.push((b, round_down(size / b, step).max(step)));
            }
            asks.push((a, round_down(size / a, step).max(step)));
        }
        (bids, asks)
    }

    /// 24h open/high/low from hourly samples.
    pub fn day_stats(&self) -> (Decimal, Decimal, Decimal) {
        let open = self.hourly.front().map(|h| h.1).unwrap_or(self.index);
        let hi = self
            .hourly
            .iter()
            .map(|h| h.1)
            .chain([self.index])
            .max()
            .unwrap_or(self.index);
        let lo = self
            .hourly
            .iter()
            .map(|h| h.1)
            .chain([self.index])
            .min()
            .unwrap_or(self.index);
        (open, hi, lo)
    }

    /// Moves the index by `pct` percent (clamped to -99 %..+1000 %).
    pub fn shock(&mut self, pct: Decimal) {
        let pct = pct.clamp(dec!(-99), dec!(1000));
        self.index =
            (self.index * (Decimal::ONE + pct / dec!(100))).clamp(self.price_tick(), MAX_INDEX);
        let mark = self.mark_price();
        self.history.touch(self.index, mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_symbols;

    #[test]
    fn same_seed_same_path_and_books_are_sane() {
        let cfg = MarketConfig::default();
        let sym = &default_symbols()[0];
        let mut a = Market::new(sym, 7, 0);
        let mut b = Market::new(sym, 7, 0);
        for i in 1..100 {
            a.step(1000, i * 1000, &cfg);
            b.step(1000, i * 1000, &cfg);
        }
        assert_eq!(a.index, b.index);
        assert_ne!(a.index, sym.price);
        let (bids, asks) = a.book(true, &cfg);
        assert!(bids[0].0 < asks[0].0);
        assert!(bids.windows(2).all(|w| w[0].0 > w[1].0));
        assert!(asks.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn funding_times_follow_interval() {
        let syms = default_symbols();
        let doge = syms.iter().find(|s| s.base == "DOGE").unwrap();
        let m = Market::new(doge, 1, HOUR_MS * 5 + 10);
        assert_eq!(m.next_funding, HOUR_MS * 6);
        let btc = Market::new(&syms[0], 1, HOUR_MS * 5);
        assert_eq!(btc.next_funding, HOUR_MS * 8);
    }
}

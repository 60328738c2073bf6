//! Price and funding history of one listing: hourly OHLC bars recorded as the clock runs, and a
//! deterministic synthetic past before the simulator started (derived from the seed and the
//! symbol, walking the same geometric Brownian model backwards from the start price), so klines
//! and funding history can be paged through at any date since listing.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal_macros::dec;

use super::market::{HOUR_MS, Market, round_near};

/// `onboardDate` reported by futures exchangeInfo; nothing exists before it.
pub const LISTING_MS: i64 = 1_569_398_400_000;
const YEAR_HOURS: f64 = 365.0 * 24.0;
/// Stream tags, so price, range, volume and funding draws of one hour are independent.
const TAG_RET: u64 = 1;
const TAG_HIGH: u64 = 2;
const TAG_LOW: u64 = 3;
const TAG_VOL: u64 = 4;
const TAG_TAKER: u64 = 5;
const TAG_FUNDING: u64 = 6;
const TAG_BORROW: u64 = 7;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ohlc {
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
}

impl Ohlc {
    fn flat(p: Decimal) -> Self {
        Self {
            open: p,
            high: p,
            low: p,
            close: p,
        }
    }

    fn update(&mut self, p: Decimal) {
        self.high = self.high.max(p);
        self.low = self.low.min(p);
        self.close = p;
    }

    fn merge(&mut self, next: &Ohlc) {
        self.high = self.high.max(next.high);
        self.low = self.low.min(next.low);
        self.close = next.close;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct LiveBar {
    hour: i64,
    index: Ohlc,
    mark: Ohlc,
}

/// One aggregated candle (a kline row without its times).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub px: Ohlc,
    pub volume: Decimal,
    pub quote_volume: Decimal,
    pub trades: u64,
    pub taker_base: Decimal,
    pub taker_quote: Decimal,
}

#[derive(Debug, Clone)]
pub struct History {
    key: u64,
    /// Simulated time the simulator started at.
    pub start_ms: i64,
    start_hour: i64,
    live: Vec<LiveBar>,
    /// `past_log[i]` = ln(index) at the start of hour `start_hour - i`, grown lazily backwards.
    past_log: Vec<f64>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Standard normal draw keyed by (listing, stream, slot): a statistic, f64.
pub fn normal(key: u64, tag: u64, slot: i64) -> f64 {
    let a = splitmix(key ^ splitmix(tag ^ splitmix(slot as u64)));
    let b = splitmix(a);
    let u1 = ((a >> 11) as f64 / (1u64 << 53) as f64).max(1e-12);
    let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl History {
    pub fn new(key: u64, start_ms: i64, index: Decimal, mark: Decimal) -> Self {
        let start_hour = start_ms.div_euclid(HOUR_MS);
        Self {
            key,
            start_ms,
            start_hour,
            live: vec![LiveBar {
                hour: start_hour,
                index: Ohlc::flat(index),
                mark: Ohlc::flat(mark),
            }],
            past_log: vec![index.to_f64().unwrap_or(1.0).max(1e-12).ln()],
        }
    }

    /// Records the prices at simulated time `t` (the end of a step) into its hourly bar.
    pub fn record(&mut self, t: i64, index: Decimal, mark: Decimal) {
        let hour = (t - 1).div_euclid(HOUR_MS);
        match self.live.last_mut() {
            Some(b) if b.hour >= hour => {
                b.index.update(index);
                b.mark.update(mark);
            }
            last => {
                let (i0, m0) = last.map_or((index, mark), |b| (b.index.close, b.mark.close));
                let mut bar = LiveBar {
                    hour,
                    index: Ohlc::flat(i0),
                    mark: Ohlc::flat(m0),
                };
                bar.index.update(index);
                bar.mark.update(mark);
                self.live.push(bar);
            }
        }
    }

    /// Applies an instant price change (admin shock) to the current bar.
    pub fn touch(&mut self, index: Decimal, mark: Decimal) {
        if let Some(b) = self.live.last_mut() {
            b.index.update(index);
            b.mark.update(mark);
        }
    }

    pub fn key(&self) -> u64 {
        self.key
    }

    fn earliest_hour(&self) -> i64 {
        LISTING_MS.min(self.start_ms).div_euclid(HOUR_MS)
    }

    /// ln(index) at the start of `hour` (< start hour), extending the backward walk as needed.
    fn past_ln(&mut self, hour: i64, vol: f64) -> f64 {
        let back = usize::try_from(self.start_hour - hour).unwrap_or(0);
        let dt = 1.0 / YEAR_HOURS;
        while self.past_log.len() <= back {
            let i = self.past_log.len() as i64;
            // Hour `start_hour - i` took the path from ln P(start - i) to ln P(start - i + 1).
            let h = self.start_hour - i;
            let ret = vol * dt.sqrt() * normal(self.key, TAG_RET, h) - 0.5 * vol * vol * dt;
            let prev = self.past_log[self.past_log.len() - 1];
            self.past_log.push(prev - ret);
        }
        self.past_log[back]
    }
}

fn to_price(ln: f64, tick: Decimal) -> Decimal {
    Decimal::from_f64(ln.exp().clamp(1e-8, 1e9))
        .map(|p| round_near(p, tick).max(tick))
        .unwrap_or(tick)
}

impl Market {
    fn spot_tick_fine(&self) -> Decimal {
        self.price_tick()
    }

    /// First settlement the running simulator makes; earlier rows are history.
    pub fn first_live_funding(&self) -> i64 {
        self.next_funding_after(self.history.start_ms)
    }

    /// Synthetic settled rate at `t` (before the start): MA(1) noise around the configured mean.
    fn synthetic_rate(&self, t: i64, noise: Decimal) -> Decimal {
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

    /// Funding rate in force during the past instant `t` (for the synthetic perp premium).
    fn past_rate_at(&self, t: i64, noise: Decimal) -> Decimal {
        self.synthetic_rate(self.next_funding_after(t), noise)
    }

    /// Index price at the start of a past hour.
    fn past_index_at_hour(&mut self, hour: i64) -> Decimal {
        let vol = self.volatility;
        let ln = self.history.past_ln(hour, vol);
        to_price(ln, self.spot_tick_fine() / dec!(100))
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
                .map(|(t, r, m)| (*t, *r, m.unwrap_or_default()));
            let mut v: Vec<_> = rows.collect();
            if ascending {
                v.truncate(limit);
            } else {
                v = v.split_off(v.len().saturating_sub(limit));
            }
            return v;
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

    /// Hourly candle of the index (`perp` false) or mark (`perp` true) path; `None` for hours
    /// before listing or after `now`.
    pub fn hour_candle(
        &mut self,
        hour: i64,
        perp: bool,
        now: i64,
        noise: Decimal,
    ) -> Option<Candle> {
        let start_hour = self.history.start_hour;
        let px = if hour < start_hour {
            if hour < self.history.earliest_hour() {
                return None;
            }
            let vol = self.volatility;
            let key = self.history.key();
            let o = self.history.past_ln(hour, vol);
            let c = if hour + 1 == start_hour {
                self.history.past_log[0]
            } else {
                self.history.past_ln(hour + 1, vol)
            };
            let sd = vol / YEAR_HOURS.sqrt() * 0.6;
            let hi = o.max(c) + normal(key, TAG_HIGH, hour).abs() * sd;
            let lo = o.min(c) - normal(key, TAG_LOW, hour).abs() * sd;
            let (premium, tick) = if perp {
                let r = self.past_rate_at(hour * HOUR_MS, noise);
                (Decimal::ONE + r / dec!(2), self.perp_tick())
            } else {
                (Decimal::ONE, self.price_tick())
            };
            let p = |ln: f64| round_near(to_price(ln, tick / dec!(100)) * premium, tick).max(tick);
            Ohlc {
                open: p(o),
                high: p(hi),
                low: p(lo),
                close: p(c),
            }
        } else {
            let i = self.history.live.partition_point(|b| b.hour < hour);
            let bar = match self.history.live.get(i) {
                Some(b) if b.hour == hour => *b,
                // An hour that opened exactly now has no step yet: flat at the last price.
                None if hour * HOUR_MS <= now => {
                    let last = self.history.live.last()?;
                    LiveBar {
                        hour,
                        index: Ohlc::flat(last.index.close),
                        mark: Ohlc::flat(last.mark.close),
                    }
                }
                _ => return None,
            };
            let (raw, tick) = if perp {
                (bar.mark, self.perp_tick())
            } else {
                (bar.index, self.price_tick())
            };
            Ohlc {
                open: round_near(raw.open, tick),
                high: round_near(raw.high, tick),
                low: round_near(raw.low, tick),
                close: round_near(raw.close, tick),
            }
        };
        if hour * HOUR_MS > now {
            return None;
        }
        // The figure the simulator knows is the 24h quote volume: spread it over hours with noise,
        // pro rata for the hour in progress.
        let day_volume = if perp {
            self.perp.as_ref().map(|p| p.volume_24h)
        } else {
            self.spot.as_ref().map(|s| s.volume_24h)
        }
        .unwrap_or_default();
        let key = self.history.key() ^ u64::from(perp);
        let factor = (0.25 * normal(key, TAG_VOL, hour) - 0.03125).exp();
        let elapsed = ((now - hour * HOUR_MS) as f64 / HOUR_MS as f64).clamp(0.0, 1.0);
        let f = Decimal::from_f64(factor * elapsed).unwrap_or_default();
        let quote_volume = (day_volume / dec!(24) * f).round_dp(8);
        let avg = (px.open + px.close) / dec!(2);
        let volume = if avg.is_zero() {
            Decimal::ZERO
        } else {
            (quote_volume / avg).round_dp(8)
        };
        let share = (0.5 + 0.04 * normal(key, TAG_TAKER, hour)).clamp(0.3, 0.7);
        let share = Decimal::from_f64(share).unwrap_or(dec!(0.5));
        let trades = (quote_volume / dec!(2000)).round().to_u64().unwrap_or(0);
        Some(Candle {
            px,
            volume,
            quote_volume,
            trades: trades.max(u64::from(!quote_volume.is_zero())),
            taker_base: (volume * share).round_dp(8),
            taker_quote: (quote_volume * share).round_dp(8),
        })
    }

    /// Candle over `[open, open + len)` from hourly candles (only hours up to `now`).
    pub fn candle(
        &mut self,
        open: i64,
        len: i64,
        perp: bool,
        now: i64,
        noise: Decimal,
    ) -> Option<Candle> {
        let first = open.div_euclid(HOUR_MS);
        let last = (open + len - 1).div_euclid(HOUR_MS);
        let mut acc: Option<Candle> = None;
        for h in first..=last {
            let Some(c) = self.hour_candle(h, perp, now, noise) else {
                continue;
            };
            match acc.as_mut() {
                None => acc = Some(c),
                Some(a) => {
                    a.px.merge(&c.px);
                    a.volume += c.volume;
                    a.quote_volume += c.quote_volume;
                    a.trades += c.trades;
                    a.taker_base += c.taker_base;
                    a.taker_quote += c.taker_quote;
                }
            }
        }
        acc
    }
}

/// Daily borrow rate of an asset at a past hour: the configured rate, varied day by day
/// (±15 % noise) before the simulator started; exactly the configured (charged) rate after.
pub fn daily_borrow_rate(configured: Decimal, asset: &str, hour_ms: i64, start_ms: i64) -> Decimal {
    if hour_ms >= start_ms {
        return configured;
    }
    let key = asset.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let z = normal(key, TAG_BORROW, hour_ms.div_euclid(24 * HOUR_MS));
    let f = Decimal::from_f64((1.0 + 0.15 * z).clamp(0.5, 1.5)).unwrap_or(Decimal::ONE);
    (configured * f).round_dp(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MarketConfig, default_symbols};

    const START: i64 = 1_767_225_600_000;

    #[test]
    fn past_is_deterministic_and_joins_the_start_price() {
        let sym = &default_symbols()[0];
        let mut a = Market::new(sym, 7, START);
        let mut b = Market::new(sym, 7, START);
        let h = START / HOUR_MS - 500;
        assert_eq!(
            a.hour_candle(h, false, START, dec!(0.0001)),
            b.hour_candle(h, false, START, dec!(0.0001))
        );
        let last = a
            .hour_candle(START / HOUR_MS - 1, false, START, dec!(0))
            .unwrap();
        assert_eq!(last.px.close, round_near(sym.price, a.price_tick()));
        let c = a.hour_candle(h, false, START, dec!(0)).unwrap();
        assert!(c.px.low <= c.px.open.min(c.px.close) && c.px.high >= c.px.open.max(c.px.close));
        assert!(c.volume > Decimal::ZERO && c.trades > 0);
        assert!(
            a.hour_candle(LISTING_MS / HOUR_MS - 1, false, START, dec!(0))
                .is_none()
        );
    }

    #[test]
    fn live_bars_follow_the_path_and_stop_at_now() {
        let sym = &default_symbols()[0];
        let cfg = MarketConfig::default();
        let mut m = Market::new(sym, 3, START);
        let mut hi = m.index;
        let mut lo = m.index;
        for i in 1..=120 {
            m.step(60_000, START + i * 60_000, &cfg);
            if i <= 60 {
                hi = hi.max(m.index);
                lo = lo.min(m.index);
            }
        }
        let now = START + 120 * 60_000;
        let c = m.hour_candle(START / HOUR_MS, false, now, dec!(0)).unwrap();
        assert_eq!(c.px.open, round_near(sym.price, m.price_tick()));
        assert_eq!(c.px.high, round_near(hi, m.price_tick()));
        assert_eq!(c.px.low, round_near(lo, m.price_tick()));
        let second = m
            .hour_candle(START / HOUR_MS + 1, false, now, dec!(0))
            .unwrap();
        assert_eq!(second.px.open, c.px.close);
        assert_eq!(second.px.close, round_near(m.index, m.price_tick()));
        assert!(
            m.hour_candle(START / HOUR_MS + 3, false, now, dec!(0))
                .is_none()
        );
        let day = m.candle(START, 86_400_000, false, now, dec!(0)).unwrap();
        assert_eq!(day.px.open, c.px.open);
        assert_eq!(day.quote_volume, c.quote_volume + second.quote_volume);
    }

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

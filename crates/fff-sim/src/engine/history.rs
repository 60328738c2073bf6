//! Price and funding history of one listing: hourly OHLC bars recorded as the clock runs, and a
//! deterministic synthetic past before the simulator started (derived from the seed and the
//! symbol, walking the same geometric Brownian model backwards from the start price), so klines
//! and funding history can be paged through at any date since listing.

use std::collections::VecDeque;

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal_macros::dec;

use super::market::{HOUR_MS, Market, round_near};

mod candles;
mod funding;

pub use candles::Candle;

/// `onboardDate` reported by futures exchangeInfo; nothing exists before it.
pub const LISTING_MS: i64 = 1_569_398_400_000;
const YEAR_HOURS: f64 = 365.0 * 24.0;
/// Live hourly bars kept per listing (two years): bounds memory on a fast accelerated clock;
/// older live hours are then absent from klines.
const MAX_LIVE_BARS: usize = 2 * 365 * 24;
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

#[derive(Debug, Clone)]
pub struct History {
    key: u64,
    /// Simulated time the simulator started at.
    pub start_ms: i64,
    start_hour: i64,
    live: VecDeque<LiveBar>,
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
            live: VecDeque::from([LiveBar {
                hour: start_hour,
                index: Ohlc::flat(index),
                mark: Ohlc::flat(mark),
            }]),
            past_log: vec![index.to_f64().unwrap_or(1.0).max(1e-12).ln()],
        }
    }

    /// Records the prices at simulated time `t` (the end of a step) into its hourly bar.
    pub fn record(&mut self, t: i64, index: Decimal, mark: Decimal) {
        let hour = (t - 1).div_euclid(HOUR_MS);
        match self.live.back_mut() {
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
                self.live.push_back(bar);
                while self.live.len() > MAX_LIVE_BARS {
                    self.live.pop_front();
                }
            }
        }
    }

    /// Applies an instant price change (admin shock) to the current bar.
    pub fn touch(&mut self, index: Decimal, mark: Decimal) {
        if let Some(b) = self.live.back_mut() {
            b.index.update(index);
            b.mark.update(mark);
        }
    }

    pub fn key(&self) -> u64 {
        self.key
    }

    pub(super) fn earliest_hour(&self) -> i64 {
        LISTING_MS.min(self.start_ms).div_euclid(HOUR_MS)
    }

    /// ln(index) at the start of `hour` (< start hour), extending the backward walk as needed.
    pub(super) fn past_ln(&mut self, hour: i64, vol: f64) -> f64 {
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

pub(super) fn to_price(ln: f64, tick: Decimal) -> Decimal {
    Decimal::from_f64(ln.exp().clamp(1e-8, 1e9))
        .map(|p| round_near(p, tick).max(tick))
        .unwrap_or(tick)
}

impl Market {
    pub(super) fn spot_tick_fine(&self) -> Decimal {
        self.price_tick()
    }

    /// Replayed daily close of the day opening at `open_ms`.
    fn replay_close(&self, open_ms: i64) -> Option<f64> {
        let i = self.replay_prices.partition_point(|(t, _)| *t < open_ms);
        let (t, c) = self.replay_prices.get(i)?;
        (*t == open_ms)
            .then(|| c.to_f64())
            .flatten()
            .filter(|c| *c > 0.0)
    }

    /// ln(index) at the start of a past hour (`hour` <= the start hour): the synthetic walk,
    /// bridged through replayed daily closes (at midnights before the start), so pre-start daily
    /// klines open and close where the replayed ones did; the start price anchors the end.
    pub(super) fn past_ln_at(&mut self, hour: i64) -> f64 {
        let vol = self.volatility;
        let start_hour = self.history.start_hour;
        let w = self.history.past_ln(hour, vol);
        if self.replay_prices.is_empty() || hour >= start_hour {
            return w;
        }
        let day0 = hour.div_euclid(24) * 24;
        let end = (day0 + 24).min(start_hour);
        let (w0, w1) = (
            self.history.past_ln(day0, vol),
            self.history.past_ln(end, vol),
        );
        // Anchor at a midnight: the close of the day ending there, if replayed.
        let anchor = |m: &Self, h: i64, w: f64| {
            if h >= start_hour {
                return w;
            }
            m.replay_close((h - 24) * HOUR_MS).map_or(w, f64::ln)
        };
        let (a0, a1) = (anchor(self, day0, w0), anchor(self, end, w1));
        let f = (hour - day0) as f64 / (end - day0) as f64;
        a0 + f * (a1 - a0) + (w - w0) - f * (w1 - w0)
    }

    /// Index price at the start of a past hour.
    pub(super) fn past_index_at_hour(&mut self, hour: i64) -> Decimal {
        let ln = self.past_ln_at(hour);
        to_price(ln, self.spot_tick_fine() / dec!(100))
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
    use crate::config::default_symbols;

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
    fn replayed_daily_closes_anchor_the_past_path() {
        let sym = &default_symbols()[0];
        let mut m = Market::new(sym, 5, START);
        let day = 24 * HOUR_MS;
        m.replay_prices = vec![
            (START - 4 * day, dec!(90000)),
            (START - 3 * day, dec!(91000)),
            (START - 2 * day, dec!(88500.5)),
        ];
        let tick = m.price_tick();
        let d = m
            .candle(START - 2 * day, day, false, START, dec!(0))
            .unwrap();
        assert_eq!((d.px.open, d.px.close), (dec!(91000), dec!(88500.5)));
        let d = m
            .candle(START - 3 * day, day, false, START, dec!(0))
            .unwrap();
        assert_eq!((d.px.open, d.px.close), (dec!(90000), dec!(91000)));
        assert!(d.px.high >= dec!(91000) && d.px.low <= dec!(90000));
        // Days without a replayed close (or the one before) stay synthetic but contiguous.
        let next = m.candle(START - day, day, false, START, dec!(0)).unwrap();
        assert_eq!(next.px.open, dec!(88500.5));
        assert_eq!(next.px.close, round_near(sym.price, tick));
    }
}

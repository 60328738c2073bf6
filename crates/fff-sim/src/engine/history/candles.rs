//! Candles: hourly bars (recorded live, or from the past path) aggregated into klines.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal_macros::dec;

use super::{
    LiveBar, Market, Ohlc, TAG_HIGH, TAG_LOW, TAG_TAKER, TAG_VOL, YEAR_HOURS, normal, to_price,
};
use crate::engine::market::{HOUR_MS, round_near};

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

impl Market {
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
            let (o, c) = (self.past_ln_at(hour), self.past_ln_at(hour + 1));
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
                    let last = self.history.live.back()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MarketConfig, default_symbols};

    const START: i64 = 1_767_225_600_000;

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
}

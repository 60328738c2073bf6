//! Generated datasets with known properties, for tests and benchmarks (never real data).

use rust_decimal::Decimal;

use crate::data::{
    DAY_MS, DailyBar, Dataset, DateRange, FundingPoint, HOUR_MS, SpotListing, SymbolData,
    base_asset,
};

/// 2024-01-01T00:00:00Z.
pub const EPOCH_2024_MS: i64 = 1_704_067_200_000;

/// A symbol whose funding rate is `rate(settlement index)`, settling every `interval_hours`
/// for `days` days from `start_ms` (stamped 3 ms after the hour, like Binance), without prices
/// and without evidence of a spot market (see [`listed`]).
pub fn symbol(
    name: &str,
    start_ms: i64,
    days: i64,
    interval_hours: u32,
    rate: impl Fn(usize) -> Decimal,
) -> SymbolData {
    let step = i64::from(interval_hours) * HOUR_MS;
    let count = (days * DAY_MS / step) as usize;
    SymbolData {
        symbol: name.to_string(),
        base_asset: base_asset(name),
        funding: (0..count)
            .map(|i| FundingPoint {
                time_ms: start_ms + i as i64 * step + 3,
                rate: rate(i),
                mark_price: None,
                interval_hours,
            })
            .collect(),
        spot: Vec::new(),
        perp: Vec::new(),
        spot_listing: SpotListing::default(),
        funding_gaps: 0,
    }
}

/// `data` with a spot market listed for all time (as a listing file would say).
pub fn listed(mut data: SymbolData) -> SymbolData {
    data.spot_listing = SpotListing::ALWAYS;
    data
}

/// `data` with spot bars, which are also the evidence of its spot market (like the loader).
pub fn with_spot(mut data: SymbolData, spot: Vec<DailyBar>) -> SymbolData {
    data.spot_listing = SpotListing::combine(spot.first().map(|b| b.open_time_ms), None);
    data.spot = spot;
    data
}

/// Daily bars with closes `close(day index)` from `start_ms`; high and low equal the close.
pub fn bars(
    start_ms: i64,
    days: i64,
    close: impl Fn(i64) -> Decimal,
    volume: Option<Decimal>,
) -> Vec<DailyBar> {
    (0..days)
        .map(|d| {
            let close = close(d);
            DailyBar {
                open_time_ms: start_ms + d * DAY_MS,
                high: close,
                low: close,
                close,
                quote_volume: volume,
            }
        })
        .collect()
}

/// A dataset of `symbols` (unbounded window, no borrow data).
pub fn dataset(symbols: Vec<SymbolData>) -> Dataset {
    Dataset {
        symbols,
        borrow: Default::default(),
        range: DateRange::default(),
    }
}

/// Deterministic pseudo-random market for benchmarks: `count` symbols over `days`, mixed
/// 8/4/1 h intervals, noisy funding with regime changes, random-walk prices on both legs.
pub fn random_market(count: usize, days: i64, seed: u64) -> Dataset {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64*: good enough for synthetic noise, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut symbols = Vec::with_capacity(count);
    for index in 0..count {
        let interval = [8, 4, 1][index % 3];
        let bias = (next() % 400) as i64 - 100; // in 0.01 bp per hour of interval
        let noise: Vec<i64> = (0..(days * 24 / interval as i64 + 1))
            .map(|_| (next() % 200) as i64 - 100)
            .collect();
        let name = format!("S{index}USDT");
        let data = symbol(&name, EPOCH_2024_MS, days, interval, |i| {
            let regime = if (i / 90) % 2 == 0 { bias } else { -bias / 2 };
            Decimal::new((regime + noise[i]) * i64::from(interval), 6)
        });
        let walk: Vec<i64> = (0..days).map(|_| (next() % 41) as i64 - 20).collect();
        let mut level = 10_000i64;
        let closes: Vec<Decimal> = walk
            .iter()
            .map(|step| {
                level = (level + step * 10).max(100);
                Decimal::new(level, 2)
            })
            .collect();
        let basis: Vec<i64> = (0..days).map(|_| (next() % 11) as i64 - 5).collect();
        // Intraday range: up to +-3 % around the close (a few percent, like majors).
        let ranges: Vec<(i64, i64)> = (0..days)
            .map(|_| ((next() % 301) as i64, (next() % 301) as i64))
            .collect();
        let widen = |mut bars: Vec<DailyBar>| {
            for (bar, (up, down)) in bars.iter_mut().zip(&ranges) {
                bar.high = bar.close * (Decimal::ONE + Decimal::new(*up, 4));
                bar.low = bar.close * (Decimal::ONE - Decimal::new(*down, 4));
            }
            bars
        };
        let mut data = with_spot(
            data,
            widen(bars(EPOCH_2024_MS, days, |d| closes[d as usize], None)),
        );
        data.perp = widen(bars(
            EPOCH_2024_MS,
            days,
            |d| closes[d as usize] * (Decimal::ONE + Decimal::new(basis[d as usize], 4)),
            Some(Decimal::from(500_000_000)),
        ));
        symbols.push(data);
    }
    dataset(symbols)
}

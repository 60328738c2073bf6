//! The built-in synthetic universe: spot + perp listings with deliberately varied traits.
//!
//! Traits other crates' tests rely on (keep them):
//! - funding intervals of 1h, 4h and 8h, rates of both signs and one exactly zero (BNB);
//! - `LSKUSDT` is the low-volume listing;
//! - `ORCAUSDT` has cross margin disabled (`isMarginTradingAllowed` false);
//! - `ADAUSDT` has negative funding whose magnitude is below its borrow cost
//!   (0.006 %/4h = 0.036 %/day < 0.06 %/day), so shorting spot to farm it loses money,
//!   while `SOLUSDT`'s negative funding (0.12 %/day) exceeds its borrow cost (0.02 %/day) by
//!   enough to repay a round trip within fff's one-week admission horizon;
//! - three pairs (DOGE, XRP, SOL) repay a VIP 0 round trip and the 0.2 % admission margin
//!   within a week, so fff's shipped defaults can deploy their full capital budget at the 30 %
//!   pair cap; BTC, ETH and LTC sit at
//!   the 0.01 % baseline that does not.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{AssetConfig, PerpListing, SpotListing, SymbolConfig};

struct Row {
    base: &'static str,
    price: Decimal,
    vol: f64,
    spot: (Decimal, Decimal, Decimal, Decimal),
    perp: (Decimal, Decimal, Decimal, Decimal),
    interval: u32,
    rate: Decimal,
    oi: Decimal,
    margin: bool,
    lev: u32,
    mmr: Decimal,
}

fn rows() -> Vec<Row> {
    // (tick, step, min notional, 24h quote volume)
    vec![
        Row {
            base: "BTC",
            price: dec!(95000),
            vol: 0.5,
            spot: (dec!(0.01), dec!(0.00001), dec!(5), dec!(1800000000)),
            perp: (dec!(0.1), dec!(0.001), dec!(100), dec!(12000000000)),
            interval: 8,
            rate: dec!(0.0001),
            oi: dec!(80000),
            margin: true,
            lev: 125,
            mmr: dec!(0.004),
        },
        Row {
            base: "ETH",
            price: dec!(3500),
            vol: 0.65,
            spot: (dec!(0.01), dec!(0.0001), dec!(5), dec!(900000000)),
            perp: (dec!(0.01), dec!(0.001), dec!(20), dec!(7000000000)),
            interval: 8,
            rate: dec!(0.00008),
            oi: dec!(1900000),
            margin: true,
            lev: 100,
            mmr: dec!(0.005),
        },
        Row {
            base: "SOL",
            price: dec!(180),
            vol: 0.8,
            spot: (dec!(0.01), dec!(0.001), dec!(5), dec!(400000000)),
            perp: (dec!(0.01), dec!(0.01), dec!(5), dec!(2500000000)),
            interval: 4,
            rate: dec!(-0.0002),
            oi: dec!(9000000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "BNB",
            price: dec!(650),
            vol: 0.45,
            spot: (dec!(0.01), dec!(0.001), dec!(5), dec!(150000000)),
            perp: (dec!(0.01), dec!(0.01), dec!(5), dec!(400000000)),
            interval: 8,
            rate: dec!(0),
            oi: dec!(700000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "XRP",
            price: dec!(2.3),
            vol: 0.8,
            spot: (dec!(0.0001), dec!(0.1), dec!(5), dec!(300000000)),
            perp: (dec!(0.0001), dec!(0.1), dec!(5), dec!(1500000000)),
            interval: 4,
            // 0.04 % per 8 h: 0.84 % a week clears the 0.38 % round trip and the 0.2 %
            // admission margin with room for the funding noise (0.00015 sat on the margin)
            rate: dec!(0.0002),
            oi: dec!(500000000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "DOGE",
            price: dec!(0.32),
            vol: 0.9,
            spot: (dec!(0.00001), dec!(1), dec!(5), dec!(250000000)),
            perp: (dec!(0.00001), dec!(1), dec!(5), dec!(1200000000)),
            interval: 1,
            rate: dec!(0.0004),
            oi: dec!(4000000000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "ADA",
            price: dec!(0.9),
            vol: 0.85,
            spot: (dec!(0.0001), dec!(0.1), dec!(5), dec!(80000000)),
            perp: (dec!(0.0001), dec!(1), dec!(5), dec!(400000000)),
            interval: 4,
            rate: dec!(-0.00006),
            oi: dec!(600000000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "LINK",
            price: dec!(20),
            vol: 0.8,
            spot: (dec!(0.01), dec!(0.01), dec!(5), dec!(60000000)),
            perp: (dec!(0.001), dec!(0.01), dec!(5), dec!(300000000)),
            interval: 8,
            rate: dec!(0.00005),
            oi: dec!(20000000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "AVAX",
            price: dec!(35),
            vol: 0.85,
            spot: (dec!(0.01), dec!(0.01), dec!(5), dec!(50000000)),
            perp: (dec!(0.001), dec!(1), dec!(5), dec!(250000000)),
            interval: 1,
            rate: dec!(-0.0003),
            oi: dec!(12000000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "LTC",
            price: dec!(100),
            vol: 0.7,
            spot: (dec!(0.01), dec!(0.001), dec!(5), dec!(40000000)),
            perp: (dec!(0.01), dec!(0.001), dec!(20), dec!(200000000)),
            interval: 8,
            rate: dec!(0.0001),
            oi: dec!(1500000),
            margin: true,
            lev: 75,
            mmr: dec!(0.005),
        },
        Row {
            base: "LSK",
            price: dec!(0.9),
            vol: 1.1,
            spot: (dec!(0.0001), dec!(0.01), dec!(5), dec!(120000)),
            perp: (dec!(0.0001), dec!(1), dec!(5), dec!(900000)),
            interval: 4,
            rate: dec!(0.0006),
            oi: dec!(3000000),
            margin: true,
            lev: 20,
            mmr: dec!(0.025),
        },
        Row {
            base: "ORCA",
            price: dec!(2.5),
            vol: 1.2,
            spot: (dec!(0.001), dec!(0.01), dec!(5), dec!(6000000)),
            perp: (dec!(0.001), dec!(1), dec!(5), dec!(40000000)),
            interval: 4,
            rate: dec!(-0.0005),
            oi: dec!(8000000),
            margin: false,
            lev: 25,
            mmr: dec!(0.02),
        },
    ]
}

pub fn default_symbols() -> Vec<SymbolConfig> {
    rows()
        .into_iter()
        .map(|r| {
            let (cap, floor) = if r.lev <= 25 {
                (dec!(0.03), dec!(-0.03))
            } else {
                (dec!(0.02), dec!(-0.02))
            };
            SymbolConfig {
                base: r.base.into(),
                quote: "USDT".into(),
                price: r.price,
                volatility: r.vol,
                spot: Some(SpotListing {
                    tick_size: r.spot.0,
                    step_size: r.spot.1,
                    min_notional: r.spot.2,
                    volume_24h: r.spot.3,
                }),
                perp: Some(PerpListing {
                    tick_size: r.perp.0,
                    step_size: r.perp.1,
                    min_notional: r.perp.2,
                    volume_24h: r.perp.3,
                    funding_interval_hours: r.interval,
                    funding_rate: r.rate,
                    funding_cap: cap,
                    funding_floor: floor,
                    max_leverage: r.lev,
                    maint_margin_rate: r.mmr,
                    open_interest: r.oi,
                }),
                margin: r.margin,
            }
        })
        .collect()
}

/// Daily borrow rates roughly matching Binance's published cross-section.
pub fn default_assets() -> Vec<AssetConfig> {
    let rate = |asset: &str, daily: Decimal, inv: Decimal| AssetConfig {
        asset: asset.into(),
        daily_interest_rate: daily,
        borrowable: true,
        borrow_limit: inv / dec!(100),
        inventory: inv,
    };
    vec![
        rate("USDT", dec!(0.00012), dec!(1000000000)),
        rate("BTC", dec!(0.00004), dec!(5000)),
        rate("ETH", dec!(0.00005), dec!(100000)),
        rate("SOL", dec!(0.0002), dec!(1000000)),
        rate("BNB", dec!(0.0002), dec!(500000)),
        rate("XRP", dec!(0.0003), dec!(100000000)),
        rate("DOGE", dec!(0.0003), dec!(1000000000)),
        rate("ADA", dec!(0.0006), dec!(100000000)),
        rate("LINK", dec!(0.0003), dec!(5000000)),
        rate("AVAX", dec!(0.0004), dec!(2000000)),
        rate("LTC", dec!(0.0002), dec!(500000)),
        rate("LSK", dec!(0.0008), dec!(500000)),
        AssetConfig {
            borrowable: false,
            ..rate("ORCA", dec!(0.001), dec!(0))
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universe_has_the_promised_traits() {
        let syms = default_symbols();
        let intervals: std::collections::BTreeSet<u32> = syms
            .iter()
            .filter_map(|s| s.perp.as_ref().map(|p| p.funding_interval_hours))
            .collect();
        assert_eq!(intervals.into_iter().collect::<Vec<_>>(), vec![1, 4, 8]);
        assert!(syms.iter().any(|s| !s.margin));
        let perp = |b: &str| {
            syms.iter()
                .find(|s| s.base == b)
                .and_then(|s| s.perp.clone())
                .unwrap()
        };
        let assets = default_assets();
        let daily = |a: &str| {
            assets
                .iter()
                .find(|x| x.asset == a)
                .unwrap()
                .daily_interest_rate
        };
        let ada = perp("ADA");
        let ada_daily_funding = -ada.funding_rate * Decimal::from(24 / ada.funding_interval_hours);
        assert!(ada.funding_rate < Decimal::ZERO && daily("ADA") > ada_daily_funding);
        let sol = perp("SOL");
        let sol_daily_funding = -sol.funding_rate * Decimal::from(24 / sol.funding_interval_hours);
        assert!(sol_daily_funding > daily("SOL"));
        let min_vol = syms
            .iter()
            .filter_map(|s| s.spot.as_ref())
            .map(|s| s.volume_24h)
            .min()
            .unwrap();
        assert_eq!(min_vol, dec!(120000));
    }
}

//! Extreme inputs must yield values or errors, never panics.

use chrono::{TimeZone, Utc};
use fff_core::{
    CapitalModel, CapitalParams, Direction, DrawdownTracker, FundingInterval, HedgeState,
    MarketSnapshot, PairSelectionParams, RebalanceParams, RiskParams, Symbol, SymbolFilters,
    TierTracker, allocate, decide, delta_drift, scan, size_legs,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Any Decimal, including the extremes of its range and scale.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, negative, scale)| Decimal::from_parts(
                lo, mid, hi, negative, scale
            )),
        Just(Decimal::ZERO),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        (-1_000_000i64..1_000_000, 0u32..10).prop_map(|(n, s)| Decimal::new(n, s)),
    ]
}

fn filters(values: &[Decimal]) -> SymbolFilters {
    SymbolFilters {
        tick_size: values[0],
        step_size: values[1],
        min_qty: values[2],
        max_qty: values[3],
        market_step_size: values[4],
        min_notional: values[5],
    }
}

proptest! {
    #[test]
    fn scan_never_panics(v in proptest::collection::vec(any_decimal(), 9), interval in 1u32..100) {
        let snapshot = MarketSnapshot {
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            funding_rate: v[0],
            funding_interval: FundingInterval::from_hours(interval).unwrap(),
            volume_24h_usd: v[1],
            best_bid: v[2],
            best_ask: v[3],
            open_interest_usd: v[4],
            margin_enabled: true,
            borrow_rate_hourly: v[5],
            funding_history: v[6..].to_vec(),
        };
        let _ = scan(&[snapshot], &PairSelectionParams::default());
    }

    #[test]
    fn sizing_and_rebalance_never_panic(v in proptest::collection::vec(any_decimal(), 18)) {
        let spot = filters(&v[0..6]);
        let perp = filters(&v[6..12]);
        let _ = size_legs(v[12], v[13], &spot, &perp);
        let _ = delta_drift(v[14], v[15]);
        let _ = fff_core::twap_slices(v[12], v[13], v[1], &fff_core::ExecutionParams::default());
        let state = HedgeState {
            symbol: Symbol::parse("ETHUSDT").unwrap(),
            direction: Direction::NegativeCarry,
            spot_qty: v[14],
            perp_qty: v[15],
            mark_price: v[16],
            funding_rate: v[17],
            funding_interval: FundingInterval::EIGHT_HOURS,
            borrow_rate_hourly: v[12],
            new_entries_allowed: true,
        };
        let _ = decide(&state, &spot, &perp, &RebalanceParams::default(), &PairSelectionParams::default());
    }

    #[test]
    fn risk_trackers_and_allocation_never_panic(v in proptest::collection::vec(any_decimal(), 6)) {
        let risk = RiskParams::default();
        let mut tiers = TierTracker::new();
        let mut drawdown = DrawdownTracker::new(&risk);
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for (i, value) in v.iter().enumerate() {
            tiers.observe(*value, &risk);
            let _ = drawdown.observe(start + chrono::Duration::hours(i as i64), *value, &risk);
        }
        let model = CapitalModel::new(&CapitalParams::default(), &risk).unwrap();
        let _ = allocate(v[0], &[(Symbol::parse("BTCUSDT").unwrap(), Direction::NegativeCarry)], &model, 3);
    }
}

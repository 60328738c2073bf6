//! scan → allocate → size legs → rebalance, with the design defaults.

use fff_core::{
    Action, CapitalModel, CapitalParams, FundingInterval, HedgeState, MarketSnapshot,
    PairSelectionParams, RebalanceParams, RiskParams, Symbol, SymbolFilters, allocate, decide,
    delta_drift, ranked_pairs, scan, size_legs,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn snapshot(symbol: &str, funding: Decimal, price: Decimal) -> MarketSnapshot {
    MarketSnapshot {
        symbol: Symbol::parse(symbol).unwrap(),
        funding_rate: funding,
        funding_interval: FundingInterval::EIGHT_HOURS,
        volume_24h_usd: dec!(2_000_000_000),
        best_bid: price,
        best_ask: price * dec!(1.00005),
        open_interest_usd: dec!(900_000_000),
        margin_enabled: true,
        borrow_rate_hourly: dec!(0.000005),
        funding_history: vec![funding; 6],
    }
}

fn filters(step: Decimal) -> SymbolFilters {
    SymbolFilters {
        tick_size: dec!(0.01),
        step_size: step,
        min_qty: step,
        max_qty: dec!(1_000_000),
        market_step_size: step,
        min_notional: dec!(5),
    }
}

fn market() -> Vec<MarketSnapshot> {
    vec![
        snapshot("BTCUSDT", dec!(0.0004), dec!(100_000)),
        snapshot("ETHUSDT", dec!(0.0003), dec!(3_500)),
        snapshot("SOLUSDT", dec!(-0.0005), dec!(180)),
        snapshot("XRPUSDT", dec!(0.00005), dec!(2.5)), // fails funding
    ]
}

#[test]
fn pipeline_sizes_hedges_that_need_no_rebalance() {
    let selection = PairSelectionParams::default();
    let capital = CapitalParams::default();
    let snapshots = market();
    let evaluations = scan(&snapshots, &selection);
    let ranked = ranked_pairs(&evaluations, selection.max_pairs);
    assert_eq!(ranked.len(), 3);
    let model = CapitalModel::new(&capital, &RiskParams::default()).unwrap();
    let allocation = allocate(dec!(100_000), &ranked, &model, selection.max_pairs).unwrap();
    assert_eq!(allocation.targets.len(), 3);
    assert!(!allocation.below_min_utilization);

    for target in &allocation.targets {
        let snap = snapshots
            .iter()
            .find(|s| s.symbol == target.symbol)
            .unwrap();
        let legs = size_legs(
            target.notional,
            snap.best_ask,
            &filters(dec!(0.0001)),
            &filters(dec!(0.001)),
        )
        .unwrap();
        assert!(legs.notional <= target.notional);
        let direction = snap.direction().unwrap();
        let sign = |side| {
            if side == fff_core::Side::Buy {
                Decimal::ONE
            } else {
                -Decimal::ONE
            }
        };
        let state = HedgeState {
            symbol: target.symbol.clone(),
            direction,
            spot_qty: sign(direction.spot_entry_side()) * legs.spot_qty,
            perp_qty: sign(direction.perp_entry_side()) * legs.perp_qty,
            mark_price: snap.best_ask,
            funding_rate: snap.funding_rate,
            funding_interval: snap.funding_interval,
            borrow_rate_hourly: snap.borrow_rate_hourly,
            new_entries_allowed: true,
        };
        assert_eq!(delta_drift(state.spot_qty, state.perp_qty), Decimal::ZERO);
        let decision = decide(
            &state,
            &filters(dec!(0.0001)),
            &filters(dec!(0.001)),
            &RebalanceParams::default(),
            &selection,
        );
        assert_eq!(decision.action, Action::None, "{decision:?}");
    }
}

proptest! {
    #[test]
    fn sized_capital_stays_within_equity_minus_reserve(equity in 1_000i64..50_000_000) {
        let capital = CapitalParams::default();
        let model = CapitalModel::new(&capital, &RiskParams::default()).unwrap();
        let equity = Decimal::from(equity);
        let snapshots = market();
        let ranked = ranked_pairs(&scan(&snapshots, &PairSelectionParams::default()), 10);
        let allocation = allocate(equity, &ranked, &model, 10).unwrap();
        let mut used = Decimal::ZERO;
        for target in &allocation.targets {
            let price = snapshots.iter().find(|s| s.symbol == target.symbol).unwrap().best_ask;
            if let Ok(legs) = size_legs(target.notional, price, &filters(dec!(0.0001)), &filters(dec!(0.001))) {
                used += model.hedge_capital(legs.notional, target.direction).unwrap().total();
            }
        }
        prop_assert!(used <= equity * (Decimal::ONE - capital.reserve_ratio));
        prop_assert!(used <= equity * capital.target_utilization);
    }
}

//! Borrow realism: assets without borrow data are not shortable unless assumed borrowable;
//! `borrow_rate_multiplier` scales every borrow rate.

use fff_backtest::engine::book::TradeKind;
use fff_backtest::synth::{EPOCH_2024_MS, dataset, listed, symbol};
use fff_backtest::{Backtest, BacktestConfig, CostModel};
use fff_core::Direction;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Negative carry only: -9 bp per 8 h on XUSDT.
fn negative_market() -> fff_backtest::Dataset {
    dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 20, 8, |_| {
        dec!(-0.0009)
    }))])
}

fn config() -> BacktestConfig {
    BacktestConfig {
        backtest: CostModel {
            default_borrow_daily_rate: dec!(0.0003),
            ..CostModel::free()
        },
        ..BacktestConfig::default()
    }
}

#[test]
fn an_asset_without_borrow_data_is_not_shorted_unless_assumed_borrowable() {
    let run = Backtest::from_config(config())
        .run(&negative_market())
        .unwrap();
    assert!(run.book.trades.is_empty(), "{:?}", run.book.trades);

    let mut assumed = config();
    assumed.backtest.assume_margin_for_unknown_assets = true;
    let run = Backtest::from_config(assumed)
        .run(&negative_market())
        .unwrap();
    assert_eq!(run.book.trades[0].kind, TradeKind::Open);
    assert_eq!(run.book.trades[0].direction, Direction::NegativeCarry);
    assert!(run.book.ledgers[0].borrow > Decimal::ZERO);
}

#[test]
fn the_borrow_multiplier_scales_borrow_cost() {
    let mut base = config();
    base.backtest
        .borrow_daily_rate
        .insert("X".to_string(), dec!(0.0002));
    let one = Backtest::from_config(base.clone())
        .run(&negative_market())
        .unwrap();
    let mut doubled = base;
    doubled.backtest.borrow_rate_multiplier = dec!(2);
    let two = Backtest::from_config(doubled)
        .run(&negative_market())
        .unwrap();
    let (a, b) = (&one.book.ledgers[0], &two.book.ledgers[0]);
    assert!(a.borrow > Decimal::ZERO);
    assert_eq!(
        a.hours_held, b.hours_held,
        "same holding, only the rate differs"
    );
    // Same hedge (negative carry at the same size): twice the rate, twice the interest, up
    // to the rounding of accrual on a drifting notional.
    let ratio = b.borrow / a.borrow;
    assert!((ratio - dec!(2)).abs() < dec!(0.01), "ratio {ratio}");
}

//! The capital model a real account can carry, replayed: both wallets, transfers, liquidation
//! at the day's extremes, spot-market evidence, USDT interest, notional against equity.

use fff_backtest::engine::book::TradeKind;
use fff_backtest::engine::replay::RunOutput;
use fff_backtest::metrics::compute;
use fff_backtest::synth::{EPOCH_2024_MS, bars, dataset, listed, random_market, symbol, with_spot};
use fff_backtest::{Backtest, BacktestConfig, CostModel};
use fff_core::{CapitalModel, Direction};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal_macros::dec;

use crate::with_free_borrow;

const DAY: i64 = 86_400_000;

/// Default configuration (costs included), zero borrow for `assets`.
fn config(assets: &[&str]) -> BacktestConfig {
    with_free_borrow(BacktestConfig::default(), assets)
}

fn liquidations(run: &RunOutput) -> Vec<&fff_backtest::engine::book::Trade> {
    run.book
        .trades
        .iter()
        .filter(|t| t.kind == TradeKind::Liquidation)
        .collect()
}

/// X: positive funding, flat closes at 100; on day 10 the perp (and spot) trade up to `high`
/// intraday and close at 100 again.
fn wick_market(high: Decimal) -> fff_backtest::Dataset {
    let x = symbol("XUSDT", EPOCH_2024_MS, 30, 8, |_| dec!(0.0003));
    let with_wick = |mut b: Vec<fff_backtest::data::DailyBar>| {
        b[10].high = high;
        b
    };
    let mut x = with_spot(x, with_wick(bars(EPOCH_2024_MS, 30, |_| dec!(100), None)));
    x.perp = with_wick(bars(
        EPOCH_2024_MS,
        30,
        |_| dec!(100),
        Some(dec!(1_000_000_000)),
    ));
    dataset(vec![x])
}

#[test]
fn an_intraday_high_liquidates_the_short_perp_though_every_close_is_flat() {
    // One pair gets 30 % of equity in capital: about 0.24 x equity of notional. Its futures
    // wallet holds its need plus a share of the free equity, and at the extreme the wallet
    // keeper adds all the spare cash of the spot side (about 3 x the notional in all here):
    // a +400 % wick (DOGE did that on 2021-01-28) still wipes it out; the closes never move.
    let control = Backtest::from_config(config(&["X"]))
        .run(&wick_market(dec!(100)))
        .unwrap();
    assert!(liquidations(&control).is_empty());
    let coverage = control.book.health.min_futures_coverage.unwrap();
    assert!(coverage > dec!(20), "{coverage}");

    let run = Backtest::from_config(config(&["X"]))
        .run(&wick_market(dec!(500)))
        .unwrap();
    let liquidated = liquidations(&run);
    assert_eq!(liquidated.len(), 1, "{:#?}", run.book.trades);
    assert_eq!(liquidated[0].time_ms, EPOCH_2024_MS + 11 * DAY);
    assert_eq!(liquidated[0].direction, Direction::PositiveCarry);
    let ledger = &run.book.ledgers[0];
    assert_eq!(ledger.liquidations, 1);
    assert!(ledger.liquidation > Decimal::ZERO);
    assert!(run.book.health.min_futures_coverage.unwrap() <= Decimal::ONE);
    // Booked honestly: equity is still the initial capital plus every item.
    let diff = run.book.equity() - (run.book.initial_capital + ledger.net());
    assert!(diff.abs() < dec!(0.000001), "{diff}");
    let metrics = compute(&run);
    assert_eq!(metrics.flows.liquidations, 1);
    // The strategy may re-enter after the liquidation; the wick day itself is checked.
    assert!(run.book.health.checked_days > 0);
}

#[test]
fn wallets_are_funded_by_transfers_and_always_sum_to_equity() {
    let mut data = random_market(4, 60, 11);
    data.symbols.truncate(4);
    let mut config = BacktestConfig::default();
    config.backtest.assume_margin_for_unknown_assets = true;
    let run = Backtest::from_config(config.clone()).run(&data).unwrap();
    let book = &run.book;
    assert!(book.transfers.count > 0);
    assert!(book.transfers.to_futures > 0);
    assert_eq!(book.equity(), book.wallets.spot_side + book.wallets.futures);
    let totals = fff_backtest::engine::replay::total_ledger(&book.ledgers);
    let diff = book.equity() - (book.initial_capital + totals.net());
    assert!(diff.abs() < dec!(0.000001), "{diff}");
    // Utilisation is fff-core's: capital of both legs over equity, and never above 1.
    let metrics = compute(&run);
    assert!(
        metrics.capital_utilization > 0.3,
        "{}",
        metrics.capital_utilization
    );
    assert!(run.hourly.iter().all(|h| h.utilization <= 1.0));
    let per_unit = CapitalModel::new(&config.capital, &config.risk)
        .unwrap()
        .per_unit(Direction::PositiveCarry)
        .total()
        .to_f64()
        .unwrap();
    for h in &run.hourly {
        // capital per unit of notional is 1.23 (positive) to 1.38 (negative carry)
        assert!(h.utilization + 1e-9 >= h.notional_to_equity * per_unit);
    }
    assert_eq!(metrics.transfers, book.transfers.count);
}

#[test]
fn max_notional_to_equity_stays_at_or_below_070_at_the_defaults() {
    // Twelve generated symbols over a year (noisy funding with regime changes, random-walk
    // prices with intraday ranges), every one qualifying at times, both directions.
    let data = random_market(12, 365, 7);
    let mut config = BacktestConfig::default();
    config.backtest.assume_margin_for_unknown_assets = true;
    let comparison = Backtest::from_config(config)
        .compare(&data, |_| {})
        .unwrap();
    let strategy = compute(&comparison.strategy);
    assert!(
        strategy.max_notional_to_equity <= 0.70,
        "{}",
        strategy.max_notional_to_equity
    );
    // ... and it is not vacuous: the book was filled close to the capital budget.
    assert!(
        strategy.max_notional_to_equity > 0.60,
        "{}",
        strategy.max_notional_to_equity
    );
    assert!(comparison.strategy.max_notional_to_equity <= dec!(0.70));
    for baseline in &comparison.baselines {
        let m = compute(baseline);
        assert!(
            m.max_notional_to_equity <= 0.72,
            "{}: {}",
            m.name,
            m.max_notional_to_equity
        );
    }
}

#[test]
fn only_symbols_with_spot_evidence_are_traded_unless_assumed() {
    // A has spot klines from day 5; B has none. Both pay the same attractive funding.
    let a = symbol("AUSDT", EPOCH_2024_MS, 20, 8, |_| dec!(0.0004));
    let a = with_spot(a, bars(EPOCH_2024_MS + 5 * DAY, 15, |_| dec!(10), None));
    let b = symbol("BUSDT", EPOCH_2024_MS, 20, 8, |_| dec!(0.0004));
    let data = dataset(vec![a, b]);
    let run = Backtest::from_config(config(&["A", "B"]))
        .run(&data)
        .unwrap();
    let traded: Vec<&str> = run.book.trades.iter().map(|t| t.symbol.as_str()).collect();
    assert!(traded.iter().all(|s| *s == "AUSDT"), "{traded:?}");
    let first = run.book.trades.first().expect("A is traded");
    // tradable from its first spot bar on, not before
    assert!(first.time_ms >= EPOCH_2024_MS + 5 * DAY);

    let mut assumed = config(&["A", "B"]);
    assumed.backtest.assume_spot_markets = true;
    let run = Backtest::from_config(assumed).run(&data).unwrap();
    assert!(run.book.trades.iter().any(|t| t.symbol == "BUSDT"));
    assert!(
        run.book
            .trades
            .iter()
            .any(|t| t.symbol == "AUSDT" && t.time_ms < EPOCH_2024_MS + 5 * DAY)
    );
}

#[test]
fn baselines_obey_the_spot_evidence_too() {
    // BTCUSDT has no spot evidence: the always-on carry never enters, the rotation and the
    // bound stay in X.
    let data = dataset(vec![
        symbol("BTCUSDT", EPOCH_2024_MS, 10, 8, |_| dec!(0.0005)),
        listed(symbol("XUSDT", EPOCH_2024_MS, 10, 8, |_| dec!(0.0002))),
    ]);
    let mut config = config(&["BTC", "X"]);
    config.backtest = CostModel {
        borrow_daily_rate: config.backtest.borrow_daily_rate.clone(),
        ..CostModel::free()
    };
    let comparison = Backtest::from_config(config)
        .compare(&data, |_| {})
        .unwrap();
    for run in &comparison.baselines {
        assert!(
            run.book.trades.iter().all(|t| t.symbol != "BTCUSDT"),
            "{} traded BTCUSDT",
            run.name
        );
    }
    assert!(comparison.baselines[0].book.trades.is_empty());
}

#[test]
fn usdt_interest_is_paid_only_with_spot_usdt_borrow() {
    let data = dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 20, 8, |_| {
        dec!(0.0003)
    }))]);
    let off = Backtest::from_config(config(&["X"])).run(&data).unwrap();
    assert_eq!(compute(&off).flows.usdt_interest, Decimal::ZERO);

    let mut on = config(&["X"]);
    on.capital.spot_usdt_borrow = true;
    on.backtest.default_usdt_borrow_daily_rate = dec!(0.0003);
    let run = Backtest::from_config(on).run(&data).unwrap();
    let metrics = compute(&run);
    assert!(metrics.flows.usdt_interest > Decimal::ZERO);
    // less cash per hedge: more notional on the same equity than without the loan
    assert!(metrics.max_notional_to_equity > compute(&off).max_notional_to_equity);
    assert!(metrics.min_margin_level.is_some());
}

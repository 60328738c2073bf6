//! Known-answer replays on generated data.

use fff_backtest::engine::book::TradeKind;
use fff_backtest::synth::{EPOCH_2024_MS, bars, dataset, listed, symbol};
use fff_backtest::{Backtest, BacktestConfig};
use fff_core::{CapitalModel, Direction, Symbol, allocate};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::free_config;

const DAY: i64 = 86_400_000;

fn pair_cap(config: &BacktestConfig, name: &str) -> Decimal {
    let symbol = Symbol::parse(name).unwrap();
    let model = CapitalModel::new(&config.capital, &config.risk).unwrap();
    allocate(
        config.backtest.initial_capital,
        &[(symbol, Direction::PositiveCarry)],
        &model,
        config.pair_selection.max_pairs,
    )
    .unwrap()
    .targets[0]
        .notional
}

#[test]
fn constant_funding_without_costs_returns_exactly_the_funding_sum() {
    let rate = dec!(0.0003);
    let data = dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 20, 8, |_| {
        rate
    }))]);
    let config = free_config(&["X"]);
    let run = Backtest::from_config(config.clone()).run(&data).unwrap();
    let book = &run.book;
    let notional = pair_cap(&config, "XUSDT");
    // Entered right after the first settlement, held through the other 59, closed at the end.
    let kinds: Vec<TradeKind> = book.trades.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, vec![TradeKind::Open, TradeKind::Close]);
    assert_eq!(book.trades[0].direction, Direction::PositiveCarry);
    let settlements = Decimal::from(20 * 3 - 1);
    let funding = book.ledgers[0].funding;
    assert_eq!(funding, rate * notional * settlements);
    assert_eq!(book.equity() - book.initial_capital, funding);
    let metrics = fff_backtest::metrics::compute(&run);
    assert_eq!(
        metrics.flows.fees + metrics.flows.borrow_cost + metrics.flows.slippage,
        Decimal::ZERO
    );
    assert!((metrics.flows.win_rate - 1.0).abs() < 1e-12);
}

#[test]
fn funding_sign_flip_triggers_exactly_one_flip() {
    // 9 bp per 8 h: when the 3-settlement signal turns (-3 bp), the flipped hedge's carry over
    // fff-core's holding horizon repays its round trip, so the table flips rather than closes.
    let data = dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 20, 8, |i| {
        if i < 30 { dec!(0.0009) } else { dec!(-0.0009) }
    }))]);
    let run = Backtest::from_config(free_config(&["X"]))
        .run(&data)
        .unwrap();
    let trades = &run.book.trades;
    let flips: Vec<_> = trades
        .iter()
        .filter(|t| t.kind == TradeKind::Flip)
        .collect();
    assert_eq!(flips.len(), 1, "{trades:#?} {:?}", run.stats);
    assert_eq!(flips[0].direction, Direction::NegativeCarry);
    // The flip waits for the 3-settlement signal to turn: settlement 31 (index) at the latest.
    assert!(flips[0].time_ms <= EPOCH_2024_MS + 32 * 8 * 3_600_000);
    assert_eq!(run.book.ledgers[0].flips, 1);
    assert_eq!(trades.first().map(|t| t.kind), Some(TradeKind::Open));
    assert_eq!(trades.last().map(|t| t.kind), Some(TradeKind::Close));
    assert_eq!(trades.len(), 3);
    // Sign conventions both ways: only the two settlements between the sign change and the
    // flip pay against the hedge (short perp paying negative funding); the rest, before and
    // after the flip (long perp receiving negative funding), pay it.
    let ledger = &run.book.ledgers[0];
    assert_eq!(ledger.settlements, 59);
    assert_eq!(ledger.positive_settlements, 57);
}

/// A: hedged from day 0 (30 % of equity in capital, 0.24 x equity of notional); its perp jumps
/// 18 % against the hedge on day 6 (`jump`): a loss of about 4.4 % of equity, past the 4 %
/// halt and short of the 5 % limit, far from liquidating the perp.
/// B: starts settling attractive funding on day 8.
fn halt_market(jump: bool) -> fff_backtest::Dataset {
    let mut a = listed(symbol("AUSDT", EPOCH_2024_MS, 40, 8, |_| dec!(0.0003)));
    a.spot = bars(EPOCH_2024_MS, 40, |_| dec!(100), None);
    a.perp = bars(
        EPOCH_2024_MS,
        40,
        |d| {
            if jump && d >= 5 { dec!(118) } else { dec!(100) }
        },
        Some(dec!(1_000_000_000)),
    );
    let b = listed(symbol("BUSDT", EPOCH_2024_MS + 8 * DAY, 32, 8, |_| {
        dec!(0.0005)
    }));
    dataset(vec![a, b])
}

fn first_open(run: &fff_backtest::engine::replay::RunOutput, name: &str) -> Option<i64> {
    run.book
        .trades
        .iter()
        .find(|t| t.symbol == name && t.kind == TradeKind::Open)
        .map(|t| t.time_ms)
}

#[test]
fn drawdown_halt_stops_new_entries() {
    let mut config = free_config(&["A", "B"]);
    // The perp's jump is an 18 % basis: isolate the halt from the basis exit.
    config.rebalance.basis_exit_threshold = dec!(1);
    let control = Backtest::from_config(config.clone())
        .run(&halt_market(false))
        .unwrap();
    let b_entry = first_open(&control, "BUSDT").expect("B is entered without a drawdown");
    assert!(b_entry < EPOCH_2024_MS + 9 * DAY);
    assert_eq!(control.stats.halts, 0);

    let halted = Backtest::from_config(config)
        .run(&halt_market(true))
        .unwrap();
    assert_eq!(halted.stats.halts, 1);
    assert_eq!(
        halted.stats.limit_breaches, 0,
        "the loss stays below the hard limit"
    );
    // A is kept (halts stop entries, not exits) and B waits until the drawdown heals.
    assert!(
        halted.book.trades.iter().all(|t| t.symbol != "AUSDT"
            || t.kind != TradeKind::Close
            || t.time_ms >= halted.end_ms)
    );
    let b_halted = first_open(&halted, "BUSDT");
    assert!(
        b_halted.is_none_or(|t| t > EPOCH_2024_MS + 15 * DAY),
        "B entered at {b_halted:?} while entries were halted"
    );
    let a = &halted.book.ledgers[0];
    assert!(a.basis < Decimal::ZERO);
}

#[test]
fn costs_decide_the_sign() {
    // 3 bp per 8 h is admitted (0.63 % over the one-week horizon against a 0.38 % round
    // trip and the 0.2 % admission margin) but cannot pay the round trip within the three days
    // the data lasts.
    let data = dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 3, 8, |_| {
        dec!(0.0003)
    }))]);
    let mut config = BacktestConfig::default();
    config
        .backtest
        .borrow_daily_rate
        .insert("X".into(), Decimal::ZERO);
    let run = Backtest::from_config(config).run(&data).unwrap();
    let ledger = &run.book.ledgers[0];
    assert!(ledger.funding > Decimal::ZERO);
    assert!(run.book.equity() < run.book.initial_capital);
    assert_eq!(run.book.equity(), run.book.initial_capital + ledger.net());
}

#[test]
fn baselines_and_bound_run_on_the_same_data() {
    let data = dataset(vec![
        listed(symbol("BTCUSDT", EPOCH_2024_MS, 10, 8, |_| dec!(0.0001))),
        listed(symbol("XUSDT", EPOCH_2024_MS, 10, 4, |i| {
            if i % 12 < 6 {
                dec!(0.0004)
            } else {
                dec!(-0.0002)
            }
        })),
    ]);
    let comparison = Backtest::from_config(free_config(&["BTC", "X"]))
        .compare(&data, |_| {})
        .unwrap();
    let names: Vec<&str> = comparison
        .baselines
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "always-on BTCUSDT carry",
            "naive top-1 rotation",
            "perfect foresight (bound)"
        ]
    );
    let bound = &comparison.baselines[2];
    // Hindsight never collects less funding than the always-on carry of the same capital cap.
    assert!(
        bound
            .book
            .ledgers
            .iter()
            .map(|l| l.funding)
            .sum::<Decimal>()
            > Decimal::ZERO
    );
    let btc = &comparison.baselines[0];
    assert_eq!(btc.book.trades.len(), 2, "enter once, close at the end");
}

#[test]
fn a_leg_whose_series_ends_books_no_basis() {
    // Both legs trend together (+1 %/day, no basis); the perp klines stop after day 10.
    let mut x = listed(symbol("XUSDT", EPOCH_2024_MS, 20, 8, |_| dec!(0.0003)));
    let price = |d: i64| dec!(100) * (Decimal::ONE + dec!(0.01) * Decimal::from(d));
    x.spot = bars(EPOCH_2024_MS, 20, price, None);
    x.perp = bars(EPOCH_2024_MS, 10, price, Some(dec!(1_000_000_000)));
    let run = Backtest::from_config(free_config(&["X"]))
        .run(&dataset(vec![x]))
        .unwrap();
    let ledger = &run.book.ledgers[0];
    assert_eq!(ledger.basis, Decimal::ZERO);
    assert!(ledger.funding > Decimal::ZERO);
    // The two wallets round separately at Decimal's 28 digits (the legs' marks are scaled
    // prices): equal to far below a cent.
    let diff = run.book.equity() - (run.book.initial_capital + ledger.funding);
    assert!(diff.abs() < dec!(0.000000000001), "{diff}");
}

#[test]
fn window_start_trades_from_day_one_with_warm_up_history() {
    let data_dir = tempfile::tempdir().unwrap();
    let funding = data_dir.path().join("funding");
    std::fs::create_dir_all(&funding).unwrap();
    let mut text = String::from("symbol,fundingTime,fundingRate,markPrice\n");
    for i in 0..(40 * 3) {
        text.push_str(&format!(
            "XUSDT,{},0.0003,\n",
            EPOCH_2024_MS + i * 8 * 3_600_000
        ));
    }
    std::fs::write(funding.join("XUSDT.csv"), text).unwrap();
    // No spot klines: the listing file is the spot market's evidence.
    std::fs::write(
        data_dir.path().join("spot_markets.csv"),
        "symbol,listed,delisted\nXUSDT,2023-06-01,\n",
    )
    .unwrap();
    let from = chrono::NaiveDate::from_ymd_opt(2024, 1, 21).unwrap();
    let range = fff_backtest::DateRange::from_dates(Some(from), None);
    let data = fff_backtest::load_dataset(data_dir.path(), range).unwrap();
    let run = Backtest::from_config(free_config(&["X"]))
        .run(&data)
        .unwrap();
    let from_ms = EPOCH_2024_MS + 20 * DAY;
    assert_eq!(run.start_ms, from_ms);
    // The warm-up settlements are known, so the hedge opens in the first hour of the window.
    assert_eq!(run.book.trades.first().map(|t| t.time_ms), Some(from_ms));
    assert_eq!(run.book.ledgers[0].settlements, 20 * 3 - 1);
}

//! The rebalancer's hedge context and the drawdown-limit directive, replayed on generated
//! data: reversal hysteresis, the basis-divergence exit, de-risking at the drawdown limit.

use fff_backtest::engine::book::TradeKind;
use fff_backtest::engine::replay::RunOutput;
use fff_backtest::synth::{EPOCH_2024_MS, bars, dataset, listed, symbol};
use fff_backtest::{Backtest, BacktestConfig};
use fff_core::drawdown::DrawdownLimitAction;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::free_config;

const DAY: i64 = 86_400_000;

fn kinds(run: &RunOutput, name: &str) -> Vec<(TradeKind, i64)> {
    run.book
        .trades
        .iter()
        .filter(|t| t.symbol == name)
        .map(|t| (t.kind, t.time_ms))
        .collect()
}

fn reason_count(run: &RunOutput, reason: &str) -> u64 {
    run.stats
        .actions_by_reason
        .get(reason)
        .copied()
        .unwrap_or(0)
}

/// 9 bp per 8 h, except settlements `against` (indices) at -30 bp.
fn reversal_market(against: &'static [usize]) -> fff_backtest::Dataset {
    dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 20, 8, |i| {
        if against.contains(&i) {
            dec!(-0.003)
        } else {
            dec!(0.0009)
        }
    }))])
}

#[test]
fn a_one_settlement_reversal_does_not_flip() {
    // One settlement at -30 bp turns the 3-settlement signal to -4 bp per 8 h: against the
    // hedge, but below `reversal_predicted_threshold` (5 bp) and settled against only once
    // (`reversal_settlements` = 2): held through.
    let run = Backtest::from_config(free_config(&["X"]))
        .run(&reversal_market(&[30]))
        .unwrap();
    let trades = kinds(&run, "XUSDT");
    assert_eq!(trades.len(), 2, "{trades:?}");
    assert_eq!(trades[0].0, TradeKind::Open);
    assert_eq!(trades[1], (TradeKind::Close, run.end_ms));
    assert!(reason_count(&run, "hold: ReversalNotPersisted") > 0);

    // The same signal without hysteresis (`reversal_settlements` = 1) acts on the reversal.
    let mut eager = free_config(&["X"]);
    eager.rebalance.reversal_settlements = 1;
    let run = Backtest::from_config(eager)
        .run(&reversal_market(&[30]))
        .unwrap();
    let trades = kinds(&run, "XUSDT");
    assert!(trades.len() > 2, "{trades:?}");
}

#[test]
fn a_persisted_reversal_still_acts() {
    // Two settlements in a row against the hedge: the reversal has persisted.
    let run = Backtest::from_config(free_config(&["X"]))
        .run(&reversal_market(&[30, 31]))
        .unwrap();
    let trades = kinds(&run, "XUSDT");
    assert!(trades.len() > 2, "{trades:?}");
    let acted = run
        .stats
        .actions_by_reason
        .keys()
        .any(|k| k.ends_with("FundingReversed"));
    assert!(acted, "{:?}", run.stats.actions_by_reason);
}

/// One pair with both legs' daily closes at 100; from day `from` the perp closes at `perp`.
fn basis_market(from: i64, perp: Decimal) -> fff_backtest::Dataset {
    let mut a = listed(symbol("AUSDT", EPOCH_2024_MS, 20, 8, |_| dec!(0.0005)));
    a.spot = bars(EPOCH_2024_MS, 20, |_| dec!(100), Some(dec!(1_000_000_000)));
    a.perp = bars(
        EPOCH_2024_MS,
        20,
        |d| if d >= from { perp } else { dec!(100) },
        Some(dec!(1_000_000_000)),
    );
    dataset(vec![a])
}

#[test]
fn a_basis_break_closes_the_hedge_and_blocks_re_entry() {
    let config = free_config(&["A"]);
    // 0.4 % stays inside `basis_exit_threshold` (0.5 %): held to the end.
    let calm = Backtest::from_config(config.clone())
        .run(&basis_market(5, dec!(100.4)))
        .unwrap();
    let trades = kinds(&calm, "AUSDT");
    assert_eq!(trades.len(), 2, "{trades:?}");
    assert_eq!(reason_count(&calm, "close: BasisDivergence"), 0);

    // 1 % from day 5 on: closed on the first close that shows it, not re-entered after.
    let broken = Backtest::from_config(config)
        .run(&basis_market(5, dec!(101)))
        .unwrap();
    let trades = kinds(&broken, "AUSDT");
    assert_eq!(trades.len(), 2, "{trades:?}");
    assert_eq!(trades[0].0, TradeKind::Open);
    assert_eq!(trades[1].0, TradeKind::Close);
    // Day 5's bar closes at the start of day 6.
    assert!(trades[1].1 >= EPOCH_2024_MS + 6 * DAY);
    assert!(trades[1].1 < EPOCH_2024_MS + 7 * DAY, "{trades:?}");
    assert_eq!(reason_count(&broken, "close: BasisDivergence"), 1);

    // The basis closes again on day 10: the pair is entered again.
    let mut a = basis_market(5, dec!(101));
    a.symbols[0].perp = bars(
        EPOCH_2024_MS,
        20,
        |d| {
            if (5..10).contains(&d) {
                dec!(101)
            } else {
                dec!(100)
            }
        },
        Some(dec!(1_000_000_000)),
    );
    let healed = Backtest::from_config(free_config(&["A"])).run(&a).unwrap();
    let opens = kinds(&healed, "AUSDT")
        .iter()
        .filter(|(k, _)| *k == TradeKind::Open)
        .count();
    assert_eq!(opens, 2);
}

/// A: hedged from day 0; its perp jumps 30 % against the hedge on day 6 (spot unchanged), a
/// loss past the 5 % `max_monthly_drawdown`. B: a second hedge, also from day 0.
fn limit_market() -> fff_backtest::Dataset {
    let mut a = listed(symbol("AUSDT", EPOCH_2024_MS, 40, 8, |_| dec!(0.0003)));
    a.spot = bars(EPOCH_2024_MS, 40, |_| dec!(100), None);
    a.perp = bars(
        EPOCH_2024_MS,
        40,
        |d| if d >= 5 { dec!(130) } else { dec!(100) },
        Some(dec!(1_000_000_000)),
    );
    let b = listed(symbol("BUSDT", EPOCH_2024_MS, 40, 8, |_| dec!(0.0003)));
    dataset(vec![a, b])
}

fn limit_config(action: DrawdownLimitAction) -> BacktestConfig {
    let mut config = free_config(&["A", "B"]);
    // Isolate the drawdown limit from the basis exit the jump would also trigger.
    config.rebalance.basis_exit_threshold = dec!(1);
    config.risk.drawdown_limit_action = action;
    config
}

#[test]
fn the_drawdown_limit_de_risks_by_the_configured_action() {
    let data = limit_market();
    let jump = EPOCH_2024_MS + 6 * DAY;
    let held_to_end = |run: &RunOutput, name: &str| {
        run.book
            .trades
            .iter()
            .filter(|t| t.symbol == name && t.kind == TradeKind::Close)
            .all(|t| t.time_ms >= run.end_ms)
    };

    let halt_only = Backtest::from_config(limit_config(DrawdownLimitAction::HaltOnly))
        .run(&data)
        .unwrap();
    assert_eq!(halt_only.stats.limit_breaches, 1);
    assert_eq!(halt_only.stats.limit_actions, 0);
    assert!(held_to_end(&halt_only, "AUSDT") && held_to_end(&halt_only, "BUSDT"));

    let close_all = Backtest::from_config(limit_config(DrawdownLimitAction::CloseAll))
        .run(&data)
        .unwrap();
    assert_eq!(close_all.stats.limit_breaches, 1);
    assert_eq!(close_all.stats.limit_actions, 1);
    let closes: Vec<_> = close_all
        .book
        .trades
        .iter()
        .filter(|t| t.kind == TradeKind::Close && t.time_ms < close_all.end_ms)
        .collect();
    assert_eq!(closes.len(), 2, "both hedges closed at the breach");
    assert!(
        closes
            .iter()
            .all(|t| t.time_ms >= jump && t.time_ms < jump + DAY)
    );
    // Exit priority: B earns less (2 bp against A's 3 bp) so it goes first.
    assert_eq!(closes[0].symbol, "BUSDT");
    assert_eq!(
        reason_count(&close_all, "close: drawdown limit (close_all)"),
        2
    );

    let reduce = Backtest::from_config(limit_config(DrawdownLimitAction::Reduce))
        .run(&data)
        .unwrap();
    assert_eq!(reduce.stats.limit_actions, 1);
    let cuts: Vec<_> = reduce
        .book
        .trades
        .iter()
        .filter(|t| t.time_ms >= jump && t.time_ms < jump + DAY)
        .collect();
    assert_eq!(cuts.len(), 2, "both hedges cut at the breach: {cuts:?}");
    assert!(cuts.iter().all(|t| t.kind != TradeKind::Close));
}

#[test]
fn urgent_exits_pay_taker_and_staged_exits_fill_partly_as_maker() {
    let mut config = BacktestConfig::default();
    config
        .backtest
        .borrow_daily_rate
        .insert("A".to_string(), Decimal::ZERO);
    let rate = |run: &RunOutput| {
        let close = run
            .book
            .trades
            .iter()
            .find(|t| t.kind == TradeKind::Close)
            .expect("a close");
        close.cost / close.notional
    };
    // The basis break is urgent: taker fee on both legs plus slippage on all of it.
    let broken = Backtest::from_config(config.clone())
        .run(&basis_market(5, dec!(101)))
        .unwrap();
    let c = &config.backtest;
    let urgent = rate(&broken);
    // cost / (spot + perp notional), the legs at 100 and 101.
    let expected = (dec!(100) * (c.spot_taker_fee + c.slippage)
        + dec!(101) * (c.futures_taker_fee + c.slippage))
        / dec!(201);
    assert!(
        (urgent - expected).abs() < dec!(0.0000001),
        "{urgent} vs {expected}"
    );
    // The close at the end of the run is staged: 30 % maker, no slippage on that part.
    let calm = Backtest::from_config(config.clone())
        .run(&basis_market(5, dec!(100)))
        .unwrap();
    let (spot, perp, slip) = c.exit_rates(false);
    let staged = (spot + perp) / dec!(2) + slip;
    let got = rate(&calm);
    assert!((got - staged).abs() < dec!(0.0000001), "{got} vs {staged}");
    assert!(got < urgent);
}

#[test]
fn walk_forward_chains_test_windows_with_grid_parameters() {
    use fff_backtest::walkforward::{GRID, WalkForwardSpec, walk_forward, yearly_returns};
    let data = dataset(vec![listed(symbol("XUSDT", EPOCH_2024_MS, 60, 8, |_| {
        dec!(0.0003)
    }))]);
    let spec: WalkForwardSpec = "20d:10d".parse().unwrap();
    let wf = walk_forward(&free_config(&["X"]), &data, spec).unwrap();
    assert_eq!(wf.windows.len(), 4);
    for (i, w) in wf.windows.iter().enumerate() {
        assert_eq!(w.test_from_ms, EPOCH_2024_MS + (20 + 10 * i as i64) * DAY);
        assert_eq!(w.train_from_ms, w.test_from_ms - 20 * DAY);
        assert!(GRID.contains(&w.cell));
        // Free trading of a constant positive rate: every test part earns.
        assert!(w.test_return > 0.0, "{w:?}");
    }
    // The chained curve compounds the test parts.
    let chained: f64 = wf.windows.iter().map(|w| 1.0 + w.test_return).product();
    let last = wf.equity.last().unwrap().equity;
    assert!((last - chained).abs() < 1e-9, "{last} vs {chained}");
    assert!(wf.equity.first().unwrap().time_ms >= EPOCH_2024_MS + 20 * DAY);
    assert_eq!(yearly_returns(&wf.equity).len(), 1);
}

//! The human report (`report.md`) and the data-coverage notes it starts with.

mod coverage;

pub use coverage::coverage_notes;

use std::fmt::Write as _;

use rust_decimal::Decimal;

use crate::config::BacktestConfig;
use crate::data::{Dataset, format_day};
use crate::engine::replay::RunOutput;
use crate::metrics::Metrics;

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

fn money(x: Decimal) -> String {
    format!("{:.2}", x.round_dp(2))
}

fn f2(x: f64) -> String {
    format!("{x:.2}")
}

fn opt_f2(x: Option<f64>) -> String {
    x.map_or("n/a".to_string(), f2)
}

/// Renders one cell of a metrics row.
type Cell = Box<dyn Fn(&Metrics) -> String>;

/// The metrics table rows shared by the headline and split sections.
fn metrics_table(out: &mut String, runs: &[&Metrics]) {
    let _ = write!(out, "| metric |");
    for m in runs {
        let _ = write!(out, " {} |", m.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in runs {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    let rows: Vec<(&str, Cell)> = vec![
        ("annual return (CAGR)", Box::new(|m| pct(m.annual_return))),
        ("total return", Box::new(|m| pct(m.total_return))),
        ("Sharpe", Box::new(|m| f2(m.sharpe))),
        ("Sortino", Box::new(|m| m.sortino.map_or("n/a".into(), f2))),
        ("max drawdown", Box::new(|m| pct(m.max_drawdown))),
        (
            "worst month drawdown",
            Box::new(|m| pct(m.worst_month_drawdown)),
        ),
        (
            "capital utilization (both legs)",
            Box::new(|m| pct(m.capital_utilization)),
        ),
        (
            "utilization while a hedge is held",
            Box::new(|m| pct(m.invested_utilization)),
        ),
        (
            "share of hours with no hedge",
            Box::new(|m| pct(m.idle_share)),
        ),
        (
            "max notional / equity",
            Box::new(|m| format!("{:.3}", m.max_notional_to_equity)),
        ),
        (
            "min futures margin coverage",
            Box::new(|m| opt_f2(m.min_futures_margin_coverage)),
        ),
        (
            "min cross-margin level",
            Box::new(|m| opt_f2(m.min_margin_level)),
        ),
        ("wallet transfers", Box::new(|m| m.transfers.to_string())),
        ("USDT transferred", Box::new(|m| money(m.transferred_usdt))),
        (
            "win rate (funding periods)",
            Box::new(|m| pct(m.flows.win_rate)),
        ),
        (
            "avg daily return",
            Box::new(|m| format!("{:.4} %", m.avg_daily_return * 100.0)),
        ),
        (
            "funding income",
            Box::new(|m| money(m.flows.funding_income)),
        ),
        ("borrow cost", Box::new(|m| money(m.flows.borrow_cost))),
        ("USDT interest", Box::new(|m| money(m.flows.usdt_interest))),
        ("fees", Box::new(|m| money(m.flows.fees))),
        ("slippage", Box::new(|m| money(m.flows.slippage))),
        ("basis P&L", Box::new(|m| money(m.flows.basis_pnl))),
        (
            "liquidations (forfeited margin)",
            Box::new(|m| {
                format!(
                    "{} ({})",
                    m.flows.liquidations,
                    money(m.flows.liquidation_loss)
                )
            }),
        ),
        ("trades", Box::new(|m| m.flows.trades.to_string())),
        ("flips", Box::new(|m| m.flows.flips.to_string())),
        ("turnover (USDT)", Box::new(|m| money(m.flows.turnover))),
        (
            "turnover / mean equity / yr",
            Box::new(|m| f2(m.turnover_per_year)),
        ),
        ("final equity", Box::new(|m| money(m.final_equity))),
    ];
    for (label, cell) in rows {
        let _ = write!(out, "| {label} |");
        for m in runs {
            let _ = write!(out, " {} |", cell(m));
        }
        out.push('\n');
    }
}

/// One per-year figure side by side.
fn yearly_comparison(
    out: &mut String,
    runs: &[&Metrics],
    value: fn(&crate::metrics::YearMetrics) -> f64,
) {
    let _ = write!(out, "| year |");
    for m in runs {
        let _ = write!(out, " {} |", m.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in runs {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    let mut years: Vec<i32> = runs
        .iter()
        .flat_map(|m| m.per_year.iter().map(|y| y.year))
        .collect();
    years.sort_unstable();
    years.dedup();
    for year in years {
        let _ = write!(out, "| {year} |");
        for m in runs {
            let cell = m
                .per_year
                .iter()
                .find(|y| y.year == year)
                .map_or("–".to_string(), |y| pct(value(y)));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
}

fn per_year_detail(out: &mut String, m: &Metrics) {
    out.push_str("| year | return | max DD | worst month DD | Sharpe | utilization | utilization while held | hours with no hedge | max notional/equity | win rate | funding | borrow + USDT interest | fees+slippage | basis | liquidations | transfers | trades |\n");
    out.push_str(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for y in &m.per_year {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} |",
            y.year,
            pct(y.return_pct),
            pct(y.max_drawdown),
            pct(y.worst_month_drawdown),
            f2(y.sharpe),
            pct(y.capital_utilization),
            pct(y.invested_utilization),
            pct(y.idle_share),
            y.max_notional_to_equity,
            pct(y.flows.win_rate),
            money(y.flows.funding_income),
            money(y.flows.borrow_cost + y.flows.usdt_interest),
            money(y.flows.fees + y.flows.slippage),
            money(y.flows.basis_pnl),
            y.flows.liquidations,
            y.transfers,
            y.flows.trades
        );
    }
}

fn pair_table(out: &mut String, run: &RunOutput, dataset: &Dataset) {
    out.push_str("| pair | days held | funding | borrow + USDT interest | fees+slippage | basis | liquidations | net | trades | flips | win rate |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut rows: Vec<(usize, &crate::engine::book::PairLedger)> = run
        .book
        .ledgers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trades > 0)
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.net()));
    for (index, l) in rows {
        let name = dataset
            .symbols
            .get(index)
            .map_or("?", |s| s.symbol.as_str());
        let win = if l.settlements == 0 {
            0.0
        } else {
            l.positive_settlements as f64 / l.settlements as f64
        };
        let _ = writeln!(
            out,
            "| {name} | {:.1} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
            l.hours_held as f64 / 24.0,
            money(l.funding),
            money(l.borrow + l.usdt_interest),
            money(l.fees + l.slippage),
            money(l.basis),
            l.liquidations,
            money(l.liquidation),
            money(l.net()),
            l.trades,
            l.flips,
            pct(win)
        );
    }
}

/// Inputs of one report.
pub struct ReportInput<'a> {
    pub command: &'a str,
    pub dataset: &'a Dataset,
    pub config: &'a BacktestConfig,
    pub strategy: &'a RunOutput,
    pub metrics: &'a [Metrics],
    pub notes: &'a [String],
    /// In-sample and out-of-sample metrics of the strategy, when `--split` was given.
    pub split: Option<(&'a Metrics, &'a Metrics, String)>,
    /// The capital model the run used (described in the header).
    pub capital_model: Option<&'a fff_core::CapitalModel>,
    pub elapsed_secs: f64,
}

/// Renders `report.md`.
pub fn render(input: &ReportInput<'_>) -> String {
    let mut out = String::new();
    let Some(m) = input.metrics.first() else {
        return "# fff backtest report\n\nNo runs.\n".to_string();
    };
    let costs = &input.config.backtest;
    let _ = writeln!(out, "# fff backtest report\n");
    let _ = writeln!(out, "Command: `{}`\n", input.command);
    let _ = writeln!(
        out,
        "Window: {} to {} ({:.2} years), initial capital {} USDT, replayed {} events in {:.1} s.\n",
        m.start,
        m.end,
        m.years,
        money(m.initial_equity),
        input.strategy.events,
        input.elapsed_secs
    );
    let _ = writeln!(
        out,
        "Costs: spot fee {} / futures fee {} (blended, maker share {}), slippage {} per leg per fill; \
         staged exits fill {} as maker (no slippage on that part), urgent exits all taker; \
         borrow rates × {}; \
         decisions every {} h on the last {} settled rate(s). Leverage {}, target utilization {}, reserve {}, \
         max {} pairs, max pair fraction {}.\n",
        costs.spot_fee(),
        costs.futures_fee(),
        costs.maker_fill_share,
        costs.slippage,
        costs.maker_fill_probability,
        costs.borrow_rate_multiplier,
        costs.decision_interval_hours,
        costs.signal_settlements,
        input.config.capital.leverage,
        input.config.capital.target_utilization,
        input.config.capital.reserve_ratio,
        input.config.pair_selection.max_pairs,
        input.config.capital.max_pair_fraction,
    );
    if let Some(model) = input.capital_model {
        let positive = model.per_unit(fff_core::Direction::PositiveCarry);
        let negative = model.per_unit(fff_core::Direction::NegativeCarry);
        let _ = writeln!(
            out,
            "Capital model (fff-core `CapitalModel`, shared with the live services): per unit of \
             per-leg notional a positive-carry hedge ties up {} on the spot side ({}) and {} of \
             perp margin in the futures wallet, {} in all; a negative-carry hedge {} of \
             cross-margin collateral (margin level target {}) and the same perp margin, {} in \
             all. Two wallets (spot/cross margin, futures), USDT moved between them by \
             `fff_core::plan_transfer`; perps checked for liquidation against each day's \
             high/low.\n",
            positive.spot_side.normalize(),
            if model.params().spot_usdt_borrow {
                "cash; the rest of the spot buy borrows USDT"
            } else {
                "cash for the spot buy, no USDT borrowed"
            },
            positive.perp_margin.normalize(),
            positive.total().normalize(),
            negative.spot_side.normalize(),
            model.margin_level_target().normalize(),
            negative.total().normalize(),
        );
    }
    let _ = writeln!(
        out,
        "Spot markets: {}\n",
        if costs.assume_spot_markets {
            "**ASSUMED** for every symbol with funding (`--assume-spot-markets`); symbols \
             without spot evidence are traded as if a Binance spot market existed."
        } else {
            "a symbol is traded only while a spot market is evidenced (spot klines, or the \
             data's `spot_markets.csv`); see the notes below."
        }
    );
    out.push_str("## Data and its gaps\n\n");
    for note in input.notes {
        let _ = writeln!(out, "- {note}");
    }
    let stats = &input.strategy.stats;
    for (name, count) in &stats.skipped_filters {
        let _ = writeln!(
            out,
            "- Filter `{name}` skipped in {count} of {} candidate evaluations (input not in the data).",
            stats.evaluations
        );
    }
    out.push_str("\n## Results\n\n");
    let all: Vec<&Metrics> = input.metrics.iter().collect();
    metrics_table(&mut out, &all);
    if let Some(bound) = input.metrics.iter().find(|x| x.name.starts_with("perfect")) {
        let yield_of = |x: &Metrics| x.per_year.iter().map(|y| y.funding_yield).sum::<f64>();
        let bound_yield = yield_of(bound);
        if bound_yield != 0.0 {
            let _ = writeln!(
                out,
                "\nSummed over years, the strategy's funding yield is {} of the perfect-foresight \
                 bound's (same caps and universe, daily re-allocation with hindsight, no trading \
                 costs).",
                pct(yield_of(m) / bound_yield)
            );
        }
    }
    out.push_str(
        "\n![equity](equity.svg)\n\n![drawdown](drawdown.svg)\n\n![utilization](utilization.svg)\n",
    );
    out.push_str("\n## Per year: return\n\n");
    yearly_comparison(&mut out, &all, |y| y.return_pct);
    out.push_str(
        "\n## Per year: funding yield (funding income / equity at the start of the year)\n\n\
         Scale-free, so runs of different size compare; the ratio of the strategy's to the \
         foresight bound's is the share of the available funding the strategy captured.\n\n",
    );
    yearly_comparison(&mut out, &all, |y| y.funding_yield);
    out.push_str(
        "\n## Per year: peak notional / equity (total per-leg notional over equity, hourly)\n\n",
    );
    yearly_comparison(&mut out, &all, |y| y.max_notional_to_equity);
    out.push_str("\n## Per year, strategy detail\n\n");
    per_year_detail(&mut out, m);
    if let Some((in_sample, out_sample, split)) = &input.split {
        let _ = writeln!(
            out,
            "\n## In-sample vs out-of-sample (split at {split}, separate runs)\n"
        );
        metrics_table(&mut out, &[in_sample, out_sample]);
    }
    out.push_str("\n## Per-pair contribution (strategy)\n\n");
    pair_table(&mut out, input.strategy, input.dataset);
    out.push_str("\n## Risk and decisions\n\n");
    let _ = writeln!(
        out,
        "- {} decision passes, {} with entries halted; drawdown halts: {}, drawdown reached the hard limit: {} times (de-risked by `{}`: {} times), margin-tier changes: {}.",
        stats.decisions,
        stats.halted_decisions,
        stats.halts,
        stats.limit_breaches,
        input.config.risk.drawdown_limit_action.as_str(),
        stats.limit_actions,
        stats.tier_changes
    );
    let health = &input.strategy.book.health;
    let show =
        |x: Option<Decimal>| x.map_or("n/a".to_string(), |r| format!("{:.2}", r.round_dp(2)));
    let _ = writeln!(
        out,
        "- Lowest futures margin coverage (futures balance / maintenance at {} of perp notional; \
         hourly, and per perp at each day's adverse extreme): {}; lowest cross-margin level: {}.",
        costs.maintenance_margin_rate,
        show(health.min_futures_coverage),
        show(health.min_margin_level)
    );
    let transfers = &input.strategy.book.transfers;
    let _ = writeln!(
        out,
        "- Wallet transfers: {} ({} into futures, {} into the spot/margin side), {} USDT moved.",
        transfers.count,
        transfers.to_futures,
        transfers.to_spot_side,
        money(transfers.amount)
    );
    let totals = crate::engine::replay::total_ledger(&input.strategy.book.ledgers);
    let _ = writeln!(
        out,
        "- Liquidations: {} (forfeited margin {}); hedge-days checked against a daily high/low: \
         {}, without any high/low (no klines that day, not checked): {}.",
        totals.liquidations,
        money(totals.liquidation),
        health.checked_days,
        health.unchecked_days
    );
    for (what, count) in &stats.actions_by_reason {
        let _ = writeln!(out, "- {what}: {count}");
    }
    let mut notes = stats.notes.clone();
    notes.sort();
    notes.dedup();
    for note in notes.iter().take(20) {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(
        out,
        "\nAll money is computed in exact decimals; ratios in floating point. First trade {}, last sample {}.",
        input
            .strategy
            .book
            .trades
            .first()
            .map_or("none".to_string(), |t| format_day(t.time_ms)),
        format_day(input.strategy.end_ms)
    );
    out
}

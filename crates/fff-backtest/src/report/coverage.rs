//! The report's "data and its gaps" section: what the data lacks and how the replay handles it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::config::BacktestConfig;
use crate::data::Dataset;
use crate::engine::replay::borrow_hourly;

/// What the data lacks and how the replay handles it, one sentence per item.
pub fn coverage_notes(dataset: &Dataset, config: &BacktestConfig) -> Vec<String> {
    let mut notes = Vec::new();
    let symbols = &dataset.symbols;
    let names = |pick: &dyn Fn(&crate::data::SymbolData) -> bool| -> Vec<String> {
        symbols
            .iter()
            .filter(|s| pick(s))
            .map(|s| s.symbol.clone())
            .collect()
    };
    notes.push(format!(
        "{} perpetuals with funding history; funding intervals derived per symbol from consecutive settlement times.",
        symbols.len()
    ));
    let mut intervals: BTreeMap<u32, usize> = BTreeMap::new();
    for s in symbols {
        for p in &s.funding {
            *intervals.entry(p.interval_hours).or_default() += 1;
        }
    }
    let spread: Vec<String> = intervals
        .iter()
        .map(|(h, n)| format!("{h} h: {n}"))
        .collect();
    notes.push(format!(
        "Settlements by derived interval: {}.",
        spread.join(", ")
    ));
    let changed = names(&|s| {
        s.funding
            .windows(2)
            .any(|w| w[0].interval_hours != w[1].interval_hours)
    });
    if !changed.is_empty() {
        notes.push(format!(
            "Interval changed over time for: {}.",
            changed.join(", ")
        ));
    }
    let gaps: Vec<String> = symbols
        .iter()
        .filter(|s| s.funding_gaps > 0)
        .map(|s| format!("{} ({})", s.symbol, s.funding_gaps))
        .collect();
    if !gaps.is_empty() {
        notes.push(format!(
            "Missing settlements (gaps longer than 8 h; the previous interval is kept and nothing is paid for the gap): {}.",
            gaps.join(", ")
        ));
    }
    let no_prices = names(&|s| {
        s.spot.is_empty() && s.perp.is_empty() && s.funding.iter().all(|p| p.mark_price.is_none())
    });
    if !no_prices.is_empty() {
        notes.push(format!(
            "No prices at all for {}: hedges there are tracked by notional only, so no basis P&L is booked for them.",
            no_prices.join(", ")
        ));
    }
    let no_spot = names(&|s| s.spot.is_empty());
    if !no_spot.is_empty() {
        notes.push(format!(
            "No spot klines for {} of {} symbols ({}): the replay assumes a Binance spot market existed, and marks the spot leg with the perp price, so the basis between the legs is not modelled there.",
            no_spot.len(),
            symbols.len(),
            no_spot.join(", ")
        ));
    }
    notes.push(
        "Where one leg's price series ends or is missing, that leg moves with the other leg's return (no false unhedged P&L); basis P&L is booked only while both legs have prices."
            .to_string(),
    );
    let no_volume = names(&|s| s.perp.iter().all(|b| b.quote_volume.is_none()));
    notes.push(format!(
        "24h volume comes from perp_1d quoteVolume; {} symbol(s) have none, and for any instant without it the volume filter is skipped (and scores 0). Spread and open-interest filters are always skipped: no history of either.",
        no_volume.len()
    ));
    let start = dataset.span_ms().map_or(0, |s| s.0);
    let mut from_data = Vec::new();
    let mut from_config = Vec::new();
    let mut defaulted = Vec::new();
    for s in symbols {
        let asset = &s.base_asset;
        let (rate, known) = borrow_hourly(dataset, &config.backtest, asset, start);
        let yearly = (rate * Decimal::from(24 * 365) * Decimal::ONE_HUNDRED).round_dp(1);
        let entry = format!("{asset} {yearly} %/yr");
        if config.backtest.borrow_daily_rate.contains_key(asset) {
            from_config.push(entry);
        } else if known {
            from_data.push(entry);
        } else {
            defaulted.push(asset.clone());
        }
    }
    notes.push(
        "No public multi-year history of margin borrow rates exists: borrow interest uses constant per-asset rates (config `[backtest].borrow_daily_rate`, else the `borrow/` snapshots, else `default_borrow_daily_rate`), accrued hourly on short spot legs."
            .to_string(),
    );
    if !from_data.is_empty() {
        notes.push(format!("Borrow rates from data: {}.", from_data.join(", ")));
    }
    if !from_config.is_empty() {
        notes.push(format!(
            "Borrow rates from config: {}.",
            from_config.join(", ")
        ));
    }
    if !defaulted.is_empty() {
        let yearly =
            (config.backtest.default_borrow_daily_rate * Decimal::from(365) * Decimal::ONE_HUNDRED)
                .round_dp(1);
        notes.push(format!(
            "No borrow rate known for: {} (default {yearly} %/yr); unless `assume_margin_for_unknown_assets` is set they count as not margin-enabled, so `require_margin` keeps them out of the strategy and the foresight bound.",
            defaulted.join(", ")
        ));
    }
    notes
}

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
    let no_evidence = names(&|s| s.spot_listing.listed_ms.is_none());
    let evidenced: Vec<String> = symbols
        .iter()
        .filter_map(|s| {
            let listed = s.spot_listing.listed_ms?;
            let source = if s.spot_listing.from_listing_file {
                "listing file"
            } else {
                "klines"
            };
            let since = if listed == i64::MIN {
                "always".to_string()
            } else {
                format!("from {}", crate::data::format_day(listed))
            };
            let until = s.spot_listing.delisted_ms.map_or(String::new(), |d| {
                format!(" to {}", crate::data::format_day(d))
            });
            Some(format!("{} ({since}{until}, {source})", s.symbol))
        })
        .collect();
    if config.backtest.assume_spot_markets {
        notes.push(format!(
            "Spot markets ASSUMED for all {} symbols (`--assume-spot-markets`): {} of them have no spot-market evidence in the data ({}) and are traded anyway.",
            symbols.len(),
            no_evidence.len(),
            if no_evidence.is_empty() { "none".to_string() } else { no_evidence.join(", ") }
        ));
    } else {
        notes.push(format!(
            "Spot-market evidence (spot klines, or `{}`) for {} of {} symbols: {}. A symbol is tradable only while its spot market is evidenced (by every run: strategy, baselines, bound); the other {} are never traded ({}). `--assume-spot-markets` overrides this.",
            crate::data::LISTING_FILE,
            evidenced.len(),
            symbols.len(),
            if evidenced.is_empty() { "none".to_string() } else { evidenced.join(", ") },
            no_evidence.len(),
            if no_evidence.is_empty() { "none".to_string() } else { no_evidence.join(", ") }
        ));
    }
    let no_spot = names(&|s| s.spot.is_empty() && s.spot_listing.listed_ms.is_some());
    if !no_spot.is_empty() {
        notes.push(format!(
            "No spot klines for {} (spot market from the listing file{}): the spot leg is marked with the perp price, so the basis between the legs is not modelled there.",
            no_spot.join(", "),
            if config.backtest.assume_spot_markets { " or assumed" } else { "" }
        ));
    } else if config.backtest.assume_spot_markets && !no_evidence.is_empty() {
        notes.push(format!(
            "Without spot klines ({}), the spot leg is marked with the perp price, so the basis between the legs is not modelled there.",
            no_evidence.join(", ")
        ));
    }
    let spot_ends: Vec<String> = symbols
        .iter()
        .filter_map(|s| {
            let last = s.spot.last()?;
            let funding_end = s.funding.last()?.time_ms;
            (funding_end > last.open_time_ms + 2 * crate::data::DAY_MS).then(|| {
                format!(
                    "{} ({})",
                    s.symbol,
                    crate::data::format_day(last.open_time_ms)
                )
            })
        })
        .collect();
    if !spot_ends.is_empty() {
        notes.push(format!(
            "Spot klines end before funding does for {}: the spot market is assumed to continue (data collections end, markets rarely delist); the spot leg then follows the perp's price and the liquidation check uses the perp's high/low only, or none.",
            spot_ends.join(", ")
        ));
    }
    notes.push(
        "Liquidation check: each held perp against the high (short) / low (long) of each day's perp kline, else the spot kline's range scaled to the perp; hedge-days with neither are counted as not checked."
            .to_string(),
    );
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
    if config.capital.spot_usdt_borrow {
        let hourly = crate::engine::replay::usdt_borrow_hourly(dataset, &config.backtest, start);
        let source = if config.backtest.borrow_daily_rate.contains_key("USDT") {
            "config"
        } else if dataset.borrow.hourly_rate("USDT", start).is_some() {
            if dataset.borrow.is_history("USDT") {
                "data, a step function of time"
            } else {
                "data snapshot"
            }
        } else {
            "`default_usdt_borrow_daily_rate`"
        };
        notes.push(format!(
            "`capital.spot_usdt_borrow` is on: positive-carry spot buys borrow USDT (notional / margin level target) and pay USDT interest, {} %/yr at the start ({source}).",
            (hourly * Decimal::from(24 * 365) * Decimal::ONE_HUNDRED).round_dp(2)
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

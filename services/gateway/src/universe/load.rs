//! Fetches the universe's inputs from the venue. Exchange info and the premium index are
//! required; volumes, open interest, borrow rates and fees are best effort (a failure leaves
//! the field empty and is logged), so one flaky endpoint does not freeze the universe.

use std::collections::HashMap;

use fff_binance::RestClient;
use fff_binance::error::Result;
use rust_decimal::Decimal;

use super::{Universe, UniverseInputs};
use crate::convert::now_ms;

/// Binance takes at most 20 assets per next-hourly-interest-rate call.
const BORROW_RATE_BATCH: usize = 20;
/// Open-interest requests in flight at once (each is its own REST call).
const OPEN_INTEREST_PARALLEL: usize = 8;

pub async fn fetch_inputs(rest: &RestClient) -> Result<UniverseInputs> {
    let as_of_ms = now_ms();
    let (spot, futures, funding, premium) = tokio::try_join!(
        rest.exchange_info(),
        rest.futures_exchange_info(),
        rest.funding_info(),
        rest.premium_indexes(),
    )?;
    let margin_pairs = best_effort("margin pairs", rest.margin_all_pairs().await);
    let spot_tickers = best_effort("spot 24h tickers", rest.tickers_24hr().await);
    let perp_tickers = best_effort("perp 24h tickers", rest.futures_tickers_24hr().await);

    let perp_symbols: std::collections::HashSet<&str> = futures
        .symbols
        .iter()
        .filter(|s| s.contract_type == "PERPETUAL")
        .map(|s| s.symbol.as_str())
        .collect();
    let both: Vec<&fff_binance::models::spot::SpotSymbol> = spot
        .symbols
        .iter()
        .filter(|s| perp_symbols.contains(s.symbol.as_str()))
        .collect();

    let open_interest = open_interest(rest, both.iter().map(|s| s.symbol.clone())).await;

    let mut assets: Vec<&str> = margin_pairs
        .iter()
        .filter(|p| both.iter().any(|s| s.symbol == p.symbol))
        .map(|p| p.base.as_str())
        .collect();
    assets.sort_unstable();
    assets.dedup();
    let mut borrow_rates = HashMap::new();
    for batch in assets.chunks(BORROW_RATE_BATCH) {
        match rest.margin_next_hourly_interest_rate(batch).await {
            Ok(rates) => borrow_rates.extend(
                rates
                    .into_iter()
                    .map(|r| (r.asset, r.next_hourly_interest_rate)),
            ),
            Err(err) => tracing::warn!(error = %err, "borrow rates unavailable"),
        }
    }

    let spot_fees = match rest.account(true).await {
        Ok(account) => Some((
            account.commission_rates.maker,
            account.commission_rates.taker,
        )),
        Err(err) => {
            tracing::warn!(error = %err, "spot commission rates unavailable");
            None
        }
    };
    // one symbol stands for all: per-symbol queries cost 20 weight each
    let perp_fees = match both.first() {
        Some(symbol) => match rest.futures_commission_rate(&symbol.symbol).await {
            Ok(rate) => Some((rate.maker_commission_rate, rate.taker_commission_rate)),
            Err(err) => {
                tracing::warn!(error = %err, "perp commission rates unavailable");
                None
            }
        },
        None => None,
    };

    Ok(UniverseInputs {
        spot,
        margin_pairs,
        futures,
        funding,
        premium,
        spot_tickers,
        perp_tickers,
        open_interest,
        borrow_rates,
        spot_fees,
        perp_fees,
        as_of_ms,
    })
}

/// Open interest per symbol, a few requests at a time (one call per symbol on Binance).
async fn open_interest(
    rest: &RestClient,
    symbols: impl Iterator<Item = String>,
) -> HashMap<String, Decimal> {
    let symbols: Vec<String> = symbols.collect();
    let mut out = HashMap::new();
    for chunk in symbols.chunks(OPEN_INTEREST_PARALLEL) {
        let mut tasks = tokio::task::JoinSet::new();
        for symbol in chunk {
            let (rest, symbol) = (rest.clone(), symbol.clone());
            tasks.spawn(async move {
                let result = rest.open_interest(&symbol).await;
                (symbol, result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((symbol, Ok(oi))) => {
                    out.insert(symbol, oi.open_interest);
                }
                Ok((symbol, Err(err))) => {
                    tracing::warn!(%symbol, error = %err, "open interest unavailable");
                }
                Err(err) => tracing::warn!(error = %err, "open interest task failed"),
            }
        }
    }
    out
}

fn best_effort<T: Default>(what: &str, result: Result<T>) -> T {
    result.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "{what} unavailable");
        T::default()
    })
}

/// Rows for the `instruments` table.
pub fn to_store_rows(universe: &Universe) -> Vec<fff_store::Instrument> {
    universe
        .listings
        .values()
        .map(|listing| {
            let i = &listing.instrument;
            let spot = &listing.spot_filters;
            let perp = &listing.perp_filters;
            let zero = Decimal::ZERO;
            fff_store::Instrument {
                symbol: i.symbol.clone(),
                base_asset: i.base_asset.clone(),
                quote_asset: i.quote_asset.clone(),
                spot_tick_size: spot.price.map_or(zero, |p| p.tick),
                spot_step_size: spot.lot.map_or(zero, |l| l.step),
                spot_min_qty: spot.lot.map_or(zero, |l| l.min),
                spot_min_notional: spot.notional.map_or(zero, |n| n.min),
                perp_tick_size: perp.price.map_or(zero, |p| p.tick),
                perp_step_size: perp.lot.map_or(zero, |l| l.step),
                perp_min_qty: perp.lot.map_or(zero, |l| l.min),
                perp_min_notional: perp.notional.map_or(zero, |n| n.min),
                spot_trading_enabled: i.spot_status
                    == fff_proto::fff::common::v1::InstrumentStatus::Trading as i32,
                perp_trading_enabled: i.perp_status
                    == fff_proto::fff::common::v1::InstrumentStatus::Trading as i32,
                cross_margin_enabled: i.margin_trading_allowed,
                base_borrowable: i.base_borrowable,
                funding_interval_hours: i32::try_from(i.funding_interval_hours).unwrap_or(8),
            }
        })
        .collect()
}

//! The instrument universe: symbols listed both on spot and as a USDⓈ-M perpetual, with both
//! venues' rules, margin flags, funding settings, borrow rate, volumes and open interest.
//! [`build`] is pure (unit-tested on fixtures); [`load`] fetches its inputs.

mod load;

use std::collections::{BTreeMap, HashMap};

use fff_binance::filters::{SymbolFilters, Venue as FilterVenue};
use fff_binance::models::futures::{FundingInfo, FuturesExchangeInfo, PremiumIndex};
use fff_binance::models::margin::MarginPair;
use fff_binance::models::spot::SpotExchangeInfo;
use fff_binance::models::{DEFAULT_FUNDING_INTERVAL_HOURS, Ticker24h};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;

use crate::convert::{dec, opt_dec, opt_ts, ts};

pub use load::{fetch_inputs, to_store_rows};

/// Account fee rates (maker, taker).
pub type FeeRates = (Decimal, Decimal);

/// Everything [`build`] reads, as the venue returned it.
#[derive(Debug, Clone)]
pub struct UniverseInputs {
    pub spot: SpotExchangeInfo,
    pub margin_pairs: Vec<MarginPair>,
    pub futures: FuturesExchangeInfo,
    pub funding: Vec<FundingInfo>,
    pub premium: Vec<PremiumIndex>,
    pub spot_tickers: Vec<Ticker24h>,
    pub perp_tickers: Vec<Ticker24h>,
    /// Open interest in contracts per symbol.
    pub open_interest: HashMap<String, Decimal>,
    /// Next hourly borrow rate per asset.
    pub borrow_rates: HashMap<String, Decimal>,
    pub spot_fees: Option<FeeRates>,
    pub perp_fees: Option<FeeRates>,
    pub as_of_ms: i64,
}

/// One instrument: its wire view plus the filters orders are checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub instrument: pb::Instrument,
    pub spot_filters: SymbolFilters,
    pub perp_filters: SymbolFilters,
}

impl Listing {
    pub fn trading_on_both(&self) -> bool {
        self.instrument.spot_status == common::InstrumentStatus::Trading as i32
            && self.instrument.perp_status == common::InstrumentStatus::Trading as i32
    }
}

/// The universe at one point in time, keyed (and so sorted) by symbol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Universe {
    pub listings: BTreeMap<String, Listing>,
    pub as_of_ms: i64,
}

impl Universe {
    pub fn get(&self, symbol: &str) -> Option<&Listing> {
        self.listings.get(symbol)
    }
}

/// Joins spot and perpetual listings by symbol. Delivery contracts and symbols missing on
/// either venue are left out; statuses are kept so callers can filter non-trading ones.
pub fn build(inputs: &UniverseInputs) -> Universe {
    let perps: HashMap<&str, _> = inputs
        .futures
        .symbols
        .iter()
        .filter(|s| s.contract_type == "PERPETUAL")
        .map(|s| (s.symbol.as_str(), s))
        .collect();
    let funding: HashMap<&str, &FundingInfo> = inputs
        .funding
        .iter()
        .map(|f| (f.symbol.as_str(), f))
        .collect();
    let premium: HashMap<&str, &PremiumIndex> = inputs
        .premium
        .iter()
        .map(|p| (p.symbol.as_str(), p))
        .collect();
    let pairs: HashMap<&str, &MarginPair> = inputs
        .margin_pairs
        .iter()
        .map(|p| (p.symbol.as_str(), p))
        .collect();
    let spot_tickers: HashMap<&str, &Ticker24h> = inputs
        .spot_tickers
        .iter()
        .map(|t| (t.symbol.as_str(), t))
        .collect();
    let perp_tickers: HashMap<&str, &Ticker24h> = inputs
        .perp_tickers
        .iter()
        .map(|t| (t.symbol.as_str(), t))
        .collect();

    let mut listings = BTreeMap::new();
    for spot in &inputs.spot.symbols {
        let Some(perp) = perps.get(spot.symbol.as_str()) else {
            continue;
        };
        if perp.base_asset != spot.base_asset || perp.quote_asset != spot.quote_asset {
            continue;
        }
        let symbol = spot.symbol.as_str();
        let spot_filters = SymbolFilters::from_raw(FilterVenue::Spot, &spot.filters);
        let perp_filters = SymbolFilters::from_raw(FilterVenue::Futures, &perp.filters);
        let spot_status = spot_status(&spot.status);
        let perp_status = perp_status(&perp.status);
        let pair = pairs.get(symbol);
        let margin_trading_allowed =
            spot.is_margin_trading_allowed && pair.is_some_and(|p| p.is_margin_trade);
        let margin_buy_allowed = margin_trading_allowed && pair.is_some_and(|p| p.is_buy_allowed);
        let margin_sell_allowed = margin_trading_allowed && pair.is_some_and(|p| p.is_sell_allowed);
        let borrow_rate = inputs.borrow_rates.get(&spot.base_asset).copied();
        // no isBorrowable in the connector: a listed cross-margin pair whose base asset has a
        // published borrow rate is taken as borrowable
        let base_borrowable = margin_sell_allowed && borrow_rate.is_some();
        let adjusted = funding.get(symbol);
        let mark = premium.get(symbol);
        let spot_ticker = spot_tickers.get(symbol);
        let perp_ticker = perp_tickers.get(symbol);
        let open_interest = inputs.open_interest.get(symbol).copied();
        let mark_price = mark.map(|m| m.mark_price);
        let instrument = pb::Instrument {
            symbol: spot.symbol.clone(),
            base_asset: spot.base_asset.clone(),
            quote_asset: spot.quote_asset.clone(),
            spot_filters: Some(filters_to_pb(&spot_filters)),
            perp_filters: Some(filters_to_pb(&perp_filters)),
            spot_status: spot_status as i32,
            perp_status: perp_status as i32,
            status: worse(spot_status, perp_status) as i32,
            margin_trading_allowed,
            margin_buy_allowed,
            margin_sell_allowed,
            base_borrowable,
            base_borrow_rate_hourly: if base_borrowable {
                opt_dec(borrow_rate)
            } else {
                String::new()
            },
            funding_interval_hours: adjusted
                .map_or(DEFAULT_FUNDING_INTERVAL_HOURS, |f| f.funding_interval_hours),
            last_funding_rate: opt_dec(mark.map(|m| m.last_funding_rate)),
            next_funding_time: opt_ts(mark.map(|m| m.next_funding_time)),
            funding_rate_cap: opt_dec(adjusted.map(|f| f.adjusted_funding_rate_cap)),
            funding_rate_floor: opt_dec(adjusted.map(|f| f.adjusted_funding_rate_floor)),
            mark_price: opt_dec(mark_price),
            index_price: opt_dec(mark.map(|m| m.index_price)),
            spot_quote_volume_24h: opt_dec(spot_ticker.map(|t| t.quote_volume)),
            perp_quote_volume_24h: opt_dec(perp_ticker.map(|t| t.quote_volume)),
            open_interest_contracts: opt_dec(open_interest),
            open_interest_usdt: opt_dec(open_interest.zip(mark_price).map(|(oi, p)| oi * p)),
            max_leverage: 0,
            delist_time: None,
            updated_at: Some(ts(mark.map_or(inputs.as_of_ms, |m| m.time))),
            perp_listed_at: opt_ts(perp.onboard_date),
            spot_maker_fee_rate: opt_dec(inputs.spot_fees.map(|f| f.0)),
            spot_taker_fee_rate: opt_dec(inputs.spot_fees.map(|f| f.1)),
            perp_maker_fee_rate: opt_dec(inputs.perp_fees.map(|f| f.0)),
            perp_taker_fee_rate: opt_dec(inputs.perp_fees.map(|f| f.1)),
        };
        listings.insert(
            spot.symbol.clone(),
            Listing {
                instrument,
                spot_filters,
                perp_filters,
            },
        );
    }
    Universe {
        listings,
        as_of_ms: inputs.as_of_ms,
    }
}

pub fn filters_to_pb(filters: &SymbolFilters) -> common::SymbolFilters {
    let zero = Decimal::ZERO;
    // venues pad to 8 places ("0.01000000"); the wire carries the plain value
    let dec = |d: Decimal| dec(d.normalize());
    let opt_dec = |d: Option<Decimal>| opt_dec(d.map(|d| d.normalize()));
    let price = filters.price;
    let lot = filters.lot;
    let market = filters.market_lot;
    common::SymbolFilters {
        tick_size: dec(price.map_or(zero, |p| p.tick)),
        step_size: dec(lot.map_or(zero, |l| l.step)),
        min_qty: dec(lot.map_or(zero, |l| l.min)),
        max_qty: dec(lot.map_or(zero, |l| l.max)),
        market_step_size: opt_dec(market.map(|m| m.step)),
        market_min_qty: opt_dec(market.map(|m| m.min)),
        market_max_qty: opt_dec(market.map(|m| m.max)),
        min_notional: dec(filters.notional.map_or(zero, |n| n.min)),
        min_price: opt_dec(price.map(|p| p.min)),
        max_price: opt_dec(price.map(|p| p.max)),
    }
}

fn spot_status(raw: &str) -> common::InstrumentStatus {
    use common::InstrumentStatus as S;
    match raw {
        "TRADING" => S::Trading,
        "BREAK" | "HALT" | "END_OF_DAY" => S::Halted,
        "PRE_TRADING" | "AUCTION_MATCH" | "POST_TRADING" => S::PreTrading,
        _ => S::Unspecified,
    }
}

fn perp_status(raw: &str) -> common::InstrumentStatus {
    use common::InstrumentStatus as S;
    match raw {
        "TRADING" => S::Trading,
        "PENDING_TRADING" => S::PreTrading,
        "PRE_SETTLE" | "SETTLING" | "PRE_DELIVERING" | "DELIVERING" | "DELIVERED" | "CLOSE" => {
            S::Delisting
        }
        _ => S::Unspecified,
    }
}

/// The status that restricts trading more; unknown counts as the worst.
fn worse(a: common::InstrumentStatus, b: common::InstrumentStatus) -> common::InstrumentStatus {
    use common::InstrumentStatus as S;
    let rank = |s: S| match s {
        S::Trading => 0,
        S::PreTrading => 1,
        S::Halted => 2,
        S::CancelOnly => 3,
        S::Delisting => 4,
        S::Unspecified => 5,
    };
    if rank(a) >= rank(b) { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn filters(tick: &str, step: &str) -> serde_json::Value {
        json!([
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000", "stepSize": step},
            {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": true, "maxNotional": "9000000", "applyMaxToMarket": false}
        ])
    }

    fn spot_symbol(symbol: &str, base: &str, status: &str, margin: bool) -> serde_json::Value {
        json!({"symbol": symbol, "status": status, "baseAsset": base, "quoteAsset": "USDT",
               "baseAssetPrecision": 8, "quoteAssetPrecision": 8, "isMarginTradingAllowed": margin,
               "filters": filters("0.01", "0.00001")})
    }

    fn perp_symbol(symbol: &str, base: &str, contract: &str, status: &str) -> serde_json::Value {
        json!({"symbol": symbol, "pair": symbol, "contractType": contract, "status": status,
               "baseAsset": base, "quoteAsset": "USDT", "marginAsset": "USDT", "onboardDate": 1_569_398_400_000i64,
               "filters": filters("0.1", "0.001")})
    }

    fn inputs() -> UniverseInputs {
        let spot = json!({"serverTime": 1, "symbols": [
            spot_symbol("BTCUSDT", "BTC", "TRADING", true),
            spot_symbol("ETHUSDT", "ETH", "BREAK", true),
            spot_symbol("ORCAUSDT", "ORCA", "TRADING", false),
            spot_symbol("SPOTONLY", "SPO", "TRADING", true),
        ]});
        let futures = json!({"serverTime": 1, "symbols": [
            perp_symbol("BTCUSDT", "BTC", "PERPETUAL", "TRADING"),
            perp_symbol("ETHUSDT", "ETH", "PERPETUAL", "TRADING"),
            perp_symbol("ORCAUSDT", "ORCA", "PERPETUAL", "TRADING"),
            perp_symbol("BTCUSDT_260327", "BTC", "CURRENT_QUARTER", "TRADING"),
            perp_symbol("PERPONLY", "PPO", "PERPETUAL", "TRADING"),
        ]});
        let pair = |s: &str, b: &str| {
            json!({"id": 1, "symbol": s, "base": b, "quote": "USDT",
            "isMarginTrade": true, "isBuyAllowed": true, "isSellAllowed": true})
        };
        UniverseInputs {
            spot: serde_json::from_value(spot).unwrap(),
            margin_pairs: serde_json::from_value(json!([pair("BTCUSDT", "BTC"), pair("ETHUSDT", "ETH")])).unwrap(),
            futures: serde_json::from_value(futures).unwrap(),
            funding: serde_json::from_value(json!([{"symbol": "ETHUSDT", "adjustedFundingRateCap": "0.02",
                "adjustedFundingRateFloor": "-0.02", "fundingIntervalHours": 4}])).unwrap(),
            premium: serde_json::from_value(json!([{"symbol": "BTCUSDT", "markPrice": "65000.5",
                "indexPrice": "64990", "estimatedSettlePrice": "65000", "lastFundingRate": "0.0001",
                "interestRate": "0.0001", "nextFundingTime": 1_700_006_400_000i64, "time": 1_700_000_000_000i64}])).unwrap(),
            spot_tickers: Vec::new(),
            perp_tickers: Vec::new(),
            open_interest: HashMap::from([("BTCUSDT".to_owned(), dec!(2))]),
            borrow_rates: HashMap::from([("BTC".to_owned(), dec!(0.0000025)), ("ORCA".to_owned(), dec!(0.00001))]),
            spot_fees: Some((dec!(0.001), dec!(0.001))),
            perp_fees: Some((dec!(0.0002), dec!(0.0005))),
            as_of_ms: 1_700_000_000_500,
        }
    }

    #[test]
    fn keeps_only_symbols_on_both_venues() {
        let universe = build(&inputs());
        let symbols: Vec<&str> = universe.listings.keys().map(String::as_str).collect();
        assert_eq!(symbols, ["BTCUSDT", "ETHUSDT", "ORCAUSDT"]);
    }

    #[test]
    fn carries_rules_funding_borrow_and_market_data() {
        let universe = build(&inputs());
        let btc = &universe.get("BTCUSDT").unwrap().instrument;
        assert_eq!(btc.spot_filters.as_ref().unwrap().tick_size, "0.01");
        assert_eq!(btc.perp_filters.as_ref().unwrap().step_size, "0.001");
        assert_eq!(btc.perp_filters.as_ref().unwrap().min_notional, "5");
        assert_eq!(
            btc.funding_interval_hours, 8,
            "not adjusted: binance default"
        );
        assert!(btc.margin_trading_allowed && btc.base_borrowable);
        assert_eq!(btc.base_borrow_rate_hourly, "0.0000025");
        assert_eq!(btc.open_interest_usdt, "130001.0");
        assert_eq!(btc.mark_price, "65000.5");
        assert_eq!(btc.perp_taker_fee_rate, "0.0005");
        assert_eq!(btc.status, common::InstrumentStatus::Trading as i32);
        let eth = &universe.get("ETHUSDT").unwrap();
        assert_eq!(eth.instrument.funding_interval_hours, 4);
        assert_eq!(eth.instrument.funding_rate_cap, "0.02");
        assert_eq!(
            eth.instrument.status,
            common::InstrumentStatus::Halted as i32
        );
        assert!(!eth.trading_on_both());
        assert!(!eth.instrument.base_borrowable, "no borrow rate published");
    }

    #[test]
    fn margin_disabled_pair_is_not_borrowable() {
        let universe = build(&inputs());
        let orca = &universe.get("ORCAUSDT").unwrap().instrument;
        assert!(!orca.margin_trading_allowed);
        assert!(!orca.base_borrowable);
        assert_eq!(orca.base_borrow_rate_hourly, "");
    }
}

//! Domain-ish instrument view built from `exchangeInfo` (+ `fundingInfo` for perpetuals).

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::futures::{FundingInfo, FuturesExchangeInfo};
use super::margin::MarginPair;
use super::spot::SpotExchangeInfo;
use crate::filters::{SymbolFilters, Venue};

/// Binance's default funding interval for symbols `fundingInfo` does not list.
pub const DEFAULT_FUNDING_INTERVAL_HOURS: u32 = 8;

/// A tradable spot pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotInstrument {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub trading: bool,
    /// `isMarginTradingAllowed` from exchangeInfo, and-ed with `allPairs` when given.
    pub margin_allowed: bool,
    pub filters: SymbolFilters,
}

/// A USDⓈ-M perpetual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerpInstrument {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub margin_asset: String,
    pub trading: bool,
    pub funding_interval_hours: u32,
    pub funding_rate_cap: Option<Decimal>,
    pub funding_rate_floor: Option<Decimal>,
    pub filters: SymbolFilters,
}

/// Spot instruments; when `margin_pairs` is given, `margin_allowed` also requires the pair to be
/// listed there with margin trading, buying and selling enabled.
pub fn parse_spot_instruments(
    info: &SpotExchangeInfo,
    margin_pairs: Option<&[MarginPair]>,
) -> Vec<SpotInstrument> {
    let pairs: Option<HashMap<&str, &MarginPair>> =
        margin_pairs.map(|pairs| pairs.iter().map(|p| (p.symbol.as_str(), p)).collect());
    info.symbols
        .iter()
        .map(|symbol| {
            let listed = match &pairs {
                None => true,
                Some(pairs) => pairs
                    .get(symbol.symbol.as_str())
                    .is_some_and(|p| p.is_margin_trade && p.is_buy_allowed && p.is_sell_allowed),
            };
            SpotInstrument {
                symbol: symbol.symbol.clone(),
                base_asset: symbol.base_asset.clone(),
                quote_asset: symbol.quote_asset.clone(),
                trading: symbol.status == "TRADING",
                margin_allowed: symbol.is_margin_trading_allowed && listed,
                filters: SymbolFilters::from_raw(Venue::Spot, &symbol.filters),
            }
        })
        .collect()
}

/// Perpetual contracts only (delivery contracts are skipped), with their funding interval.
pub fn parse_perp_instruments(
    info: &FuturesExchangeInfo,
    funding: &[FundingInfo],
) -> Vec<PerpInstrument> {
    let funding: HashMap<&str, &FundingInfo> =
        funding.iter().map(|f| (f.symbol.as_str(), f)).collect();
    info.symbols
        .iter()
        .filter(|symbol| symbol.contract_type == "PERPETUAL")
        .map(|symbol| {
            let adjusted = funding.get(symbol.symbol.as_str());
            PerpInstrument {
                symbol: symbol.symbol.clone(),
                base_asset: symbol.base_asset.clone(),
                quote_asset: symbol.quote_asset.clone(),
                margin_asset: symbol.margin_asset.clone(),
                trading: symbol.status == "TRADING",
                funding_interval_hours: adjusted
                    .map_or(DEFAULT_FUNDING_INTERVAL_HOURS, |f| f.funding_interval_hours),
                funding_rate_cap: adjusted.map(|f| f.adjusted_funding_rate_cap),
                funding_rate_floor: adjusted.map(|f| f.adjusted_funding_rate_floor),
                filters: SymbolFilters::from_raw(Venue::Futures, &symbol.filters),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fixture;
    use rust_decimal_macros::dec;

    #[test]
    fn perp_instruments_carry_funding_interval_and_futures_filters() {
        let info: FuturesExchangeInfo = fixture::parse("fapi_v1_exchangeInfo.json");
        let mut funding: Vec<FundingInfo> = fixture::parse("fapi_v1_fundingInfo.json");
        let perps = parse_perp_instruments(&info, &funding);
        assert_eq!(perps[0].funding_interval_hours, 8);
        assert_eq!(perps[0].funding_rate_cap, Some(dec!(0.025)));
        assert_eq!(perps[0].filters.venue, Venue::Futures);
        assert_eq!(perps[0].filters.notional.unwrap().min, dec!(5));
        funding[0].funding_interval_hours = 4;
        assert_eq!(
            parse_perp_instruments(&info, &funding)[0].funding_interval_hours,
            4
        );
        assert_eq!(
            parse_perp_instruments(&info, &[])[0].funding_interval_hours,
            DEFAULT_FUNDING_INTERVAL_HOURS
        );
    }

    #[test]
    fn spot_margin_flag_combines_exchange_info_and_all_pairs() {
        let info: SpotExchangeInfo = fixture::parse("api_v3_exchangeInfo.json");
        let plain = parse_spot_instruments(&info, None);
        assert!(plain[0].margin_allowed);
        let pairs: Vec<MarginPair> = fixture::parse("sapi_v1_margin_allPairs.json");
        assert!(parse_spot_instruments(&info, Some(&pairs))[0].margin_allowed);
        assert!(!parse_spot_instruments(&info, Some(&pairs[1..]))[0].margin_allowed);
    }
}

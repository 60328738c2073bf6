//! The instrument cache: everything `exchangeInfo`, `allPairs` and `fundingInfo` say about the
//! symbols fff trades, loaded in one call and looked up by symbol.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::models::{
    PerpInstrument, SpotInstrument, parse_perp_instruments, parse_spot_instruments,
};
use crate::rest::RestClient;

/// Spot pairs and USDⓈ-M perpetuals by symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instruments {
    pub spot: BTreeMap<String, SpotInstrument>,
    pub perps: BTreeMap<String, PerpInstrument>,
}

impl Instruments {
    pub fn from_parts(spot: Vec<SpotInstrument>, perps: Vec<PerpInstrument>) -> Self {
        Self {
            spot: spot.into_iter().map(|i| (i.symbol.clone(), i)).collect(),
            perps: perps.into_iter().map(|i| (i.symbol.clone(), i)).collect(),
        }
    }

    pub fn spot(&self, symbol: &str) -> Option<&SpotInstrument> {
        self.spot.get(symbol)
    }

    pub fn perp(&self, symbol: &str) -> Option<&PerpInstrument> {
        self.perps.get(symbol)
    }

    /// Symbols tradable on both legs: a trading spot pair and a trading perpetual with the same
    /// base and quote. `margin_required` keeps only pairs that can also be shorted on cross margin
    /// (needed when funding is negative).
    pub fn hedgeable(&self, margin_required: bool) -> Vec<(&SpotInstrument, &PerpInstrument)> {
        self.perps
            .values()
            .filter(|perp| perp.trading)
            .filter_map(|perp| {
                let spot = self.spot.get(&perp.symbol)?;
                let same_assets =
                    spot.base_asset == perp.base_asset && spot.quote_asset == perp.quote_asset;
                let usable = spot.trading && (!margin_required || spot.margin_allowed);
                (same_assets && usable).then_some((spot, perp))
            })
            .collect()
    }
}

impl RestClient {
    /// Loads spot `exchangeInfo` + `margin/allPairs` and futures `exchangeInfo` + `fundingInfo`
    /// (which also sets the limiters' budgets from `rateLimits`).
    pub async fn load_instruments(&self) -> Result<Instruments> {
        let spot_info = self.exchange_info().await?;
        let pairs = self.margin_all_pairs().await?;
        let futures_info = self.futures_exchange_info().await?;
        let funding = self.funding_info().await?;
        Ok(Instruments::from_parts(
            parse_spot_instruments(&spot_info, Some(&pairs)),
            parse_perp_instruments(&futures_info, &funding),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{SymbolFilters, Venue};

    fn spot(symbol: &str, margin: bool) -> SpotInstrument {
        SpotInstrument {
            symbol: symbol.into(),
            base_asset: symbol.trim_end_matches("USDT").into(),
            quote_asset: "USDT".into(),
            trading: true,
            margin_allowed: margin,
            filters: SymbolFilters::from_raw(Venue::Spot, &[]),
        }
    }

    fn perp(symbol: &str) -> PerpInstrument {
        PerpInstrument {
            symbol: symbol.into(),
            base_asset: symbol.trim_end_matches("USDT").into(),
            quote_asset: "USDT".into(),
            margin_asset: "USDT".into(),
            trading: true,
            funding_interval_hours: 8,
            funding_rate_cap: None,
            funding_rate_floor: None,
            filters: SymbolFilters::from_raw(Venue::Futures, &[]),
        }
    }

    #[test]
    fn hedgeable_pairs_need_both_legs() {
        let instruments = Instruments::from_parts(
            vec![
                spot("BTCUSDT", true),
                spot("DOGEUSDT", false),
                spot("XRPUSDT", true),
            ],
            vec![perp("BTCUSDT"), perp("DOGEUSDT"), perp("SOLUSDT")],
        );
        let any: Vec<&str> = instruments
            .hedgeable(false)
            .iter()
            .map(|(s, _)| s.symbol.as_str())
            .collect();
        assert_eq!(any, vec!["BTCUSDT", "DOGEUSDT"]);
        let shortable: Vec<&str> = instruments
            .hedgeable(true)
            .iter()
            .map(|(s, _)| s.symbol.as_str())
            .collect();
        assert_eq!(shortable, vec!["BTCUSDT"]);
    }
}

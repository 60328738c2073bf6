//! `--symbols all-usdt-perps`: the USDT-margined perpetuals of the futures `exchangeInfo`.

use fff_binance::RestClient;

use crate::args::{SymbolSpec, is_plain_symbol};
use crate::error::{Error, Result};

/// Which listings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Status `TRADING` only (what can be sampled now).
    Trading,
    /// Every status `exchangeInfo` still shows (settling, closed, pending): history of delisted
    /// perps reduces survivorship bias, and a month that does not exist is skipped anyway.
    Any,
}

/// The symbols of `spec`, sorted and de-duplicated, and notes about listings left out (names
/// that cannot be file names). A plain list is returned as given.
pub(crate) async fn resolve(
    spec: &SymbolSpec,
    client: &RestClient,
    listing: Listing,
) -> Result<(Vec<String>, Vec<String>)> {
    let SymbolSpec::List(list) = spec else {
        let info = client
            .futures_exchange_info()
            .await
            .map_err(|e| Error::exchange("futures exchangeInfo", e))?;
        return select(
            info.symbols
                .iter()
                .map(|s| (&*s.symbol, &*s.contract_type, &*s.quote_asset, &*s.status)),
            listing,
        );
    };
    Ok((list.clone(), Vec::new()))
}

/// Picks USDT perpetuals out of `(symbol, contractType, quoteAsset, status)` rows.
fn select<'a>(
    rows: impl Iterator<Item = (&'a str, &'a str, &'a str, &'a str)>,
    listing: Listing,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (symbol, contract, quote, status) in rows {
        if contract != "PERPETUAL" || quote != "USDT" {
            continue;
        }
        if listing == Listing::Trading && status != "TRADING" {
            continue;
        }
        if !is_plain_symbol(symbol) {
            notes.push(format!("{symbol:?}: not a plain symbol name, skipped"));
            continue;
        }
        out.push(symbol.to_string());
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(Error::Args(
            "exchangeInfo lists no USDT perpetual (is the REST URL a futures API?)".into(),
        ));
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_usdt_perpetuals_only() {
        let rows = [
            ("ETHUSDT", "PERPETUAL", "USDT", "TRADING"),
            ("BTCUSDT", "PERPETUAL", "USDT", "TRADING"),
            ("BTCUSDC", "PERPETUAL", "USDC", "TRADING"),
            ("BTCUSDT_260626", "CURRENT_QUARTER", "USDT", "TRADING"),
            ("OLDUSDT", "PERPETUAL", "USDT", "SETTLING"),
            ("币安人生USDT", "PERPETUAL", "USDT", "TRADING"),
        ];
        let (live, notes) = select(rows.iter().copied(), Listing::Trading).unwrap();
        assert_eq!(live, ["BTCUSDT", "ETHUSDT"]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (any, _) = select(rows.iter().copied(), Listing::Any).unwrap();
        assert_eq!(any, ["BTCUSDT", "ETHUSDT", "OLDUSDT"]);
        assert!(select(rows[2..4].iter().copied(), Listing::Any).is_err());
    }
}

//! Wire structs exactly as Binance sends them, and `parse_*` functions into the domain-ish types the
//! rest of fff uses. Prices, quantities and rates are `Decimal` (Binance sends them as strings); ids
//! and times are integers (ms since the epoch).

mod common;
pub mod futures;
mod instrument;
pub mod margin;
pub mod spot;
pub mod stream;
pub mod wallet;

pub use common::*;
pub use instrument::*;

/// Serde helpers for Binance's loose typing.
pub(crate) mod de {
    use serde::{Deserialize, Deserializer};

    /// Ids documented as numbers that some examples print as strings (margin cancel's `orderId`).
    pub fn id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(i64),
            Str(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Num(n) => Ok(n),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    /// Reads a copied Binance doc example from `test_data/`.
    pub fn load(name: &str) -> String {
        let path = format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    pub fn parse<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let raw = load(name);
        serde_json::from_str(&raw).unwrap_or_else(|err| panic!("{name}: {err}"))
    }
}

//! Small domain types: symbols, venues, sides, carry direction, funding interval.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest symbol accepted; Binance's longest are well below this.
const MAX_SYMBOL_LEN: usize = 32;

/// An exchange symbol such as `BTCUSDT`: non-empty uppercase ASCII letters and digits.
///
/// The same symbol names the spot/margin pair and the USDⓈ-M perpetual.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    /// Validate and wrap `raw`; lowercase input is rejected, not silently uppercased.
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidSymbol {
            symbol: raw.to_owned(),
            reason,
        };
        if raw.is_empty() {
            return Err(invalid("empty"));
        }
        if raw.len() > MAX_SYMBOL_LEN {
            return Err(invalid("too long"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(invalid("must be uppercase ascii letters and digits"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The symbol text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Symbol {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self> {
        Self::parse(&raw)
    }
}

impl From<Symbol> for String {
    fn from(symbol: Symbol) -> Self {
        symbol.0
    }
}

impl std::str::FromStr for Symbol {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        Self::parse(raw)
    }
}

/// Where a leg lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Venue {
    /// Spot traded on the cross-margin account (borrowing allowed).
    SpotMargin,
    /// USDⓈ-M perpetual futures.
    UsdmPerp,
}

impl Venue {
    /// The other leg's venue.
    pub fn other(self) -> Self {
        match self {
            Self::SpotMargin => Self::UsdmPerp,
            Self::UsdmPerp => Self::SpotMargin,
        }
    }
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Buy (increases a signed position).
    Buy,
    /// Sell (decreases a signed position).
    Sell,
}

impl Side {
    /// The opposite side.
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// The side that moves a signed position by `delta` (`Buy` for positive), `None` for zero.
    pub fn for_delta(delta: Decimal) -> Option<Self> {
        if delta > Decimal::ZERO {
            Some(Self::Buy)
        } else if delta < Decimal::ZERO {
            Some(Self::Sell)
        } else {
            None
        }
    }
}

/// Which way the hedge faces. Positive funding means longs pay shorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Funding > 0: long spot, short perp; collects funding.
    PositiveCarry,
    /// Funding < 0: short spot (borrowed base asset on cross margin), long perp; collects
    /// funding minus borrow interest.
    NegativeCarry,
}

impl Direction {
    /// The direction that collects `funding_rate`; `None` for exactly zero.
    pub fn for_funding(funding_rate: Decimal) -> Option<Self> {
        if funding_rate > Decimal::ZERO {
            Some(Self::PositiveCarry)
        } else if funding_rate < Decimal::ZERO {
            Some(Self::NegativeCarry)
        } else {
            None
        }
    }

    /// The reversed hedge.
    pub fn opposite(self) -> Self {
        match self {
            Self::PositiveCarry => Self::NegativeCarry,
            Self::NegativeCarry => Self::PositiveCarry,
        }
    }

    /// Side that opens the spot leg.
    pub fn spot_entry_side(self) -> Side {
        match self {
            Self::PositiveCarry => Side::Buy,
            Self::NegativeCarry => Side::Sell,
        }
    }

    /// Side that opens the perp leg.
    pub fn perp_entry_side(self) -> Side {
        self.spot_entry_side().opposite()
    }

    /// Side that opens the leg on `venue`.
    pub fn entry_side(self, venue: Venue) -> Side {
        match venue {
            Venue::SpotMargin => self.spot_entry_side(),
            Venue::UsdmPerp => self.perp_entry_side(),
        }
    }

    /// Whether this direction needs borrowed base asset.
    pub fn borrows(self) -> bool {
        self == Self::NegativeCarry
    }
}

/// Hours between funding settlements (Binance uses 8, 4 and 1; any positive value is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct FundingInterval(u32);

impl FundingInterval {
    /// The classic 8-hour interval.
    pub const EIGHT_HOURS: Self = Self(8);
    /// 4-hour interval.
    pub const FOUR_HOURS: Self = Self(4);
    /// 1-hour interval.
    pub const ONE_HOUR: Self = Self(1);

    /// An interval of `hours` (must be positive).
    pub fn from_hours(hours: u32) -> Result<Self> {
        if hours == 0 {
            return Err(Error::InvalidFundingInterval(hours));
        }
        Ok(Self(hours))
    }

    /// Hours between settlements.
    pub fn hours(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for FundingInterval {
    type Error = Error;

    fn try_from(hours: u32) -> Result<Self> {
        Self::from_hours(hours)
    }
}

impl From<FundingInterval> for u32 {
    fn from(interval: FundingInterval) -> Self {
        interval.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn symbol_validation() {
        assert_eq!(Symbol::parse("BTCUSDT").unwrap().as_str(), "BTCUSDT");
        assert!(Symbol::parse("1000PEPEUSDT").is_ok());
        assert!(Symbol::parse("").is_err());
        assert!(Symbol::parse("btcusdt").is_err());
        assert!(Symbol::parse("BTC-USDT").is_err());
        assert!(Symbol::parse("BTCUSDT ").is_err());
        assert!(Symbol::parse(&"A".repeat(33)).is_err());
        let json: std::result::Result<Symbol, _> = serde_json_like("\"ethusdt\"");
        assert!(json.is_err());
    }

    // Round-trips through TOML's serde path to check the `try_from` wiring without serde_json.
    fn serde_json_like(quoted: &str) -> std::result::Result<Symbol, toml::de::Error> {
        #[derive(Deserialize)]
        struct Wrapper {
            s: Symbol,
        }
        toml::from_str::<Wrapper>(&format!("s = {quoted}")).map(|w| w.s)
    }

    #[test]
    fn direction_follows_funding_sign() {
        assert_eq!(
            Direction::for_funding(dec!(0.0001)),
            Some(Direction::PositiveCarry)
        );
        assert_eq!(
            Direction::for_funding(dec!(-0.0001)),
            Some(Direction::NegativeCarry)
        );
        assert_eq!(Direction::for_funding(Decimal::ZERO), None);
        assert_eq!(Direction::PositiveCarry.spot_entry_side(), Side::Buy);
        assert_eq!(Direction::PositiveCarry.perp_entry_side(), Side::Sell);
        assert_eq!(
            Direction::NegativeCarry.entry_side(Venue::SpotMargin),
            Side::Sell
        );
        assert_eq!(
            Direction::NegativeCarry.entry_side(Venue::UsdmPerp),
            Side::Buy
        );
        assert!(Direction::NegativeCarry.borrows());
    }

    #[test]
    fn funding_interval_rejects_zero() {
        assert!(FundingInterval::from_hours(0).is_err());
        assert_eq!(
            FundingInterval::from_hours(4).unwrap(),
            FundingInterval::FOUR_HOURS
        );
    }
}

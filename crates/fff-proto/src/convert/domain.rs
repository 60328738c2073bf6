//! Wire <-> `fff-core` domain types for the shared vocabulary (symbols, venues,
//! sides, directions, margin tiers, funding intervals, symbol filters).
//!
//! `TryFrom<pb::X>` fails only on `*_UNSPECIFIED`, with the enum's snake-case
//! name as the field; handlers that know the real field path use
//! [`parse_domain_enum`], which reports that path instead.

use super::decimal::{decimal_to_string, parse_decimal, parse_optional_decimal};
use super::enums::parse_enum;
use super::error::{FieldError, Problem, echo};
use crate::fff::common::v1 as pb;
use fff_core::{Direction, FundingInterval, MarginTier, Side, Symbol, SymbolFilters, Venue};
use rust_decimal::Decimal;

/// Parses a symbol field (`""` is [`Problem::Missing`]).
pub fn parse_symbol(field: &str, value: &str) -> Result<Symbol, FieldError> {
    if value.is_empty() {
        return Err(FieldError::missing(field));
    }
    Symbol::parse(value).map_err(|err| match err {
        fff_core::Error::InvalidSymbol { reason, .. } => {
            FieldError::invalid(field, format!("invalid symbol {:?}: {reason}", echo(value)))
        }
        other => FieldError::invalid(field, other),
    })
}

/// Parses a funding interval in hours (0 is [`Problem::Missing`]).
pub fn parse_funding_interval(field: &str, hours: u32) -> Result<FundingInterval, FieldError> {
    if hours == 0 {
        return Err(FieldError::missing(field));
    }
    FundingInterval::from_hours(hours).map_err(|err| FieldError::invalid(field, err))
}

/// Converts a raw enum field into a domain enum through its generated enum `P`:
/// unknown numbers and `*_UNSPECIFIED` are errors naming `field`.
///
/// `parse_domain_enum::<pb::Venue, Venue>("spot_leg.venue", raw)`
pub fn parse_domain_enum<P, D>(field: &str, raw: i32) -> Result<D, FieldError>
where
    P: TryFrom<i32>,
    D: TryFrom<P, Error = FieldError>,
{
    let wire: P = parse_enum(field, raw)?;
    D::try_from(wire).map_err(|err| FieldError::new(field, err.problem().clone()))
}

fn unspecified(field: &str) -> FieldError {
    FieldError::new(field, Problem::Unspecified)
}

impl TryFrom<pb::Venue> for Venue {
    type Error = FieldError;

    fn try_from(value: pb::Venue) -> Result<Self, FieldError> {
        match value {
            pb::Venue::SpotMargin => Ok(Self::SpotMargin),
            pb::Venue::UsdmPerp => Ok(Self::UsdmPerp),
            pb::Venue::Unspecified => Err(unspecified("venue")),
        }
    }
}

impl From<Venue> for pb::Venue {
    fn from(value: Venue) -> Self {
        match value {
            Venue::SpotMargin => Self::SpotMargin,
            Venue::UsdmPerp => Self::UsdmPerp,
        }
    }
}

impl TryFrom<pb::Side> for Side {
    type Error = FieldError;

    fn try_from(value: pb::Side) -> Result<Self, FieldError> {
        match value {
            pb::Side::Buy => Ok(Self::Buy),
            pb::Side::Sell => Ok(Self::Sell),
            pb::Side::Unspecified => Err(unspecified("side")),
        }
    }
}

impl From<Side> for pb::Side {
    fn from(value: Side) -> Self {
        match value {
            Side::Buy => Self::Buy,
            Side::Sell => Self::Sell,
        }
    }
}

impl TryFrom<pb::Direction> for Direction {
    type Error = FieldError;

    fn try_from(value: pb::Direction) -> Result<Self, FieldError> {
        match value {
            pb::Direction::PositiveCarry => Ok(Self::PositiveCarry),
            pb::Direction::NegativeCarry => Ok(Self::NegativeCarry),
            pb::Direction::Unspecified => Err(unspecified("direction")),
        }
    }
}

impl From<Direction> for pb::Direction {
    fn from(value: Direction) -> Self {
        match value {
            Direction::PositiveCarry => Self::PositiveCarry,
            Direction::NegativeCarry => Self::NegativeCarry,
        }
    }
}

impl TryFrom<pb::MarginTier> for MarginTier {
    type Error = FieldError;

    fn try_from(value: pb::MarginTier) -> Result<Self, FieldError> {
        match value {
            pb::MarginTier::Green => Ok(Self::Green),
            pb::MarginTier::Yellow => Ok(Self::Yellow),
            pb::MarginTier::Orange => Ok(Self::Orange),
            pb::MarginTier::Red => Ok(Self::Red),
            pb::MarginTier::Unspecified => Err(unspecified("margin_tier")),
        }
    }
}

impl From<MarginTier> for pb::MarginTier {
    fn from(value: MarginTier) -> Self {
        match value {
            MarginTier::Green => Self::Green,
            MarginTier::Yellow => Self::Yellow,
            MarginTier::Orange => Self::Orange,
            MarginTier::Red => Self::Red,
        }
    }
}

/// Field names are the `SymbolFilters` fields; wrap with
/// [`FieldError::within`] for the enclosing path (e.g. `"spot_filters"`).
/// The wire-only fields (`market_min_qty`, `market_max_qty`, `min_price`,
/// `max_price`) have no domain counterpart and are ignored.
impl TryFrom<&pb::SymbolFilters> for SymbolFilters {
    type Error = FieldError;

    fn try_from(wire: &pb::SymbolFilters) -> Result<Self, FieldError> {
        let non_negative = |field: &str, value: &str| -> Result<Decimal, FieldError> {
            let parsed = parse_decimal(field, value)?;
            if parsed.is_sign_negative() && !parsed.is_zero() {
                return Err(FieldError::invalid(field, "must not be negative"));
            }
            Ok(parsed)
        };
        let market_step_size =
            match parse_optional_decimal("market_step_size", &wire.market_step_size)? {
                Some(_) => non_negative("market_step_size", &wire.market_step_size)?,
                None => Decimal::ZERO,
            };
        Ok(Self {
            tick_size: non_negative("tick_size", &wire.tick_size)?,
            step_size: non_negative("step_size", &wire.step_size)?,
            min_qty: non_negative("min_qty", &wire.min_qty)?,
            max_qty: non_negative("max_qty", &wire.max_qty)?,
            market_step_size,
            min_notional: non_negative("min_notional", &wire.min_notional)?,
        })
    }
}

impl TryFrom<pb::SymbolFilters> for SymbolFilters {
    type Error = FieldError;

    fn try_from(wire: pb::SymbolFilters) -> Result<Self, FieldError> {
        Self::try_from(&wire)
    }
}

/// The wire-only fields stay empty ("unknown").
impl From<&SymbolFilters> for pb::SymbolFilters {
    fn from(filters: &SymbolFilters) -> Self {
        Self {
            tick_size: decimal_to_string(filters.tick_size),
            step_size: decimal_to_string(filters.step_size),
            min_qty: decimal_to_string(filters.min_qty),
            max_qty: decimal_to_string(filters.max_qty),
            market_step_size: decimal_to_string(filters.market_step_size),
            min_notional: decimal_to_string(filters.min_notional),
            ..Self::default()
        }
    }
}

impl From<SymbolFilters> for pb::SymbolFilters {
    fn from(filters: SymbolFilters) -> Self {
        Self::from(&filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn btc_perp_filters() -> pb::SymbolFilters {
        pb::SymbolFilters {
            tick_size: "0.10".into(),
            step_size: "0.001".into(),
            min_qty: "0.001".into(),
            max_qty: "1000".into(),
            market_step_size: "0.001".into(),
            market_min_qty: "0.001".into(),
            market_max_qty: "120".into(),
            min_notional: "100".into(),
            min_price: "556.80".into(),
            max_price: "4529764".into(),
        }
    }

    #[test]
    fn enums_round_trip_and_reject_unspecified() {
        for venue in [Venue::SpotMargin, Venue::UsdmPerp] {
            assert_eq!(Venue::try_from(pb::Venue::from(venue)).unwrap(), venue);
        }
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(Side::try_from(pb::Side::from(side)).unwrap(), side);
        }
        for direction in [Direction::PositiveCarry, Direction::NegativeCarry] {
            assert_eq!(
                Direction::try_from(pb::Direction::from(direction)).unwrap(),
                direction
            );
        }
        for tier in [
            MarginTier::Green,
            MarginTier::Yellow,
            MarginTier::Orange,
            MarginTier::Red,
        ] {
            assert_eq!(
                MarginTier::try_from(pb::MarginTier::from(tier)).unwrap(),
                tier
            );
        }
        // Both orderings run from safe to critical, so comparisons agree across the edge.
        assert!(pb::MarginTier::Green < pb::MarginTier::Red);
        assert!(MarginTier::try_from(pb::MarginTier::Unspecified).is_err());
        let err = Direction::try_from(pb::Direction::Unspecified).unwrap_err();
        assert_eq!(
            (err.field(), err.problem()),
            ("direction", &Problem::Unspecified)
        );
    }

    #[test]
    fn raw_enum_fields_report_the_given_path() {
        let venue: Venue =
            parse_domain_enum::<pb::Venue, _>("perp_leg.venue", pb::Venue::UsdmPerp as i32)
                .unwrap();
        assert_eq!(venue, Venue::UsdmPerp);
        let err = parse_domain_enum::<pb::Venue, Venue>("perp_leg.venue", 0).unwrap_err();
        assert_eq!(
            (err.field(), err.problem()),
            ("perp_leg.venue", &Problem::Unspecified)
        );
        let err = parse_domain_enum::<pb::Side, Side>("side", 7).unwrap_err();
        assert_eq!(err.problem(), &Problem::UnknownEnumValue(7));
    }

    #[test]
    fn symbols_and_intervals() {
        assert_eq!(
            parse_symbol("symbol", "BTCUSDT").unwrap().as_str(),
            "BTCUSDT"
        );
        assert_eq!(
            parse_symbol("symbol", "").unwrap_err().problem(),
            &Problem::Missing
        );
        let err = parse_symbol("symbols[2]", "btcusdt").unwrap_err();
        assert_eq!(err.field(), "symbols[2]");
        assert!(err.to_string().contains("uppercase"), "{err}");
        assert_eq!(
            parse_funding_interval("funding_interval_hours", 4)
                .unwrap()
                .hours(),
            4
        );
        assert_eq!(
            parse_funding_interval("funding_interval_hours", 0)
                .unwrap_err()
                .problem(),
            &Problem::Missing
        );
    }

    #[test]
    fn symbol_filters_convert_both_ways() {
        let domain = SymbolFilters::try_from(&btc_perp_filters()).unwrap();
        assert_eq!(domain.tick_size, dec!(0.1));
        assert_eq!(domain.min_notional, dec!(100));
        let back = pb::SymbolFilters::from(&domain);
        assert_eq!(back.tick_size, "0.10");
        assert_eq!(back.market_step_size, "0.001");
        assert_eq!(
            back.max_price, "",
            "wire-only fields are unknown to the domain"
        );
        assert_eq!(SymbolFilters::try_from(back).unwrap(), domain);
    }

    #[test]
    fn symbol_filters_empty_market_step_means_none() {
        let wire = pb::SymbolFilters {
            market_step_size: String::new(),
            ..btc_perp_filters()
        };
        assert_eq!(
            SymbolFilters::try_from(&wire).unwrap().market_step_size,
            Decimal::ZERO
        );
    }

    #[test]
    fn symbol_filters_errors_name_the_path() {
        let wire = pb::SymbolFilters {
            step_size: String::new(),
            ..btc_perp_filters()
        };
        let err = SymbolFilters::try_from(&wire)
            .unwrap_err()
            .within("perp_filters");
        assert_eq!(
            (err.field(), err.problem()),
            ("perp_filters.step_size", &Problem::Missing)
        );
        let wire = pb::SymbolFilters {
            min_qty: "-1".into(),
            ..btc_perp_filters()
        };
        assert_eq!(
            SymbolFilters::try_from(&wire).unwrap_err().field(),
            "min_qty"
        );
    }
}

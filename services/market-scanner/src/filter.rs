//! `OpportunityFilter`, parsed once at the edge.

use std::collections::BTreeSet;

use fff_core::Direction;
use fff_proto::FieldError;
use fff_proto::convert::{parse_domain_enum, parse_optional_decimal, parse_symbol};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::scanner::v1 as pb;
use rust_decimal::Decimal;

use crate::evaluation::Evaluated;

/// Request filters for ListOpportunities / StreamOpportunities.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// At most this many opportunities, best first; 0 = all.
    pub top_n: u32,
    pub direction: Option<Direction>,
    pub min_score: Option<Decimal>,
    pub include_unqualified: bool,
    /// Empty = all symbols.
    pub symbols: BTreeSet<String>,
}

impl Filter {
    /// Parses the wire filter; errors name the field as `filter.<field>`.
    pub fn from_proto(filter: Option<&pb::OpportunityFilter>) -> Result<Self, FieldError> {
        let Some(filter) = filter else {
            return Ok(Self::default());
        };
        let direction = if filter.direction == common::Direction::Unspecified as i32 {
            None
        } else {
            Some(parse_domain_enum::<common::Direction, Direction>(
                "filter.direction",
                filter.direction,
            )?)
        };
        let min_score = parse_optional_decimal("filter.min_score", &filter.min_score)?;
        if let Some(score) = min_score
            && !(Decimal::ZERO..=Decimal::ONE).contains(&score)
        {
            return Err(FieldError::invalid(
                "filter.min_score",
                format!("scores lie in [0, 1], got {score}"),
            ));
        }
        let mut symbols = BTreeSet::new();
        for (i, symbol) in filter.symbols.iter().enumerate() {
            let symbol = parse_symbol(&format!("filter.symbols[{i}]"), symbol)?;
            symbols.insert(symbol.to_string());
        }
        Ok(Self {
            top_n: filter.top_n,
            direction,
            min_score,
            include_unqualified: filter.include_unqualified,
            symbols,
        })
    }

    /// Whether `evaluated` passes every filter except `top_n`.
    pub fn accepts(&self, evaluated: &Evaluated) -> bool {
        (self.include_unqualified || evaluated.qualified())
            && self
                .direction
                .is_none_or(|d| evaluated.direction() == Some(d))
            && self.min_score.is_none_or(|min| evaluated.score() >= min)
            && (self.symbols.is_empty() || self.symbols.contains(evaluated.symbol().as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(f: impl FnOnce(&mut pb::OpportunityFilter)) -> Option<pb::OpportunityFilter> {
        let mut filter = pb::OpportunityFilter::default();
        f(&mut filter);
        Some(filter)
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: [(Option<pb::OpportunityFilter>, &str); 4] = [
            (wire(|f| f.min_score = "abc".into()), "filter.min_score"),
            (wire(|f| f.min_score = "1.5".into()), "filter.min_score"),
            (wire(|f| f.direction = 9), "filter.direction"),
            (
                wire(|f| f.symbols = vec!["BTCUSDT".into(), "ethusdt".into()]),
                "filter.symbols[1]",
            ),
        ];
        for (filter, field) in cases {
            let err = Filter::from_proto(filter.as_ref()).unwrap_err();
            assert_eq!(err.field(), field);
        }
    }

    #[test]
    fn parses_every_field() {
        let filter = Filter::from_proto(
            wire(|f| {
                f.top_n = 3;
                f.direction = common::Direction::NegativeCarry as i32;
                f.min_score = "0.25".into();
                f.include_unqualified = true;
                f.symbols = vec!["SOLUSDT".into()];
            })
            .as_ref(),
        )
        .unwrap();
        assert_eq!(filter.top_n, 3);
        assert_eq!(filter.direction, Some(Direction::NegativeCarry));
        assert_eq!(filter.min_score, Some(Decimal::new(25, 2)));
        assert!(filter.include_unqualified);
        assert!(filter.symbols.contains("SOLUSDT"));
        assert_eq!(Filter::from_proto(None).unwrap(), Filter::default());
    }
}

//! Raw `i32` enum fields -> generated prost enums.
//!
//! prost stores enum fields as `i32` so unknown numbers survive decoding; a
//! handler must decide whether an unknown or `*_UNSPECIFIED` value is acceptable.

use super::error::{FieldError, Problem};

/// Converts a raw enum field, allowing the `*_UNSPECIFIED` zero value (used
/// where unset means "all" or "default"). Unknown numbers are rejected.
pub fn parse_enum<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<E, FieldError> {
    E::try_from(raw).map_err(|_| FieldError::new(field, Problem::UnknownEnumValue(raw)))
}

/// Converts a raw enum field that must be set: the zero value is
/// [`Problem::Unspecified`] (every fff enum's zero is `*_UNSPECIFIED`).
pub fn parse_required_enum<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<E, FieldError> {
    if raw == 0 {
        return Err(FieldError::new(field, Problem::Unspecified));
    }
    parse_enum(field, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fff::common::v1::{Side, Venue};

    #[test]
    fn known_values_convert() {
        assert_eq!(
            parse_required_enum::<Side>("side", Side::Sell as i32).unwrap(),
            Side::Sell
        );
        assert_eq!(parse_enum::<Venue>("venue", 0).unwrap(), Venue::Unspecified);
    }

    #[test]
    fn unspecified_and_unknown_values_name_the_field() {
        let err = parse_required_enum::<Side>("side", 0).unwrap_err();
        assert_eq!(
            (err.field(), err.problem()),
            ("side", &Problem::Unspecified)
        );
        let err = parse_enum::<Venue>("venue", 99).unwrap_err();
        assert_eq!(
            (err.field(), err.problem()),
            ("venue", &Problem::UnknownEnumValue(99))
        );
    }
}

//! Decimal strings <-> `rust_decimal::Decimal`.
//!
//! The wire format is deliberately narrower than what `Decimal::from_str`
//! accepts: an optional `-`, ASCII digits, and optionally `.` followed by
//! digits. No `+`, exponent, underscores, whitespace or bare `.5`/`5.`, so a
//! value means the same thing to every client and to Postgres `NUMERIC`.
//! Parsing is exact: a value that would need rounding is rejected.

use super::error::{FieldError, Problem, echo};
use rust_decimal::Decimal;

/// Parses a required decimal string. An empty string is [`Problem::Missing`]:
/// proto3 cannot tell an unset string from `""`, so empty always means "not given".
pub fn parse_decimal(field: &str, value: &str) -> Result<Decimal, FieldError> {
    parse_optional_decimal(field, value)?.ok_or_else(|| FieldError::missing(field))
}

/// Parses an optional decimal string: `""` is `None`, anything else must be a
/// valid decimal string.
pub fn parse_optional_decimal(field: &str, value: &str) -> Result<Option<Decimal>, FieldError> {
    if value.is_empty() {
        return Ok(None);
    }
    if !is_plain_decimal(value) {
        return Err(FieldError::new(field, Problem::NotDecimal(echo(value))));
    }
    Decimal::from_str_exact(value)
        .map(Some)
        .map_err(|_| FieldError::new(field, Problem::DecimalOutOfRange(echo(value))))
}

/// Formats a decimal for the wire, keeping its scale (`1.50` stays `"1.50"`),
/// so the value round-trips through [`parse_decimal`] unchanged.
pub fn decimal_to_string(value: Decimal) -> String {
    // Negative zero would print as "-0"; the wire has one zero.
    if value.is_zero() {
        return value.abs().to_string();
    }
    value.to_string()
}

/// Formats an optional decimal: `None` becomes `""`.
pub fn optional_decimal_to_string(value: Option<Decimal>) -> String {
    value.map(decimal_to_string).unwrap_or_default()
}

fn is_plain_decimal(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && frac.is_none_or(all_digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_plain_decimals_exactly() {
        assert_eq!(
            parse_decimal("price", "65000.12345678").unwrap(),
            dec!(65000.12345678)
        );
        assert_eq!(parse_decimal("rate", "-0.00010000").unwrap(), dec!(-0.0001));
        assert_eq!(parse_decimal("qty", "3").unwrap(), dec!(3));
        // Scale is kept, so the wire form survives a round trip.
        assert_eq!(parse_decimal("rate", "0.00010000").unwrap().scale(), 8);
    }

    #[test]
    fn round_trips_through_the_wire_form() {
        for text in [
            "0",
            "1.50",
            "-12.5",
            "0.00000001",
            "79228162514264337593543950335",
            "123456789.123456789",
        ] {
            let parsed = parse_decimal("x", text).unwrap();
            assert_eq!(decimal_to_string(parsed), text);
            assert_eq!(
                parse_decimal("x", &decimal_to_string(parsed)).unwrap(),
                parsed
            );
        }
    }

    #[test]
    fn negative_zero_is_written_as_zero() {
        let neg_zero = parse_decimal("x", "-0.00").unwrap();
        assert_eq!(decimal_to_string(neg_zero), "0.00");
    }

    #[test]
    fn empty_is_missing_when_required_and_none_when_optional() {
        let err = parse_decimal("min_score", "").unwrap_err();
        assert_eq!(err.field(), "min_score");
        assert_eq!(err.problem(), &Problem::Missing);
        assert_eq!(parse_optional_decimal("min_score", "").unwrap(), None);
        assert_eq!(
            parse_optional_decimal("min_score", "2.5").unwrap(),
            Some(dec!(2.5))
        );
    }

    #[test]
    fn rejects_everything_but_plain_decimals_and_names_the_field() {
        for bad in [
            "abc", "+1", "1e5", "1E-3", " 1", "1 ", "1_000", ".5", "5.", "-", "--1", "1.2.3",
            "NaN", "0x10", "１",
        ] {
            let err = parse_decimal("quantity", bad).unwrap_err();
            assert_eq!(err.field(), "quantity", "{bad:?}");
            assert!(matches!(err.problem(), Problem::NotDecimal(_)), "{bad:?}");
            assert!(err.to_string().contains("`quantity`"));
        }
    }

    #[test]
    fn rejects_values_that_would_need_rounding_or_overflow() {
        // 29 significant digits after the point: more than Decimal's 28-digit scale.
        let too_precise = "0.00000000000000000000000000001";
        let err = parse_decimal("rate", too_precise).unwrap_err();
        assert!(matches!(err.problem(), Problem::DecimalOutOfRange(_)));
        let too_large = "79228162514264337593543950336";
        let err = parse_decimal("notional", too_large).unwrap_err();
        assert!(matches!(err.problem(), Problem::DecimalOutOfRange(_)));
    }

    #[test]
    fn optional_formatting() {
        assert_eq!(optional_decimal_to_string(None), "");
        assert_eq!(optional_decimal_to_string(Some(dec!(0.25))), "0.25");
    }
}

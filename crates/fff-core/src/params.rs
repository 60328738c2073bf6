//! Strategy configuration sections shared by every service and the backtester.
//!
//! Each section maps to one TOML table (`[capital]`, `[risk]`, `[pair_selection]`, `[execution]`,
//! `[rebalance]`). All fields have defaults (the design values), unknown keys are rejected, and
//! `validate()` returns *every* violation with its dotted key path so the config loader can report
//! them together.
//!
//! Decimal fields accept both TOML numbers (`0.85`) and strings (`"0.85"`): `rust_decimal`'s
//! default `Deserialize` (without the `serde-str` feature) goes through `deserialize_any`, and a
//! test below pins that behaviour. They serialize as strings, which keeps full precision.
//!
//! Rates (`*_rate`, `max_spread`, ...) are plain fractions: `0.0001` means 0.01 %.

mod capital;
mod execution;
mod rebalance;
mod risk;
mod selection;

pub use capital::CapitalParams;
pub use execution::ExecutionParams;
pub use rebalance::RebalanceParams;
pub use risk::RiskParams;
pub use selection::PairSelectionParams;

use rust_decimal::Decimal;

/// One configuration violation, addressed by its dotted key path (`capital.reserve_ratio`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// Dotted key path, `section.field`.
    pub key: String,
    /// Lowercase description of what is wrong.
    pub message: String,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Collects violations for one section.
struct Checker {
    section: &'static str,
    errors: Vec<ParamError>,
}

impl Checker {
    fn new(section: &'static str) -> Self {
        Self {
            section,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(ParamError {
            key: format!("{}.{}", self.section, field),
            message: message.into(),
        });
    }

    fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) {
        if !ok {
            self.fail(field, message);
        }
    }

    /// `low < value <= high` (open at the bottom, closed at the top).
    fn in_open_closed(&mut self, field: &str, value: Decimal, low: Decimal, high: Decimal) {
        self.check(
            value > low && value <= high,
            field,
            format!("must be in ({low}, {high}], got {value}"),
        );
    }

    /// `low <= value < high`.
    fn in_closed_open(&mut self, field: &str, value: Decimal, low: Decimal, high: Decimal) {
        self.check(
            value >= low && value < high,
            field,
            format!("must be in [{low}, {high}), got {value}"),
        );
    }

    fn positive(&mut self, field: &str, value: Decimal) {
        self.check(
            value > Decimal::ZERO,
            field,
            format!("must be positive, got {value}"),
        );
    }

    fn non_negative(&mut self, field: &str, value: Decimal) {
        self.check(
            value >= Decimal::ZERO,
            field,
            format!("must not be negative, got {value}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(CapitalParams::default().validate(), vec![]);
        assert_eq!(RiskParams::default().validate(), vec![]);
        assert_eq!(PairSelectionParams::default().validate(), vec![]);
        assert_eq!(ExecutionParams::default().validate(), vec![]);
        assert_eq!(RebalanceParams::default().validate(), vec![]);
    }

    #[test]
    fn decimal_accepts_toml_numbers_and_strings() {
        let from_number: CapitalParams = toml::from_str("reserve_ratio = 0.12").unwrap();
        let from_string: CapitalParams = toml::from_str("reserve_ratio = \"0.12\"").unwrap();
        let from_integer: CapitalParams = toml::from_str("min_position_usdt = 2000").unwrap();
        assert_eq!(from_number.reserve_ratio, dec!(0.12));
        assert_eq!(from_string.reserve_ratio, dec!(0.12));
        assert_eq!(from_integer.min_position_usdt, dec!(2000));
        // untouched keys keep their defaults
        assert_eq!(from_number.leverage, dec!(5));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let result: Result<RiskParams, _> = toml::from_str("green_abov = 5");
        assert!(result.is_err());
    }

    #[test]
    fn the_retired_order_rate_key_names_where_the_setting_lives() {
        let params: ExecutionParams = toml::from_str("max_orders_per_second = 10").unwrap();
        let errors = params.validate();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(text.contains("execution.max_orders_per_second"), "{text}");
        assert!(text.contains("exchange.orders_per_second"), "{text}");
        let defaults = toml::to_string(&ExecutionParams::default()).unwrap();
        assert!(!defaults.contains("max_orders_per_second"), "{defaults}");
    }

    #[test]
    fn serialized_defaults_round_trip_and_list_every_key() {
        let text = toml::to_string(&PairSelectionParams::default()).unwrap();
        assert!(text.contains("weight_spread"));
        assert!(text.contains("max_pairs"));
        let back: PairSelectionParams = toml::from_str(&text).unwrap();
        assert_eq!(back, PairSelectionParams::default());
    }
}

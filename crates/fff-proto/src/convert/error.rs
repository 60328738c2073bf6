//! The error every edge conversion returns.

/// A request field that could not be converted into a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field `{field}`: {problem}")]
pub struct FieldError {
    field: String,
    problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The field is required but empty or unset.
    #[error("value is required")]
    Missing,
    /// Not a plain decimal string (`-?digits(.digits)?`). Holds the start of the input.
    #[error("not a decimal string: {0:?}")]
    NotDecimal(String),
    /// Syntactically a decimal, but too large or too precise for an exact `Decimal`.
    #[error("decimal out of range or too precise: {0:?}")]
    DecimalOutOfRange(String),
    /// Outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999999Z or nanos
    /// outside 0..1_000_000_000.
    #[error("timestamp out of range")]
    TimestampOutOfRange,
    /// An enum number this build does not know.
    #[error("unknown enum value {0}")]
    UnknownEnumValue(i32),
    /// An enum left at its `*_UNSPECIFIED` zero value where a value is required.
    #[error("value must not be unspecified")]
    Unspecified,
    /// Any other domain rule (e.g. a malformed symbol); the text says which.
    #[error("{0}")]
    Invalid(String),
}

/// Longest slice of caller input echoed back in an error message.
const ECHO_LIMIT: usize = 40;

impl FieldError {
    /// A `problem` with the field named `field`.
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }

    /// A required field that is empty or unset.
    pub fn missing(field: impl Into<String>) -> Self {
        Self::new(field, Problem::Missing)
    }

    /// A field that breaks a domain rule described by `reason`.
    pub fn invalid(field: impl Into<String>, reason: impl ToString) -> Self {
        Self::new(field, Problem::Invalid(reason.to_string()))
    }

    /// The proto field path.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// Prefixes the field path with a parent message field, for nested messages:
    /// `err.within("spot_leg")` turns `quantity` into `spot_leg.quantity`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl From<FieldError> for tonic::Status {
    fn from(err: FieldError) -> Self {
        tonic::Status::invalid_argument(err.to_string())
    }
}

/// The first [`ECHO_LIMIT`] characters of caller input, marked when cut.
pub(crate) fn echo(input: &str) -> String {
    match input.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("{}...", &input[..cut]),
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_invalid_argument_naming_the_field() {
        let status = tonic::Status::from(FieldError::missing("quantity"));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid field `quantity`: value is required"
        );
    }

    #[test]
    fn within_builds_a_field_path() {
        let err = FieldError::missing("quantity")
            .within("spot_leg")
            .within("position");
        assert_eq!(err.field(), "position.spot_leg.quantity");
    }

    #[test]
    fn echo_cuts_long_input_on_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = echo(&long);
        assert_eq!(cut.chars().count(), ECHO_LIMIT + 3);
        assert!(cut.ends_with("..."));
        assert_eq!(echo("12.5"), "12.5");
    }
}

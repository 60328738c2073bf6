//! The crate error type.

use rust_decimal::Decimal;

/// Everything that can go wrong in the decision core. Messages are lowercase, no trailing period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A symbol string that is not uppercase ASCII alphanumeric.
    #[error("invalid symbol {symbol:?}: {reason}")]
    InvalidSymbol {
        /// The rejected input.
        symbol: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A funding interval of zero hours.
    #[error("invalid funding interval: {0} hours")]
    InvalidFundingInterval(u32),
    /// Parameters that cannot be used (normally caught by `validate`).
    #[error("invalid parameter {key}: {message}")]
    InvalidParams {
        /// Dotted key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An input value outside its domain (negative equity, zero price, ...).
    #[error("invalid input {field}: {value}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// The rejected value.
        value: Decimal,
    },
    /// Leg sizing failed.
    #[error("cannot size legs: {0}")]
    Sizing(#[from] SizingError),
    /// Samples must arrive in time order.
    #[error("equity sample at {at} is older than the previous sample at {previous}")]
    OutOfOrderSample {
        /// The rejected sample time.
        at: chrono::DateTime<chrono::Utc>,
        /// The latest accepted sample time.
        previous: chrono::DateTime<chrono::Utc>,
    },
    /// A computation exceeded `Decimal`'s range.
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
}

/// Why a hedge could not be sized to valid exchange quantities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    /// Quantity after rounding is below a venue's `minQty`.
    #[error("quantity {qty} below minimum {min_qty}")]
    BelowMinQty {
        /// Rounded quantity.
        qty: Decimal,
        /// The larger of the two venues' minimums.
        min_qty: Decimal,
    },
    /// Quantity exceeds a venue's `maxQty`; split the order (TWAP).
    #[error("quantity {qty} above maximum {max_qty}")]
    AboveMaxQty {
        /// Rounded quantity.
        qty: Decimal,
        /// The smaller of the two venues' maximums.
        max_qty: Decimal,
    },
    /// Notional after rounding is below a venue's `MIN_NOTIONAL`/`NOTIONAL` minimum.
    #[error("notional {notional} below minimum {min_notional}")]
    BelowMinNotional {
        /// Rounded notional.
        notional: Decimal,
        /// The larger of the two venues' minimums.
        min_notional: Decimal,
    },
    /// The venues' step sizes have no common multiple representable as a `Decimal`.
    #[error("step sizes {spot} and {perp} have no usable common multiple")]
    IncompatibleSteps {
        /// Spot step.
        spot: Decimal,
        /// Perp step.
        perp: Decimal,
    },
}

impl From<crate::params::ParamError> for Error {
    fn from(error: crate::params::ParamError) -> Self {
        Self::InvalidParams {
            key: error.key,
            message: error.message,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

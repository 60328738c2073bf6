//! Conversions between wire values and domain values at the service edge.
//!
//! Incoming values are parsed strictly and every failure names the offending
//! field, so a handler can answer `INVALID_ARGUMENT` with a message the caller
//! can act on (`FieldError` converts into `tonic::Status`). Field names are the
//! proto field paths, e.g. `"price"` or `"spot_leg.quantity"`.

mod decimal;
mod domain;
mod enums;
mod error;
mod time;

pub use decimal::{
    decimal_to_string, optional_decimal_to_string, parse_decimal, parse_optional_decimal,
};
pub use domain::{parse_domain_enum, parse_funding_interval, parse_symbol};
pub use enums::{parse_enum, parse_required_enum};
pub use error::{FieldError, Problem};
pub use time::{
    datetime_to_timestamp, optional_timestamp, required_timestamp, timestamp_to_datetime,
};

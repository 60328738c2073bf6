//! `google.protobuf.Timestamp` <-> `chrono::DateTime<Utc>`, checked both ways.

use super::error::{FieldError, Problem};
use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// 0001-01-01T00:00:00Z, the earliest valid `Timestamp`.
const MIN_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest valid `Timestamp` second.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Converts a wire timestamp, rejecting values outside the range the protobuf
/// spec allows (years 1..=9999) and non-normalized nanos (outside 0..1e9).
pub fn timestamp_to_datetime(field: &str, ts: &Timestamp) -> Result<DateTime<Utc>, FieldError> {
    let out_of_range = || FieldError::new(field, Problem::TimestampOutOfRange);
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) {
        return Err(out_of_range());
    }
    let nanos = u32::try_from(ts.nanos).map_err(|_| out_of_range())?;
    if nanos >= 1_000_000_000 {
        return Err(out_of_range());
    }
    DateTime::from_timestamp(ts.seconds, nanos).ok_or_else(out_of_range)
}

/// A required timestamp field: unset is [`Problem::Missing`].
pub fn required_timestamp(
    field: &str,
    ts: Option<&Timestamp>,
) -> Result<DateTime<Utc>, FieldError> {
    let ts = ts.ok_or_else(|| FieldError::missing(field))?;
    timestamp_to_datetime(field, ts)
}

/// An optional timestamp field: unset is `None`, set must be valid.
pub fn optional_timestamp(
    field: &str,
    ts: Option<&Timestamp>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    ts.map(|ts| timestamp_to_datetime(field, ts)).transpose()
}

/// Converts a time for the wire; `None` if it lies outside the years 1..=9999
/// that `Timestamp` can carry (chrono's range is wider).
pub fn datetime_to_timestamp(at: DateTime<Utc>) -> Option<Timestamp> {
    let seconds = at.timestamp();
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return None;
    }
    // Leap-second representations (nanos >= 1e9) fold into the same second.
    let nanos = at.timestamp_subsec_nanos().min(999_999_999);
    Some(Timestamp {
        seconds,
        nanos: i32::try_from(nanos).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    #[test]
    fn round_trips_with_nanosecond_precision() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        let wire = datetime_to_timestamp(at).unwrap();
        assert_eq!(wire, ts(1_795_593_600, 123_456_789));
        assert_eq!(timestamp_to_datetime("event_time", &wire).unwrap(), at);
    }

    #[test]
    fn range_ends_are_accepted() {
        for wire in [
            ts(MIN_SECONDS, 0),
            ts(MAX_SECONDS, 999_999_999),
            ts(0, 0),
            ts(-1, 500),
        ] {
            let at = timestamp_to_datetime("t", &wire).unwrap();
            assert_eq!(datetime_to_timestamp(at), Some(wire));
        }
    }

    #[test]
    fn rejects_out_of_range_and_names_the_field() {
        for wire in [
            ts(MIN_SECONDS - 1, 0),
            ts(MAX_SECONDS + 1, 0),
            ts(0, -1),
            ts(0, 1_000_000_000),
            ts(i64::MAX, 0),
        ] {
            let err = timestamp_to_datetime("next_funding_time", &wire).unwrap_err();
            assert_eq!(err.field(), "next_funding_time");
            assert_eq!(err.problem(), &Problem::TimestampOutOfRange);
        }
    }

    #[test]
    fn refuses_to_send_times_beyond_year_9999() {
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(datetime_to_timestamp(far), None);
        let ancient = Utc.with_ymd_and_hms(0, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(datetime_to_timestamp(ancient), None);
    }

    #[test]
    fn required_and_optional_fields() {
        let err = required_timestamp("issued_at", None).unwrap_err();
        assert_eq!(
            (err.field(), err.problem()),
            ("issued_at", &Problem::Missing)
        );
        assert_eq!(optional_timestamp("expires_at", None).unwrap(), None);
        let at = optional_timestamp("expires_at", Some(&ts(60, 0))).unwrap();
        assert_eq!(at, DateTime::from_timestamp(60, 0));
    }
}

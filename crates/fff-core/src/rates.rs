//! Bring funding and borrow rates onto one period so they can be compared.
//!
//! Convention: every rate is a plain fraction *per normalisation period* of
//! `rate_period_hours` hours (8 by default, Binance's classic funding interval), scaled
//! linearly (simple interest, no compounding). Binance settles funding once per interval and
//! charges margin interest hourly on the borrowed principal (quoting a daily rate, charged as
//! `daily / 24` each hour), so linear scaling is exactly what the account is charged over one
//! period. Arithmetic saturates instead of panicking on absurd inputs.

use rust_decimal::Decimal;

use crate::types::FundingInterval;

/// Hours per day, for daily → hourly borrow rates.
const HOURS_PER_DAY: Decimal = Decimal::from_parts(24, 0, 0, false, 0);
/// Hours per (365-day) year, for display-only annualisation.
const HOURS_PER_YEAR: Decimal = Decimal::from_parts(8760, 0, 0, false, 0);

/// Funding `rate` paid every `interval`, expressed per `period_hours`.
///
/// A 1-hour interval at 0.01 % is 0.08 % per 8 h; an 8-hour interval is unchanged.
pub fn normalize_funding_rate(
    rate: Decimal,
    interval: FundingInterval,
    period_hours: u32,
) -> Decimal {
    rate.saturating_mul(Decimal::from(period_hours)) / Decimal::from(interval.hours())
}

/// Hourly rate from a daily one (Binance quotes `dailyInterestRate`).
pub fn hourly_from_daily(daily_rate: Decimal) -> Decimal {
    daily_rate / HOURS_PER_DAY
}

/// Borrow cost per `period_hours` from an hourly rate.
pub fn borrow_rate_for_period(hourly_rate: Decimal, period_hours: u32) -> Decimal {
    hourly_rate.saturating_mul(Decimal::from(period_hours))
}

/// Simple (non-compounded) annual rate from a per-period rate; for display only.
///
/// Returns zero for a zero-hour period instead of dividing by zero.
pub fn annualize(rate_per_period: Decimal, period_hours: u32) -> Decimal {
    if period_hours == 0 {
        return Decimal::ZERO;
    }
    rate_per_period.saturating_mul(HOURS_PER_YEAR) / Decimal::from(period_hours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn funding_normalises_by_interval() {
        assert_eq!(
            normalize_funding_rate(dec!(0.0001), FundingInterval::EIGHT_HOURS, 8),
            dec!(0.0001)
        );
        assert_eq!(
            normalize_funding_rate(dec!(0.0001), FundingInterval::ONE_HOUR, 8),
            dec!(0.0008)
        );
        assert_eq!(
            normalize_funding_rate(dec!(-0.0002), FundingInterval::FOUR_HOURS, 8),
            dec!(-0.0004)
        );
    }

    #[test]
    fn borrow_rates_scale_linearly() {
        // 0.024 % per day = 0.001 % per hour = 0.008 % per 8 h
        let hourly = hourly_from_daily(dec!(0.00024));
        assert_eq!(hourly, dec!(0.00001));
        assert_eq!(borrow_rate_for_period(hourly, 8), dec!(0.00008));
    }

    #[test]
    fn annualisation() {
        // 0.01 % per 8 h = 10.95 % a year
        assert_eq!(annualize(dec!(0.0001), 8), dec!(0.1095));
        assert_eq!(annualize(dec!(0.0001), 0), Decimal::ZERO);
    }
}

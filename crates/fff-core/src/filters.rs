//! Exchange trading rules for one symbol on one venue, and explicit rounding helpers.
//!
//! Binance semantics: a step or tick of zero disables that rule, so every helper here returns
//! the value unchanged for a non-positive step. Rounded results carry the step's own scale
//! (`0.00100000` → 3 decimals), so they format without surplus digits.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `PRICE_FILTER`, `LOT_SIZE`, `MARKET_LOT_SIZE` and `MIN_NOTIONAL`/`NOTIONAL` of one symbol on
/// one venue. Zero means "no constraint" (Binance convention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolFilters {
    /// Price increment (`PRICE_FILTER.tickSize`).
    pub tick_size: Decimal,
    /// Quantity increment for limit orders (`LOT_SIZE.stepSize`).
    pub step_size: Decimal,
    /// Smallest order quantity (`LOT_SIZE.minQty`).
    pub min_qty: Decimal,
    /// Largest order quantity (`LOT_SIZE.maxQty`; the smaller market limit when relevant).
    pub max_qty: Decimal,
    /// Quantity increment for market orders (`MARKET_LOT_SIZE.stepSize`).
    pub market_step_size: Decimal,
    /// Smallest order notional in quote asset (`MIN_NOTIONAL`/`NOTIONAL`).
    pub min_notional: Decimal,
}

/// How to round a price onto the tick grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceRounding {
    /// Toward negative infinity (buy limits that must not overpay).
    Down,
    /// Toward positive infinity (sell limits that must not undersell).
    Up,
    /// Nearest tick, halves rounded up.
    Nearest,
}

impl SymbolFilters {
    /// No tick, step, size or notional constraint (every field zero), for backtests and tests.
    pub fn unconstrained() -> Self {
        Self {
            tick_size: Decimal::ZERO,
            step_size: Decimal::ZERO,
            min_qty: Decimal::ZERO,
            max_qty: Decimal::ZERO,
            market_step_size: Decimal::ZERO,
            min_notional: Decimal::ZERO,
        }
    }

    /// Round `price` to this symbol's tick in the given direction.
    pub fn round_price(&self, price: Decimal, rounding: PriceRounding) -> Decimal {
        match rounding {
            PriceRounding::Down => floor_to_step(price, self.tick_size),
            PriceRounding::Up => ceil_to_step(price, self.tick_size),
            PriceRounding::Nearest => round_to_step(price, self.tick_size),
        }
    }

    /// Floor `qty` to the limit-order step (never rounds up, so never over-trades).
    pub fn floor_qty(&self, qty: Decimal) -> Decimal {
        floor_to_step(qty, self.step_size)
    }

    /// Floor `qty` to the market-order step (falls back to the limit step when unset).
    pub fn floor_market_qty(&self, qty: Decimal) -> Decimal {
        let step = if self.market_step_size > Decimal::ZERO {
            self.market_step_size
        } else {
            self.step_size
        };
        floor_to_step(qty, step)
    }

    /// The step every order quantity must be a multiple of, whether limit or market.
    pub fn effective_step(&self) -> Option<Decimal> {
        common_step(self.step_size, self.market_step_size)
    }
}

/// Largest multiple of `step` that is `<= value`; `value` unchanged when `step <= 0`.
pub fn floor_to_step(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    let Some(mut remainder) = value.checked_rem(step) else {
        return value;
    };
    if remainder < Decimal::ZERO {
        remainder += step;
    }
    rescale_to_step(value.saturating_sub(remainder), step)
}

/// Smallest multiple of `step` that is `>= value`; `value` unchanged when `step <= 0`.
pub fn ceil_to_step(value: Decimal, step: Decimal) -> Decimal {
    let floored = floor_to_step(value, step);
    if floored == value || step <= Decimal::ZERO {
        return floored;
    }
    rescale_to_step(floored.saturating_add(step), step)
}

/// Nearest multiple of `step` (halves up); `value` unchanged when `step <= 0`.
pub fn round_to_step(value: Decimal, step: Decimal) -> Decimal {
    let floored = floor_to_step(value, step);
    if step <= Decimal::ZERO {
        return floored;
    }
    let remainder = value.saturating_sub(floored);
    if remainder.saturating_add(remainder) >= step {
        rescale_to_step(floored.saturating_add(step), step)
    } else {
        floored
    }
}

/// Whether `value` is an exact multiple of `step` (always true for `step <= 0`).
pub fn is_multiple_of_step(value: Decimal, step: Decimal) -> bool {
    step <= Decimal::ZERO || value.checked_rem(step).is_some_and(|r| r.is_zero())
}

/// Least common multiple of two steps, so one quantity is valid on both grids. A non-positive
/// step imposes nothing. `None` when the multiple overflows `Decimal`.
///
/// Binance steps are powers of ten, where this is simply the coarser step.
pub fn common_step(a: Decimal, b: Decimal) -> Option<Decimal> {
    if a <= Decimal::ZERO {
        return Some(b.max(Decimal::ZERO));
    }
    if b <= Decimal::ZERO {
        return Some(a);
    }
    let scale = a.scale().max(b.scale());
    let ma = mantissa_at_scale(a, scale)?;
    let mb = mantissa_at_scale(b, scale)?;
    let lcm = (ma / gcd(ma, mb)).checked_mul(mb)?;
    let lcm = i64::try_from(lcm).ok()?;
    Some(Decimal::new(lcm, scale).normalize())
}

fn mantissa_at_scale(value: Decimal, scale: u32) -> Option<u128> {
    let shift = 10u128.checked_pow(scale.checked_sub(value.scale())?)?;
    u128::try_from(value.mantissa()).ok()?.checked_mul(shift)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Drop digits below the step's precision; exact because `value` is already on the grid.
fn rescale_to_step(value: Decimal, step: Decimal) -> Decimal {
    let step_scale = step.normalize().scale();
    if value.scale() > step_scale {
        value.round_dp(step_scale)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn btc_spot() -> SymbolFilters {
        SymbolFilters {
            tick_size: dec!(0.01000000),
            step_size: dec!(0.00001000),
            min_qty: dec!(0.00001000),
            max_qty: dec!(9000.00000000),
            market_step_size: dec!(0.00000000),
            min_notional: dec!(5.00000000),
        }
    }

    #[test]
    fn unconstrained_filters_leave_every_value_as_it_is() {
        let filters = SymbolFilters::unconstrained();
        assert_eq!(filters.floor_qty(dec!(0.123456789)), dec!(0.123456789));
        assert_eq!(
            filters.round_price(dec!(65000.123), PriceRounding::Up),
            dec!(65000.123)
        );
    }

    #[test]
    fn rounding_is_explicit_and_trims_scale() {
        let filters = btc_spot();
        assert_eq!(filters.floor_qty(dec!(0.123456789)), dec!(0.12345));
        assert_eq!(filters.floor_qty(dec!(0.123456789)).to_string(), "0.12345");
        assert_eq!(filters.floor_market_qty(dec!(0.123456789)), dec!(0.12345));
        assert_eq!(
            filters.round_price(dec!(65000.123), PriceRounding::Down),
            dec!(65000.12)
        );
        assert_eq!(
            filters.round_price(dec!(65000.123), PriceRounding::Up),
            dec!(65000.13)
        );
        assert_eq!(
            filters.round_price(dec!(65000.125), PriceRounding::Nearest),
            dec!(65000.13)
        );
        assert_eq!(
            filters.round_price(dec!(65000.124), PriceRounding::Nearest),
            dec!(65000.12)
        );
        assert_eq!(
            filters.round_price(dec!(65000.12), PriceRounding::Up),
            dec!(65000.12)
        );
    }

    #[test]
    fn zero_step_disables_rule() {
        assert_eq!(floor_to_step(dec!(1.23456), Decimal::ZERO), dec!(1.23456));
        assert_eq!(ceil_to_step(dec!(1.23456), Decimal::ZERO), dec!(1.23456));
    }

    #[test]
    fn negative_values_floor_toward_negative_infinity() {
        assert_eq!(floor_to_step(dec!(-1.25), dec!(0.1)), dec!(-1.3));
        assert_eq!(ceil_to_step(dec!(-1.25), dec!(0.1)), dec!(-1.2));
    }

    #[test]
    fn common_step_is_lcm() {
        assert_eq!(common_step(dec!(0.001), dec!(0.00001)), Some(dec!(0.001)));
        assert_eq!(common_step(dec!(0.004), dec!(0.006)), Some(dec!(0.012)));
        assert_eq!(common_step(dec!(0.1), Decimal::ZERO), Some(dec!(0.1)));
        assert_eq!(
            common_step(Decimal::ZERO, Decimal::ZERO),
            Some(Decimal::ZERO)
        );
    }

    proptest! {
        #[test]
        fn floor_and_ceil_bracket_value(units in -10_000_000i64..10_000_000, step_exp in 0u32..8) {
            let value = Decimal::new(units, 6);
            let step = Decimal::new(1, step_exp);
            let low = floor_to_step(value, step);
            let high = ceil_to_step(value, step);
            prop_assert!(low <= value && value <= high);
            prop_assert!(high - low <= step);
            prop_assert!(is_multiple_of_step(low, step) && is_multiple_of_step(high, step));
            let nearest = round_to_step(value, step);
            prop_assert!(nearest == low || nearest == high);
        }

        #[test]
        fn common_step_is_multiple_of_both(a in 1i64..1000, b in 1i64..1000, sa in 0u32..8, sb in 0u32..8) {
            let (x, y) = (Decimal::new(a, sa), Decimal::new(b, sb));
            let step = common_step(x, y).unwrap();
            prop_assert!(is_multiple_of_step(step, x) && is_multiple_of_step(step, y));
        }
    }
}

//! Splitting a large order into TWAP slices.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::filters::floor_to_step;
use crate::params::ExecutionParams;

/// Upper bound on slices, so absurd inputs cannot allocate huge vectors.
pub const MAX_TWAP_SLICES: u32 = 1000;

/// Slice quantities for an order of `total_qty` at roughly `price`.
///
/// Orders up to `twap_threshold_usdt` notional go in one piece. Larger ones are cut into
/// `n = ceil(notional / twap_slice_usdt)` slices (at most [`MAX_TWAP_SLICES`]) of
/// `floor(total / n)` (to `step`), the last slice taking the remainder, so the slices sum
/// exactly to `total_qty`. Empty for a non-positive quantity; one slice for a non-positive price.
pub fn twap_slices(
    total_qty: Decimal,
    price: Decimal,
    step: Decimal,
    params: &ExecutionParams,
) -> Vec<Decimal> {
    if total_qty <= Decimal::ZERO {
        return Vec::new();
    }
    let notional = total_qty.saturating_mul(price);
    if price <= Decimal::ZERO || notional <= params.twap_threshold_usdt {
        return vec![total_qty];
    }
    let count = notional
        .checked_div(params.twap_slice_usdt)
        .and_then(|n| n.ceil().to_u32())
        .unwrap_or(MAX_TWAP_SLICES)
        .min(MAX_TWAP_SLICES);
    if count <= 1 {
        return vec![total_qty];
    }
    let slice = floor_to_step(total_qty / Decimal::from(count), step);
    if slice <= Decimal::ZERO {
        return vec![total_qty];
    }
    let mut slices = vec![slice; count as usize - 1];
    slices.push(total_qty - slice * Decimal::from(count - 1));
    slices
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn small_orders_are_not_split() {
        let params = ExecutionParams::default();
        assert_eq!(
            twap_slices(dec!(0.5), dec!(100_000), dec!(0.001), &params),
            vec![dec!(0.5)]
        );
    }

    #[test]
    fn large_order_splits_into_slices() {
        let params = ExecutionParams::default();
        // 1.234 BTC at 100k = 123 400 USDT > 50k -> ceil(12.34) = 13 slices of 10k
        let slices = twap_slices(dec!(1.234), dec!(100_000), dec!(0.001), &params);
        assert_eq!(slices.len(), 13);
        assert_eq!(slices[0], dec!(0.094));
        assert_eq!(slices.iter().copied().sum::<Decimal>(), dec!(1.234));
    }

    proptest! {
        #[test]
        fn slices_sum_to_total(units in 1i64..100_000_000, price in 1i64..200_000) {
            let params = ExecutionParams::default();
            let total = Decimal::new(units, 3);
            let slices = twap_slices(total, Decimal::from(price), dec!(0.001), &params);
            prop_assert_eq!(slices.iter().copied().sum::<Decimal>(), total);
            prop_assert!(slices.iter().all(|s| *s > Decimal::ZERO));
        }
    }
}

//! Turning a per-leg notional into exchange-valid, matching leg quantities.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{Error, Result, SizingError};
use crate::filters::{SymbolFilters, common_step, floor_to_step};

/// Step used when neither venue sets one: Binance's finest quantity precision.
const FALLBACK_STEP: Decimal = Decimal::from_parts(1, 0, 0, false, 8);

/// Quantities for both legs of one hedge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegSizes {
    /// Spot leg quantity (base asset).
    pub spot_qty: Decimal,
    /// Perp leg quantity (base asset); equal to `spot_qty`.
    pub perp_qty: Decimal,
    /// The step both quantities are multiples of: the least common multiple of the spot and
    /// perp limit and market steps (the coarser step when they are powers of ten).
    pub step: Decimal,
    /// `qty * price`, the notional actually sized.
    pub notional: Decimal,
}

/// Size both legs of a hedge of `notional` USDT at `price`.
///
/// Both legs get the *same* quantity: `notional / price` floored to a step that is valid on
/// both venues for limit and market orders, so they never differ (well within one step).
/// Fails when the rounded quantity is below either venue's `minQty`, above either `maxQty`, or
/// its notional is below either venue's minimum notional. Fees (e.g. a spot buy's commission
/// charged in the base asset) are the executor's concern.
pub fn size_legs(
    notional: Decimal,
    price: Decimal,
    spot: &SymbolFilters,
    perp: &SymbolFilters,
) -> Result<LegSizes> {
    if price <= Decimal::ZERO {
        return Err(Error::InvalidInput {
            field: "price",
            value: price,
        });
    }
    if notional < Decimal::ZERO {
        return Err(Error::InvalidInput {
            field: "notional",
            value: notional,
        });
    }
    let incompatible = || SizingError::IncompatibleSteps {
        spot: spot.step_size,
        perp: perp.step_size,
    };
    let spot_step = spot.effective_step().ok_or_else(incompatible)?;
    let perp_step = perp.effective_step().ok_or_else(incompatible)?;
    let mut step = common_step(spot_step, perp_step).ok_or_else(incompatible)?;
    if step <= Decimal::ZERO {
        step = FALLBACK_STEP;
    }
    let raw_qty = notional
        .checked_div(price)
        .ok_or(Error::Overflow("size_legs"))?;
    let qty = floor_to_step(raw_qty, step);

    let min_qty = spot.min_qty.max(perp.min_qty);
    if qty <= Decimal::ZERO || qty < min_qty {
        return Err(SizingError::BelowMinQty { qty, min_qty }.into());
    }
    let max_qty = [spot.max_qty, perp.max_qty]
        .into_iter()
        .filter(|max| *max > Decimal::ZERO)
        .min();
    if let Some(max_qty) = max_qty
        && qty > max_qty
    {
        return Err(SizingError::AboveMaxQty { qty, max_qty }.into());
    }
    let sized_notional = qty.checked_mul(price).ok_or(Error::Overflow("size_legs"))?;
    let min_notional = spot.min_notional.max(perp.min_notional);
    if sized_notional < min_notional {
        return Err(SizingError::BelowMinNotional {
            notional: sized_notional,
            min_notional,
        }
        .into());
    }
    Ok(LegSizes {
        spot_qty: qty,
        perp_qty: qty,
        step,
        notional: sized_notional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::is_multiple_of_step;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn spot_btc() -> SymbolFilters {
        SymbolFilters {
            tick_size: dec!(0.01),
            step_size: dec!(0.00001),
            min_qty: dec!(0.00001),
            max_qty: dec!(9000),
            market_step_size: Decimal::ZERO,
            min_notional: dec!(5),
        }
    }

    fn perp_btc() -> SymbolFilters {
        SymbolFilters {
            tick_size: dec!(0.10),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: dec!(1000),
            market_step_size: dec!(0.001),
            min_notional: dec!(100),
        }
    }

    #[test]
    fn both_legs_use_the_coarser_step() {
        let legs = size_legs(dec!(130_434.78), dec!(97_123.45), &spot_btc(), &perp_btc()).unwrap();
        // 130434.78 / 97123.45 = 1.34297... -> 1.342
        assert_eq!(legs.spot_qty, dec!(1.342));
        assert_eq!(legs.perp_qty, legs.spot_qty);
        assert_eq!(legs.step, dec!(0.001));
        assert_eq!(legs.notional, dec!(1.342) * dec!(97_123.45));
    }

    #[test]
    fn minimums_and_maximums_are_enforced() {
        // 50 USDT of BTC: 0.0005 floors to 0 on the perp step
        assert!(matches!(
            size_legs(dec!(50), dec!(100_000), &spot_btc(), &perp_btc()),
            Err(Error::Sizing(SizingError::BelowMinQty { .. }))
        ));
        // 0.001 BTC at 90k = 90 USDT < perp minimum notional 100
        assert!(matches!(
            size_legs(dec!(95), dec!(90_000), &spot_btc(), &perp_btc()),
            Err(Error::Sizing(SizingError::BelowMinNotional { .. }))
        ));
        assert!(matches!(
            size_legs(dec!(200_000_000), dec!(100_000), &spot_btc(), &perp_btc()),
            Err(Error::Sizing(SizingError::AboveMaxQty { .. }))
        ));
        assert!(size_legs(dec!(100), Decimal::ZERO, &spot_btc(), &perp_btc()).is_err());
    }

    proptest! {
        #[test]
        fn rounded_legs_match_and_never_overshoot(
            notional_cents in 0i64..10_000_000_000,
            price_units in 1i64..100_000_000,
            spot_exp in 0u32..8,
            perp_exp in 0u32..6,
        ) {
            let spot = SymbolFilters { step_size: Decimal::new(1, spot_exp), min_qty: Decimal::ZERO, max_qty: Decimal::ZERO, min_notional: Decimal::ZERO, ..spot_btc() };
            let perp = SymbolFilters { step_size: Decimal::new(1, perp_exp), market_step_size: Decimal::new(1, perp_exp), min_qty: Decimal::ZERO, max_qty: Decimal::ZERO, min_notional: Decimal::ZERO, ..perp_btc() };
            let notional = Decimal::new(notional_cents, 2);
            let price = Decimal::new(price_units, 2);
            if let Ok(legs) = size_legs(notional, price, &spot, &perp) {
                prop_assert!((legs.spot_qty - legs.perp_qty).abs() <= legs.step);
                prop_assert!(is_multiple_of_step(legs.spot_qty, spot.step_size));
                prop_assert!(is_multiple_of_step(legs.perp_qty, perp.step_size));
                prop_assert!(legs.notional <= notional);
                prop_assert!(notional - legs.notional < legs.step * price);
            }
        }
    }
}

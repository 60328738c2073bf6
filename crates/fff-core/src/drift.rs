//! Delta drift: how far a hedge is from neutral.
//!
//! Quantities are signed base-asset amounts: long positive, short negative (a borrowed-and-sold
//! spot leg is negative). `drift = |spot + perp| / max(|spot|, |perp|)`:
//! 0 for a perfect hedge, 1 when one leg is missing, up to 2 when both legs point the same way.

use rust_decimal::Decimal;

use crate::types::{Side, Venue};

/// `|spot + perp| / max(|spot|, |perp|)`, zero when both legs are zero.
///
/// Design example: perp −1.0 BTC, spot +1.05 BTC → 0.05 / 1.05 ≈ 4.76 %.
pub fn delta_drift(spot_qty: Decimal, perp_qty: Decimal) -> Decimal {
    let larger = spot_qty.abs().max(perp_qty.abs());
    if larger.is_zero() {
        return Decimal::ZERO;
    }
    let net = spot_qty.saturating_add(perp_qty).abs();
    net.checked_div(larger).unwrap_or(Decimal::ZERO)
}

/// The trade that makes the smaller leg mirror the larger one, unrounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegAdjustment {
    /// Venue of the smaller leg (the perp when both are equal in size).
    pub venue: Venue,
    /// Direction of the trade.
    pub side: Side,
    /// Base-asset quantity, before step rounding.
    pub qty: Decimal,
}

/// Trade on the smaller leg that brings it to `-larger`; `None` when already neutral.
///
/// Ties go to the perp: it is the more liquid leg and needs no borrow.
pub fn smaller_leg_adjustment(spot_qty: Decimal, perp_qty: Decimal) -> Option<LegAdjustment> {
    let (venue, current, target) = if spot_qty.abs() < perp_qty.abs() {
        (Venue::SpotMargin, spot_qty, -perp_qty)
    } else {
        (Venue::UsdmPerp, perp_qty, -spot_qty)
    };
    let delta = target.saturating_sub(current);
    let side = Side::for_delta(delta)?;
    Some(LegAdjustment {
        venue,
        side,
        qty: delta.abs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn design_example() {
        let drift = delta_drift(dec!(1.05), dec!(-1.0));
        assert_eq!(drift.round_dp(4), dec!(0.0476));
        let adjustment = smaller_leg_adjustment(dec!(1.05), dec!(-1.0)).unwrap();
        assert_eq!(adjustment.venue, Venue::UsdmPerp);
        assert_eq!(adjustment.side, Side::Sell);
        assert_eq!(adjustment.qty, dec!(0.05));
    }

    #[test]
    fn degenerate_legs() {
        assert_eq!(delta_drift(Decimal::ZERO, Decimal::ZERO), Decimal::ZERO);
        assert_eq!(delta_drift(dec!(-2), Decimal::ZERO), Decimal::ONE);
        assert_eq!(delta_drift(dec!(1), dec!(1)), Decimal::TWO);
        assert_eq!(smaller_leg_adjustment(dec!(1), dec!(-1)), None);
        // short spot (negative carry) with a missing perp: buy the perp
        let fix = smaller_leg_adjustment(dec!(-3), Decimal::ZERO).unwrap();
        assert_eq!(
            (fix.venue, fix.side, fix.qty),
            (Venue::UsdmPerp, Side::Buy, dec!(3))
        );
        // small spot leg in a negative-carry hedge: sell more spot
        let fix = smaller_leg_adjustment(dec!(-0.9), dec!(1)).unwrap();
        assert_eq!(
            (fix.venue, fix.side, fix.qty),
            (Venue::SpotMargin, Side::Sell, dec!(0.1))
        );
    }

    proptest! {
        #[test]
        fn drift_is_bounded_and_symmetric(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let (x, y) = (Decimal::new(a, 6), Decimal::new(b, 6));
            let drift = delta_drift(x, y);
            prop_assert!(drift >= Decimal::ZERO && drift <= Decimal::TWO);
            prop_assert_eq!(drift, delta_drift(y, x));
            prop_assert_eq!(drift, delta_drift(-x, -y));
            if (x > Decimal::ZERO) != (y > Decimal::ZERO) || x.is_zero() || y.is_zero() {
                prop_assert!(drift <= Decimal::ONE);
            }
        }

        #[test]
        fn adjustment_neutralises(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
            let (spot, perp) = (Decimal::new(a, 3), Decimal::new(b, 3));
            if let Some(fix) = smaller_leg_adjustment(spot, perp) {
                let signed = if fix.side == Side::Buy { fix.qty } else { -fix.qty };
                let (new_spot, new_perp) = match fix.venue {
                    Venue::SpotMargin => (spot + signed, perp),
                    Venue::UsdmPerp => (spot, perp + signed),
                };
                prop_assert_eq!(delta_drift(new_spot, new_perp), Decimal::ZERO);
            } else {
                prop_assert_eq!(delta_drift(spot, perp), Decimal::ZERO);
            }
        }
    }
}

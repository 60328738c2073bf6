//! Leg quantities derived from the position's own orders (the ledger of record), and the
//! mapping between store and decision-core vocabularies.

use fff_core::{Direction, Side, Venue};
use fff_store::{Leg, Order};
use rust_decimal::Decimal;

pub fn core_direction(direction: fff_store::Direction) -> Direction {
    match direction {
        fff_store::Direction::LongSpotShortPerp => Direction::PositiveCarry,
        fff_store::Direction::ShortSpotLongPerp => Direction::NegativeCarry,
    }
}

pub fn store_direction(direction: Direction) -> fff_store::Direction {
    match direction {
        Direction::PositiveCarry => fff_store::Direction::LongSpotShortPerp,
        Direction::NegativeCarry => fff_store::Direction::ShortSpotLongPerp,
    }
}

pub fn core_side(side: fff_store::Side) -> Side {
    match side {
        fff_store::Side::Buy => Side::Buy,
        fff_store::Side::Sell => Side::Sell,
    }
}

pub fn store_side(side: Side) -> fff_store::Side {
    match side {
        Side::Buy => fff_store::Side::Buy,
        Side::Sell => fff_store::Side::Sell,
    }
}

pub fn leg_of(venue: Venue) -> Leg {
    match venue {
        Venue::SpotMargin => Leg::Spot,
        Venue::UsdmPerp => Leg::Perp,
    }
}

pub fn store_venue(venue: Venue) -> fff_store::Venue {
    match venue {
        Venue::SpotMargin => fff_store::Venue::Margin,
        Venue::UsdmPerp => fff_store::Venue::Usdm,
    }
}

pub fn core_venue(venue: fff_store::Venue) -> Venue {
    match venue {
        fff_store::Venue::Usdm => Venue::UsdmPerp,
        fff_store::Venue::Spot | fff_store::Venue::Margin => Venue::SpotMargin,
    }
}

/// Signed leg quantities (long positive) and volume-weighted entry prices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignedLegs {
    pub spot: Decimal,
    pub perp: Decimal,
    /// Everything the spot leg's buys executed (gross): base-asset commissions are taken from
    /// it, so it bounds what they can have taken from a long leg.
    pub spot_bought: Decimal,
    pub spot_entry: Option<Decimal>,
    pub perp_entry: Option<Decimal>,
}

impl SignedLegs {
    /// Sums the executed quantity of every order; entry prices average the fills that opened
    /// exposure in the position's direction.
    pub fn from_orders(direction: Direction, orders: &[Order]) -> Self {
        let mut legs = Self::default();
        let mut notional = [Decimal::ZERO; 2];
        let mut opened = [Decimal::ZERO; 2];
        for order in orders {
            if order.executed_qty <= Decimal::ZERO {
                continue;
            }
            let side = core_side(order.side);
            let signed = match side {
                Side::Buy => order.executed_qty,
                Side::Sell => -order.executed_qty,
            };
            let (venue, index) = match order.leg {
                Leg::Spot => (Venue::SpotMargin, 0),
                Leg::Perp => (Venue::UsdmPerp, 1),
            };
            match order.leg {
                Leg::Spot => legs.spot += signed,
                Leg::Perp => legs.perp += signed,
            }
            if order.leg == Leg::Spot && side == Side::Buy {
                legs.spot_bought += order.executed_qty;
            }
            if side == direction.entry_side(venue)
                && let Some(price) = order.avg_price
            {
                notional[index] += price * order.executed_qty;
                opened[index] += order.executed_qty;
            }
        }
        legs.spot_entry = notional[0].checked_div(opened[0]).map(|p| p.round_dp(8));
        legs.perp_entry = notional[1].checked_div(opened[1]).map(|p| p.round_dp(8));
        legs
    }

    pub fn drift(&self) -> Decimal {
        fff_core::delta_drift(self.spot, self.perp)
    }

    pub fn to_store(self) -> fff_store::PositionLegs {
        fff_store::PositionLegs {
            spot_qty: self.spot.abs(),
            spot_entry_price: self.spot_entry.filter(|p| *p > Decimal::ZERO),
            perp_qty: self.perp.abs(),
            perp_entry_price: self.perp_entry.filter(|p| *p > Decimal::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use fff_store::{OrderStatus, OrderType, SideEffect};
    use rust_decimal_macros::dec;

    fn order(leg: Leg, side: fff_store::Side, qty: Decimal, price: Decimal) -> Order {
        Order {
            id: 1,
            client_order_id: "x".into(),
            position_id: Some(1),
            venue: fff_store::Venue::Usdm,
            leg,
            symbol: "BTCUSDT".into(),
            side,
            order_type: OrderType::Market,
            time_in_force: None,
            qty,
            price: None,
            reduce_only: false,
            side_effect: SideEffect::NoSideEffect,
            status: OrderStatus::Filled,
            exchange_order_id: None,
            executed_qty: qty,
            avg_price: Some(price),
            error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn legs_net_entries_and_exits() {
        use fff_store::Side::{Buy, Sell};
        let orders = [
            order(Leg::Perp, Sell, dec!(1), dec!(100)),
            order(Leg::Perp, Sell, dec!(1), dec!(102)),
            order(Leg::Spot, Buy, dec!(2), dec!(99)),
            order(Leg::Perp, Buy, dec!(0.5), dec!(90)),
        ];
        let legs = SignedLegs::from_orders(Direction::PositiveCarry, &orders);
        assert_eq!(legs.perp, dec!(-1.5));
        assert_eq!(legs.spot, dec!(2));
        assert_eq!(legs.perp_entry, Some(dec!(101)));
        assert_eq!(legs.spot_entry, Some(dec!(99)));
        assert_eq!(legs.drift(), dec!(0.25));
    }
}

//! P&L of positions from the ledgers: funding received/paid, borrow interest, fees per leg,
//! the venue's liquidation clearance fees, price (basis) P&L per leg split into realised and
//! unrealised at the current mark, and expected vs actual funding. Signs follow the proto:
//! income positive, costs negative.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use fff_store::{ChargeKind, Leg, PnlDaily, Position, Side, Store};
use rust_decimal::Decimal;

use crate::error::Result;

/// One P&L decomposition (all USDT).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub funding_received: Decimal,
    pub funding_paid: Decimal,
    pub borrow_interest: Decimal,
    pub fees_spot: Decimal,
    pub fees_perp: Decimal,
    /// What the venue charged for liquidating the perp (INSURANCE_CLEAR): the liquidation's
    /// fill carries no commission, so without it P&L overstates the account by the fee.
    pub liquidation_fees: Decimal,
    pub basis_spot: Decimal,
    pub basis_perp: Decimal,
    pub basis_realized: Decimal,
    pub unrealized: Decimal,
    pub funding_expected: Decimal,
    pub funding_discrepancy: Decimal,
    pub funding_events: u32,
    /// Base asset the spot leg's buys paid as commission over the position's life (not
    /// windowed): the account holds this much less of the coin than the books' fills bought.
    pub spot_base_commission: Decimal,
}

impl Breakdown {
    pub fn funding_actual(&self) -> Decimal {
        self.funding_received + self.funding_paid
    }

    pub fn realized(&self) -> Decimal {
        self.funding_actual()
            + self.borrow_interest
            + self.fees_spot
            + self.fees_perp
            + self.liquidation_fees
            + self.basis_realized
    }

    pub fn net(&self) -> Decimal {
        self.realized() + self.unrealized
    }

    pub fn add(&mut self, other: &Self) {
        self.funding_received += other.funding_received;
        self.funding_paid += other.funding_paid;
        self.borrow_interest += other.borrow_interest;
        self.fees_spot += other.fees_spot;
        self.fees_perp += other.fees_perp;
        self.liquidation_fees += other.liquidation_fees;
        self.basis_spot += other.basis_spot;
        self.basis_perp += other.basis_perp;
        self.basis_realized += other.basis_realized;
        self.unrealized += other.unrealized;
        self.funding_expected += other.funding_expected;
        self.funding_discrepancy += other.funding_discrepancy;
        self.funding_events += other.funding_events;
        self.spot_base_commission += other.spot_base_commission;
    }
}

/// Half-open window; `None` ends are open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl Window {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| at >= s) && self.end.is_none_or(|e| at < e)
    }
}

/// Price P&L of one leg from its fills (order averages): total = cash flow + position x mark;
/// unrealised = position x (mark - average cost); realised = total - unrealised.
fn leg_basis(fills: &[(Side, Decimal, Decimal)], mark: Option<Decimal>) -> (Decimal, Decimal) {
    let mut cash = Decimal::ZERO;
    let mut qty = Decimal::ZERO;
    let mut cost_qty = Decimal::ZERO;
    let mut cost = Decimal::ZERO;
    for (side, q, price) in fills {
        let signed = match side {
            Side::Buy => *q,
            Side::Sell => -*q,
        };
        cash -= signed * price;
        // average cost of the open direction
        if qty.is_zero() || qty.is_sign_positive() == signed.is_sign_positive() {
            cost += signed * price;
            cost_qty += signed;
        } else if !cost_qty.is_zero() {
            let avg = cost / cost_qty;
            let closing = signed.abs().min(qty.abs());
            let remaining = cost_qty.abs() - closing;
            cost_qty = if cost_qty.is_sign_negative() {
                -remaining
            } else {
                remaining
            };
            cost = avg * cost_qty;
        }
        qty += signed;
    }
    let Some(mark) = mark else {
        return (cash.round_dp(8), Decimal::ZERO);
    };
    let total = cash + qty * mark;
    let unrealized = if cost_qty.is_zero() {
        Decimal::ZERO
    } else {
        qty * mark - cost
    };
    (total.round_dp(8), unrealized.round_dp(8))
}

/// Commission charged in the base asset of `symbol` (a spot buy's fee, unless paid in BNB).
fn base_asset_fees(symbol: &str, fills: &[fff_store::Fill]) -> Decimal {
    fills
        .iter()
        .filter(|f| symbol.strip_suffix("USDT") == Some(f.fee_asset.as_str()))
        .map(|f| f.fee)
        .sum()
}

/// Lifetime-in-window P&L of one position plus its per-day cash components.
pub async fn position_pnl(
    store: &Store,
    position: &Position,
    mark: Option<Decimal>,
    window: Window,
) -> Result<(Breakdown, BTreeMap<NaiveDate, Breakdown>)> {
    let mut total = Breakdown::default();
    let mut days: BTreeMap<NaiveDate, Breakdown> = BTreeMap::new();
    for payment in store.list_position_funding(position.id).await? {
        if !window.contains(payment.paid_at) {
            continue;
        }
        let mut b = Breakdown {
            funding_events: 1,
            ..Breakdown::default()
        };
        if payment.amount >= Decimal::ZERO {
            b.funding_received = payment.amount;
        } else {
            b.funding_paid = payment.amount;
        }
        if let Some(expected) = payment.expected_amount {
            b.funding_expected = expected;
            b.funding_discrepancy = payment.amount - expected;
        }
        total.add(&b);
        days.entry(payment.paid_at.date_naive())
            .or_default()
            .add(&b);
    }
    for interest in store.list_position_interest(position.id).await? {
        if !window.contains(interest.charged_at) {
            continue;
        }
        let b = Breakdown {
            borrow_interest: -interest.amount_quote,
            ..Breakdown::default()
        };
        total.add(&b);
        days.entry(interest.charged_at.date_naive())
            .or_default()
            .add(&b);
    }
    for charge in store.list_position_charges(position.id).await? {
        if window.contains(charge.charged_at) {
            let b = match charge.kind {
                ChargeKind::InsuranceClear => Breakdown {
                    liquidation_fees: charge.amount,
                    ..Breakdown::default()
                },
            };
            total.add(&b);
            days.entry(charge.charged_at.date_naive())
                .or_default()
                .add(&b);
        }
    }
    let mut spot_fills = Vec::new();
    let mut perp_fills = Vec::new();
    for order in store.list_position_orders(position.id).await? {
        let fills = store.list_order_fills(order.id).await?;
        if let Some(price) = order.avg_price
            && order.executed_qty > Decimal::ZERO
        {
            // a commission taken in the base asset leaves the account with less than was
            // bought: the leg holds the net quantity, and the commission is a fee (below),
            // not also a position valued at nothing once the hedge is closed
            let base_fee = match order.leg {
                Leg::Spot => base_asset_fees(&position.symbol, &fills),
                Leg::Perp => Decimal::ZERO,
            };
            total.spot_base_commission += base_fee;
            let fill = (order.side, order.executed_qty - base_fee, price);
            match order.leg {
                Leg::Spot => spot_fills.push(fill),
                Leg::Perp => perp_fills.push(fill),
            }
        }
        for fill in fills {
            if !window.contains(fill.traded_at) {
                continue;
            }
            let b = match order.leg {
                Leg::Spot => Breakdown {
                    fees_spot: -fill.fee_quote,
                    ..Breakdown::default()
                },
                Leg::Perp => Breakdown {
                    fees_perp: -fill.fee_quote,
                    ..Breakdown::default()
                },
            };
            total.add(&b);
            days.entry(fill.traded_at.date_naive()).or_default().add(&b);
        }
    }
    let mark = if position.state.is_terminal() {
        None
    } else {
        mark
    };
    let (spot_total, spot_unrealized) = leg_basis(&spot_fills, mark);
    let (perp_total, perp_unrealized) = leg_basis(&perp_fills, mark);
    total.basis_spot = spot_total;
    total.basis_perp = perp_total;
    total.unrealized = spot_unrealized + perp_unrealized;
    total.basis_realized = spot_total + perp_total - total.unrealized;
    Ok((total, days))
}

/// Upserts today's `pnl_daily` row for `position` (cash components of the day, basis and
/// unrealised as of now).
pub async fn book_daily(store: &Store, position: &Position, mark: Option<Decimal>) -> Result<()> {
    let today = Utc::now().date_naive();
    let (total, days) = position_pnl(store, position, mark, Window::default()).await?;
    let day = days.get(&today).cloned().unwrap_or_default();
    store
        .upsert_pnl_daily(&PnlDaily {
            position_id: position.id,
            day: today,
            funding: day.funding_actual(),
            borrow: -day.borrow_interest,
            fees: -(day.fees_spot + day.fees_perp),
            basis_spot: total.basis_spot,
            basis_perp: total.basis_perp,
            realised: total.realized(),
            unrealised: total.unrealized,
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn basis_splits_realised_and_unrealised() {
        // short 2 @ 100, buy back 1 @ 90: realised +10; 1 short left, mark 95: unrealised +5
        let fills = [
            (Side::Sell, dec!(2), dec!(100)),
            (Side::Buy, dec!(1), dec!(90)),
        ];
        let (total, unrealized) = leg_basis(&fills, Some(dec!(95)));
        assert_eq!(unrealized, dec!(5));
        assert_eq!(total, dec!(15));
        // a hedged pair at the same prices nets to zero
        let (spot, _) = leg_basis(&[(Side::Buy, dec!(2), dec!(100))], Some(dec!(95)));
        let (perp, _) = leg_basis(&[(Side::Sell, dec!(2), dec!(100))], Some(dec!(95)));
        assert_eq!(spot + perp, dec!(0));
    }

    #[test]
    fn closed_leg_is_all_realised() {
        let fills = [
            (Side::Buy, dec!(1), dec!(100)),
            (Side::Sell, dec!(1), dec!(110)),
        ];
        assert_eq!(leg_basis(&fills, Some(dec!(120))), (dec!(10), dec!(0)));
    }

    fn fill(fee: Decimal, asset: &str) -> fff_store::Fill {
        fff_store::Fill {
            id: 1,
            order_id: 1,
            venue: fff_store::Venue::Margin,
            symbol: "DOGEUSDT".into(),
            trade_id: 1,
            side: Side::Buy,
            qty: dec!(500),
            price: dec!(0.32),
            fee,
            fee_asset: asset.into(),
            fee_quote: fee * dec!(0.32),
            is_maker: false,
            traded_at: chrono::Utc::now(),
            created_at: chrono::Utc::now(),
        }
    }

    /// A closed hedge whose spot buy paid its commission in the base asset: the account sold
    /// what it held (the quantity bought less the commission), and the ledger's basis plus
    /// fees equal the cash the account made. Counting the commission as a fee and also as
    /// quantity still held (valued at nothing once closed) booked it twice.
    #[test]
    fn a_base_asset_commission_is_a_fee_once_not_also_a_leg_left_over() {
        let fills = [
            fill(dec!(0.5), "DOGE"),
            fill(dec!(0.5), "DOGE"),
            fill(dec!(0.01), "BNB"),
            fill(dec!(0.2), "USDT"),
        ];
        assert_eq!(base_asset_fees("DOGEUSDT", &fills), dec!(1));
        // bought 1000 @ 0.32 receiving 999; sold the 999 @ 0.33
        let legs = [
            (Side::Buy, dec!(1000) - dec!(1), dec!(0.32)),
            (Side::Sell, dec!(999), dec!(0.33)),
        ];
        let (basis, unrealized) = leg_basis(&legs, None);
        assert_eq!(unrealized, dec!(0));
        let fee = dec!(1) * dec!(0.32);
        // what the account made: 999 x 0.33 - 1000 x 0.32
        assert_eq!(basis - fee, dec!(9.67));
    }
}

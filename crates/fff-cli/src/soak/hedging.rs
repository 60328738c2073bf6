//! Unhedged windows at the venue: per symbol, the spot/margin and perp fills of the suite's
//! orders in time order; a window opens when a fill leaves the legs apart by more than the drift
//! band and closes at the fill that brings them back (typically: a perp fill, then its hedge).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::invariants::Band;
use super::venue::VenueRecords;

/// One unhedged stretch, in simulated ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub symbol: String,
    pub start: i64,
    /// `None` while still open.
    pub end: Option<i64>,
}

impl Window {
    pub fn length(&self, now: i64) -> i64 {
        self.end.unwrap_or(now) - self.start
    }
}

#[derive(Debug, Default)]
struct Legs {
    spot: Decimal,
    perp: Decimal,
    open_since: Option<i64>,
}

/// Follows the fills as the venue's records grow.
#[derive(Debug, Default)]
pub struct HedgeTracker {
    /// Fills before this simulated ms have been applied.
    cursor: i64,
    legs: BTreeMap<String, Legs>,
}

impl HedgeTracker {
    /// Applies the fills in `[cursor, venue.now)`; returns the windows that closed.
    pub fn update(&mut self, venue: &VenueRecords, band: Band) -> Vec<Window> {
        let mut fills: Vec<(i64, &str, bool, Decimal)> = venue
            .orders
            .values()
            .filter(|o| o.client_order_id.starts_with("fff"))
            .flat_map(|o| {
                let sign = if o.side == "BUY" {
                    Decimal::ONE
                } else {
                    Decimal::NEGATIVE_ONE
                };
                let perp = o.venue == "Futures";
                let base = venue.markets.get(&o.symbol).map(|m| m.0.as_str());
                o.fills
                    .iter()
                    .filter(|f| f.time >= self.cursor && f.time < venue.now)
                    .map(move |f| {
                        // a spot commission taken in the coin is not held: the leg is net of it
                        let fee_in_coin = if !perp && base == Some(f.commission_asset.as_str()) {
                            f.commission
                        } else {
                            Decimal::ZERO
                        };
                        (f.time, o.symbol.as_str(), perp, sign * f.qty - fee_in_coin)
                    })
            })
            .collect();
        fills.sort_by_key(|f| f.0);
        let mut closed = Vec::new();
        for (time, symbol, perp, qty) in fills {
            let price = venue
                .markets
                .get(symbol)
                .map_or(Decimal::ONE, |m| m.1)
                .max(Decimal::new(1, 8));
            let legs = self.legs.entry(symbol.to_owned()).or_default();
            if perp {
                legs.perp += qty;
            } else {
                legs.spot += qty;
            }
            let gap = (legs.spot + legs.perp).abs();
            let gross = legs.spot.abs().max(legs.perp.abs());
            let tolerance = (gross * band.drift_threshold).max(band.min_trade_usdt / price);
            match (legs.open_since, gap > tolerance) {
                (None, true) => legs.open_since = Some(time),
                (Some(start), false) => {
                    legs.open_since = None;
                    closed.push(Window {
                        symbol: symbol.to_owned(),
                        start,
                        end: Some(time),
                    });
                }
                _ => {}
            }
        }
        self.cursor = self.cursor.max(venue.now);
        closed
    }

    /// Windows still open.
    pub fn open(&self) -> Vec<Window> {
        self.legs
            .iter()
            .filter_map(|(symbol, legs)| {
                legs.open_since.map(|start| Window {
                    symbol: symbol.clone(),
                    start,
                    end: None,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::super::venue::{VenueFill, VenueOrder};
    use super::*;

    fn fill(venue: &mut VenueRecords, id: i64, kind: &str, side: &str, qty: Decimal, time: i64) {
        venue.orders.insert(
            id,
            VenueOrder {
                order_id: id,
                venue: kind.into(),
                symbol: "ETHUSDT".into(),
                client_order_id: format!("fff1-x{id}"),
                side: side.into(),
                status: "FILLED".into(),
                executed_qty: qty,
                fills: vec![VenueFill {
                    trade_id: id,
                    qty,
                    price: dec!(4000),
                    time,
                    commission: Decimal::ZERO,
                    commission_asset: "USDT".into(),
                }],
                received_us: 0,
                matched_us: 0,
            },
        );
    }

    #[test]
    fn a_perp_fill_opens_a_window_and_its_hedge_closes_it() {
        let band = Band {
            drift_threshold: dec!(0.03),
            min_trade_usdt: dec!(100),
        };
        let mut venue = VenueRecords::default();
        venue
            .markets
            .insert("ETHUSDT".into(), ("ETH".into(), dec!(4000)));
        fill(&mut venue, 1, "Futures", "SELL", dec!(10), 1_000);
        venue.now = 1_500;
        let mut tracker = HedgeTracker::default();
        assert!(tracker.update(&venue, band).is_empty());
        assert_eq!(tracker.open().len(), 1);
        fill(&mut venue, 2, "Margin", "BUY", dec!(9.9), 4_000);
        venue.now = 5_000;
        let closed = tracker.update(&venue, band);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].length(0), 3_000);
        assert!(tracker.open().is_empty());
    }

    #[test]
    fn a_spot_commission_taken_in_the_coin_leaves_no_window_after_the_exit() {
        let band = Band {
            drift_threshold: dec!(0.03),
            min_trade_usdt: dec!(10),
        };
        let mut venue = VenueRecords::default();
        venue
            .markets
            .insert("ETHUSDT".into(), ("ETH".into(), dec!(4000)));
        fill(&mut venue, 1, "Futures", "SELL", dec!(10), 1_000);
        fill(&mut venue, 2, "Margin", "BUY", dec!(10), 1_100);
        // 0.1 % of the buy paid in ETH: 9.99 held, and the exit sells what is held
        let fee = &mut venue.orders.get_mut(&2).unwrap().fills[0];
        fee.commission = dec!(0.01);
        fee.commission_asset = "ETH".into();
        fill(&mut venue, 3, "Futures", "BUY", dec!(10), 2_000);
        fill(&mut venue, 4, "Margin", "SELL", dec!(9.99), 2_100);
        venue.now = 3_000;
        let mut tracker = HedgeTracker::default();
        tracker.update(&venue, band);
        assert!(tracker.open().is_empty(), "{:?}", tracker.open());
    }
}

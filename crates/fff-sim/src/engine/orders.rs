//! Spot and cross-margin order placement: validation, balance locking, taker walks.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

mod fill;

use super::market::{Levels, round_down};
use super::{Exchange, OrdType, Order, Side, SideEffect, Status, Tif, Venue};
use crate::ApiError;

/// Filter maxima published in exchangeInfo; they also keep Decimal arithmetic far from overflow.
pub const MAX_PRICE: Decimal = dec!(1000000);
pub const MAX_SPOT_QTY: Decimal = dec!(9000000);
pub const MAX_FUTURES_QTY: Decimal = dec!(1000000000);

/// A validated-shape order request (parameters already parsed by the HTTP layer).
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub symbol: String,
    pub side: Side,
    pub kind: OrdType,
    pub tif: Tif,
    pub qty: Option<Decimal>,
    pub quote_qty: Option<Decimal>,
    pub price: Option<Decimal>,
    pub client_id: Option<String>,
    pub reduce_only: bool,
    pub side_effect: SideEffect,
    pub auto_repay_at_cancel: bool,
}

/// Taker fills available for `qty` against `levels` (best first), respecting a limit price.
pub fn walk(
    levels: &Levels,
    side: Side,
    qty: Decimal,
    limit: Option<Decimal>,
) -> Vec<(Decimal, Decimal)> {
    let mut out = Vec::new();
    let mut left = qty;
    for (p, q) in levels {
        if left <= Decimal::ZERO {
            break;
        }
        if let Some(l) = limit
            && ((side == Side::Buy && *p > l) || (side == Side::Sell && *p < l))
        {
            break;
        }
        let take = left.min(*q);
        out.push((*p, take));
        left -= take;
    }
    out
}

/// Like [`walk`] but sized by quote amount (`quoteOrderQty`), quantities rounded to `step`.
pub fn walk_quote(levels: &Levels, quote: Decimal, step: Decimal) -> Vec<(Decimal, Decimal)> {
    let mut out = Vec::new();
    let mut left = quote;
    for (p, q) in levels {
        let take = round_down((left / p).min(*q), step);
        if take <= Decimal::ZERO {
            break;
        }
        out.push((*p, take));
        left -= take * p;
    }
    out
}

pub fn total_qty(fills: &[(Decimal, Decimal)]) -> Decimal {
    fills.iter().map(|f| f.1).sum()
}

/// Partial-fill fault: keep about half of what the book offered.
pub fn halve(fills: &mut Vec<(Decimal, Decimal)>, step: Decimal) {
    let target = round_down(total_qty(fills) / dec!(2), step).max(step);
    let mut left = target;
    fills.retain_mut(|f| {
        if left <= Decimal::ZERO {
            return false;
        }
        f.1 = f.1.min(left);
        left -= f.1;
        true
    });
}

fn bal(ex: &mut Exchange, account: usize, venue: Venue, asset: &str) -> (Decimal, Decimal) {
    let a = &mut ex.accounts[account];
    match venue {
        Venue::Margin => {
            let b = a.margin_bal(asset);
            (b.free, b.locked)
        }
        _ => {
            let b = a.spot_bal(asset);
            (b.free, b.locked)
        }
    }
}

/// Adds to free and locked of a spot or margin balance.
pub(crate) fn adjust(
    ex: &mut Exchange,
    account: usize,
    venue: Venue,
    asset: &str,
    dfree: Decimal,
    dlocked: Decimal,
) {
    let a = &mut ex.accounts[account];
    match venue {
        Venue::Margin => {
            let b = a.margin_bal(asset);
            b.free += dfree;
            b.locked += dlocked;
        }
        _ => {
            let b = a.spot_bal(asset);
            b.free += dfree;
            b.locked += dlocked;
        }
    }
}

pub fn precision_ok(v: Decimal) -> bool {
    v.normalize().scale() <= 8
}

impl Exchange {
    pub(crate) fn check_duplicate(&self, account: usize, venue: Venue, client_id: &str) -> bool {
        self.orders.values().any(|o| {
            o.account == account
                && o.venue == venue
                && o.client_id == client_id
                && o.status.is_open()
        })
    }

    pub(crate) fn client_id(&mut self, given: Option<String>) -> String {
        given
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| self.random_key(22))
    }

    /// Places a spot or cross-margin order; returns its id.
    pub fn place_spot(
        &mut self,
        account: usize,
        venue: Venue,
        req: NewOrder,
    ) -> Result<i64, ApiError> {
        let m = self.market(&req.symbol)?;
        let Some(listing) = m.spot.clone() else {
            return Err(ApiError::invalid_symbol());
        };
        if venue == Venue::Margin && !m.margin {
            return Err(ApiError::bad(-3028, "Not a valid margin pair."));
        }
        let (base, quote) = (m.base.clone(), m.quote.clone());
        let (bids, asks) = m.book(false, &self.cfg.market);
        let index = m.index;
        for (name, v) in [
            ("quantity", req.qty),
            ("price", req.price),
            ("quoteOrderQty", req.quote_qty),
        ] {
            if let Some(v) = v
                && !precision_ok(v)
            {
                return Err(ApiError::bad(
                    -1111,
                    format!("Parameter '{name}' has too much precision."),
                ));
            }
        }
        let price = match req.kind {
            OrdType::Market => None,
            _ => Some(req.price.ok_or_else(|| ApiError::mandatory("price"))?),
        };
        if let Some(p) = price
            && (p <= Decimal::ZERO || p > MAX_PRICE || !(p % listing.tick_size).is_zero())
        {
            return Err(ApiError::filter("PRICE_FILTER"));
        }
        if req.kind != OrdType::Market && req.qty.is_none() {
            return Err(ApiError::mandatory("quantity"));
        }
        if req.qty.is_none() && req.quote_qty.is_none() {
            return Err(ApiError::bad(
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
            ));
        }
        if let Some(q) = req.qty
            && (q < listing.step_size || q > MAX_SPOT_QTY || !(q % listing.step_size).is_zero())
        {
            let f = if req.kind == OrdType::Market {
                "MARKET_LOT_SIZE"
            } else {
                "LOT_SIZE"
            };
            return Err(ApiError::filter(f));
        }
        if req
            .quote_qty
            .is_some_and(|q| q <= Decimal::ZERO || q > MAX_PRICE * MAX_SPOT_QTY)
        {
            return Err(ApiError::filter("NOTIONAL"));
        }
        let est_price = price.unwrap_or(index);
        let notional = req
            .qty
            .map(|q| q * est_price)
            .or(req.quote_qty)
            .unwrap_or_default();
        if notional < listing.min_notional {
            return Err(ApiError::filter("NOTIONAL"));
        }
        let client_id = self.client_id(req.client_id.clone());
        if self.check_duplicate(account, venue, &client_id) {
            return Err(ApiError::bad(-2010, "Duplicate order sent."));
        }
        if self.fault_hit(self.faults.reject_rate) || self.fault_hit(self.faults.spot_reject_rate) {
            return Err(ApiError::bad(
                -2010,
                "Order was rejected by the matching engine (injected fault).",
            ));
        }
        let book = if req.side == Side::Buy { &asks } else { &bids };
        // Taker fills this order would get now.
        let mut fills = match (req.kind, req.qty) {
            (OrdType::Market, Some(q)) => walk(book, req.side, q, None),
            (OrdType::Market, None) => {
                walk_quote(book, req.quote_qty.unwrap_or_default(), listing.step_size)
            }
            (_, q) => walk(book, req.side, q.unwrap_or_default(), price),
        };
        if req.kind == OrdType::LimitMaker && !fills.is_empty() {
            return Err(ApiError::bad(
                -2010,
                "Order would immediately match and take.",
            ));
        }
        let orig_qty = req.qty.unwrap_or_else(|| total_qty(&fills));
        if req.tif == Tif::Fok && total_qty(&fills) < orig_qty {
            fills.clear();
        }
        if !fills.is_empty() && self.fault_hit(self.faults.partial_fill_rate) {
            halve(&mut fills, listing.step_size);
        }
        // Funds to lock: quote for BUY (limit price, or the walk cost for MARKET), base for SELL.
        let (lock_asset, lock) = match (req.side, price) {
            (Side::Buy, Some(p)) => (quote.clone(), orig_qty * p),
            (Side::Buy, None) => (quote.clone(), fills.iter().map(|(p, q)| p * q).sum()),
            (Side::Sell, _) => (base.clone(), orig_qty),
        };
        let (free, _) = bal(self, account, venue, &lock_asset);
        let mut borrowed = None;
        if free < lock {
            let short = lock - free;
            if venue == Venue::Margin && req.side_effect.borrows() {
                self.borrow(account, &lock_asset, short, "AUTO")?;
                borrowed = Some((lock_asset.clone(), short));
            } else {
                return Err(ApiError::insufficient_balance());
            }
        }
        adjust(self, account, venue, &lock_asset, -lock, lock);
        let id = self.next_id();
        let now = self.now;
        let (received_us, matched_us) = self.order_stamps();
        let order = Order {
            id,
            received_us,
            matched_us,
            venue,
            account,
            symbol: req.symbol.clone(),
            client_id,
            side: req.side,
            kind: req.kind,
            tif: req.tif,
            price: price.unwrap_or_default(),
            orig_qty,
            quote_order_qty: req.quote_qty.unwrap_or_default(),
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: Status::New,
            time: now,
            update_time: now,
            reduce_only: false,
            side_effect: req.side_effect,
            auto_repay_at_cancel: req.auto_repay_at_cancel,
            fills: Vec::new(),
            borrowed,
            locked: lock,
        };
        self.orders.insert(id, order);
        self.emit_execution(id, "NEW", None);
        for (p, q) in fills {
            self.spot_fill(id, p, q, false);
        }
        let o = &self.orders[&id];
        let done = req.kind == OrdType::Market || matches!(req.tif, Tif::Ioc | Tif::Fok);
        if o.status.is_open() && done {
            self.finish(id, Status::Expired);
        }
        self.emit_balances(account, venue, &[base, quote]);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_respects_limit_and_quantity() {
        let book = vec![
            (dec!(100), dec!(1)),
            (dec!(101), dec!(2)),
            (dec!(102), dec!(5)),
        ];
        assert_eq!(
            walk(&book, Side::Buy, dec!(2.5), None),
            vec![(dec!(100), dec!(1)), (dec!(101), dec!(1.5))]
        );
        assert_eq!(
            walk(&book, Side::Buy, dec!(10), Some(dec!(101))),
            vec![(dec!(100), dec!(1)), (dec!(101), dec!(2))]
        );
        assert_eq!(
            walk_quote(&book, dec!(150), dec!(0.01)),
            vec![(dec!(100), dec!(1)), (dec!(101), dec!(0.49))]
        );
        let mut f = walk(&book, Side::Buy, dec!(3), None);
        halve(&mut f, dec!(0.1));
        assert_eq!(total_qty(&f), dec!(1.5));
    }
}

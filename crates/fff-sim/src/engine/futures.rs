//! USD-M futures: one-way positions, leverage, margin checks, fills, PnL, commissions.

use rust_decimal::Decimal;

use super::account::{Income, MarginType, Position};
use super::orders::{NewOrder, halve, total_qty, walk};
use super::{Channel, Exchange, Fill, OrdType, Order, Side, SideEffect, Status, Tif, Venue};
use crate::ApiError;

pub const MARGIN_ASSET: &str = "USDT";

/// Per-position risk numbers at the current mark price.
#[derive(Debug, Clone, Default)]
pub struct PositionRisk {
    pub symbol: String,
    pub amt: Decimal,
    pub entry: Decimal,
    pub mark: Decimal,
    pub notional: Decimal,
    pub unrealized: Decimal,
    pub initial_margin: Decimal,
    pub maint_margin: Decimal,
    pub open_order_margin: Decimal,
    pub leverage: u32,
    pub update_time: i64,
    pub liquidation_price: Decimal,
}

/// Account-level totals (single-asset USDT mode).
#[derive(Debug, Clone, Default)]
pub struct FuturesTotals {
    pub wallet: Decimal,
    pub unrealized: Decimal,
    pub margin_balance: Decimal,
    pub initial_margin: Decimal,
    pub position_im: Decimal,
    pub open_order_im: Decimal,
    pub maint_margin: Decimal,
    pub available: Decimal,
}

impl Exchange {
    pub fn position_risks(&self, account: usize) -> Vec<PositionRisk> {
        let a = &self.accounts[account];
        let mut symbols: Vec<String> = a
            .positions
            .iter()
            .filter(|(_, p)| !p.amt.is_zero())
            .map(|(s, _)| s.clone())
            .collect();
        for o in self.orders.values() {
            if o.account == account
                && o.venue == Venue::Futures
                && o.status.is_open()
                && !symbols.contains(&o.symbol)
            {
                symbols.push(o.symbol.clone());
            }
        }
        symbols.sort();
        symbols
            .iter()
            .filter_map(|s| self.position_risk(account, s))
            .collect()
    }

    pub fn position_risk(&self, account: usize, symbol: &str) -> Option<PositionRisk> {
        let m = self.markets.get(symbol)?;
        let perp = m.perp.as_ref()?;
        let a = &self.accounts[account];
        let pos = a.positions.get(symbol).cloned().unwrap_or_default();
        let lev = a.leverage_of(symbol);
        let mark = m.mark_price();
        let notional = pos.amt * mark;
        let unrealized = (mark - pos.entry) * pos.amt;
        let im = notional.abs() / Decimal::from(lev);
        let mm = notional.abs() * perp.maint_margin_rate;
        let open_order_margin: Decimal = self
            .orders
            .values()
            .filter(|o| {
                o.account == account
                    && o.venue == Venue::Futures
                    && o.symbol == symbol
                    && o.status.is_open()
            })
            .map(|o| o.remaining() * o.price / Decimal::from(lev))
            .sum();
        Some(PositionRisk {
            symbol: symbol.to_string(),
            amt: pos.amt,
            entry: pos.entry,
            mark,
            notional,
            unrealized,
            initial_margin: im,
            maint_margin: mm,
            open_order_margin,
            leverage: lev,
            update_time: pos.update_time,
            liquidation_price: Decimal::ZERO,
        })
    }

    pub fn futures_totals(&self, account: usize) -> FuturesTotals {
        let wallet = self.accounts[account].wallet(MARGIN_ASSET);
        let risks = self.position_risks(account);
        let unrealized: Decimal = risks.iter().map(|r| r.unrealized).sum();
        let position_im: Decimal = risks.iter().map(|r| r.initial_margin).sum();
        let open_order_im: Decimal = risks.iter().map(|r| r.open_order_margin).sum();
        let maint: Decimal = risks.iter().map(|r| r.maint_margin).sum();
        let margin_balance = wallet + unrealized;
        FuturesTotals {
            wallet,
            unrealized,
            margin_balance,
            initial_margin: position_im + open_order_im,
            position_im,
            open_order_im,
            maint_margin: maint,
            available: (margin_balance - position_im - open_order_im).max(Decimal::ZERO),
        }
    }

    pub fn set_leverage(
        &mut self,
        account: usize,
        symbol: &str,
        lev: u32,
    ) -> Result<Decimal, ApiError> {
        let m = self.market(symbol)?;
        let max = m
            .perp
            .as_ref()
            .ok_or_else(ApiError::invalid_symbol)?
            .max_leverage;
        if lev == 0 || lev > max {
            return Err(ApiError::bad(-4028, format!("Leverage {lev} is not valid")));
        }
        self.accounts[account]
            .leverage
            .insert(symbol.to_string(), lev);
        // Max notional shrinks with leverage (one bracket model: 50M at 1x).
        Ok(Decimal::from(50_000_000u64 / u64::from(lev)))
    }

    pub fn set_margin_type(
        &mut self,
        account: usize,
        symbol: &str,
        kind: MarginType,
    ) -> Result<(), ApiError> {
        self.market(symbol)?;
        let a = &self.accounts[account];
        if a.margin_type
            .get(symbol)
            .copied()
            .unwrap_or(MarginType::Cross)
            == kind
        {
            return Err(ApiError::bad(-4046, "No need to change margin type."));
        }
        if self.orders.values().any(|o| {
            o.account == account
                && o.symbol == symbol
                && o.venue == Venue::Futures
                && o.status.is_open()
        }) {
            return Err(ApiError::bad(
                -4047,
                "Margin type cannot be changed if there exists open orders.",
            ));
        }
        if a.positions.get(symbol).is_some_and(|p| !p.amt.is_zero()) {
            return Err(ApiError::bad(
                -4048,
                "Margin type cannot be changed if there exists position.",
            ));
        }
        self.accounts[account]
            .margin_type
            .insert(symbol.to_string(), kind);
        Ok(())
    }

    pub fn place_futures(&mut self, account: usize, req: NewOrder) -> Result<i64, ApiError> {
        let m = self.market(&req.symbol)?;
        let Some(perp) = m.perp.clone() else {
            return Err(ApiError::invalid_symbol());
        };
        let mark = m.mark_price();
        let (bids, asks) = m.book(true, &self.cfg.market);
        let qty = req.qty.ok_or_else(|| ApiError::mandatory("quantity"))?;
        if qty <= Decimal::ZERO {
            return Err(ApiError::bad(-4003, "Quantity less than zero."));
        }
        for v in [Some(qty), req.price].into_iter().flatten() {
            if !super::orders::precision_ok(v) {
                return Err(ApiError::bad(
                    -1111,
                    "Precision is over the maximum defined for this asset.",
                ));
            }
        }
        if !(qty % perp.step_size).is_zero() {
            return Err(ApiError::bad(
                -1111,
                "Precision is over the maximum defined for this asset.",
            ));
        }
        if qty < perp.step_size {
            return Err(ApiError::bad(-4004, "Quantity less than min quantity."));
        }
        if qty > super::orders::MAX_FUTURES_QTY {
            return Err(ApiError::bad(-4005, "Quantity greater than max quantity."));
        }
        if req.price.is_some_and(|p| p > super::orders::MAX_PRICE) {
            return Err(ApiError::bad(-4016, "Price greater than max price."));
        }
        let price = match req.kind {
            OrdType::Limit => {
                let p = req.price.ok_or_else(|| ApiError::mandatory("price"))?;
                if p <= Decimal::ZERO || !(p % perp.tick_size).is_zero() {
                    return Err(ApiError::bad(-4014, "Price not increased by tick size."));
                }
                Some(p)
            }
            _ => None,
        };
        let pos = self.accounts[account]
            .positions
            .get(&req.symbol)
            .cloned()
            .unwrap_or_default();
        let reduces = !pos.amt.is_zero() && pos.amt.is_sign_positive() != (req.side == Side::Buy);
        if req.reduce_only && !reduces {
            return Err(ApiError::bad(-2022, "ReduceOnly Order is rejected."));
        }
        let qty = if req.reduce_only {
            qty.min(pos.amt.abs())
        } else {
            qty
        };
        if !req.reduce_only && qty * price.unwrap_or(mark) < perp.min_notional {
            return Err(ApiError::bad(
                -4164,
                format!(
                    "Order's notional must be no smaller than {} (unless you choose reduce only)",
                    perp.min_notional.normalize()
                ),
            ));
        }
        let client_id = self.client_id(req.client_id.clone());
        if self.check_duplicate(account, Venue::Futures, &client_id) {
            return Err(ApiError::bad(-4116, "ClientOrderId is duplicated."));
        }
        if self.fault_hit(self.faults.reject_rate) {
            return Err(ApiError::bad(
                -1008,
                "Server is currently overloaded with other requests. Please try again in a few minutes.",
            ));
        }
        let book = if req.side == Side::Buy { &asks } else { &bids };
        let mut fills = walk(book, req.side, qty, price);
        if req.tif == Tif::Gtx && !fills.is_empty() {
            return Err(ApiError::bad(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected.",
            ));
        }
        if req.tif == Tif::Fok && total_qty(&fills) < qty {
            return Err(ApiError::bad(
                -5021,
                "Due to the order could not be filled immediately, the FOK order has been rejected.",
            ));
        }
        if !fills.is_empty() && self.fault_hit(self.faults.partial_fill_rate) {
            halve(&mut fills, perp.step_size);
        }
        // Margin: the part that opens or grows exposure needs initial margin plus taker fee.
        let opening = if reduces {
            (qty - pos.amt.abs()).max(Decimal::ZERO)
        } else {
            qty
        };
        let lev = Decimal::from(self.accounts[account].leverage_of(&req.symbol));
        let px = price.unwrap_or(mark).max(mark);
        let need = opening * px / lev + qty * px * self.cfg.fees.futures_taker;
        // A pure reduction lowers risk: Binance accepts it even with no available balance (its
        // fee comes out of the released margin), which is what lets a shocked account de-risk.
        if opening > Decimal::ZERO && need > self.futures_totals(account).available {
            return Err(ApiError::margin_insufficient());
        }
        let id = self.next_id();
        let now = self.now;
        let (received_us, matched_us) = self.order_stamps();
        self.orders.insert(
            id,
            Order {
                id,
                received_us,
                matched_us,
                venue: Venue::Futures,
                account,
                symbol: req.symbol.clone(),
                client_id,
                side: req.side,
                kind: req.kind,
                tif: req.tif,
                price: price.unwrap_or_default(),
                orig_qty: qty,
                quote_order_qty: Decimal::ZERO,
                executed_qty: Decimal::ZERO,
                cum_quote: Decimal::ZERO,
                status: Status::New,
                time: now,
                update_time: now,
                reduce_only: req.reduce_only,
                side_effect: SideEffect::None,
                auto_repay_at_cancel: false,
                fills: Vec::new(),
                borrowed: None,
                locked: Decimal::ZERO,
            },
        );
        self.emit_execution(id, "NEW", None);
        for (p, q) in fills {
            self.futures_fill(id, p, q, false);
        }
        let o = &self.orders[&id];
        if o.status.is_open()
            && (req.kind == OrdType::Market || matches!(req.tif, Tif::Ioc | Tif::Fok))
        {
            self.finish(id, Status::Expired);
        }
        Ok(id)
    }

    /// Applies a futures fill: position, realized PnL, commission, income rows, events.
    pub(crate) fn futures_fill(&mut self, id: i64, price: Decimal, qty: Decimal, maker: bool) {
        let Some(o) = self.orders.get(&id).cloned() else {
            return;
        };
        let fee = if maker {
            self.cfg.fees.futures_maker
        } else {
            self.cfg.fees.futures_taker
        };
        let commission = (price * qty * fee).round_dp(8);
        let trade_id = self.next_id();
        let now = self.now;
        let realized = apply_position(
            self.accounts[o.account]
                .positions
                .entry(o.symbol.clone())
                .or_default(),
            o.side,
            price,
            qty,
            now,
        );
        let a = &mut self.accounts[o.account];
        *a.futures.entry(MARGIN_ASSET.to_string()).or_default() += realized - commission;
        let tran = now * 10 + (trade_id % 10);
        if !realized.is_zero() {
            a.income.push(Income {
                symbol: o.symbol.clone(),
                kind: "REALIZED_PNL",
                income: realized,
                asset: MARGIN_ASSET.into(),
                time: now,
                tran_id: tran,
                trade_id: trade_id.to_string(),
            });
        }
        a.income.push(Income {
            symbol: o.symbol.clone(),
            kind: "COMMISSION",
            income: -commission,
            asset: MARGIN_ASSET.into(),
            time: now,
            tran_id: tran + 1,
            trade_id: trade_id.to_string(),
        });
        let fill = Fill {
            price,
            qty,
            commission,
            commission_asset: MARGIN_ASSET.into(),
            trade_id,
            maker,
            time: now,
            realized_pnl: realized,
        };
        if let Some(o) = self.orders.get_mut(&id) {
            o.executed_qty += qty;
            o.cum_quote += price * qty;
            o.update_time = now;
            o.status = if o.executed_qty >= o.orig_qty {
                Status::Filled
            } else {
                Status::PartiallyFilled
            };
            o.fills.push(fill.clone());
        }
        self.emit_execution(id, "TRADE", Some(&fill));
        let ev = super::events::account_update(
            self,
            o.account,
            "ORDER",
            std::slice::from_ref(&o.symbol),
            Decimal::ZERO,
        );
        self.push(o.account, Channel::Futures, ev);
    }
}

/// Updates a one-way position with a fill; returns realized PnL.
pub fn apply_position(
    pos: &mut Position,
    side: Side,
    price: Decimal,
    qty: Decimal,
    now: i64,
) -> Decimal {
    let signed = side.sign() * qty;
    let mut realized = Decimal::ZERO;
    if pos.amt.is_zero() || pos.amt.is_sign_positive() == signed.is_sign_positive() {
        let total = pos.amt.abs() + qty;
        pos.entry = (pos.entry * pos.amt.abs() + price * qty) / total;
        pos.amt += signed;
    } else {
        let closing = qty.min(pos.amt.abs());
        realized = closing
            * (price - pos.entry)
            * if pos.amt.is_sign_positive() {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
        pos.amt += signed;
        if pos.amt.is_zero() {
            pos.entry = Decimal::ZERO;
        } else if pos.amt.is_sign_positive() == signed.is_sign_positive() {
            pos.entry = price;
        }
    }
    pos.entry = pos.entry.round_dp(8);
    pos.realized += realized;
    pos.update_time = now;
    realized.round_dp(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn position_math_open_add_reduce_flip() {
        let mut p = Position::default();
        assert_eq!(
            apply_position(&mut p, Side::Sell, dec!(100), dec!(1), 0),
            dec!(0)
        );
        apply_position(&mut p, Side::Sell, dec!(110), dec!(1), 0);
        assert_eq!((p.amt, p.entry), (dec!(-2), dec!(105)));
        assert_eq!(
            apply_position(&mut p, Side::Buy, dec!(100), dec!(1), 0),
            dec!(5)
        );
        assert_eq!(
            apply_position(&mut p, Side::Buy, dec!(90), dec!(2), 0),
            dec!(15)
        );
        assert_eq!((p.amt, p.entry), (dec!(1), dec!(90)));
    }
}

//! Fills, cancels, resting-order matching and the user events they push.

use rust_decimal::Decimal;

use super::{adjust, bal};
use crate::ApiError;
use crate::engine::{Channel, Exchange, Fill, OrdType, Order, Side, Status, Venue};

impl Exchange {
    /// Applies one spot/margin fill at `price` for `qty`.
    pub(crate) fn spot_fill(&mut self, id: i64, price: Decimal, qty: Decimal, maker: bool) {
        let Some(o) = self.orders.get(&id).cloned() else {
            return;
        };
        let Some(m) = self.markets.get(&o.symbol) else {
            return;
        };
        let (base, quote) = (m.base.clone(), m.quote.clone());
        let fee = if maker {
            self.cfg.fees.spot_maker
        } else {
            self.cfg.fees.spot_taker
        };
        let (commission, commission_asset, used) = match o.side {
            Side::Buy => {
                let lock_price = if o.kind == OrdType::Market {
                    price
                } else {
                    o.price
                };
                let c = (qty * fee).round_dp(8);
                adjust(
                    self,
                    o.account,
                    o.venue,
                    &quote,
                    (lock_price - price) * qty,
                    -(lock_price * qty),
                );
                adjust(self, o.account, o.venue, &base, qty - c, Decimal::ZERO);
                (c, base.clone(), lock_price * qty)
            }
            Side::Sell => {
                let proceeds = price * qty;
                let c = (proceeds * fee).round_dp(8);
                adjust(self, o.account, o.venue, &base, Decimal::ZERO, -qty);
                adjust(
                    self,
                    o.account,
                    o.venue,
                    &quote,
                    proceeds - c,
                    Decimal::ZERO,
                );
                (c, quote.clone(), qty)
            }
        };
        let trade_id = self.next_id();
        let now = self.now;
        let fill = Fill {
            price,
            qty,
            commission,
            commission_asset,
            trade_id,
            maker,
            time: now,
            realized_pnl: Decimal::ZERO,
        };
        if let Some(o) = self.orders.get_mut(&id) {
            o.executed_qty += qty;
            o.cum_quote += price * qty;
            o.locked -= used;
            o.update_time = now;
            o.status = if o.executed_qty >= o.orig_qty {
                Status::Filled
            } else {
                Status::PartiallyFilled
            };
            o.fills.push(fill.clone());
        }
        if o.venue == Venue::Margin && o.side_effect.repays() {
            let received = match o.side {
                Side::Buy => base.clone(),
                Side::Sell => quote.clone(),
            };
            let (free, _) = bal(self, o.account, o.venue, &received);
            let owed = self.accounts[o.account]
                .margin
                .get(&received)
                .map(|b| b.borrowed + b.interest)
                .unwrap_or_default();
            let amount = free.min(owed);
            if amount > Decimal::ZERO {
                let _ = self.repay(o.account, &received, amount, "AUTO");
            }
        }
        self.emit_execution(id, "TRADE", Some(&fill));
        if self
            .orders
            .get(&id)
            .is_some_and(|o| o.status == Status::Filled)
        {
            self.release(id);
        }
    }

    /// Returns whatever the order still has locked.
    fn release(&mut self, id: i64) {
        let Some(o) = self.orders.get(&id).cloned() else {
            return;
        };
        if o.venue == Venue::Futures || o.locked.is_zero() {
            return;
        }
        let Some(m) = self.markets.get(&o.symbol) else {
            return;
        };
        let asset = if o.side == Side::Buy {
            m.quote.clone()
        } else {
            m.base.clone()
        };
        adjust(self, o.account, o.venue, &asset, o.locked, -o.locked);
        if let Some(o) = self.orders.get_mut(&id) {
            o.locked = Decimal::ZERO;
        }
    }

    /// Ends an open order (cancel/expire) and releases its funds.
    pub(crate) fn finish(&mut self, id: i64, status: Status) {
        self.release(id);
        let now = self.now;
        if let Some(o) = self.orders.get_mut(&id) {
            o.status = status;
            o.update_time = now;
        }
        let x = if status == Status::Canceled {
            "CANCELED"
        } else {
            "EXPIRED"
        };
        self.emit_execution(id, x, None);
    }

    pub fn find_order(
        &self,
        account: usize,
        venue: Venue,
        symbol: &str,
        id: Option<i64>,
        client: Option<&str>,
    ) -> Result<&Order, ApiError> {
        if id.is_none() && client.is_none() {
            return Err(ApiError::bad(
                -1102,
                "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
            ));
        }
        self.orders
            .values()
            .rev()
            .find(|o| {
                o.account == account
                    && o.venue == venue
                    && o.symbol == symbol
                    && id.is_none_or(|i| o.id == i)
                    && client.is_none_or(|c| o.client_id == c)
            })
            .ok_or_else(ApiError::no_such_order)
    }

    /// Cancels an open order of any venue.
    pub fn cancel(
        &mut self,
        account: usize,
        venue: Venue,
        symbol: &str,
        id: Option<i64>,
        client: Option<&str>,
    ) -> Result<i64, ApiError> {
        self.market(symbol)?;
        let o = match self.find_order(account, venue, symbol, id, client) {
            Ok(o) if o.status.is_open() => o.id,
            Ok(_) | Err(ApiError { code: -2013, .. }) => {
                return Err(ApiError::unknown_order_cancel());
            }
            Err(e) => return Err(e),
        };
        self.finish(o, Status::Canceled);
        self.repay_at_cancel(o);
        if venue != Venue::Futures {
            let m = &self.markets[symbol];
            let assets = [m.base.clone(), m.quote.clone()];
            self.emit_balances(account, venue, &assets);
        }
        Ok(o)
    }

    /// Repays what a cancelled MARGIN_BUY / AUTO_BORROW_REPAY order borrowed, from free funds.
    fn repay_at_cancel(&mut self, id: i64) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let Some((asset, amount)) = o.borrowed.clone() else {
            return;
        };
        if o.venue != Venue::Margin || !o.auto_repay_at_cancel {
            return;
        }
        let account = o.account;
        let b = self.accounts[account]
            .margin
            .get(&asset)
            .cloned()
            .unwrap_or_default();
        let pay = (amount + b.interest)
            .min(b.free)
            .min(b.borrowed + b.interest);
        if pay > Decimal::ZERO {
            let _ = self.repay(account, &asset, pay, "AUTO");
        }
    }

    /// Resting LIMIT orders fill (as maker, at their price) when the book moves through them,
    /// at most the top level's size per step, so big orders fill partially over time.
    pub(crate) fn match_resting(&mut self, _now: i64) {
        let open: Vec<(i64, Venue, String, Side, Decimal, Decimal)> = self
            .orders
            .values()
            .filter(|o| o.status.is_open() && o.kind != OrdType::Market)
            .map(|o| {
                (
                    o.id,
                    o.venue,
                    o.symbol.clone(),
                    o.side,
                    o.price,
                    o.remaining(),
                )
            })
            .collect();
        for (id, venue, symbol, side, price, remaining) in open {
            let Some(m) = self.markets.get(&symbol) else {
                continue;
            };
            let (bids, asks) = m.book(venue == Venue::Futures, &self.cfg.market);
            let top = if side == Side::Buy {
                asks.first()
            } else {
                bids.first()
            };
            let Some((p, q)) = top else { continue };
            let crosses = if side == Side::Buy {
                *p <= price
            } else {
                *p >= price
            };
            if !crosses {
                continue;
            }
            let qty = remaining.min(*q);
            let account = self.orders[&id].account;
            if venue == Venue::Futures {
                self.futures_fill(id, price, qty, true);
            } else {
                self.spot_fill(id, price, qty, true);
                let assets = [m_assets(self, &symbol).0, m_assets(self, &symbol).1];
                self.emit_balances(account, venue, &assets);
            }
        }
    }

    pub(crate) fn emit_execution(&mut self, id: i64, x: &str, fill: Option<&Fill>) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let (ch, ev) = match o.venue {
            Venue::Futures => (
                Channel::Futures,
                crate::engine::events::order_trade_update(o, x, fill, self.now),
            ),
            Venue::Spot => (
                Channel::Spot,
                crate::engine::events::execution_report(o, x, fill, self.now),
            ),
            Venue::Margin => (
                Channel::Margin,
                crate::engine::events::execution_report(o, x, fill, self.now),
            ),
        };
        let account = o.account;
        self.push(account, ch, ev);
    }

    pub(crate) fn emit_balances(&mut self, account: usize, venue: Venue, assets: &[String]) {
        let now = self.now;
        let a = &self.accounts[account];
        let rows: Vec<(String, Decimal, Decimal)> = assets
            .iter()
            .map(|s| match venue {
                Venue::Margin => a
                    .margin
                    .get(s)
                    .map(|b| (s.clone(), b.free, b.locked))
                    .unwrap_or((s.clone(), Decimal::ZERO, Decimal::ZERO)),
                _ => a
                    .spot
                    .get(s)
                    .map(|b| (s.clone(), b.free, b.locked))
                    .unwrap_or((s.clone(), Decimal::ZERO, Decimal::ZERO)),
            })
            .collect();
        let ch = if venue == Venue::Margin {
            Channel::Margin
        } else {
            Channel::Spot
        };
        self.push(
            account,
            ch,
            crate::engine::events::outbound_account_position(&rows, now),
        );
    }
}

fn m_assets(ex: &Exchange, symbol: &str) -> (String, String) {
    ex.markets
        .get(symbol)
        .map(|m| (m.base.clone(), m.quote.clone()))
        .unwrap_or_default()
}

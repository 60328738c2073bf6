//! Futures liquidation: when total maintenance margin reaches the margin balance (margin ratio
//! 100 %), every position is closed at the mark price and a liquidation fee is charged.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::account::Income;
use super::futures::{MARGIN_ASSET, apply_position};
use super::{Channel, Exchange, Fill, OrdType, Order, Side, SideEffect, Status, Tif, Venue};

/// Margin ratio at which a MARGIN_CALL is pushed.
const MARGIN_CALL_RATIO: Decimal = dec!(0.8);
const LIQUIDATION_FEE: Decimal = dec!(0.01);

impl Exchange {
    pub(crate) fn check_liquidations(&mut self, now: i64) {
        for acct in 0..self.accounts.len() {
            if self.accounts[acct]
                .positions
                .values()
                .all(|p| p.amt.is_zero())
            {
                continue;
            }
            let t = self.futures_totals(acct);
            if t.maint_margin.is_zero() {
                continue;
            }
            let ratio = if t.margin_balance <= Decimal::ZERO {
                Decimal::MAX
            } else {
                t.maint_margin / t.margin_balance
            };
            if ratio >= Decimal::ONE {
                self.liquidate(acct, now);
            } else if ratio >= MARGIN_CALL_RATIO && !self.accounts[acct].margin_call_sent {
                self.accounts[acct].margin_call_sent = true;
                let ev = super::events::margin_call(self, acct);
                self.push(acct, Channel::Futures, ev);
            } else if ratio < MARGIN_CALL_RATIO {
                self.accounts[acct].margin_call_sent = false;
            }
        }
    }

    /// Closes every perp of `acct` at the mark with the liquidation fee, as Binance's
    /// liquidation engine does: one LIQUIDATION order per symbol (`autoclose-` client id).
    pub(crate) fn liquidate(&mut self, acct: usize, now: i64) {
        let open: Vec<i64> = self
            .orders
            .values()
            .filter(|o| o.account == acct && o.venue == Venue::Futures && o.status.is_open())
            .map(|o| o.id)
            .collect();
        for id in open {
            self.finish(id, Status::Canceled);
        }
        let positions: Vec<(String, Decimal)> = self.accounts[acct]
            .positions
            .iter()
            .filter(|(_, p)| !p.amt.is_zero())
            .map(|(s, p)| (s.clone(), p.amt))
            .collect();
        for (symbol, amt) in positions {
            let mark = self
                .markets
                .get(&symbol)
                .map(|m| m.mark_price())
                .unwrap_or_default();
            let side = if amt > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let qty = amt.abs();
            let realized = apply_position(
                self.accounts[acct]
                    .positions
                    .entry(symbol.clone())
                    .or_default(),
                side,
                mark,
                qty,
                now,
            );
            let fee = (qty * mark * LIQUIDATION_FEE).round_dp(8);
            let id = self.next_id();
            let a = &mut self.accounts[acct];
            let wallet = a.futures.entry(MARGIN_ASSET.to_string()).or_default();
            let before = *wallet;
            // The insurance fund absorbs losses beyond the wallet.
            *wallet = (*wallet + realized - fee).max(Decimal::ZERO);
            let charged = *wallet - before - realized;
            a.income.push(Income {
                symbol: symbol.clone(),
                kind: "REALIZED_PNL",
                income: realized,
                asset: MARGIN_ASSET.into(),
                time: now,
                tran_id: id,
                trade_id: id.to_string(),
            });
            a.income.push(Income {
                symbol: symbol.clone(),
                kind: "INSURANCE_CLEAR",
                income: charged,
                asset: MARGIN_ASSET.into(),
                time: now,
                tran_id: id + 1,
                trade_id: String::new(),
            });
            a.liquidations += 1;
            let fill = Fill {
                price: mark,
                qty,
                commission: Decimal::ZERO,
                commission_asset: MARGIN_ASSET.into(),
                trade_id: id,
                maker: false,
                time: now,
                realized_pnl: realized,
            };
            let order = Order {
                id,
                // the venue's own order: no request, taken in as it is made
                received_us: crate::clock::wall_us(),
                matched_us: crate::clock::wall_us(),
                venue: Venue::Futures,
                account: acct,
                symbol: symbol.clone(),
                client_id: format!("autoclose-{now}"),
                side,
                kind: OrdType::Liquidation,
                tif: Tif::Ioc,
                price: mark,
                orig_qty: qty,
                quote_order_qty: Decimal::ZERO,
                executed_qty: qty,
                cum_quote: qty * mark,
                status: Status::Filled,
                time: now,
                update_time: now,
                reduce_only: true,
                side_effect: SideEffect::None,
                auto_repay_at_cancel: false,
                fills: vec![fill.clone()],
                borrowed: None,
                locked: Decimal::ZERO,
            };
            self.orders.insert(id, order);
            self.emit_execution(id, "CALCULATED", Some(&fill));
            let ev = super::events::account_update(self, acct, "ORDER", &[symbol], Decimal::ZERO);
            self.push(acct, Channel::Futures, ev);
        }
        self.accounts[acct].margin_call_sent = false;
    }
}

#[cfg(test)]
mod tests {
    use crate::config::SimConfig;
    use crate::engine::Exchange;
    use rust_decimal_macros::dec;

    #[test]
    fn position_is_liquidated_when_margin_runs_out() {
        let mut ex = Exchange::new(SimConfig::default(), 0).unwrap();
        ex.accounts[0].futures.insert("USDT".into(), dec!(1000));
        let p = ex.accounts[0]
            .positions
            .entry("BTCUSDT".into())
            .or_default();
        p.amt = dec!(1);
        p.entry = dec!(95000);
        ex.advance_to(1000);
        assert_eq!(ex.accounts[0].liquidations, 0);
        ex.markets.get_mut("BTCUSDT").unwrap().shock(dec!(-2));
        ex.advance_to(2000);
        assert_eq!(ex.accounts[0].liquidations, 1);
        assert!(ex.accounts[0].positions["BTCUSDT"].amt.is_zero());
        assert!(ex.accounts[0].futures["USDT"] >= dec!(0));
    }
}

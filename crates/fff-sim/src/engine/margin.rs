//! Cross margin: borrow/repay, hourly interest, max borrowable, margin level and status.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::account::{InterestRecord, LoanRecord};
use super::events::d8;
use super::futures::MARGIN_ASSET;
use super::{Channel, Exchange};
use crate::ApiError;

/// Initial risk ratio of Cross Margin Classic 3x: borrowing must keep the level above it.
pub const NORMAL_BAR: Decimal = dec!(1.5);
pub const MARGIN_CALL_BAR: Decimal = dec!(1.3);
pub const LIQUIDATION_BAR: Decimal = dec!(1.1);

impl Exchange {
    /// USDT value of one unit of `asset` (index of ASSETUSDT).
    pub fn usdt_price(&self, asset: &str) -> Decimal {
        if matches!(asset, "USDT" | "USDC" | "FDUSD") {
            return Decimal::ONE;
        }
        self.markets
            .get(&format!("{asset}USDT"))
            .map(|m| m.index)
            .unwrap_or_default()
    }

    /// (total asset value, total liability incl. interest) in USDT.
    pub fn margin_totals(&self, account: usize) -> (Decimal, Decimal) {
        let a = &self.accounts[account];
        a.margin.iter().fold(
            (Decimal::ZERO, Decimal::ZERO),
            |(assets, liab), (asset, b)| {
                let p = self.usdt_price(asset);
                (
                    assets + (b.free + b.locked) * p,
                    liab + (b.borrowed + b.interest) * p,
                )
            },
        )
    }

    /// Margin level; 999 when nothing is borrowed (Binance shows a large number).
    pub fn margin_level(&self, account: usize) -> Decimal {
        let (assets, liab) = self.margin_totals(account);
        if liab.is_zero() {
            dec!(999)
        } else {
            (assets / liab).round_dp(8)
        }
    }

    pub fn max_borrowable(&self, account: usize, asset: &str) -> (Decimal, Decimal) {
        let cfg = self.cfg.asset(asset);
        let price = self.usdt_price(asset);
        if !cfg.borrowable || price.is_zero() {
            return (Decimal::ZERO, Decimal::ZERO);
        }
        let (assets, liab) = self.margin_totals(account);
        // (assets + x) / (liab + x) >= NORMAL_BAR  =>  x <= (assets - bar*liab) / (bar - 1)
        let by_level =
            ((assets - NORMAL_BAR * liab) / (NORMAL_BAR - Decimal::ONE)).max(Decimal::ZERO) / price;
        let already = self.accounts[account]
            .margin
            .get(asset)
            .map(|b| b.borrowed)
            .unwrap_or_default();
        let by_limit = (cfg.borrow_limit - already).max(Decimal::ZERO);
        let by_inventory = self.inventory_left(asset);
        (
            by_level.min(by_limit).min(by_inventory).round_dp(8),
            cfg.borrow_limit,
        )
    }

    fn inventory_left(&self, asset: &str) -> Decimal {
        if self.faults.borrow_unavailable.iter().any(|a| a == asset) {
            return Decimal::ZERO;
        }
        let cfg = self.cfg.asset(asset);
        (cfg.inventory - self.lent.get(asset).copied().unwrap_or_default()).max(Decimal::ZERO)
    }

    /// Borrows `amount`; the first hour's interest is charged at once (ON_BORROW).
    pub fn borrow(
        &mut self,
        account: usize,
        asset: &str,
        amount: Decimal,
        source: &'static str,
    ) -> Result<i64, ApiError> {
        let cfg = self.cfg.asset(asset);
        if !cfg.borrowable {
            return Err(ApiError::bad(-3012, "Borrow is banned for this asset."));
        }
        if amount <= Decimal::ZERO {
            return Err(ApiError::mandatory("amount"));
        }
        if amount > self.inventory_left(asset) {
            return Err(ApiError::inventory());
        }
        if amount > self.max_borrowable(account, asset).0 {
            return Err(ApiError::bad(
                -3006,
                "Your borrow amount has exceed maximum borrow amount.",
            ));
        }
        let hourly = cfg.daily_interest_rate / dec!(24);
        let interest = (amount * hourly).round_dp(8);
        let now = self.now;
        let tx = self.next_id();
        *self.lent.entry(asset.to_string()).or_default() += amount;
        let a = &mut self.accounts[account];
        let b = a.margin_bal(asset);
        b.free += amount;
        b.borrowed += amount;
        b.interest += interest;
        a.loans.push(LoanRecord {
            kind: "BORROW",
            asset: asset.into(),
            amount,
            interest: Decimal::ZERO,
            principal: amount,
            time: now,
            tx_id: tx,
            source,
        });
        a.interest.push(InterestRecord {
            asset: asset.into(),
            principal: amount,
            interest,
            rate: hourly,
            kind: "ON_BORROW",
            time: now,
            tx_id: tx,
        });
        self.liability_event(account, asset, "BORROW", amount, interest);
        self.emit_balances(account, super::Venue::Margin, &[asset.to_string()]);
        Ok(tx)
    }

    /// Repays interest first, then principal.
    pub fn repay(
        &mut self,
        account: usize,
        asset: &str,
        amount: Decimal,
        source: &'static str,
    ) -> Result<i64, ApiError> {
        let now = self.now;
        let b = self.accounts[account]
            .margin
            .get(asset)
            .cloned()
            .unwrap_or_default();
        if amount <= Decimal::ZERO {
            return Err(ApiError::mandatory("amount"));
        }
        if amount > b.borrowed + b.interest {
            return Err(ApiError::bad(-3015, "Repay amount exceeds borrow amount."));
        }
        if amount > b.free {
            return Err(ApiError::bad(-3041, "Balance is not enough."));
        }
        let interest = amount.min(b.interest);
        let principal = amount - interest;
        let tx = self.next_id();
        if let Some(l) = self.lent.get_mut(asset) {
            *l = (*l - principal).max(Decimal::ZERO);
        }
        let a = &mut self.accounts[account];
        let m = a.margin_bal(asset);
        m.free -= amount;
        m.interest -= interest;
        m.borrowed -= principal;
        a.loans.push(LoanRecord {
            kind: "REPAY",
            asset: asset.into(),
            amount,
            interest,
            principal,
            time: now,
            tx_id: tx,
            source,
        });
        self.liability_event(account, asset, "REPAY", principal, interest);
        self.emit_balances(account, super::Venue::Margin, &[asset.to_string()]);
        Ok(tx)
    }

    fn liability_event(&mut self, account: usize, asset: &str, kind: &str, p: Decimal, i: Decimal) {
        let ev = serde_json::json!({"e": "USER_LIABILITY_CHANGE", "E": self.now, "a": asset, "t": kind,
            "p": format!("{:.8}", p), "i": format!("{:.8}", i)});
        self.push(account, Channel::MarginRisk, ev);
    }

    /// Hourly interest on every outstanding loan (at each full hour).
    pub(crate) fn accrue_interest(&mut self, now: i64) {
        for acct in 0..self.accounts.len() {
            let loans: Vec<(String, Decimal)> = self.accounts[acct]
                .margin
                .iter()
                .filter(|(_, b)| b.borrowed > Decimal::ZERO)
                .map(|(a, b)| (a.clone(), b.borrowed))
                .collect();
            for (asset, principal) in loans {
                let hourly = self.cfg.asset(&asset).daily_interest_rate / dec!(24);
                let interest = (principal * hourly).round_dp(8);
                let tx = self.next_id();
                let a = &mut self.accounts[acct];
                a.margin_bal(&asset).interest += interest;
                a.interest.push(InterestRecord {
                    asset: asset.clone(),
                    principal,
                    interest,
                    rate: hourly,
                    kind: "PERIODIC",
                    time: now,
                    tx_id: tx,
                });
                self.liability_event(acct, &asset, "INTEREST", Decimal::ZERO, interest);
            }
            self.update_margin_status(acct);
        }
    }

    pub(crate) fn update_margin_status(&mut self, account: usize) {
        let level = self.margin_level(account);
        let status = if level <= LIQUIDATION_BAR {
            "FORCE_LIQUIDATION"
        } else if level <= MARGIN_CALL_BAR {
            "MARGIN_CALL"
        } else if level <= NORMAL_BAR {
            "NORMAL"
        } else {
            "EXCESSIVE"
        };
        if self.accounts[account].margin_status != status {
            self.accounts[account].margin_status = status;
            let ev = serde_json::json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": self.now, "l": level.round_dp(2).normalize().to_string(), "s": status});
            self.push(account, Channel::MarginRisk, ev);
        }
    }

    /// Re-evaluates margin level for accounts with liabilities; liquidates at the bar.
    pub(crate) fn check_margin_levels(&mut self) {
        for acct in 0..self.accounts.len() {
            if self.accounts[acct]
                .margin
                .values()
                .any(|b| b.borrowed > Decimal::ZERO)
            {
                self.update_margin_status(acct);
                if self.margin_level(acct) <= LIQUIDATION_BAR {
                    self.liquidate_margin(acct);
                }
            }
        }
    }

    /// Cross-margin liquidation: every asset is sold to USDT at the index price less a 1 % fee,
    /// every liability (principal + interest) is bought back and repaid; USDT left stays.
    fn liquidate_margin(&mut self, acct: usize) {
        let open: Vec<(i64, String)> = self
            .orders
            .values()
            .filter(|o| o.account == acct && o.venue == super::Venue::Margin && o.status.is_open())
            .map(|o| (o.id, o.symbol.clone()))
            .collect();
        for (id, symbol) in open {
            let _ = self.cancel(acct, super::Venue::Margin, &symbol, Some(id), None);
        }
        let fee = dec!(0.01);
        let rows: Vec<(String, super::account::MarginBalance)> = self.accounts[acct]
            .margin
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let mut pot = Decimal::ZERO;
        for (asset, b) in &rows {
            let p = self.usdt_price(asset);
            let haircut = if asset == "USDT" {
                Decimal::ONE
            } else {
                Decimal::ONE - fee
            };
            pot += (b.free + b.locked) * p * haircut;
            pot -= (b.borrowed + b.interest) * p;
            if let Some(l) = self.lent.get_mut(asset) {
                *l = (*l - b.borrowed).max(Decimal::ZERO);
            }
        }
        let now = self.now;
        for (asset, b) in &rows {
            if b.borrowed + b.interest > Decimal::ZERO {
                self.liability_event(acct, asset, "REPAY", b.borrowed, b.interest);
            }
        }
        let a = &mut self.accounts[acct];
        a.margin.clear();
        a.margin.insert(
            "USDT".into(),
            super::account::MarginBalance {
                free: pot.max(Decimal::ZERO).round_dp(8),
                ..Default::default()
            },
        );
        a.liquidations += 1;
        a.update_time = now;
        self.update_margin_status(acct);
        let assets: Vec<String> = rows.into_iter().map(|r| r.0).collect();
        self.emit_balances(acct, super::Venue::Margin, &assets);
    }

    /// Moves funds between wallets (universal transfer types).
    pub fn transfer(
        &mut self,
        account: usize,
        kind: &str,
        asset: &str,
        amount: Decimal,
    ) -> Result<i64, ApiError> {
        if amount <= Decimal::ZERO {
            return Err(ApiError::mandatory("amount"));
        }
        if self.faults.transfers_suspended {
            return Err(ApiError::new(
                400,
                -1000,
                "An unknown error occurred while processing the request.",
            ));
        }
        let (from, to) = kind
            .split_once('_')
            .ok_or_else(|| ApiError::bad(-1102, "Invalid transfer type."))?;
        // the margin asset leaves futures only up to maxWithdrawAmount: margin that backs
        // positions and open orders stays
        let futures_free = if asset == MARGIN_ASSET {
            let t = self.futures_totals(account);
            Some(t.available.min(t.wallet))
        } else {
            self.accounts[account].futures.get(asset).copied()
        };
        let a = &mut self.accounts[account];
        let available = match from {
            "MAIN" => a.spot.get(asset).map(|b| b.free),
            "MARGIN" => a.margin.get(asset).map(|b| b.free - b.borrowed.min(b.free)),
            "UMFUTURE" => futures_free,
            _ => return Err(ApiError::bad(-1102, "Invalid transfer type.")),
        }
        .unwrap_or_default();
        if !matches!(to, "MAIN" | "MARGIN" | "UMFUTURE") || from == to {
            return Err(ApiError::bad(-1102, "Invalid transfer type."));
        }
        if available < amount {
            return Err(ApiError::insufficient_balance());
        }
        match from {
            "MAIN" => a.spot_bal(asset).free -= amount,
            "MARGIN" => a.margin_bal(asset).free -= amount,
            _ => *a.futures.entry(asset.into()).or_default() -= amount,
        }
        match to {
            "MAIN" => a.spot_bal(asset).free += amount,
            "MARGIN" => a.margin_bal(asset).free += amount,
            _ => *a.futures.entry(asset.into()).or_default() += amount,
        }
        a.update_time = self.now;
        self.transfer_events(account, from, asset, -amount);
        self.transfer_events(account, to, asset, amount);
        if from == "MARGIN" || to == "MARGIN" {
            self.update_margin_status(account);
        }
        let tran_id = self.next_id();
        let time = self.now;
        self.accounts[account]
            .transfers
            .push(super::account::TransferRecord {
                kind: kind.to_string(),
                asset: asset.to_string(),
                amount,
                time,
                tran_id,
            });
        Ok(tran_id)
    }

    /// What Binance pushes for one side of a transfer: `balanceUpdate` + `outboundAccountPosition`
    /// on the spot or margin user stream, `ACCOUNT_UPDATE` (DEPOSIT/WITHDRAW) on the futures one.
    fn transfer_events(&mut self, account: usize, wallet: &str, asset: &str, delta: Decimal) {
        let now = self.now;
        let update = serde_json::json!({"e": "balanceUpdate", "E": now, "a": asset, "d": d8(delta), "T": now});
        let assets = [asset.to_owned()];
        match wallet {
            "MAIN" => {
                self.push(account, Channel::Spot, update);
                self.emit_balances(account, super::Venue::Spot, &assets);
            }
            "MARGIN" => {
                self.push(account, Channel::Margin, update);
                self.emit_balances(account, super::Venue::Margin, &assets);
            }
            _ if asset == MARGIN_ASSET => {
                let reason = if delta > Decimal::ZERO {
                    "DEPOSIT"
                } else {
                    "WITHDRAW"
                };
                let ev = super::events::account_update(self, account, reason, &[], delta);
                self.push(account, Channel::Futures, ev);
            }
            // the simulated futures wallet shows only its margin asset
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::SimConfig;
    use crate::engine::Exchange;
    use crate::engine::market::HOUR_MS;
    use rust_decimal_macros::dec;

    #[test]
    fn interest_is_charged_at_borrow_and_every_full_hour() {
        let mut cfg = SimConfig::default();
        cfg.market.step_ms = 60_000;
        let start = 13 * HOUR_MS + 20 * 60_000;
        let mut ex = Exchange::new(cfg, start).unwrap();
        ex.borrow(0, "USDT", dec!(1000), "MANUAL").unwrap();
        ex.advance_to(14 * HOUR_MS + 15 * 60_000);
        let hourly = dec!(0.00012) / dec!(24);
        let b = &ex.accounts[0].margin["USDT"];
        assert_eq!(b.interest, (dec!(1000) * hourly).round_dp(8) * dec!(2));
        assert_eq!(ex.accounts[0].interest.len(), 2);
        ex.repay(0, "USDT", dec!(1000) + b.interest, "MANUAL")
            .unwrap();
        assert_eq!(ex.accounts[0].margin["USDT"].borrowed, dec!(0));
    }

    #[test]
    fn margin_account_is_liquidated_at_the_bar() {
        let mut ex = Exchange::new(SimConfig::default(), 0).unwrap();
        // Short BTC with everything the account may borrow.
        let max = crate::engine::market::round_down(
            ex.max_borrowable(0, "BTC").0 * dec!(0.95),
            dec!(0.00001),
        );
        let req = crate::engine::orders::NewOrder {
            symbol: "BTCUSDT".into(),
            side: crate::engine::Side::Sell,
            kind: crate::engine::OrdType::Market,
            tif: crate::engine::Tif::Gtc,
            qty: Some(max),
            quote_qty: None,
            price: None,
            client_id: None,
            reduce_only: false,
            side_effect: crate::engine::SideEffect::MarginBuy,
            auto_repay_at_cancel: true,
        };
        ex.place_spot(0, crate::engine::Venue::Margin, req).unwrap();
        ex.advance_to(1000);
        assert_eq!(ex.accounts[0].liquidations, 0);
        assert!(ex.margin_level(0) > super::LIQUIDATION_BAR);
        ex.markets.get_mut("BTCUSDT").unwrap().shock(dec!(40));
        ex.advance_to(2000);
        assert_eq!(ex.accounts[0].liquidations, 1);
        let usdt = &ex.accounts[0].margin["USDT"];
        assert!(usdt.free > dec!(0) && usdt.free < dec!(100000));
        assert!(ex.accounts[0].margin.values().all(|b| b.borrowed.is_zero()));
        assert_eq!(ex.accounts[0].margin_status, "EXCESSIVE");
    }

    #[test]
    fn exhausted_inventory_gives_3045() {
        let mut ex = Exchange::new(SimConfig::default(), 0).unwrap();
        ex.faults.borrow_unavailable = vec!["BTC".into()];
        assert_eq!(
            ex.borrow(0, "BTC", dec!(0.01), "MANUAL").unwrap_err().code,
            -3045
        );
        assert_eq!(
            ex.borrow(0, "ORCA", dec!(1), "MANUAL").unwrap_err().code,
            -3012
        );
    }

    #[test]
    fn suspended_transfers_are_refused_and_move_nothing() {
        let mut ex = Exchange::new(SimConfig::default(), 0).unwrap();
        ex.faults.transfers_suspended = true;
        let refused = ex
            .transfer(0, "MAIN_UMFUTURE", "USDT", dec!(250))
            .unwrap_err();
        assert_eq!(refused.code, -1000);
        assert_eq!(ex.accounts[0].spot["USDT"].free, dec!(100000));
        assert_eq!(ex.accounts[0].futures["USDT"], dec!(100000));
        assert!(ex.accounts[0].transfers.is_empty());
        ex.faults.transfers_suspended = false;
        ex.transfer(0, "MAIN_UMFUTURE", "USDT", dec!(250)).unwrap();
    }

    #[test]
    fn transfers_move_funds_push_events_and_keep_position_margin() {
        let mut ex = Exchange::new(SimConfig::default(), 0).unwrap();
        ex.events.clear();
        ex.transfer(0, "MAIN_UMFUTURE", "USDT", dec!(250)).unwrap();
        assert_eq!(ex.accounts[0].spot["USDT"].free, dec!(99750));
        assert_eq!(ex.accounts[0].futures["USDT"], dec!(100250));
        let kinds: Vec<(crate::engine::Channel, String)> = ex
            .events
            .iter()
            .map(|e| (e.channel, e.payload["e"].as_str().unwrap().to_owned()))
            .collect();
        assert!(kinds.contains(&(crate::engine::Channel::Spot, "balanceUpdate".into())));
        let update = ex
            .events
            .iter()
            .find(|e| e.payload["e"] == "ACCOUNT_UPDATE")
            .unwrap();
        assert_eq!(update.payload["a"]["m"], "DEPOSIT");
        assert_eq!(update.payload["a"]["B"][0]["bc"], "250.00000000");
        let too_much = ex
            .transfer(0, "MARGIN_MAIN", "USDT", dec!(100000.01))
            .unwrap_err();
        assert_eq!(too_much.code, -2010);
        assert!(ex.transfer(0, "MAIN_MAIN", "USDT", dec!(1)).is_err());

        // an open position's margin cannot leave the futures wallet
        let long = crate::engine::orders::NewOrder {
            symbol: "BTCUSDT".into(),
            side: crate::engine::Side::Buy,
            kind: crate::engine::OrdType::Market,
            tif: crate::engine::Tif::Gtc,
            qty: Some(dec!(1)),
            quote_qty: None,
            price: None,
            client_id: None,
            reduce_only: false,
            side_effect: crate::engine::SideEffect::None,
            auto_repay_at_cancel: true,
        };
        ex.place_futures(0, long).unwrap();
        let t = ex.futures_totals(0);
        assert!(t.position_im > dec!(0) && t.available < t.wallet);
        let wallet = ex.accounts[0].futures["USDT"];
        assert_eq!(
            ex.transfer(0, "UMFUTURE_MAIN", "USDT", wallet)
                .unwrap_err()
                .code,
            -2010
        );
        ex.transfer(0, "UMFUTURE_MARGIN", "USDT", t.available.min(t.wallet))
            .unwrap();
    }
}

//! Funding settlement: at each symbol's own interval, income = -positionAmt * mark * rate.

use rust_decimal::Decimal;

use super::account::Income;
use super::futures::MARGIN_ASSET;
use super::{Channel, Exchange};

impl Exchange {
    /// Settles every symbol whose `next_funding` is at or before `now`.
    pub(crate) fn settle_funding(&mut self, now: i64) {
        let noise = self.cfg.market.funding_noise;
        let due: Vec<String> = self
            .markets
            .values()
            .filter(|m| m.perp.is_some() && m.next_funding <= now)
            .map(|m| m.symbol.clone())
            .collect();
        for symbol in due {
            let Some(m) = self.markets.get_mut(&symbol) else {
                continue;
            };
            let settle_time = m.next_funding;
            let rate = m.replay_rate(settle_time).unwrap_or(m.funding_rate);
            let mark = m.mark_price();
            m.funding_history.push((settle_time, rate, mark));
            m.next_funding = m.next_funding_after(settle_time);
            m.roll_funding(noise, m.next_funding);
            for acct in 0..self.accounts.len() {
                let amt = self.accounts[acct]
                    .positions
                    .get(&symbol)
                    .map(|p| p.amt)
                    .unwrap_or_default();
                if amt.is_zero() {
                    continue;
                }
                let income = (-amt * mark * rate).round_dp(8);
                let tran_id = self.next_id();
                let a = &mut self.accounts[acct];
                *a.futures.entry(MARGIN_ASSET.to_string()).or_default() += income;
                a.income.push(Income {
                    symbol: symbol.clone(),
                    kind: "FUNDING_FEE",
                    income,
                    asset: MARGIN_ASSET.into(),
                    time: settle_time,
                    tran_id,
                    trade_id: String::new(),
                });
                // Cross positions: balance only, no P (per the user-data-stream docs).
                let ev = super::events::account_update(self, acct, "FUNDING_FEE", &[], income);
                self.push(acct, Channel::Futures, ev);
            }
        }
    }

    /// Admin: sets a symbol's funding rate (current and mean), or flips its sign.
    pub fn set_funding(
        &mut self,
        symbol: &str,
        rate: Option<Decimal>,
        flip: bool,
    ) -> Result<Decimal, crate::ApiError> {
        let m = self
            .markets
            .get_mut(symbol)
            .ok_or_else(crate::ApiError::invalid_symbol)?;
        if m.perp.is_none() {
            return Err(crate::ApiError::invalid_symbol());
        }
        let new = match (rate, flip) {
            (Some(r), _) => r,
            (None, true) => -m.funding_rate,
            (None, false) => m.funding_rate,
        }
        .clamp(Decimal::NEGATIVE_ONE, Decimal::ONE);
        m.funding_rate = new;
        m.funding_mean = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ClockConfig, ClockMode, SimConfig};
    use crate::engine::Exchange;
    use crate::engine::market::HOUR_MS;
    use rust_decimal_macros::dec;

    #[test]
    fn settles_per_interval_with_signed_amount() {
        let mut cfg = SimConfig {
            clock: ClockConfig {
                mode: ClockMode::Manual,
                speed: 1.0,
                start_ms: Some(0),
            },
            ..Default::default()
        };
        cfg.market.funding_noise = dec!(0);
        let mut ex = Exchange::new(cfg, 0).unwrap();
        for s in ["BTCUSDT", "SOLUSDT", "DOGEUSDT"] {
            ex.accounts[0].positions.entry(s.into()).or_default().amt = dec!(-1);
        }
        ex.advance_to(8 * HOUR_MS);
        let count = |s: &str| {
            ex.accounts[0]
                .income
                .iter()
                .filter(|i| i.symbol == s && i.kind == "FUNDING_FEE")
                .count()
        };
        assert_eq!(
            (count("BTCUSDT"), count("SOLUSDT"), count("DOGEUSDT")),
            (1, 2, 8)
        );
        let (t, rate, mark) = ex.markets["BTCUSDT"].funding_history[0];
        assert_eq!(t, 8 * HOUR_MS);
        let row = ex.accounts[0]
            .income
            .iter()
            .find(|i| i.symbol == "BTCUSDT")
            .unwrap();
        assert_eq!(row.income, (mark * rate).round_dp(8));
        assert!(row.income > dec!(0));
    }
}

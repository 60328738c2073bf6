//! The strategy's caps, applied to manual opens too: an operator's `OpenPosition` may not
//! exceed the pair cap, the number of pairs, or the capital budget the allocator would respect.

use fff_core::Direction;
use rust_decimal::Decimal;

use super::Engine;
use crate::error::{ExecutorError, Result};

impl Engine {
    /// Refuses (FAILED_PRECONDITION, naming the limit) an open the allocator could not make.
    pub async fn check_caps(
        &self,
        symbol: &str,
        direction: Direction,
        notional: Decimal,
    ) -> Result<()> {
        let capital = &self.params.capital;
        let live = self.live_positions().await?;
        if live.iter().any(|p| p.symbol == symbol) {
            return Ok(()); // the one-live-position rule answers this case
        }
        if live.len() >= self.params.max_pairs as usize {
            return Err(ExecutorError::FailedPrecondition(format!(
                "{} positions are live: pair_selection.max_pairs ({}) reached",
                live.len(),
                self.params.max_pairs
            )));
        }
        if capital.max_symbol_notional_usdt > Decimal::ZERO
            && notional > capital.max_symbol_notional_usdt
        {
            return Err(ExecutorError::FailedPrecondition(format!(
                "notional {notional} exceeds the per-symbol limit {} (capital.max_symbol_notional_usdt)",
                capital.max_symbol_notional_usdt
            )));
        }
        if capital.max_total_notional_usdt > Decimal::ZERO {
            let held: Decimal = live
                .iter()
                .map(|p| {
                    let price = self
                        .mark(&p.symbol)
                        .or(p.perp_entry_price)
                        .unwrap_or_default();
                    p.perp_qty.abs() * price
                })
                .sum();
            if held + notional > capital.max_total_notional_usdt {
                return Err(ExecutorError::FailedPrecondition(format!(
                    "hedged notional {} + {notional} exceeds the total limit {} \
                     (capital.max_total_notional_usdt)",
                    held.round_dp(2),
                    capital.max_total_notional_usdt
                )));
            }
        }
        let equity = self.exchange.account().await?.equity.max(Decimal::ZERO);
        let model = &self.params.model;
        let pair_cap =
            model.notional_for_capital(equity * capital.max_pair_fraction, direction, 2)?;
        if notional > pair_cap {
            return Err(ExecutorError::FailedPrecondition(format!(
                "notional {notional} exceeds the pair cap {pair_cap} \
                 (capital.max_pair_fraction {} of equity {equity}, both legs)",
                capital.max_pair_fraction
            )));
        }
        let budget = equity
            * capital
                .target_utilization
                .min(Decimal::ONE - capital.reserve_ratio);
        let in_use = self.capital_in_use().await?.total();
        let needed = model.hedge_capital(notional, direction)?.total();
        if in_use + needed > budget {
            return Err(ExecutorError::FailedPrecondition(format!(
                "capital in use {} + {} for this hedge exceeds the budget {} \
                 (capital.target_utilization of equity {equity})",
                in_use.round_dp(2),
                needed.round_dp(2),
                budget.round_dp(2)
            )));
        }
        Ok(())
    }
}

//! Keeps both sides of the account funded ([`fff_core::plan_transfer`]): USDT idle in the spot
//! wallet is swept into cross margin (where the spot legs trade), and USDT moves between cross
//! margin and the futures wallet when a side holds less than its hedges need or its health
//! (futures margin coverage, cross-margin level) drifts toward Yellow. Runs before entries and
//! on a timer ([`run`]).

use std::sync::Arc;
use std::time::Duration;

use fff_core::{HedgeCapital, WalletBalances, WalletHealth, WalletSide, WalletTransfer};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::error::Result;
use crate::exchange::{AccountView, Wallet};
use crate::legs::core_direction;

/// How often the keeper looks at the wallets without being asked.
const CHECK_EVERY: Duration = Duration::from_secs(2);

fn wallet(side: WalletSide) -> Wallet {
    match side {
        WalletSide::SpotMargin => Wallet::CrossMargin,
        WalletSide::Futures => Wallet::UsdmFutures,
    }
}

/// Unique per process start and call; a retried call after an unknown outcome re-reads the
/// balances first, so a transfer that did go through is not repeated.
fn request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("fffw{nanos}")
}

impl Engine {
    /// Updates the marks of the live positions' symbols from the gateway.
    pub async fn refresh_marks(&self) {
        let Ok(live) = self.live_positions().await else {
            return;
        };
        for p in &live {
            if let Ok(instrument) = self.exchange.instrument(&p.symbol).await {
                self.set_mark(&p.symbol, instrument.mark_price);
            }
        }
    }

    /// Capital the live positions tie up, valued at their latest marks (entry prices before
    /// the first mark).
    pub async fn capital_in_use(&self) -> Result<HedgeCapital> {
        let live = self.live_positions().await?;
        let mut total = HedgeCapital::default();
        for p in &live {
            let price = self
                .mark(&p.symbol)
                .or(p.perp_entry_price)
                .or(p.spot_entry_price)
                .unwrap_or_default();
            let notional = p.spot_qty.abs().max(p.perp_qty.abs()) * price;
            total = total.plus(
                self.params
                    .model
                    .hedge_capital(notional, core_direction(p.direction))?,
            );
        }
        Ok(total)
    }

    /// Moves USDT so both sides can carry the live hedges plus `pending` (an entry about to
    /// start). Returns the transfer between the trading wallets, if one was made.
    pub async fn fund_wallets(&self, pending: HedgeCapital) -> Result<Option<WalletTransfer>> {
        self.fund_wallets_seen(pending)
            .await
            .map(|(transfer, _)| transfer)
    }

    /// [`Engine::fund_wallets`], also returning the account it judged when it moved nothing
    /// (the caller's checks need no second read then).
    pub(crate) async fn fund_wallets_seen(
        &self,
        pending: HedgeCapital,
    ) -> Result<(Option<WalletTransfer>, Option<AccountView>)> {
        self.check_fence()?;
        let _serial = self.wallet_lock.lock().await;
        // both reads at once: the check is on the way from an opportunity to its order
        let (account, in_use) = futures_util::join!(self.exchange.account(), self.capital_in_use());
        let mut account = account?;
        let min = self.params.capital.min_transfer_usdt.max(Decimal::ONE);
        let idle = account.wallets.spot_usdt_free.trunc_with_scale(2);
        if idle >= min {
            self.exchange
                .transfer(
                    "USDT",
                    idle,
                    Wallet::Spot,
                    Wallet::CrossMargin,
                    &request_id(),
                )
                .await?;
            tracing::info!(amount = %idle, "swept idle USDT from the spot wallet into cross margin");
            account = self.exchange.account().await?;
        }
        let need = in_use?.plus(pending);
        let Some(mut transfer) = fff_core::plan_transfer(
            need,
            balances(&account),
            WalletHealth {
                futures_coverage: account.wallets.futures_coverage(),
                margin_level: account.wallets.margin_level,
            },
            &self.params.capital,
        ) else {
            return Ok((None, Some(account)));
        };
        // what the venue lets leave the source wallet now
        let movable = match transfer.from {
            WalletSide::Futures => account.wallets.futures_max_withdraw,
            WalletSide::SpotMargin => account.margin.get("USDT").map_or(Decimal::ZERO, |a| a.free),
        };
        transfer.amount = transfer.amount.min(movable).trunc_with_scale(2);
        if transfer.amount < min {
            return Ok((None, Some(account)));
        }
        self.exchange
            .transfer(
                "USDT",
                transfer.amount,
                wallet(transfer.from),
                wallet(transfer.to),
                &request_id(),
            )
            .await?;
        tracing::info!(
            amount = %transfer.amount,
            from = ?transfer.from,
            to = ?transfer.to,
            reason = ?transfer.reason,
            "wallet transfer"
        );
        let direction = format!("{:?}_to_{:?}", transfer.from, transfer.to);
        fff_runtime::metrics::counter_add(
            "fff_executor_wallet_transfers_total",
            "USDT transfers between cross margin and the futures wallet.",
            &[("direction", direction.as_str())],
            1.0,
        );
        Ok((Some(transfer), None))
    }
}

/// The two sides' equity: the spot wallet counts with cross margin (it is swept there).
pub fn balances(account: &AccountView) -> WalletBalances {
    WalletBalances {
        spot_side: account.wallets.margin_net_equity + account.wallets.spot_equity,
        futures: account.wallets.futures_margin_balance,
    }
}

/// Checks the wallets every few seconds until cancelled, with the live positions' marks
/// refreshed first (the capital they tie up moves with the price).
pub async fn run(engine: Arc<Engine>, cancel: CancellationToken) {
    engine.wait_reconciled().await;
    loop {
        engine.refresh_marks().await;
        if let Err(err) = engine.fund_wallets(HedgeCapital::default()).await {
            tracing::warn!(error = %err, "wallet check failed");
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

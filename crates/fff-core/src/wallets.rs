//! Keeping both wallets funded: the transfer policy shared by the executor and the backtester.
//!
//! A hedge's legs live in different wallets: when the price runs, the perp's loss drains the
//! futures wallet while the spot leg's gain sits on the spot/margin side (or the other way
//! round for a borrowed short). Left alone, the perp can be liquidated although the hedge as a
//! whole is flat. The policy moves USDT between the sides:
//!
//! - **target** of each side = its need (the [`HedgeCapital`] of the held and planned hedges)
//!   plus a share of the free equity proportional to that need;
//! - a transfer is due when a side holds less than its need (before entries, or after a price
//!   run), or when a health figure (futures margin coverage, cross-margin level) is below its
//!   `capital.transfer_*` threshold; it moves the side toward its target, never taking the
//!   other side below its own need, and never less than `capital.min_transfer_usdt`.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::capital::HedgeCapital;
use crate::params::CapitalParams;

/// One side of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum WalletSide {
    /// Spot and cross-margin wallets (spot legs, margin collateral).
    SpotMargin,
    /// USDⓈ-M futures wallet (perp margin).
    Futures,
}

impl WalletSide {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::SpotMargin => Self::Futures,
            Self::Futures => Self::SpotMargin,
        }
    }
}

/// Equity held on each side, USDT (net of loans; the futures side includes unrealised P&L).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WalletBalances {
    /// Spot + cross-margin net equity.
    pub spot_side: Decimal,
    /// Futures margin balance.
    pub futures: Decimal,
}

impl WalletBalances {
    fn get(&self, side: WalletSide) -> Decimal {
        match side {
            WalletSide::SpotMargin => self.spot_side,
            WalletSide::Futures => self.futures,
        }
    }
}

/// Health figures that can call for a transfer; `None` when not applicable (no positions, no
/// loans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WalletHealth {
    /// Futures margin balance / maintenance margin.
    pub futures_coverage: Option<Decimal>,
    /// Cross-margin level, total assets / total liabilities.
    pub margin_level: Option<Decimal>,
}

/// A transfer the policy calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WalletTransfer {
    /// Source side.
    pub from: WalletSide,
    /// Destination side.
    pub to: WalletSide,
    /// USDT to move, floored to cents.
    pub amount: Decimal,
    /// Why.
    pub reason: TransferReason,
}

/// Why a transfer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransferReason {
    /// The side holds less than its hedges need.
    BelowNeed,
    /// Futures margin coverage below `capital.transfer_below_coverage`.
    LowCoverage,
    /// Cross-margin level below `capital.transfer_below_margin_level`.
    LowMarginLevel,
}

/// Where each side should stand: need plus a proportional share of the free equity.
pub fn wallet_targets(need: HedgeCapital, balances: WalletBalances) -> WalletBalances {
    let equity = balances.spot_side + balances.futures;
    let total_need = need.total();
    let free = (equity - total_need).max(Decimal::ZERO);
    if total_need <= Decimal::ZERO {
        return balances;
    }
    let futures_share = free * need.perp_margin / total_need;
    WalletBalances {
        spot_side: need.spot_side + (free - futures_share),
        futures: need.perp_margin + futures_share,
    }
}

/// The transfer due now, if any.
pub fn plan_transfer(
    need: HedgeCapital,
    balances: WalletBalances,
    health: WalletHealth,
    params: &CapitalParams,
) -> Option<WalletTransfer> {
    let targets = wallet_targets(need, balances);
    let need_of = |side| match side {
        WalletSide::SpotMargin => need.spot_side,
        WalletSide::Futures => need.perp_margin,
    };
    let low_coverage = health
        .futures_coverage
        .is_some_and(|c| c < params.transfer_below_coverage);
    let low_level = health
        .margin_level
        .is_some_and(|l| l < params.transfer_below_margin_level);
    // The side short of its need first; then the health triggers (a side whose health is low
    // is the one that lost money).
    let (to, reason) = if balances.futures < need.perp_margin {
        (WalletSide::Futures, TransferReason::BelowNeed)
    } else if balances.spot_side < need.spot_side {
        (WalletSide::SpotMargin, TransferReason::BelowNeed)
    } else if low_coverage {
        (WalletSide::Futures, TransferReason::LowCoverage)
    } else if low_level {
        (WalletSide::SpotMargin, TransferReason::LowMarginLevel)
    } else {
        return None;
    };
    let from = to.other();
    let wanted = targets.get(to) - balances.get(to);
    let spare = balances.get(from) - need_of(from);
    let amount = wanted.min(spare).trunc_with_scale(2);
    (amount >= params.min_transfer_usdt && amount > Decimal::ZERO).then_some(WalletTransfer {
        from,
        to,
        amount,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn need(spot: Decimal, perp: Decimal) -> HedgeCapital {
        HedgeCapital {
            spot_side: spot,
            perp_margin: perp,
        }
    }

    #[test]
    fn entries_fund_the_futures_wallet_from_the_spot_side() {
        // 100k each side; plan needs 69k spot cash and 16k perp margin: nothing due
        let balances = WalletBalances {
            spot_side: dec!(100_000),
            futures: dec!(100_000),
        };
        let p = CapitalParams::default();
        assert_eq!(
            plan_transfer(
                need(dec!(69_000), dec!(16_000)),
                balances,
                WalletHealth::default(),
                &p
            ),
            None
        );
        // 150k spot cash needed: the futures side gives what it can spare toward the target
        let t = plan_transfer(
            need(dec!(150_000), dec!(34_500)),
            balances,
            WalletHealth::default(),
            &p,
        )
        .unwrap();
        assert_eq!(t.from, WalletSide::Futures);
        assert_eq!(t.to, WalletSide::SpotMargin);
        assert_eq!(t.reason, TransferReason::BelowNeed);
        // free 15.5k split 150:34.5 -> spot target 150k + 12 601.62...; futures keeps its need
        assert!(t.amount <= dec!(65_500));
        assert!(t.amount >= dec!(50_000));
    }

    #[test]
    fn a_drained_futures_wallet_is_refilled_on_low_coverage() {
        let p = CapitalParams::default();
        let balances = WalletBalances {
            spot_side: dec!(90_000),
            futures: dec!(12_000),
        };
        let health = WalletHealth {
            futures_coverage: Some(dec!(6)),
            margin_level: None,
        };
        let t = plan_transfer(need(dec!(60_000), dec!(11_500)), balances, health, &p).unwrap();
        assert_eq!(t.to, WalletSide::Futures);
        assert_eq!(t.reason, TransferReason::LowCoverage);
        let after = dec!(12_000) + t.amount;
        let target = wallet_targets(need(dec!(60_000), dec!(11_500)), balances).futures;
        assert!(after <= target && target - after < dec!(0.01));
    }

    #[test]
    fn tiny_transfers_are_skipped() {
        let p = CapitalParams::default();
        let balances = WalletBalances {
            spot_side: dec!(100),
            futures: dec!(23),
        };
        assert_eq!(
            plan_transfer(
                need(dec!(100), dec!(23.5)),
                balances,
                WalletHealth::default(),
                &p
            ),
            None
        );
    }

    proptest! {
        /// A transfer never takes the source side below its own need, never moves more than
        /// the destination's target asks, and keeps total equity unchanged.
        #[test]
        fn transfers_respect_both_needs(
            spot in 0i64..1_000_000, fut in 0i64..1_000_000,
            need_spot in 0i64..800_000, need_fut in 0i64..200_000,
            coverage in proptest::option::of(1i64..100),
            level in proptest::option::of(110i64..400),
        ) {
            let p = CapitalParams::default();
            let balances = WalletBalances { spot_side: Decimal::from(spot), futures: Decimal::from(fut) };
            let n = need(Decimal::from(need_spot), Decimal::from(need_fut));
            let health = WalletHealth {
                futures_coverage: coverage.map(Decimal::from),
                margin_level: level.map(|l| Decimal::new(l, 2)),
            };
            if let Some(t) = plan_transfer(n, balances, health, &p) {
                let from_need = match t.from { WalletSide::SpotMargin => n.spot_side, WalletSide::Futures => n.perp_margin };
                prop_assert!(balances.get(t.from) - t.amount >= from_need);
                let target = wallet_targets(n, balances).get(t.to);
                prop_assert!(balances.get(t.to) + t.amount <= target);
                prop_assert!(t.amount >= p.min_transfer_usdt);
            }
        }
    }
}

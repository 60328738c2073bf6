//! The capital model: what a hedge ties up on each side of a real Binance account.
//!
//! Binance keeps the spot/cross-margin wallets and the USDⓈ-M futures wallet apart, and only
//! the perp leg is levered. A hedge of per-leg notional `N` therefore needs:
//!
//! | direction | spot/margin side                                  | futures wallet            |
//! |-----------|---------------------------------------------------|---------------------------|
//! | positive  | `N` cash for the spot buy (no borrowing)          | `N × (1 + buffer) / L`    |
//! | positive, `spot_usdt_borrow` | `N × (1 − 1/T)`: cash so the loan keeps margin level ≥ `T` | same |
//! | negative  | collateral `N × (T − 1)`: margin level ≥ `T`      | same                      |
//!
//! where `L` is `capital.leverage` and `T = 1 + (risk.margin_level_green_above − 1) × (1 + buffer)`
//! is the cross-margin level the model keeps: the risk service's green threshold with the buffer
//! on top (margin level = assets / liabilities; a borrowed short of `N` with collateral `C` has
//! level `(C + N) / N`). At the defaults `T = 2.15`, so a negative-carry hedge holds `1.15 N` of
//! collateral and a positive-carry hedge `1.23 N` in all.
//!
//! **Utilisation** = (spot-leg cash + margin collateral + perp margin in use) / equity: the same
//! figure everywhere (`GetAllocation`, `GetRiskState`, `fff status`, metrics, backtests).

use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::params::{CapitalParams, RiskParams};
use crate::types::Direction;

/// Capital a hedge ties up, by wallet side (USDT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct HedgeCapital {
    /// Spot/cross-margin side: the spot leg's cash (positive carry) or the collateral kept
    /// against a borrowed short (negative carry).
    pub spot_side: Decimal,
    /// Futures wallet: the perp leg's margin with the buffer, `N × (1 + buffer) / leverage`.
    pub perp_margin: Decimal,
}

impl HedgeCapital {
    /// Both sides together.
    pub fn total(&self) -> Decimal {
        self.spot_side + self.perp_margin
    }

    /// Component-wise sum (saturating: capital figures are far below `Decimal::MAX`).
    pub fn plus(self, other: Self) -> Self {
        Self {
            spot_side: self.spot_side.saturating_add(other.spot_side),
            perp_margin: self.perp_margin.saturating_add(other.perp_margin),
        }
    }
}

/// Utilisation of an account: capital in use against equity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Utilization {
    /// Capital in use, by side.
    pub capital: HedgeCapital,
    /// Sum of per-leg notionals.
    pub notional: Decimal,
    /// `capital.total() / equity`; 0 for non-positive equity.
    pub ratio: Decimal,
}

/// The capital model, built once from `[capital]` and `[risk]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CapitalModel {
    params: CapitalParams,
    /// Cross-margin level the model keeps (`T` above).
    margin_level_target: Decimal,
}

impl CapitalModel {
    /// Validate `[capital]` and derive the model. Errors name the first bad key.
    pub fn new(capital: &CapitalParams, risk: &RiskParams) -> Result<Self> {
        if let Some(violation) = capital.validate().into_iter().next() {
            return Err(violation.into());
        }
        crate::allocate::check_leverage(capital)?;
        if risk.margin_level_green_above <= Decimal::ONE {
            return Err(Error::InvalidParams {
                key: "risk.margin_level_green_above".to_owned(),
                message: format!(
                    "must be above 1 for the capital model, got {}",
                    risk.margin_level_green_above
                ),
            });
        }
        let margin_level_target = (risk.margin_level_green_above - Decimal::ONE)
            .checked_mul(Decimal::ONE + capital.buffer)
            .map(|excess| Decimal::ONE + excess)
            .ok_or(Error::Overflow("margin level target"))?;
        Ok(Self {
            params: capital.clone(),
            margin_level_target,
        })
    }

    /// The `[capital]` parameters.
    pub fn params(&self) -> &CapitalParams {
        &self.params
    }

    /// Cross-margin level the model keeps for borrowed legs (2.15 at the defaults).
    pub fn margin_level_target(&self) -> Decimal {
        self.margin_level_target
    }

    /// Capital per unit of per-leg notional.
    pub fn per_unit(&self, direction: Direction) -> HedgeCapital {
        let perp_margin = (Decimal::ONE + self.params.buffer) / self.params.leverage;
        let spot_side = match direction {
            Direction::PositiveCarry if self.params.spot_usdt_borrow => {
                Decimal::ONE - Decimal::ONE / self.margin_level_target
            }
            Direction::PositiveCarry => Decimal::ONE,
            Direction::NegativeCarry => self.margin_level_target - Decimal::ONE,
        };
        HedgeCapital {
            spot_side,
            perp_margin,
        }
    }

    /// Capital a hedge of per-leg `notional` ties up (a negative notional counts as its size).
    pub fn hedge_capital(&self, notional: Decimal, direction: Direction) -> Result<HedgeCapital> {
        let size = notional.abs();
        let unit = self.per_unit(direction);
        Ok(HedgeCapital {
            spot_side: size
                .checked_mul(unit.spot_side)
                .ok_or(Error::Overflow("spot-side capital"))?,
            perp_margin: size
                .checked_mul(unit.perp_margin)
                .ok_or(Error::Overflow("perp margin"))?,
        })
    }

    /// Largest per-leg notional, floored to `dp` decimals, whose capital fits in `capital`.
    pub fn notional_for_capital(
        &self,
        capital: Decimal,
        direction: Direction,
        dp: u32,
    ) -> Result<Decimal> {
        if capital <= Decimal::ZERO {
            return Ok(Decimal::ZERO);
        }
        let per_unit = self.per_unit(direction).total();
        let raw = capital
            .checked_div(per_unit)
            .ok_or(Error::Overflow("notional for capital"))?;
        let step = Decimal::new(1, dp);
        let mut notional = raw.trunc_with_scale(dp);
        // The division rounds at 28 digits and may land a hair above the true quotient: step
        // down until the capital fits, checked exactly by multiplication. Bounded, so inputs
        // where a step is below Decimal's precision are reported instead of looping.
        for _ in 0..4 {
            let needed = self.hedge_capital(notional, direction)?.total();
            if notional <= Decimal::ZERO || needed <= capital {
                return Ok(notional.max(Decimal::ZERO));
            }
            notional -= step;
        }
        Err(Error::Overflow("notional for capital"))
    }

    /// The design's cap on total perp notional, `equity × target_utilization × leverage /
    /// (1 + buffer)` (`equity × 0.85 × 5 / 1.15`). Not binding under this model: the capital of
    /// both legs runs out first.
    pub fn max_perp_notional(&self, equity: Decimal) -> Result<Decimal> {
        equity
            .max(Decimal::ZERO)
            .checked_mul(self.params.target_utilization)
            .and_then(|e| e.checked_mul(self.params.leverage))
            .and_then(|e| e.checked_div(Decimal::ONE + self.params.buffer))
            .ok_or(Error::Overflow("max perp notional"))
    }

    /// Utilisation of held hedges `(direction, per-leg notional)` against `equity`.
    pub fn utilization(
        &self,
        equity: Decimal,
        hedges: impl IntoIterator<Item = (Direction, Decimal)>,
    ) -> Result<Utilization> {
        let mut capital = HedgeCapital::default();
        let mut notional = Decimal::ZERO;
        for (direction, size) in hedges {
            capital = capital.plus(self.hedge_capital(size, direction)?);
            notional = notional.saturating_add(size.abs());
        }
        let ratio = if equity > Decimal::ZERO {
            capital.total().checked_div(equity).unwrap_or(Decimal::ZERO)
        } else {
            Decimal::ZERO
        };
        Ok(Utilization {
            capital,
            notional,
            ratio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn model() -> CapitalModel {
        CapitalModel::new(&CapitalParams::default(), &RiskParams::default()).unwrap()
    }

    #[test]
    fn defaults_per_unit() {
        let m = model();
        assert_eq!(m.margin_level_target(), dec!(2.15));
        let pos = m.per_unit(Direction::PositiveCarry);
        assert_eq!(pos.spot_side, dec!(1));
        assert_eq!(pos.perp_margin, dec!(0.23));
        assert_eq!(pos.total(), dec!(1.23));
        let neg = m.per_unit(Direction::NegativeCarry);
        assert_eq!(neg.spot_side, dec!(1.15));
        assert_eq!(neg.total(), dec!(1.38));
    }

    #[test]
    fn negative_carry_collateral_keeps_the_target_margin_level() {
        let m = model();
        let n = dec!(10_000);
        let c = m.hedge_capital(n, Direction::NegativeCarry).unwrap();
        // assets = collateral + sale proceeds, liabilities = the borrowed coin
        assert_eq!((c.spot_side + n) / n, m.margin_level_target());
    }

    #[test]
    fn usdt_borrow_lowers_the_spot_cash_to_what_keeps_the_level() {
        let params = CapitalParams {
            spot_usdt_borrow: true,
            ..CapitalParams::default()
        };
        let m = CapitalModel::new(&params, &RiskParams::default()).unwrap();
        let n = dec!(10_000);
        let cash = m
            .hedge_capital(n, Direction::PositiveCarry)
            .unwrap()
            .spot_side;
        let level = n / (n - cash);
        assert!((level - m.margin_level_target()).abs() < dec!(0.0000001));
    }

    #[test]
    fn about_069_equity_of_positive_carry_at_the_defaults() {
        let m = model();
        let n = m
            .notional_for_capital(dec!(85_000), Direction::PositiveCarry, 2)
            .unwrap();
        assert_eq!(n, dec!(69_105.69));
        assert!(
            m.hedge_capital(n, Direction::PositiveCarry)
                .unwrap()
                .total()
                <= dec!(85_000)
        );
        // the design's perp cap is far from binding
        assert!(m.max_perp_notional(dec!(100_000)).unwrap() > dec!(369_000));
    }

    #[test]
    fn utilization_counts_both_legs() {
        let m = model();
        let u = m
            .utilization(
                dec!(100_000),
                [
                    (Direction::PositiveCarry, dec!(20_000)),
                    (Direction::NegativeCarry, dec!(10_000)),
                ],
            )
            .unwrap();
        assert_eq!(u.capital.spot_side, dec!(31_500));
        assert_eq!(u.capital.perp_margin, dec!(6_900));
        assert_eq!(u.ratio, dec!(0.384));
        assert_eq!(u.notional, dec!(30_000));
    }

    #[test]
    fn margin_level_green_at_or_below_one_is_rejected() {
        let risk = RiskParams {
            margin_level_green_above: dec!(1),
            ..RiskParams::default()
        };
        assert!(matches!(
            CapitalModel::new(&CapitalParams::default(), &risk),
            Err(Error::InvalidParams { key, .. }) if key == "risk.margin_level_green_above"
        ));
    }
}

//! The account metrics risk works from, parsed out of a gateway `Account` snapshot.

use chrono::{DateTime, Utc};
use fff_core::{Direction, WalletBalances, margin_ratio};
use fff_proto::convert::{FieldError, optional_timestamp, parse_decimal, parse_optional_decimal};
use fff_proto::fff::gateway::v1 as gw;
use rust_decimal::Decimal;

/// What one account snapshot says about margin health and equity (USDT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMetrics {
    /// When the gateway took the snapshot (falls back to the time risk read it).
    pub as_of: DateTime<Utc>,
    /// Total equity across wallets, net of liabilities.
    pub total_equity: Decimal,
    /// Spot wallet share of `total_equity` (what is left after margin and futures).
    pub spot_equity: Decimal,
    /// Cross-margin net assets (total asset - total liability).
    pub margin_equity: Decimal,
    /// Futures margin balance (wallet + unrealized P&L).
    pub futures_equity: Decimal,
    /// Binance's futures margin ratio (maintenance / margin balance, lower is safer).
    pub futures_margin_ratio: Decimal,
    /// fff-core's coverage (margin balance / maintenance, higher is safer); `None` without
    /// positions.
    pub futures_coverage: Option<Decimal>,
    /// Cross-margin level (total asset / total liability); `None` without liability.
    pub cross_margin_level: Option<Decimal>,
    /// Sum of |perp notional| at mark: the per-leg notional deployed.
    pub deployed_notional: Decimal,
    /// One hedge per open perp position: its direction from the perp side (short perp = long
    /// spot = positive carry; long perp = borrowed short spot = negative carry) and its per-leg
    /// notional, |perp notional| at mark. The capital model prices these.
    pub hedges: Vec<(Direction, Decimal)>,
    /// Symbols with an open perp position (for logs and spans).
    pub open_symbols: Vec<String>,
    /// When risk received the newest streamed mark price the margin figures
    /// (`futures_margin_ratio`, `futures_coverage`, `cross_margin_level`) were re-valued at
    /// ([`crate::revalue`]); `None`: they are the snapshot's own. Everything else is the
    /// snapshot's (`as_of`).
    pub marks_as_of: Option<DateTime<Utc>>,
}

impl AccountMetrics {
    /// Equity per wallet side: spot + cross-margin net assets, and the futures margin balance.
    pub fn wallets(&self) -> WalletBalances {
        WalletBalances {
            spot_side: self.spot_equity.saturating_add(self.margin_equity),
            futures: self.futures_equity,
        }
    }
}

/// Parses the fields risk needs; a malformed field names itself (`account.<field>`).
pub fn metrics_from_account(
    account: &gw::Account,
    received_at: DateTime<Utc>,
) -> Result<AccountMetrics, FieldError> {
    let within = |e: FieldError| e.within("account");
    let total_equity =
        parse_decimal("total_equity_usdt", &account.total_equity_usdt).map_err(within)?;
    let margin_asset = decimal_or_zero("margin_total_asset_usdt", &account.margin_total_asset_usdt)
        .map_err(within)?;
    let margin_liability = decimal_or_zero(
        "margin_total_liability_usdt",
        &account.margin_total_liability_usdt,
    )
    .map_err(within)?;
    let futures_balance = decimal_or_zero(
        "futures_margin_balance_usdt",
        &account.futures_margin_balance_usdt,
    )
    .map_err(within)?;
    let futures_maint = decimal_or_zero(
        "futures_maint_margin_usdt",
        &account.futures_maint_margin_usdt,
    )
    .map_err(within)?;
    let futures_margin_ratio =
        decimal_or_zero("futures_margin_ratio", &account.futures_margin_ratio).map_err(within)?;
    let as_of = optional_timestamp("as_of", account.as_of.as_ref())
        .map_err(within)?
        .unwrap_or(received_at);

    let mut deployed_notional = Decimal::ZERO;
    let mut open_symbols = Vec::new();
    let mut hedges = Vec::new();
    for (i, position) in account.positions.iter().enumerate() {
        let at = |e: FieldError| e.within(&format!("account.positions[{i}]"));
        let amount = parse_decimal("position_amt", &position.position_amt).map_err(at)?;
        if amount.is_zero() {
            continue;
        }
        let notional = match parse_optional_decimal("notional", &position.notional).map_err(at)? {
            Some(notional) => notional,
            None => {
                let mark = parse_decimal("mark_price", &position.mark_price).map_err(at)?;
                amount.saturating_mul(mark)
            }
        };
        deployed_notional = deployed_notional.saturating_add(notional.abs());
        open_symbols.push(position.symbol.clone());
        // the perp leg faces against the spot leg: a short perp hedges a spot long
        let direction = if amount < Decimal::ZERO {
            Direction::PositiveCarry
        } else {
            Direction::NegativeCarry
        };
        hedges.push((direction, notional.abs()));
    }

    let margin_equity = margin_asset.saturating_sub(margin_liability);
    let cross_margin_level = if margin_liability > Decimal::ZERO {
        margin_asset.checked_div(margin_liability)
    } else {
        None
    };
    // The exact quotient from the two totals; Binance's rounded ratio only when they are absent.
    let futures_coverage = if futures_maint > Decimal::ZERO {
        margin_ratio(futures_balance, futures_maint)
    } else if futures_margin_ratio > Decimal::ZERO {
        fff_core::margin_ratio_from_binance(futures_margin_ratio)
    } else {
        None
    };
    Ok(AccountMetrics {
        as_of,
        total_equity,
        spot_equity: total_equity
            .saturating_sub(margin_equity)
            .saturating_sub(futures_balance),
        margin_equity,
        futures_equity: futures_balance,
        futures_margin_ratio,
        futures_coverage,
        cross_margin_level,
        deployed_notional,
        hedges,
        open_symbols,
        marks_as_of: None,
    })
}

pub(crate) fn decimal_or_zero(field: &str, value: &str) -> Result<Decimal, FieldError> {
    Ok(parse_optional_decimal(field, value)?.unwrap_or(Decimal::ZERO))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn account(balance: &str, maint: &str, liability: &str) -> gw::Account {
        gw::Account {
            total_equity_usdt: "300000".into(),
            margin_total_asset_usdt: "100000".into(),
            margin_total_liability_usdt: liability.into(),
            futures_margin_balance_usdt: balance.into(),
            futures_maint_margin_usdt: maint.into(),
            futures_margin_ratio: "0".into(),
            positions: vec![gw::PerpPosition {
                symbol: "BTCUSDT".into(),
                position_amt: "-1.5".into(),
                mark_price: "100000".into(),
                notional: "-150000".into(),
                ..gw::PerpPosition::default()
            }],
            ..gw::Account::default()
        }
    }

    #[test]
    fn coverage_level_and_equity_split() {
        let m = metrics_from_account(&account("1000", "250", "50000"), Utc::now()).unwrap();
        assert_eq!(m.futures_coverage, Some(dec!(4)));
        assert_eq!(m.cross_margin_level, Some(dec!(2)));
        assert_eq!(m.margin_equity, dec!(50000));
        assert_eq!(m.futures_equity, dec!(1000));
        assert_eq!(m.spot_equity, dec!(249000));
        assert_eq!(m.deployed_notional, dec!(150000));
        assert_eq!(m.open_symbols, vec!["BTCUSDT".to_owned()]);
        assert_eq!(m.hedges, vec![(Direction::PositiveCarry, dec!(150000))]);
        assert_eq!(m.wallets().spot_side, dec!(299000));
        assert_eq!(m.wallets().futures, dec!(1000));
    }

    #[test]
    fn a_long_perp_is_a_negative_carry_hedge_valued_at_mark() {
        let mut a = account("1000", "250", "50000");
        a.positions[0].position_amt = "2".into();
        a.positions[0].mark_price = "3000".into();
        a.positions[0].notional.clear();
        let m = metrics_from_account(&a, Utc::now()).unwrap();
        assert_eq!(m.hedges, vec![(Direction::NegativeCarry, dec!(6000))]);
        assert_eq!(m.deployed_notional, dec!(6000));
    }

    #[test]
    fn no_positions_no_liability_means_no_ratio() {
        let mut a = account("1000", "0", "0");
        a.positions.clear();
        let m = metrics_from_account(&a, Utc::now()).unwrap();
        assert_eq!((m.futures_coverage, m.cross_margin_level), (None, None));
        // Binance's ratio is the fallback when the totals are missing
        a.futures_maint_margin_usdt.clear();
        a.futures_margin_ratio = "0.25".into();
        let m = metrics_from_account(&a, Utc::now()).unwrap();
        assert_eq!(m.futures_coverage, Some(dec!(4)));
    }

    #[test]
    fn malformed_fields_are_named() {
        let mut a = account("1000", "250", "0");
        a.total_equity_usdt = "1e5".into();
        let err = metrics_from_account(&a, Utc::now()).unwrap_err();
        assert_eq!(err.field(), "account.total_equity_usdt");
        let mut a = account("1000", "250", "0");
        a.positions[0].position_amt = "x".into();
        let err = metrics_from_account(&a, Utc::now()).unwrap_err();
        assert_eq!(err.field(), "account.positions[0].position_amt");
    }
}

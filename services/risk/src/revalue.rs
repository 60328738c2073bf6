//! Margin health between account snapshots: the last snapshot's positions and balances re-valued
//! at the streamed mark prices. Pure; time is passed in.
//!
//! The snapshot (GetAccount) is the truth about what is held: it includes fills, transfers,
//! funding and interest, and each new one replaces the base. It can be seconds old and a price
//! move produces no account event, so every mark update re-values the base:
//!
//! - futures: margin balance = snapshot margin balance + Σ amt × (mark − snapshot mark) (each
//!   position's unrealized P&L amt × (mark − entry) moved to the new mark); maintenance margin =
//!   snapshot total + Σ position maintenance × (mark / snapshot mark − 1) (each position's
//!   maintenance scales with its notional at the rate it had in the snapshot; a snapshot without
//!   per-position figures spreads the total by notional). Coverage and Binance's ratio then
//!   follow [`crate::account::metrics_from_account`]'s definitions, so at the snapshot's own
//!   marks they are the snapshot's figures exactly.
//! - cross margin: total asset = Σ (free + locked) × price, total liability = Σ (borrowed +
//!   interest) × price, price = the index price of `<ASSET>USDT` (the venue values margin assets
//!   at the index; the mark when an update has none), 1 for the USD assets the gateway counts at
//!   par; level = asset / liability.
//! - A quote counts only if risk received it at or after the snapshot was taken (`as_of`): a
//!   snapshot is never re-valued at a price older than its own. A position without such a quote
//!   keeps its snapshot mark; the cross-margin level stays the snapshot's unless every held
//!   non-USD asset has one.
//! - Equity, wallets, notionals and utilisation stay the snapshot's: the spot legs are not
//!   re-valued, and moving only the perp side of a hedge would show a false drawdown.
//!
//! Limits: the maintenance rate is the one a position had at the snapshot; a bracket change with
//! the notional shows at the next snapshot, and Binance's bracket deduction (`cum`) is scaled
//! with the notional, which under-states a grown position's maintenance by cum × (ratio − 1).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use fff_core::margin_ratio;
use fff_proto::convert::parse_optional_decimal;
use fff_proto::fff::gateway::v1 as gw;
use rust_decimal::Decimal;

use crate::account::AccountMetrics;

/// Assets the gateway values at 1 USDT (GetAccount's equity); no price needed.
const USD_ASSETS: [&str; 3] = ["USDT", "USDC", "FDUSD"];

/// One streamed mark price update as risk keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkQuote {
    /// Perp mark price: what futures positions are valued at.
    pub mark: Decimal,
    /// Index price: what cross-margin assets are valued at.
    pub index: Decimal,
    /// When risk received it (risk's clock, compared with the snapshot's `as_of`).
    pub received_at: DateTime<Utc>,
}

/// One open perp position of the snapshot.
#[derive(Debug, Clone)]
struct PerpBasis {
    symbol: String,
    amount: Decimal,
    /// The snapshot's mark (positive).
    mark: Decimal,
    /// Maintenance margin at the snapshot's mark, USDT.
    maint: Decimal,
}

/// One cross-margin asset of the snapshot.
#[derive(Debug, Clone)]
struct Holding {
    /// `<ASSET>USDT`; `None` for a USD asset (price 1).
    symbol: Option<String>,
    /// free + locked.
    held: Decimal,
    /// borrowed + interest.
    owed: Decimal,
}

/// What the marks re-value: one account snapshot's holdings.
#[derive(Debug, Clone)]
pub struct MarginBasis {
    snapshot: AccountMetrics,
    futures_balance: Decimal,
    futures_maint: Decimal,
    /// Positions that can be re-valued (amount and a positive mark); the others keep their
    /// snapshot figures inside the totals.
    perps: Vec<PerpBasis>,
    /// `None`: the cross-margin level is not re-valued (no liability, no per-asset balances or
    /// a malformed one).
    holdings: Option<Vec<Holding>>,
}

impl MarginBasis {
    /// The base from `account` and the metrics parsed from it. Lenient: a position or balance
    /// whose fields do not parse is left at its snapshot value (the snapshot itself was valid).
    pub fn from_account(account: &gw::Account, snapshot: AccountMetrics) -> Self {
        let total = |value: &str| {
            parse_optional_decimal("total", value)
                .ok()
                .flatten()
                .unwrap_or(Decimal::ZERO)
        };
        let futures_balance = total(&account.futures_margin_balance_usdt);
        let futures_maint = total(&account.futures_maint_margin_usdt);
        let holdings = snapshot
            .cross_margin_level
            .and_then(|_| holdings(&account.margin_balances));
        Self {
            perps: perps(&account.positions, futures_maint),
            snapshot,
            futures_balance,
            futures_maint,
            holdings,
        }
    }

    /// The snapshot's own figures.
    pub fn snapshot(&self) -> &AccountMetrics {
        &self.snapshot
    }

    /// Symbols whose marks move the figures: the perp positions and `<ASSET>USDT` of every
    /// non-USD cross-margin asset held or owed.
    pub fn symbols(&self) -> BTreeSet<String> {
        let perps = self.perps.iter().map(|p| p.symbol.clone());
        let assets = self
            .holdings
            .iter()
            .flatten()
            .filter_map(|h| h.symbol.clone());
        perps.chain(assets).collect()
    }

    /// The snapshot re-valued at the quotes of `marks` received since it was taken.
    pub fn revalue(&self, marks: &HashMap<String, MarkQuote>) -> AccountMetrics {
        let fresh = |symbol: &str| {
            marks
                .get(symbol)
                .filter(|q| q.received_at >= self.snapshot.as_of)
        };
        let mut metrics = self.snapshot.clone();
        if let Some((ratio, coverage, at)) = self.futures_at(&fresh) {
            metrics.futures_margin_ratio = ratio;
            metrics.futures_coverage = coverage;
            metrics.marks_as_of = Some(at);
        }
        if let Some((level, at)) = self.cross_at(&fresh) {
            metrics.cross_margin_level = level;
            metrics.marks_as_of = metrics.marks_as_of.max(Some(at));
        }
        metrics
    }

    /// (Binance ratio, coverage, newest quote) when a fresh quote moves a position; `None` on
    /// arithmetic overflow too (the snapshot's figures stand).
    fn futures_at<'a>(
        &self,
        fresh: &impl Fn(&str) -> Option<&'a MarkQuote>,
    ) -> Option<(Decimal, Option<Decimal>, DateTime<Utc>)> {
        if self.futures_maint <= Decimal::ZERO {
            // Binance's rounded ratio only: nothing to scale
            return None;
        }
        let mut balance = self.futures_balance;
        let mut maint = self.futures_maint;
        let mut newest: Option<DateTime<Utc>> = None;
        for perp in &self.perps {
            let Some(quote) = fresh(&perp.symbol) else {
                continue;
            };
            let pnl_change = perp
                .amount
                .checked_mul(quote.mark.checked_sub(perp.mark)?)?;
            balance = balance.checked_add(pnl_change)?;
            let maint_now = perp.maint.checked_mul(quote.mark)?.checked_div(perp.mark)?;
            maint = maint.checked_add(maint_now.checked_sub(perp.maint)?)?;
            newest = newest.max(Some(quote.received_at));
        }
        let at = newest?;
        let ratio = if balance > Decimal::ZERO {
            maint.checked_div(balance)?
        } else {
            // as the gateway reports it: no ratio for a non-positive balance
            Decimal::ZERO
        };
        Some((ratio, margin_ratio(balance, maint), at))
    }

    /// (level, newest quote) when every held non-USD asset has a fresh quote.
    fn cross_at<'a>(
        &self,
        fresh: &impl Fn(&str) -> Option<&'a MarkQuote>,
    ) -> Option<(Option<Decimal>, DateTime<Utc>)> {
        let mut assets = Decimal::ZERO;
        let mut liability = Decimal::ZERO;
        let mut newest: Option<DateTime<Utc>> = None;
        for holding in self.holdings.as_ref()? {
            let price = match &holding.symbol {
                None => Decimal::ONE,
                Some(symbol) => {
                    let quote = fresh(symbol)?;
                    newest = newest.max(Some(quote.received_at));
                    quote.index
                }
            };
            assets = assets.checked_add(holding.held.checked_mul(price)?)?;
            liability = liability.checked_add(holding.owed.checked_mul(price)?)?;
        }
        let at = newest?;
        let level = if liability > Decimal::ZERO {
            Some(assets.checked_div(liability)?)
        } else {
            None
        };
        Some((level, at))
    }
}

/// The positions that can be re-valued, each with its maintenance margin (reported, or the
/// total spread by notional when a position does not report one).
fn perps(positions: &[gw::PerpPosition], total_maint: Decimal) -> Vec<PerpBasis> {
    let parse = |value: &str| parse_optional_decimal("value", value).ok().flatten();
    let mut perps: Vec<PerpBasis> = positions
        .iter()
        .filter_map(|p| {
            // a name the gateway would refuse in a subscription is never quoted
            fff_core::Symbol::parse(&p.symbol).ok()?;
            let amount = parse(&p.position_amt).filter(|a| !a.is_zero())?;
            let mark = parse(&p.mark_price).filter(|m| *m > Decimal::ZERO)?;
            Some(PerpBasis {
                symbol: p.symbol.clone(),
                amount,
                mark,
                maint: parse(&p.maint_margin).unwrap_or(Decimal::ZERO),
            })
        })
        .collect();
    if perps.iter().all(|p| p.maint > Decimal::ZERO) {
        return perps;
    }
    let notional = |p: &PerpBasis| p.amount.checked_mul(p.mark).map(|n| n.abs());
    let total_notional = perps
        .iter()
        .try_fold(Decimal::ZERO, |sum, p| sum.checked_add(notional(p)?));
    for perp in &mut perps {
        perp.maint = total_notional
            .filter(|n| *n > Decimal::ZERO)
            .and_then(|n| total_maint.checked_mul(notional(perp)?)?.checked_div(n))
            .unwrap_or(Decimal::ZERO);
    }
    perps
}

/// The cross-margin balances held or owed; `None` when there are none, or one is malformed or
/// has no `<ASSET>USDT` to be quoted by.
fn holdings(balances: &[gw::MarginBalance]) -> Option<Vec<Holding>> {
    let parse = |value: &str| {
        parse_optional_decimal("value", value)
            .map(|v| v.unwrap_or(Decimal::ZERO))
            .ok()
    };
    let mut holdings = Vec::new();
    for balance in balances {
        let held = parse(&balance.free)?.checked_add(parse(&balance.locked)?)?;
        let owed = parse(&balance.borrowed)?.checked_add(parse(&balance.interest)?)?;
        if held.is_zero() && owed.is_zero() {
            continue;
        }
        let symbol = if USD_ASSETS.contains(&balance.asset.as_str()) {
            None
        } else {
            let symbol = format!("{}USDT", balance.asset);
            fff_core::Symbol::parse(&symbol).ok()?;
            Some(symbol)
        };
        holdings.push(Holding { symbol, held, owed });
    }
    (!holdings.is_empty()).then_some(holdings)
}

/// The base and the newest quote per held symbol, and the newest perp-book quote per held
/// symbol (applied only to ask whether the books together worsen the tier).
#[derive(Debug, Clone, Default)]
pub struct Valuation {
    basis: Option<MarginBasis>,
    marks: HashMap<String, MarkQuote>,
    books: HashMap<String, MarkQuote>,
}

impl Valuation {
    /// A new snapshot becomes the base; quotes of symbols no longer held are dropped.
    pub fn set_basis(&mut self, basis: MarginBasis) {
        let held = basis.symbols();
        self.marks.retain(|symbol, _| held.contains(symbol));
        self.books.retain(|symbol, _| held.contains(symbol));
        self.basis = Some(basis);
    }

    /// Keeps the perp book's quote of a held symbol; `false` when it moves nothing held.
    pub fn record_book(&mut self, symbol: &str, quote: MarkQuote) -> bool {
        let held = self.holds(symbol);
        if held {
            self.books.insert(symbol.to_owned(), quote);
        }
        held
    }

    /// This valuation with every book quote newer than its symbol's mark taken as the mark:
    /// one move across several books (a market-wide drop) is judged as a whole.
    pub fn with_books(&self) -> Valuation {
        let mut trial = self.clone();
        for (symbol, book) in &self.books {
            let newer = trial
                .marks
                .get(symbol)
                .is_none_or(|mark| book.received_at > mark.received_at);
            if newer {
                trial.marks.insert(symbol.clone(), *book);
            }
        }
        trial
    }

    fn holds(&self, symbol: &str) -> bool {
        self.basis
            .as_ref()
            .is_some_and(|b| b.perps.iter().any(|p| p.symbol == symbol))
            || self.basis.as_ref().is_some_and(|b| {
                b.holdings
                    .iter()
                    .flatten()
                    .any(|h| h.symbol.as_deref() == Some(symbol))
            })
    }

    /// Records a quote; `false` (and nothing kept) when the symbol moves nothing held.
    pub fn record(&mut self, symbol: &str, quote: MarkQuote) -> bool {
        let held = self.holds(symbol);
        if held {
            self.marks.insert(symbol.to_owned(), quote);
        }
        held
    }

    /// The base re-valued at the quotes; `None` before the first snapshot.
    pub fn current(&self) -> Option<AccountMetrics> {
        self.basis.as_ref().map(|b| b.revalue(&self.marks))
    }

    /// Symbols to follow (empty before the first snapshot).
    pub fn symbols(&self) -> BTreeSet<String> {
        self.basis
            .as_ref()
            .map(MarginBasis::symbols)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::account::metrics_from_account;

    fn position(symbol: &str, amt: &str, mark: &str, maint: &str) -> gw::PerpPosition {
        gw::PerpPosition {
            symbol: symbol.into(),
            position_amt: amt.into(),
            mark_price: mark.into(),
            maint_margin: maint.into(),
            ..gw::PerpPosition::default()
        }
    }

    fn balance(asset: &str, free: &str, borrowed: &str) -> gw::MarginBalance {
        gw::MarginBalance {
            asset: asset.into(),
            free: free.into(),
            borrowed: borrowed.into(),
            ..gw::MarginBalance::default()
        }
    }

    /// Short 1.5 BTC at 100 000 (maint 600), long 20 ETH at 3 000 (maint 240); futures balance
    /// 8 400 (coverage 10); cross margin 60 000 USDT against 0.3 BTC owed (level 2).
    fn account(as_of: DateTime<Utc>) -> gw::Account {
        gw::Account {
            total_equity_usdt: "300000".into(),
            futures_margin_balance_usdt: "8400".into(),
            futures_maint_margin_usdt: "840".into(),
            futures_margin_ratio: "0.1".into(),
            margin_total_asset_usdt: "60000".into(),
            margin_total_liability_usdt: "30000".into(),
            positions: vec![
                position("BTCUSDT", "-1.5", "100000", "600"),
                position("ETHUSDT", "20", "3000", "240"),
            ],
            margin_balances: vec![balance("USDT", "60000", "0"), balance("BTC", "0", "0.3")],
            as_of: fff_proto::convert::datetime_to_timestamp(as_of),
            ..gw::Account::default()
        }
    }

    fn basis(as_of: DateTime<Utc>) -> MarginBasis {
        let account = account(as_of);
        MarginBasis::from_account(&account, metrics_from_account(&account, as_of).unwrap())
    }

    fn quotes(at: DateTime<Utc>, prices: &[(&str, Decimal)]) -> HashMap<String, MarkQuote> {
        prices
            .iter()
            .map(|(symbol, price)| {
                let quote = MarkQuote {
                    mark: *price,
                    index: *price,
                    received_at: at,
                };
                ((*symbol).to_owned(), quote)
            })
            .collect()
    }

    #[test]
    fn at_the_snapshots_marks_the_figures_are_the_snapshots() {
        let t = Utc::now();
        let basis = basis(t);
        let snapshot = basis.snapshot().clone();
        assert_eq!(snapshot.futures_coverage, Some(dec!(10)));
        assert_eq!(snapshot.cross_margin_level, Some(dec!(2)));
        let later = t + Duration::milliseconds(5);
        let marks = quotes(later, &[("BTCUSDT", dec!(100000)), ("ETHUSDT", dec!(3000))]);
        let live = basis.revalue(&marks);
        assert_eq!(live.futures_coverage, snapshot.futures_coverage);
        assert_eq!(live.futures_margin_ratio, snapshot.futures_margin_ratio);
        assert_eq!(live.cross_margin_level, snapshot.cross_margin_level);
        assert_eq!(live.marks_as_of, Some(later));
        assert_eq!(
            AccountMetrics {
                marks_as_of: None,
                ..live
            },
            snapshot
        );
        assert_eq!(
            basis.symbols().into_iter().collect::<Vec<_>>(),
            ["BTCUSDT", "ETHUSDT"]
        );
    }

    #[test]
    fn moves_the_right_way() {
        let t = Utc::now();
        let basis = basis(t);
        let later = t + Duration::seconds(1);
        // BTC +1 %: the short loses 1 500, its maintenance grows to 606
        let btc_up = basis.revalue(&quotes(later, &[("BTCUSDT", dec!(101000))]));
        assert_eq!(btc_up.futures_coverage, Some(dec!(6900) / dec!(846)));
        assert_eq!(btc_up.futures_margin_ratio, dec!(846) / dec!(6900));
        // the loan grows with the BTC price: 60 000 / 30 300
        assert_eq!(btc_up.cross_margin_level, Some(dec!(60000) / dec!(30300)));
        // ETH +10 %: the long gains 6 000, its maintenance grows to 264
        let eth_up = basis.revalue(&quotes(later, &[("ETHUSDT", dec!(3300))]));
        assert_eq!(eth_up.futures_coverage, Some(dec!(14400) / dec!(864)));
        assert_eq!(eth_up.cross_margin_level, Some(dec!(2)));
        // BTC -10 %: the short gains, the loan shrinks
        let btc_down = basis.revalue(&quotes(later, &[("BTCUSDT", dec!(90000))]));
        assert!(btc_down.futures_coverage > Some(dec!(10)));
        assert!(btc_down.cross_margin_level > Some(dec!(2)));
        // equity and notionals stay the snapshot's
        assert_eq!(btc_up.total_equity, basis.snapshot().total_equity);
        assert_eq!(btc_up.hedges, basis.snapshot().hedges);
        // far enough to wipe out the balance: coverage below zero, no Binance ratio
        let crash = basis.revalue(&quotes(later, &[("BTCUSDT", dec!(110000))]));
        assert!(crash.futures_coverage < Some(Decimal::ZERO));
        assert_eq!(crash.futures_margin_ratio, Decimal::ZERO);
    }

    #[test]
    fn a_quote_older_than_the_snapshot_does_not_count() {
        let t = Utc::now();
        let basis = basis(t);
        let before = t - Duration::milliseconds(1);
        let live = basis.revalue(&quotes(before, &[("BTCUSDT", dec!(150000))]));
        assert_eq!(live, *basis.snapshot());
    }

    #[test]
    fn the_level_waits_for_every_held_asset_and_maint_is_spread_without_position_figures() {
        let t = Utc::now();
        let mut account = account(t);
        account.margin_balances.push(balance("ETH", "1", "0"));
        account.margin_total_asset_usdt = "63000".into();
        for p in &mut account.positions {
            p.maint_margin.clear();
        }
        let metrics = metrics_from_account(&account, t).unwrap();
        let basis = MarginBasis::from_account(&account, metrics);
        let later = t + Duration::seconds(1);
        // BTC alone: the ETH collateral has no fresh price, the level stays the snapshot's
        let btc = basis.revalue(&quotes(later, &[("BTCUSDT", dec!(100000))]));
        assert_eq!(btc.cross_margin_level, Some(dec!(2.1)));
        let both = basis.revalue(&quotes(
            later,
            &[("BTCUSDT", dec!(100000)), ("ETHUSDT", dec!(3000))],
        ));
        assert_eq!(both.cross_margin_level, Some(dec!(2.1)));
        assert_eq!(both.marks_as_of, Some(later));
        // 840 spread by notional (150 000 : 60 000): BTC carries 600, as reported above
        let btc_up = basis.revalue(&quotes(later, &[("BTCUSDT", dec!(101000))]));
        assert_eq!(btc_up.futures_coverage, Some(dec!(6900) / dec!(846)));
    }

    #[test]
    fn names_that_cannot_be_quoted_are_not_followed() {
        let t = Utc::now();
        let mut account = account(t);
        account.positions[1].symbol = "eth-usdt".into();
        account.margin_balances.push(balance("BAD ASSET", "1", "0"));
        let metrics = metrics_from_account(&account, t).unwrap();
        let basis = MarginBasis::from_account(&account, metrics);
        assert_eq!(basis.symbols().into_iter().collect::<Vec<_>>(), ["BTCUSDT"]);
        // the BTC short is still re-valued; the level is not (an asset has no quote)
        let live = basis.revalue(&quotes(
            t + Duration::seconds(1),
            &[("BTCUSDT", dec!(101000))],
        ));
        assert_eq!(live.futures_coverage, Some(dec!(6900) / dec!(846)));
        assert_eq!(live.cross_margin_level, Some(dec!(2)));
    }

    #[test]
    fn books_newer_than_their_marks_are_taken_together() {
        let t = Utc::now();
        let at = |secs: i64, price: Decimal| MarkQuote {
            mark: price,
            index: price,
            received_at: t + Duration::seconds(secs),
        };
        let mut valuation = Valuation::default();
        valuation.set_basis(basis(t));
        // books are kept for held symbols; the figures themselves move only with marks
        assert!(valuation.record_book("BTCUSDT", at(2, dec!(101000))));
        assert!(valuation.record_book("ETHUSDT", at(2, dec!(2900))));
        assert!(!valuation.record_book("SOLUSDT", at(2, dec!(1))));
        assert_eq!(
            valuation.current().unwrap().futures_coverage,
            Some(dec!(10))
        );
        // both books at once: the short BTC and the long ETH lose together
        let mut marked = valuation.clone();
        marked.record("BTCUSDT", at(2, dec!(101000)));
        marked.record("ETHUSDT", at(2, dec!(2900)));
        let together = valuation.with_books().current().unwrap();
        assert_eq!(together, marked.current().unwrap());
        assert!(together.futures_coverage < Some(dec!(7)), "{together:?}");
        // a mark newer than its book wins
        valuation.record("BTCUSDT", at(3, dec!(100000)));
        let mut expected = valuation.clone();
        expected.record("ETHUSDT", at(2, dec!(2900)));
        assert_eq!(valuation.with_books().current(), expected.current());
    }

    #[test]
    fn valuation_keeps_quotes_of_held_symbols_only() {
        let t = Utc::now();
        let mut valuation = Valuation::default();
        let quote = MarkQuote {
            mark: dec!(101000),
            index: dec!(101000),
            received_at: t + Duration::seconds(1),
        };
        assert!(!valuation.record("BTCUSDT", quote));
        assert!(valuation.current().is_none());
        valuation.set_basis(basis(t));
        assert!(valuation.record("BTCUSDT", quote));
        assert!(!valuation.record("SOLUSDT", quote));
        let live = valuation.current().unwrap();
        assert_eq!(live.futures_coverage, Some(dec!(6900) / dec!(846)));
        // a snapshot taken later than the quote replaces the base: its own figures stand
        valuation.set_basis(basis(t + Duration::seconds(2)));
        assert_eq!(
            valuation.current().unwrap().futures_coverage,
            Some(dec!(10))
        );
    }
}

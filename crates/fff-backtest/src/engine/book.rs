//! Positions and money: every P&L item (funding, borrow, fees, slippage, basis) is booked here
//! in `Decimal`, per pair, so equity always equals the initial capital plus the sum of the
//! items.

use fff_core::Direction;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::costs::CostModel;

/// One open hedge: equal base quantities on both legs.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Index into the dataset's symbols.
    pub symbol: usize,
    pub direction: Direction,
    /// Base quantity of each leg.
    pub qty: Decimal,
    /// Last spot price the spot leg was marked at.
    pub spot_price: Decimal,
    /// Last perp (mark) price the perp leg was marked at.
    pub perp_price: Decimal,
    /// Borrow and fees booked since the last funding settlement (for the win rate).
    pub pending_cost: Decimal,
    /// When the position was opened, epoch ms.
    pub opened_ms: i64,
    /// False while no real price was known: legs are tracked at price 1 (notional only) and
    /// rebased without P&L when the first price arrives.
    pub priced: bool,
}

impl Position {
    /// Perp-leg notional at the last mark.
    pub fn notional(&self) -> Decimal {
        self.qty.saturating_mul(self.perp_price)
    }

    /// Spot-leg notional at the last mark.
    pub fn spot_notional(&self) -> Decimal {
        self.qty.saturating_mul(self.spot_price)
    }

    /// +1 when the spot leg is long.
    fn spot_sign(&self) -> Decimal {
        match self.direction {
            Direction::PositiveCarry => Decimal::ONE,
            Direction::NegativeCarry => Decimal::NEGATIVE_ONE,
        }
    }
}

/// What one pair contributed over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairLedger {
    pub funding: Decimal,
    pub borrow: Decimal,
    pub fees: Decimal,
    pub slippage: Decimal,
    pub basis: Decimal,
    pub turnover: Decimal,
    pub trades: u64,
    pub flips: u64,
    /// Hours with an open position.
    pub hours_held: u64,
    pub settlements: u64,
    pub positive_settlements: u64,
}

impl PairLedger {
    /// Net contribution.
    pub fn net(&self) -> Decimal {
        self.funding - self.borrow - self.fees - self.slippage + self.basis
    }
}

/// Why a trade happened (for the trade log and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TradeKind {
    Open,
    Adjust,
    Close,
    Flip,
}

/// One executed hedge change (both legs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    pub time_ms: i64,
    pub symbol: String,
    pub kind: TradeKind,
    pub direction: Direction,
    /// Signed change in base quantity of the hedge (positive grows it).
    pub qty_delta: Decimal,
    /// Traded notional summed over both legs.
    pub notional: Decimal,
    /// Fees plus slippage charged.
    pub cost: Decimal,
}

/// The account: equity, open hedges, per-pair ledgers.
#[derive(Debug, Clone)]
pub struct Book {
    pub costs: CostModel,
    pub initial_capital: Decimal,
    pub equity: Decimal,
    pub positions: Vec<Position>,
    pub ledgers: Vec<PairLedger>,
    pub trades: Vec<Trade>,
    /// Funding settlements of held positions, and how many netted positive.
    pub settlements: u64,
    pub positive_settlements: u64,
}

impl Book {
    pub fn new(costs: CostModel, symbols: usize) -> Self {
        Self {
            initial_capital: costs.initial_capital,
            equity: costs.initial_capital,
            costs,
            positions: Vec::new(),
            ledgers: vec![PairLedger::default(); symbols],
            trades: Vec::new(),
            settlements: 0,
            positive_settlements: 0,
        }
    }

    pub fn position(&self, symbol: usize) -> Option<&Position> {
        self.positions.iter().find(|p| p.symbol == symbol)
    }

    /// Maintenance margin of the open book: perp notional plus borrowed notional, times
    /// `maintenance_margin_rate` (a single cross-margin account; see docs/BACKTEST.md).
    pub fn maintenance_margin(&self) -> Decimal {
        self.positions
            .iter()
            .map(|p| {
                let borrowed = if p.direction.borrows() {
                    p.spot_notional()
                } else {
                    Decimal::ZERO
                };
                (p.notional() + borrowed) * self.costs.maintenance_margin_rate
            })
            .sum()
    }

    /// Total perp-leg notional.
    pub fn gross_notional(&self) -> Decimal {
        self.positions.iter().map(Position::notional).sum()
    }

    /// Marks both legs of `symbol` to new prices, booking basis P&L.
    pub fn mark(&mut self, symbol: usize, spot: Option<Decimal>, perp: Option<Decimal>) {
        let Some(position) = self.positions.iter_mut().find(|p| p.symbol == symbol) else {
            return;
        };
        let sign = position.spot_sign();
        let mut pnl = Decimal::ZERO;
        if let Some(spot) = spot {
            pnl =
                pnl.saturating_add(sign * position.qty.saturating_mul(spot - position.spot_price));
            position.spot_price = spot;
        }
        if let Some(perp) = perp {
            pnl =
                pnl.saturating_sub(sign * position.qty.saturating_mul(perp - position.perp_price));
            position.perp_price = perp;
        }
        let ledger = &mut self.ledgers[symbol];
        ledger.basis = ledger.basis.saturating_add(pnl);
        self.equity = self.equity.saturating_add(pnl);
    }

    /// Marks with whatever legs have fresh prices: a leg without one moves by the other leg's
    /// return, so a series that ends (or is missing) never shows up as an unhedged move.
    pub fn mark_fresh(&mut self, symbol: usize, spot: Option<Decimal>, perp: Option<Decimal>) {
        let Some(position) = self.positions.iter_mut().find(|p| p.symbol == symbol) else {
            return;
        };
        if !position.priced {
            let (Some(new_spot), Some(new_perp)) = (spot.or(perp), perp.or(spot)) else {
                return;
            };
            let notional = position.notional();
            position.qty = notional / new_perp;
            position.spot_price = new_spot;
            position.perp_price = new_perp;
            position.priced = true;
            return;
        }
        let (old_spot, old_perp) = (position.spot_price, position.perp_price);
        match (spot, perp) {
            (Some(s), Some(p)) => self.mark(symbol, Some(s), Some(p)),
            (Some(s), None) if !old_spot.is_zero() => {
                self.mark(symbol, Some(s), Some(old_perp * s / old_spot));
            }
            (None, Some(p)) if !old_perp.is_zero() => {
                self.mark(symbol, Some(old_spot * p / old_perp), Some(p));
            }
            _ => {}
        }
    }

    /// Books a funding settlement: shorts receive `rate` on the perp notional valued at `mark`
    /// (the leg's last mark when the data has no mark price).
    pub fn settle_funding(&mut self, symbol: usize, rate: Decimal, mark: Option<Decimal>) {
        let Some(position) = self.positions.iter_mut().find(|p| p.symbol == symbol) else {
            return;
        };
        let price = match mark {
            Some(mark) if position.priced => mark,
            _ => position.perp_price,
        };
        let notional = position.qty.saturating_mul(price);
        // Positive carry is short perp: receives rate * notional; negative carry is long perp.
        let amount = match position.direction {
            Direction::PositiveCarry => rate.saturating_mul(notional),
            Direction::NegativeCarry => -rate.saturating_mul(notional),
        };
        let net = amount.saturating_sub(position.pending_cost);
        position.pending_cost = Decimal::ZERO;
        let ledger = &mut self.ledgers[symbol];
        ledger.funding = ledger.funding.saturating_add(amount);
        ledger.settlements += 1;
        self.settlements += 1;
        if net > Decimal::ZERO {
            ledger.positive_settlements += 1;
            self.positive_settlements += 1;
        }
        self.equity = self.equity.saturating_add(amount);
    }

    /// Accrues one hour of borrow interest on every short-spot leg.
    pub fn accrue_borrow(&mut self, hourly_rate: impl Fn(usize) -> Decimal) {
        for position in &mut self.positions {
            self.ledgers[position.symbol].hours_held += 1;
            if position.direction != Direction::NegativeCarry {
                continue;
            }
            let interest = position
                .spot_notional()
                .saturating_mul(hourly_rate(position.symbol));
            position.pending_cost = position.pending_cost.saturating_add(interest);
            let ledger = &mut self.ledgers[position.symbol];
            ledger.borrow = ledger.borrow.saturating_add(interest);
            self.equity = self.equity.saturating_sub(interest);
        }
    }

    /// Moves `symbol` to `target_qty` base units in `direction` (0 closes), trading at the
    /// given prices and charging fees and slippage. A direction change is a flip.
    pub fn trade_to(
        &mut self,
        time_ms: i64,
        symbol: usize,
        name: &str,
        direction: Direction,
        target_qty: Decimal,
        prices: Option<(Decimal, Decimal)>,
    ) {
        let current = self.positions.iter().position(|p| p.symbol == symbol);
        let (kind, traded_qty, qty_delta) = match current.map(|i| &self.positions[i]) {
            None if target_qty.is_zero() => return,
            None => (TradeKind::Open, target_qty, target_qty),
            Some(p) if target_qty.is_zero() => (TradeKind::Close, p.qty, -p.qty),
            Some(p) if p.direction != direction => {
                (TradeKind::Flip, p.qty + target_qty, target_qty)
            }
            Some(p) if p.qty == target_qty => return,
            Some(p) => (
                TradeKind::Adjust,
                (target_qty - p.qty).abs(),
                target_qty - p.qty,
            ),
        };
        // Mark to the execution prices first so basis P&L up to now is booked; without
        // prices the hedge trades at its own last marks (or 1 for a notional-only hedge).
        if let (Some(_), Some((spot, perp))) = (current, prices) {
            self.mark_fresh(symbol, Some(spot), Some(perp));
        }
        let (spot_price, perp_price, priced) = match (prices, current) {
            (Some((spot, perp)), _) => (spot, perp, true),
            (None, Some(i)) => (
                self.positions[i].spot_price,
                self.positions[i].perp_price,
                self.positions[i].priced,
            ),
            (None, None) => (Decimal::ONE, Decimal::ONE, false),
        };
        // Saturating: absurd inputs end the run through the replay's equity cap, not a panic.
        let spot_notional = traded_qty.saturating_mul(spot_price);
        let perp_notional = traded_qty.saturating_mul(perp_price);
        let traded = spot_notional.saturating_add(perp_notional);
        let fees = spot_notional
            .saturating_mul(self.costs.spot_fee())
            .saturating_add(perp_notional.saturating_mul(self.costs.futures_fee()));
        let slippage = traded.saturating_mul(self.costs.slippage);
        let cost = fees.saturating_add(slippage);
        self.equity = self.equity.saturating_sub(cost);
        let ledger = &mut self.ledgers[symbol];
        ledger.fees = ledger.fees.saturating_add(fees);
        ledger.slippage = ledger.slippage.saturating_add(slippage);
        ledger.turnover = ledger.turnover.saturating_add(traded);
        ledger.trades += 1;
        if kind == TradeKind::Flip {
            ledger.flips += 1;
        }
        self.trades.push(Trade {
            time_ms,
            symbol: name.to_string(),
            kind,
            direction,
            qty_delta,
            notional: traded,
            cost,
        });
        match (current, kind) {
            (Some(i), TradeKind::Close) => {
                self.positions.swap_remove(i);
            }
            (Some(i), _) => {
                let position = &mut self.positions[i];
                position.qty = target_qty;
                position.direction = direction;
                position.priced = priced;
                position.pending_cost = position.pending_cost.saturating_add(cost);
                if kind == TradeKind::Flip {
                    position.opened_ms = time_ms;
                }
            }
            (None, _) => self.positions.push(Position {
                symbol,
                direction,
                qty: target_qty,
                spot_price,
                perp_price,
                pending_cost: cost,
                opened_ms: time_ms,
                priced,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn equity_is_capital_plus_ledger_items() {
        let mut book = Book::new(CostModel::default(), 1);
        book.trade_to(
            0,
            0,
            "X",
            Direction::PositiveCarry,
            dec!(10),
            Some((dec!(100), dec!(100.1))),
        );
        book.settle_funding(0, dec!(0.001), Some(dec!(100.2)));
        book.mark_fresh(0, Some(dec!(101)), Some(dec!(101.05)));
        book.trade_to(
            1,
            0,
            "X",
            Direction::NegativeCarry,
            dec!(5),
            Some((dec!(101), dec!(101.05))),
        );
        book.accrue_borrow(|_| dec!(0.0001));
        book.trade_to(
            2,
            0,
            "X",
            Direction::NegativeCarry,
            dec!(0),
            Some((dec!(102), dec!(102))),
        );
        let l = &book.ledgers[0];
        assert_eq!(book.equity, book.initial_capital + l.net());
        assert_eq!(l.trades, 3);
        assert_eq!(l.flips, 1);
        assert!(book.positions.is_empty());
        // funding: 0.001 * 10 * 100.2
        assert_eq!(l.funding, dec!(1.002));
        // short spot / long perp after the flip: 5 * (102-101) spot loss, 5 * (102-101.05) perp gain
        // long spot / short perp before: 10 * (101-100) - 10 * (101.05-100.1)
        assert_eq!(l.basis, dec!(10) - dec!(9.5) - dec!(5) + dec!(4.75));
    }
}

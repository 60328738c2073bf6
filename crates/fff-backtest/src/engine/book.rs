//! Positions and money on the two sides of a real Binance account.
//!
//! Every P&L item (funding, borrow, USDT interest, fees, slippage, basis, forfeited margin) is
//! booked here in `Decimal`, per pair, and on the wallet side it lands on:
//!
//! | item | side |
//! |---|---|
//! | funding, perp-leg marks, futures fees and the perp leg's slippage, forfeited margin | futures wallet |
//! | spot-leg marks, spot fees and the spot leg's slippage, borrow interest, USDT interest | spot/cross-margin side |
//!
//! so equity (both sides) always equals the initial capital plus the sum of the items. USDT
//! moves between the sides only through [`fff_core::plan_transfer`], the live transfer policy.
//! The capital a hedge ties up is [`fff_core::CapitalModel`]'s, never a private copy of it.

use fff_core::{
    CapitalModel, Direction, HedgeCapital, Utilization, WalletBalances, WalletHealth, WalletSide,
    WalletTransfer, margin_ratio, plan_transfer,
};
use std::borrow::Cow;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;

use crate::costs::CostModel;

/// Binance liquidates a cross-margin account at this margin level (assets / liabilities).
pub const MARGIN_LIQUIDATION_LEVEL: Decimal = dec!(1.1);

/// Transfers the policy may make in one call (a below-need move, then a health move, ...).
const TRANSFERS_PER_CALL: usize = 4;

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
    /// USDT borrowed on cross margin for the spot buy (positive carry with
    /// `capital.spot_usdt_borrow`): a fixed USDT liability, repaid pro rata when the hedge
    /// shrinks.
    pub usdt_loan: Decimal,
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
        spot_sign(self.direction)
    }

    /// Cross-margin liabilities of this hedge: the borrowed coin at its mark, and the USDT loan.
    pub fn liabilities(&self) -> Decimal {
        let coin = if self.direction.borrows() {
            self.spot_notional()
        } else {
            Decimal::ZERO
        };
        coin.saturating_add(self.usdt_loan)
    }

    /// Perp-leg P&L of a move from the last mark to `price`.
    fn perp_pnl_at(&self, price: Decimal) -> Decimal {
        -self.spot_sign() * self.qty.saturating_mul(price - self.perp_price)
    }
}

fn spot_sign(direction: Direction) -> Decimal {
    match direction {
        Direction::PositiveCarry => Decimal::ONE,
        Direction::NegativeCarry => Decimal::NEGATIVE_ONE,
    }
}

/// What one pair contributed over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairLedger {
    pub funding: Decimal,
    pub borrow: Decimal,
    /// Interest on USDT borrowed for spot buys (`capital.spot_usdt_borrow`).
    pub usdt_interest: Decimal,
    pub fees: Decimal,
    pub slippage: Decimal,
    pub basis: Decimal,
    /// Futures margin forfeited to liquidations (what was left of the perp's margin when the
    /// exchange closed it).
    pub liquidation: Decimal,
    pub turnover: Decimal,
    pub trades: u64,
    pub flips: u64,
    /// Hedges closed by a liquidation (perp leg, or the cross-margin account).
    pub liquidations: u64,
    /// Hours with an open position.
    pub hours_held: u64,
    pub settlements: u64,
    pub positive_settlements: u64,
}

impl PairLedger {
    /// Net contribution.
    pub fn net(&self) -> Decimal {
        self.funding - self.borrow - self.usdt_interest - self.fees - self.slippage + self.basis
            - self.liquidation
    }
}

/// Why a trade happened (for the trade log and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TradeKind {
    Open,
    Adjust,
    Close,
    Flip,
    /// The exchange closed the perp leg (futures liquidation) or the whole hedge (cross-margin
    /// liquidation) at the day's adverse extreme; the hedge's other leg was closed at the same
    /// instant.
    Liquidation,
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
    /// Fees plus slippage charged (plus the forfeited margin, for liquidations).
    pub cost: Decimal,
}

/// Transfers between the spot/margin side and the futures wallet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransferStats {
    pub count: u64,
    /// USDT moved, both directions.
    pub amount: Decimal,
    pub to_futures: u64,
    pub to_spot_side: u64,
}

/// The worst account health seen, including each day's adverse extremes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthStats {
    /// Lowest futures margin coverage (margin balance / maintenance): hourly, and at each
    /// perp's daily adverse extreme (the rest of the book at its marks).
    pub min_futures_coverage: Option<Decimal>,
    /// Lowest cross-margin level (assets / liabilities), hourly and at daily adverse extremes.
    pub min_margin_level: Option<Decimal>,
    /// Hedge-days checked against a daily high/low.
    pub checked_days: u64,
    /// Hedge-days without any high/low for the pair (no klines that day): not checked.
    pub unchecked_days: u64,
}

fn lower(current: &mut Option<Decimal>, value: Decimal) {
    *current = Some(current.map_or(value, |c| c.min(value)));
}

/// The account: both wallets, open hedges, per-pair ledgers.
#[derive(Debug, Clone)]
pub struct Book {
    pub costs: CostModel,
    pub model: CapitalModel,
    pub initial_capital: Decimal,
    /// Equity of each side (net of loans; the futures side includes unrealised P&L). The
    /// initial capital starts on the spot side, like a fresh deposit.
    pub wallets: WalletBalances,
    pub positions: Vec<Position>,
    pub ledgers: Vec<PairLedger>,
    pub trades: Vec<Trade>,
    /// Funding settlements of held positions, and how many netted positive.
    pub settlements: u64,
    pub positive_settlements: u64,
    pub transfers: TransferStats,
    pub health: HealthStats,
    /// Exits traded now are urgent (all taker + slippage); set by the replay per order.
    pub urgent_exits: bool,
    /// Sums over the hedges, kept while no hedge changes (see [`HedgeFigures`]).
    figures: HedgeFigures,
    memo: Memo,
}

/// What one hedge's figures depend on, bit for bit: direction, quantity, both marks, USDT loan.
type HedgeKey = (bool, [[u8; 16]; 4]);

fn hedge_key(p: &Position) -> HedgeKey {
    (
        p.direction == Direction::PositiveCarry,
        [
            p.qty.serialize(),
            p.spot_price.serialize(),
            p.perp_price.serialize(),
            p.usdt_loan.serialize(),
        ],
    )
}

/// Sums over the held hedges that the replay reads several times an hour (funding the wallets,
/// the risk gate, the hourly sample) while the hedges rarely change. Recomputed whenever any
/// input differs in a single bit ([`HedgeKey`]), so they are always what a fresh computation
/// gives: the same operations on the same values.
#[derive(Debug, Clone, Default)]
struct HedgeFigures {
    /// Bumped on every recomputation: part of the [`Memo`] keys.
    generation: u64,
    keys: Vec<HedgeKey>,
    /// Perp-leg notional of each hedge, in position order.
    notionals: Vec<Decimal>,
    /// Capital each hedge ties up (`None` where the capital model overflowed), and what each
    /// owes on cross margin ([`Position::liabilities`]).
    capitals: Vec<Option<HedgeCapital>>,
    owed: Vec<Decimal>,
    need: HedgeCapital,
    gross_notional: Decimal,
    liabilities: Decimal,
}

/// The hedges ([`HedgeFigures::generation`]) and the bits of two balances.
type MemoKey = (u64, [u8; 16], [u8; 16]);

/// The last result of the pure functions of the hedges and the balances the replay calls
/// several times an hour although neither changed (health, utilisation, the transfer policy);
/// reused only for the very same inputs, bit for bit.
#[derive(Debug, Clone, Default)]
struct Memo {
    /// [`Book::wallet_health`] at (hedges, spot side, futures).
    health: Option<(MemoKey, WalletHealth)>,
    /// (hedges, spot side, futures) at which [`fff_core::plan_transfer`] called for nothing.
    settled: Option<MemoKey>,
    /// [`Book::utilization`] at (hedges, equity, 0).
    utilization: Option<(MemoKey, Utilization)>,
}

impl Book {
    pub fn new(costs: CostModel, model: CapitalModel, symbols: usize) -> Self {
        Self {
            initial_capital: costs.initial_capital,
            wallets: WalletBalances {
                spot_side: costs.initial_capital,
                futures: Decimal::ZERO,
            },
            costs,
            model,
            positions: Vec::new(),
            ledgers: vec![PairLedger::default(); symbols],
            trades: Vec::new(),
            settlements: 0,
            positive_settlements: 0,
            transfers: TransferStats::default(),
            health: HealthStats::default(),
            urgent_exits: false,
            figures: HedgeFigures::default(),
            memo: Memo::default(),
        }
    }

    /// Account equity, both sides.
    pub fn equity(&self) -> Decimal {
        self.wallets.spot_side.saturating_add(self.wallets.futures)
    }

    pub fn position(&self, symbol: usize) -> Option<&Position> {
        self.positions.iter().find(|p| p.symbol == symbol)
    }

    /// Whether the kept [`HedgeFigures`] are those of the hedges as they are.
    fn figures_valid(&self) -> bool {
        self.figures.keys.len() == self.positions.len()
            && self
                .figures
                .keys
                .iter()
                .zip(&self.positions)
                .all(|(key, p)| *key == hedge_key(p))
    }

    fn compute_figures(&self, generation: u64) -> HedgeFigures {
        let notionals: Vec<Decimal> = self.positions.iter().map(Position::notional).collect();
        let capitals: Vec<Option<HedgeCapital>> = self
            .positions
            .iter()
            .zip(&notionals)
            .map(|(p, notional)| self.model.hedge_capital(*notional, p.direction).ok())
            .collect();
        let owed: Vec<Decimal> = self.positions.iter().map(Position::liabilities).collect();
        HedgeFigures {
            generation,
            keys: self.positions.iter().map(hedge_key).collect(),
            gross_notional: notionals.iter().sum(),
            notionals,
            need: capitals
                .iter()
                .flatten()
                .fold(HedgeCapital::default(), |sum, c| sum.plus(*c)),
            capitals,
            liabilities: owed.iter().sum(),
            owed,
        }
    }

    /// Keeps the sums of the hedges as they are now.
    fn refresh_figures(&mut self) {
        if !self.figures_valid() {
            let generation = self.figures.generation + 1;
            self.figures = self.compute_figures(generation);
        }
    }

    /// The sums over the held hedges: the kept ones while no hedge changed.
    fn figures(&self) -> Cow<'_, HedgeFigures> {
        if self.figures_valid() {
            Cow::Borrowed(&self.figures)
        } else {
            Cow::Owned(self.compute_figures(0))
        }
    }

    /// Total perp-leg (= per-leg) notional.
    pub fn gross_notional(&self) -> Decimal {
        self.figures().gross_notional
    }

    /// Capital the held hedges tie up on each side (fff-core's capital model, at the marks).
    pub fn need(&self) -> HedgeCapital {
        self.figures().need
    }

    /// The [`Memo`] key of the hedges as they are and two balances; `None` while the kept
    /// figures are stale (nothing is remembered for them).
    fn memo_key(&self, a: Decimal, b: Decimal) -> Option<MemoKey> {
        self.figures_valid().then(|| self.kept_key(a, b))
    }

    /// [`Book::memo_key`] of the kept figures, just refreshed.
    fn kept_key(&self, a: Decimal, b: Decimal) -> MemoKey {
        (self.figures.generation, a.serialize(), b.serialize())
    }

    /// Capital in use (both legs) against equity: fff-core's utilisation.
    pub fn utilization(&self) -> Utilization {
        let equity = self.equity();
        if let Some((last, utilization)) = self.memo.utilization
            && Some(last) == self.memo_key(equity, Decimal::ZERO)
        {
            return utilization;
        }
        self.utilization_of(&self.figures(), equity)
    }

    fn utilization_of(&self, figures: &HedgeFigures, equity: Decimal) -> Utilization {
        self.model
            .utilization(
                equity,
                self.positions
                    .iter()
                    .zip(&figures.notionals)
                    .map(|(p, notional)| (p.direction, *notional)),
            )
            .unwrap_or_default()
    }

    /// [`Book::utilization`], remembered for the next call on the same hedges and equity.
    pub fn remember_utilization(&mut self) -> Utilization {
        self.refresh_figures();
        let equity = self.equity();
        let key = self.kept_key(equity, Decimal::ZERO);
        if let Some((last, utilization)) = self.memo.utilization
            && last == key
        {
            return utilization;
        }
        let utilization = self.utilization_of(&self.figures, equity);
        self.memo.utilization = Some((key, utilization));
        utilization
    }

    /// Futures maintenance margin of the open perps.
    pub fn futures_maintenance(&self) -> Decimal {
        self.gross_notional()
            .saturating_mul(self.costs.maintenance_margin_rate)
    }

    /// Cross-margin liabilities: borrowed coins at their marks and USDT loans.
    pub fn liabilities(&self) -> Decimal {
        self.figures().liabilities
    }

    /// Futures margin coverage and cross-margin level now (`None` without perps / loans). The
    /// whole spot side counts as cross-margin assets (the executor sweeps idle spot USDT into
    /// cross margin).
    pub fn wallet_health(&self) -> WalletHealth {
        if let Some((last, health)) = self.memo.health
            && Some(last) == self.memo_key(self.wallets.spot_side, self.wallets.futures)
        {
            return health;
        }
        self.health_of(&self.figures())
    }

    fn health_of(&self, figures: &HedgeFigures) -> WalletHealth {
        let liabilities = figures.liabilities;
        let maintenance = figures
            .gross_notional
            .saturating_mul(self.costs.maintenance_margin_rate);
        WalletHealth {
            futures_coverage: margin_ratio(self.wallets.futures, maintenance),
            margin_level: (liabilities > Decimal::ZERO)
                .then(|| (self.wallets.spot_side + liabilities).checked_div(liabilities))
                .flatten(),
        }
    }

    /// [`Book::wallet_health`] of the kept figures (just refreshed), remembered for the next
    /// call on the same hedges and balances.
    fn remember_health(&mut self) -> WalletHealth {
        let key = self.kept_key(self.wallets.spot_side, self.wallets.futures);
        if let Some((last, health)) = self.memo.health
            && last == key
        {
            return health;
        }
        let health = self.health_of(&self.figures);
        self.memo.health = Some((key, health));
        health
    }

    /// Records the current health in the minimum trackers.
    pub fn observe_health(&mut self) {
        self.refresh_figures();
        let health = self.remember_health();
        if let Some(coverage) = health.futures_coverage {
            lower(&mut self.health.min_futures_coverage, coverage);
        }
        if let Some(level) = health.margin_level {
            lower(&mut self.health.min_margin_level, level);
        }
    }

    /// Makes the transfers the live policy calls for ([`fff_core::plan_transfer`]) for the held
    /// hedges; returns how many were made.
    pub fn fund_wallets(&mut self) -> usize {
        self.fund_wallets_until_settled().0
    }

    /// [`Book::fund_wallets`], and whether the policy called for no further transfer when it
    /// stopped (so, until a hedge or a balance changes, another call would make none).
    pub fn fund_wallets_until_settled(&mut self) -> (usize, bool) {
        let mut made = 0;
        for _ in 0..TRANSFERS_PER_CALL {
            self.refresh_figures();
            // The policy is a function of the hedges and the balances: where it called for
            // nothing, it calls for nothing again.
            let key = self.kept_key(self.wallets.spot_side, self.wallets.futures);
            if self.memo.settled == Some(key) {
                return (made, true);
            }
            let health = self.remember_health();
            let Some(transfer) =
                plan_transfer(self.figures.need, self.wallets, health, self.model.params())
            else {
                self.memo.settled = Some(key);
                return (made, true);
            };
            self.apply_transfer(&transfer);
            made += 1;
        }
        (made, false)
    }

    fn apply_transfer(&mut self, transfer: &WalletTransfer) {
        let amount = transfer.amount;
        match transfer.to {
            WalletSide::Futures => {
                self.wallets.spot_side -= amount;
                self.wallets.futures += amount;
                self.transfers.to_futures += 1;
            }
            WalletSide::SpotMargin => {
                self.wallets.futures -= amount;
                self.wallets.spot_side += amount;
                self.transfers.to_spot_side += 1;
            }
        }
        self.transfers.count += 1;
        self.transfers.amount = self.transfers.amount.saturating_add(amount);
    }

    /// Books P&L of one leg on its wallet side and in the pair's basis.
    fn book_basis(&mut self, symbol: usize, side: WalletSide, pnl: Decimal) {
        let ledger = &mut self.ledgers[symbol];
        ledger.basis = ledger.basis.saturating_add(pnl);
        match side {
            WalletSide::SpotMargin => {
                self.wallets.spot_side = self.wallets.spot_side.saturating_add(pnl)
            }
            WalletSide::Futures => self.wallets.futures = self.wallets.futures.saturating_add(pnl),
        }
    }

    /// Marks both legs of `symbol` to new prices, booking basis P&L on each leg's side.
    pub fn mark(&mut self, symbol: usize, spot: Option<Decimal>, perp: Option<Decimal>) {
        let Some(position) = self.positions.iter_mut().find(|p| p.symbol == symbol) else {
            return;
        };
        let sign = position.spot_sign();
        let mut spot_pnl = Decimal::ZERO;
        let mut perp_pnl = Decimal::ZERO;
        if let Some(spot) = spot {
            spot_pnl = sign * position.qty.saturating_mul(spot - position.spot_price);
            position.spot_price = spot;
        }
        if let Some(perp) = perp {
            perp_pnl = position.perp_pnl_at(perp);
            position.perp_price = perp;
        }
        self.book_basis(symbol, WalletSide::SpotMargin, spot_pnl);
        self.book_basis(symbol, WalletSide::Futures, perp_pnl);
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

    /// Books a funding settlement in the futures wallet: shorts receive `rate` on the perp
    /// notional valued at `mark` (the leg's last mark when the data has no mark price).
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
        self.wallets.futures = self.wallets.futures.saturating_add(amount);
    }

    /// Accrues one hour of interest on the spot side: borrow on every short-spot leg
    /// (`hourly_rate` of its base asset) and `usdt_hourly` on every USDT loan.
    pub fn accrue_interest(
        &mut self,
        hourly_rate: impl Fn(usize) -> Decimal,
        usdt_hourly: Decimal,
    ) {
        for position in &mut self.positions {
            let ledger = &mut self.ledgers[position.symbol];
            ledger.hours_held += 1;
            let borrow = if position.direction == Direction::NegativeCarry {
                position
                    .spot_notional()
                    .saturating_mul(hourly_rate(position.symbol))
            } else {
                Decimal::ZERO
            };
            let usdt = position.usdt_loan.saturating_mul(usdt_hourly);
            ledger.borrow = ledger.borrow.saturating_add(borrow);
            ledger.usdt_interest = ledger.usdt_interest.saturating_add(usdt);
            let interest = borrow.saturating_add(usdt);
            position.pending_cost = position.pending_cost.saturating_add(interest);
            self.wallets.spot_side = self.wallets.spot_side.saturating_sub(interest);
        }
    }

    /// Charges trading costs of one fill on each leg to its side; returns (fees, slippage).
    /// `exit` of the notional (0..=1) reduces the hedge and pays the exit rates
    /// ([`CostModel::exit_rates`], taker throughout when `urgent`); the rest pays the entry
    /// rates (`maker_fill_share` blend plus slippage).
    fn charge_fill(
        &mut self,
        symbol: usize,
        spot_notional: Decimal,
        perp_notional: Decimal,
        exit: Decimal,
        urgent: bool,
    ) -> (Decimal, Decimal) {
        let entry = Decimal::ONE - exit;
        let (exit_spot, exit_perp, exit_slip) = self.costs.exit_rates(urgent);
        let spot_rate = self.costs.spot_fee() * entry + exit_spot * exit;
        let perp_rate = self.costs.futures_fee() * entry + exit_perp * exit;
        let slip_rate = self.costs.slippage * entry + exit_slip * exit;
        let spot_fee = spot_notional.saturating_mul(spot_rate);
        let perp_fee = perp_notional.saturating_mul(perp_rate);
        let spot_slip = spot_notional.saturating_mul(slip_rate);
        let perp_slip = perp_notional.saturating_mul(slip_rate);
        self.wallets.spot_side = self
            .wallets
            .spot_side
            .saturating_sub(spot_fee.saturating_add(spot_slip));
        self.wallets.futures = self
            .wallets
            .futures
            .saturating_sub(perp_fee.saturating_add(perp_slip));
        let (fees, slippage) = (
            spot_fee.saturating_add(perp_fee),
            spot_slip.saturating_add(perp_slip),
        );
        let ledger = &mut self.ledgers[symbol];
        ledger.fees = ledger.fees.saturating_add(fees);
        ledger.slippage = ledger.slippage.saturating_add(slippage);
        ledger.turnover = ledger
            .turnover
            .saturating_add(spot_notional.saturating_add(perp_notional));
        ledger.trades += 1;
        (fees, slippage)
    }

    /// USDT a positive-carry spot leg of `qty` at `spot_price` borrows: the notional above the
    /// capital model's spot cash, `N / T` (0 unless `capital.spot_usdt_borrow`).
    fn usdt_loan_for(&self, direction: Direction, qty: Decimal, spot_price: Decimal) -> Decimal {
        if direction != Direction::PositiveCarry || !self.model.params().spot_usdt_borrow {
            return Decimal::ZERO;
        }
        qty.saturating_mul(spot_price)
            .checked_div(self.model.margin_level_target())
            .unwrap_or(Decimal::ZERO)
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
        // The share of the traded quantity that takes the hedge down (a close, a cut, the
        // old side of a flip) is an exit.
        let exit = match (kind, current.map(|i| self.positions[i].qty)) {
            (TradeKind::Close, _) => Decimal::ONE,
            (TradeKind::Flip, Some(old)) => old.checked_div(traded_qty).unwrap_or(Decimal::ONE),
            (TradeKind::Adjust, _) if qty_delta < Decimal::ZERO => Decimal::ONE,
            _ => Decimal::ZERO,
        };
        let urgent = self.urgent_exits;
        let (fees, slippage) = self.charge_fill(symbol, spot_notional, perp_notional, exit, urgent);
        let cost = fees.saturating_add(slippage);
        if kind == TradeKind::Flip {
            self.ledgers[symbol].flips += 1;
        }
        self.trades.push(Trade {
            time_ms,
            symbol: name.to_string(),
            kind,
            direction,
            qty_delta,
            notional: spot_notional.saturating_add(perp_notional),
            cost,
        });
        match (current, kind) {
            (Some(i), TradeKind::Close) => {
                self.positions.swap_remove(i);
            }
            (Some(i), _) => {
                let old = &self.positions[i];
                let usdt_loan = match kind {
                    TradeKind::Adjust if target_qty < old.qty && !old.qty.is_zero() => {
                        old.usdt_loan * target_qty / old.qty
                    }
                    TradeKind::Adjust => old.usdt_loan.saturating_add(self.usdt_loan_for(
                        direction,
                        target_qty - old.qty,
                        spot_price,
                    )),
                    _ => self.usdt_loan_for(direction, target_qty, spot_price),
                };
                let position = &mut self.positions[i];
                position.qty = target_qty;
                position.direction = direction;
                position.priced = priced;
                position.usdt_loan = usdt_loan;
                position.pending_cost = position.pending_cost.saturating_add(cost);
                if kind == TradeKind::Flip {
                    position.opened_ms = time_ms;
                }
            }
            (None, _) => {
                let usdt_loan = self.usdt_loan_for(direction, target_qty, spot_price);
                self.positions.push(Position {
                    symbol,
                    direction,
                    qty: target_qty,
                    spot_price,
                    perp_price,
                    pending_cost: cost,
                    opened_ms: time_ms,
                    priced,
                    usdt_loan,
                });
            }
        }
    }

    /// Checks the hedge on `symbol` against the adverse extremes of the day that just closed
    /// (`(high, low)` of its spot and perp bars), before its legs are marked to the closes; a
    /// leg without a bar takes the other leg's range scaled to its own mark. Returns whether a
    /// check was possible (a priced hedge and at least one bar).
    ///
    /// At the extreme, the live transfer policy is applied first ([`fff_core::plan_transfer`]
    /// on the balances, needs and health of that instant): the executor's wallet keeper runs
    /// every few seconds and moves the spot side's spare USDT into the futures wallet once
    /// coverage falls below `capital.transfer_below_coverage`, long before a liquidation. The
    /// risk service's tier cuts are *not* replayed inside the day, and the kline's last-price
    /// extreme stands in for the mark price Binance liquidates on (which wicks less).
    ///
    /// - **Perp leg**: the futures wallet is one cross-margin account (the executor sets
    ///   `CROSSED`). If the day's high (short perp) or low (long perp), the rest of the book at
    ///   its marks, takes the wallet's balance down to the maintenance margin of all perps, the
    ///   perp was liquidated at that price: its loss to there is booked, the wallet keeps only
    ///   the other perps' maintenance (the rest, this perp's maintenance, is forfeited to the
    ///   exchange), and the spot leg is closed at the same instant, at the spot price with the
    ///   marks' basis, paying its fee and slippage. Each perp's extreme is checked on its own:
    ///   the extremes of different pairs rarely coincide to the minute (on crash days they
    ///   nearly do, so joint risk is understated there).
    /// - **Cross margin**: if the spot leg's adverse extreme (high for a borrowed coin, low for a
    ///   coin bought with borrowed USDT) takes the account's margin level to
    ///   [`MARGIN_LIQUIDATION_LEVEL`], the hedge is closed at that extreme (both legs, normal
    ///   costs; Binance's margin liquidation fee is not modelled).
    pub fn check_extremes(
        &mut self,
        time_ms: i64,
        symbol: usize,
        name: &str,
        spot: Option<(Decimal, Decimal)>,
        perp: Option<(Decimal, Decimal)>,
    ) -> bool {
        let Some(index) = self.positions.iter().position(|p| p.symbol == symbol) else {
            return false;
        };
        let p = self.positions[index].clone();
        if !p.priced || p.perp_price <= Decimal::ZERO || p.spot_price <= Decimal::ZERO {
            return false;
        }
        let (s0, p0, q) = (p.spot_price, p.perp_price, p.qty);
        let scale = |(high, low): (Decimal, Decimal), to: Decimal, from: Decimal| {
            (high * to / from, low * to / from)
        };
        let perp_range = perp.or_else(|| spot.map(|r| scale(r, p0, s0)));
        let spot_range = spot.or_else(|| perp.map(|r| scale(r, s0, p0)));
        let (Some((perp_high, perp_low)), Some((spot_high, spot_low))) = (perp_range, spot_range)
        else {
            return false;
        };
        // Perp leg at its adverse extreme, the spot leg at the same instant (marks' basis).
        let adverse = match p.direction {
            Direction::PositiveCarry => perp_high,
            Direction::NegativeCarry => perp_low,
        };
        self.keeper_at(index, s0 * adverse / p0, adverse);
        // One cross-margin futures wallet (the executor sets CROSSED): liquidation when its
        // balance with this perp at `P` falls to the maintenance of all perps,
        // F + pnl(P) = mmr (others + q P).
        let futures = self.wallets.futures;
        let others = self.gross_notional() - p.notional();
        let mmr = self.costs.maintenance_margin_rate;
        let liquidation_price = match p.direction {
            // short perp: F - q (P - p0) = mmr (others + q P)
            Direction::PositiveCarry => {
                (futures + q * p0 - mmr * others) / (q * (Decimal::ONE + mmr))
            }
            // long perp: F + q (P - p0) = mmr (others + q P)
            Direction::NegativeCarry => {
                (q * p0 - futures + mmr * others) / (q * (Decimal::ONE - mmr))
            }
        };
        let maintenance = mmr * (others + q * adverse);
        if maintenance > Decimal::ZERO {
            lower(
                &mut self.health.min_futures_coverage,
                (futures + p.perp_pnl_at(adverse)) / maintenance,
            );
        }
        let liquidated = match p.direction {
            Direction::PositiveCarry => adverse >= liquidation_price,
            Direction::NegativeCarry => adverse <= liquidation_price,
        };
        if liquidated {
            // Already below maintenance at the mark: gone at the day's first price.
            let price = match p.direction {
                Direction::PositiveCarry => liquidation_price.max(p0),
                Direction::NegativeCarry => liquidation_price.min(p0),
            };
            // The wallet keeps only the other perps' maintenance; the rest of what was left
            // at the liquidation price (this perp's maintenance) goes to the exchange.
            let forfeit = (futures + p.perp_pnl_at(price) - mmr * others).max(Decimal::ZERO);
            self.liquidate_perp(index, time_ms, name, price, forfeit);
            return true;
        }
        // Cross margin at the spot leg's adverse extreme, the rest of the book at its marks.
        if p.liabilities() > Decimal::ZERO {
            let spot_adverse = match p.direction {
                Direction::NegativeCarry => spot_high,
                Direction::PositiveCarry => spot_low,
            };
            let perp_price = p0 * spot_adverse / s0;
            self.keeper_at(index, spot_adverse, perp_price);
            let (balances, _, liabilities) = self.at_instant(index, spot_adverse, perp_price);
            if liabilities > Decimal::ZERO {
                let level = (balances.spot_side + liabilities) / liabilities;
                lower(&mut self.health.min_margin_level, level);
                if level <= MARGIN_LIQUIDATION_LEVEL {
                    self.trade_to(
                        time_ms,
                        symbol,
                        name,
                        p.direction,
                        Decimal::ZERO,
                        Some((spot_adverse, perp_price)),
                    );
                    if let Some(trade) = self.trades.last_mut() {
                        trade.kind = TradeKind::Liquidation;
                    }
                    self.ledgers[symbol].liquidations += 1;
                }
            }
        }
        true
    }

    /// The account at an intraday instant where position `index` trades at `spot` / `perp`
    /// and every other hedge at its marks: (wallet balances, capital needs, liabilities).
    fn at_instant(
        &self,
        index: usize,
        spot: Decimal,
        perp: Decimal,
    ) -> (WalletBalances, HedgeCapital, Decimal) {
        let p = &self.positions[index];
        let spot_move = p.spot_sign() * p.qty * (spot - p.spot_price);
        let balances = WalletBalances {
            spot_side: self.wallets.spot_side + spot_move,
            futures: self.wallets.futures + p.perp_pnl_at(perp),
        };
        // The other hedges' terms are the kept ones while they are current (same values).
        let figures = self.figures();
        let mut need = HedgeCapital::default();
        let mut liabilities = Decimal::ZERO;
        for (i, other) in self.positions.iter().enumerate() {
            let (capital, owed) = if i == index {
                let moved = Position {
                    spot_price: spot,
                    perp_price: perp,
                    ..other.clone()
                };
                (
                    self.model
                        .hedge_capital(moved.notional(), moved.direction)
                        .ok(),
                    moved.liabilities(),
                )
            } else {
                (figures.capitals[i], figures.owed[i])
            };
            if let Some(capital) = capital {
                need = need.plus(capital);
            }
            liabilities += owed;
        }
        (balances, need, liabilities)
    }

    /// What the live wallet keeper does at that instant: [`fff_core::plan_transfer`] on the
    /// instant's balances, needs and health; the transfers it calls for are made.
    fn keeper_at(&mut self, index: usize, spot: Decimal, perp: Decimal) {
        // Transfers leave the hedges as they are: their kept sums serve every round.
        self.refresh_figures();
        let p = &self.positions[index];
        let maintenance = (self.gross_notional() - p.notional() + p.qty * perp)
            .saturating_mul(self.costs.maintenance_margin_rate);
        for _ in 0..TRANSFERS_PER_CALL {
            let (balances, need, liabilities) = self.at_instant(index, spot, perp);
            let health = WalletHealth {
                futures_coverage: margin_ratio(balances.futures, maintenance),
                margin_level: (liabilities > Decimal::ZERO)
                    .then(|| (balances.spot_side + liabilities).checked_div(liabilities))
                    .flatten(),
            };
            let Some(transfer) = plan_transfer(need, balances, health, self.model.params()) else {
                break;
            };
            self.apply_transfer(&transfer);
        }
    }

    /// Books a futures liquidation of position `index` at `perp_price`, `forfeit` of the
    /// futures wallet going to the exchange, and closes its spot leg at the same instant.
    fn liquidate_perp(
        &mut self,
        index: usize,
        time_ms: i64,
        name: &str,
        perp_price: Decimal,
        forfeit: Decimal,
    ) {
        let p = self.positions.swap_remove(index);
        let symbol = p.symbol;
        let perp_pnl = p.perp_pnl_at(perp_price);
        self.book_basis(symbol, WalletSide::Futures, perp_pnl);
        self.wallets.futures = self.wallets.futures.saturating_sub(forfeit);
        // The spot leg at the same instant, keeping the basis of the last marks.
        let spot_price = p.spot_price * perp_price / p.perp_price;
        let spot_pnl = p.spot_sign() * p.qty.saturating_mul(spot_price - p.spot_price);
        self.book_basis(symbol, WalletSide::SpotMargin, spot_pnl);
        let spot_notional = p.qty.saturating_mul(spot_price);
        let perp_notional = p.qty.saturating_mul(perp_price);
        // The perp leg pays no fee of its own: the forfeit is the exchange's charge.
        let (fees, slippage) =
            self.charge_fill(symbol, spot_notional, Decimal::ZERO, Decimal::ONE, true);
        let ledger = &mut self.ledgers[symbol];
        ledger.turnover = ledger.turnover.saturating_add(perp_notional);
        ledger.liquidation = ledger.liquidation.saturating_add(forfeit);
        ledger.liquidations += 1;
        self.trades.push(Trade {
            time_ms,
            symbol: name.to_string(),
            kind: TradeKind::Liquidation,
            direction: p.direction,
            qty_delta: -p.qty,
            notional: spot_notional.saturating_add(perp_notional),
            cost: fees.saturating_add(slippage).saturating_add(forfeit),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fff_core::{CapitalParams, RiskParams, TransferReason};

    fn model(params: CapitalParams) -> CapitalModel {
        CapitalModel::new(&params, &RiskParams::default()).unwrap()
    }

    fn book(costs: CostModel) -> Book {
        Book::new(costs, model(CapitalParams::default()), 1)
    }

    fn assert_balanced(book: &Book) {
        let l = &book.ledgers[0];
        assert_eq!(book.equity(), book.initial_capital + l.net());
    }

    #[test]
    fn equity_is_capital_plus_ledger_items() {
        let mut book = book(CostModel::default());
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
        book.accrue_interest(|_| dec!(0.0001), dec!(0.00001));
        book.trade_to(
            2,
            0,
            "X",
            Direction::NegativeCarry,
            dec!(0),
            Some((dec!(102), dec!(102))),
        );
        let l = &book.ledgers[0];
        assert_balanced(&book);
        assert_eq!(l.trades, 3);
        assert_eq!(l.flips, 1);
        assert!(book.positions.is_empty());
        // funding: 0.001 * 10 * 100.2
        assert_eq!(l.funding, dec!(1.002));
        // short spot / long perp after the flip: 5 * (102-101) spot loss, 5 * (102-101.05) perp gain
        // long spot / short perp before: 10 * (101-100) - 10 * (101.05-100.1)
        assert_eq!(l.basis, dec!(10) - dec!(9.5) - dec!(5) + dec!(4.75));
        // no USDT loan without capital.spot_usdt_borrow
        assert_eq!(l.usdt_interest, Decimal::ZERO);
    }

    #[test]
    fn each_item_lands_on_its_wallet_side() {
        let mut book = book(CostModel::default());
        let start = book.wallets;
        book.trade_to(
            0,
            0,
            "X",
            Direction::PositiveCarry,
            dec!(10),
            Some((dec!(100), dec!(100))),
        );
        // spot: 1000 x (0.1 % fee + 2 bp slippage); futures: 1000 x (0.05 % + 2 bp)
        assert_eq!(book.wallets.spot_side, start.spot_side - dec!(1.2));
        assert_eq!(book.wallets.futures, dec!(-0.7));
        book.settle_funding(0, dec!(0.001), None);
        assert_eq!(book.wallets.futures, dec!(0.3));
        // a 10 % rise: the spot leg gains on the spot side, the short perp loses in futures
        let spot_before = book.wallets.spot_side;
        book.mark(0, Some(dec!(110)), Some(dec!(110)));
        assert_eq!(book.wallets.spot_side, spot_before + dec!(100));
        assert_eq!(book.wallets.futures, dec!(-99.7));
        assert_balanced(&book);
    }

    #[test]
    fn transfers_fund_the_futures_wallet_and_keep_equity() {
        let mut book = book(CostModel::free());
        book.trade_to(
            0,
            0,
            "X",
            Direction::PositiveCarry,
            dec!(500),
            Some((dec!(100), dec!(100))),
        );
        // 50 000 per leg: 50 000 spot cash + 11 500 perp margin needed; futures holds nothing
        assert_eq!(book.need().perp_margin, dec!(11_500));
        let equity = book.equity();
        assert_eq!(book.fund_wallets(), 1);
        assert_eq!(book.equity(), equity);
        assert!(book.wallets.futures >= dec!(11_500));
        assert!(book.wallets.spot_side >= dec!(50_000));
        assert_eq!(book.transfers.count, 1);
        assert_eq!(book.transfers.to_futures, 1);
        assert_eq!(book.transfers.amount, book.wallets.futures);
        // at the targets: nothing more to do
        assert_eq!(book.fund_wallets(), 0);
        // a 15 % rise drains the futures wallet below its need: the spot side's gain refills it
        book.mark(0, Some(dec!(115)), Some(dec!(115)));
        let need = book.need();
        assert!(book.wallets.futures < need.perp_margin);
        let health = book.wallet_health();
        let planned = plan_transfer(need, book.wallets, health, book.model.params()).unwrap();
        assert_eq!(planned.reason, TransferReason::BelowNeed);
        book.fund_wallets();
        assert!(book.wallets.futures >= book.need().perp_margin);
        assert!(book.wallets.spot_side >= book.need().spot_side);
        assert_eq!(book.equity(), equity);
    }

    #[test]
    fn a_high_that_would_liquidate_the_short_perp_is_caught_though_the_close_would_not() {
        let mut book = book(CostModel::default());
        let q = dec!(690);
        book.trade_to(
            0,
            0,
            "X",
            Direction::PositiveCarry,
            q,
            Some((dec!(100), dec!(100))),
        );
        book.fund_wallets();
        let futures = book.wallets.futures;
        // the spot side's spare cash: all the keeper can add (the spot leg's gain is in coin)
        let spare = book.wallets.spot_side - book.need().spot_side;
        assert!(spare > Decimal::ZERO);
        // the close (+5 %) keeps coverage far above 1
        let close = dec!(105);
        let at_close = (futures - q * (close - dec!(100))) / (dec!(0.01) * q * close);
        assert!(at_close > dec!(3));
        // with everything in the futures wallet, liquidation where
        // futures + spare - q (P - 100) = 0.01 q P
        let liquidation = (futures + spare + q * dec!(100)) / (q * dec!(1.01));
        assert!(
            liquidation > dec!(140) && liquidation < dec!(150),
            "{liquidation}"
        );
        let transfers = book.transfers.count;
        let checked = book.check_extremes(
            86_400_000,
            0,
            "X",
            Some((dec!(150), dec!(99))),
            Some((dec!(150), dec!(99))),
        );
        assert!(checked);
        assert!(
            book.positions.is_empty(),
            "the day's high liquidates the short perp"
        );
        // the keeper moved the spare cash in first
        assert_eq!(book.transfers.count, transfers + 1);
        let l = book.ledgers[0].clone();
        assert_eq!(l.liquidations, 1);
        // the futures wallet lost its whole margin; the spot leg was sold at the same instant
        assert_eq!(book.wallets.futures, Decimal::ZERO);
        let trade = book.trades.last().unwrap().clone();
        assert_eq!(trade.kind, TradeKind::Liquidation);
        assert_eq!(trade.qty_delta, -q);
        // both legs at the liquidation price (no basis in the marks)
        let price = trade.notional / (dec!(2) * q);
        assert!((price - liquidation).abs() < dec!(0.01), "{price}");
        let maintenance = dec!(0.01) * q * price;
        assert!((l.liquidation - maintenance).abs() < dec!(0.01));
        assert_balanced(&book);
        // the hedge as a whole lost about the forfeited maintenance margin and the costs
        let lost = book.initial_capital - book.equity();
        assert!(lost < dec!(2) * maintenance, "{lost}");
        assert!(book.health.min_futures_coverage.unwrap() <= Decimal::ONE);
    }

    #[test]
    fn a_high_the_spare_cash_covers_does_not_liquidate() {
        let mut book = book(CostModel::default());
        book.trade_to(
            0,
            0,
            "X",
            Direction::PositiveCarry,
            dec!(690),
            Some((dec!(100), dec!(100))),
        );
        book.fund_wallets();
        // +35 %: beyond the futures wallet alone (about +26 %), within it plus the spare cash
        assert!(book.check_extremes(0, 0, "X", None, Some((dec!(135), dec!(95)))));
        assert_eq!(book.positions.len(), 1);
        let coverage = book.health.min_futures_coverage.unwrap();
        assert!(coverage > Decimal::ONE && coverage < dec!(8), "{coverage}");
        assert_eq!(book.ledgers[0].liquidations, 0);
        // no bar at all: nothing to check
        assert!(!book.check_extremes(0, 0, "X", None, None));
        assert_balanced(&book);
    }

    #[test]
    fn the_short_spot_gain_keeps_a_negative_carry_perp_alive_in_a_crash() {
        let mut book = book(CostModel::free());
        book.trade_to(
            0,
            0,
            "X",
            Direction::NegativeCarry,
            dec!(600),
            Some((dec!(100), dec!(100))),
        );
        book.fund_wallets();
        let futures = book.wallets.futures;
        let transfers = book.transfers.to_futures;
        // -60 % would wipe out the long perp's own margin (about 28 % of notional) ...
        assert!(futures < dec!(0.3) * dec!(60_000));
        book.check_extremes(0, 0, "X", Some((dec!(101), dec!(40))), None);
        // ... but the short spot leg's gain is USDT, and the keeper moves it in at the low
        // (and back when the price returns to the high)
        assert_eq!(book.positions.len(), 1);
        assert_eq!(book.ledgers[0].liquidations, 0);
        assert_eq!(book.transfers.to_futures, transfers + 1);
        assert!(book.health.min_futures_coverage.unwrap() > Decimal::ONE);
        assert_balanced(&book);
    }

    #[test]
    fn usdt_loans_pay_interest_only_when_enabled() {
        let params = CapitalParams {
            spot_usdt_borrow: true,
            ..CapitalParams::default()
        };
        let mut book = Book::new(CostModel::free(), model(params), 1);
        book.trade_to(
            0,
            0,
            "X",
            Direction::PositiveCarry,
            dec!(100),
            Some((dec!(215), dec!(215))),
        );
        // 21 500 notional / T = 2.15 -> 10 000 borrowed
        assert_eq!(book.positions[0].usdt_loan, dec!(10_000));
        assert_eq!(book.liabilities(), dec!(10_000));
        book.accrue_interest(|_| Decimal::ZERO, dec!(0.00001));
        assert_eq!(book.ledgers[0].usdt_interest, dec!(0.1));
        // halving the hedge repays half the loan
        book.trade_to(
            1,
            0,
            "X",
            Direction::PositiveCarry,
            dec!(50),
            Some((dec!(215), dec!(215))),
        );
        assert_eq!(book.positions[0].usdt_loan, dec!(5_000));
        assert_balanced(&book);
    }
}

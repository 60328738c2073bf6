//! A scripted in-memory exchange for unit tests: market and IOC orders fill at once at the
//! mark price (or partly, or are rejected, per venue), and it remembers every order it saw so a
//! test can count them. Post-only (maker) orders rest: each look at one (`get_order`) fills it
//! up to the fraction scripted for its venue in [`FakeState::maker_fill`] (nothing by default),
//! a cancel ends it, and a venue in [`FakeState::maker_cross`] refuses them as would-take.

use std::collections::HashMap;
use std::sync::Mutex;

use fff_core::{Side, SymbolFilters, Venue};
use fff_store::OrderStatus;
use rust_decimal::Decimal;

use super::{
    AccountView, Books, Exchange, ExchangeError, InstrumentInfo, MakerOrder, MarginAsset,
    OrderReport, OrderRequest, Quote, Wallet, WalletView,
};

/// Best bid and ask per venue.
pub type BookTops = HashMap<Venue, (Decimal, Decimal)>;

#[derive(Debug, Default)]
pub struct FakeState {
    pub orders: Vec<OrderRequest>,
    pub reports: HashMap<String, OrderReport>,
    /// Signed perp position per symbol.
    pub perp: HashMap<String, Decimal>,
    /// Signed spot holding per symbol (short = borrowed and sold).
    pub spot: HashMap<String, Decimal>,
    /// Reject every order on these venues.
    pub reject_venue: Vec<Venue>,
    /// Fill only this fraction of orders on a venue.
    pub partial: HashMap<Venue, Decimal>,
    /// Answer `Unknown` (but execute) for the next n orders.
    pub lose_answers: u32,
    pub mark: Decimal,
    /// Fills happen at `mark * (1 + fill_premium)` (slippage).
    pub fill_premium: Decimal,
    pub equity: Decimal,
    pub wallets: WalletView,
    /// Transfers seen: (asset, amount, from, to, request id).
    pub transfers: Vec<(String, Decimal, Wallet, Wallet, String)>,
    /// The `after` sequence of every `account_after` read.
    pub account_sequences: Vec<u64>,
    /// Commission a spot/margin buy pays in the base asset (fraction; 0 = none).
    pub base_fee_rate: Decimal,
    /// Funding rate the instrument reports (0: no sign check).
    pub funding_rate: Decimal,
    /// Free USDT in cross margin.
    pub usdt_free: Decimal,
    /// Answer for `max_borrowable`; `None` = unlimited.
    pub max_borrowable: Option<Decimal>,
    /// Every post-only order seen, in order.
    pub makers: Vec<MakerOrder>,
    /// Fraction of a resting post-only order on a venue that has filled by the next look at it
    /// (cumulative; raise it to fill more). Absent: it rests unfilled.
    pub maker_fill: HashMap<Venue, Decimal>,
    /// Post-only orders on these venues would take liquidity: refused (REJECTED, nothing filled).
    pub maker_cross: Vec<Venue>,
    /// Client order ids of every cancel asked for.
    pub cancels: Vec<String>,
    /// Every margin type + leverage setting asked for: (symbol, leverage).
    pub prepared: Vec<(String, u32)>,
    /// Every fill in the order it happened: venue, symbol, signed quantity.
    pub fills: Vec<(Venue, String, Decimal)>,
    /// The next n orders are refused by the gateway's rate limiter before they are sent (a
    /// 429/418 `Retry-After` running): an `Unknown` error naming the refusal, nothing placed.
    pub refuse_sends: u32,
    /// The next n orders are refused by the venue with a 429/418, which the gateway reports as
    /// PENDING (its outcome rule for writes): nothing placed, the venue never knows the id.
    pub pending_sends: u32,
    /// The next n orders get no answer (a transport error: the gateway was killed, or the
    /// call timed out): an `Unknown` error, nothing placed.
    pub lost_sends: u32,
    /// The next n cancels fail with an `Unknown` error (a 418 ban or 429 storm still running).
    pub failed_cancels: u32,
    /// Ids the gateway still answers PENDING for (it sent them and got a 429/418, or holds
    /// them in its queue) while the venue never saw them: a cancel finds no such order.
    pub gateway_pending: std::collections::HashSet<String>,
    /// A `gateway_pending` id whose delayed request reaches the venue (filled, this quantity)
    /// after this many more look-ups.
    pub lands_after: Option<(String, u32, Decimal)>,
    /// Best bid and ask per venue (`None`: the gateway has no book for it).
    pub books: BookTops,
    /// Books answered instead of `books` for the next n reads (the gateway's view lagging the
    /// venue's book, which post-only orders are checked against).
    pub stale_books: Option<(BookTops, u32)>,
    /// A cached account snapshot answered instead of the live one for the next n reads (the
    /// gateway's `GetAccount` lagging the fills).
    pub stale_account: Option<(AccountView, u32)>,
    /// When the next spot adjustment order (`-Sa` ids: a loan's shortfall bought, a leg
    /// matched) is placed, the account as it was just before it is answered for this many
    /// reads (the gateway's cache predating that fill).
    pub freeze_account_on_spot_adjust: u32,
}

/// What the gateway answers when its rate limiter refuses to send (the error as classified
/// by `exchange::grpc::classify`).
pub const RATE_LIMITED: &str = "Unavailable: rate limited, retry after 1s";

impl FakeState {
    /// The account as the venue holds it now.
    fn view(&self) -> AccountView {
        let mut margin = HashMap::new();
        for (symbol, qty) in &self.spot {
            let asset = symbol.trim_end_matches("USDT").to_owned();
            margin.insert(
                asset,
                MarginAsset {
                    free: (*qty).max(Decimal::ZERO),
                    borrowed: (-*qty).max(Decimal::ZERO),
                    interest: Decimal::ZERO,
                    net: *qty,
                },
            );
        }
        margin.insert(
            "USDT".to_owned(),
            MarginAsset {
                free: self.usdt_free,
                net: self.usdt_free,
                ..MarginAsset::default()
            },
        );
        AccountView {
            equity: self.equity,
            perp_positions: self.perp.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            margin,
            wallets: self.wallets.clone(),
        }
    }

    /// Consumes one scripted refusal, if any: the answer to give instead of placing the order.
    fn refusal(&mut self, client_order_id: &str) -> Option<Result<OrderReport, ExchangeError>> {
        if self.refuse_sends > 0 {
            self.refuse_sends -= 1;
            return Some(Err(ExchangeError::Unknown(RATE_LIMITED.into())));
        }
        if self.lost_sends > 0 {
            self.lost_sends -= 1;
            return Some(Err(ExchangeError::Unknown(
                "transport error: connection reset".into(),
            )));
        }
        if self.pending_sends > 0 {
            self.pending_sends -= 1;
            return Some(Ok(OrderReport {
                client_order_id: client_order_id.to_owned(),
                status: OrderStatus::Unknown,
                exchange_order_id: None,
                executed_qty: Decimal::ZERO,
                avg_price: None,
                reject_reason: None,
            }));
        }
        None
    }
}

/// Binance's answer to a reduce-only order with nothing to reduce on its side.
const REDUCE_ONLY_REJECTED: &str = "-2022 ReduceOnly Order is rejected.";

impl FakeState {
    /// Whether a perp order on `side` reduces the position held on `symbol`.
    fn reduces(&self, symbol: &str, side: Side) -> bool {
        let held = self.perp.get(symbol).copied().unwrap_or_default();
        match side {
            Side::Buy => held < Decimal::ZERO,
            Side::Sell => held > Decimal::ZERO,
        }
    }

    fn fill(&mut self, venue: Venue, symbol: &str, signed: Decimal) {
        // a spot buy receives its quantity less the commission charged in the base asset
        let credited = if venue == Venue::SpotMargin && signed > Decimal::ZERO {
            signed * (Decimal::ONE - self.base_fee_rate)
        } else {
            signed
        };
        let book = match venue {
            Venue::UsdmPerp => &mut self.perp,
            Venue::SpotMargin => &mut self.spot,
        };
        *book.entry(symbol.to_owned()).or_default() += credited;
        if !signed.is_zero() {
            self.fills.push((venue, symbol.to_owned(), signed));
        }
    }

    /// Fills a resting post-only order up to its venue's scripted fraction.
    fn fill_maker(&mut self, client_order_id: &str) {
        let Some(maker) = self
            .makers
            .iter()
            .find(|m| m.client_order_id == client_order_id)
            .cloned()
        else {
            return;
        };
        let Some(report) = self.reports.get(client_order_id) else {
            return;
        };
        if report.status.is_terminal() {
            return;
        }
        let fraction = self
            .maker_fill
            .get(&maker.venue)
            .copied()
            .unwrap_or(Decimal::ZERO)
            .clamp(Decimal::ZERO, Decimal::ONE);
        let target = (maker.qty * fraction).round_dp(3).min(maker.qty);
        let delta = target - report.executed_qty;
        if delta <= Decimal::ZERO {
            return;
        }
        let signed = match maker.side {
            Side::Buy => delta,
            Side::Sell => -delta,
        };
        self.fill(maker.venue, &maker.symbol, signed);
        if let Some(report) = self.reports.get_mut(client_order_id) {
            report.executed_qty = target;
            report.avg_price = Some(maker.price);
            report.status = if target == maker.qty {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
        }
    }
}

#[derive(Debug)]
pub struct FakeExchange {
    pub state: Mutex<FakeState>,
}

impl FakeExchange {
    pub fn new(mark: Decimal, equity: Decimal) -> Self {
        Self {
            state: Mutex::new(FakeState {
                mark,
                equity,
                usdt_free: equity,
                wallets: WalletView {
                    margin_net_equity: equity,
                    futures_margin_balance: equity,
                    futures_available: equity,
                    futures_max_withdraw: equity,
                    ..WalletView::default()
                },
                ..FakeState::default()
            }),
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    pub fn order_count(&self, venue: Venue) -> usize {
        self.with(|s| s.orders.iter().filter(|o| o.venue == venue).count())
    }

    /// Post-only orders seen on `venue`.
    pub fn maker_count(&self, venue: Venue) -> usize {
        self.with(|s| s.makers.iter().filter(|o| o.venue == venue).count())
    }
}

fn filters() -> SymbolFilters {
    SymbolFilters {
        tick_size: Decimal::new(1, 2),
        step_size: Decimal::new(1, 3),
        min_qty: Decimal::new(1, 3),
        max_qty: Decimal::ZERO,
        market_step_size: Decimal::ZERO,
        min_notional: Decimal::from(5),
    }
}

#[tonic::async_trait]
impl Exchange for FakeExchange {
    async fn place_order(&self, request: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        self.with(|s| {
            if let Some(existing) = s.reports.get(&request.client_order_id) {
                return Ok(existing.clone());
            }
            if let Some(answer) = s.refusal(&request.client_order_id) {
                return answer;
            }
            s.orders.push(request.clone());
            if s.freeze_account_on_spot_adjust > 0 && request.client_order_id.contains("-Sa") {
                s.stale_account = Some((s.view(), s.freeze_account_on_spot_adjust));
                s.freeze_account_on_spot_adjust = 0;
            }
            if s.reject_venue.contains(&request.venue) {
                return Err(ExchangeError::Rejected("fake rejection".into()));
            }
            if request.venue == Venue::UsdmPerp
                && request.reduce_only
                && !s.reduces(&request.symbol, request.side)
            {
                return Err(ExchangeError::Rejected(REDUCE_ONLY_REJECTED.into()));
            }
            let fraction = s
                .partial
                .get(&request.venue)
                .copied()
                .unwrap_or(Decimal::ONE);
            let qty = (request.qty * fraction).round_dp(3);
            let signed = match request.side {
                Side::Buy => qty,
                Side::Sell => -qty,
            };
            s.fill(request.venue, &request.symbol, signed);
            let report = OrderReport {
                client_order_id: request.client_order_id.clone(),
                status: if qty == request.qty {
                    OrderStatus::Filled
                } else {
                    OrderStatus::Expired
                },
                exchange_order_id: Some(s.orders.len() as i64),
                executed_qty: qty,
                avg_price: Some(s.mark * (Decimal::ONE + s.fill_premium)),
                reject_reason: None,
            };
            s.reports
                .insert(request.client_order_id.clone(), report.clone());
            if s.lose_answers > 0 {
                s.lose_answers -= 1;
                return Err(ExchangeError::Unknown("fake timeout".into()));
            }
            Ok(report)
        })
    }

    async fn place_maker(&self, order: &MakerOrder) -> Result<OrderReport, ExchangeError> {
        self.with(|s| {
            if let Some(existing) = s.reports.get(&order.client_order_id) {
                return Ok(existing.clone());
            }
            if let Some(answer) = s.refusal(&order.client_order_id) {
                return answer;
            }
            s.makers.push(order.clone());
            if s.reject_venue.contains(&order.venue) {
                return Err(ExchangeError::Rejected("fake rejection".into()));
            }
            if order.venue == Venue::UsdmPerp
                && order.reduce_only
                && !s.reduces(&order.symbol, order.side)
            {
                return Err(ExchangeError::Rejected(REDUCE_ONLY_REJECTED.into()));
            }
            // a post-only order that would take from the venue's book is refused, as Binance does
            let takes = s
                .books
                .get(&order.venue)
                .is_some_and(|(bid, ask)| match order.side {
                    Side::Buy => order.price >= *ask,
                    Side::Sell => order.price <= *bid,
                });
            let crosses = takes || s.maker_cross.contains(&order.venue);
            let report = OrderReport {
                client_order_id: order.client_order_id.clone(),
                status: if crosses {
                    OrderStatus::Rejected
                } else {
                    OrderStatus::Acked
                },
                exchange_order_id: Some((s.orders.len() + s.makers.len()) as i64),
                executed_qty: Decimal::ZERO,
                avg_price: None,
                reject_reason: crosses.then(|| "fake post-only order would take".to_owned()),
            };
            s.reports
                .insert(order.client_order_id.clone(), report.clone());
            if s.lose_answers > 0 {
                s.lose_answers -= 1;
                return Err(ExchangeError::Unknown("fake timeout".into()));
            }
            Ok(report)
        })
    }

    async fn get_order(
        &self,
        _venue: Venue,
        _symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        Ok(self.with(|s| {
            s.fill_maker(client_order_id);
            if let Some((id, lookups, qty)) = s.lands_after.as_mut()
                && id == client_order_id
            {
                if *lookups == 0 {
                    let report = OrderReport {
                        client_order_id: client_order_id.to_owned(),
                        status: OrderStatus::Filled,
                        exchange_order_id: Some(77),
                        executed_qty: *qty,
                        avg_price: Some(Decimal::ONE_HUNDRED),
                        reject_reason: None,
                    };
                    s.reports.insert(client_order_id.to_owned(), report);
                    s.lands_after = None;
                } else {
                    *lookups -= 1;
                }
            }
            s.reports.get(client_order_id).cloned().or_else(|| {
                s.gateway_pending
                    .contains(client_order_id)
                    .then(|| OrderReport {
                        client_order_id: client_order_id.to_owned(),
                        status: OrderStatus::Unknown,
                        exchange_order_id: None,
                        executed_qty: Decimal::ZERO,
                        avg_price: None,
                        reject_reason: None,
                    })
            })
        }))
    }

    async fn cancel_order(
        &self,
        _: Venue,
        _: &str,
        client_order_id: &str,
    ) -> Result<(), ExchangeError> {
        self.with(|s| {
            s.cancels.push(client_order_id.to_owned());
            if s.failed_cancels > 0 {
                s.failed_cancels -= 1;
                return Err(ExchangeError::Unknown(RATE_LIMITED.into()));
            }
            match s.reports.get_mut(client_order_id) {
                // as the gateway answers: NOT_FOUND, classified as a definite refusal
                None => Err(ExchangeError::Rejected("no such order on the venue".into())),
                Some(report) => {
                    if !report.status.is_terminal() {
                        report.status = OrderStatus::Canceled;
                    }
                    Ok(())
                }
            }
        })
    }

    async fn prepare_perp(&self, symbol: &str, leverage: u32) -> Result<(), ExchangeError> {
        self.with(|s| s.prepared.push((symbol.to_owned(), leverage)));
        Ok(())
    }

    async fn instrument(&self, symbol: &str) -> Result<InstrumentInfo, ExchangeError> {
        Ok(InstrumentInfo {
            symbol: symbol.to_owned(),
            base_asset: symbol.trim_end_matches("USDT").to_owned(),
            quote_asset: "USDT".into(),
            spot: filters(),
            perp: filters(),
            mark_price: self.with(|s| s.mark),
            funding_rate: self.with(|s| s.funding_rate),
            tradable: true,
        })
    }

    async fn account_after(&self, sequence: u64) -> Result<AccountView, ExchangeError> {
        self.with(|s| s.account_sequences.push(sequence));
        self.account().await
    }

    async fn books(&self, _symbol: &str) -> Result<Books, ExchangeError> {
        Ok(self.with(|s| {
            let seen = match s.stale_books.take() {
                Some((books, n)) if n > 0 => {
                    s.stale_books = Some((books.clone(), n - 1));
                    books
                }
                _ => s.books.clone(),
            };
            let quote = |venue| {
                seen.get(&venue)
                    .map(|(bid, ask)| Quote {
                        bid: *bid,
                        ask: *ask,
                    })
                    .filter(Quote::is_sane)
            };
            Books {
                spot: quote(Venue::SpotMargin),
                perp: quote(Venue::UsdmPerp),
            }
        }))
    }

    async fn account(&self) -> Result<AccountView, ExchangeError> {
        if let Some(stale) = self.with(|s| match s.stale_account.take() {
            Some((view, n)) if n > 0 => {
                s.stale_account = Some((view.clone(), n - 1));
                Some(view)
            }
            _ => None,
        }) {
            return Ok(stale);
        }
        Ok(self.with(|s| s.view()))
    }

    async fn repay(&self, _: &str, _: Decimal, _: &str) -> Result<(), ExchangeError> {
        Ok(())
    }

    async fn transfer(
        &self,
        asset: &str,
        amount: Decimal,
        from: Wallet,
        to: Wallet,
        request_id: &str,
    ) -> Result<(), ExchangeError> {
        self.with(|s| {
            s.transfers
                .push((asset.to_owned(), amount, from, to, request_id.to_owned()));
        });
        Ok(())
    }

    async fn max_borrowable(&self, _asset: &str) -> Result<Decimal, ExchangeError> {
        Ok(self.with(|s| s.max_borrowable.unwrap_or(Decimal::from(1_000_000_000))))
    }
}

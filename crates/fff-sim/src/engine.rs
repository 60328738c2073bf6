//! Deterministic exchange state. Synchronous: the HTTP/WS layer locks it, advances it to the
//! clock's time, calls one operation, then drains `events` to subscribers.

pub mod account;
pub mod events;
pub mod funding;
pub mod futures;
pub mod history;
pub mod liquidation;
pub mod margin;
pub mod market;
pub mod orders;
pub mod replay;

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::config::{FaultConfig, SimConfig};
use account::Account;
use market::{HOUR_MS, Market};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    Spot,
    Margin,
    Futures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "BUY" => Some(Self::Buy),
            "SELL" => Some(Self::Sell),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }
    pub fn sign(self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrdType {
    Limit,
    Market,
    LimitMaker,
    Liquidation,
}

impl OrdType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Limit => "LIMIT",
            Self::Market => "MARKET",
            Self::LimitMaker => "LIMIT_MAKER",
            Self::Liquidation => "LIQUIDATION",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tif {
    Gtc,
    Ioc,
    Fok,
    Gtx,
}

impl Tif {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GTC" => Some(Self::Gtc),
            "IOC" => Some(Self::Ioc),
            "FOK" => Some(Self::Fok),
            "GTX" => Some(Self::Gtx),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "GTC",
            Self::Ioc => "IOC",
            Self::Fok => "FOK",
            Self::Gtx => "GTX",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::Expired => "EXPIRED",
        }
    }
    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::PartiallyFilled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideEffect {
    None,
    MarginBuy,
    AutoRepay,
    AutoBorrowRepay,
}

impl SideEffect {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NO_SIDE_EFFECT" => Some(Self::None),
            "MARGIN_BUY" => Some(Self::MarginBuy),
            "AUTO_REPAY" => Some(Self::AutoRepay),
            "AUTO_BORROW_REPAY" => Some(Self::AutoBorrowRepay),
            _ => None,
        }
    }
    pub fn borrows(self) -> bool {
        matches!(self, Self::MarginBuy | Self::AutoBorrowRepay)
    }
    pub fn repays(self) -> bool {
        matches!(self, Self::AutoRepay | Self::AutoBorrowRepay)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: i64,
    pub maker: bool,
    pub time: i64,
    pub realized_pnl: Decimal,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub venue: Venue,
    pub account: usize,
    pub symbol: String,
    pub client_id: String,
    pub side: Side,
    pub kind: OrdType,
    pub tif: Tif,
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub quote_order_qty: Decimal,
    pub executed_qty: Decimal,
    pub cum_quote: Decimal,
    pub status: Status,
    pub time: i64,
    pub update_time: i64,
    pub reduce_only: bool,
    pub side_effect: SideEffect,
    /// Margin: repay this order's auto-borrow when it is cancelled (default true).
    pub auto_repay_at_cancel: bool,
    pub fills: Vec<Fill>,
    /// Amount auto-borrowed for this order (margin), and its asset.
    pub borrowed: Option<(String, Decimal)>,
    /// Funds still locked for this order (spot/margin): quote for BUY, base for SELL.
    pub locked: Decimal,
    /// Wall-clock arrival of the request at the venue's HTTP handler, microseconds since the
    /// Unix epoch (the simulated `time` may run accelerated): what `fff bench` times an order
    /// reaching the venue by (the simulator's own authentication, limits and locking come
    /// after it, as a venue's do).
    pub received_us: i64,
    /// Wall-clock moment the engine took the order in (and matched what it could), same clock:
    /// what `fff bench` times a fill by.
    pub matched_us: i64,
}

impl Order {
    pub fn remaining(&self) -> Decimal {
        self.orig_qty - self.executed_qty
    }
    pub fn avg_price(&self) -> Decimal {
        if self.executed_qty.is_zero() {
            Decimal::ZERO
        } else {
            self.cum_quote / self.executed_qty
        }
    }
}

/// A pushed user-data event, routed by account and channel.
#[derive(Debug, Clone)]
pub struct Event {
    pub account: usize,
    pub channel: Channel,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// USD-M futures user data (listenKey, /private).
    Futures,
    /// Spot account (WS API `userDataStream.subscribe.signature`).
    Spot,
    /// Cross margin trade data (WS API `userDataStream.subscribe.listenToken`).
    Margin,
    /// Margin risk stream (`/ws/<listenKey>` from `/sapi/v1/margin/listen-key`).
    MarginRisk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Futures,
    MarginRisk,
    ListenToken,
}

pub struct Exchange {
    pub cfg: SimConfig,
    pub faults: FaultConfig,
    pub markets: BTreeMap<String, Market>,
    pub accounts: Vec<Account>,
    pub orders: BTreeMap<i64, Order>,
    /// listenKey / listenToken → (account, kind, expiry ms)
    pub listen_keys: HashMap<String, (usize, KeyKind, i64)>,
    pub now: i64,
    /// Simulated time the exchange started at (history before it is synthetic).
    pub start_ms: i64,
    /// Venue-wide outstanding borrow per asset (for the inventory limit).
    pub lent: BTreeMap<String, Decimal>,
    pub events: Vec<Event>,
    /// Wall-clock arrival (µs) of the HTTP request being handled, set by the HTTP layer around
    /// the handler: the `received_us` of the orders it places. `None` outside a request.
    pub request_arrival_us: Option<i64>,
    next_id: i64,
    fault_rng: ChaCha8Rng,
    key_rng: ChaCha8Rng,
}

impl Exchange {
    pub fn new(cfg: SimConfig, now: i64) -> crate::Result<Self> {
        let mut markets = BTreeMap::new();
        for s in cfg.effective_symbols() {
            markets.insert(s.name(), Market::new(&s, cfg.seed, now));
        }
        if let Some(dir) = &cfg.replay_dir {
            replay::load(dir, &mut markets)?;
            for m in markets.values_mut() {
                m.next_funding = m.next_funding_after(now);
                if let Some(r) = m.replay_rate(m.next_funding) {
                    m.funding_rate = r;
                    m.funding_mean = r;
                }
            }
        }
        let accounts = cfg
            .effective_accounts()
            .iter()
            .enumerate()
            .map(|(i, a)| Account::new(i, a, now))
            .collect();
        Ok(Self {
            faults: cfg.faults.clone(),
            fault_rng: ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1)),
            key_rng: ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(2)),
            cfg,
            markets,
            accounts,
            orders: BTreeMap::new(),
            listen_keys: HashMap::new(),
            now,
            start_ms: now,
            lent: BTreeMap::new(),
            events: Vec::new(),
            request_arrival_us: None,
            next_id: 1,
        })
    }

    /// (arrival, now) wall-clock stamps of an order taken in now: arrival is the HTTP
    /// request's when one is being handled.
    pub fn order_stamps(&self) -> (i64, i64) {
        let now = crate::clock::wall_us();
        (self.request_arrival_us.unwrap_or(now).min(now), now)
    }

    pub fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn account_by_key(&self, key: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.api_key == key)
    }

    pub fn market(&self, symbol: &str) -> Result<&Market, crate::ApiError> {
        self.markets
            .get(symbol)
            .ok_or_else(crate::ApiError::invalid_symbol)
    }

    /// Draws from the fault RNG; `p` is a probability (a statistic).
    pub fn fault_hit(&mut self, p: f64) -> bool {
        p > 0.0 && self.fault_rng.random::<f64>() < p
    }

    pub fn random_key(&mut self, len: usize) -> String {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHA[self.key_rng.random_range(0..ALPHA.len())] as char)
            .collect()
    }

    pub fn push(&mut self, account: usize, channel: Channel, payload: serde_json::Value) {
        self.events.push(Event {
            account,
            channel,
            payload,
        });
    }

    /// Runs every process up to `t`: price steps, funding, interest, resting fills, liquidation.
    /// Steps never cross an hour mark, so hourly events see prices at exactly that time.
    pub fn advance_to(&mut self, t: i64) {
        let step = self.cfg.market.step_ms.max(1);
        while self.now < t {
            let remaining = t - self.now;
            // Long jumps (accelerated clock, admin advance) use coarser steps to stay cheap.
            let size = if remaining > 24 * HOUR_MS {
                300_000.max(step)
            } else if remaining > HOUR_MS {
                60_000.max(step)
            } else if remaining > 60_000 {
                10_000.max(step)
            } else {
                step
            };
            let next_hour = (self.now.div_euclid(HOUR_MS) + 1) * HOUR_MS;
            let to = (self.now + size).min(next_hour).min(t);
            let dt = to - self.now;
            self.now = to;
            let mcfg = self.cfg.market.clone();
            for m in self.markets.values_mut() {
                m.step(dt, to, &mcfg);
            }
            if to == next_hour {
                self.settle_funding(to);
                self.accrue_interest(to);
            }
            self.match_resting(to);
            self.check_liquidations(to);
            self.check_margin_levels();
        }
        self.expire_listen_keys(crate::clock::wall_ms());
    }

    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Listen keys live on wall-clock time: clients keep them alive with wall-clock timers,
    /// which could never keep up with an accelerated simulated clock.
    fn expire_listen_keys(&mut self, wall: i64) {
        let expired: Vec<(String, usize, KeyKind)> = self
            .listen_keys
            .iter()
            .filter(|(_, (_, _, exp))| *exp <= wall)
            .map(|(k, (a, kind, _))| (k.clone(), *a, *kind))
            .collect();
        for (k, a, kind) in expired {
            self.listen_keys.remove(&k);
            if kind == KeyKind::Futures {
                let ev =
                    serde_json::json!({"e": "listenKeyExpired", "E": self.now, "listenKey": k});
                self.push(a, Channel::Futures, ev);
            }
        }
    }

    /// Creates (or extends and returns the active) listen key of this kind; expiry in wall ms.
    pub fn listen_key(&mut self, account: usize, kind: KeyKind, validity: i64) -> (String, i64) {
        let exp = crate::clock::wall_ms() + validity;
        if kind != KeyKind::ListenToken
            && let Some((k, v)) = self
                .listen_keys
                .iter_mut()
                .find(|(_, v)| v.0 == account && v.1 == kind)
        {
            v.2 = exp;
            return (k.clone(), exp);
        }
        let k = self.random_key(60);
        self.listen_keys.insert(k.clone(), (account, kind, exp));
        (k, exp)
    }
}
